"""Line splitting for diffs: only ``\\n`` ends a line, as in git."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

import pytest

from patchloop.domain import FileChange
from patchloop.edits.diff import make_patch, split_lines


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        ("", []),
        ("a", ["a"]),
        ("a\n", ["a\n"]),
        ("a\nb", ["a\n", "b"]),
        ("\n\n", ["\n", "\n"]),
        ("a\x0cb\r\nc\x0bd\u2028e\n", ["a\x0cb\r\n", "c\x0bd\u2028e\n"]),
    ],
)
def test_split_lines(text: str, lines: list[str]) -> None:
    assert split_lines(text) == lines
    assert "".join(split_lines(text)) == text


def test_diffs_of_edits_deep_inside_files_apply_with_git(tmp_path: Path) -> None:
    # Unchanged heads and tails are cut before difflib runs; hunk headers must still be exact.
    rng = random.Random(7)
    for trial in range(60):
        before = [f"row {rng.randint(0, 4)}\n" for _ in range(rng.randint(0, 60))]
        after = list(before)
        for _ in range(rng.randint(1, 3)):
            pos = rng.randint(0, len(after))
            if rng.random() < 0.4 or pos == len(after):
                after.insert(pos, f"new {trial}\n")
            elif rng.random() < 0.5:
                del after[pos]
            else:
                after[pos] = "changed\n"
        old, new = "".join(before), "".join(after)
        if old == new:
            continue
        work = tmp_path / str(trial)
        work.mkdir()
        (work / "f.txt").write_text(old)
        patch = make_patch([FileChange(path="f.txt", before=old, after=new)])
        (work / "p.diff").write_text(patch.diff)
        subprocess.run(["git", "apply", "p.diff"], cwd=work, check=True, capture_output=True)
        assert (work / "f.txt").read_text() == new
