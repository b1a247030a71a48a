"""The HPCP key pipeline (soundforge.analysis.hpcp): peaks, whitening, profiles and keys on synthetic audio."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from soundforge.analysis import analyze, frontend, hpcp, tonal

from .synth import NAMES, cadence, harmonic_tone

SR = 22050


def _peaks(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    fe = frontend.FrontEnd(sample_rate=SR, channels=1, timbre=False, loudness=False)
    fe.push(y[None, :])
    return fe.finish().pcp_peaks


def _tonal(y: np.ndarray, **kwargs: Any) -> tonal.TonalFeatures:
    fe = frontend.FrontEnd(sample_rate=SR, channels=1, timbre=False, loudness=False)
    fe.push(y[None, :])
    r = fe.finish()
    return tonal.tonal_features(r.pitch, r.tuning_hist, frame_s=frontend.TONAL_HOP / frontend.TONAL_SR,
                                pcp_peaks=r.pcp_peaks, **kwargs)


def test_spectral_peaks_find_a_sinusoid_to_a_fraction_of_a_bin() -> None:
    t = np.arange(2048) / SR
    frame = 0.5 * np.sin(2 * np.pi * 443.7 * t)
    win = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(2048) / 2048)
    mag = np.abs(np.fft.rfft(frame * win)) * 2 / win.sum()
    freqs, mags = hpcp.spectral_peaks(mag[None, :], sr=SR)
    strongest = int(np.argmax(mags[0]))
    assert freqs[0, strongest] == pytest.approx(443.7, abs=1.0)
    assert mags[0, strongest] == pytest.approx(0.5, rel=0.05)     # window normalised: amplitude reads as itself
    assert (freqs[0][mags[0] > 0] <= hpcp.MAX_HZ).all()


def test_whitening_levels_the_peaks_against_the_envelope() -> None:
    y = harmonic_tone(57, 2.0, sr=SR, decay=0.1)
    freqs, mags = _peaks(y)
    assert freqs.shape == mags.shape
    assert freqs.shape[1] == hpcp.MAX_PEAKS
    assert mags.min() >= 0.0
    assert mags.max() <= 1.0
    # The fundamental (220 Hz) is at the envelope: ~0 dB less the 5 dB/kHz tilt.
    near = np.abs(freqs - 220.0) < 5.0
    assert mags[near].max() == pytest.approx(10 ** (-20 * 220 / 4000 / 20), rel=0.05)


def test_mean_hpcp_is_the_frame_mean_without_the_frames() -> None:
    rng = np.random.default_rng(5)
    freqs = rng.uniform(20.0, 4000.0, size=(300, 60))
    mags = np.where(rng.random((300, 60)) < 0.3, 0.0, rng.random((300, 60)))
    for size in (12, 60):
        np.testing.assert_allclose(hpcp.mean_hpcp(freqs, mags, reference_hz=259.0, size=size),
                                   hpcp.hpcp(freqs, mags, reference_hz=259.0, size=size).mean(axis=0), rtol=1e-10)
    assert not hpcp.mean_hpcp(freqs[:0], mags[:0], reference_hz=259.0).any()


def test_harmonic_table_is_essentias() -> None:
    table = dict(hpcp._harmonic_table(4))          # f, 2f, 4f fold on the fundamental; 3f a fifth; 5f a third
    assert set(np.round(list(table), 2)) == {0.0, 7.02, 3.86}
    assert table[0.0] == pytest.approx(3.0)
    assert table[min(table, key=lambda s: abs(s - 3.86))] == pytest.approx(24 / (12 * np.log2(5)))


@pytest.mark.parametrize("midi", [57, 62, 67])
def test_hpcp_of_a_tone_peaks_at_its_pitch_class(midi: int) -> None:
    freqs, mags = _peaks(harmonic_tone(midi, 2.0, sr=SR, decay=0.1))
    pcp = hpcp.hpcp(freqs, mags, reference_hz=float(tonal.midi_to_hz(60))).mean(axis=0)
    assert int(np.argmax(pcp)) == midi % 12
    pcp36 = hpcp.hpcp(freqs, mags, reference_hz=float(tonal.midi_to_hz(60)), size=36,
                      window_semitones=4 / 3, band_split_hz=500.0, normalize="unitMax", non_linear=True)
    assert pcp36.shape[1] == 36
    assert int(np.argmax(pcp36.mean(axis=0))) == 3 * (midi % 12)
    assert pcp36.max() <= 1.0 + 1e-9


def test_key_correlations_rotate_the_profiles() -> None:
    major, minor = hpcp.PROFILES["bgate"]
    for tonic in (0, 5, 9):
        assert int(np.argmax(hpcp.key_correlations(np.roll(major, tonic)))) == tonic
        assert int(np.argmax(hpcp.key_correlations(np.roll(minor, tonic)))) == 12 + tonic
    # 36 bins, a third of a semitone sharp: the detuning correction puts it back on the grid.
    p36 = np.zeros(36)
    p36[::3] = np.roll(minor, 4)                          # bin 3k: the tempered pitch k
    p36 += 0.3 * (np.roll(p36, 1) + np.roll(p36, -1))
    assert int(np.argmax(hpcp.key_correlations(np.roll(p36, 1)))) == 12 + 4
    assert not hpcp.key_correlations(np.zeros(12)).any()


@pytest.mark.parametrize(("tonic", "mode"), [(0, "major"), (7, "major"), (2, "minor"), (9, "minor"),
                                             (10, "major"), (4, "minor")])
def test_cadences_give_their_key(tonic: int, mode: str) -> None:
    key = tonal.estimate_key(_tonal(cadence(tonic, mode)), method="hpcp")
    assert (key.tonic, key.mode) == (NAMES[tonic], mode)
    assert 0.0 < key.confidence <= 1.0


def _scale(tonic: int, mode: str, *, cents: float = 0.0, note_s: float = 0.4) -> np.ndarray:
    steps = [0, 2, 4, 5, 7, 9, 11, 12] if mode == "major" else [0, 2, 3, 5, 7, 8, 11, 12]
    notes = [harmonic_tone(60 + tonic + s + cents / 100, note_s, sr=SR, decay=2.0) for s in steps]
    # Tonic triad held under the scale, as an accompaniment would.
    third = 4 if mode == "major" else 3
    pad = sum(harmonic_tone(48 + tonic + i + cents / 100, note_s * len(steps), sr=SR, decay=0.2)
              for i in (0, third, 7))
    y = np.concatenate(notes) + 0.5 * pad
    return (0.2 * y / np.abs(y).max()).astype(np.float32)


@pytest.mark.parametrize(("tonic", "mode", "cents"), [(0, "major", 0.0), (2, "minor", 0.0), (5, "major", 40.0),
                                                      (9, "minor", -40.0), (11, "major", -30.0),
                                                      (6, "minor", 35.0)])
def test_scales_give_their_key_whatever_the_tuning(tonic: int, mode: str, cents: float) -> None:
    a = analyze(_scale(tonic, mode, cents=cents), sr=SR, features=["tonal"])
    assert a.tuning_cents == pytest.approx(cents, abs=6.0)
    assert (a.key_tonic, a.key_mode) == (NAMES[tonic], mode)


def test_tuning_moves_the_hpcp_reference() -> None:
    """45 cents flat reads as the written pitch class once the tuning is measured, not as the one below."""
    y = _scale(7, "major", cents=-45.0)
    tf = _tonal(y)
    assert tf.tuning == pytest.approx(-0.45, abs=0.06)
    likeliest = tf.hpcp[int(np.argmax(tf.hpcp_weights))]
    assert tf.hpcp_tunings[int(np.argmax(tf.hpcp_weights))] == pytest.approx(-0.4)
    assert int(np.argmax(likeliest)) in (7, 11, 2)   # G major triad tones, not F#
    assert tonal.estimate_key(tf).index == 7


def _two_tunings(tonic: int, *, melody_cents: float, pad_cents: float) -> np.ndarray:
    """A major scale over its tonic triad, the scale and the pad tuned apart."""
    steps = (0, 2, 4, 5, 7, 9, 11, 12)
    notes = [harmonic_tone(60 + tonic + s + melody_cents / 100, 0.5, sr=SR, decay=2.0) for s in steps]
    pad = sum(harmonic_tone(48 + tonic + i + pad_cents / 100, 4.0, sr=SR, decay=0.2) for i in (0, 4, 7))
    y = np.concatenate(notes) + 0.5 * pad
    return (0.2 * y / np.abs(y).max()).astype(np.float32)


@pytest.mark.parametrize("tonic", [0, 5, 7])
def test_tunings_either_side_of_the_semitone_boundary_name_the_same_key(tonic: int) -> None:
    """A scale 58 cents flat over a pad 40 cents flat: the tuning histogram straddles -50 cents, so part of
    it falls in the +40 cents slice, which names every pitch class a semitone low unless it is unwrapped."""
    tf = _tonal(_two_tunings(tonic, melody_cents=-58.0, pad_cents=-40.0))
    assert tf.tuning == pytest.approx(-0.47, abs=0.04)
    assert tf.hpcp_tunings[-1] == pytest.approx(-0.6)      # read as 60 cents flat, not 40 sharp
    assert (np.abs(tf.hpcp_tunings - tf.tuning) <= 0.5).all()
    # the unwrapped reading names the scale's own pitch classes: its strongest bins are tonic-triad tones
    strongest = set(np.argsort(tf.hpcp[-1])[-3:].tolist())
    assert strongest <= {(tonic + i) % 12 for i in (0, 2, 4, 5, 7, 9, 11)}
    assert tonal.KEY_NAMES[tonal.estimate_key(tf).index] == f"{NAMES[tonic]} major"
    # and the key is the same with the histogram alone (no concert-pitch prior), the wrapped slice included
    plain = _tonal(_two_tunings(tonic, melody_cents=-58.0, pad_cents=-40.0), concert_pitch_hz=None)
    assert plain.hpcp_weights[-1] > 0.3
    assert tonal.KEY_NAMES[tonal.estimate_key(plain).index] == f"{NAMES[tonic]} major"


@pytest.mark.parametrize("cents", [-40.0, -45.0, 35.0, 45.0])
def test_concert_pitch_prior_never_costs_a_detuned_scale_its_key(cents: float) -> None:
    """Music outside 435-450 Hz keeps its key: where part of the histogram lies in the published range the
    reading moves there (a reference 20 cents off names the same pitch classes), and where none does the
    histogram alone decides."""
    y = _scale(7, "major", cents=cents)
    tf, plain = _tonal(y), _tonal(y, concert_pitch_hz=None)
    prior = tonal.concert_pitch_prior(tf.hpcp_tunings, width=1.0 / tonal.TUNING_REFERENCES)
    posterior = plain.hpcp_weights * prior
    if float(posterior.sum()) > 0:
        np.testing.assert_allclose(tf.hpcp_weights, posterior / posterior.sum())
        assert float(tf.hpcp_weights[prior == 0].sum()) == 0.0
    else:
        np.testing.assert_allclose(tf.hpcp_weights, plain.hpcp_weights)
    assert tonal.KEY_NAMES[tonal.estimate_key(tf).index] == "G major"
    assert tonal.KEY_NAMES[tonal.estimate_key(plain).index] == "G major"


def test_tonal_features_refuse_an_impossible_concert_pitch_range() -> None:
    with pytest.raises(ValueError, match="need 0 < low < high"):
        _tonal(_scale(0, "major"), concert_pitch_hz=(450.0, 430.0))


@pytest.mark.parametrize("colour", ["white", "pink"])
def test_noise_gets_no_key(colour: str) -> None:
    rng = np.random.default_rng(3)
    y = rng.standard_normal(SR * 6)
    if colour == "pink":
        spec = np.fft.rfft(y)
        spec[1:] /= np.sqrt(np.arange(1, spec.size))
        y = np.fft.irfft(spec, n=y.size)
    a = analyze((0.1 * y / np.abs(y).max()).astype(np.float32), sr=SR, features=["tonal"])
    assert a.key_tonic is None
    assert a.key_mode is None
    assert a.key_note == "no tonal centre"


def test_silence_and_no_peaks_give_no_key() -> None:
    tf = _tonal(np.zeros(SR * 3, dtype=np.float32))
    assert tonal.estimate_key(tf).index == -1
    with pytest.raises(ValueError, match="method"):
        tonal.estimate_key(tf, method="nope")


def test_both_key_methods_agree_on_a_clear_cadence() -> None:
    tf = _tonal(cadence(2, "major"))
    assert tonal.estimate_key(tf, method="hpcp").index == tonal.estimate_key(tf, method="chroma").index == 2


def test_matches_essentia_when_installed() -> None:
    """Same peaks -> same HPCP as Essentia's HPCP algorithm with KeyExtractor's settings (benchmark-only peer)."""
    es = pytest.importorskip("essentia.standard")
    freqs, mags = _peaks(cadence(9, "minor"))
    algo = es.HPCP(bandPreset=False, harmonics=4, maxFrequency=3500, minFrequency=25, nonLinear=False,
                   normalized="none", referenceFrequency=440, sampleRate=44100, size=12, weightType="cosine",
                   windowSize=1.0, maxShifted=False)
    ours = hpcp.hpcp(freqs, mags, reference_hz=440.0)
    for i in range(0, freqs.shape[0], 7):
        keep = mags[i] > 0
        theirs = np.asarray(algo(freqs[i][keep].astype(np.float32), mags[i][keep].astype(np.float32)))
        np.testing.assert_allclose(ours[i], theirs, rtol=1e-3, atol=1e-6 * max(1.0, float(theirs.max())))


def test_hpcp_in_chunks_equals_hpcp_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    freqs, mags = _peaks(cadence(4, "minor"))
    whole = hpcp.hpcp(freqs, mags, reference_hz=261.0)
    monkeypatch.setattr(hpcp, "_CHUNK_FRAMES", 7)
    np.testing.assert_allclose(hpcp.hpcp(freqs, mags, reference_hz=261.0), whole)
