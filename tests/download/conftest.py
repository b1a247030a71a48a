"""Fixtures for the download tests: a stub ``spotdl`` executable first on PATH, workspaces, track rows."""

from __future__ import annotations

import json
import os
import stat
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from soundforge.config import Settings, load_settings
from soundforge.storage import Storage

STUB_SOURCE = Path(__file__).with_name("fake_spotdl.py")


@dataclass
class FakeSpotdl:
    """Handle on the stub: where it is, its call log, and switches for its behaviour."""

    path: Path
    log: Path
    pids: Path
    monkeypatch: pytest.MonkeyPatch

    def mode(self, mode: str, **env: str) -> None:
        """Make every song behave as ``mode`` (see fake_spotdl.py); extra ``FAKE_SPOTDL_*`` settings."""
        self.monkeypatch.setenv("FAKE_SPOTDL_MODE", mode)
        for name, value in env.items():
            self.monkeypatch.setenv(f"FAKE_SPOTDL_{name.upper()}", value)

    def modes(self, by_song: dict[str, str]) -> None:
        """Choose a mode per song id."""
        self.monkeypatch.setenv("FAKE_SPOTDL_MODES", json.dumps(by_song))

    def calls(self) -> list[dict[str, Any]]:
        """One record per stub run: argv, cwd, pid/pgid/sid, COLUMNS, the song file's content."""
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]


@pytest.fixture
def fake_spotdl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeSpotdl:
    """Install the stub as ``tmp_path/bin/spotdl``, first on PATH and in ``SOUNDFORGE_SPOTDL``."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "spotdl"
    script.write_text(f"#!{sys.executable}\n" + STUB_SOURCE.read_text(encoding="utf-8"), encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("SOUNDFORGE_SPOTDL", str(script))
    for name in ("FAKE_SPOTDL_MODE", "FAKE_SPOTDL_MODES", "FAKE_SPOTDL_DELAY", "FAKE_SPOTDL_FAILS"):
        monkeypatch.delenv(name, raising=False)
    log = tmp_path / "spotdl-calls.jsonl"
    pids = tmp_path / "spotdl-pids.json"
    state = tmp_path / "spotdl-state"
    state.mkdir()
    monkeypatch.setenv("FAKE_SPOTDL_LOG", str(log))
    monkeypatch.setenv("FAKE_SPOTDL_PIDS", str(pids))
    monkeypatch.setenv("FAKE_SPOTDL_STATE", str(state))
    return FakeSpotdl(path=script, log=log, pids=pids, monkeypatch=monkeypatch)


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    return Storage(tmp_path / "ws")


@pytest.fixture
def settings(fake_spotdl: FakeSpotdl, storage: Storage) -> Settings:
    return load_settings(home=storage.root)


def track_row(track_id: str = "4uLU6hMCjMI75M1A2tKUQC", **changes: Any) -> dict[str, Any]:
    """A ``tracks`` row as ``ws.fetch`` records it (3-second song so the stub is quick)."""
    row: dict[str, Any] = {
        "track_id": track_id, "source": "spotify", "name": "Never Gonna Test", "artists": ["Rick Stub", "Guest"],
        "artist_ids": ["0gxyHStUsqpMadRV0Di1Qt", "1gxyHStUsqpMadRV0Di1Qt"], "album": "Whenever",
        "album_id": "6N9PS4QXF1D0OWPk0Sxtb4", "release_date": "1987-11-12", "duration_ms": 3000,
        "track_number": 1, "disc_number": 1, "explicit": False, "isrc": "GBARL9300135",
        "spotify_url": f"https://open.spotify.com/track/{track_id}",
    }
    row.update(changes)
    return row


def alive(pid: int) -> bool:
    """A process exists and is not a zombie (zombies wait for a reaper that may not exist in containers)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


def gone(pid: int, *, within_s: float = 5.0) -> bool:
    """Wait (bounded) for a killed process to die: SIGKILL is delivered asynchronously."""
    deadline = time.monotonic() + within_s
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.fixture
def no_leftover_processes(fake_spotdl: FakeSpotdl) -> Iterator[None]:
    """After the test, every pid the stub reported must be gone."""
    yield
    if fake_spotdl.pids.exists():
        for pid in json.loads(fake_spotdl.pids.read_text()).values():
            assert gone(pid), f"process {pid} survived"
