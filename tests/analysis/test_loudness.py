"""BS.1770 loudness: agreement with pyloudnorm, block independence, edge cases."""

from __future__ import annotations

import numpy as np
import pytest

from soundforge.analysis.loudness import LOUDNESS_FLOOR_LUFS, PEAK_FLOOR_DBFS, LoudnessMeter


def _music_like(sr: int, channels: int, seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(sr * seconds)) / sr
    swell = 0.3 + 0.7 * np.abs(np.sin(2 * np.pi * 0.1 * t))          # loud and quiet passages
    tones = np.sin(2 * np.pi * 220 * t) + 0.5 * np.sin(2 * np.pi * 3300 * t)
    x = 0.1 * swell * (tones + 0.3 * rng.standard_normal(t.size))
    return np.stack([np.roll(x, 17 * c) * (1 - 0.2 * c) for c in range(channels)])


def _measure(x: np.ndarray, sr: int, block: int):
    meter = LoudnessMeter(sample_rate=sr, channels=x.shape[0])
    for i in range(0, x.shape[1], block):
        meter.push(x[:, i:i + block])
    return meter.result()


@pytest.mark.parametrize(("sr", "channels"), [(44100, 2), (48000, 2), (22050, 1), (44100, 5)])
def test_integrated_loudness_matches_pyloudnorm(sr: int, channels: int) -> None:
    import pyloudnorm

    x = _music_like(sr, channels, 12.0)
    ref = pyloudnorm.Meter(sr).integrated_loudness(x.T)
    assert _measure(x, sr, 48000).loudness_lufs == pytest.approx(ref, abs=0.01)


def test_result_does_not_depend_on_block_size() -> None:
    x = _music_like(44100, 2, 10.0)
    a, b = _measure(x, 44100, 44100 * 30), _measure(x, 44100, 1234)
    assert a.loudness_lufs == pytest.approx(b.loudness_lufs, abs=1e-9)
    assert a.loudness_range_lu == pytest.approx(b.loudness_range_lu, abs=1e-9)
    np.testing.assert_allclose(a.short_term_lufs, b.short_term_lufs, atol=1e-4)


def test_reference_sine_reads_minus_20_lufs() -> None:
    sr = 48000
    t = np.arange(sr * 5) / sr
    x = np.tile(0.1 * np.sin(2 * np.pi * 1000 * t), (2, 1))
    r = _measure(x, sr, sr)
    assert r.loudness_lufs == pytest.approx(-20.0, abs=0.1)
    assert r.peak_dbfs == pytest.approx(-20.0, abs=0.01)
    assert r.loudness_range_lu == pytest.approx(0.0, abs=0.1)


def test_loudness_range_sees_dynamics() -> None:
    x = _music_like(44100, 2, 30.0)
    assert _measure(x, 44100, 44100).loudness_range_lu > 3.0


def test_silence_and_short_signals_are_finite() -> None:
    r = _measure(np.zeros((2, 44100)), 44100, 1000)
    assert (r.loudness_lufs, r.peak_dbfs, r.loudness_range_lu) == (LOUDNESS_FLOOR_LUFS, PEAK_FLOOR_DBFS, 0.0)
    short = _measure(0.1 * np.ones((1, 1000)), 44100, 1000)     # 23 ms: below one gating block
    assert np.isfinite(short.loudness_lufs)
    assert short.loudness_lufs > LOUDNESS_FLOOR_LUFS
