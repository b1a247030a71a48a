"""Peer analysers run beside ``soundforge.analysis`` in the accuracy benchmarks.

Each peer is an optional, benchmark-only install; a peer whose package is missing is skipped::

    pip install essentia                          # Essentia 2.1 (AGPL), wheels on PyPI
    pip install "madmom @ git+https://github.com/CPJKU/madmom"   # madmom 0.17 (BSD code,
                                                  # CC BY-NC-SA models), needs Cython to build
    # librosa is already a dependency of soundforge

Every peer maps an audio path to a dict with ``tempo`` (BPM), ``beats`` (seconds) and ``key``
(``"A minor"``), plus ``downbeats`` and ``beats_per_bar`` where the peer tracks bars, and
``alt_tempo`` / ``alt_probability`` where it gives a second tempo. Results
are cached per file content and peer version (:func:`cached`), since madmom's networks take
~4 s per 30 s clip on two cores.

The registry :data:`PEERS` maps a name to a function; :func:`available` lists those whose
package imports.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["PEERS", "available", "cached", "krumhansl_key", "requested"]

NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
_FLAT_TO_SHARP = {"Db": "C#", "Eb": "D#", "Gb": "F#", "Ab": "G#", "Bb": "A#"}


def krumhansl_key(chroma_mean: np.ndarray) -> str:
    """Key whose Krumhansl-Kessler profile correlates best with a 12-bin chroma mean."""
    best, key = -2.0, "C major"
    for tonic in range(12):
        for mode, prof in (("major", KK_MAJOR), ("minor", KK_MINOR)):
            r = float(np.corrcoef(chroma_mean, np.roll(prof, tonic))[0, 1])
            if r > best:
                best, key = r, f"{NAMES[tonic]} {mode}"
    return key


def _librosa(path: Path) -> dict[str, Any]:
    """librosa out of the box: ``beat_track`` and Krumhansl profiles on ``chroma_stft``."""
    import librosa

    y, sr = librosa.load(str(path), sr=22050, mono=True)
    tempo, frames = librosa.beat.beat_track(y=y, sr=sr)
    chroma = librosa.feature.chroma_stft(y=y, sr=sr).mean(axis=1)
    return {"tempo": float(np.atleast_1d(tempo)[0]), "beats": librosa.frames_to_time(frames, sr=sr).tolist(),
            "key": krumhansl_key(chroma)}


def _essentia(path: Path) -> dict[str, Any]:
    """Essentia: ``RhythmExtractor2013(method="multifeature")`` and ``KeyExtractor(profileType="bgate")``."""
    import essentia.standard as es

    y = es.MonoLoader(filename=str(path), sampleRate=44100)()
    bpm, ticks, *_ = es.RhythmExtractor2013(method="multifeature")(y)
    key, scale, _ = es.KeyExtractor(profileType="bgate")(y)
    return {"tempo": float(bpm), "beats": [float(t) for t in ticks], "key": f"{_FLAT_TO_SHARP.get(key, key)} {scale}"}


def _madmom(path: Path) -> dict[str, Any]:
    """madmom: RNN beats + DBN tracking, RNN tempo (comb filters), RNN downbeats (3 or 4 beats a bar), CNN key."""
    from madmom.features.beats import DBNBeatTrackingProcessor, RNNBeatProcessor
    from madmom.features.downbeats import DBNDownBeatTrackingProcessor, RNNDownBeatProcessor
    from madmom.features.key import CNNKeyRecognitionProcessor, key_prediction_to_label
    from madmom.features.tempo import TempoEstimationProcessor

    act = RNNBeatProcessor()(str(path))
    beats = DBNBeatTrackingProcessor(fps=100)(act)
    tempi = TempoEstimationProcessor(fps=100)(act)
    bars = DBNDownBeatTrackingProcessor(beats_per_bar=[3, 4], fps=100)(RNNDownBeatProcessor()(str(path)))
    key = key_prediction_to_label(CNNKeyRecognitionProcessor()(str(path)))
    tonic, mode = key.split()
    per_bar = int(bars[:, 1].max()) if len(bars) else 0
    # Its second tempo, weighted by its share of the two tempi's strengths (as MIREX asks for two tempi).
    alt, alt_weight = (float(tempi[1][0]), float(tempi[1][1] / (tempi[0][1] + tempi[1][1]))) if len(tempi) > 1 \
        else (0.0, 0.0)
    return {"tempo": float(tempi[0][0]) if len(tempi) else 0.0, "beats": [float(t) for t in beats],
            "downbeats": [float(t) for t, pos in bars if pos == 1], "beats_per_bar": per_bar,
            "key": f"{_FLAT_TO_SHARP.get(tonic, tonic)} {mode}", "alt_tempo": alt, "alt_probability": alt_weight}


PEERS: dict[str, tuple[str, Callable[[Path], dict[str, Any]]]] = {
    "librosa": ("librosa", _librosa),
    "essentia": ("essentia", _essentia),
    "madmom": ("madmom", _madmom),
}
"""Peer name -> (package whose import decides availability, analyser)."""

_REVISION = {"madmom": "r2"}
"""Peers whose output gained fields since their results were first cached: a new cache folder."""


def _version(package: str) -> str | None:
    try:
        module = importlib.import_module(package)
    except Exception:
        return None
    return str(getattr(module, "__version__", "unknown"))


def requested(spec: str) -> list[str]:
    """The peers a comma-separated ``--peers`` value names (``''``: none); ``ValueError`` naming any unknown one."""
    names = [p for p in spec.split(",") if p]
    unknown = [p for p in names if p not in PEERS]
    if unknown:
        raise ValueError(f"unknown --peers {unknown}; choose from {list(PEERS)}")
    return names


def available(names: list[str] | None = None) -> list[str]:
    """Peers (of ``names``, default all) whose package imports."""
    return [n for n in (list(PEERS) if names is None else names) if _version(PEERS[n][0]) is not None]


def cached(name: str, path: Path, *, cache_dir: Path | None) -> dict[str, Any]:
    """Run peer ``name`` on ``path``, reading and writing ``cache_dir/<peer>-<version>/<sha>.json``."""
    package, fn = PEERS[name]
    version = _version(package)
    target = None
    if cache_dir is not None:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:24]
        suffix = f"-{_REVISION[name]}" if name in _REVISION else ""
        target = cache_dir / f"{name}-{version}{suffix}" / f"{digest}.json"
        if target.exists():
            out: dict[str, Any] = json.loads(target.read_text())
            return out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fn(path)
    if target is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(result))
    return result
