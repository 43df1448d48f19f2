"""What an issue text yields: names by source, modules, paths, messages, frames."""

from __future__ import annotations

from patchloop.localize.clues import extract_clues
from patchloop.localize.codeblocks import code_names

ISSUE = """geometry.area gives wrong results for `Polygon.scaled`

```python
>>> from shapes.geometry import area
>>> import shapes as sh
>>> poly = sh.Polygon([(0, 0), (1, 0), (1, 1)])
>>> area(poly.scaled(factor=2))
```

```
Traceback (most recent call last):
  File "/home/me/env/lib/python3.11/site-packages/shapes/geometry.py", line 41, in area
    return _shoelace(points)
  File "/home/me/env/lib/python3.11/site-packages/shapes/_kernels.py", line 12, in _shoelace
    raise ValueError(f"polygon needs at least three vertices, got {n}")
ValueError: polygon needs at least three vertices, got 2
```

The check in shapes/_kernels.py looks wrong.
"""


def test_code_block_names_are_resolved_through_the_snippets_imports():
    found = code_names("import shapes as sh\nsh.Polygon([]).scaled(factor=2)\n")
    assert found.parsed
    assert "shapes.Polygon" in found.calls
    assert "scaled" in found.calls  # a method called on an expression: its name
    assert "factor" in found.names
    assert found.imports == [("shapes", "")]


def test_a_block_that_does_not_parse_whole_is_parsed_statement_by_statement():
    found = code_names("x = make(\n  1,\n  2)\n<Output at 0x7f>\ny = other_call(x)\n")
    assert found.parsed
    assert {"make", "other_call"} <= set(found.calls)


def test_output_is_not_code():
    assert not code_names("<Polygon object at 0x7f00>\n   ^^^^\n").parsed


def test_issue_clues_by_source():
    clues = extract_clues(ISSUE)
    assert clues.title.startswith("geometry.area")
    by_source = {(n.text, n.source) for n in clues.names}
    assert ("area", "import") in by_source
    assert ("shapes.Polygon", "code") in by_source
    assert ("Polygon.scaled", "inline") in by_source
    assert ("_shoelace", "traceback") in by_source
    imported = next(n for n in clues.names if n.source == "import")
    assert (imported.text, imported.module) == ("area", "shapes.geometry")
    assert "shapes.geometry" in clues.modules
    assert "shapes/_kernels.py" in clues.paths
    assert [f.function for f in clues.stacks[0]] == ["area", "_shoelace"]
    texts = [m.text for m in clues.messages]
    assert "polygon needs at least three vertices, got 2" in texts
    assert clues.messages[0].kind == "ValueError"


def test_plain_prose_gives_no_names():
    clues = extract_clues("The total is wrong when the cart is empty.")
    assert clues.names == ()
    assert clues.messages == ()
    assert clues.stacks == ()
