"""Files a failure points at, read from real files under tmp_path."""

from __future__ import annotations

from pathlib import Path

from patchloop.context.layout import ContextFile, PromptLayout
from patchloop.context.relocalize import MAX_FILES_PER_FAILURE, FileSource, failure_files
from patchloop.context.tokens import estimate_tokens

FILES = {
    "pkg/__init__.py": "",
    "pkg/a.py": "from pkg.b import b\n\n\ndef a():\n    return b()\n",
    "pkg/b.py": "def b():\n    return {}['missing']\n",
    "pkg/c.py": "def c():\n    return 3\n",
    "tests/test_a.py": "from pkg.a import a\n\n\ndef test_a():\n    assert a() == 1\n",
    "README.md": "pkg/b.py is mentioned here\n",
}

#: A failure as the loop's feedback renders it (frames inside the repository).
FAILURE = """\
FAILED tests/test_a.py::test_a
  KeyError: 'missing'
  at tests/test_a.py:5 in test_a
      assert a() == 1
  at pkg/a.py:5 in a
      return b()
  at pkg/b.py:2 in b
      return {}['missing']
"""


def write(root: Path) -> Path:
    for rel, text in FILES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def layout(root: Path, shown: list[str], max_tokens: int = 20_000) -> PromptLayout:
    return PromptLayout(
        instructions="Use blocks.",
        files=[ContextFile(p, (root / p).read_text()) for p in shown],
        task="",
        failures="FAILED tests/test_a.py::test_a",
        count_tokens=estimate_tokens,
        max_tokens=max_tokens,
        source=FileSource.of(root, sorted(FILES), max_file_tokens=1000),
    )


def test_source_files_are_python_code_outside_tests(tmp_path: Path) -> None:
    source = FileSource.of(tmp_path, sorted(FILES), max_file_tokens=10)
    assert source.files == ("pkg/__init__.py", "pkg/a.py", "pkg/b.py", "pkg/c.py")


def test_frames_not_in_the_prompt_come_back_deepest_first(tmp_path: Path) -> None:
    root = write(tmp_path)
    lay = layout(root, ["tests/test_a.py"])
    found = failure_files(lay, FAILURE)
    assert [f.path for f in found] == ["pkg/b.py", "pkg/a.py"]
    assert found[0].text == FILES["pkg/b.py"]


def test_files_already_shown_are_left_out(tmp_path: Path) -> None:
    root = write(tmp_path)
    lay = layout(root, ["pkg/a.py", "tests/test_a.py"])
    assert [f.path for f in failure_files(lay, FAILURE)] == ["pkg/b.py"]
    lay.add_files(failure_files(lay, FAILURE))
    assert failure_files(lay, FAILURE) == []


def test_a_long_stack_adds_its_innermost_files(tmp_path: Path) -> None:
    root = write(tmp_path)
    for i in range(6):
        (root / f"pkg/m{i}.py").write_text(f"def m{i}():\n    return m{i + 1}()\n")
    names = sorted([*FILES, *(f"pkg/m{i}.py" for i in range(6))])
    lay = PromptLayout(
        instructions="",
        files=[],
        task="",
        failures="",
        count_tokens=estimate_tokens,
        max_tokens=20_000,
        source=FileSource.of(root, names, max_file_tokens=1000),
    )
    stack = "\n".join(f"  at pkg/m{i}.py:2 in m{i}" for i in range(6))
    found = failure_files(lay, f"FAILED tests/test_a.py::test_a\n{stack}\n")
    assert len(found) == MAX_FILES_PER_FAILURE == 3
    assert [f.path for f in found] == ["pkg/m5.py", "pkg/m4.py", "pkg/m3.py"]  # innermost


def test_nothing_without_a_source_or_room(tmp_path: Path) -> None:
    root = write(tmp_path)
    no_source = PromptLayout(
        instructions="",
        files=[],
        task="",
        failures="",
        count_tokens=estimate_tokens,
        max_tokens=20_000,
    )
    assert failure_files(no_source, FAILURE) == []
    full = layout(root, ["tests/test_a.py"], max_tokens=100)
    assert full.room() == 0
    assert failure_files(full, FAILURE) == []
