"""The tempo-change benchmark builds its files from beat-annotated clips and scores every system on
them; it says so cleanly when no set is present."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import soundfile as sf

from ..analysis.synth import click_track
from .loader import load_benchmark

FIELDS = ["clip_id", "file", "tempo_bpm", "beats", "collection"]


def _bench() -> ModuleType:
    return load_benchmark("tempo_changes")


def _write_set(folder: Path) -> None:
    (folder / "audio").mkdir(parents=True)
    rows = []
    for bpm in (100.0, 125.0):
        y, times = click_track(bpm=bpm, seconds=32.0, sr=22050)
        sf.write(folder / "audio" / f"clicks{bpm:.0f}.wav", y[0], 22050)
        rows.append({"clip_id": f"gtzan_clicks{bpm:.0f}", "file": f"audio/clicks{bpm:.0f}.wav",
                     "tempo_bpm": f"{bpm}", "beats": ";".join(f"{t:.4f}" for t in times), "collection": "gtzan"})
    with (folder / "manifest.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)


def test_two_tempi_and_a_ramp_are_built_and_scored(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write_set(tmp_path / "real")
    out = tmp_path / "out.json"
    assert _bench().main([str(tmp_path / "real"), "--pairs", "1", "--ramps", "1", "--peers", "",
                          "--cache", str(tmp_path / "cache"), "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "two tempi back to back" in printed
    assert "accelerando" in printed
    result = json.loads(out.read_text())
    assert {r["kind"] for r in result["files"]} == {"pair", "ramp"}
    assert result["summary"]["pair"]["soundforge"] > 0.9      # clicks: the beats follow the second tempo
    assert result["summary"]["ramp"]["soundforge"] > 0.8
    assert len(list((tmp_path / "cache" / "tempo_changes").glob("*.wav"))) == 2


def test_the_ramp_keeps_its_beats_on_the_clicks(tmp_path: Path) -> None:
    _write_set(tmp_path / "real")
    bench = _bench()
    clip = next(c for c in bench.read_real(tmp_path / "real") if c["clip_id"] == "gtzan_clicks100")
    path, ref = bench.make_ramp(clip, folder=tmp_path)
    y, sr = sf.read(path)
    rates = np.linspace(1.0, bench.RAMP_END, int(bench.RAMP_S / bench.RAMP_PIECE_S))
    assert abs(y.size / sr - sum(bench.RAMP_PIECE_S / r for r in rates)) < 0.05
    assert np.all(np.diff(ref) > 0)
    intervals = np.diff(ref)
    assert intervals[-1] < intervals[0] / 1.25        # faster and faster
    frames = np.round(ref * sr).astype(int)            # each mapped beat lands on a click (loud within 15 ms)
    loud = [np.abs(y[max(0, f - int(0.015 * sr)):f + int(0.015 * sr)]).max() for f in frames if f < y.size]
    assert np.median(loud) > 10 * np.median(np.abs(y))


def test_says_so_when_no_set_is_present(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _bench().main([str(tmp_path), "--peers", ""]) == 0
    assert "build it first" in capsys.readouterr().out


def test_an_unknown_peer_is_refused_before_any_work(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _bench().main([str(tmp_path), "--peers", "bogus"])
    assert "unknown --peers ['bogus']" in capsys.readouterr().err
