"""Line weights from ranked locations."""

from __future__ import annotations

from patchloop.domain import Location
from patchloop.fixers._rank import FLOOR, line_weights, location_weights, proximity


def test_scores_are_relative_to_the_best_with_a_floor() -> None:
    locations = [
        Location(path="a.py", start_line=1, end_line=1, score=4.0),
        Location(path="a.py", start_line=2, end_line=2, score=1.0),
        Location(path="a.py", start_line=3, end_line=3, score=0.0),
    ]

    assert location_weights(locations) == [1.0, 0.25, FLOOR]


def test_locations_without_scores_weigh_the_same() -> None:
    locations = [Location(path="a.py", start_line=i, end_line=i) for i in (1, 2)]

    assert location_weights(locations) == [1.0, 1.0]


def test_a_line_level_location_inside_a_coarse_one_is_a_line_of_interest() -> None:
    coarse = Location(path="a.py", start_line=1, end_line=9, score=1.0)
    line = Location(path="a.py", start_line=5, end_line=5, score=0.5)
    other_file = Location(path="b.py", start_line=1, end_line=9, score=1.0)
    locations = [coarse, line, other_file]

    lw = line_weights("a.py", locations, location_weights(locations), line_count=20)

    assert set(lw.weights) == set(range(1, 10))
    assert lw.weights[5] == 1.0
    assert lw.weights[4] == lw.weights[6] == proximity(1)
    assert lw.weights[1] == proximity(4) < lw.weights[3]
    assert lw.ranks[5] == 0


def test_spans_are_clamped_to_the_file() -> None:
    locations = [Location(path="a.py", start_line=-3, end_line=400, score=1.0)]

    lw = line_weights("a.py", locations, [1.0], line_count=10)

    assert sorted(lw.weights) == list(range(1, 11))
