"""Export the bundled MiniLM (BERT + mean pooling + L2 norm) to a fused ONNX graph, offline."""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

__all__ = ["export"]


def export(folder: Path, target: Path) -> None:
    """Write the graph for the sentence-transformers model in ``folder`` to ``target``."""
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    bert = AutoModel.from_pretrained(str(folder), attn_implementation="eager").eval()

    class Pooled(torch.nn.Module):
        def __init__(self, model: Any) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    sample = torch.ones(2, 16, dtype=torch.long)
    axes = {"input_ids": {0: "b", 1: "s"}, "attention_mask": {0: "b", 1: "s"}}
    axes["token_type_ids"] = {0: "b", 1: "s"}
    fd, raw_name = tempfile.mkstemp(dir=target.parent, suffix=".raw.onnx")
    os.close(fd)
    raw = Path(raw_name)
    fused = target.with_suffix(f".{os.getpid()}.tmp")
    try:
        with warnings.catch_warnings():
            # the TorchScript exporter is deprecated but needs no extra packages
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Pooled(bert).eval(),
                (sample, sample, torch.zeros_like(sample)),
                str(raw),
                input_names=["input_ids", "attention_mask", "token_type_ids"],
                output_names=["embedding"],
                dynamic_axes={**axes, "embedding": {0: "b"}},
                opset_version=17,
                dynamo=False,
            )
            from onnxruntime.transformers.optimizer import (  # type: ignore[import-untyped]
                optimize_model,
            )

            optimized = optimize_model(
                str(raw), model_type="bert", num_heads=12, hidden_size=384, opt_level=0
            )
            optimized.save_model_to_file(str(fused))
        fused.replace(target)
    finally:
        raw.unlink(missing_ok=True)
        fused.unlink(missing_ok=True)
