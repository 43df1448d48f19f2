"""Labelled intent examples: one JSON object per line, ``{"text": ..., "intent": ...}``."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from patchloop.errors import UsageError

__all__ = [
    "SHIPPED_DATA",
    "Example",
    "check_trainable",
    "data_digest",
    "parse_examples",
    "read_examples",
]

SHIPPED_DATA = Path(__file__).parent / "data" / "intents.jsonl"
"""The labelled data set the shipped head was trained on."""

_FORMAT_HINT = 'each line is a JSON object like {"text": "tests fail after ...", "intent": "crash"}'


class Example(BaseModel):
    """One task description and its intent; other keys of a line (``note``, ``id``) are kept
    out of the model."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    text: str
    intent: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)
    """Lower-case name (``crash``, ``write_tests``)."""

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("text is empty")
        return value


def parse_examples(lines: Iterable[str], source: str = "<data>") -> list[Example]:
    """Examples from JSONL lines; blank lines are skipped, a bad line raises with its number."""
    examples: list[Example] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            examples.append(Example.model_validate(json.loads(line)))
        except json.JSONDecodeError as exc:
            raise UsageError(
                f"{source}:{number}: not valid JSON: {exc.msg} (column {exc.colno})",
                hint=_FORMAT_HINT,
            ) from exc
        except ValidationError as exc:
            problem = exc.errors()[0]
            where = ".".join(str(p) for p in problem["loc"]) or "line"
            raise UsageError(
                f"{source}:{number}: bad example: {where}: {problem['msg']}", hint=_FORMAT_HINT
            ) from exc
    return examples


def read_examples(path: Path) -> list[Example]:
    """Examples of the JSONL file at ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read the intent data {path}: {exc}", hint=_FORMAT_HINT) from exc
    return parse_examples(text.splitlines(), str(path))


def check_trainable(examples: Sequence[Example], source: str) -> Counter[str]:
    """Examples per intent; raises when a classifier cannot be fitted on them."""
    counts = Counter(e.intent for e in examples)
    if len(counts) < 2:
        raise UsageError(
            f"{source}: training needs at least two intents, found {sorted(counts) or 'none'}",
            hint=_FORMAT_HINT,
        )
    thin = sorted(intent for intent, n in counts.items() if n < 2)
    if thin:
        raise UsageError(
            f"{source}: intents with a single example: {', '.join(thin)}",
            hint="give each intent several examples (dozens make a useful classifier)",
        )
    return counts


def data_digest(examples: Sequence[Example]) -> str:
    """SHA-256 over the examples, recorded in a trained head to name its data."""
    digest = hashlib.sha256()
    for example in examples:
        digest.update(json.dumps([example.text, example.intent]).encode())
        digest.update(b"\n")
    return digest.hexdigest()
