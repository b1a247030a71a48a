"""Fixtures: a fake Spotify on 127.0.0.1 and clients pointed at it with recorded (not slept) waits."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from soundforge.spotify import HttpSpotifyClient

from .fake_spotify import CLIENT_ID, CLIENT_SECRET, FakeServer, FakeSpotify


@pytest.fixture(scope="session")
def fake_server() -> Iterator[FakeServer]:
    """One HTTP server on 127.0.0.1 for the whole session (starting one costs ~0.5 s)."""
    server = FakeServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def fake(fake_server: FakeServer) -> FakeSpotify:
    """A fresh fake Spotify (token endpoint + Web API) served over real HTTP."""
    return fake_server.attach(FakeSpotify(n_tracks=1200))


@pytest.fixture
def sleeps() -> list[float]:
    """Waits requested by clients made with ``make_client`` (nothing really sleeps)."""
    return []


@pytest.fixture
def make_client(fake: FakeSpotify, sleeps: list[float], tmp_path: Path) -> Iterator[Callable[..., HttpSpotifyClient]]:
    """Factory of clients for ``fake``: ``make_client(read_timeout_s=0.5, token_cache=None, ...)``."""
    made: list[HttpSpotifyClient] = []

    def _make(**kwargs: Any) -> HttpSpotifyClient:
        options: dict[str, Any] = {
            "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "api_url": f"{fake.base}/v1",
            "token_url": f"{fake.base}/api/token", "token_cache": tmp_path / "cache", "sleep": sleeps.append,
            "env": {},
        }
        options.update(kwargs)
        client = HttpSpotifyClient(**options)
        made.append(client)
        return client

    yield _make
    for client in made:
        client.close()


@pytest.fixture
def spotify_env(fake: FakeSpotify, monkeypatch: pytest.MonkeyPatch) -> FakeSpotify:
    """Environment pointing a workspace's own client at the fake, with valid credentials."""
    monkeypatch.setenv("SOUNDFORGE_SPOTIFY_API_URL", f"{fake.base}/v1")
    monkeypatch.setenv("SOUNDFORGE_SPOTIFY_TOKEN_URL", f"{fake.base}/api/token")
    monkeypatch.setenv("SPOTIFY_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("SPOTIFY_CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.delenv("SOUNDFORGE_MARKET", raising=False)
    return fake
