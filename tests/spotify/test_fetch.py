from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pandas as pd
import pytest

from soundforge.errors import ConfigError, SpotifyNotFound
from soundforge.spotify import (
    SKIP_COLUMNS,
    TRACK_COLUMNS,
    FetchProgress,
    HttpSpotifyClient,
    Page,
    SpotifyClient,
    fetch_ref,
    parse_url,
    results_dataframe,
)

from .fake_spotify import FakeSpotify

MakeClient = Callable[..., HttpSpotifyClient]


def test_track(fake: FakeSpotify, make_client: MakeClient) -> None:
    ref = parse_url(f"https://open.spotify.com/intl-de/track/{fake.track_id(13)}?si=abc")
    result = fetch_ref(make_client(), ref, fetched_at="2026-01-01T00:00:00+00:00")
    assert [t.track_id for t in result.tracks] == [fake.track_id(13)]
    row = result.tracks[0]
    assert row.album == "Album 1"
    assert row.source_url == ref.url  # canonical: no ?si= tracking parameter is stored
    assert row.fetched_at == "2026-01-01T00:00:00+00:00"
    assert result.pages == 1


def test_album_gets_name_and_date_from_the_album_object(fake: FakeSpotify, make_client: MakeClient) -> None:
    result = fetch_ref(make_client(), parse_url(f"spotify:album:{fake.album_id(2)}"))
    assert [t.track_number for t in result.tracks] == list(range(1, 13))
    assert {t.album for t in result.tracks} == {"Album 2"}
    assert {t.release_date for t in result.tracks} == {"1972-03-03"}
    paths = [path for _, path, _ in fake.log if path != "/api/token"]
    assert paths == [f"/v1/albums/{fake.album_id(2)}", f"/v1/albums/{fake.album_id(2)}/tracks"]


def test_long_album_is_paged(fake_server: Any, make_client: MakeClient) -> None:
    fake = fake_server.attach(FakeSpotify(n_tracks=240, tracks_per_album=120))
    client = make_client(api_url=f"{fake.base}/v1", token_url=f"{fake.base}/api/token")
    result = fetch_ref(client, parse_url(f"spotify:album:{fake.album_id(1)}"))
    assert len(result.tracks) == 120
    assert [t.disc_number for t in result.tracks][-1] == 12
    assert result.pages == 1 + 3  # album object + 50 + 50 + 20


def test_artist_walks_albums_and_singles(fake: FakeSpotify, make_client: MakeClient) -> None:
    artist = 3
    albums = fake.artist_albums(artist)  # 100 albums / 50 artists -> 2 albums
    result = fetch_ref(make_client(), parse_url(f"https://open.spotify.com/artist/{fake.artist_id(artist)}"))
    expected = [i for a in albums for i in fake.album_track_indexes(a) if i % 97 != 96]
    guests = [i for a in albums for i in fake.album_track_indexes(a) if i % 97 == 96]
    assert [t.track_id for t in result.tracks] == [fake.track_id(i) for i in expected]
    assert [s.reason for s in result.skipped] == ["not by this artist"] * len(guests)
    assert all(fake.artist_id(artist) in t.artist_ids for t in result.tracks)
    requests = [args for _, path, args in fake.log if path.endswith("/albums")]
    assert requests[0]["include_groups"] == "album,single"
    assert requests[0]["limit"] == "10"


def test_artist_include_groups(fake: FakeSpotify, make_client: MakeClient) -> None:
    client = make_client()
    singles = [a for a in range(fake.n_albums) if a % 7 == 3 and a % fake.n_artists == 3]
    result = fetch_ref(client, parse_url(f"spotify:artist:{fake.artist_id(3)}"), include_groups=["single"])
    assert {t.album_id for t in result.tracks} == {fake.album_id(a) for a in singles}
    with pytest.raises(ConfigError, match="include_groups"):
        fetch_ref(client, parse_url(f"spotify:artist:{fake.artist_id(3)}"), include_groups=["everything"])


def test_playlist_duplicates_and_progress(fake: FakeSpotify, make_client: MakeClient) -> None:
    pid = fake.add_playlist(130, special={11: "repeat", 60: "null", 61: "local"})
    seen: list[FetchProgress] = []
    result = fetch_ref(make_client(), parse_url(f"spotify:playlist:{pid}"), on_page=seen.append)
    assert len(result.tracks) == 127
    assert [(s.position, s.reason) for s in result.skipped] == [(11, "duplicate"), (60, "null entry"),
                                                                (61, "local file")]
    assert result.skipped[0].uri == f"spotify:track:{fake.track_id(10)}"
    assert [(p.pages, p.tracks, p.skipped, p.total) for p in seen] == [(1, 49, 1, 130), (2, 97, 3, 130),
                                                                        (3, 127, 3, 130)]


def test_dataframes_have_documented_columns_and_dtypes(fake: FakeSpotify, make_client: MakeClient) -> None:
    pid = fake.add_playlist(60, special={2: "episode"})
    client = make_client()
    results = [fetch_ref(client, parse_url(f"spotify:playlist:{pid}")),
               fetch_ref(client, parse_url(f"spotify:track:{fake.track_id(100)}"))]
    df = results_dataframe(results)
    assert list(df.columns) == list(TRACK_COLUMNS)
    assert len(df) == 60
    assert str(df["duration_ms"].dtype) == "Int64"
    assert str(df["explicit"].dtype) == "boolean"
    assert isinstance(df["fetched_at"].dtype, pd.DatetimeTZDtype)
    assert str(df["fetched_at"].dtype.tz) == "UTC"
    assert isinstance(df.loc[0, "artists"], list)
    skipped = results[0].skipped_dataframe()
    assert list(skipped.columns) == list(SKIP_COLUMNS)
    assert skipped.loc[0, "reason"] == "episode"
    empty = results_dataframe([])
    assert list(empty.columns) == list(TRACK_COLUMNS)
    assert len(empty) == 0
    assert isinstance(results[1].to_dataframe(), pd.DataFrame)


def test_errors_propagate_with_the_link(fake: FakeSpotify, make_client: MakeClient) -> None:
    with pytest.raises(SpotifyNotFound, match="playlist 0000000000000000000000"):
        fetch_ref(make_client(), parse_url("spotify:playlist:0000000000000000000000"))


class MemoryClient:
    """A user-written client (e.g. over saved JSON): anything with the protocol's methods works."""

    def __init__(self, fake: FakeSpotify) -> None:
        self.fake = fake

    def track(self, track_id: str, *, market: str | None = None) -> dict[str, Any]:
        return self.fake._track(self.fake._track_ids[track_id], "legacy")

    def album(self, album_id: str, *, market: str | None = None) -> dict[str, Any]:
        return self.fake._simple_album(self.fake._album_ids[album_id], "legacy")

    def album_tracks(self, album_id: str, *, market: str | None = None) -> Iterator[Page]:
        indexes = self.fake.album_track_indexes(self.fake._album_ids[album_id])
        yield Page([self.fake._simple_track(i, "legacy") for i in indexes], 0, len(indexes), 1, False)

    def playlist_items(self, playlist_id: str, *, market: str | None = None) -> Iterator[Page]:
        yield Page([{"track": self.fake._track(0, "legacy")}, None], 0, 2, 1, False)

    def artist_albums(self, artist_id: str, *, market: str | None = None,
                      include_groups: Sequence[str] = ("album",)) -> Iterator[Page]:
        yield Page([], 0, 0, 1, False)


def test_any_protocol_client_can_be_swapped_in() -> None:
    fake = FakeSpotify(n_tracks=24)
    client = MemoryClient(fake)
    assert isinstance(client, SpotifyClient)
    assert len(fetch_ref(client, parse_url(f"spotify:album:{fake.album_id(1)}")).tracks) == 12
    result = fetch_ref(client, parse_url("spotify:playlist:0000000000000000000000"))
    assert [t.isrc for t in result.tracks] == ["QZFZ20000000"]
    assert [s.reason for s in result.skipped] == ["null entry"]
