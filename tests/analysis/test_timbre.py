"""Timbre series agree with librosa's definitions on the same signal."""

from __future__ import annotations

import numpy as np
import pytest

from soundforge.analysis import frontend, timbre


@pytest.fixture(scope="module")
def signal() -> np.ndarray:
    rng = np.random.default_rng(3)
    sr = frontend.ANALYSIS_SR
    t = np.arange(sr * 3) / sr
    y = 0.3 * np.sin(2 * np.pi * 330 * t) * (1 + np.sin(2 * np.pi * 2 * t)) + 0.05 * rng.standard_normal(t.size)
    return y.astype(np.float32)


def _frames(y: np.ndarray, block: int) -> np.ndarray:
    fr = frontend.Framer(n_fft=frontend.N_FFT, hop=frontend.HOP)
    parts = [fr.push(y[i:i + block]) for i in range(0, y.size, block)] + [fr.finish()]
    return np.concatenate(parts)


def test_framer_matches_librosa_stft_framing(signal: np.ndarray) -> None:
    import librosa

    frames = _frames(signal, 7000)
    ref = librosa.util.frame(np.pad(signal, frontend.N_FFT // 2), frame_length=frontend.N_FFT,
                             hop_length=frontend.HOP).T
    assert frames.shape == ref.shape == (1 + signal.size // frontend.HOP, frontend.N_FFT)
    np.testing.assert_array_equal(frames, ref)


def test_series_match_librosa(signal: np.ndarray) -> None:
    import librosa

    sr, n_fft, hop = frontend.ANALYSIS_SR, frontend.N_FFT, frontend.HOP
    frames = _frames(signal, 5000)
    power = frontend.power_spectrum(frames, frontend._window(n_fft))
    tf = timbre.TimbreFrames(sr=sr, n_fft=n_fft)
    tf.push(frames, power)
    out = tf.result()
    mag = np.abs(librosa.stft(signal, n_fft=n_fft, hop_length=hop))
    np.testing.assert_allclose(mag ** 2, power.T, rtol=2e-3, atol=1e-3)
    ref = {
        "centroid": librosa.feature.spectral_centroid(S=mag, sr=sr)[0],
        "bandwidth": librosa.feature.spectral_bandwidth(S=mag, sr=sr)[0],
        "rolloff": librosa.feature.spectral_rolloff(S=mag, sr=sr)[0],
        "flatness": librosa.feature.spectral_flatness(S=mag)[0],
        "rms": librosa.feature.rms(y=signal, frame_length=n_fft, hop_length=hop)[0],
    }
    for name, expected in ref.items():
        np.testing.assert_allclose(out[name], expected, rtol=0.02, atol=1e-4, err_msg=name)
    contrast = librosa.feature.spectral_contrast(S=mag, sr=sr)
    assert out["contrast"].mean() == pytest.approx(contrast.mean(), rel=0.02)
    mfcc = librosa.feature.mfcc(S=librosa.power_to_db(librosa.feature.melspectrogram(S=mag ** 2, sr=sr)), n_mfcc=13)
    np.testing.assert_allclose(out["mfcc"].T, mfcc, atol=0.5)
    zcr = librosa.feature.zero_crossing_rate(signal, frame_length=n_fft, hop_length=hop)[0]
    np.testing.assert_allclose(out["zcr"], zcr, atol=2e-3)


def test_rolloff_search_matches_cumsum() -> None:
    rng = np.random.default_rng(0)
    mag = (rng.random((300, 1025)) ** 8).astype(np.float32)
    mag[0] = 0.0
    mag[1, :] = 0.0
    mag[1, -1] = 1.0
    total = mag.sum(axis=1)
    expected = np.argmax(np.cumsum(mag, axis=1) >= 0.85 * total[:, None], axis=1)
    np.testing.assert_array_equal(timbre._rolloff_bins(mag, total), expected)


@pytest.mark.parametrize(("sr", "n_fft", "n_mels"), [(22050, 2048, 128), (11025, 2048, 96), (44100, 4096, 40)])
def test_mel_filterbank_equals_librosa_default(sr: int, n_fft: int, n_mels: int) -> None:
    import librosa

    ours = timbre.mel_filterbank(sr=sr, n_fft=n_fft, n_mels=n_mels)
    np.testing.assert_allclose(ours, librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels), atol=1e-7)
    np.testing.assert_allclose(timbre.mel_frequencies(n_mels=n_mels, fmax=sr / 2),
                               librosa.mel_frequencies(n_mels=n_mels + 2, fmax=sr / 2)[1:-1], rtol=1e-9)


def test_framer_keeps_samples_pushed_in_pieces_shorter_than_a_frame(signal: np.ndarray) -> None:
    whole = _frames(signal, signal.size)
    np.testing.assert_array_equal(_frames(signal, 300), whole)   # 300 < n_fft: every push is short
