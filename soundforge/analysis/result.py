"""The :class:`Analysis` result: scalar features, frame-level series, sections; saving and loading."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from ..errors import AnalysisError
from .structure import Segment
from .tonal import PITCH_CLASSES

__all__ = ["FEATURES", "SERIES", "Analysis", "feature_names"]


def _mfcc_docs() -> dict[str, tuple[str, str]]:
    out = {}
    for i in range(13):
        out[f"mfcc_{i}_mean"] = ("dB-like", f"mean of MFCC coefficient {i} (0 = overall log energy)")
    for i in range(13):
        out[f"mfcc_{i}_var"] = ("dB-like^2", f"variance of MFCC coefficient {i}")
    return out


FEATURES: Mapping[str, tuple[str, str]] = MappingProxyType({
    "duration_s": ("s", "duration of the audio"),
    "tempo_bpm": ("BPM, empty when there is no pulse", "tempo of the beat from a line fit of the beat times"),
    "tempo_confidence": ("0-1", "how clearly the onsets repeat at the beat period (0 without a pulse)"),
    "tempo_alt_bpm": ("BPM, empty when there is none", "the other metrical level a listener may tap: twice or half "
                      "tempo_bpm, whichever the octave model finds likelier"),
    "tempo_alt_probability": ("0-1", "the octave model's probability that the beat is at tempo_alt_bpm rather than "
                              "tempo_bpm (0 without one)"),
    "tempo_note": ("text", "why there is no tempo ('silent ...', 'channels cancel out ...', 'no steady pulse'); "
                           "empty otherwise"),
    "beat_count": ("count", "number of beats tracked"),
    "time_signature": ("'3/4', '4/4' or 'unknown'", "beats per bar over a quarter note"),
    "downbeat_confidence": ("0-1", "share of resamples of the bars in which the same beat still starts them "
                            "(~1 when the whole track marks it, lower the more its bars disagree; 0 when no "
                            "beat stands out or without two whole bars)"),
    "key_tonic": ("C, C#, D, D#, E, F, F#, G, G#, A, A#, B; empty without a key", "tonic of the estimated key"),
    "key_mode": ("major / minor; empty without a key", "mode of the estimated key"),
    "key_confidence": ("0-1", "key-profile correlation of the winner, scaled by its margin over the runner-up"),
    "key_note": ("text", "why there is no key ('silent ...', 'channels cancel out ...', 'no tonal centre'); "
                         "empty otherwise"),
    "tuning_cents": ("cents, -50..50", "deviation of the tuning from A4 = 440 Hz"),
    "loudness_lufs": ("LUFS, >= -70", "integrated loudness, ITU-R BS.1770-4 (gated), original rate and channels"),
    "loudness_range_lu": ("LU, >= 0", "loudness range, EBU Tech 3342 (0 below 3 s)"),
    "peak_dbfs": ("dBFS, >= -140", "sample peak over all channels"),
    "rms_mean": ("full scale, 0-1", "mean RMS of the mono mix over 93 ms frames"),
    "onset_rate": ("1/s", "onsets per second (peaks of the onset envelope)"),
    "spectral_centroid_mean": ("Hz", "mean spectral centroid"),
    "spectral_bandwidth_mean": ("Hz", "mean spectral bandwidth (2nd-order spread about the centroid)"),
    "spectral_rolloff_mean": ("Hz", "mean frequency below which 85 % of the magnitude lies"),
    "spectral_flatness_mean": ("0-1", "mean spectral flatness (geometric / arithmetic mean of the power)"),
    "spectral_contrast_mean": ("dB", "mean spectral contrast over 7 octave bands"),
    "zcr_mean": ("0-1", "mean zero-crossing rate (crossings per sample)"),
    **_mfcc_docs(),
    **{f"chroma_{pc}_mean": ("0-1", f"mean chroma of pitch class {pc} (frames scaled to max 1)")
       for pc in PITCH_CLASSES},
    "energy": ("0-1", "perceived intensity; formula in soundforge.analysis.descriptors"),
    "danceability": ("0-1", "clear, steady pulse at a dance tempo; formula in soundforge.analysis.descriptors"),
})
"""Every scalar feature: name -> (unit or range, meaning). Order = column order of :meth:`Analysis.to_row`."""

SERIES: Mapping[str, str] = MappingProxyType({
    "frame_times": "(n,) s: centre of each analysis frame (hop 512 at 22,050 Hz, 23.2 ms)",
    "onset_env": "(n,) onset strength (normalised log-mel flux, typical peaks ~1-3)",
    "rms": "(n,) RMS of the mono mix per frame",
    "mfcc": "(13, n) MFCC per frame (librosa layout)",
    "spectral_centroid": "(n,) Hz per frame",
    "chroma_times": "(m,) s: centre of each tonal frame (92.9 ms hop)",
    "chroma": "(12, m) chroma per tonal frame, C..B, each frame scaled to max 1",
    "beats": "(b,) beat times, s",
    "downbeats": "(d,) times of the first beat of each bar, s",
    "short_term_lufs": "(k,) short-term loudness every 100 ms (3 s windows), LUFS",
    "segment_start": "(s,) section starts, s",
    "segment_end": "(s,) section ends, s",
    "segment_label": "(s,) section labels (repetition groups A, B, ...)",
})
"""Frame-level series saved to ``.npz`` (name -> shape and meaning)."""


def feature_names() -> list[str]:
    """Names of the scalar features, in :data:`FEATURES` order."""
    return list(FEATURES)


@dataclass(frozen=True, eq=False)
class Analysis:
    """Everything :func:`soundforge.analysis.analyze` measured on one piece of audio.

    Scalars are attributes too: ``a.tempo_bpm``, ``a.key_tonic``...

    Attributes
    ----------
    features : Mapping[str, float | int | str]
        Scalar features (see :data:`FEATURES`); feature groups that were not computed are absent.
    series : Mapping[str, numpy.ndarray]
        Frame-level series (see :data:`SERIES`).
    segments : tuple of Segment
        Sections with repetition labels.
    version : str
        Analyzer version.
    params : Mapping[str, Any]
        Analysis parameters (sample rates, frame sizes, feature groups).
    source : str or None
        The analysed file, if any.
    """

    features: Mapping[str, float | int | str]
    series: Mapping[str, np.ndarray] = field(repr=False)
    segments: tuple[Segment, ...] = ()
    version: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)
    source: str | None = None

    def __getattr__(self, name: str) -> Any:
        features = self.__dict__.get("features", {})
        if name in features:
            return features[name]
        raise AttributeError(f"'Analysis' has no attribute or feature {name!r}")

    def __repr__(self) -> str:
        f = self.features
        parts = [f"{k}={f[k]!r}" for k in ("duration_s", "tempo_bpm", "key_tonic", "key_mode", "loudness_lufs")
                 if k in f]
        return f"Analysis({', '.join(parts)}, {len(f)} features, version={self.version!r})"

    @property
    def beats(self) -> np.ndarray:
        """Beat times, seconds."""
        return self.series.get("beats", np.zeros(0))

    @property
    def downbeats(self) -> np.ndarray:
        """Downbeat times, seconds."""
        return self.series.get("downbeats", np.zeros(0))

    def to_row(self) -> dict[str, Any]:
        """All scalar features as one flat dict (plain Python numbers and strings), :data:`FEATURES` order."""
        return {k: self.features[k] for k in FEATURES if k in self.features}

    def to_dataframe(self) -> Any:
        """One-row DataFrame of :meth:`to_row`."""
        import pandas as pd

        return pd.DataFrame([self.to_row()])

    def segments_frame(self) -> Any:
        """Sections as a DataFrame: ``start_s``, ``end_s``, ``label``."""
        import pandas as pd

        return pd.DataFrame({"start_s": [s.start_s for s in self.segments], "end_s": [s.end_s for s in self.segments],
                             "label": pd.array([s.label for s in self.segments], dtype="string")})

    # -- persistence -----------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict: version, params, source, features, sections."""
        return {"version": self.version, "params": dict(self.params), "source": self.source,
                "features": self.to_row(),
                "segments": [{"start_s": s.start_s, "end_s": s.end_s, "label": s.label} for s in self.segments]}

    def save_npz(self, path: str | Path) -> Path:
        """Write the series (and sections) to ``path`` (numpy ``.npz``, compressed)."""
        arrays = {k: np.asarray(v) for k, v in self.series.items()}
        arrays["segment_start"] = np.array([s.start_s for s in self.segments], dtype=float)
        arrays["segment_end"] = np.array([s.end_s for s in self.segments], dtype=float)
        arrays["segment_label"] = np.array([s.label for s in self.segments], dtype="U8")
        p = Path(path)
        with p.open("wb") as fh:
            np.savez_compressed(fh, **arrays)  # type: ignore[arg-type]
        return p

    def save(self, json_path: str | Path, npz_path: str | Path) -> None:
        """Write :meth:`to_json` to ``json_path`` and the series to ``npz_path``."""
        Path(json_path).write_text(json.dumps(self.to_json(), indent=1))
        self.save_npz(npz_path)

    @classmethod
    def load(cls, json_path: str | Path, npz_path: str | Path | None = None) -> Analysis:
        """Read an analysis written by :meth:`save` (series are empty without ``npz_path``)."""
        try:
            meta = json.loads(Path(json_path).read_text())
            series: dict[str, np.ndarray] = {}
            if npz_path is not None:
                with np.load(Path(npz_path), allow_pickle=False) as data:
                    series = {k: data[k] for k in data.files if not k.startswith("segment_")}
        except (OSError, ValueError, KeyError) as exc:
            raise AnalysisError(f"Cannot read the saved analysis {json_path}: {exc}. Re-run the analysis.",
                                path=str(json_path)) from exc
        segments = tuple(Segment(float(s["start_s"]), float(s["end_s"]), str(s["label"]))
                         for s in meta.get("segments", []))
        return cls(features=dict(meta["features"]), series=series,
                   segments=segments, version=str(meta.get("version", "")), params=dict(meta.get("params", {})),
                   source=meta.get("source"))


def check_finite(features: Mapping[str, Any], *, source: str | None) -> None:
    """Raise :class:`AnalysisError` if a numeric feature is NaN or infinite (a bug, never silently stored)."""
    bad = [k for k, v in features.items() if isinstance(v, float) and not math.isfinite(v)]
    if bad:
        raise AnalysisError(f"Analysis of {source or 'the audio'} produced non-finite values for {bad}; "
                            "please report this with the file.", features=bad)
