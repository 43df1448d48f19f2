"""Weights of the issue ranker's linear models (feature name -> weight).

Fitted by ``bench/localize_train.py`` on the development split: the 169 SWE-bench Verified
instances of nine repositories that are not in SWE-bench Lite (Lite is held out for
evaluation). File weights are half fitted, half the trainer's hand-set prior, rescaled to the
prior's norm (the ranking does not change with scale; the definition level reads the file
scores' differences, so they keep the scale they were fitted with); definition weights are
the fitted ones. 5-fold cross-validation on that split: file hit@1 0.59, hit@5 0.84 (over the
instances whose gold file is a candidate), definition hit@5 0.66 (over those whose gold
definition is in the ten best files).
"""

from __future__ import annotations

__all__ = ["FILE_WEIGHTS", "SYMBOL_WEIGHTS"]

FILE_WEIGHTS: dict[str, float] = {
    "bm25_file": 2.45,
    "bm25_rank": 1.964,
    "bm25_chunk": 2.269,
    "bm25_title": 2.536,
    "names_code": 2.441,
    "names_title": 1.308,
    "names_text": 0.952,
    "qualified": 1.106,
    "resolved": 1.531,
    "module": 1.003,
    "path": 1.884,
    "frame": 0.878,
    "frame_last": 1.109,
    "message": 1.833,
    "stem": 1.896,
    "init": -0.297,
    "minor_language": -0.819,
    "outside_main": -0.804,
}

SYMBOL_WEIGHTS: dict[str, float] = {
    "file": 1.234,
    "file_rank": 0.866,
    "bm25": 2.488,
    "bm25_rank": 2.394,
    "named": 1.533,
    "qualified": 0.979,
    "resolved": 0.134,
    "class_named": 0.363,
    "pointed": 0.475,
    "is_class": -0.583,
    "is_module": 0.814,
    "size": 0.882,
}
