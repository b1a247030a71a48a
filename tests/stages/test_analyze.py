"""ws.analyze / ws.features / soundforge analyze: the analyze stage through the runner."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from soundforge.analysis import FEATURES, Analysis
from soundforge.analysis.analyzer import ANALYZER_VERSION
from soundforge.cli import main
from soundforge.errors import ConfigError, InvalidArgument
from soundforge.workspace import ANALYZE_COLUMNS, Workspace

from ..analysis.synth import cadence, click_track


def _song(path: Path, *, bpm: float, tonic: int, mode: str) -> Path:
    clicks, _ = click_track(bpm=bpm, seconds=6.4, sr=22050)
    music = clicks[0] + cadence(tonic, mode, sr=22050)[: clicks.shape[1]]
    sf.write(path, np.stack([music, music]).T, 22050, subtype="PCM_16")
    return path


@pytest.fixture(scope="module")
def analysed(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("analyze")
    songs = [_song(tmp / "a.wav", bpm=100, tonic=0, mode="major"), _song(tmp / "b.wav", bpm=128, tonic=9, mode="minor")]
    ws = Workspace(tmp / "ws")
    imported = ws.import_audio(songs, progress=None)
    result = ws.analyze(imported, workers=2, progress=None)
    return ws, imported, result


def test_analyze_returns_features_per_track(analysed) -> None:
    ws, imported, result = analysed
    assert list(result.columns) == list(ANALYZE_COLUMNS)
    assert result["status"].tolist() == ["done", "done"]
    by_id = result.set_index("track_id")
    ids = imported.set_index("source_path")["track_id"]
    a, b = (by_id.loc[ids[k]] for k in ids.index.sort_values())
    assert a["tempo_bpm"] == pytest.approx(100, rel=0.02)
    assert (a["key_tonic"], a["key_mode"]) == ("C", "major")
    assert b["tempo_bpm"] == pytest.approx(128, rel=0.02)
    assert (b["key_tonic"], b["key_mode"]) == ("A", "minor")
    assert a["duration_s"] == pytest.approx(6.4, abs=0.01)
    assert set(ws.jobs()["stage"]) == {"import", "analyze"}


def test_catalog_row_matches_to_row(analysed) -> None:
    ws, _, result = analysed
    rows = ws.catalog.table("analyses")
    assert len(rows) == 2
    for row in rows.itertuples():
        saved = Analysis.load(ws.storage.resolve(row.json_path), ws.storage.resolve(row.npz_path))
        assert row.features == saved.to_row()
        assert list(row.features) == [k for k in FEATURES if k in row.features]
        assert row.version == ANALYZER_VERSION
        assert row.json_path == f"analysis/{row.track_id}/{ANALYZER_VERSION}.json"
        assert row.params["features"] == ["loudness", "rhythm", "tonal", "timbre", "structure", "descriptors"]
        assert saved.series["beats"].size == saved.beat_count
        line = result.set_index("track_id").loc[row.track_id]
        for name, value in row.features.items():
            assert line[name] == (pytest.approx(value) if isinstance(value, float) else value), name
        meta = json.loads(ws.storage.resolve(row.json_path).read_text())
        assert (meta["track_id"], meta["params_hash"]) == (row.track_id, row.params_hash)


def test_features_table_is_one_row_per_track_with_scalar_columns(analysed) -> None:
    ws, _, result = analysed
    table = ws.features()
    assert len(table) == 2
    assert list(table.columns[:3]) == ["track_id", "name", "artists"]
    assert set(FEATURES) <= set(table.columns)
    assert str(table["tempo_bpm"].dtype) == "float64"
    assert str(table["beat_count"].dtype) == "Int64"
    assert str(table["key_tonic"].dtype) == "string"
    assert sorted(table["track_id"]) == sorted(result["track_id"])
    assert all(Path(p).is_file() for p in table["npz_path"])
    loaded = ws.analysis(table["track_id"].iloc[0])
    assert loaded.tempo_bpm == table["tempo_bpm"].iloc[0]


def test_done_tracks_are_skipped_and_force_redoes(analysed) -> None:
    ws, _, result = analysed
    again = ws.analyze(progress=None)
    assert again["status"].tolist() == ["skipped", "skipped"]
    assert sorted(again["tempo_bpm"]) == sorted(result["tempo_bpm"])
    one = result["track_id"].iloc[0]
    forced = ws.analyze(one, force=True, workers=1, progress=None)
    assert forced["status"].tolist() == ["done"]


def test_other_feature_sets_get_their_own_files(analysed) -> None:
    ws, _, _ = analysed
    one = ws.features()["track_id"].iloc[0]
    loud = ws.analyze([one], features=["loudness"], workers=1, progress=None)
    assert loud["status"].tolist() == ["done"]
    assert np.isnan(loud["tempo_bpm"].iloc[0])
    path = Path(loud["json_path"].iloc[0])
    assert path.name.startswith(f"{ANALYZER_VERSION}-")
    assert path.is_file()
    assert (path.parent / f"{ANALYZER_VERSION}.json").is_file()  # the full analysis is kept
    assert len(ws.catalog.table("analyses", where="track_id = ?", params=[one])) == 2


def test_without_the_concert_pitch_prior_is_a_parameter_set_of_its_own(analysed) -> None:
    ws, _, _ = analysed
    one = ws.features()["track_id"].iloc[0]
    plain = ws.analyze([one], features=["tonal"], concert_pitch_prior=False, workers=1, progress=None)
    assert plain["status"].tolist() == ["done"]
    path = Path(plain["json_path"].iloc[0])
    assert path.name.startswith(f"{ANALYZER_VERSION}-")
    assert json.loads(path.read_text())["params"]["concert_pitch_prior"] is False
    rows = ws.catalog.table("analyses", where="track_id = ?", params=[one])
    assert sorted(bool(p["concert_pitch_prior"]) for p in rows["params"]) == [False] + [True] * (len(rows) - 1)
    again = ws.analyze([one], features=["tonal"], concert_pitch_prior=False, workers=1, progress=None)
    assert again["status"].tolist() == ["skipped"]
    assert ws.analysis(one).params["concert_pitch_prior"] is True      # the default analysis is the one shown
    with pytest.raises(InvalidArgument, match=r"ws.analyze: concert_pitch_prior=0 is not usable; give True or False"):
        ws.analyze([one], concert_pitch_prior=0, progress=None)


def test_missing_files_are_analysed_again(analysed) -> None:
    ws, _, _ = analysed
    row = ws.catalog.table("analyses", where=f"version = '{ANALYZER_VERSION}'").iloc[0]
    ws.storage.resolve(row["npz_path"]).unlink()
    again = ws.analyze(row["track_id"], workers=1, progress=None)
    assert again["status"].tolist() == ["done"]
    assert ws.storage.resolve(row["npz_path"]).is_file()


def test_bad_audio_fails_its_row_only(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    good = _song(tmp_path / "good.wav", bpm=110, tonic=2, mode="major")
    bad = _song(tmp_path / "bad.wav", bpm=90, tonic=4, mode="minor")
    imported = ws.import_audio([good, bad], progress=None)
    stored = Path(imported.set_index("source_path").loc[str(bad), "path"])
    stored.write_bytes(stored.read_bytes()[:200])              # damaged after import
    result = ws.analyze(workers=1, progress=None).set_index("track_id")
    statuses = sorted(result["status"])
    assert statuses == ["done", "failed"]
    failed = result[result["status"] == "failed"]
    assert failed["error"].iloc[0].startswith("AudioError")
    assert ws.catalog.table("analyses")["track_id"].tolist() == [t for t in result.index if t not in failed.index]


def test_tracks_without_audio_are_refused(tmp_path: Path) -> None:
    from soundforge.catalog import utcnow
    from soundforge.errors import TrackNotFound

    ws = Workspace(tmp_path / "ws")
    with pytest.raises(TrackNotFound, match=r"Unknown track id\(s\) in the workspace .*: local-0123456789abcdef\."):
        ws.analyze(["local-0123456789abcdef"], progress=None)
    with ws.catalog.transaction() as conn:  # a fetched Spotify track: known, no audio yet
        conn.execute("INSERT INTO tracks (track_id, source, name, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
                     ("4uLU6hMCjMI75M1A2tKUQC", "spotify", "Song", utcnow(), utcnow()))
    with pytest.raises(ConfigError, match="no audio in this workspace"):
        ws.analyze(["4uLU6hMCjMI75M1A2tKUQC"], progress=None)
    assert len(ws.analyze(progress=None)) == 0
    assert len(ws.features()) == 0
    assert set(FEATURES) <= set(ws.features().columns)


def test_cli_analyze(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = str(tmp_path / "ws")
    assert main(["--root", root, "analyze"]) == 0
    assert "Nothing to analyse" in capsys.readouterr().out
    song = _song(tmp_path / "s.wav", bpm=120, tonic=7, mode="major")
    assert main(["--root", root, "import", str(song)]) == 0
    assert main(["--root", root, "analyze", "--workers", "1", "--features", "rhythm,tonal"]) == 0
    out = capsys.readouterr().out
    assert "1 analysed, 0 already analysed, 0 failed" in out
    assert " G " in out
    assert "major" in out
    assert main(["--root", root, "analyze", "--features", "tempo"]) == 1
    assert "Unknown feature group" in capsys.readouterr().err
    assert main(["--root", root, "analyze", "--workers", "1", "--features", "tonal", "--no-concert-pitch-prior"]) == 0
    assert "1 analysed, 0 already analysed, 0 failed" in capsys.readouterr().out
    ws = Workspace(root)
    assert sorted(p["concert_pitch_prior"] for p in ws.catalog.table("analyses")["params"]) == [False, True]
