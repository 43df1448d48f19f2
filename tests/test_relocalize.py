"""Prompts across iterations of the loop: a stable prefix with the repository map, and files a
new failure points at appended after the files already shown (scripted model, real pytest)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from patchloop.config import Config, FixerSettings, IndexSettings
from patchloop.context.layout import render_for_prefix, shared_prefix
from patchloop.domain import CompletionRequest, Event, Task
from patchloop.loop import repair
from patchloop.models.scripted import ScriptedModel

pytest.importorskip("tree_sitter_language_pack")

FILES = {
    "pricing/__init__.py": "",
    "pricing/checkout.py": (
        'def amount_due(total):\n    """Total plus shipping."""\n    return total\n'
    ),
    "pricing/shipping.py": (
        'RATES = {"standard": 15}\n\n\ndef shipping(total, kind="standard"):\n'
        "    if total >= 100:\n        return 0\n    return RATES[kind]\n"
    ),
    "tests/test_checkout.py": (
        "from pricing.checkout import amount_due\n\n\n"
        "def test_small_order_pays_shipping():\n    assert amount_due(40) == 55\n"
    ),
    "pytest.ini": "[pytest]\naddopts = -p no:cacheprovider\n",
}


def reply(body: str) -> str:
    """A search/replace reply that replaces the body of ``amount_due``."""
    return (
        f"pricing/checkout.py\n<<<<<<< SEARCH\n    return total\n=======\n{body}>>>>>>> REPLACE\n"
    )


#: Calls shipping with a rate it does not know: the failure now surfaces in shipping.py.
INTO_SHIPPING = reply(
    '    from pricing.shipping import shipping\n\n    return total + shipping(total, "express")\n'
)
#: Still wrong, but the failure stays in files the prompt shows.
STILL_WRONG = reply("    return total + 10\n")
FIX = reply("    from pricing.shipping import shipping\n\n    return total + shipping(total)\n")


@pytest.fixture
def pricing(repo_factory: Callable[..., Path]) -> Path:
    """Only checkout.py runs in the failing test, so localization does not pick shipping.py."""
    return repo_factory("pricing", FILES)


def run(repo: Path, replies: list[str], index_dir: Path) -> tuple[ScriptedModel, list[Event]]:
    model = ScriptedModel(replies, name="scripted:a")
    config = Config(
        models=("scripted:a",),
        max_iterations=3,
        fixers=FixerSettings(enabled=False),
        index=IndexSettings(dir=str(index_dir)),
    )
    events: list[Event] = []
    record = repair(Task(repo=repo), config, models=[model], on_event=events.append)
    assert record.status == "verified"
    return model, events


def first_message(request: CompletionRequest) -> str:
    return request.messages[1].content


def test_failure_in_a_second_file_adds_it_to_the_next_prompt(pricing: Path, tmp_path: Path) -> None:
    model, events = run(pricing, [INTO_SHIPPING, FIX], tmp_path / "index")
    one, two = (first_message(r) for r in model.history)
    assert "## pricing/shipping.py" not in one
    assert '## pricing/shipping.py\n```python\nRATES = {"standard": 15}' in two
    # Everything up to the end of the files shown first keeps its bytes; the file follows them.
    files_end = one.index("# Task")
    assert two[:files_end] == one[:files_end]
    assert two.index("## pricing/shipping.py") == files_end
    assert two.endswith(one[files_end:])
    # The prompt said where the failure went: the new file is on the feedback's stack.
    assert "at pricing/shipping.py:7 in shipping" in model.history[1].messages[-1].content
    context = [e for e in events if e.kind == "context"]
    assert [e.data["files"] for e in context] == [2]
    assert context[0].data["repo_map_chars"] > 0
    added = [e for e in events if e.kind == "context.added"]
    assert [(e.attempt, e.data["files"]) for e in added] == [(1, 1)]
    assert "pricing/shipping.py" in added[0].message


def test_repo_map_is_in_every_prompt_and_the_prefix_covers_all_but_the_history(
    pricing: Path, tmp_path: Path
) -> None:
    model, _ = run(pricing, [STILL_WRONG, FIX], tmp_path / "index")
    one, two = model.history
    # The map ranks shipping.py (not shown) from the failure's words; it sits before the files.
    text = first_message(one)
    assert text.startswith("# Repository map\n")
    assert 'pricing/shipping.py:\n    4: def shipping(total, kind="standard"):\n' in text
    assert text.index("# Repository map") < text.index("# Repository files")
    assert first_message(two) == text  # nothing to add: byte-identical first message
    rendered_one = render_for_prefix(one.messages)
    rendered_two = render_for_prefix(two.messages)
    assert shared_prefix(rendered_one, rendered_two) == len(rendered_one)
    assert [m.role for m in two.messages[len(one.messages) :]] == ["assistant", "user"]
