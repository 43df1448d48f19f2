"""A patch that drops a name its file still reads is refused before the tests run."""

from __future__ import annotations

import pytest

from patchloop.domain import Edit, EditScope, FileChange, Patch, ScopeFile
from patchloop.edits.names import check_names, unbound_names
from patchloop.edits.scope import breaks_python
from patchloop.errors import InvalidSyntax, UndefinedNames

BEFORE = (
    "from dataclasses import dataclass, field\n"
    "import os.path\n\n"
    "LIMIT = 3\n\n\n"
    "@dataclass\n"
    "class Cart:\n"
    "    items: list = field(default_factory=list)\n\n"
    "    def where(self):\n"
    "        return os.path.join('a', str(LIMIT))\n"
)


def test_a_dropped_import_is_named_with_the_line_that_bound_it() -> None:
    after = BEFORE.replace("from dataclasses import dataclass, field\n", "")
    assert unbound_names(BEFORE, after) == {
        "dataclass": "from dataclasses import dataclass, field",
        "field": "from dataclasses import dataclass, field",
    }
    change = FileChange(path="cart.py", before=BEFORE, after=after)
    with pytest.raises(UndefinedNames) as caught:
        check_names(Patch(diff="x", changes=(change,)))
    feedback = caught.value.feedback or ""
    assert "cart.py still uses `dataclass`, `field`" in feedback
    assert "    from dataclasses import dataclass, field" in feedback
    assert isinstance(caught.value, InvalidSyntax)  # recorded as a static failure


def test_a_dropped_constant_and_dotted_import_are_found() -> None:
    after = BEFORE.replace("import os.path\n", "").replace("LIMIT = 3\n", "")
    assert sorted(unbound_names(BEFORE, after)) == ["LIMIT", "os"]


@pytest.mark.parametrize(
    "after",
    [
        # The name is bound another way, or no longer read.
        BEFORE.replace("from dataclasses import dataclass, field", "from dataclasses import *"),
        BEFORE.replace("LIMIT = 3\n", "")
        .replace("str(LIMIT)", "str(limit)")
        .replace("def where(self):", "def where(self, limit=3):"),
        BEFORE.replace("import os.path\n", "").replace(
            "        return os.path.join('a', str(LIMIT))\n",
            "        import os\n        return os.sep + str(LIMIT)\n",
        ),
        BEFORE.replace("import os.path\n", "").replace(
            "os.path.join('a', str(LIMIT))", "'a/' + str(LIMIT)"
        ),
        # Does not parse: the syntax check speaks for it.
        "def f(:\n",
    ],
)
def test_rewrites_that_keep_every_name_they_read_pass(after: str) -> None:
    assert unbound_names(BEFORE, after) == {}


def test_names_the_original_never_bound_are_left_to_the_tests() -> None:
    # A builtin, and a name the buggy original already read without binding.
    before = "def f(xs):\n    return len(xs) + missing\n"
    after = "def f(xs):\n    return len(xs) + missing + 1\n"
    assert unbound_names(before, after) == {}


def test_an_import_of_the_file_from_itself_binds_nothing() -> None:
    before = "from .helpers import clamp\n\n\ndef f(x):\n    return clamp(x)\n"
    after = "from .money import clamp\n\n\ndef f(x):\n    return clamp(x)\n"
    assert unbound_names(before, after, "pkg/money.py") == {"clamp": before.splitlines()[0]}
    assert unbound_names(before, after, "pkg/other.py") == {}


def test_other_changes_pass() -> None:
    changes = (
        FileChange(path="notes.txt", before="import x\nx\n", after="x\n"),
        FileChange(path="new.py", before=None, after="print(undefined)\n"),
        FileChange(path="gone.py", before=BEFORE, after=None),
        FileChange(path="cart.py", before=BEFORE, after=BEFORE.replace("3", "4")),
    )
    check_names(Patch(diff="x", changes=changes))


def test_a_whole_file_rewrite_that_drops_an_import_is_refused_before_sampling_on() -> None:
    scope = EditScope(files=(ScopeFile(path="cart.py", text=BEFORE),))
    dropped = BEFORE.replace("from dataclasses import dataclass, field\n", "")
    assert breaks_python([Edit(path="cart.py", search="", replace=dropped, whole=True)], scope)
    kept = BEFORE.replace("3", "4")
    assert not breaks_python([Edit(path="cart.py", search="", replace=kept, whole=True)], scope)
