"""Builds a tiny random-weight GGUF chat model and LoRA adapters: the embedded backend's double.

The model is a 2-layer Llama (hidden size 64) with a byte-level BPE tokenizer trained on a fixed
ASCII corpus and a ChatML chat template. It knows nothing, but it loads, tokenizes, samples and
takes grammars like a real model, which is what tests of the backend need. Only ``numpy``,
``gguf`` and ``tokenizers`` are used (no torch); a build takes well under a second and is
deterministic per seed.

Two choices keep the double honest:

* The vocabulary is ASCII only, so the model can never emit a partial UTF-8 sequence.
* The tokens that close things (``"``, ``}``, ``]``, a newline, the ``=======`` and ``>>>>>>>``
  markers, the end-of-turn token) share a direction with every token embedding, so they get a
  higher logit than the rest. Without it a random model almost never closes a string or a
  search/replace block, and every constrained reply would be cut off by the token limit rather
  than finished by the grammar.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["CHATML_TEMPLATE", "TinyModel", "build_tiny_model"]

#: ChatML, as written by Qwen-style models; stored in the GGUF's ``tokenizer.chat_template``.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

_SPECIALS = ("<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>")
_CLOSERS = frozenset({'"', "}", "]", "\n", "=======", ">>>>>>>", "<|im_end|>"})

# The tokenizer's training text: code, JSON edits and search/replace blocks, so that the
# vocabulary has the pieces replies are made of.
_CORPUS = '''
def total(items, discount=0.0):
    """Sum of prices after a discount."""
    subtotal = sum(item.price * item.quantity for item in items)
    if discount < 0 or discount > 1:
        raise ValueError("discount must be between 0 and 1")
    return round(subtotal * (1 - discount), 2)


class Cart:
    def __init__(self):
        self.items = []

    def add(self, item):
        self.items.append(item)
        return self

    def tax(self, rate):
        return max(0, total(self.items) * rate)


import os
import sys
from pathlib import Path

for line in open("README.md"):
    print(line.strip())

{"edits": [{"path": "src/cart.py", "search": "return total", "replace": "return max(0, total)"}]}
{"path": "app/main.py", "line": 12, "ok": true, "note": null}
{"edits": []}

src/cart.py
<<<<<<< SEARCH
    return round(subtotal * (1 - discount), 2)
=======
    return max(0.0, round(subtotal * (1 - discount), 2))
>>>>>>> REPLACE

tests/test_cart.py
<<<<<<< SEARCH
def test_total():
=======
def test_total_with_discount():
>>>>>>> REPLACE

The tests fail with AssertionError: expected 0 but got -3.5. Fix the bug in the code, not the
tests. Reply with edits only. 0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ
!#$%&'()*+,-./:;<=>?@[\\]^_`{|}~
'''

_HIDDEN, _LAYERS, _HEADS, _KV_HEADS = 64, 2, 4, 2
_HEAD_DIM, _FF = _HIDDEN // _HEADS, 2 * _HIDDEN
_LORA_RANK, _LORA_ALPHA = 4, 8.0
_CONTEXT = 4096


@dataclass(frozen=True)
class TinyModel:
    """Paths of a built tiny model."""

    model: Path
    """The GGUF model file."""
    adapters: tuple[Path, ...]
    """GGUF LoRA adapters for ``model`` (``attn_q`` and ``attn_v`` of every layer)."""
    tokenizer: Path
    """The trained tokenizer as ``tokenizer.json``, for parity checks with other engines."""


def _train_tokenizer(vocab_size: int, *, ascii_only: bool) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    if ascii_only:
        byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
        alphabet = [byte_level.pre_tokenize_str(chr(b))[0][0] for b in range(128)]
    else:
        alphabet = pre_tokenizers.ByteLevel.alphabet()
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(_SPECIALS),
        initial_alphabet=alphabet,
        show_progress=False,
    )
    tok.train_from_iterator([_CORPUS], trainer)
    return tok


def _decoded(token: str) -> str:
    """Text of a byte-level token (``Ġ`` -> space, ``Ċ`` -> newline)."""
    from tokenizers import decoders

    return str(decoders.ByteLevel().decode([token]))


def _header(w: Any, tok: Any) -> None:
    """Architecture, tokenizer and chat template keys of the model file."""
    import gguf

    spec = json.loads(tok.to_str())
    vocab: dict[str, int] = spec["model"]["vocab"]
    tokens = _tokens(tok)
    w.add_name("patchloop-tiny")
    w.add_context_length(_CONTEXT)
    w.add_embedding_length(_HIDDEN)
    w.add_block_count(_LAYERS)
    w.add_feed_forward_length(_FF)
    w.add_rope_dimension_count(_HEAD_DIM)
    w.add_head_count(_HEADS)
    w.add_head_count_kv(_KV_HEADS)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_freq_base(1e4)
    w.add_vocab_size(len(tokens))
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt-2")  # llama.cpp's name; "gpt2" is rejected at load time
    w.add_token_list(tokens)
    w.add_token_types(
        [gguf.TokenType.CONTROL if t in _SPECIALS else gguf.TokenType.NORMAL for t in tokens]
    )
    w.add_token_merges([m if isinstance(m, str) else " ".join(m) for m in spec["model"]["merges"]])
    w.add_bos_token_id(vocab["<s>"])
    w.add_eos_token_id(vocab["<|im_end|>"])
    w.add_add_bos_token(False)
    w.add_chat_template(CHATML_TEMPLATE)


def _tokens(tok: Any) -> list[str]:
    vocab: dict[str, int] = json.loads(tok.to_str())["model"]["vocab"]
    by_id = {i: t for t, i in vocab.items()}
    return [by_id[i] for i in range(max(vocab.values()) + 1)]


def _weights(tokens: list[str], rand: Any, closer_bias: float) -> dict[str, Any]:
    """Random Llama weights in GGUF tensor names (numpy shape is ``(out, in)``)."""
    import numpy as np

    # A shared direction carried by every embedding reaches the output norm almost intact
    # (the blocks add little at this weight scale), so output rows that also carry it get a
    # steady logit boost: that is the closer bias.
    direction = rand(_HIDDEN, std=1.0)
    direction /= np.linalg.norm(direction)
    output = rand(len(tokens), _HIDDEN)
    closers = [
        i for i, t in enumerate(tokens) if (t if t in _SPECIALS else _decoded(t)) in _CLOSERS
    ]
    output[closers] += closer_bias * direction
    ones = np.ones(_HIDDEN, np.float32)
    weights = {
        "token_embd.weight": rand(len(tokens), _HIDDEN) + direction,
        "output.weight": output,
        "output_norm.weight": ones,
    }
    for i in range(_LAYERS):
        layer = {
            "attn_norm": ones,
            "attn_q": rand(_HEADS * _HEAD_DIM, _HIDDEN),
            "attn_k": rand(_KV_HEADS * _HEAD_DIM, _HIDDEN),
            "attn_v": rand(_KV_HEADS * _HEAD_DIM, _HIDDEN),
            "attn_output": rand(_HIDDEN, _HEADS * _HEAD_DIM),
            "ffn_norm": ones,
            "ffn_gate": rand(_FF, _HIDDEN),
            "ffn_up": rand(_FF, _HIDDEN),
            "ffn_down": rand(_HIDDEN, _FF),
        }
        weights.update({f"blk.{i}.{name}.weight": t for name, t in layer.items()})
    return weights


def build_tiny_model(
    directory: Path | str,
    *,
    seed: int = 0,
    adapters: int = 2,
    vocab_size: int = 512,
    closer_bias: float = 0.5,
    ascii_only: bool = True,
) -> TinyModel:
    """Write ``tiny.gguf``, ``adapter-N.gguf`` and ``tokenizer.json`` into ``directory``.

    ``closer_bias`` sets how strongly the model prefers tokens that close strings, objects and
    lines (0 gives a plain random model). ``ascii_only=False`` gives the vocabulary all 256
    byte tokens, so the model emits partial UTF-8 sequences: a model for testing token caps.
    Raises ``ImportError`` when ``numpy``, ``gguf`` or ``tokenizers`` is missing
    (``pip install 'patchloop[local]'``).
    """
    import gguf
    import numpy as np

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    tok = _train_tokenizer(vocab_size, ascii_only=ascii_only)
    rng = np.random.default_rng(seed)

    def rand(*shape: int, std: float = 0.02) -> Any:
        return (rng.standard_normal(shape) * std).astype(np.float32)

    path = out / "tiny.gguf"
    w = gguf.GGUFWriter(str(path), "llama")
    _header(w, tok)
    for name, tensor in _weights(_tokens(tok), rand, closer_bias).items():
        w.add_tensor(name, tensor)
    _write(w)
    adapter_paths = tuple(
        _write_adapter(out / f"adapter-{n + 1}.gguf", rand) for n in range(adapters)
    )
    tokenizer_path = out / "tokenizer.json"
    tok.save(str(tokenizer_path))
    return TinyModel(model=path, adapters=adapter_paths, tokenizer=tokenizer_path)


def _write(writer: Any) -> None:
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def _write_adapter(path: Path, rand: Any) -> Path:
    """A LoRA adapter on ``attn_q`` and ``attn_v`` with non-zero ``B`` (so it changes logits)."""
    import gguf

    w = gguf.GGUFWriter(str(path), "llama")
    w.add_string("general.type", "adapter")
    w.add_string("adapter.type", "lora")
    w.add_float32("adapter.lora.alpha", _LORA_ALPHA)
    for i in range(_LAYERS):
        for name, rows in (("attn_q", _HEADS * _HEAD_DIM), ("attn_v", _KV_HEADS * _HEAD_DIM)):
            w.add_tensor(f"blk.{i}.{name}.weight.lora_a", rand(_LORA_RANK, _HIDDEN, std=0.3))
            w.add_tensor(f"blk.{i}.{name}.weight.lora_b", rand(rows, _LORA_RANK, std=0.3))
    _write(w)
    return path
