from __future__ import annotations

from pathlib import Path

from patchloop.context.select import choose_files
from patchloop.context.tokens import estimate_tokens
from patchloop.domain import Hit, Location


def test_priority_and_budget(tmp_path: Path) -> None:
    (tmp_path / "bug.py").write_text("x = 1\n" * 10)
    (tmp_path / "test_bug.py").write_text("y = 2\n" * 10)
    (tmp_path / "hit.py").write_text("z = 3\n" * 10)
    files = choose_files(
        tmp_path,
        locations=[Location(path="bug.py", start_line=1, end_line=2)],
        test_files=["test_bug.py"],
        hits=[Hit(path="hit.py", start_line=1, end_line=1)],
        count_tokens=estimate_tokens,
        max_tokens=estimate_tokens("x = 1\n" * 10) * 2,
        max_file_tokens=1000,
    )
    assert [f.path for f in files] == ["bug.py", "test_bug.py"]


def test_big_file_becomes_excerpts(tmp_path: Path) -> None:
    (tmp_path / "big.py").write_text("".join(f"v{i} = {i}\n" for i in range(400)))
    files = choose_files(
        tmp_path,
        locations=[Location(path="big.py", start_line=100, end_line=105)],
        count_tokens=estimate_tokens,
        max_tokens=10_000,
        max_file_tokens=200,
    )
    assert files[0].spans == ((97, 108),)


def test_missing_and_binary_files_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "blob.bin").write_bytes(b"\xff\xfe\x00")
    files = choose_files(
        tmp_path,
        locations=[Location(path="gone.py", start_line=1, end_line=1)],
        hits=[Hit(path="blob.bin", start_line=1, end_line=1)],
        count_tokens=estimate_tokens,
        max_tokens=1000,
        max_file_tokens=1000,
    )
    assert files == []
