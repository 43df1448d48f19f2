"""Weights of the issue ranker's linear models (feature name -> weight).

Fitted by ``bench/localize_train.py`` on the development split (SWE-bench Verified instances
that are not in SWE-bench Lite); Lite is held out for evaluation.
"""

from __future__ import annotations

__all__ = ["FILE_WEIGHTS", "SYMBOL_WEIGHTS"]

FILE_WEIGHTS: dict[str, float] = {
    "bm25_file": 2.0,
    "bm25_rank": 1.0,
    "bm25_chunk": 1.0,
    "bm25_title": 1.0,
    "names_code": 2.0,
    "names_title": 1.5,
    "names_text": 1.0,
    "qualified": 1.5,
    "resolved": 2.0,
    "module": 1.5,
    "path": 3.0,
    "frame": 1.0,
    "frame_last": 1.5,
    "message": 3.0,
    "stem": 1.5,
    "init": -0.5,
}

SYMBOL_WEIGHTS: dict[str, float] = {
    "file": 2.0,
    "file_rank": 1.0,
    "bm25": 1.5,
    "bm25_rank": 1.0,
    "named": 1.5,
    "qualified": 2.0,
    "resolved": 1.0,
    "class_named": 0.5,
    "pointed": 2.0,
    "is_class": -0.5,
    "is_module": -1.0,
    "size": 0.5,
}
