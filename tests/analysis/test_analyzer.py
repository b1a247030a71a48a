"""End-to-end tests of analyze() on synthetic signals with known answers."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from soundforge.analysis import FEATURES, Analysis, analyze
from soundforge.errors import AudioError, ConfigError, InvalidArgument

from .synth import NAMES, cadence, click_track


def _all_finite(a: Analysis) -> None:
    for name, value in a.to_row().items():
        if isinstance(value, (int, float)):
            assert math.isfinite(value), name
    for name, arr in a.series.items():
        if arr.dtype.kind == "f":
            assert np.isfinite(arr).all(), name


@pytest.mark.parametrize("bpm", [72, 100, 128, 150, 180])
def test_click_tracks_give_tempo_and_beats(bpm: float) -> None:
    y, clicks = click_track(bpm=bpm, seconds=12.0)
    a = analyze(y, sr=22050, features=["rhythm"])
    assert a.tempo_bpm == pytest.approx(bpm, rel=0.01)
    inner = clicks[1:-1]
    errors = np.array([np.min(np.abs(a.beats - c)) for c in inner])
    assert errors.max() < 0.05          # within mir_eval's 70 ms window
    assert a.beat_count == pytest.approx(len(clicks), abs=1)


def test_music_after_a_long_silence_keeps_its_tempo_and_no_beat_falls_in_the_silence() -> None:
    """12 s of clicks, 10 s of digital silence, 12 s more whose beat does not continue the first's
    (10 s is 16 2/3 beats at 100 BPM): one grid cannot fit both, and a 150 BPM one fitted both before."""
    sr = 22050
    part, clicks = click_track(bpm=100, seconds=12.0, sr=sr)
    y = np.concatenate([part[0], np.zeros(10 * sr, dtype=np.float32), part[0]])
    a = analyze(y, sr=sr, features=["rhythm"])
    assert a.tempo_bpm == pytest.approx(100, rel=0.01)
    assert not np.any((a.beats > 12.2) & (a.beats < 21.9))
    truth = np.concatenate([clicks, clicks + 22.0])[1:-1]
    assert np.array([np.min(np.abs(a.beats - c)) for c in truth]).max() < 0.05


@pytest.mark.parametrize("bars", [3, 4])
def test_accented_clicks_give_metre_and_downbeats(bars: int) -> None:
    y, clicks = click_track(bpm=120, seconds=14.0, accent_every=bars)
    a = analyze(y, sr=22050, features=["rhythm"])
    assert a.time_signature == f"{bars}/4"
    accents = clicks[::bars]
    hits = [np.min(np.abs(a.downbeats - t)) < 0.05 for t in accents[1:-1]]
    assert np.mean(hits) > 0.8


@pytest.mark.parametrize("tonic", range(12))
@pytest.mark.parametrize("mode", ["major", "minor"])
def test_cadences_in_all_24_keys(tonic: int, mode: str) -> None:
    a = analyze(cadence(tonic, mode), sr=22050, features=["tonal"])
    assert (a.key_tonic, a.key_mode) == (NAMES[tonic], mode)
    assert 0.0 < a.key_confidence <= 1.0


def test_full_analysis_has_every_feature_and_finite_values() -> None:
    y, _ = click_track(bpm=110, seconds=6.4, channels=2)
    y = y + 0.5 * np.tile(cadence(7, "major", repeats=2), (2, 1))[:, : y.shape[1]]
    a = analyze(y, sr=22050)
    assert list(a.to_row()) == list(FEATURES)
    _all_finite(a)
    for name in ("energy", "danceability", "key_confidence", "tempo_confidence", "spectral_flatness_mean"):
        assert 0.0 <= a.to_row()[name] <= 1.0, name
    assert a.series["mfcc"].shape[0] == 13
    assert a.series["chroma"].shape[0] == 12
    assert a.segments
    assert a.segments[0].start_s == 0.0
    assert a.segments[-1].end_s == pytest.approx(a.duration_s)


def test_silence_is_finite_and_empty() -> None:
    a = analyze(np.zeros((2, 22050 * 4), dtype=np.float32), sr=22050)
    _all_finite(a)
    assert a.beat_count == 0
    assert a.tempo_bpm is None
    assert a.tempo_note.startswith("silent")
    assert a.key_tonic is None
    assert a.key_note.startswith("silent")
    assert a.loudness_lufs == -70.0
    assert a.peak_dbfs == -140.0
    assert a.energy < 0.05
    assert a.danceability == 0.0
    assert a.time_signature == "unknown"


def test_white_noise_is_finite() -> None:
    rng = np.random.default_rng(1)
    a = analyze(0.1 * rng.standard_normal((2, 44100 * 6)).astype(np.float32), sr=44100)
    _all_finite(a)
    assert a.spectral_flatness_mean > 0.3


def test_two_second_clip_is_finite() -> None:
    y, _ = click_track(bpm=120, seconds=2.0)
    a = analyze(y, sr=22050)
    _all_finite(a)
    assert a.duration_s == pytest.approx(2.0)
    assert a.loudness_range_lu == 0.0          # shorter than one 3 s window


@pytest.mark.parametrize("sr", [22050, 44100, 48000])
def test_sample_rates_agree(sr: int) -> None:
    y22, _ = click_track(bpm=120, seconds=8.0, sr=sr)
    a = analyze(y22, sr=sr, features=["rhythm", "timbre"])
    assert a.tempo_bpm == pytest.approx(120, rel=0.01)
    assert a.duration_s == pytest.approx(8.0, abs=1e-3)
    assert a.zcr_mean > 0


def test_mono_and_stereo_files_agree(tmp_path: Path) -> None:
    y, _ = click_track(bpm=100, seconds=8.0, sr=44100)
    mono, stereo = tmp_path / "mono.wav", tmp_path / "stereo.flac"
    sf.write(mono, y[0], 44100, subtype="FLOAT")
    sf.write(stereo, np.stack([y[0], y[0]]).T, 44100, subtype="PCM_24")
    a, b = analyze(mono), analyze(stereo)
    assert a.source == str(mono)
    assert a.tempo_bpm == pytest.approx(b.tempo_bpm, rel=1e-3)
    # Same signal on two channels is 3 dB louder (BS.1770 sums channel powers).
    assert b.loudness_lufs - a.loudness_lufs == pytest.approx(3.01, abs=0.05)
    assert a.mfcc_1_mean == pytest.approx(b.mfcc_1_mean, abs=0.05)


def test_array_and_file_give_the_same_result(tmp_path: Path) -> None:
    y = np.tile(cadence(2, "minor"), (2, 1))
    path = tmp_path / "c.wav"
    sf.write(path, y.T, 22050, subtype="FLOAT")
    assert analyze(path).to_row() == analyze(y, sr=22050).to_row()


def test_bad_audio_raises_audio_error(bad_files: dict[str, Path]) -> None:
    for name, path in bad_files.items():
        with pytest.raises(AudioError):
            analyze(path)
        assert name


def test_bad_arrays_raise_audio_error() -> None:
    with pytest.raises(AudioError, match="sample rate"):
        analyze(np.zeros(1000, dtype=np.float32))
    with pytest.raises(AudioError, match="NaN or infinite"):
        analyze(np.full(22050, np.nan, dtype=np.float32), sr=22050)
    with pytest.raises(AudioError, match="non-empty"):
        analyze(np.zeros(0, dtype=np.float32), sr=22050)
    with pytest.raises(AudioError, match="transpose"):
        analyze(np.zeros((22050, 2), dtype=np.float32), sr=22050)
    with pytest.raises(AudioError, match="at least"):
        analyze(np.zeros(100, dtype=np.float32), sr=22050)


def test_sr_is_refused_for_files(make_audio) -> None:
    with pytest.raises(AudioError, match="only for arrays"):
        analyze(make_audio("a.wav"), sr=44100)


def test_missing_file_raises_audio_error(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="does not exist"):
        analyze(tmp_path / "nope.flac")


def test_unknown_feature_group_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="Unknown feature group"):
        analyze(np.zeros(22050, dtype=np.float32), sr=22050, features=["tempo"])


def test_concert_pitch_prior_reaches_the_key_and_is_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    """``concert_pitch_prior=False`` reads the key on the tuning histogram alone; the choice is a parameter of
    the result (so it gets its own files and catalog key), and a cadence 40 cents flat keeps its key either way."""
    from soundforge.analysis import tonal

    seen: list[object] = []
    real = tonal.tonal_features

    def spy(*args: object, **kwargs: object) -> tonal.TonalFeatures:
        seen.append(kwargs.get("concert_pitch_hz"))
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(tonal, "tonal_features", spy)
    y = cadence(7, "major", sr=22050, cents=-40.0)
    on = analyze(y, sr=22050, features=["tonal"])
    off = analyze(y, sr=22050, features=["tonal"], concert_pitch_prior=False)
    assert seen == [tonal.CONCERT_PITCH_HZ, None]
    assert (on.params["concert_pitch_prior"], off.params["concert_pitch_prior"]) == (True, False)
    assert (on.key_tonic, on.key_mode) == (off.key_tonic, off.key_mode) == ("G", "major")
    assert on.tuning_cents == off.tuning_cents


def test_concert_pitch_prior_must_be_a_boolean() -> None:
    with pytest.raises(InvalidArgument, match=r"concert_pitch_prior='no' is not usable; give True or False"):
        analyze(np.zeros(22050, dtype=np.float32), sr=22050, concert_pitch_prior="no")  # type: ignore[arg-type]


def test_feature_groups_pull_in_their_dependencies() -> None:
    y, _ = click_track(bpm=120, seconds=6.0)
    a = analyze(y, sr=22050, features=["descriptors"])
    assert "energy" in a.features
    assert "loudness_lufs" in a.features
    assert "tempo_bpm" in a.features
    assert a.params["features"] == ["loudness", "rhythm", "tonal", "timbre", "descriptors"]
    b = analyze(y, sr=22050, features="loudness")
    assert set(b.features) == {"duration_s", "loudness_lufs", "loudness_range_lu", "peak_dbfs"}


def test_results_do_not_depend_on_the_block_size(monkeypatch: pytest.MonkeyPatch) -> None:
    from soundforge.analysis import frontend

    y, _ = click_track(bpm=104, seconds=6.4, sr=44100, channels=2)
    y = y + 0.5 * np.tile(cadence(5, "major", sr=44100), (2, 1))[:, : y.shape[1]]
    whole = analyze(y, sr=44100)
    monkeypatch.setattr(frontend, "BLOCK_S", 0.37)         # many odd-sized blocks
    blocks = analyze(y, sr=44100)
    for name, value in whole.to_row().items():
        other = blocks.to_row()[name]
        assert other == (pytest.approx(value, rel=1e-4, abs=1e-4) if isinstance(value, float) else value), name
