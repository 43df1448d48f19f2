"""The shared apply engine: matching, line endings, new files, dry runs, and git's verdict."""

from __future__ import annotations

from pathlib import Path

import pytest

from patchloop.domain import Edit
from patchloop.edits import apply_edits
from patchloop.errors import ApplyError, UnsafeEdit
from tests.edits.conftest import CART
from tests.edits.helpers import git_apply_check, snapshot, write


def cart_after(root: Path) -> str:
    return (root / "shop/cart.py").read_text()


def test_exact_match_dry_run_writes_nothing(repo: Path) -> None:
    before = snapshot(repo)
    edit = Edit(
        path="shop/cart.py",
        search="    return sum(item.price for item in items)\n",
        replace="    return sum(item.price * item.qty for item in items)\n",
    )
    patch = apply_edits(repo, [edit])
    assert snapshot(repo) == before
    assert patch.paths == ("shop/cart.py",)
    assert "-    return sum(item.price for item in items)" in patch.diff
    assert "+    return sum(item.price * item.qty for item in items)" in patch.diff
    assert patch.changes[0].after == CART.replace("item.price for", "item.price * item.qty for")
    assert git_apply_check(repo, patch.diff).returncode == 0


def test_write_applies_after_contents(repo: Path) -> None:
    edit = Edit(path="shop/cart.py", search="    return len(items)\n", replace="    return 0\n")
    patch = apply_edits(repo, [edit], dry_run=False)
    assert cart_after(repo) == patch.changes[0].after
    assert "    return 0\n" in cart_after(repo)


def test_trailing_whitespace_in_file_is_tolerated(tmp_path: Path) -> None:
    write(tmp_path, "a.py", "def f():   \n    return 1  \n")
    patch = apply_edits(
        tmp_path,
        [Edit(path="a.py", search="def f():\n    return 1\n", replace="def f():\n    return 2\n")],
    )
    assert patch.changes[0].after == "def f():\n    return 2\n"


def test_uniformly_shifted_indentation_is_reindented(repo: Path) -> None:
    # The model dropped the method's indentation; the replacement gets it back.
    search = "def add(self, item):\n    self.items.append(item)\n    return self\n"
    replace = (
        "def add(self, item):\n    if item is not None:\n"
        "        self.items.append(item)\n    return self\n"
    )
    patch = apply_edits(repo, [Edit(path="shop/cart.py", search=search, replace=replace)])
    after = patch.changes[0].after
    assert after is not None
    assert (
        "    def add(self, item):\n        if item is not None:\n"
        "            self.items.append(item)\n        return self\n"
    ) in after
    assert git_apply_check(repo, patch.diff).returncode == 0


def test_too_much_indentation_is_removed(tmp_path: Path) -> None:
    write(tmp_path, "a.py", "def f():\n    return 1\n")
    edit = Edit(
        path="a.py",
        search="        def f():\n            return 1\n",
        replace="        def f():\n            return 2\n",
    )
    patch = apply_edits(tmp_path, [edit])
    assert patch.changes[0].after == "def f():\n    return 2\n"


def test_different_relative_indentation_does_not_match(tmp_path: Path) -> None:
    write(tmp_path, "a.py", "if x:\n    y()\n")
    with pytest.raises(ApplyError):
        apply_edits(tmp_path, [Edit(path="a.py", search="if x:\ny()\n", replace="pass\n")])


def test_blank_line_differences_are_tolerated(repo: Path) -> None:
    # One blank line between the functions instead of two, and one extra at the end.
    search = (
        "def total(items):\n    return sum(item.price for item in items)\n\ndef count(items):\n\n"
    )
    replace = "def total(items):\n    return 0\n\n\ndef count(items):\n"
    patch = apply_edits(repo, [Edit(path="shop/cart.py", search=search, replace=replace)])
    after = patch.changes[0].after
    assert after is not None
    assert (
        "def total(items):\n    return 0\n\n\ndef count(items):\n    return len(items)\n" in after
    )


def test_partial_line_search_without_indentation(repo: Path) -> None:
    # JSON replies often give one line, unindented, without its newline.
    edit = Edit(path="shop/cart.py", search="return len(items)", replace="return len(items) + 0")
    after = apply_edits(repo, [edit]).changes[0].after
    assert after is not None
    assert "    return len(items) + 0\n" in after


def test_substring_inside_a_line(repo: Path) -> None:
    edit = Edit(path="shop/cart.py", search="item.price for", replace="item.price * item.qty for")
    after = apply_edits(repo, [edit]).changes[0].after
    assert after == CART.replace("item.price for", "item.price * item.qty for")


def test_ambiguous_match_lists_candidate_lines(tmp_path: Path) -> None:
    write(tmp_path, "a.py", "x = 1\ny = 2\nx = 1\nz = 3\nx = 1\n")
    with pytest.raises(ApplyError) as info:
        apply_edits(tmp_path, [Edit(path="a.py", search="x = 1\n", replace="x = 9\n")])
    feedback = info.value.feedback
    assert "3 places" in feedback
    assert "lines 1, 3, 5" in feedback
    assert "more unchanged lines" in feedback


def test_ambiguous_whitespace_match_is_rejected(tmp_path: Path) -> None:
    write(tmp_path, "a.py", "def f():\n    pass\n\nclass A:\n    def f():\n        pass\n")
    with pytest.raises(ApplyError, match="ambiguous"):
        apply_edits(
            tmp_path,
            [
                Edit(
                    path="a.py",
                    search="  def f():\n      pass\n",
                    replace="  def g():\n      pass\n",
                )
            ],
        )


def test_line_hint_picks_the_nearest_match(tmp_path: Path) -> None:
    write(tmp_path, "a.py", "x = 1\ny = 2\nx = 1\nz = 3\n\n\nx = 1\n")

    def at(hint: int) -> str | None:
        edit = Edit(path="a.py", search="x = 1\n", replace="x = 9\n", line_hint=hint)
        return apply_edits(tmp_path, [edit]).changes[0].after

    assert at(6) == "x = 1\ny = 2\nx = 1\nz = 3\n\n\nx = 9\n"
    assert at(1) == "x = 9\ny = 2\nx = 1\nz = 3\n\n\nx = 1\n"
    assert at(4) == "x = 1\ny = 2\nx = 9\nz = 3\n\n\nx = 1\n"
    with pytest.raises(ApplyError, match="ambiguous"):
        at(2)  # as near to line 1 as to line 3


def test_missing_match_shows_the_nearest_lines(repo: Path) -> None:
    search = "def count(items):\n    return len(item)\n"  # typo: item
    with pytest.raises(ApplyError) as info:
        apply_edits(repo, [Edit(path="shop/cart.py", search=search, replace="x\n")])
    feedback = info.value.feedback
    assert "Did you mean these lines (8-9)?" in feedback
    assert "def count(items):\n    return len(items)" in feedback
    assert "class Cart" not in feedback
    assert "`def count(items):`" in feedback


def test_missing_match_notes_a_replacement_already_there(repo: Path) -> None:
    edit = Edit(path="shop/cart.py", search="    return 42\n", replace="    return len(items)\n")
    with pytest.raises(ApplyError, match="no match") as info:
        apply_edits(repo, [edit])
    assert "already in the file" in info.value.feedback


def test_nearest_lines_in_a_big_file_is_found(tmp_path: Path) -> None:
    lines = [f"value_{i} = compute({i}, scale={i % 7})\n" for i in range(5000)]
    write(tmp_path, "big.py", "".join(lines))
    search = "value_4321 = compute(4321, scale=99)\nvalue_4322 = compute(4322, scale=99)\n"
    with pytest.raises(ApplyError) as info:
        apply_edits(tmp_path, [Edit(path="big.py", search=search, replace="")])
    assert "(4322-4323)" in info.value.feedback
    assert f"value_4321 = compute(4321, scale={4321 % 7})" in info.value.feedback


def test_unrelated_search_text_says_nothing_is_similar(repo: Path) -> None:
    with pytest.raises(ApplyError) as info:
        apply_edits(repo, [Edit(path="shop/cart.py", search="zzzz qqqq\n" * 3, replace="")])
    assert "Did you mean" not in info.value.feedback
    assert "Nothing in the file is similar" in info.value.feedback


def test_several_edits_to_one_file_apply_in_order(repo: Path) -> None:
    edits = [
        Edit(path="shop/cart.py", search="def count(items):\n", replace="def size(items):\n"),
        Edit(
            path="shop/cart.py",
            search="def size(items):\n    return len(items)\n",
            replace="def size(items):\n    return len(list(items))\n",
        ),
        Edit(
            path="shop/cart.py",
            search='"""Shopping cart."""\n',
            replace='"""Shopping cart, with totals."""\n',
        ),
    ]
    patch = apply_edits(repo, edits)
    after = patch.changes[0].after
    assert after is not None
    assert "def size(items):\n    return len(list(items))\n" in after
    assert after.startswith('"""Shopping cart, with totals."""\n')
    assert patch.diff.count("diff --git") == 1
    assert git_apply_check(repo, patch.diff).returncode == 0


def test_edits_that_change_nothing_give_an_empty_patch(repo: Path) -> None:
    edit = Edit(
        path="shop/cart.py", search="    return len(items)\n", replace="    return len(items)\n"
    )
    patch = apply_edits(repo, [edit], dry_run=False)
    assert patch.empty
    assert patch.changes == ()
    assert apply_edits(repo, []).empty


def test_new_file_is_created_with_parents(repo: Path) -> None:
    edit = Edit(
        path="shop/util/money.py", search="", replace="def cents(x):\n    return round(x * 100)\n"
    )
    before = snapshot(repo)
    patch = apply_edits(repo, [edit])
    assert snapshot(repo) == before
    assert "new file mode" in patch.diff
    assert git_apply_check(repo, patch.diff).returncode == 0
    apply_edits(repo, [edit], dry_run=False)
    assert (repo / "shop/util/money.py").read_text() == edit.replace


def test_creating_an_existing_file_is_rejected(repo: Path) -> None:
    with pytest.raises(ApplyError, match="already exists") as info:
        apply_edits(repo, [Edit(path="shop/cart.py", search="", replace="x = 1\n")])
    assert "cannot be created" in info.value.feedback


def test_an_empty_existing_file_can_be_filled(tmp_path: Path) -> None:
    write(tmp_path, "pkg/__init__.py", "")
    patch = apply_edits(tmp_path, [Edit(path="pkg/__init__.py", search="", replace="X = 1\n")])
    assert patch.changes[0].after == "X = 1\n"


def test_editing_a_missing_file_suggests_close_names(repo: Path) -> None:
    with pytest.raises(ApplyError) as info:
        apply_edits(repo, [Edit(path="shop/carts.py", search="x\n", replace="y\n")])
    assert "shop/carts.py does not exist" in info.value.feedback
    assert "Did you mean shop/cart.py?" in info.value.feedback


def test_crlf_file_stays_crlf(tmp_path: Path) -> None:
    write(tmp_path, "win.py", b"def f():\r\n    return 1\r\n\r\nx = f()\r\n")
    edit = Edit(
        path="win.py",
        search="def f():\n    return 1\n",
        replace="def f():\n    y = 2\n    return y\n",
    )
    patch = apply_edits(tmp_path, [edit], dry_run=False)
    assert (
        tmp_path / "win.py"
    ).read_bytes() == b"def f():\r\n    y = 2\r\n    return y\r\n\r\nx = f()\r\n"
    assert patch.changes[0].after == "def f():\r\n    y = 2\r\n    return y\r\n\r\nx = f()\r\n"


def test_crlf_in_the_edit_text_matches_an_lf_file(tmp_path: Path) -> None:
    write(tmp_path, "a.py", "a = 1\nb = 2\n")
    patch = apply_edits(tmp_path, [Edit(path="a.py", search="a = 1\r\n", replace="a = 3\r\n")])
    assert patch.changes[0].after == "a = 3\nb = 2\n"


def test_missing_final_newline_is_preserved(tmp_path: Path) -> None:
    write(tmp_path, "a.py", "a = 1\nb = 2")
    patch = apply_edits(
        tmp_path, [Edit(path="a.py", search="b = 2\n", replace="b = 3\nc = 4\n")], dry_run=False
    )
    assert (tmp_path / "a.py").read_text() == "a = 1\nb = 3\nc = 4"
    assert "\\ No newline at end of file" in patch.diff


def test_missing_final_newline_with_crlf_and_git(tmp_path: Path) -> None:
    from tests.edits.helpers import init_repo

    root = init_repo(tmp_path / "r")
    write(root, "a.txt", b"one\r\ntwo\r\nthree")
    patch = apply_edits(root, [Edit(path="a.txt", search="three", replace="THREE")])
    assert patch.changes[0].after == "one\r\ntwo\r\nTHREE"
    assert git_apply_check(root, patch.diff).returncode == 0


def test_byte_order_mark_is_kept(tmp_path: Path) -> None:
    write(tmp_path, "a.py", "\ufeffa = 1\nb = 2\n".encode())
    apply_edits(tmp_path, [Edit(path="a.py", search="a = 1\n", replace="a = 0\n")], dry_run=False)
    assert (tmp_path / "a.py").read_bytes() == "\ufeffa = 0\nb = 2\n".encode()


def test_non_utf8_file_is_a_clear_apply_error(tmp_path: Path) -> None:
    write(tmp_path, "latin.txt", "café\n".encode("latin-1"))
    with pytest.raises(ApplyError, match="not UTF-8") as info:
        apply_edits(tmp_path, [Edit(path="latin.txt", search="caf", replace="x")])
    assert "cannot be edited" in info.value.feedback


def test_directory_is_not_a_file(repo: Path) -> None:
    with pytest.raises(ApplyError, match="not a regular file"):
        apply_edits(repo, [Edit(path="shop", search="x", replace="y")])


def test_parent_that_is_a_file_is_rejected(repo: Path) -> None:
    with pytest.raises(ApplyError, match="is a file, not a directory"):
        apply_edits(repo, [Edit(path="shop/cart.py/x.py", search="", replace="y\n")])


def test_non_ascii_content_round_trips_through_git(repo: Path) -> None:
    write(repo, "i18n.py", "GREETING = 'grüß dich'\nEMOJI = '🙂'\n")
    patch = apply_edits(
        repo,
        [Edit(path="i18n.py", search="GREETING = 'grüß dich'\n", replace="GREETING = 'χαίρετε'\n")],
    )
    assert git_apply_check(repo, patch.diff).returncode == 0


@pytest.mark.parametrize(
    "path",
    [
        "/etc/passwd",
        "../outside.py",
        "shop/../../outside.py",
        ".git/hooks/pre-commit",
        "sub/.GIT/config",
        "shop\\cart.py",
        "C:/x.py",
        "",
        "./",
    ],
)
def test_unsafe_paths_are_rejected_and_nothing_is_written(repo: Path, path: str) -> None:
    before = snapshot(repo)
    edits = [
        Edit(path="shop/cart.py", search="    return len(items)\n", replace="    return 0\n"),
        Edit(path=path, search="", replace="boom\n"),
    ]
    with pytest.raises(UnsafeEdit) as info:
        apply_edits(repo, edits, dry_run=False)
    assert info.value.feedback.startswith("Refused to edit")
    assert snapshot(repo) == before
    assert not (repo.parent / "outside.py").exists()


def test_symlinked_directory_escaping_the_root_is_rejected(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "repo"
    root.mkdir()
    (root / "vendor").symlink_to(outside, target_is_directory=True)
    for edit in (
        Edit(path="vendor/evil.py", search="", replace="x = 1\n"),
        Edit(path="vendor/deeper/evil.py", search="", replace="x = 1\n"),
    ):
        with pytest.raises(UnsafeEdit, match="points outside the repository"):
            apply_edits(root, [edit], dry_run=False)
    assert list(outside.iterdir()) == []


def test_symlinked_file_is_not_written_through(tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("secret\n")
    root = tmp_path / "repo"
    write(root, "real.py", "a = 1\n")
    (root / "escape.txt").symlink_to(outside)
    (root / "alias.py").symlink_to(root / "real.py")
    with pytest.raises(UnsafeEdit):
        apply_edits(
            root, [Edit(path="escape.txt", search="secret\n", replace="owned\n")], dry_run=False
        )
    with pytest.raises(UnsafeEdit) as info:
        apply_edits(
            root, [Edit(path="alias.py", search="a = 1\n", replace="a = 2\n")], dry_run=False
        )
    assert "Edit the real file real.py instead" in info.value.feedback
    assert outside.read_text() == "secret\n"
    assert (root / "real.py").read_text() == "a = 1\n"


def test_a_failing_later_edit_writes_nothing(repo: Path) -> None:
    before = snapshot(repo)
    edits = [
        Edit(path="shop/new.py", search="", replace="x = 1\n"),
        Edit(path="shop/cart.py", search="    return len(items)\n", replace="    return 0\n"),
        Edit(path="shop/cart.py", search="no such line\n", replace="y\n"),
    ]
    with pytest.raises(ApplyError):
        apply_edits(repo, edits, dry_run=False)
    assert snapshot(repo) == before


def test_diff_of_many_files_passes_git_apply_check(repo: Path) -> None:
    write(repo, "README.md", "# Shop\n\nA shop.\n")
    write(repo, "notes.txt", b"a\r\nb\r\nc\r\n")
    edits = [
        Edit(path="README.md", search="A shop.\n", replace="A small shop.\n"),
        Edit(path="notes.txt", search="b\n", replace="B\nB2\n"),
        Edit(path="shop/cart.py", search="        return self\n", replace="        return None\n"),
        Edit(path="docs/usage.md", search="", replace="Use it.\n"),
    ]
    patch = apply_edits(repo, edits)
    assert patch.paths == ("README.md", "docs/usage.md", "notes.txt", "shop/cart.py")
    result = git_apply_check(repo, patch.diff)
    assert result.returncode == 0, result.stderr


LATIN = '# -*- coding: latin-1 -*-\nNAME = "café"\n\n\ndef greet():\n    return "hello " + NAME\n'


def test_a_file_in_its_declared_encoding_is_edited_and_written_in_it(tmp_path: Path) -> None:
    write(tmp_path, "greet.py", LATIN.encode("latin-1"))
    edit = Edit(
        path="greet.py",
        search='    return "hello " + NAME\n',
        replace='    return "¡hola " + NAME\n',
    )
    patch = apply_edits(tmp_path, [edit])
    assert patch.changes[0].before == LATIN
    assert '+    return "¡hola " + NAME' in patch.diff
    apply_edits(tmp_path, [edit], dry_run=False)
    expected = LATIN.replace('"hello "', '"¡hola "')
    assert (tmp_path / "greet.py").read_bytes() == expected.encode("latin-1")


def test_text_the_declared_encoding_cannot_hold_writes_nothing(tmp_path: Path) -> None:
    write(tmp_path, "greet.py", LATIN.encode("latin-1"))
    write(tmp_path, "other.py", b"X = 1\n")
    edits = [
        Edit(path="other.py", search="X = 1\n", replace="X = 2\n"),
        Edit(path="greet.py", search='NAME = "café"\n', replace='NAME = "€uro"\n'),
    ]
    with pytest.raises(ApplyError, match="cannot hold") as info:
        apply_edits(tmp_path, edits, dry_run=False)
    assert "Keep greet.py to characters its encoding can hold" in info.value.feedback
    assert (tmp_path / "greet.py").read_bytes() == LATIN.encode("latin-1")
    assert (tmp_path / "other.py").read_bytes() == b"X = 1\n"
