"""Issue-text localization on a generated repository, through the real code index."""

from __future__ import annotations

from pathlib import Path

from patchloop.index import lexical_retriever
from patchloop.localize.issue import IssueRanker
from tests.conftest import make_repo

GEOMETRY = '''\
"""Polygon geometry."""

from shapes._kernels import _shoelace


class Polygon:
    """A closed polygon given by its vertices."""

    def __init__(self, points):
        self.points = list(points)

    def scaled(self, factor):
        """The polygon scaled by factor around the origin."""
        return Polygon([(x * factor, y) for x, y in self.points])

    def translated(self, dx, dy):
        return Polygon([(x + dx, y + dy) for x, y in self.points])


def area(poly):
    """Area of a polygon."""
    points = poly.points
    return _shoelace(points)


def perimeter(poly):
    total = 0.0
    for (x0, y0), (x1, y1) in zip(poly.points, poly.points[1:] + poly.points[:1]):
        total += ((x1 - x0) ** 2 + (y1 - y0) ** 2) ** 0.5
    return total
'''

KERNELS = '''\
"""Numeric kernels."""


def _shoelace(points):
    n = len(points)
    if n < 4:
        raise ValueError(f"polygon needs at least three vertices, got {n}")
    twice = 0.0
    for i in range(n):
        x0, y0 = points[i]
        x1, y1 = points[(i + 1) % n]
        twice += x0 * y1 - x1 * y0
    return abs(twice) / 2


def _dot(a, b):
    return sum(x * y for x, y in zip(a, b))
'''

RENDER = '''\
"""Rendering: polygon area shading, polygon vertices, polygon area labels."""


def draw_polygon(canvas, poly):
    """Draw the polygon: its vertices, its area shaded, the polygon area label."""
    for vertex in poly.points:  # polygon vertices, polygon area, vertices again
        canvas.dot(vertex)
    canvas.label("polygon area")


def shade_area(canvas, poly, colour):
    """Shade the area of a polygon with at least three vertices."""
    canvas.fill(poly.points, colour)
'''

TESTS = """\
from shapes.geometry import Polygon, area


def test_area_of_a_triangle():
    assert area(Polygon([(0, 0), (1, 0), (0, 1)])) == 0.5
"""

FILES = {
    "shapes/__init__.py": "from shapes.geometry import Polygon, area\n",
    "shapes/geometry.py": GEOMETRY,
    "shapes/_kernels.py": KERNELS,
    "shapes/render.py": RENDER,
    "tests/test_geometry.py": TESTS,
}

TRACEBACK_ISSUE = """area() fails for triangles

```python
from shapes import Polygon, area
area(Polygon([(0, 0), (1, 0), (0, 1)]))
```

```
Traceback (most recent call last):
  File "/home/me/venv/lib/python3.11/site-packages/shapes/geometry.py", line 23, in area
    return _shoelace(points)
  File "/home/me/venv/lib/python3.11/site-packages/shapes/_kernels.py", line 7, in _shoelace
    raise ValueError(f"polygon needs at least three vertices, got {n}")
ValueError: polygon needs at least three vertices, got 3
```
"""


def test_a_quoted_traceback_points_at_the_deepest_frame_and_its_line(shapes_retriever):
    ranking = IssueRanker(shapes_retriever.view()).rank(TRACEBACK_ISSUE)
    assert ranking.files[0].path == "shapes/_kernels.py"
    assert any("traceback frame" in r for r in ranking.files[0].reasons)
    top = ranking.symbols[0]
    assert (top.path, top.qualname) == ("shapes/_kernels.py", "_shoelace")
    first = ranking.lines[0]
    assert first.path == "shapes/_kernels.py"
    assert first.start <= 7 <= first.end
    assert "shapes/geometry.py" in [f.path for f in ranking.files[:2]]


def test_names_in_a_code_block_resolve_to_their_definitions(shapes_retriever):
    issue = (
        "Scaling moves the wrong coordinate\n\n"
        "```python\nfrom shapes.geometry import Polygon\n"
        "Polygon([(1, 1)]).scaled(2).points  # [(2, 1)], expected [(2, 2)]\n```\n"
    )
    ranking = IssueRanker(shapes_retriever.view()).rank(issue)
    assert ranking.files[0].path == "shapes/geometry.py"
    assert any("Polygon.scaled" in r for r in ranking.files[0].reasons)
    assert (ranking.symbols[0].path, ranking.symbols[0].qualname) == (
        "shapes/geometry.py",
        "Polygon.scaled",
    )


def test_a_quoted_message_finds_the_code_that_raises_it(shapes_retriever):
    issue = "Got 'polygon needs at least three vertices' for a square, which has four."
    ranking = IssueRanker(shapes_retriever.view()).rank(issue)
    assert ranking.files[0].path == "shapes/_kernels.py"
    assert any("message" in r for r in ranking.files[0].reasons)
    assert ranking.symbols[0].qualname == "_shoelace"


def test_words_alone_rank_by_bm25_and_tests_are_never_ranked(shapes_retriever):
    ranking = IssueRanker(shapes_retriever.view()).rank("polygon area shading looks off")
    paths = [f.path for f in ranking.files]
    assert paths
    assert paths[0] == "shapes/render.py"
    assert not any(p.startswith("tests/") for p in paths)
    assert all(f.features.get("bm25_file", 0) > 0 for f in ranking.files[:1])


REEXPORT_FILES = {
    "arrays/__init__.py": "from .core.compute import where\nfrom .core.frame import *\n",
    "arrays/core/__init__.py": "",
    "arrays/core/compute.py": "def where(cond, x, y):\n    return x if cond else y\n",
    "arrays/core/frame.py": (
        "__all__ = ['Frame']\n\n\nclass Frame:\n    def where(self, cond):\n"
        "        return self\n\n    def select(self, key):\n        return key\n"
    ),
    "arrays/core/series.py": "class Series:\n    def where(self, cond):\n        return self\n",
}


def test_dotted_names_follow_the_package_imports_to_the_definition(tmp_path: Path):
    repo = make_repo(tmp_path / "arrays", REEXPORT_FILES)
    retriever = lexical_retriever(repo, store_dir=tmp_path / "index")
    try:
        ranker = IssueRanker(retriever.view())
        aliased = ranker.rank(
            "ar.where drops the condition for scalars\n\n"
            "```python\nimport arrays as ar\nar.where(True, 1, 2)\n```\n"
        )
        starred = ranker.rank("`arrays.Frame.select` ignores its key")
    finally:
        retriever.close()
    assert aliased.files[0].path == "arrays/core/compute.py"
    assert "`arrays.where` is `where`" in aliased.files[0].reasons
    top = aliased.symbols[0]
    assert (top.path, top.qualname) == ("arrays/core/compute.py", "where")
    # through ``from .core.frame import *``
    assert starred.files[0].path == "arrays/core/frame.py"
    assert "`arrays.Frame.select` is `Frame.select`" in starred.files[0].reasons
    assert starred.symbols[0].qualname == "Frame.select"
