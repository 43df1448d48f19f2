"""The empty value of an expression's evident type (the typed answer of an inserted guard)."""

from __future__ import annotations

from pathlib import Path

import libcst as cst
import pytest

from patchloop.fixers.rules._empty import empty_value

from .helpers import candidates, write_module


@pytest.mark.parametrize(
    ("expr", "empty"),
    [
        ("len(xs)", "0"),
        ("sum(xs) * 2", "0"),
        ("sum(xs) / len(xs)", "0.0"),
        ("' '.join(words)", "''"),
        ("name.strip().lower()", "''"),
        ("f'{a}-{b}'", "''"),
        ("b'x' + data", "b''"),
        ("[x * 2 for x in xs]", "[]"),
        ("sorted(xs)", "[]"),
        ("{k: 1 for k in ks}", "{}"),
        ("{x for x in xs}", "set()"),
        ("a < b", "False"),
        ("not done", "False"),
        ("any(flags)", "False"),
        ("xs.count(0)", "0"),
        ("xs", None),
        ("helper(xs)", None),
        ("xs[0]", None),
    ],
)
def test_empty_value_follows_the_form_of_the_expression(expr: str, empty: str | None) -> None:
    assert empty_value(cst.parse_expression(expr)) == empty


def test_guards_offer_the_empty_value_of_the_returned_type(tmp_path: Path) -> None:
    write_module(tmp_path, "def words(text):\n    return ' '.join(text.split())\n")

    labels = [p.label for p in candidates(tmp_path, templates=["guards"])]

    returns = {label.rsplit("return ", 1)[1][:-1] for label in labels}
    assert returns == {"None", "''", "text"}
