"""The key-variant benchmark scores every estimator on a set, detuned or not."""

from __future__ import annotations

import csv
from pathlib import Path
from types import ModuleType

import pytest
import soundfile as sf

from ..analysis.synth import cadence
from .loader import load_benchmark


def _bench() -> ModuleType:
    return load_benchmark("key_variants")


def _write_set(folder: Path) -> None:
    (folder / "audio").mkdir(parents=True)
    sf.write(folder / "audio" / "g_major.wav", cadence(7, "major", repeats=3), 22050)
    with (folder / "manifest.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["clip_id", "file", "tempo_bpm", "beats", "key", "collection"])
        writer.writeheader()
        writer.writerow({"clip_id": "g_major", "file": "audio/g_major.wav", "tempo_bpm": "", "beats": "",
                         "key": "G major", "collection": "test"})


@pytest.mark.parametrize("detune", ["0", "-30", "35"])
def test_scores_each_variant_in_tune_and_detuned(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                detune: str) -> None:
    _write_set(tmp_path / "real")
    rc = _bench().main([str(tmp_path / "real"), "--cache", str(tmp_path / "cache"), "--detune", detune])
    assert rc == 0
    lines = capsys.readouterr().out.splitlines()
    header = lines[0].split()
    row = dict(zip(header[2:], (float(v) for v in next(line for line in lines if line.startswith("all")).split()[2:]),
                   strict=True))
    assert set(row) == set(_bench().VARIANTS)
    # a cadence 30 cents flat or 35 sharp is still G major once the tuning is measured; at 440 Hz it need not be
    assert row["hpcp"] == 1.0
    assert row["hpcp-tuned"] == 1.0
