"""The robustness benchmark runs end to end on a set in either format and says so when none is present."""

from __future__ import annotations

import csv
from pathlib import Path
from types import ModuleType

import pytest
import soundfile as sf

from ..analysis.synth import click_track
from .loader import load_benchmark


def _bench() -> ModuleType:
    return load_benchmark("analysis_robustness")


def _write_set(folder: Path) -> None:
    (folder / "audio").mkdir(parents=True)
    y, times = click_track(bpm=120.0, seconds=12.0, sr=22050, accent_every=4)
    sf.write(folder / "audio" / "clicks.wav", y[0], 22050)
    with (folder / "manifest.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["clip_id", "file", "tempo_bpm", "beats", "key", "collection"])
        writer.writeheader()
        writer.writerow({"clip_id": "clicks", "file": "audio/clicks.wav", "tempo_bpm": "120",
                         "beats": ";".join(f"{t:.4f}" for t in times), "key": "", "collection": "test"})


def test_measures_each_transform_against_the_original(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write_set(tmp_path / "real")
    rc = _bench().main([str(tmp_path / "real"), "--peers", "", "--cache", str(tmp_path / "cache"),
                        "--transforms", "trim,silence_1s,gain_-40dB"])
    assert rc == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.split()[:1] in
            (["trim"], ["silence_1s"], ["gain_-40dB"])}
    # a click track keeps its tempo and its beats behind a second of silence and 40 dB quieter
    tempo, _key, beats = (float(v) for v in rows["silence_1s"])
    assert (tempo, beats) == (1.0, pytest.approx(1.0))
    assert float(rows["gain_-40dB"][0]) == 1.0
    written = sorted(p.name for p in (tmp_path / "cache" / "robustness").glob("*.flac"))
    assert len(written) == 4          # the original and the three transforms, none left half-written
    suffixes = {name.rsplit("-", 1)[-1] for name in written}
    assert suffixes == {"original.flac", "trim.flac", "silence_1s.flac", "40dB.flac"}


def test_says_so_when_no_clip_is_present(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _bench().main([str(tmp_path), "--peers", ""]) == 0
    assert "No clips found" in capsys.readouterr().out


def test_unknown_transform_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        _bench().main([str(tmp_path), "--transforms", "reverse"])


def test_help_lists_the_transforms(capsys: pytest.CaptureFixture[str]) -> None:
    """``--help`` prints (a transform named with a per cent sign once crashed argparse's formatting)."""
    with pytest.raises(SystemExit) as exit_info:
        _bench().main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert all(name in out.replace("\n", " ").replace(" ", "") for name in _bench().TRANSFORMS)


def test_degradations_of_real_recordings_do_what_they_say() -> None:
    import numpy as np

    bench = _bench()
    rng = np.random.default_rng(0)
    y = (0.3 * np.sin(2 * np.pi * 440.0 * np.arange(22050 * 2) / 22050)).astype(np.float32)
    y[::5000] += 0.5 * rng.standard_normal(y[::5000].size).astype(np.float32)
    clipped, sr, shift = bench.TRANSFORMS["clip_+12dB"][1](y, 22050)
    assert (sr, shift) == (22050, 0.0)
    assert np.abs(clipped).max() == pytest.approx(1.0)
    assert np.mean(np.abs(clipped) >= 0.999) > 0.1                      # a loudness-war master: clipped often
    phone, sr, _ = bench.TRANSFORMS["phone_8k"][1](y, 22050)
    assert sr == 8000
    assert phone.size == pytest.approx(y.size * 8000 / 22050, abs=2)
    spectrum = np.abs(np.fft.rfft(phone)) ** 2
    freqs = np.fft.rfftfreq(phone.size, 1 / 8000)
    assert spectrum[freqs < 150].sum() < 1e-3 * spectrum.sum()          # no bass below the telephone band
    noisy, sr, _ = bench.TRANSFORMS["noise_20dB"][1](y, 22050)
    snr = 10 * np.log10(np.mean(y.astype(float) ** 2) / np.mean((noisy - y).astype(float) ** 2))
    assert snr == pytest.approx(20.0, abs=0.1)
    wet, sr, _ = bench.TRANSFORMS["reverb_2s"][1](y, 22050)
    assert wet.size == y.size
    assert np.abs(wet).max() == pytest.approx(np.abs(y).max(), rel=1e-4)
    assert not np.allclose(wet, y)
