from pathlib import Path

from patchloop.localize.symbols import SymbolIndex, parse_module

SOURCE = """
import os
from . import sibling
from ..pkg import thing as alias


@decorator
def top(x):
    def inner():
        return x
    return inner


class Cart:
    rate = 1

    def total(self):
        return 1

    class Line:
        def price(self):
            return 2
"""


def test_scopes_are_qualified_and_span_decorators():
    module = parse_module("pkg/sub/mod.py", SOURCE)
    names = {s.qualname: (s.start, s.end, s.kind) for s in module.scopes}
    assert names["top"] == (7, 11, "function")
    assert names["top.inner"][2] == "function"
    assert names["Cart"][2] == "class"
    assert "Cart.total" in names
    assert "Cart.Line.price" in names
    assert module.enclosing(10).qualname == "top.inner"  # type: ignore[union-attr]
    assert module.enclosing(15).qualname == "Cart"  # type: ignore[union-attr]
    assert module.enclosing(18).qualname == "Cart.total"  # type: ignore[union-attr]
    assert module.enclosing(2) is None


def test_relative_imports_resolve_against_the_package():
    module = parse_module("pkg/sub/mod.py", SOURCE)
    by_alias = {i.alias: i for i in module.imports}
    assert by_alias["sibling"].module == "pkg.sub"
    assert by_alias["alias"].module == "pkg.pkg"
    assert by_alias["alias"].attr == "thing"
    assert by_alias["os"].module == "os"


def test_unparsable_undecodable_and_missing_files_have_no_symbols(tmp_path: Path):
    (tmp_path / "broken.py").write_text("def f(:\n", encoding="utf-8")
    (tmp_path / "binary.py").write_bytes(b"\xff\xfe\x00\x00garbage")
    index = SymbolIndex(tmp_path)
    broken = index.get("broken.py")
    assert broken is not None
    assert broken.scopes == []
    binary = index.get("binary.py")
    assert binary is not None
    assert binary.scopes == []
    assert index.get("missing.py") is None


def test_module_path_looks_at_root_src_and_next_to_the_importer(tmp_path: Path):
    for rel in ("a/b.py", "src/lib/__init__.py", "tests/helpers.py"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("", encoding="utf-8")
    index = SymbolIndex(tmp_path)
    assert index.module_path("a.b") == "a/b.py"
    assert index.module_path("lib") == "src/lib/__init__.py"
    assert index.module_path("helpers", near="tests/test_x.py") == "tests/helpers.py"
    assert index.module_path("helpers") is None
