"""The shipped intent data set and reading labelled JSONL."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from patchloop.errors import UsageError
from patchloop.route import INTENTS, SHIPPED_DATA, parse_examples, read_examples
from patchloop.route.dataset import check_trainable, data_digest


def test_shipped_data_is_large_balanced_and_clean() -> None:
    examples = read_examples(SHIPPED_DATA)
    assert len(examples) >= 300
    counts = Counter(e.intent for e in examples)
    assert set(counts) == set(INTENTS)
    assert min(counts.values()) >= 40
    texts = [e.text.strip().lower() for e in examples]
    assert len(set(texts)) == len(texts), "duplicate examples"


def test_parse_skips_blank_lines_and_ignores_extra_keys() -> None:
    lines = [
        '{"text": "add a --json flag", "intent": "feature", "note": "cli"}',
        "",
        '{"text": "why is it slow?", "intent": "question"}',
    ]
    examples = parse_examples(lines, "x.jsonl")
    assert [(e.text, e.intent) for e in examples] == [
        ("add a --json flag", "feature"),
        ("why is it slow?", "question"),
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"text": "add a flag", "intent": "feature"', "x.jsonl:2: not valid JSON"),
        ('{"text": "add a flag"}', "x.jsonl:2: bad example: intent: Field required"),
        ('{"text": "   ", "intent": "feature"}', "x.jsonl:2: bad example: text: Value error"),
        ('{"text": "add a flag", "intent": "New Feature"}', "x.jsonl:2: bad example: intent"),
        ('["add a flag", "feature"]', "x.jsonl:2: bad example"),
    ],
)
def test_bad_line_names_its_number(line: str, message: str) -> None:
    good = '{"text": "tests fail", "intent": "failing_test"}'
    with pytest.raises(UsageError) as caught:
        parse_examples([good, line, good], "x.jsonl")
    assert str(caught.value).startswith(message)
    assert caught.value.hint is not None
    assert '"intent"' in caught.value.hint


def test_unreadable_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read the intent data"):
        read_examples(tmp_path / "missing.jsonl")


def test_training_needs_two_intents_with_several_examples() -> None:
    one = parse_examples(['{"text": "a", "intent": "crash"}'] * 3)
    with pytest.raises(UsageError, match="at least two intents"):
        check_trainable(one, "d.jsonl")
    lone = parse_examples(
        ['{"text": "a", "intent": "crash"}'] * 3 + ['{"text": "b", "intent": "lint"}']
    )
    with pytest.raises(UsageError, match="single example: lint"):
        check_trainable(lone, "d.jsonl")


def test_digest_depends_on_text_and_label() -> None:
    a = parse_examples(['{"text": "a", "intent": "crash"}'])
    b = parse_examples(['{"text": "a", "intent": "lint"}'])
    assert data_digest(a) != data_digest(b)
    assert data_digest(a) == data_digest(list(a))
