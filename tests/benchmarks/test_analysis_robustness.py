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
