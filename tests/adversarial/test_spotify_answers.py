"""Spotify answers that are malformed or about another object: a ``failed`` row naming the link, never a
``done`` row with empty or foreign fields; links and URLs that are not Spotify's are refused before any request."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from soundforge import Workspace
from soundforge.errors import SpotifyURLError
from soundforge.spotify import parse_url
from tests.spotify.conftest import fake, fake_server  # noqa: F401  (shared fixtures)
from tests.spotify.conftest import spotify_env as spotify_env  # the fake Spotify in the environment
from tests.spotify.fake_spotify import FakeSpotify

from .conftest import assert_consistent, failed_row, refused, tried

FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture
def sws(spotify_env: FakeSpotify, tmp_path: Any) -> Any:
    """A workspace made after the environment points at the fake Spotify; checked after the test."""
    workspace = Workspace(tmp_path / "sws")
    yield workspace
    assert_consistent(workspace)


def good_track(service: FakeSpotify, i: int) -> dict[str, Any]:
    return service._track(i, "2026")


BAD_TRACKS: list[tuple[str, Any, str]] = [
    ("episode", {"type": "episode"}, "not a track"),
    ("album type", {"type": "album"}, "not a track"),
    ("other id", {"id": "0" * 22}, "not '"),
    ("no id", {"id": None}, "no id"),
    ("no name", {"name": None}, "no name"),
    ("empty name", {"name": ""}, "no name"),
    ("name not text", {"name": 5}, "not text"),
    ("no duration", {"duration_ms": None}, "no duration_ms"),
    ("negative duration", {"duration_ms": -5}, "duration_ms"),
    ("duration text", {"duration_ms": "3 min"}, "duration_ms"),
    ("bool duration", {"duration_ms": True}, "duration_ms"),
    ("artists not list", {"artists": "Someone"}, "artists"),
    ("artist without name", {"artists": [{"id": "x"}]}, "artists"),
]


@pytest.mark.parametrize(("label", "change", "names"), BAD_TRACKS, ids=[b[0] for b in BAD_TRACKS])
def test_malformed_or_foreign_track_answers_fail(sws: Workspace, spotify_env: FakeSpotify, label: str,
                                                 change: Any, names: str) -> None:
    tid = spotify_env.track_id(5)
    body = {**good_track(spotify_env, 5), **change} if isinstance(change, dict) else change
    spotify_env.add_fault(rf"/v1/tracks/{tid}$", status=200, body=json.dumps(body), times=100)
    link = f"https://open.spotify.com/track/{tid}"
    df = sws.fetch(link, progress=None)
    tried("api bodies")
    assert (df["status"] != "done").all(), df.to_dict("records")
    assert "failed" in set(df["status"])
    error = df.loc[df["status"] == "failed", "error"].iloc[0]
    assert names in error, error
    assert tid in error or link in error
    assert sws.tracks().empty


@FAST
@given(body=st.dictionaries(  # non-object bodies are the client's (retried as transient, then failed)
    st.sampled_from(["id", "name", "type", "duration_ms", "artists", "album"]),
    st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                 lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
                 max_leaves=6), max_size=6))
def test_random_track_bodies_never_become_done_rows(sws: Workspace, spotify_env: FakeSpotify, body: Any) -> None:
    tid = spotify_env.track_id(7)
    spotify_env.faults.clear()
    spotify_env.add_fault(rf"/v1/tracks/{tid}$", status=200, body=json.dumps(body), times=100)
    df = sws.fetch(f"spotify:track:{tid}", force=True, progress=None)
    tried("api bodies")
    assert set(df["status"]) == {"failed"}, df.to_dict("records")
    assert tid in df["error"].iloc[0]
    assert sws.tracks().empty


def test_malformed_album_and_playlist_entries(sws: Workspace, spotify_env: FakeSpotify) -> None:
    aid = spotify_env.album_id(2)
    spotify_env.add_fault(rf"/v1/albums/{aid}$", status=200, body=json.dumps({"id": spotify_env.album_id(3),
                                                                              "type": "album", "name": "X"}), times=100)
    df = sws.fetch(f"spotify:album:{aid}", progress=None)
    failed_row(df, key="source_url", value=f"https://open.spotify.com/album/{aid}", names="not '",
               kind="api bodies")
    pid = spotify_env.add_playlist(2)
    entry = spotify_env._entry(spotify_env.playlists[pid], 0)
    key = "item" if "item" in entry else "track"
    broken = [{**entry, key: {**entry[key], "name": None}}, {**entry, key: {**entry[key], "duration_ms": "x"}}]
    page = {"items": broken, "total": 2, "offset": 0, "limit": 100, "next": None}
    spotify_env.add_fault(rf"/v1/playlists/{pid}/items", status=200, body=json.dumps(page), times=100)
    df = sws.fetch(f"spotify:playlist:{pid}", progress=None)
    tried("api bodies", 2)
    assert not (df["status"] == "done").any() or df.loc[df["status"] == "done", "name"].notna().all()
    reasons = [e["reason"] for e in df.attrs["skipped_entries"]]
    assert sum("malformed track object" in r for r in reasons) == 2, reasons



@FAST
@given(url=st.one_of(
    st.text(max_size=60),
    st.from_regex(r"https?://(open|play|evil)\.spotify\.(com|net)/(track|album|show|episode|user)/[A-Za-z0-9]{0,30}",
                  fullmatch=True),
    st.from_regex(r"spotify:(track|album|artist|playlist|episode):[A-Za-z0-9_\-]{0,25}", fullmatch=True),
))
def test_urls_that_are_not_spotify_links(url: str) -> None:
    tried("urls")
    try:
        ref = parse_url(url)
    except SpotifyURLError as exc:
        message = str(exc)
    else:
        assert len(ref.id) == 22  # accepted: a well-formed link
        return
    assert repr(url.strip())[1:-1][:20] in message or url.strip()[:20] in message or not url.strip(), message


@pytest.mark.parametrize("url", ["https://open.spotify.com/episode/" + "a" * 22, "spotify:track:short",
                                 "https://evil.example/track/" + "a" * 22, "javascript:alert(1)",
                                 "https://open.spotify.com/track/" + "a" * 21 + "!", "file:///etc/passwd"])
def test_fetch_refuses_bad_links_before_requests(ws: Workspace, url: str) -> None:
    refused(lambda: ws.fetch(url), names=url[:20], kind="urls", error=SpotifyURLError)
