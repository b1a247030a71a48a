from __future__ import annotations

from typing import Any

import pytest

from soundforge.spotify.models import TRACK_COLUMNS, TrackRow, playlist_entry, track_reason, track_row

from .fake_spotify import FakeSpotify

SRC = "https://open.spotify.com/playlist/37i9dQZF1DXcBWIGoYBM5M"
WHEN = "2026-01-02T03:04:05.000000+00:00"


@pytest.fixture(scope="module")
def service() -> FakeSpotify:
    return FakeSpotify(n_tracks=200)


def test_full_track_2026_shape(service: FakeSpotify) -> None:
    obj = service._track(1, "2026")
    row = track_row(obj, source_url=SRC, fetched_at=WHEN)
    assert isinstance(row, TrackRow)
    assert row.track_id == service.track_id(1)
    assert row.name == "Track 1 \u2013 \u201c\u00dcn\u00efcode\u201d & more"
    assert row.artists == ("Artist 0", "Artist 7")  # i % 4 == 1: two credited artists, in order
    assert row.artist_ids == (service.artist_id(0), service.artist_id(7))
    assert row.album == "Album 0"
    assert row.album_id == service.album_id(0)
    assert row.release_date == "1970-01-01"
    assert row.duration_ms == obj["duration_ms"]
    assert row.track_number == 2
    assert row.disc_number == 1
    assert row.explicit is False
    assert row.isrc is None  # development-mode apps no longer get external_ids
    assert row.spotify_url == f"https://open.spotify.com/track/{row.track_id}"
    assert row.source_url == SRC
    assert row.fetched_at == WHEN
    assert set(row.to_row()) == set(TRACK_COLUMNS)
    assert row.to_row()["artists"] == ["Artist 0", "Artist 7"]


def test_full_track_legacy_shape_has_isrc(service: FakeSpotify) -> None:
    row = track_row(service._track(5, "legacy"), source_url=SRC, fetched_at=WHEN)
    assert row.isrc == "QZFZ20000005"
    assert row.explicit is True


def test_simplified_track_takes_the_album_from_the_caller(service: FakeSpotify) -> None:
    album = service._simple_album(3, "2026")
    obj = service._simple_track(36, "2026")
    assert "album" not in obj
    row = track_row(obj, source_url=SRC, fetched_at=WHEN, album=album)
    assert (row.album, row.album_id, row.release_date) == ("Album 3", service.album_id(3), album["release_date"])
    bare = track_row(obj, source_url=SRC, fetched_at=WHEN)
    assert bare.album is None
    assert bare.release_date is None


def test_year_precision_release_date_is_kept_as_given(service: FakeSpotify) -> None:
    album = service._simple_album(5, "2026")  # a % 11 == 5 -> year precision
    row = track_row(service._simple_track(60, "2026"), source_url=SRC, fetched_at=WHEN, album=album)
    assert row.release_date == "1975"


def test_minimal_and_odd_track_objects() -> None:
    tid = "4uLU6hMCjMI75M1A2tKUQC"
    row = track_row({"id": tid}, source_url=SRC, fetched_at=WHEN)
    assert row.name is None
    assert row.artists == ()
    assert row.duration_ms is None
    assert row.explicit is None
    odd: dict[str, Any] = {"id": tid, "name": "", "duration_ms": True, "explicit": "yes", "track_number": 3.0,
                           "artists": [None, {"name": "A"}], "external_urls": {"spotify": "https://evil.example/x"},
                           "external_ids": "not a dict", "album": "not a dict"}
    row = track_row(odd, source_url=SRC, fetched_at=WHEN)
    assert row.name is None
    assert row.duration_ms is None
    assert row.explicit is None
    assert row.track_number == 3
    assert row.artists == ("A",)
    assert row.artist_ids == ("",)
    assert row.spotify_url == f"https://open.spotify.com/track/{tid}"  # never a foreign URL
    with pytest.raises(ValueError, match="without a valid id"):
        track_row({"id": "../../etc"}, source_url=SRC, fetched_at=WHEN)


@pytest.mark.parametrize("style", ["2026", "legacy"])
def test_playlist_entries_old_and_new(service: FakeSpotify, style: str) -> None:
    pid = service.add_playlist(8, special={1: "null", 2: "local", 3: "episode", 4: "no_item"}, style=style)
    playlist = service.playlists[pid]
    results = [playlist_entry(service._entry(playlist, j)) for j in range(6)]
    assert results[0][0] is not None
    assert results[0][1] is None
    assert [r[1] for r in results[1:5]] == ["null entry", "local file", "episode", "null entry"]
    assert results[5][0] is not None
    assert results[5][0]["id"] == service.track_id(5)


def test_playlist_entry_odd_shapes() -> None:
    assert playlist_entry(None) == (None, "null entry")
    assert playlist_entry("text") == (None, "null entry")
    assert playlist_entry({"item": {"type": "chapter", "id": "x"}}) == (None, "unsupported item type 'chapter'")
    obj = {"type": "track", "id": "4uLU6hMCjMI75M1A2tKUQC"}
    assert playlist_entry({"item": obj, "track": {"id": "old"}}) == (obj, None)  # new name wins
    assert playlist_entry({"item": None, "track": obj}) == (obj, None)


def test_track_reason() -> None:
    full = {"id": "4uLU6hMCjMI75M1A2tKUQC", "name": "Song", "duration_ms": 1000, "artists": [{"name": "A"}]}
    assert track_reason(full) is None
    assert track_reason({"id": "4uLU6hMCjMI75M1A2tKUQC"}) == "malformed track object (no name)"
    assert track_reason({**full, "duration_ms": "long"}) == "malformed track object (an unusable duration_ms 'long')"
    assert track_reason({"id": None}) == "no id"
    assert track_reason({"id": "abc"}) == "malformed id"
    assert track_reason({"id": "4uLU6hMCjMI75M1A2tKUQC", "is_local": True}) == "local file"
    assert track_reason({"id": "4uLU6hMCjMI75M1A2tKUQC", "episode": True}) == "episode"
