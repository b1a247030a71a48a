"""The download stage and ``Workspace.download``, against the stub spotdl (tests/download/fake_spotdl.py)."""

from __future__ import annotations

import functools
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import pytest

from soundforge.catalog import utcnow
from soundforge.errors import ConfigError, DownloaderNotFound, InvalidIdError, NoMatch
from soundforge.progress import ProgressEvent
from soundforge.runner import run_stage
from soundforge.runner.resilience import BreakerBoard, RetryPolicy
from soundforge.stages import download as stage
from soundforge.workspace import DOWNLOAD_COLUMNS, Workspace

from ..download.conftest import FakeSpotdl, gone, track_row
from ..download.conftest import fake_spotdl as fake_spotdl  # the stub fixture, shared with tests/download

IDS = ["4uLU6hMCjMI75M1A2tKUQC", "1uLU6hMCjMI75M1A2tKUQC", "2uLU6hMCjMI75M1A2tKUQC", "3uLU6hMCjMI75M1A2tKUQC"]
FAST = RetryPolicy(attempts=stage.DOWNLOAD.max_attempts, initial_s=0.01, jitter_s=0.0)


def fetched(ws: Workspace, ids: list[str]) -> None:
    """Put tracks in the catalog as ws.fetch does."""
    now = utcnow()
    with ws.catalog.transaction() as conn:
        for n, track_id in enumerate(ids):
            row = {**track_row(track_id, name=f"Song {n}"), "fetched_at": now, "created_at": now, "updated_at": now}
            ws.catalog.upsert(conn, "tracks", row, key=["track_id"])


@pytest.fixture
def ws(tmp_path: Path, fake_spotdl: FakeSpotdl) -> Workspace:
    return Workspace(tmp_path / "ws")


def run(ws: Workspace, ids: list[str], *, retry: RetryPolicy = FAST, **kwargs: Any) -> Any:
    """The stage through the runner with fast retries (what ws.download does, minus the backoff delays)."""
    items = stage.download_items(ids, catalog=ws.catalog, storage=ws.storage, settings=ws.settings, format="mp3",
                                 bitrate="320k", force=False)
    return run_stage(stage.DOWNLOAD, items, catalog=ws.catalog, params={"format": "mp3", "bitrate": "320k"},
                     progress=None, retry=retry, record=stage.record_download,
                     existing=functools.partial(stage.existing_download, ws.catalog, ws.storage), **kwargs)


def test_download_records_audio_and_jobs(ws: Workspace, fake_spotdl: FakeSpotdl) -> None:
    fetched(ws, IDS[:2])
    fake_spotdl.mode("slow", delay="0.1")  # spaced lines: the runner coalesces reports closer than 50 ms
    events: list[ProgressEvent] = []
    df = ws.download(ws.tracks(), progress=events.append)
    assert list(df.columns) == list(DOWNLOAD_COLUMNS)
    assert sorted(df["track_id"]) == sorted(IDS[:2])
    assert df["status"].tolist() == ["done", "done"]
    assert df["attempts"].tolist() == [1, 1]
    assert df["format"].tolist() == ["mp3", "mp3"]
    assert df["duration_s"].round(1).tolist() == [3.0, 3.0]
    assert df["size_bytes"].tolist() == [Path(p).stat().st_size for p in df["path"]]
    audio = ws.audio().set_index("track_id")
    for track_id, path in zip(df["track_id"], df["path"], strict=True):
        assert Path(path) == ws.root / "downloads" / f"{track_id}.mp3"
        assert audio.loc[track_id, "origin"] == "spotdl"
        assert audio.loc[track_id, "source_path"] == "https://music.youtube.com/watch?v=dQw4w9WgXcQ"
        assert audio.loc[track_id, "sha256"] == hashlib.sha256(Path(path).read_bytes()).hexdigest()
    jobs = ws.jobs()
    assert set(jobs["stage"]) == {"download"}
    assert set(jobs["status"]) == {"done"}
    assert any(e.kind == "item_progress" and e.message == "Downloading" for e in events)
    assert len(fake_spotdl.calls()) == 2
    assert {c["songs"][0]["name"] for c in fake_spotdl.calls()} == {"Song 0", "Song 1"}  # the catalog's metadata


def test_tracks_with_audio_are_skipped_without_running_spotdl(ws: Workspace, fake_spotdl: FakeSpotdl,
                                                              make_audio: Any) -> None:
    fetched(ws, IDS[:2])
    ws.download(IDS[:1], progress=None)
    imported = ws.import_audio([make_audio("mine.wav", seconds=0.5)], progress=None)
    calls = len(fake_spotdl.calls())
    again = ws.download(ws.tracks(), progress=None).set_index("track_id")
    assert again.loc[IDS[0], "status"] == "skipped"  # downloaded before: decided from the jobs table
    assert again.loc[IDS[0], "attempts"] == 0
    assert again.loc[IDS[0], "path"] == str(ws.root / "downloads" / f"{IDS[0]}.mp3")
    local_id = imported["track_id"].item()
    assert again.loc[local_id, "status"] == "skipped"  # imported audio counts as audio
    assert again.loc[local_id, "format"] == "wav"
    assert again.loc[IDS[1], "status"] == "done"
    assert len(fake_spotdl.calls()) == calls + 1
    assert len(ws.download(progress=None)) == 0  # nothing left without audio


def test_default_is_every_spotify_track_without_audio(ws: Workspace, fake_spotdl: FakeSpotdl) -> None:
    fetched(ws, IDS[:3])
    first = ws.download(IDS[:1], progress=None)
    assert stage.tracks_without_audio(ws.catalog, ws.storage) == IDS[1:3]
    Path(first["path"].item()).unlink()  # a lost file counts as missing audio
    df = ws.download(progress=None)
    assert sorted(df["track_id"]) == sorted(IDS[:3])
    assert set(df["status"]) == {"done"}


def test_only_transient_failures_are_retried_up_to_three_attempts(ws: Workspace, fake_spotdl: FakeSpotdl) -> None:
    fetched(ws, IDS)
    fake_spotdl.modes({IDS[0]: "flaky", IDS[1]: "provider_error", IDS[2]: "nomatch", IDS[3]: "truncated"})
    fake_spotdl.mode("success", fails="2")
    df = run(ws, IDS, breakers=BreakerBoard(threshold=100)).set_index("track_id")  # breaker: see the next test
    assert stage.DOWNLOAD.max_attempts == 3
    assert (df.loc[IDS[0], "status"], df.loc[IDS[0], "attempts"]) == ("done", 3)  # failed twice, then worked
    assert (df.loc[IDS[1], "status"], df.loc[IDS[1], "attempts"]) == ("failed", 3)
    assert df.loc[IDS[1], "error"].startswith("DownloadUnavailable: ")
    assert (df.loc[IDS[2], "status"], df.loc[IDS[2], "attempts"]) == ("failed", 1)  # no match: not retried
    assert df.loc[IDS[2], "error"].startswith("NoMatch: ")
    assert (df.loc[IDS[3], "status"], df.loc[IDS[3], "attempts"]) == ("failed", 3)
    assert "truncated" in df.loc[IDS[3], "error"]
    assert sorted(ws.audio()["track_id"]) == [IDS[0]]
    assert sorted(p.name for p in (ws.root / "downloads").iterdir()) == [f"{IDS[0]}.mp3"]


def test_spotdl_breaker_opens_after_repeated_transient_failures(ws: Workspace, fake_spotdl: FakeSpotdl) -> None:
    fetched(ws, IDS)
    fake_spotdl.mode("network")
    df = run(ws, IDS, retry=RetryPolicy(attempts=1), workers=1, breakers=BreakerBoard(threshold=2))
    assert df["status"].tolist() == ["failed"] * 4
    errors = df["error"].tolist()
    assert all(e.startswith("DownloadUnavailable: ") for e in errors[:2])
    assert all(e.startswith("CircuitOpen: ") and "spotdl" in e for e in errors[2:])
    assert len(fake_spotdl.calls()) == 2  # the open breaker kept spotdl from running again


def test_timeout_kills_spotdl_and_its_children(ws: Workspace, fake_spotdl: FakeSpotdl) -> None:
    fetched(ws, IDS[:1])
    fake_spotdl.mode("hang")
    started = time.monotonic()
    df = run(ws, IDS[:1], retry=RetryPolicy(attempts=2, initial_s=0.01, jitter_s=0.0), timeout=1.5)
    assert time.monotonic() - started < 15
    assert (df["status"].item(), df["attempts"].item()) == ("failed", 2)  # a timeout is worth one more try
    assert df["error"].item().startswith("ItemTimeout: ")
    pids = json.loads(fake_spotdl.pids.read_text())
    deadline = time.monotonic() + 5
    assert gone(pids["spotdl"])
    assert gone(pids["grandchild"])
    while any((ws.root / "tmp").iterdir()) and time.monotonic() < deadline:  # the abandoned thread cleans up
        time.sleep(0.05)
    assert list((ws.root / "tmp").iterdir()) == []
    assert list((ws.root / "downloads").iterdir()) == []


def test_force_downloads_again_and_replaces_the_old_file(ws: Workspace, fake_spotdl: FakeSpotdl) -> None:
    fetched(ws, IDS[:1])
    mp3 = Path(ws.download(IDS[:1], progress=None)["path"].item())
    df = ws.download(IDS[:1], format="flac", force=True, progress=None)
    assert df["status"].item() == "done"
    assert Path(df["path"].item()).name == f"{IDS[0]}.flac"
    assert not mp3.exists()
    assert ws.audio()["format"].tolist() == ["flac"]
    assert fake_spotdl.calls()[-1]["argv"][fake_spotdl.calls()[-1]["argv"].index("--bitrate") + 1] == "disable"


def test_ids_missing_from_the_catalog_get_a_track_row(ws: Workspace, fake_spotdl: FakeSpotdl) -> None:
    df = ws.download(IDS[3], progress=None)
    assert df["status"].item() == "done"
    assert fake_spotdl.calls()[-1]["query"] == [f"https://open.spotify.com/track/{IDS[3]}"]
    tracks = ws.tracks()
    assert tracks["track_id"].tolist() == [IDS[3]]
    assert tracks["source"].item() == "spotify"
    assert ws.audio()["track_id"].tolist() == [IDS[3]]


def test_a_dataframe_row_not_in_the_catalog_supplies_metadata(ws: Workspace, fake_spotdl: FakeSpotdl) -> None:
    import pandas as pd

    df = pd.DataFrame([track_row(IDS[2], name="Handmade")])
    assert ws.download(df, progress=None)["status"].item() == "done"
    assert fake_spotdl.calls()[-1]["songs"][0]["name"] == "Handmade"
    track = ws.tracks().iloc[0]
    assert (track["name"], list(track["artists"])) == ("Handmade", ["Rick Stub", "Guest"])


def test_validation_and_missing_tools_fail_before_anything_runs(ws: Workspace, fake_spotdl: FakeSpotdl,
                                                                tmp_path: Path) -> None:
    import pandas as pd

    fetched(ws, IDS[:1])
    with pytest.raises(ConfigError, match="Unsupported download format 'mp4'"):
        ws.download(IDS[:1], format="mp4")
    with pytest.raises(ConfigError, match="no 'track_id' column"):
        ws.download(pd.DataFrame({"id": IDS[:1]}))
    with pytest.raises(InvalidIdError, match=r"Invalid track id '\.\./etc'"):
        ws.download(["../etc"])
    no_spotdl = Workspace(ws.root, spotdl=str(tmp_path / "missing" / "spotdl"))
    with pytest.raises(DownloaderNotFound, match=r"pip install 'soundforge\[download\]'"):
        no_spotdl.download(progress=None)
    assert len(ws.jobs()) == 0
    assert fake_spotdl.calls() == []


def test_missing_ffmpeg_is_reported_before_anything_runs(ws: Workspace, fake_spotdl: FakeSpotdl, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    fetched(ws, IDS[:1])
    monkeypatch.setenv("PATH", str(fake_spotdl.path.parent))  # spotdl, but no ffmpeg
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # nor spotdl's own copy
    with pytest.raises(DownloaderNotFound, match=r"ffmpeg was not found on PATH.*apt-get install ffmpeg"):
        ws.download(progress=None)
    assert fake_spotdl.calls() == []


def test_errors_raise_stops_at_the_first_final_failure(ws: Workspace, fake_spotdl: FakeSpotdl) -> None:
    fetched(ws, IDS[:1])
    fake_spotdl.mode("nomatch")
    with pytest.raises(NoMatch, match="No results found for song: Rick Stub - Song 0"):
        ws.download(IDS[:1], progress=None, errors="raise")

