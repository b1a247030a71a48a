"""The dsp backend: stems that add up to the mix, better than the mixture baseline, any rate/channels/length."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from soundforge.errors import AudioError, ConfigError
from soundforge.separation import separate
from soundforge.separation.dsp import DSP_STEMS, DspSeparator, separate_array


def _sdr(ref: np.ndarray, est: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(ref.astype(np.float64) ** 2) / np.sum((ref - est).astype(np.float64) ** 2)))


def _read(path: Path) -> np.ndarray:
    return sf.read(path, dtype="float32", always_2d=True)[0].T


def test_stems_sum_to_the_mix_and_beat_the_mixture_baseline(write_mix: Callable[..., tuple],
                                                            tmp_path: Path) -> None:
    path, bass, drums = write_mix("mix.wav", seconds=6.0)
    progress: list[float] = []
    paths = separate(path, model="dsp", out_dir=tmp_path / "stems", progress=progress.append)
    assert list(paths) == list(DSP_STEMS)
    stems = {name: _read(p) for name, p in paths.items()}
    mix = bass + drums
    for s in stems.values():
        assert s.shape == mix.shape
    np.testing.assert_allclose(sum(stems.values()), mix, atol=1e-4)
    # the mixture baseline gives each of the two sources half of the mix
    baseline = {"bass": _sdr(bass, mix / 2), "drums": _sdr(drums, mix / 2)}
    got = {"bass": _sdr(bass, stems["bass"]), "drums": _sdr(drums, stems["drums"])}
    assert got["bass"] > baseline["bass"] + 3, (got, baseline)
    assert got["drums"] > baseline["drums"] + 3, (got, baseline)
    assert progress[0] == 0
    assert progress[-1] == 100
    assert progress == sorted(progress)


def test_long_input_is_chunked_without_seams(write_mix: Callable[..., tuple], tmp_path: Path) -> None:
    path, _, _ = write_mix("mix.flac", seconds=23.0, channels=1, sr=22050)
    progress: list[float] = []
    paths = separate(path, model="dsp", out_dir=tmp_path / "stems", chunk_s=10, progress=progress.append)
    stems = {name: sf.read(p, dtype="float32", always_2d=True) for name, p in paths.items()}
    mix = _read(path)
    for data, sr in stems.values():
        assert sr == 22050
        assert data.shape == (mix.shape[1], 1)
    np.testing.assert_allclose(sum(d.T for d, _ in stems.values()), mix, atol=1e-4)
    # the chunked result matches separating the whole signal at once, away from nothing in particular
    whole = separate_array(mix, 22050)
    assert _sdr(whole["bass"], stems["bass"][0].T) > 15
    assert len([p for p in progress if 0 < p < 100]) == 3  # one report per chunk


def test_multichannel_and_silence(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    x = (0.1 * rng.standard_normal((48000 * 3, 3))).astype(np.float32)
    x[:48000] = 0.0
    path = tmp_path / "three.wav"
    sf.write(path, x, 48000, subtype="FLOAT")
    paths = separate(path, model="dsp", out_dir=tmp_path / "out")
    total = sum(sf.read(p, dtype="float32", always_2d=True)[0] for p in paths.values())
    assert total.shape == x.shape
    np.testing.assert_allclose(total, x, atol=1e-4)
    short = separate_array(np.ones((2, 100), np.float32), 44100)  # shorter than one STFT window
    np.testing.assert_array_equal(short["other"], np.ones((2, 100)))


def test_bad_audio_raises_audio_error(bad_files: dict[str, Path], tmp_path: Path) -> None:
    for kind, path in bad_files.items():
        with pytest.raises(AudioError):
            separate(path, model="dsp", out_dir=tmp_path / kind)
        assert not list((tmp_path / kind).glob("*.flac")) if (tmp_path / kind).exists() else True
    with pytest.raises(AudioError, match=r"not found|does not exist|missing"):
        separate(tmp_path / "nope.wav", model="dsp", out_dir=tmp_path / "n")


def test_options_are_validated_before_work(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Unknown option"):
        separate(tmp_path / "missing.wav", model="dsp", out_dir=tmp_path, shifts=2)
    with pytest.raises(ConfigError, match="chunk_s"):
        separate(tmp_path / "missing.wav", model="dsp", out_dir=tmp_path, chunk_s=1)
    with pytest.raises(ConfigError, match="device"):
        separate(tmp_path / "missing.wav", model="dsp", out_dir=tmp_path, device="cuda")
    opts = DspSeparator().options("dsp", repetition=0.0)
    assert opts["repetition"] == 0.0
    assert opts["chunk_s"] == 30.0
