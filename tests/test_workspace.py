from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from soundforge.workspace import IMPORT_COLUMNS, Workspace

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def library(tmp_path: Path, make_audio, bad_files) -> Path:
    """A folder with good files in five formats and every kind of bad file."""
    lib = tmp_path / "library"
    for i, ext in enumerate(["wav", "flac", "ogg", "mp3", "m4a"]):
        make_audio(f"good_{ext}.{ext}", seconds=1.0, freq=300 + 50 * i, folder=lib / "good")
    shutil.copytree(bad_files["empty"].parent, lib / "bad")
    (lib / "cover.jpg").write_bytes(b"\xff\xd8 not audio, and not picked up from a folder")
    return lib


def test_import_folder_good_and_bad(tmp_path: Path, library: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    result = ws.import_audio(library)
    assert list(result.columns) == list(IMPORT_COLUMNS)
    assert len(result) == 10  # cover.jpg is not an audio extension
    by_name = {Path(p).name: row for p, row in zip(result["source_path"], result.to_dict("records"), strict=True)}
    for ext in ["wav", "flac", "ogg", "mp3", "m4a"]:
        row = by_name[f"good_{ext}.{ext}"]
        assert row["status"] == "done", row["error"]
        assert row["track_id"].startswith("local-")
        assert Path(row["path"]).is_file()
        assert Path(row["path"]).parent == ws.root / "downloads"
        assert row["channels"] == 2
    expected_errors = {
        "empty.wav": "is empty",
        "truncated.flac": "truncated",
        "notes.mp3": "not a readable audio file",
        "nan.wav": "NaN",
        "zero.wav": "zero frames",
    }
    for name, fragment in expected_errors.items():
        row = by_name[name]
        assert row["status"] == "failed"
        assert fragment in row["error"]
        assert name in row["error"]
    # catalog: exactly the good files, each with its audio row and file on disk
    tracks, audio = ws.tracks(), ws.audio()
    assert len(tracks) == len(audio) == 5
    assert set(tracks["track_id"]) == set(audio["track_id"])
    assert all(Path(p).is_file() for p in audio["path"])
    assert ws.stats().set_index("area").loc["downloads", "files"] == 5
    assert list((ws.root / "tmp").iterdir()) == []


def test_reimport_is_skipped_and_never_duplicated(tmp_path: Path, make_audio) -> None:
    src = make_audio("song.flac", seconds=1.0)
    copy = tmp_path / "copy-of-song.flac"
    shutil.copy(src, copy)
    ws = Workspace(tmp_path / "ws")
    first = ws.import_audio([src])
    second = ws.import_audio([src, copy])
    assert first["status"].tolist() == ["done"]
    assert second["status"].tolist() == ["skipped", "skipped"]
    assert second["track_id"].nunique() == 1
    assert len(ws.tracks()) == 1
    forced = ws.import_audio([src], force=True)
    assert forced["status"].tolist() == ["done"]
    assert len(ws.audio()) == 1


def test_missing_paths_and_globs_become_failed_rows(tmp_path: Path, make_audio) -> None:
    make_audio("a.wav", folder=tmp_path / "in")
    ws = Workspace(tmp_path / "ws")
    result = ws.import_audio([str(tmp_path / "in" / "*.wav"), tmp_path / "missing.flac", str(tmp_path / "*.nomatch")])
    assert result["status"].tolist() == ["done", "failed", "failed"]
    assert "does not exist" in result["error"].iloc[1]


def test_too_long_files_fail_cleanly(tmp_path: Path, make_audio) -> None:
    ws = Workspace(tmp_path / "ws", max_audio_s=0.5)
    result = ws.import_audio([make_audio("a.flac", seconds=1.0)])
    assert result["status"].item() == "failed"
    assert "over the limit" in result["error"].item()
    assert ws.tracks().empty


def test_workspace_root_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOUNDFORGE_HOME", str(tmp_path / "home"))
    ws = Workspace()
    assert ws.root == (tmp_path / "home").resolve()
    assert (ws.root / "catalog.sqlite").exists()


def test_export(tmp_path: Path, make_audio) -> None:
    ws = Workspace(tmp_path / "ws")
    ws.import_audio([make_audio("a.wav")])
    written = ws.export(tmp_path / "parquet")
    assert written["audio"].exists()


_IMPORTER = """
import sys
from soundforge.workspace import Workspace
ws = Workspace(sys.argv[1])
result = ws.import_audio(sys.argv[2:])
bad = result[result.status == "failed"]
if len(bad):
    print(bad.error.tolist(), file=sys.stderr)
    sys.exit(1)
"""


def test_two_processes_importing_at_once(tmp_path: Path, make_audio) -> None:
    files = [make_audio(f"f{i:02d}.wav", seconds=0.3, freq=200 + 10 * i, folder=tmp_path / "in") for i in range(24)]
    ws_root = tmp_path / "ws"
    Workspace(ws_root)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    # both processes import overlapping halves, in opposite orders
    a = [str(f) for f in files[:16]]
    b = [str(f) for f in reversed(files[8:])]
    procs = [subprocess.Popen([sys.executable, "-c", _IMPORTER, str(ws_root), *args], env=env,
                              stderr=subprocess.PIPE, text=True) for args in (a, b)]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert "locked" not in err
    ws = Workspace(ws_root)
    assert len(ws.tracks()) == 24
    assert len(ws.audio()) == 24
    assert ws.stats().set_index("area").loc["downloads", "files"] == 24
