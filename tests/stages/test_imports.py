from __future__ import annotations

import os
from pathlib import Path

import pytest

from soundforge.errors import AudioError
from soundforge.progress import ProgressEvent
from soundforge.workspace import IMPORT_COLUMNS, Workspace


def test_import_goes_through_the_runner_with_jobs_rows(tmp_path: Path, make_audio) -> None:
    files = [make_audio(f"a{i}.wav", seconds=0.3, freq=300 + 40 * i) for i in range(3)]
    ws = Workspace(tmp_path / "ws")
    events: list[ProgressEvent] = []
    df = ws.import_audio(files, workers=2, progress=events.append)
    assert list(df.columns) == list(IMPORT_COLUMNS)
    assert df["status"].tolist() == ["done"] * 3
    assert df["attempts"].tolist() == [1, 1, 1]
    assert df["duration_s"].round(2).tolist() == [0.3, 0.3, 0.3]
    jobs = ws.jobs()
    assert sorted(jobs["item"]) == sorted(str(f) for f in files)
    assert set(jobs["stage"]) == {"import"}
    assert set(jobs["status"]) == {"done"}
    assert next(e.kind for e in events if e.kind != "tick") == "start"
    assert any(e.kind == "item_progress" and e.message == "validating" for e in events)


def test_unchanged_files_are_skipped_without_work_and_changed_ones_redone(tmp_path: Path, make_audio) -> None:
    a = make_audio("a.wav", seconds=0.3)
    b = make_audio("b.wav", seconds=0.3, freq=600)
    ws = Workspace(tmp_path / "ws")
    ws.import_audio([a, b], progress=None)
    again = ws.import_audio([a, b], progress=None)
    assert again["status"].tolist() == ["skipped", "skipped"]
    assert again["attempts"].tolist() == [0, 0]  # decided from the jobs table: no hashing, no decoding
    assert again["track_id"].notna().all()
    assert len(ws.jobs()) == 2
    make_audio("a.wav", seconds=0.5, freq=900)  # same path, new content
    os.utime(a, ns=(a.stat().st_atime_ns, a.stat().st_mtime_ns + 10**9))
    changed = ws.import_audio([a, b], progress=None)
    assert changed["status"].tolist() == ["done", "skipped"]
    assert changed["duration_s"].iloc[0] == pytest.approx(0.5, abs=0.01)
    assert len(ws.tracks()) == 3


def test_missing_managed_file_is_imported_again(tmp_path: Path, make_audio) -> None:
    a = make_audio("a.flac", seconds=0.3)
    ws = Workspace(tmp_path / "ws")
    first = ws.import_audio([a], progress=None)
    Path(first["path"].item()).unlink()
    again = ws.import_audio([a], progress=None)
    assert again["status"].tolist() == ["done"]
    assert Path(again["path"].item()).is_file()


def test_errors_raise(tmp_path: Path, make_audio, bad_files) -> None:
    ws = Workspace(tmp_path / "ws")
    with pytest.raises(AudioError, match="is empty"):
        ws.import_audio([bad_files["empty"]], errors="raise", progress=None)
