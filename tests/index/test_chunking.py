"""Chunk boundaries per language, line windows, splitting and broken input."""

from __future__ import annotations

import itertools

from patchloop.index.chunking import MAX_CHUNK_TOKENS, WINDOW_LINES, chunk_file, word_pieces
from patchloop.index.tokenize import tokenize

PY = '''\
import os

LIMIT = 3


# Leading comment of A.
class A(Base):
    """Doc of A."""

    size = 1

    @property
    def f(self, y):
        return y

    async def g(self):
        def inner():
            return 1
        return inner


def h():
    return LIMIT


if __name__ == "__main__":
    h()
'''


def spans(path: str, text: str) -> list[tuple[str, str, int, int]]:
    return [(c.kind, c.symbol, c.start_line, c.end_line) for c in chunk_file(path, text).chunks]


def test_python_functions_methods_classes_and_module_code() -> None:
    assert spans("pkg/a.py", PY) == [
        ("module", "", 1, 3),
        ("class", "A", 6, 10),
        ("method", "A.f", 12, 14),
        ("method", "A.g", 16, 19),
        ("function", "h", 22, 23),
        ("module", "", 26, 27),
    ]
    chunks = {c.symbol: c for c in chunk_file("a.py", PY).chunks}
    # the class chunk is its signature, docstring and attributes, not its methods
    assert (
        chunks["A"].text
        == '# Leading comment of A.\nclass A(Base):\n    """Doc of A."""\n\n    size = 1'
    )
    assert chunks["A.f"].text.startswith("    @property\n    def f(self, y):")
    assert "def inner" in chunks["A.g"].text  # nested functions stay with their parent


def test_python_tags_for_the_repo_map() -> None:
    result = chunk_file("a.py", PY)
    assert ("A", "class", 6) in result.defs
    assert ("f", "method", 12) in result.defs
    assert result.refs["LIMIT"] == 2
    assert result.refs["Base"] == 1


def test_javascript_and_typescript() -> None:
    js = (
        'import x from "y";\n'
        "// Adds two numbers.\n"
        "export function add(a, b) { return a + b; }\n"
        "const mul = (a, b) => a * b;\n"
        "class Cart extends Base {\n"
        "  total() { return 1; }\n"
        "}\n"
    )
    assert spans("src/m.js", js) == [
        ("module", "", 1, 1),
        ("function", "add", 2, 3),
        ("function", "mul", 4, 4),
        ("class", "Cart", 5, 7),
        ("method", "Cart.total", 6, 6),
    ]
    ts = (
        "interface Shape { area(): number; }\n"
        "type Id = string;\n"
        "export class Circle implements Shape {\n"
        "  area(): number { return 3; }\n"
        "}\n"
    )
    assert spans("m.ts", ts) == [
        ("type", "Shape", 1, 1),
        ("type", "Id", 2, 2),
        ("class", "Circle", 3, 5),
        ("method", "Circle.area", 4, 4),
    ]
    assert spans("c.tsx", "export const App = () => <div/>;\n") == [("function", "App", 1, 1)]


def test_go_rust_java() -> None:
    go = (
        "package main\n\n"
        "// Server serves.\n"
        "type Server struct { n int }\n\n"
        "func (s *Server) Start() error { return nil }\n\n"
        "func main() {}\n"
    )
    assert spans("main.go", go) == [
        ("module", "", 1, 1),
        ("type", "Server", 3, 4),
        ("method", "Server.Start", 6, 6),
        ("function", "main", 8, 8),
    ]
    rust = (
        "use std::fmt;\n"
        "struct P { x: i32 }\n"
        "impl P {\n"
        "    fn new() -> Self { P { x: 0 } }\n"
        "}\n"
        "fn main() {}\n"
    )
    assert spans("lib.rs", rust) == [
        ("module", "", 1, 1),
        ("type", "P", 2, 2),
        ("class", "P", 3, 5),
        ("method", "P.new", 4, 4),
        ("function", "main", 6, 6),
    ]
    java = (
        "package a;\n"
        "public class Foo {\n"
        "    private int x;\n"
        "    /** Makes one. */\n"
        "    public Foo() {}\n"
        "    public int bar(int y) { return y; }\n"
        "}\n"
    )
    assert spans("Foo.java", java) == [
        ("module", "", 1, 1),
        ("class", "Foo", 2, 7),
        ("method", "Foo.Foo", 4, 5),
        ("method", "Foo.bar", 6, 6),
    ]


def test_other_files_become_line_windows() -> None:
    text = "\n".join(f"line {i}" for i in range(1, 101)) + "\n"
    chunks = chunk_file("notes.txt", text).chunks
    assert [(c.kind, c.start_line, c.end_line) for c in chunks] == [
        ("window", 1, WINDOW_LINES),
        ("window", WINDOW_LINES + 1, 2 * WINDOW_LINES),
        ("window", 2 * WINDOW_LINES + 1, 100),
    ]


def test_long_definitions_are_split_within_the_model_window() -> None:
    body = "".join(
        f"    total_value_{i} = compute_something(alpha, beta, gamma)\n" for i in range(120)
    )
    chunks = chunk_file("big.py", f"def big():\n{body}").chunks
    assert len(chunks) > 1
    assert {c.symbol for c in chunks} == {"big"}
    assert all(sum(word_pieces(x) for x in c.text.split("\n")) <= MAX_CHUNK_TOKENS for c in chunks)
    # pieces tile the function without gaps or overlaps
    assert chunks[0].start_line == 1
    assert chunks[-1].end_line == 121
    assert all(b.start_line == a.end_line + 1 for a, b in itertools.pairwise(chunks))


def test_one_enormous_line_is_cut() -> None:
    chunks = chunk_file("min.js", "var x = [" + "1, " * 5000 + "];\n").chunks
    assert len(chunks) > 1
    assert all(c.start_line == c.end_line == 1 for c in chunks)


def test_unparsable_source_falls_back_to_windows_for_the_broken_part() -> None:
    result = chunk_file("b.py", "def broken(:\n    pass\n\n\ndef ok():\n    return 1\n")
    assert "parse errors" in result.note
    assert [(c.kind, c.symbol) for c in result.chunks] == [("module", ""), ("function", "ok")]
    assert "def broken" in result.chunks[0].text


def test_identifier_aware_tokens() -> None:
    assert tokenize("parseHTTPResponse(max_retries)") == [
        "parsehttpresponse",
        "parse",
        "http",
        "response",
        "max_retries",
        "max",
        "retries",
    ]
    assert tokenize("the total of a Cart") == ["total", "cart"]
