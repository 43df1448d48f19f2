"""Fault localization: traceback frames, called code, per-test coverage (SBFL) and rank fusion.

The loop asks a :class:`~patchloop.protocols.Localizer` for suspicious locations; every
implementation here ranks functions (qualified ``Class.method``) with the evidence of each
signal in ``Location.signals``. ``localizer`` maps short names to implementations:

``traceback``  frames of the failing tests, else the code they call
``sbfl``       Ochiai over per-test coverage
``fused``      reciprocal-rank fusion of all of the above plus retrieval (BM25, dense, repo map)
"""

from __future__ import annotations

from collections.abc import Callable

from patchloop.localize.calls import call_locations
from patchloop.localize.frames import frame_locations
from patchloop.localize.fusion import DEFAULT_WEIGHTS, RRF_K, fuse, fuse_files, promote
from patchloop.localize.localizers import (
    FusedLocalizer,
    SBFLLocalizer,
    Signals,
    TracebackLocalizer,
    relocalize,
)
from patchloop.localize.mentions import mention_locations
from patchloop.localize.report import (
    LocalizationReport,
    RankedFile,
    RankedFunction,
    SignalScore,
    localize_repo,
)
from patchloop.localize.sbfl import ochiai
from patchloop.localize.spectrum import CoverageMap, collect_coverage
from patchloop.protocols import Localizer
from patchloop.registry import Registry

__all__ = [
    "DEFAULT_WEIGHTS",
    "RRF_K",
    "CoverageMap",
    "FusedLocalizer",
    "LocalizationReport",
    "RankedFile",
    "RankedFunction",
    "SBFLLocalizer",
    "SignalScore",
    "Signals",
    "TracebackLocalizer",
    "call_locations",
    "collect_coverage",
    "frame_locations",
    "fuse",
    "fuse_files",
    "localize_repo",
    "localizers",
    "mention_locations",
    "ochiai",
    "promote",
    "relocalize",
]

#: Localizer implementations by short name (classes; construct with the signals you have).
localizers: Registry[Callable[..., Localizer]] = Registry(
    "localizer",
    {
        "traceback": "patchloop.localize.localizers:TracebackLocalizer",
        "sbfl": "patchloop.localize.localizers:SBFLLocalizer",
        "fused": "patchloop.localize.localizers:FusedLocalizer",
    },
)
