"""The real-audio accuracy benchmark runs end to end on whatever part of its set is present, and
says so cleanly when none is (the set itself is third-party audio, rebuilt locally, never committed)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import soundfile as sf

from ..analysis.synth import cadence, click_track
from .loader import ROOT, load_benchmark

FIELDS = ["clip_id", "file", "source_repo", "commit", "source_path", "licence", "duration_s", "tempo_bpm", "beats",
          "downbeats", "beats_per_bar", "key", "collection", "tempo_source", "annotation_source"]


def _bench() -> ModuleType:
    return load_benchmark("analysis_accuracy")


def _write_set(folder: Path, *, missing: bool = False) -> None:
    (folder / "audio").mkdir(parents=True)
    sr = 22050
    y, times = click_track(bpm=120.0, seconds=12.0, sr=sr, accent_every=4)
    sf.write(folder / "audio" / "clicks.wav", y[0], sr)
    sf.write(folder / "audio" / "cadence.wav", np.tile(cadence(9, "minor", sr=sr), 2), sr)
    rows = [
        {"clip_id": "clicks", "file": "audio/clicks.wav", "tempo_bpm": "120",
         "beats": ";".join(f"{t:.4f}" for t in times),
         "downbeats": ";".join(f"{t:.4f}" for t in times[::4]), "beats_per_bar": "4", "key": "",
         "collection": "test"},
        {"clip_id": "cadence", "file": "audio/cadence.wav", "tempo_bpm": "", "beats": "", "downbeats": "",
         "beats_per_bar": "0", "key": "A minor", "collection": "test"},
    ]
    if missing:
        rows = [{**rows[0], "clip_id": "gone", "file": "audio/not-built.wav"}]
    with (folder / "manifest.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS, restval="")
        writer.writeheader()
        writer.writerows(rows)


def test_scores_a_real_format_set(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write_set(tmp_path / "real")
    out = tmp_path / "results.json"
    rc = _bench().main([str(tmp_path / "real"), "--peers", "", "--cache", str(tmp_path / "cache"), "--json", str(out),
                        "--confidence"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "real set" in printed
    assert "key_confidence >= " in printed
    assert "downbeat_confidence >= " in printed
    assert "beats out of order" in printed
    result = json.loads(out.read_text())
    assert result["summary"]["acc1"]["soundforge"] == 1.0
    assert result["summary"]["beat_f"]["soundforge"] > 0.9
    assert result["summary"]["key_mirex"]["soundforge"] == 1.0
    assert result["unordered"]["soundforge"] == 0
    assert result["summary"]["acc_two"]["soundforge"] == 1.0
    assert "tempo 1 of 2" in printed


def test_two_tempi_count_when_either_is_right() -> None:
    score = _bench().score
    ref = {"tempo": 80.0, "beats": np.zeros(0), "downbeats": np.zeros(0), "key": "", "beats_per_bar": 0}
    second = score(ref, {"tempo": 160.0, "alt_tempo": 80.0, "alt_probability": 0.25})
    assert second["acc1"] == 0.0
    assert second["acc_two"] == 1.0
    assert second["p_score"] == pytest.approx(0.25)           # McKinney et al.: the weight of the right tempo
    first = score(ref, {"tempo": 80.0, "alt_tempo": 40.0, "alt_probability": 0.25})
    assert (first["acc_two"], first["p_score"]) == (1.0, pytest.approx(0.75))
    assert "acc_two" not in score(ref, {"tempo": 80.0})         # a peer without a second tempo


def test_confidence_table_keeps_the_surer_results(capsys: pytest.CaptureFixture[str]) -> None:
    rows = [{"acc1": float(i >= 2), "tempo_confidence": i / 4} for i in range(4)] + [{"key_mirex": 1.0,
                                                                                       "key_confidence": 0.5}]
    rows += [{"downbeat_f": float(i % 2), "downbeat_confidence": i / 2} for i in range(2)]
    _bench()._confidence_table(rows)
    lines = capsys.readouterr().out.splitlines()
    tempo = [line.split() for line in lines if line.startswith("tempo_confidence >=")]
    assert [(row[2], int(row[3]), float(row[4])) for row in tempo] == [
        ("0.00", 4, 0.5), ("0.19", 3, pytest.approx(2 / 3, abs=1e-3)), ("0.38", 2, 1.0), ("0.56", 1, 1.0)]
    assert any(line.startswith("key_confidence >= 0.50") for line in lines)
    downbeat = [line.split() for line in lines if line.startswith("downbeat_confidence >=")]
    assert (downbeat[0][2], int(downbeat[0][3]), float(downbeat[0][4])) == ("0.00", 2, 0.5)
    assert (int(downbeat[-1][3]), float(downbeat[-1][4])) == (1, 1.0)


def test_says_so_when_no_clip_is_present(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write_set(tmp_path / "real", missing=True)
    assert _bench().main([str(tmp_path / "real"), "--peers", "", "--cache", ""]) == 0
    assert "No clips found" in capsys.readouterr().out


def test_unknown_peer_is_refused(tmp_path: Path) -> None:
    _write_set(tmp_path / "real")
    with pytest.raises(SystemExit):
        _bench().main([str(tmp_path / "real"), "--peers", "bogus"])


def test_the_local_real_set_when_it_is_present(tmp_path: Path) -> None:
    real = ROOT / "benchmarks" / "data" / "real"
    if not (real / "manifest.csv").exists():
        pytest.skip("the real-audio set is not built here (benchmarks/real_corpus.py builds it)")
    rc = _bench().main([str(real), "--peers", "", "--limit", "3", "--cache", str(tmp_path / "cache")])
    assert rc == 0


def test_a_file_we_cannot_analyse_is_counted_and_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from soundforge import mpeg

    _write_set(tmp_path / "real")
    sr = 22050
    sf.write(tmp_path / "whole.mp3", np.tile(cadence(9, "minor", sr=sr), 2), sr, format="MP3",
             subtype="MPEG_LAYER_III")
    data = (tmp_path / "whole.mp3").read_bytes()
    xing = mpeg._frame(data, 0)  # without its Xing frame the file declares no length; then cut mid-frame
    assert xing is not None
    (tmp_path / "real" / "audio" / "cut.mp3").write_bytes(data[xing.length: len(data) * 2 // 3 + 5])
    with (tmp_path / "real" / "manifest.csv").open("a", newline="") as fh:
        csv.DictWriter(fh, fieldnames=FIELDS, restval="").writerow(
            {"clip_id": "cut", "file": "audio/cut.mp3", "key": "A minor", "collection": "test"})
    out = tmp_path / "results.json"
    assert _bench().main([str(tmp_path / "real"), "--peers", "", "--cache", str(tmp_path / "cache"),
                          "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "soundforge failed on cut: AudioError:" in printed
    assert "ends in the middle of an MPEG frame" in printed
    assert json.loads(out.read_text())["failed"]["soundforge"] == 1
    assert "failed to analyse" in printed


def test_a_file_without_a_pulse_is_scored_not_failed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write_set(tmp_path / "real")
    sr = 22050
    t = np.arange(12 * sr) / sr
    sf.write(tmp_path / "real" / "audio" / "tone.wav", 0.3 * np.sin(2 * np.pi * 220.0 * t), sr)  # no pulse
    with (tmp_path / "real" / "manifest.csv").open("a", newline="") as fh:
        csv.DictWriter(fh, fieldnames=FIELDS, restval="").writerow(
            {"clip_id": "tone", "file": "audio/tone.wav", "collection": "test"})
    out = tmp_path / "results.json"
    assert _bench().main([str(tmp_path / "real"), "--peers", "", "--cache", str(tmp_path / "cache"),
                          "--json", str(out)]) == 0
    assert "failed on tone" not in capsys.readouterr().out
    assert json.loads(out.read_text())["failed"]["soundforge"] == 0


def test_bootstrap_says_how_far_a_difference_can_be_trusted(capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(1)
    clips = [f"c{i}" for i in range(60)]
    truth = rng.uniform(0.3, 0.9, size=60)
    results = {
        "soundforge": [{"clip_id": c, "beat_f": t + 0.1, "key_mirex": t} for c, t in zip(clips, truth, strict=True)],
        # better than the peer on every clip for beats; a coin flip on keys
        "peer": [{"clip_id": c, "beat_f": t, "key_mirex": t + (0.2 if i % 2 else -0.2)}
                 for i, (c, t) in enumerate(zip(clips, truth, strict=True))],
    }
    out = _bench()._bootstrap_table(results, ["soundforge", "peer"], resamples=2000)
    beats, keys = out["beat_f"], out["key_mirex"]
    assert beats["soundforge"]["n"] == 60
    assert beats["soundforge"]["low"] < beats["soundforge"]["mean"] < beats["soundforge"]["high"]
    assert beats["peer"]["difference"] == pytest.approx(0.1)
    assert beats["peer"]["low"] == pytest.approx(0.1)
    assert beats["peer"]["share_at_least"] == 1.0
    assert keys["peer"]["low"] < 0.0 < keys["peer"]["high"]          # an interval that straddles 0
    assert 0.2 < keys["peer"]["share_at_least"] < 0.8
    assert out == _bench()._bootstrap_table(results, ["soundforge", "peer"], resamples=2000)   # seeded: repeats
    printed = capsys.readouterr().out
    assert "bootstrap, 95 % intervals" in printed
    assert "minus peer" in printed


def test_bootstrap_runs_from_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write_set(tmp_path / "real")
    manifest = tmp_path / "real" / "manifest.csv"
    lines = manifest.read_text().splitlines()
    manifest.write_text("\n".join([*lines, lines[1].replace("clicks,", "clicks-again,", 1)]) + "\n")
    out = tmp_path / "results.json"
    assert _bench().main([str(tmp_path / "real"), "--peers", "", "--cache", str(tmp_path / "cache"),
                          "--bootstrap", "200", "--json", str(out)]) == 0
    assert "bootstrap, 95 % intervals" in capsys.readouterr().out
    tempo = json.loads(out.read_text())["bootstrap"]["acc1"]["soundforge"]
    assert (tempo["n"], tempo["mean"], tempo["low"], tempo["high"]) == (2, 1.0, 1.0, 1.0)
    with pytest.raises(SystemExit):
        _bench().main([str(tmp_path / "real"), "--peers", "", "--bootstrap", "-1"])
    assert "--bootstrap -1: give a number of resamples" in capsys.readouterr().err
