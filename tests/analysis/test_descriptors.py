"""Spotify-style descriptors stay in 0-1 and move the right way."""

from __future__ import annotations

import numpy as np
import pytest

from soundforge.analysis import descriptors


def test_energy_grows_with_loudness_and_density() -> None:
    quiet = descriptors.energy(loudness_lufs=-35, onset_rate=1, spectral_centroid_mean=800, spectral_flatness_mean=1e-3)
    loud = descriptors.energy(loudness_lufs=-8, onset_rate=6, spectral_centroid_mean=3000, spectral_flatness_mean=0.05)
    assert 0.0 <= quiet < loud <= 1.0
    assert descriptors.energy(loudness_lufs=-70, onset_rate=0, spectral_centroid_mean=0,
                              spectral_flatness_mean=1.0) == 0.0


def test_danceability_rewards_a_steady_pulse() -> None:
    steady = np.arange(40) * 0.5
    rng = np.random.default_rng(0)
    shaky = np.cumsum(0.5 + rng.normal(0, 0.08, 40))
    kw = dict(tempo_bpm=120.0, tempo_confidence=0.6, beat_strength=2.5)
    assert descriptors.danceability(beat_times=steady, **kw) > descriptors.danceability(beat_times=shaky, **kw)
    assert descriptors.danceability(beat_times=np.zeros(0), **kw) == 0.0
    assert 0.0 <= descriptors.danceability(beat_times=steady, **kw) <= 1.0


@pytest.mark.parametrize("value", [np.nan, np.inf, -1e9, 1e9])
def test_ramp_is_bounded(value: float) -> None:
    assert 0.0 <= descriptors.ramp(value, 0.0, 1.0) <= 1.0
