"""Tuning, chroma, chords and key helpers."""

from __future__ import annotations

import numpy as np
import pytest

from soundforge.analysis import analyze, hpcp, tonal

from .synth import cadence, harmonic_tone


@pytest.mark.parametrize("cents", [-30.0, 0.0, 20.0])
def test_tuning_is_measured(cents: float) -> None:
    y = harmonic_tone(69 + cents / 100, 3.0, sr=22050, decay=0.2) + harmonic_tone(64 + cents / 100, 3.0, sr=22050,
                                                                                  decay=0.2)
    a = analyze(y, sr=22050, features=["tonal"])
    assert a.tuning_cents == pytest.approx(cents, abs=4.0)


@pytest.mark.parametrize("seed", [0, 1])
def test_tuning_is_read_from_partials_not_from_drums(seed: int) -> None:
    """A noise drum every half second makes more spectral peaks than the notes do; only the partials
    count for the tuning (before: 26.8 and 32.8 cents for a chord tuned 30 cents sharp)."""
    sr = 22050
    rng = np.random.default_rng(seed)
    notes = sum(harmonic_tone(p + 0.3, 8.0, sr=sr, decay=0.3) for p in (57, 61, 64))
    t = np.arange(notes.size) / sr
    drums = rng.standard_normal(notes.size) * np.exp(-(t % 0.5) / 0.08)
    a = analyze(0.1 * notes / np.abs(notes).max() + 0.5 * drums, sr=sr, features=["tonal"])
    assert a.tuning_cents == pytest.approx(30.0, abs=1.5)


def test_noise_gives_no_tuning_evidence() -> None:
    from soundforge.analysis import frontend

    noise = np.random.default_rng(4).standard_normal(22050 * 5).astype(np.float32)
    fe = frontend.FrontEnd(sample_rate=22050, channels=1)
    fe.push(noise[None, :])
    r = fe.finish()
    assert r.tuning_hist.sum() < 1e-3 * r.pitch.sum()    # the pitch salience holds every peak's magnitude


def test_single_tone_chroma_peaks_at_its_pitch_class() -> None:
    a = analyze(harmonic_tone(62, 3.0, sr=22050, harmonics=1, decay=0.1), sr=22050, features=["tonal"])
    means = {pc: a.features[f"chroma_{pc}_mean"] for pc in tonal.PITCH_CLASSES}
    assert max(means, key=means.get) == "D"
    assert means["D"] == pytest.approx(1.0, abs=0.05)


def test_chords_follow_a_cadence() -> None:
    from soundforge.analysis import frontend

    y = cadence(0, "major", chord_s=1.0, repeats=1)
    fe = frontend.FrontEnd(sample_rate=22050, channels=1)
    fe.push(y[None, :])
    r = fe.finish()
    tf = tonal.tonal_features(r.pitch, r.tuning_hist, frame_s=frontend.TONAL_HOP / frontend.TONAL_SR)
    labels = [s.label for s in tonal.chords(tf)]
    assert labels == ["C:maj", "F:maj", "G:maj", "C:maj"]
    evidence = tonal.tonic_evidence(tonal.chords(tf))
    assert int(np.argmax(evidence[:12])) == 0      # opening chord and G -> C cadence point at C


def test_key_scores_and_relative_keys() -> None:
    scores = tonal.key_scores(np.array([1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1], dtype=float))
    assert scores.shape == (24,)
    assert tonal.KEY_NAMES[int(np.argmax(scores))] in ("C major", "A minor")
    assert tonal.relative_key(0) == 21          # C major -> A minor
    assert tonal.relative_key(21) == 0
    assert tonal.relative_key(12 + 4) == 7      # E minor -> G major
    assert not tonal.key_scores(np.ones(12)).any()


def test_estimate_key_handles_empty_input() -> None:
    empty = tonal.TonalFeatures(tuning=0.0, chroma=np.zeros((0, 12)), treble=np.zeros((0, 12)),
                                bass=np.zeros((0, 12)), frame_s=0.1)
    key = tonal.estimate_key(empty)
    assert (key.index, key.confidence) == (-1, 0.0)


def test_tuning_references_share_out_the_histogram() -> None:
    hist = np.zeros(100)
    hist[3] = 2.0            # -0.465 semitone: the first slice
    hist[55] = 6.0           # +0.055: the slice around 440 Hz
    refs, weights = tonal.tuning_references(hist)
    np.testing.assert_allclose(refs, [-0.4, -0.2, 0.0, 0.2, 0.4])
    np.testing.assert_allclose(weights, [0.25, 0.0, 0.75, 0.0, 0.0])
    _, empty = tonal.tuning_references(np.zeros(100))
    np.testing.assert_allclose(empty, [0.0, 0.0, 1.0, 0.0, 0.0])      # nothing heard: read at 440 Hz
    with pytest.raises(ValueError, match="not a multiple of k=5"):
        tonal.tuning_references(np.ones(101))


def test_concert_pitch_prior_is_the_share_of_each_slice_in_the_published_range() -> None:
    """435-450 Hz is -19.7 to +39.1 cents: the -20 cents slice is half inside, the +40 cents slice nearly half."""
    lo, hi = 1200 * np.log2(435 / 440), 1200 * np.log2(450 / 440)
    prior = tonal.concert_pitch_prior(np.array([-0.6, -0.4, -0.2, 0.0, 0.2, 0.4, 0.6]), width=0.2)
    np.testing.assert_allclose(prior, [0.0, 0.0, (-10 - lo) / 20, 1.0, 1.0, (hi - 30) / 20, 0.0])
    # unwrapped references are judged where they now read A4: -0.6 is 425 Hz, not the +0.4 it came from
    assert tonal.concert_pitch_prior(np.array([-0.6]), width=0.2)[0] == 0.0
    wide = tonal.concert_pitch_prior(np.array([0.0]), width=0.2, range_hz=(400.0, 480.0))
    np.testing.assert_allclose(wide, [1.0])
    with pytest.raises(ValueError, match="need 0 < low < high"):
        tonal.concert_pitch_prior(np.array([0.0]), width=0.2, range_hz=(450.0, 435.0))
    with pytest.raises(ValueError, match="width=0: need width > 0"):
        tonal.concert_pitch_prior(np.array([0.0]), width=0)


def test_key_is_the_fit_averaged_over_tuning_references() -> None:
    """Each reference's key fit counts in proportion to how much of the music was played to it."""
    c_major = np.array(hpcp.PROFILES["krumhansl"][0])   # read on one reference: C major
    b_major = np.roll(c_major, -1)                       # the same notes read a semitone low on another

    def key(weights: list[float]) -> tonal.KeyEstimate:
        tf = tonal.TonalFeatures(tuning=0.0, chroma=np.zeros((0, 12)), treble=np.zeros((0, 12)),
                                 bass=np.zeros((0, 12)), frame_s=0.1, hpcp=np.stack([b_major, c_major]),
                                 hpcp_tunings=np.array([-0.4, 0.4]), hpcp_weights=np.array(weights))
        return tonal.estimate_key(tf)

    assert tonal.KEY_NAMES[key([0.3, 0.7]).index] == "C major"
    assert tonal.KEY_NAMES[key([0.7, 0.3]).index] == "B major"
    mixed = key([0.5, 0.5])
    expected = (hpcp.key_correlations(b_major) + hpcp.key_correlations(c_major)) / 2
    np.testing.assert_allclose(mixed.scores, expected)


def test_chroma_change_peaks_where_the_chord_changes() -> None:
    c_major, g_major = np.zeros(12), np.zeros(12)
    c_major[[0, 4, 7]] = 1.0
    g_major[[7, 11, 2]] = 1.0
    beats = np.array([c_major] * 4 + [g_major] * 2)
    one = tonal.chroma_change(beats, context=1)
    two = tonal.chroma_change(beats, context=2)
    assert int(np.argmax(one)) == 4
    assert int(np.argmax(two)) == 4
    np.testing.assert_array_equal(one[[0, 5]], 0.0)          # no context before beat 0; G on both sides of beat 5
    np.testing.assert_array_equal(two[[1, 5]], 0.0)          # two beats of context do not fit there
    assert one[4] == pytest.approx(np.linalg.norm(g_major / np.sqrt(3) - c_major / np.sqrt(3)))


def test_silence_around_the_music_does_not_decide_whether_it_has_a_key() -> None:
    music = np.r_[np.full(30, 20.0), np.full(170, 10.0)]          # a few frames of sustained pitches
    assert tonal.tonal_centre_note(music) == ""
    padded = np.r_[np.zeros(300), music]                             # the same after 28 s of silence
    quiet = np.r_[np.ones(300, dtype=bool), np.zeros(music.size, dtype=bool)]
    assert tonal.tonal_centre_note(padded) == "no tonal centre"    # what silence used to do
    assert tonal.tonal_centre_note(padded, quiet=quiet) == ""
    assert tonal.tonal_centre_note(padded, quiet=np.ones(padded.size, dtype=bool)) == "no tonal centre"
