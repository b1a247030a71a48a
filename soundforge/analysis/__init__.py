"""Feature extraction: tempo, beats, key, loudness, timbre, structure and descriptors.

>>> from soundforge.analysis import analyze
>>> a = analyze("song.flac")                      # doctest: +SKIP
>>> a.tempo_bpm, a.key_tonic, a.key_mode          # doctest: +SKIP
>>> a.to_row()                                     # doctest: +SKIP

One pass over the audio feeds every feature (:mod:`.frontend`); the modules
below turn the shared frame-level series into features:

* :mod:`.rhythm` — onset envelope, tempo, beats, metre, downbeats
* :mod:`.tonal` — tuning, chroma, chords, key
* :mod:`.loudness` — BS.1770 loudness, loudness range, peak
* :mod:`.timbre` — MFCC, spectral shape, zero-crossing rate, RMS
* :mod:`.structure` — sections with repetition labels
* :mod:`.descriptors` — Spotify-style energy and danceability
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = ["ANALYZER_VERSION", "DEFAULT_FEATURES", "FEATURES", "FEATURE_GROUPS", "SERIES", "Analysis", "Segment",
           "analysis_params", "analyze"]

_LAZY = {
    "ANALYZER_VERSION": "analyzer", "DEFAULT_FEATURES": "analyzer", "FEATURE_GROUPS": "analyzer",
    "analysis_params": "analyzer", "analyze": "analyzer", "FEATURES": "result", "SERIES": "result",
    "Analysis": "result", "Segment": "structure",
}

if TYPE_CHECKING:
    from .analyzer import ANALYZER_VERSION, DEFAULT_FEATURES, FEATURE_GROUPS, analysis_params, analyze
    from .result import FEATURES, SERIES, Analysis
    from .structure import Segment


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
