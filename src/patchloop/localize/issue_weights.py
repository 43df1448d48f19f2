"""Weights of the issue ranker's linear models (feature name -> weight).

Fitted by ``bench/localize_train.py`` on the development split: the 169 SWE-bench Verified
instances of nine repositories that are not in SWE-bench Lite (Lite is held out for
evaluation). File weights are half fitted, half the trainer's hand-set prior, rescaled to the
prior's norm (the ranking does not change with scale; the definition level reads the file
scores' differences, so they keep the scale they were fitted with); definition weights are
the fitted ones. 5-fold cross-validation on that split: file hit@1 0.59, hit@5 0.84 (over the
instances whose gold file is a candidate), definition hit@1 0.35, hit@5 0.66 (over the 143
whose gold definition is in the ten best files; 0.34 and 0.64 without the three features
of the issue's words against each definition, ``words``, ``words_in_file`` and
``name_words``).
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
    "file": 1.12,
    "file_rank": 1.072,
    "bm25": 1.638,
    "bm25_rank": 1.542,
    "named": 0.98,
    "qualified": 0.821,
    "resolved": 0.076,
    "class_named": 0.541,
    "pointed": 0.336,
    "is_class": -0.701,
    "is_module": 0.657,
    "size": 0.366,
    "words": 0.884,
    "words_in_file": 1.285,
    "name_words": 1.016,
}
