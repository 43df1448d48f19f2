from __future__ import annotations

from patchloop.context.layout import (
    ContextFile,
    PromptLayout,
    Turn,
    render_file,
    render_for_prefix,
    shared_prefix,
)
from patchloop.context.tokens import estimate_tokens


def layout(max_tokens: int = 10_000) -> PromptLayout:
    return PromptLayout(
        instructions="Use blocks.",
        files=[ContextFile("b.py", "b = 2\n"), ContextFile("a.py", "a = 1\n")],
        task="fix it",
        failures="test_a failed",
        count_tokens=estimate_tokens,
        max_tokens=max_tokens,
    )


def test_files_in_path_order_then_task_then_failures() -> None:
    first = layout().messages([])[1].content
    assert first.index("## a.py") < first.index("## b.py") < first.index("# Task")
    assert first.index("# Task") < first.index("# Failing tests")


def test_history_is_appended_and_prefix_is_stable() -> None:
    lay = layout()
    one = render_for_prefix(lay.messages([Turn("reply 1", "feedback 1")]))
    two = render_for_prefix(
        lay.messages([Turn("reply 1", "feedback 1"), Turn("reply 2", "feedback 2")])
    )
    assert two.startswith(one)
    assert shared_prefix(one, two) == len(one)


def test_oldest_turns_dropped_past_the_budget() -> None:
    lay = layout(max_tokens=estimate_tokens(layout().messages([])[1].content) + 200)
    turns = [Turn("r" * 300, f"feedback {i}") for i in range(5)]
    messages = lay.messages(turns)
    assert len(messages) < 2 + 2 * len(turns)
    assert "earlier attempts omitted" in messages[3].content
    assert messages[-1].content.endswith("feedback 4")


def test_fence_grows_when_the_file_contains_fences() -> None:
    text = 'doc = """\n```\ncode\n```\n"""\n'
    rendered = render_file(ContextFile("x.py", text))
    assert "````python" in rendered


def test_excerpts_show_line_ranges() -> None:
    text = "".join(f"line{i}\n" for i in range(1, 21))
    rendered = render_file(ContextFile("big.py", text, ((2, 3), (10, 11))))
    assert "### lines 2-3\n```python\nline2\nline3\n```" in rendered
    assert "line5" not in rendered


def test_shared_prefix() -> None:
    assert shared_prefix("abcdef", "abcxyz") == 3
    assert shared_prefix("", "abc") == 0
    assert shared_prefix("same", "same") == 4


def test_repo_map_goes_between_instructions_and_files() -> None:
    lay = PromptLayout(
        instructions="Use blocks.",
        files=[ContextFile("a.py", "a = 1\n")],
        task="fix it",
        failures="test_a failed",
        count_tokens=estimate_tokens,
        max_tokens=10_000,
        repo_map="pkg/b.py:\n    3: def b():\n",
    )
    first = lay.messages([])[1].content
    assert first.startswith("# Repository map\n")
    assert (
        first.index("    3: def b():") < first.index("# Repository files") < first.index("## a.py")
    )


def test_empty_repo_map_leaves_the_prompt_as_before() -> None:
    with_map = PromptLayout(
        instructions="Use blocks.",
        files=[ContextFile("b.py", "b = 2\n"), ContextFile("a.py", "a = 1\n")],
        task="fix it",
        failures="test_a failed",
        count_tokens=estimate_tokens,
        max_tokens=10_000,
        repo_map="  \n",
    )
    assert with_map.messages([]) == layout().messages([])


def test_add_files_appends_after_the_files_keeping_earlier_bytes() -> None:
    lay = layout()
    history = [Turn("reply 1", "feedback 1")]
    before = lay.messages(history)[1].content
    files_end = before.index("# Task")
    added = lay.add_files([ContextFile("c.py", "c = 3\n"), ContextFile("a.py", "changed\n")])
    assert [f.path for f in added] == ["c.py"]  # a.py is shown already
    after = lay.messages(history)[1].content
    assert after[:files_end] == before[:files_end]
    assert after[files_end:].startswith(render_file(ContextFile("c.py", "c = 3\n")) + "\n# Task")
    assert after.endswith(before[files_end:])
    assert [f.path for f in lay.files] == ["a.py", "b.py", "c.py"]
    assert lay.added == added
    # A second addition goes after the first one, again without touching what is there.
    lay.add_files([ContextFile("0.py", "z = 0\n")])
    again = lay.messages(history)[1].content
    assert again.index("## c.py") < again.index("## 0.py") < again.index("# Task")
    assert again.startswith(after[: after.index("# Task")])


def test_add_files_stays_within_the_room_left_for_history() -> None:
    lay = layout(max_tokens=estimate_tokens(layout().messages([])[1].content) + 400)
    room = lay.room()
    assert 0 < room < 400
    big = ContextFile("big.py", "x = 1\n" * (room * 3))
    small = ContextFile("small.py", "y = 2\n")
    assert lay.add_files([big, small]) == (small,)
    assert "## big.py" not in lay.messages([])[1].content
    assert lay.room() < room
    assert lay.fixed_tokens() == estimate_tokens(lay.system.content) + estimate_tokens(
        lay.first.content
    )
