"""Spotify-style descriptors, defined from our own measurements (formulas below, all in 0-1).

Spotify's audio-features endpoint is closed to new apps; these are not its
numbers but transparent stand-ins computed from the scalars of
:mod:`soundforge.analysis`. Each component is a linear map clipped to 0..1
(``ramp(x, a, b) = clip((x - a) / (b - a), 0, 1)``).

``energy`` — perceived intensity: loud, dense, bright and noisy music; loudness
gates the rest (a silent file has no energy however flat its spectrum)::

    loud    = ramp(loudness_lufs, -40, -5)
    texture = mean(ramp(onset_rate, 0, 8),                      # onsets per second
                   ramp(spectral_centroid_mean, 500, 3500),      # Hz
                   ramp(log10(spectral_flatness_mean), -4, -0.5))
    energy  = loud * (0.4 + 0.6 * texture)

``danceability`` — how easy it is to move to: a clear, steady, strong pulse at a
dance tempo::

    danceability = 0.35 * ramp(tempo_confidence, 0, 0.5)        # periodicity at the beat
                 + 0.25 * (1 - ramp(ibi_cv, 0, 0.1))             # inter-beat-interval variation
                 + 0.20 * exp(-0.5 * (log2(tempo_bpm / 120) / 0.5) ** 2)
                 + 0.20 * ramp(beat_strength, 1, 3)              # onset at beats / mean onset

and 0 when no beat was found. Silence has ``energy`` 0.
"""

from __future__ import annotations

import numpy as np

__all__ = ["danceability", "energy", "ramp"]


def ramp(x: float, lo: float, hi: float) -> float:
    """``clip((x - lo) / (hi - lo), 0, 1)``; 0 for non-finite ``x``."""
    if not np.isfinite(x):
        return 0.0
    return float(np.clip((x - lo) / (hi - lo), 0.0, 1.0))


def energy(*, loudness_lufs: float, onset_rate: float, spectral_centroid_mean: float,
           spectral_flatness_mean: float) -> float:
    """Energy in 0..1 (module docstring)."""
    flat = np.log10(max(spectral_flatness_mean, 1e-12))
    texture = (ramp(onset_rate, 0.0, 8.0) + ramp(spectral_centroid_mean, 500.0, 3500.0) + ramp(flat, -4.0, -0.5)) / 3
    return ramp(loudness_lufs, -40.0, -5.0) * (0.4 + 0.6 * texture)


def danceability(*, tempo_bpm: float, tempo_confidence: float, beat_times: np.ndarray, beat_strength: float) -> float:
    """Danceability in 0..1 (module docstring)."""
    if beat_times.size < 4 or tempo_bpm <= 0:
        return 0.0
    ibi = np.diff(beat_times)
    cv = float(np.std(ibi) / np.mean(ibi)) if np.mean(ibi) > 0 else 1.0
    tempo_fit = float(np.exp(-0.5 * (np.log2(tempo_bpm / 120.0) / 0.5) ** 2))
    return (0.35 * ramp(tempo_confidence, 0.0, 0.5) + 0.25 * (1.0 - ramp(cv, 0.0, 0.1)) + 0.2 * tempo_fit
            + 0.2 * ramp(beat_strength, 1.0, 3.0))
