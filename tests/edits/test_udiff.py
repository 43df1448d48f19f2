"""Unified diffs: the udiff format (lenient, by context) and strict re-application."""

from __future__ import annotations

from pathlib import Path

import pytest

from patchloop.domain import Edit, FileChange
from patchloop.edits import UdiffFormat, apply_diff, make_patch, parse_udiff
from patchloop.edits.udiff_parse import parse_unified_diff
from patchloop.errors import ApplyError, ParseError
from tests.edits.conftest import CART
from tests.edits.helpers import commit_all, git, git_apply_check, snapshot, write

GIT_DIFF = """\
diff --git a/shop/cart.py b/shop/cart.py
index 3b18e51..a9c2b7f 100644
--- a/shop/cart.py
+++ b/shop/cart.py
@@ -4,3 +4,3 @@
 def total(items):
-    return sum(item.price for item in items)
+    return sum(item.price * item.qty for item in items)
\x20
@@ -8,2 +8,3 @@ def count(items):
 def count(items):
+    # every item counts once
     return len(items)
"""


def test_parse_git_diff() -> None:
    edits = parse_udiff(GIT_DIFF)
    assert edits == [
        Edit(
            path="shop/cart.py",
            search="def total(items):\n    return sum(item.price for item in items)\n\n",
            replace=(
                "def total(items):\n    return sum(item.price * item.qty for item in items)\n\n"
            ),
            line_hint=4,
        ),
        Edit(
            path="shop/cart.py",
            search="def count(items):\n    return len(items)\n",
            replace="def count(items):\n    # every item counts once\n    return len(items)\n",
            line_hint=8,
        ),
    ]


def test_parse_plain_diff_with_timestamps_fences_and_prose() -> None:
    reply = (
        "The fix:\n\n```diff\n"
        "--- shop/cart.py\t2024-05-01 10:00:00\n+++ shop/cart.py\t2024-05-01 10:01:00\n"
        "@@ -8,2 +8,2 @@\n def count(items):\n-    return len(items)\n+    return 0\n```\n\n"
        "- this bullet is prose\n"
    )
    (edit,) = parse_udiff(reply)
    assert edit == Edit(
        path="shop/cart.py",
        search="def count(items):\n    return len(items)\n",
        replace="def count(items):\n    return 0\n",
        line_hint=8,
    )


def test_bare_hunk_headers_and_wrong_counts() -> None:
    reply = (
        "--- a/a.py\n+++ b/a.py\n@@ @@\n x = 1\n-y = 2\n+y = 3\n"
        "@@ -40,1 +40,1 @@\n z = 1\n-w = 2\n+w = 3\n+v = 4\n"
    )
    first, second = parse_udiff(reply)
    assert (first.search, first.replace, first.line_hint) == (
        "x = 1\ny = 2\n",
        "x = 1\ny = 3\n",
        None,
    )
    assert (second.search, second.replace, second.line_hint) == (
        "z = 1\nw = 2\n",
        "z = 1\nw = 3\nv = 4\n",
        40,
    )


def test_context_line_that_lost_its_space() -> None:
    reply = "--- a/a.py\n+++ b/a.py\n@@ -1,4 +1,4 @@\n x = 1\n\n-y = 2\n+y = 3\n"
    (edit,) = parse_udiff(reply)
    assert edit.search == "x = 1\n\ny = 2\n"


def test_several_files_and_a_new_file() -> None:
    reply = (
        "--- a/a.py\n+++ b/a.py\n@@ -1 +1 @@\n-a\n+b\n"
        "diff --git a/pkg/new.py b/pkg/new.py\nnew file mode 100644\n"
        "--- /dev/null\n+++ b/pkg/new.py\n"
        "@@ -0,0 +1,2 @@\n+X = 1\n+Y = 2\n"
    )
    edits = parse_udiff(reply)
    assert edits == [
        Edit(path="a.py", search="a\n", replace="b\n", line_hint=1),
        Edit(path="pkg/new.py", search="", replace="X = 1\nY = 2\n"),
    ]


def test_no_newline_markers() -> None:
    reply = (
        "--- a/a.txt\n+++ b/a.txt\n@@ -1,2 +1,2 @@\n one\n-two\n\\ No newline at end of file\n"
        "+TWO\n\\ No newline at end of file\n"
    )
    (edit,) = parse_udiff(reply)
    assert (edit.search, edit.replace) == ("one\ntwo", "one\nTWO")


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("Just prose.", "contains no unified diff"),
        ("@@ -1 +1 @@\n-a\n+b\n", "hunk comes before any"),
        ("--- a/a.py\n+++ /dev/null\n@@ -1 +0,0 @@\n-a\n", "deleting files is not supported"),
        ("--- a/a.py\n+++ b/b.py\n@@ -1 +1 @@\n-a\n+b\n", "renaming files is not supported"),
        (
            "diff --git a/a.py b/b.py\nsimilarity index 90%\nrename from a.py\nrename to b.py\n",
            "renaming",
        ),
        ("diff --git a/x.png b/x.png\nBinary files a/x.png and b/x.png differ\n", "binary"),
        ("--- /dev/null\n+++ b/n.py\n@@ -0,0 +1,2 @@\n+a\n b\n", "every line must start with '+'"),
        ("--- a/a.py\n+++ b/a.py\n", "has no hunks"),
        ("--- a/a.py\n+++ b/a.py\n@@ @@\n+added\n", "cannot be placed"),
        (
            "--- a/a.py\n+++ b/a.py\n@@ -1,3 +1,3 @@\n a\nb without marker\n-c\n+d\n",
            "does not start with",
        ),
    ],
)
def test_malformed_diffs(reply: str, expected: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_udiff(reply)
    assert expected in info.value.feedback
    assert "'@@ -START,COUNT +START,COUNT @@'" in info.value.feedback


def test_shifted_line_numbers_still_apply(repo: Path) -> None:
    # The hunk claims line 40; the text is at line 8.
    reply = (
        "--- a/shop/cart.py\n+++ b/shop/cart.py\n@@ -40,3 +40,3 @@\n def count(items):\n"
        "-    return len(items)\n+    return 0\n \n"
    )
    fmt = UdiffFormat()
    patch = fmt.apply(repo, fmt.parse(reply))
    assert patch.label == "udiff"
    assert "+    return 0" in patch.diff
    assert git_apply_check(repo, patch.diff).returncode == 0


def test_line_hint_chooses_between_identical_places(tmp_path: Path) -> None:
    write(tmp_path, "a.py", "".join(f"# block {i}\nx = 1\ny = 2\n\n" for i in range(5)))
    # "x = 1" is on lines 2, 6, 10, 14 and 18; the hunk says 13, nearest to 14.
    reply = "--- a/a.py\n+++ b/a.py\n@@ -13,2 +13,2 @@\n x = 1\n-y = 2\n+y = 3\n"
    after = UdiffFormat().apply(tmp_path, parse_udiff(reply)).changes[0].after
    assert after is not None
    assert after.split("\n")[12:15] == ["# block 3", "x = 1", "y = 3"]
    assert after.count("y = 3") == 1


def test_udiff_applies_with_tolerated_whitespace(repo: Path) -> None:
    reply = (
        "--- a/shop/cart.py\n+++ b/shop/cart.py\n@@ -17,2 +17,2 @@\n"
        "-self.items.append(item)\n-return self\n+self.items.append(item)\n+return None\n"
    )
    patch = UdiffFormat().apply(repo, parse_udiff(reply))
    assert "+        return None" in patch.diff


def test_insertion_without_context(tmp_path: Path) -> None:
    write(tmp_path, "a.py", "a\nb\nc\n")
    reply = "--- a/a.py\n+++ b/a.py\n@@ -2,0 +3 @@\n+inserted\n"
    patch = UdiffFormat().apply(tmp_path, parse_udiff(reply))
    assert patch.changes[0].after == "a\nb\ninserted\nc\n"


# --------------------------------------------------------------------------- apply_diff


def tree(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for rel, content in files.items():
        write(root, rel, content)
    return root


ROUND_TRIPS = [
    pytest.param({"a.py": "x = 1\n"}, {"a.py": "x = 2\n"}, id="modify"),
    pytest.param(
        {"a.py": CART},
        {
            "a.py": CART.replace("return self", "return None").replace(
                '"""Shopping cart."""', '"""Cart."""'
            )
        },
        id="two-hunks",
    ),
    pytest.param({}, {"n/new.py": "print(1)\n"}, id="new"),
    pytest.param({}, {"empty.py": ""}, id="new-empty"),
    pytest.param({"old.py": "gone\n"}, {}, id="delete"),
    pytest.param({"bom.txt": "\ufeffa\r\nb"}, {}, id="delete-bom-crlf"),
    pytest.param({"a.txt": "a\nb"}, {"a.txt": "a\nB"}, id="no-final-newline"),
    pytest.param({"a.txt": "a\nb"}, {"a.txt": "a\nb\n"}, id="add-final-newline"),
    pytest.param({"a.txt": "a\nb\n"}, {"a.txt": "a\nb"}, id="drop-final-newline"),
    pytest.param({"w.txt": "a\r\nb\r\nc\r\n"}, {"w.txt": "a\r\nB\r\nc\r\n"}, id="crlf"),
    pytest.param({"u.py": "\ufeffa = 'é'\n"}, {"u.py": "\ufeffa = 'è'\n"}, id="bom-unicode"),
    pytest.param(
        {"s.py": "".join(f"line {i}\n" for i in range(100))},
        {
            "s.py": "".join(f"line {i}\n" for i in range(100) if i not in (5, 50)).replace(
                "line 90", "LINE 90"
            )
        },
        id="spread",
    ),
]


@pytest.mark.parametrize(("before", "after"), ROUND_TRIPS)
def test_apply_diff_round_trips_make_patch(
    tmp_path: Path, before: dict[str, str], after: dict[str, str]
) -> None:
    root = tree(tmp_path / "r", before)
    paths = sorted(before.keys() | after.keys())
    patch = make_patch(
        [FileChange(path=p, before=before.get(p), after=after.get(p)) for p in paths]
    )
    assert not patch.empty
    assert git_apply_check(root, patch.diff).returncode == 0
    snap = snapshot(root)
    again = apply_diff(root, patch.diff)
    assert snapshot(root) == snap
    assert again.diff == patch.diff
    apply_diff(root, patch.diff, dry_run=False)
    expected = {p: (c.encode() if isinstance(c, str) else c) for p, c in after.items()}
    assert snapshot(root) == expected


def test_apply_diff_of_a_real_git_diff(tmp_path: Path) -> None:
    from tests.edits.helpers import init_repo

    root = init_repo(tmp_path / "r")
    write(root, "shop/cart.py", CART)
    commit_all(root)
    write(root, "shop/cart.py", CART.replace("item.price for", "item.price * item.qty for"))
    write(root, "docs/new.md", "hello\n")
    assert git(root, "add", "-N", "docs/new.md").returncode == 0
    diff = git(root, "diff").stdout.decode()
    changed = snapshot(root)
    assert git(root, "checkout", "--", "shop/cart.py").returncode == 0
    assert git(root, "rm", "-q", "--cached", "docs/new.md").returncode == 0
    (root / "docs/new.md").unlink()
    apply_diff(root, diff, dry_run=False)
    assert snapshot(root) == changed


def test_apply_diff_tolerates_moved_text_but_not_changed_text(tmp_path: Path) -> None:
    before = "a\nb\nc\nd\n"
    patch = make_patch([FileChange(path="f.txt", before=before, after="a\nb\nC\nd\n")])
    write(tmp_path, "f.txt", "new 1\nnew 2\n" + before)
    assert apply_diff(tmp_path, patch.diff).changes[0].after == "new 1\nnew 2\na\nb\nC\nd\n"
    write(tmp_path, "f.txt", "a\nb \nc\nd\n")  # trailing space: strict mode refuses
    with pytest.raises(ApplyError, match="no match"):
        apply_diff(tmp_path, patch.diff)


def test_apply_diff_refuses_conflicts(tmp_path: Path) -> None:
    write(tmp_path, "exists.py", "x\n")
    new = make_patch([FileChange(path="exists.py", before=None, after="y\n")])
    with pytest.raises(ApplyError, match="already exists"):
        apply_diff(tmp_path, new.diff)
    delete = make_patch([FileChange(path="exists.py", before="other\n", after=None)])
    with pytest.raises(ApplyError, match="content differs"):
        apply_diff(tmp_path, delete.diff)
    assert (tmp_path / "exists.py").read_text() == "x\n"


def test_apply_diff_rejects_corrupt_and_unsafe_diffs(tmp_path: Path) -> None:
    with pytest.raises(ParseError, match="ends inside a hunk"):
        apply_diff(tmp_path, "--- a/a\n+++ b/a\n@@ -1,3 +1,3 @@\n a\n")
    with pytest.raises(ParseError, match="hunk header"):
        apply_diff(tmp_path, "--- a/a\n+++ b/a\n@@ @@\n a\n")
    from patchloop.errors import UnsafeEdit

    with pytest.raises(UnsafeEdit):
        apply_diff(tmp_path, "--- /dev/null\n+++ b/../evil.py\n@@ -0,0 +1 @@\n+x\n", dry_run=False)
    assert not (tmp_path.parent / "evil.py").exists()


def test_apply_diff_of_empty_text_is_an_empty_patch(tmp_path: Path) -> None:
    assert apply_diff(tmp_path, "").empty


def test_strict_parse_reads_lines_that_look_like_headers_by_count() -> None:
    # A removed SQL comment "-- x" shows as "--- x"; counts say it belongs to the hunk.
    diff = "--- a/q.sql\n+++ b/q.sql\n@@ -1,2 +1,2 @@\n--- x\n+++ y\n select 1;\n"
    (f,) = parse_unified_diff(diff, strict=True)
    assert f.hunks[0].old() == "-- x\nselect 1;\n"
    assert f.hunks[0].new() == "++ y\nselect 1;\n"
