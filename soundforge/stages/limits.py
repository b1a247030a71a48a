"""Default time limits, derived from the work (used when the caller passes no ``timeout``).

Every stage has a limit on by default, so a hung decoder, demucs or spotdl never holds a run
forever. Limits scale with what the item is: the track's duration for analysis, separation and
batch notebooks, the file's size for imports, the kind of link for fetches. They are generous
(a slow machine must not see false timeouts): a limit catches a hang, it is not a speed target.
``timeout=`` overrides them per call; ``timeout=math.inf`` removes the limit.

=========  =====================================================================
stage      default limit per attempt (seconds; ``d`` = the track's duration in s)
=========  =====================================================================
import     120 + 10 per MB of the file
fetch      track 60, album 180, playlist / artist 600
download   600 (the spotdl stage's own)
analyze    120 + 2 d   (the re-imagined Elixir system: 2 minutes for analysis)
separate   demucs on a GPU 300 + 2 d, on a CPU 300 + 8 d; dsp 120 + 2 d
batch      600 + 4 d per track (the notebook's own work is unknown; 900 without a duration)
=========  =====================================================================
"""

from __future__ import annotations

import math

__all__ = ["analysis", "batch", "fetch", "imports", "separation"]

_FETCH = {"track": 60.0, "album": 180.0, "playlist": 600.0, "artist": 600.0}


def _duration(duration_s: float | None) -> float | None:
    if duration_s is None:
        return None
    try:
        value = float(duration_s)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) and value >= 0 else None


def imports(size_bytes: int | None) -> float:
    """Import of a file of ``size_bytes`` bytes: 120 s plus 10 s per MB."""
    return 120.0 + 10.0 * max(0, size_bytes or 0) / 1e6


def fetch(kind: str) -> float:
    """Fetch of one Spotify link of this kind (``track``, ``album``, ``playlist``, ``artist``)."""
    return _FETCH.get(kind, 600.0)


def analysis(duration_s: float | None) -> float | None:
    """Analysis of a track of ``duration_s`` seconds (``None`` when unknown: the stage's own limit)."""
    d = _duration(duration_s)
    return None if d is None else 120.0 + 2.0 * d


def separation(duration_s: float | None, *, model: str, device: str) -> float | None:
    """Separation of a track with ``model`` on ``device`` (``None`` when the duration is unknown)."""
    d = _duration(duration_s)
    if d is None:
        return None
    if model == "dsp":
        return 120.0 + 2.0 * d
    return 300.0 + (2.0 if str(device).startswith(("cuda", "mps")) else 8.0) * d


def batch(duration_s: float | None) -> float:
    """One notebook execution for a track (a chunk gets the sum over its tracks)."""
    d = _duration(duration_s)
    return 900.0 if d is None else 600.0 + 4.0 * d
