"""Replies checked against the scope where no server enforced it; repeats recognised."""

from __future__ import annotations

import pytest

from patchloop.domain import Edit, EditScope, ScopeFile
from patchloop.edits.scope import check_scope, dedupe, edits_key, without_test_edits
from patchloop.errors import OutOfScope
from patchloop.verify.guard import is_protected_path, is_test_path

SCOPE = EditScope(
    files=(ScopeFile(path="gcd.py", text="x\n"), ScopeFile(path="pkg/util.py", text="y\n"))
)


def edit(path: str, search: str = "x\n", replace: str = "z\n") -> Edit:
    return Edit(path=path, search=search, replace=replace)


def test_paths_in_scope_pass() -> None:
    check_scope([edit("gcd.py"), edit("./pkg/util.py")], SCOPE, is_test=is_test_path)


@pytest.mark.parametrize(
    ("path", "said"),
    [
        ("src/gcd.py", "src/gcd.py is not a file you may edit here (did you mean gcd.py?)"),
        (
            "test_gcd.py",
            "test_gcd.py is a test file or test configuration; fix the code under test instead",
        ),
        ("elsewhere/zzz.txt", "elsewhere/zzz.txt is not a file you may edit here."),
    ],
)
def test_paths_outside_are_refused_with_the_valid_ones(path: str, said: str) -> None:
    with pytest.raises(OutOfScope) as caught:
        check_scope([edit("gcd.py"), edit(path)], SCOPE, is_test=is_test_path)
    feedback = caught.value.feedback
    assert feedback.startswith(f"Edit 2: {said}")
    assert "The files you may edit are: gcd.py, pkg/util.py." in feedback


def test_test_edits_beside_an_edit_in_scope_are_left_out() -> None:
    fix, test, ini = edit("gcd.py"), edit("test_gcd.py"), edit("pytest.ini")
    assert without_test_edits([fix, test, ini, test], SCOPE, is_test=is_protected_path) == (
        [fix],
        ("test_gcd.py", "pytest.ini"),
    )
    # Test edits alone, and paths that are not tests, are left to check_scope.
    assert without_test_edits([test], SCOPE, is_test=is_protected_path) == ([test], ())
    wrong = edit("src/gcd.py")
    assert without_test_edits([fix, wrong], SCOPE, is_test=is_protected_path) == ([fix, wrong], ())


def test_dedupe_keeps_first_of_exact_repeats() -> None:
    a, b = edit("gcd.py"), edit("gcd.py", replace="w\n")
    assert dedupe([a, b, a, a, b]) == [a, b]


def test_edits_key_ignores_order_and_trailing_whitespace_only() -> None:
    a, b = edit("gcd.py"), edit("pkg/util.py", "y\n", "q\n")
    assert edits_key([a, b]) == edits_key([b, edit("gcd.py", "x  \n\n", "z\n")])
    assert edits_key([a]) != edits_key([edit("gcd.py", replace="zz\n")])
    assert edits_key([a]) != edits_key([edit("gcd.py", replace="  z\n")])


def test_changes_nothing_sees_copies_and_equal_replacements() -> None:
    from patchloop.domain import Edit, EditScope, ScopeFile
    from patchloop.edits.scope import changes_nothing

    text = 'def f(x):\n    return x + 1\n\n\n"""Adds one."""\n'
    scope = EditScope(files=(ScopeFile(path="f.py", text=text),), max_edits=2)

    def whole(body: str, path: str = "f.py") -> Edit:
        return Edit(path=path, search="", replace=body, whole=True)

    assert changes_nothing([whole(text)], scope)
    # Trailing spaces, blank lines and a dropped closing docstring are not changes.
    assert changes_nothing([whole("def f(x):   \n\n    return x + 1\n")], scope)
    assert not changes_nothing([whole("def f(x):\n    return x - 1\n")], scope)
    same = Edit(path="f.py", search="    return x + 1\n", replace="    return x + 1  \n")
    assert changes_nothing([same], scope)
    other = Edit(path="f.py", search="    return x + 1\n", replace="    return x\n")
    assert not changes_nothing([same, other], scope)
    assert not changes_nothing([whole(text, path="g.py")], scope)
    assert not changes_nothing([], scope)
    # A new docstring changes something only where a failing test may read it.
    documented = 'def f(x):\n    """>>> f(1)\n    2\n    """\n    return x + 1\n'
    assert not changes_nothing([whole(documented)], scope)
    untested = scope.model_copy(update={"docstrings": False})
    assert changes_nothing([whole(documented)], untested)
    assert not changes_nothing([whole("def f(x):\n    return x - 1\n")], untested)


def test_with_its_scope_the_key_is_what_the_files_become() -> None:
    from patchloop.domain import Edit, EditScope, ScopeFile

    text = "def f(x):\n    return x + 1\n"
    scope = EditScope(
        files=(ScopeFile(path="f.py", text=text), ScopeFile(path="n.txt", text="a\nb\n")),
        max_edits=2,
    )
    fix = Edit(path="f.py", search="x + 1", replace="x + 2")
    whole = Edit(path="f.py", search="", replace="def f(x):\n    return x + 2\n", whole=True)
    commented = Edit(
        path="f.py", search="", replace="def f(x):\n\n    return (x + 2)  # fixed\n", whole=True
    )
    assert edits_key([fix], scope) == edits_key([whole], scope) == edits_key([commented], scope)
    assert edits_key([fix], scope) != edits_key(
        [Edit(path="f.py", search="x + 1", replace="x - 1")], scope
    )
    # Text files by their non-blank lines; an edit that cannot be worked out keeps the text key.
    note = Edit(path="n.txt", search="b\n", replace="c\n")
    assert edits_key([note], scope) == edits_key(
        [Edit(path="n.txt", search="", replace="a\n\nc\n", whole=True)], scope
    )
    lost = Edit(path="f.py", search="absent", replace="x")
    assert edits_key([lost], scope) == edits_key([lost])


def test_changes_nothing_sees_python_changes_that_cannot_change_behaviour() -> None:
    from patchloop.domain import Edit, EditScope, ScopeFile
    from patchloop.edits.scope import changes_nothing

    text = "def f(x):\n    return x + 1\n"
    scope = EditScope(files=(ScopeFile(path="f.py", text=text),), max_edits=2)
    typed = "from typing import Any\n\n\ndef f(x: Any) -> Any:\n    return x + 1\n"
    assert changes_nothing([Edit(path="f.py", search="", replace=typed, whole=True)], scope)
    annotate = Edit(path="f.py", search="def f(x):", replace="def f(x: int) -> int:")
    assert changes_nothing([annotate], scope)
    fix = Edit(path="f.py", search="x + 1", replace="x + 2")
    assert not changes_nothing([annotate, fix], scope)
    # Text files are compared as text; a search that is not found once cannot be judged.
    other = EditScope(files=(ScopeFile(path="f.txt", text=text),), max_edits=2)
    assert not changes_nothing(
        [Edit(path="f.txt", search="def f(x):", replace="def f(x: int):")], other
    )
    assert not changes_nothing([Edit(path="f.py", search="absent", replace="absent: int")], scope)


def test_breaks_python_sees_rewrites_that_no_longer_compile() -> None:
    from patchloop.domain import Edit, EditScope, ScopeFile
    from patchloop.edits.scope import breaks_python

    text = "def f(x):\n    return x + 1\n"
    scope = EditScope(
        files=(ScopeFile(path="f.py", text=text), ScopeFile(path="g.py", text="def g(:\n")),
        max_edits=2,
    )
    assert breaks_python([Edit(path="f.py", search="", replace="def f(x:\n", whole=True)], scope)
    fine = Edit(path="f.py", search="", replace="def f(x):\n    return x\n", whole=True)
    assert not breaks_python([fine], scope)
    # A file that did not compile before, and text that is not Python, are not judged here.
    assert not breaks_python([Edit(path="g.py", search="", replace="def g(:\n", whole=True)], scope)
    assert not breaks_python([Edit(path="f.py", search="x + 1", replace="x +")], scope)


def test_breaks_python_sees_rewrites_that_lose_a_definition() -> None:
    from patchloop.domain import Edit, EditScope, ScopeFile
    from patchloop.edits.scope import breaks_python

    text = "def f(x):\n    return g(x) + 1\n\n\ndef g(x):\n    return x\n"
    scope = EditScope(files=(ScopeFile(path="f.py", text=text),), max_edits=2)

    def rewrite(new: str) -> list[Edit]:
        return [Edit(path="f.py", search="", replace=new, whole=True)]

    # The function body replaced by an expression, and a rewrite that stopped after `f`.
    assert breaks_python(rewrite("obj['code']\n\n\ndef g(x):\n    return x\n"), scope)
    assert breaks_python(rewrite("def f(x):\n    return g(x) - 1\n"), scope)
    # Still bound, in another form: not a loss.
    assert not breaks_python(rewrite("def f(x):\n    return g(x) - 1\n\n\ng = abs\n"), scope)
    assert not breaks_python(rewrite(text.replace("+ 1", "- 1")), scope)
    # Another file's content written over this one: it imports `g` from this very module.
    assert breaks_python(rewrite("from f import g\n\n\ndef f(x):\n    return g(x)\n"), scope)
