"""Onset envelope, tempo, beat tracking and metre on synthetic envelopes."""

from __future__ import annotations

import numpy as np
import pytest

from soundforge.analysis import rhythm

FPS = 22050 / 512


def _pulse_env(bpm: float, seconds: float, *, offbeats: float = 0.0, jitter: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(0)
    env = 0.05 * rng.random(int(seconds * FPS))
    period = 60.0 * FPS / bpm
    for k, t in enumerate(np.arange(5.0, env.size - 2, period / 2)):
        i = round(t + rng.normal(0, jitter))
        env[i] += 1.0 if k % 2 == 0 else offbeats
    return env


@pytest.mark.parametrize("bpm", [65.0, 90.0, 123.4, 175.0])
def test_tempo_of_a_pulse_is_precise(bpm: float) -> None:
    beats = rhythm.beat_track(_pulse_env(bpm, 30.0), fps=FPS)
    assert beats.tempo_bpm == pytest.approx(bpm, rel=0.003)        # finer than a 1 % tempogram grid
    assert 0.0 < beats.confidence <= 1.0


def test_weak_offbeats_keep_the_beat_level() -> None:
    beats = rhythm.beat_track(_pulse_env(80.0, 30.0, offbeats=0.3), fps=FPS)
    assert beats.tempo_bpm == pytest.approx(80.0, rel=0.01)


def test_equal_offbeats_double_the_tempo() -> None:
    beats = rhythm.beat_track(_pulse_env(80.0, 30.0, offbeats=1.0), fps=FPS)
    assert beats.tempo_bpm == pytest.approx(160.0, rel=0.01)


def test_the_other_metrical_level_is_reported_with_its_probability() -> None:
    # Off-beats at 60 % of the beats: the beat is 80 BPM, and 160 BPM is the level a listener may also tap.
    ambiguous = rhythm.beat_track(_pulse_env(80.0, 30.0, offbeats=0.6), fps=FPS)
    assert ambiguous.tempo_bpm == pytest.approx(80.0, rel=0.01)
    assert ambiguous.alt_tempo_bpm == pytest.approx(2 * ambiguous.tempo_bpm)
    # Clean beats with no off-beats: the faster level is less likely than with strong off-beats.
    clean = rhythm.beat_track(_pulse_env(80.0, 30.0, offbeats=0.0), fps=FPS)
    assert clean.tempo_bpm == pytest.approx(80.0, rel=0.01)
    assert 0.0 <= clean.alt_probability < ambiguous.alt_probability < 0.5


def test_the_other_level_stays_in_the_tempo_range() -> None:
    fast = rhythm.estimate_tempo(_pulse_env(200.0, 30.0), fps=FPS)
    assert fast is not None
    assert fast.alt_ratio == 0.5                          # 400 BPM is out of range: only half remains
    assert 0.0 <= fast.alt_probability <= 1.0
    assert rhythm.beat_track(np.zeros(1000), fps=FPS).alt_tempo_bpm == 0.0


def test_no_pulse_gives_no_beats() -> None:
    assert rhythm.beat_track(np.zeros(1000), fps=FPS).times.size == 0
    assert rhythm.estimate_tempo(np.random.default_rng(0).random(50), fps=FPS) is None


def test_tempo_from_beats_fits_a_line() -> None:
    times = 0.3 + np.arange(40) * 60.0 / 127.3 + np.random.default_rng(1).normal(0, 0.005, 40)
    assert rhythm.tempo_from_beats(times) == pytest.approx(127.3, abs=0.1)
    assert rhythm.tempo_from_beats(np.array([1.0])) == 0.0


def test_meter_reads_accents() -> None:
    times = np.arange(24) * 0.5
    low = np.zeros(int(13 * FPS))
    for t in times[1::3]:                       # bars of 3 starting on the second beat
        low[round(t * FPS)] = 1.0
    for t in times:
        low[round(t * FPS)] += 0.2
    m = rhythm.meter(times, bands=np.stack([low, np.zeros_like(low), np.zeros_like(low)]), fps=FPS)
    assert m.time_signature == "3/4"
    np.testing.assert_allclose(m.downbeats, times[1::3])
    assert m.beat_positions[:4].tolist() == [3, 1, 2, 3]


def _groove(times: np.ndarray, *, chord_every: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Onset bands of a 4/4 drum pattern on ``times`` (kick 1 and 3, snare 2 and 4, a second kick an
    eighth after beat 3, hats on every eighth) and a chroma whose chord changes every ``chord_every``
    beats."""
    n = round((times[-1] + 1.0) * FPS)
    bands = np.zeros((3, n))
    half = (times[1] - times[0]) / 2
    for i, t in enumerate(times):
        f = round(t * FPS)
        bands[0, f] = 1.0 if i % 2 == 0 else 0.0
        bands[1, f] = 1.0 if i % 2 == 1 else 0.0
        bands[2, f] = bands[2, round((t + half) * FPS)] = 0.5
        if i % 4 == 2:
            bands[0, round((t + half) * FPS)] = 0.8
    frame_s = 0.1
    chroma = np.zeros((round(times[-1] / frame_s) + 10, 12))
    for k, start in enumerate(times[::chord_every]):
        root = (0, 5, 7, 9)[k % 4]
        lo, hi = round(start / frame_s), round((start + chord_every * 2 * half) / frame_s)
        chroma[lo:hi, [root, (root + 4) % 12, (root + 7) % 12]] = 1.0
    return bands, chroma, frame_s


def test_bars_of_three_need_a_pattern_repeating_every_three_beats() -> None:
    """Accents every third beat alone do not make a waltz when drums and chords repeat every 4 beats
    (Gouyon & Herrera 2003); with drums and chords in threes, the same accents do."""
    times = 0.5 + np.arange(40) * 0.5
    accents = np.zeros(round(times[-1] / 0.1) + 10)
    accents[np.round(times[::3] / 0.1).astype(int)] = 1.0             # a strong accent every third beat
    bands, chroma, frame_s = _groove(times, chord_every=4)
    four = rhythm.meter(times, bands=bands, fps=FPS, treble=chroma, bass=chroma, harmonic_change=accents,
                        chroma_frame_s=frame_s)
    assert four.time_signature == "4/4"
    bands3 = np.zeros_like(bands)                                       # oom-pah-pah: kick on 1, snare on 2 and 3
    for i, t in enumerate(times):
        bands3[0 if i % 3 == 0 else 1, round(t * FPS)] = 1.0
        bands3[2, round(t * FPS)] = 0.5
    _, chroma3, _ = _groove(times, chord_every=3)
    three = rhythm.meter(times, bands=bands3, fps=FPS, treble=chroma3, bass=chroma3, harmonic_change=accents,
                         chroma_frame_s=frame_s)
    assert three.time_signature == "3/4"
    np.testing.assert_allclose(three.downbeats, times[::3])


def test_triple_repetition_needs_enough_beats() -> None:
    times = 0.5 + np.arange(8) * 0.5
    bands, _, _ = _groove(times, chord_every=4)
    assert rhythm._triple_repetition(times, bands.T, frame_s=1.0 / FPS) is None
    times = 0.5 + np.arange(40) * 0.5
    bands, _, _ = _groove(times, chord_every=4)
    assert rhythm._triple_repetition(times, bands.T, frame_s=1.0 / FPS) < 0


def _two_bar_pattern(times: np.ndarray, *, low: tuple[float, ...], mid: tuple[float, ...]) -> np.ndarray:
    """Onset bands on ``times`` whose low and mid bands cycle through ``low`` / ``mid`` (one value per
    beat), hats on every eighth."""
    n = round((times[-1] + 1.0) * FPS)
    bands = np.zeros((3, n))
    half = (times[1] - times[0]) / 2
    for i, t in enumerate(times):
        f = round(t * FPS)
        bands[0, f], bands[1, f] = low[i % len(low)], mid[i % len(mid)]
        bands[2, f] = bands[2, round((t + half) * FPS)] = 0.5
    return bands


def test_a_pattern_repeating_every_two_bars_of_three_counts_for_three() -> None:
    """A figure that repeats only every two bars of 3 (6 beats: its two bars differ, so it is no more
    alike 3 beats apart than 4) is alike 6 beats apart and not 8: bars of 3 (v4-v12, comparing one and
    three bars of 3 with one and two of 4 only, read it in 4). A pattern repeating every half bar of
    4/4 (2 beats) repeats at 6 and at 8 alike and stays in 4."""
    times = 0.5 + np.arange(48) * 0.5
    waltz = _two_bar_pattern(times, low=(1.0, 0.0, 0.0, 0.0, 0.6, 0.0), mid=(0.0, 0.7, 0.7, 0.5, 0.0, 0.9))
    assert rhythm._triple_repetition(times, waltz.T, frame_s=1.0 / FPS) > 0
    half_bar = _two_bar_pattern(times, low=(1.0, 0.0), mid=(0.0, 1.0))
    assert rhythm._triple_repetition(times, half_bar.T, frame_s=1.0 / FPS) < 0


def test_onsets_and_beat_strength() -> None:
    env = _pulse_env(120.0, 10.0)
    frames = rhythm.onsets(env, fps=FPS)
    assert 18 <= frames.size <= 21          # one onset per beat (no off-beats)
    beats = rhythm.beat_track(env, fps=FPS)
    assert rhythm.beat_strength(env, beats.times, fps=FPS) > 3.0
    assert rhythm.beat_strength(env, np.zeros(0), fps=FPS) == 0.0


def test_bar_phase_from_chord_changes_and_backbeat() -> None:
    """Kick on beats 1 and 3, snare on 2 and 4 (drums cannot tell 1 from 3), chords changing on
    every bar's first beat (from the second beat on), and one huge onset after silence on the
    first beat, which must not outvote the rest."""
    times = 0.5 + np.arange(32) * 0.5
    n = round(17.5 * FPS)
    bands = np.zeros((3, n))
    for i, t in enumerate(times):
        f = round(t * FPS)
        bands[0, f] = 1.0 if (i - 1) % 2 == 0 else 0.1          # kick on 1 and 3 of bars starting at beat 1
        bands[1, f] = 1.0 if (i - 1) % 2 == 1 else 0.1          # snare on 2 and 4
        bands[2, f] = 0.5
    bands[0, round(times[0] * FPS)] = 50.0                        # the first onset after silence
    frame_s = 0.1
    chroma = np.zeros((round(17.5 / frame_s), 12))
    chords = [0, 5, 7, 9]
    for k, start in enumerate(times[1::4]):
        lo, hi = round(start / frame_s), round((start + 2.0) / frame_s)
        chroma[lo:hi, [chords[k % 4], (chords[k % 4] + 4) % 12, (chords[k % 4] + 7) % 12]] = 1.0
    chroma[: round(times[1] / frame_s), [9, 1, 4]] = 1.0
    m = rhythm.meter(times, bands=bands, fps=FPS, treble=chroma, bass=chroma, chroma_frame_s=frame_s)
    assert m.time_signature == "4/4"
    np.testing.assert_allclose(m.downbeats, times[1::4])
    assert m.beat_positions[:3].tolist() == [4, 1, 2]
    assert m.confidence > 0.95                                   # every bar marks the same beat


def test_the_bar_phase_confidence_is_the_share_of_bar_resamples_that_keep_it() -> None:
    """Every bar stressing its first beat: 1. Bars that disagree (half stress beat 1, half beat 3):
    about a half for either. Noise with no accent: far from 1. Equal accents, or under two whole
    bars: 0. Seeded."""
    rng = np.random.default_rng(3)
    clear = np.tile([1.0, 0.0, 0.2, 0.0], 16) + 0.05 * rng.standard_normal(64)
    assert rhythm._phase_stability(clear, 4, 0) == 1.0
    split = np.concatenate([np.tile([1.0, 0.0, 0.0, 0.0], 8), np.tile([0.0, 0.0, 1.0, 0.0], 8)])
    split = split + 0.01 * rng.standard_normal(64)
    one, three = rhythm._phase_stability(split, 4, 0), rhythm._phase_stability(split, 4, 2)
    assert 0.25 < one < 0.75
    assert 0.25 < three < 0.75
    noise = rng.standard_normal(64)
    phase = max(range(4), key=lambda p: rhythm._contrast(noise, 4, p))
    assert rhythm._phase_stability(noise, 4, phase) < 0.9
    assert rhythm._phase_stability(clear[:7], 4, 0) == 0.0
    assert rhythm._phase_stability(np.zeros(64), 4, 0) == 0.0        # nothing marks any beat: no tie wins
    assert rhythm._phase_stability(clear, 4, 0) == rhythm._phase_stability(clear.copy(), 4, 0)


def _dp_reference(env: np.ndarray, period: float | np.ndarray, *, tightness: float) -> np.ndarray:
    """Ellis' recursion frame by frame (the textbook form the blocked version must equal); ``period``
    one number or one per frame."""
    n = env.size
    per = np.broadcast_to(np.asarray(period, dtype=float), (n,))
    local = env / (env.std() + 1e-12)
    lo, hi = max(1, round(float(per.min()) / 2)), round(2 * float(per.max()))
    offsets = np.arange(lo, hi + 1)
    cum, back = local.copy(), np.full(n, -1)
    for t in range(lo, n):
        prev = t - offsets
        ok = prev >= 0
        cand = cum[prev[ok]] - tightness * np.log(offsets[ok] / per[t]) ** 2
        k = int(np.argmax(cand))
        if cand[k] > 0:
            cum[t], back[t] = local[t] + cand[k], prev[ok][k]
    tail = cum[max(0, n - round(float(per[-1]))):]
    path = [max(0, n - tail.size) + int(np.argmax(tail))]
    while back[path[-1]] >= 0:
        path.append(int(back[path[-1]]))
    return np.array(path[::-1])


@pytest.mark.parametrize("seed", range(4))
def test_blocked_dynamic_programming_equals_frame_by_frame(seed: int) -> None:
    rng = np.random.default_rng(seed)
    env = _pulse_env(70.0 + 30 * seed, 25.0, offbeats=0.4, jitter=1.0) + 0.3 * rng.random(int(25.0 * FPS))
    period = 60.0 * FPS / (70.0 + 30 * seed) * (1 + 0.01 * seed)
    np.testing.assert_array_equal(rhythm._dp_beats(env, period, tightness=400.0),
                                  _dp_reference(env, period, tightness=400.0))


@pytest.mark.parametrize("seed", range(3))
def test_blocked_dynamic_programming_follows_a_moving_period_like_frame_by_frame(seed: int) -> None:
    rng = np.random.default_rng(seed)
    env = _pulse_env(90.0 + 20 * seed, 25.0, offbeats=0.4, jitter=1.0) + 0.3 * rng.random(int(25.0 * FPS))
    base = 60.0 * FPS / (90.0 + 20 * seed)
    period = base * np.linspace(1.0, 0.8, env.size)
    np.testing.assert_array_equal(rhythm._dp_beats(env, period, tightness=400.0),
                                  _dp_reference(env, period, tightness=400.0))


def _two_tempi_env(first_bpm: float, second_bpm: float, seconds: float) -> tuple[np.ndarray, np.ndarray]:
    """A pulse at ``first_bpm`` for ``seconds``, then at ``second_bpm`` for as long; (envelope, beat frames)."""
    rng = np.random.default_rng(7)
    env = 0.05 * rng.random(int(2 * seconds * FPS))
    beats = np.concatenate([np.arange(2.0, seconds * FPS, 60.0 * FPS / first_bpm),
                            np.arange(seconds * FPS, env.size - 2, 60.0 * FPS / second_bpm)])
    env[np.round(beats).astype(int)] += 1.0
    return env, beats


def test_local_periods_follow_a_change_of_tempo_and_hold_a_steady_one() -> None:
    env, _ = _two_tempi_env(100.0, 125.0, 20.0)
    periods = rhythm.local_periods(env, 60.0 * FPS / 100.0, fps=FPS)
    assert periods.shape == env.shape
    assert abs(np.median(periods[: int(10 * FPS)]) / (60.0 * FPS / 100.0) - 1) < 0.03
    assert abs(np.median(periods[int(30 * FPS):]) / (60.0 * FPS / 125.0) - 1) < 0.03
    steady = _pulse_env(100.0, 40.0)
    flat = rhythm.local_periods(steady, 60.0 * FPS / 100.0, fps=FPS)
    assert np.all(np.abs(flat / (60.0 * FPS / 100.0) - 1) < 0.03)
    short = rhythm.local_periods(steady[: int(6 * FPS)], 25.0, fps=FPS)     # shorter than two windows: constant
    np.testing.assert_array_equal(short, np.full(short.size, 25.0))


def test_the_committee_follows_a_tempo_that_moves() -> None:
    """Every fixed-period track drifts off the second half together, so they agree with each other;
    the model is chosen by where the beats land, not by agreement."""
    env, truth = _two_tempi_env(100.0, 125.0, 20.0)
    rng = np.random.default_rng(5)
    bands = np.stack([env * rng.uniform(0.5, 1.0, env.size) for _ in range(3)])
    tempo = rhythm.TempoEstimate(period=60.0 * FPS / 100.0, confidence=0.8)
    beats = rhythm.beat_track(env, fps=FPS, tempo=tempo, bands=bands, energy=env.copy())
    second = truth[truth > 22 * FPS]
    found = beats.times * FPS
    assert rhythm._agreement(found[found > 22 * FPS], second, tol=0.07 * FPS) > 0.9


def _accelerando_env(first_bpm: float, last_bpm: float, seconds: float, *, offbeats: float
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Beats (1.0) and off-beats (``offbeats``) whose tempo rises linearly from ``first_bpm`` to
    ``last_bpm`` over ``seconds``; (envelope, beat frames)."""
    rng = np.random.default_rng(0)
    env = 0.05 * rng.random(int(seconds * FPS))
    bpm = first_bpm + (last_bpm - first_bpm) * np.arange(env.size) / env.size
    count = np.cumsum(bpm / 60.0 / FPS)                             # beats elapsed at each frame
    beats = np.flatnonzero(np.diff(np.floor(count)) > 0) + 1
    halves = np.flatnonzero(np.diff(np.floor(2 * count)) > 0) + 1
    env[halves] += np.where(np.isin(halves, beats), 1.0, offbeats)
    return env, beats


@pytest.mark.parametrize(("first_bpm", "last_bpm"), [(70.0, 95.0), (80.0, 110.0)])
def test_an_accelerando_is_read_at_its_beat_level(first_bpm: float, last_bpm: float) -> None:
    """Averaged over the whole file the moving pulse blurs and the global estimate halves the tempo;
    read with time warped to a steady tempo, the level is the beat's."""
    env, truth = _accelerando_env(first_bpm, last_bpm, 40.0, offbeats=0.3)
    blurred, acf = rhythm._read_tempo(env, fps=FPS, bands=None)
    assert blurred is not None
    assert 60.0 * FPS / blurred.period < 0.7 * first_bpm
    beats = rhythm.beat_track(env, fps=FPS)
    assert rhythm._agreement(np.round(beats.times * FPS), truth.astype(float), tol=0.07 * FPS) > 0.95
    periods = rhythm.local_periods(env, blurred.period, fps=FPS)
    tempo, moved = rhythm._steady_reading(env, None, blurred, periods, acf=acf, fps=FPS)
    ratio = moved / periods
    np.testing.assert_allclose(ratio, ratio[0])                     # the path keeps its shape, one level down...
    assert ratio[0] == pytest.approx(0.5, rel=0.03)                 # ...at twice the blurred estimate's tempo
    assert tempo.period == pytest.approx(float(np.median(moved)))
    assert moved[0] / moved[-1] == pytest.approx(last_bpm / first_bpm, rel=0.06)
    assert 0.0 <= tempo.confidence <= 1.0


def test_a_steady_or_unsupported_path_keeps_the_first_reading() -> None:
    env = _pulse_env(100.0, 30.0, offbeats=0.3)
    tempo, acf = rhythm._read_tempo(env, fps=FPS, bands=None)
    assert tempo is not None
    flat = np.full(env.size, tempo.period)
    assert rhythm._steady_reading(env, None, tempo, flat, acf=acf, fps=FPS) == (tempo, flat)
    # A path that moves where the music does not: warping makes nothing more periodic, so nothing changes.
    wobble = tempo.period * (1.0 + 0.15 * np.sin(np.arange(env.size) / (4.0 * FPS)))
    kept, periods = rhythm._steady_reading(env, None, tempo, wobble, acf=acf, fps=FPS)
    assert kept is tempo
    assert periods is wobble


def test_stretches_of_music_are_split_only_by_long_silences() -> None:
    quiet = np.zeros(int(30 * FPS), dtype=bool)
    quiet[: int(2 * FPS)] = True                                  # silence before the music: left out
    quiet[int(8 * FPS): int(9 * FPS)] = True                      # a 1 s rest: part of the music
    quiet[int(12 * FPS): int(20 * FPS)] = True                    # 8 s of silence: two stretches
    parts = rhythm._stretches(quiet, fps=FPS)
    assert [(p.start, p.stop) for p in parts] == [(int(2 * FPS), int(12 * FPS)), (int(20 * FPS), quiet.size)]
    assert rhythm._stretches(np.ones(50, dtype=bool), fps=FPS) == []
    assert rhythm._stretches(np.zeros(50, dtype=bool), fps=FPS) == [slice(0, 50)]


def test_each_stretch_is_tracked_on_its_own() -> None:
    """Two pulses at 100 BPM whose phases differ by a third of a beat, 8 s of silence between them:
    tracked as one, a grid at 150 BPM fits both; tracked apart, each keeps its own beats."""
    period = 60.0 * FPS / 100.0
    n = int(36 * FPS)
    env = np.zeros(n)
    first = np.arange(int(1 * FPS), int(14 * FPS), period)
    second = np.arange(int(22 * FPS) + period / 3, n - 2, period)
    env[np.round(np.r_[first, second]).astype(int)] = 1.0
    quiet = np.zeros(n, dtype=bool)
    quiet[int(14.5 * FPS): int(22 * FPS)] = True
    beats = rhythm.beat_track(env, fps=FPS, quiet=quiet)
    assert beats.tempo_bpm == pytest.approx(100.0, rel=0.01)
    found = beats.times * FPS
    assert not np.any((found > 14.5 * FPS) & (found < 22 * FPS))
    assert rhythm._agreement(found, np.r_[first, second], tol=0.07 * FPS) > 0.95
    assert np.all(np.diff(beats.times) > 0)
    assert rhythm.beat_track(np.zeros(n), fps=FPS, quiet=np.ones(n, dtype=bool)).times.size == 0


def test_warping_keeps_every_onset_peak_and_adds_no_onsets() -> None:
    rng = np.random.default_rng(3)
    x = np.zeros((2, 500))                              # onset peaks 8-12 frames apart, as a beat's are
    for row in x:
        at = np.cumsum(rng.integers(8, 13, 40))
        row[at[at < 500]] = rng.uniform(0.2, 1.0, np.count_nonzero(at < 500))
    for rate in (0.8, 1.25):
        source = np.arange(500) * rate
        size = int(source[-1]) + 1
        out = rhythm._warp(x, source, size=size)
        assert out.shape == (2, size)
        for row_in, row_out in zip(x, out, strict=True):
            assert set(row_in[row_in > 0]) <= set(row_out[row_out > 0])           # every peak survives...
            assert np.count_nonzero(row_out) <= 2 * np.count_nonzero(row_in)      # ...at most doubled, never invented


def test_the_tracking_model_is_chosen_by_where_its_beats_land() -> None:
    """Five fixed-period tracks that drift off the second tempo identically agree with each other
    better than five local-period tracks that follow it but put a fifth of their beats 100 ms off,
    each its own; agreement over all ten would keep a drifting one."""
    env, truth = _two_tempi_env(100.0, 125.0, 20.0)
    truth = np.round(truth).astype(int)
    period = 60.0 * FPS / 100.0
    drifting = np.round(np.arange(truth[0], env.size - 2, period)).astype(int)
    rng = np.random.default_rng(2)
    fixed = [drifting.copy() for _ in range(5)]
    moving = [np.clip(truth + round(0.1 * FPS) * (rng.random(truth.size) < 0.2), 0, env.size - 1) for _ in range(5)]
    tracks = fixed + moving
    functions = [env] * 5
    tol = 0.07 * FPS
    assert rhythm._most_agreed(tracks, tol=tol) < 5
    assert rhythm._choose_track(tracks, functions, tol=tol) >= 5


def test_agreement_is_an_f_measure_within_the_tolerance() -> None:
    a = np.array([10.0, 30.0, 50.0, 70.0])
    assert rhythm._agreement(a, a + 2.0, tol=3.0) == 1.0
    assert rhythm._agreement(a, a + 10.0, tol=3.0) == 0.0                  # the off-beat grid
    assert rhythm._agreement(a, a[:2], tol=3.0) == pytest.approx(2 * 2 / 6)
    assert rhythm._agreement(a, np.zeros(0), tol=3.0) == 0.0


def test_committee_of_onset_functions_keeps_the_beat_not_the_offbeat() -> None:
    """Dance-music texture: loud open hats and an off-beat bass make the summed envelope's
    off-beats stronger than its beats, while kick, snare and the energy rise mark the beat."""
    n = int(30 * FPS)
    period = 60.0 * FPS / 128.0
    beat_frames = np.arange(round(2 * FPS), n - 2, period)
    rng = np.random.default_rng(3)
    bands = 0.03 * rng.random((3, n))
    energy = 0.03 * rng.random(n)
    for b in beat_frames:
        on, off = round(b), round(b + period / 2)
        bands[0, on] += 1.0                           # kick
        bands[1, on] += 0.6                           # snare / kick body
        energy[on] += 1.0
        if off < n:
            bands[0, off] += 0.9                      # off-beat bass
            bands[2, off] += 2.5                      # open hat
            energy[off] += 0.3
    env = bands.sum(axis=0)                           # off-beats 3.4, beats 1.6
    tempo = rhythm.TempoEstimate(period=period, confidence=0.8)
    alone = rhythm.beat_track(env, fps=FPS, tempo=tempo)
    committee = rhythm.beat_track(env, fps=FPS, tempo=tempo, bands=bands, energy=energy)

    def on_beat(times: np.ndarray) -> float:
        phase = ((times * FPS - beat_frames[0]) / period) % 1.0
        return float(np.mean(np.minimum(phase, 1 - phase) < 0.1))

    assert on_beat(alone.times) < 0.1                 # the envelope alone follows the hats
    assert on_beat(committee.times) > 0.9
    assert np.all(np.diff(committee.times) > 0)


def _flux_after_silence(bpm: float, *, music_s: float, silence_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Band flux ``(3, n)`` of ``silence_s`` of digital silence, then a pulse whose first frame jumps from
    the silence's log floor (~170 dB in every band, as :class:`rhythm.OnsetFlux` gives), and the quiet mask."""
    music = np.stack([_pulse_env(bpm, music_s, offbeats=0.4)] * 3) * 6.0      # dB-scale band flux
    music[:, 0] = 170.0
    lead = round(silence_s * FPS)
    flux = np.concatenate([np.zeros((3, lead)), music], axis=1)
    quiet = np.zeros(flux.shape[1], dtype=bool)
    quiet[:lead] = True
    return flux, quiet


def test_an_onset_out_of_silence_counts_as_one_strong_onset() -> None:
    flux, quiet = _flux_after_silence(100.0, music_s=30.0, silence_s=10.0)
    env, bands = rhythm.onset_envelope(flux, fps=FPS, quiet=quiet)
    lead = int(quiet.sum())
    assert not env[:lead].any()
    assert not bands[:, :lead].any()
    rest = env[lead + 5:]
    assert env[lead] <= np.percentile(rest, 99.9)       # capped: not ten times every other onset
    # the spike left alone (no quiet mask) dwarfs the music, as it used to
    raw, _ = rhythm.onset_envelope(flux, fps=FPS)
    assert raw[lead] > 10 * np.percentile(raw[lead + 5:], 99)


def test_tempo_ignores_silence_around_the_music() -> None:
    env = _pulse_env(97.0, 30.0, offbeats=0.6, jitter=0.8)
    alone = rhythm.estimate_tempo(env, fps=FPS)
    assert alone is not None
    for lead, tail in ((43, 0), (431, 0), (431, 200)):
        padded = rhythm.estimate_tempo(np.concatenate([np.zeros(lead), env, np.zeros(tail)]), fps=FPS)
        assert padded is not None
        assert padded.period == pytest.approx(alone.period, abs=1e-9)
        assert padded.confidence == pytest.approx(alone.confidence, abs=1e-9)
