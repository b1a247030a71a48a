"""Turn one parsed Spotify link into track rows, using any :class:`~.client.SpotifyClient`.

========  ==========================================================================================
kind      requests
========  ==========================================================================================
track     ``GET /tracks/{id}``
album     ``GET /albums/{id}`` (name, release date), then ``GET /albums/{id}/tracks`` pages of 50
playlist  ``GET /playlists/{id}/items`` pages of 50; null entries, local files and episodes skipped
artist    ``GET /artists/{id}/albums`` pages of 10 (albums and singles by default), then every
          album's ``/albums/{id}/tracks``; tracks that do not credit the artist are skipped.
          Spotify removed ``/artists/{id}/top-tracks`` for development-mode apps in February 2026,
          so an artist link means the artist's whole discography, not their ten most popular tracks.
========  ==========================================================================================

A track listed twice (a playlist with repeats, a song on two albums under one id)
gives one row; the repeats are reported as ``duplicate`` skips. Progress is reported
after every page through ``on_page``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..catalog import utcnow
from .client import DEFAULT_INCLUDE_GROUPS, SpotifyClient
from .models import (
    SKIP_COLUMNS,
    TRACK_COLUMNS,
    Skip,
    TrackRow,
    check_answer,
    playlist_entry,
    track_reason,
    track_row,
)
from .urls import SpotifyRef, is_spotify_id

__all__ = ["FetchProgress", "FetchResult", "fetch_ref", "results_dataframe"]


@dataclass(frozen=True)
class FetchProgress:
    """How far the fetch of one link is.

    Attributes
    ----------
    ref : SpotifyRef
        The link being fetched.
    pages : int
        API pages (and single objects) received so far.
    tracks : int
        Track rows made so far.
    skipped : int
        Entries skipped so far.
    total : int or None
        Entries the listing holds (playlist/album total), when known.
    """

    ref: SpotifyRef
    pages: int
    tracks: int
    skipped: int
    total: int | None


ProgressCallback = Callable[[FetchProgress], None]


@dataclass(frozen=True)
class FetchResult:
    """The tracks of one link.

    Attributes
    ----------
    ref : SpotifyRef
        The link.
    tracks : tuple of TrackRow
        One row per distinct track, in listing order.
    skipped : tuple of Skip
        Entries that gave no row, with reasons.
    pages : int
        API pages (and single objects) received.
    """

    ref: SpotifyRef
    tracks: tuple[TrackRow, ...]
    skipped: tuple[Skip, ...] = field(default=())
    pages: int = 0

    def to_rows(self) -> list[dict[str, Any]]:
        """Track rows as dicts (columns of :data:`~.models.TRACK_COLUMNS`)."""
        return [t.to_row() for t in self.tracks]

    def to_dataframe(self) -> Any:
        """Track rows as a DataFrame with the dtypes of :data:`~.models.TRACK_COLUMNS`."""
        return results_dataframe([self])

    def skipped_dataframe(self) -> Any:
        """Skipped entries as a DataFrame with the dtypes of :data:`~.models.SKIP_COLUMNS`."""
        from ..catalog import frame

        return frame([s.to_row() for s in self.skipped], SKIP_COLUMNS)


def results_dataframe(results: Iterable[FetchResult]) -> Any:
    """Concatenate the track rows of several results into one DataFrame (:data:`TRACK_COLUMNS`)."""
    from ..catalog import frame

    rows = [row for result in results for row in result.to_rows()]
    return frame(rows, TRACK_COLUMNS)


class _Collector:
    """Accumulates rows and skips for one link and reports progress."""

    def __init__(self, ref: SpotifyRef, fetched_at: str, on_page: ProgressCallback | None) -> None:
        self.ref = ref
        self.fetched_at = fetched_at
        self.on_page = on_page
        self.tracks: list[TrackRow] = []
        self.skipped: list[Skip] = []
        self.pages = 0
        self.total: int | None = None
        self._seen: set[str] = set()

    def add(self, obj: Mapping[str, Any] | None, *, position: int | None, reason: str | None = None,
            album: Mapping[str, Any] | None = None, entry: Any = None) -> None:
        if obj is not None and reason is None:
            reason = track_reason(obj)
        if obj is not None and reason is None and obj.get("id") in self._seen:
            reason = "duplicate"
        if reason is not None:
            described = obj if obj is not None else _entry_object(entry)
            self.skipped.append(Skip(self.ref.url, position, reason, _text(described, "name"),
                                     _text(described, "uri")))
            return
        assert obj is not None
        row = track_row(obj, source_url=self.ref.url, fetched_at=self.fetched_at, album=album)
        self._seen.add(row.track_id)
        self.tracks.append(row)

    def page_done(self, total: int | None = None) -> None:
        self.pages += 1
        if total is not None:
            self.total = total
        if self.on_page is not None:
            self.on_page(FetchProgress(self.ref, self.pages, len(self.tracks), len(self.skipped), self.total))

    def result(self) -> FetchResult:
        return FetchResult(self.ref, tuple(self.tracks), tuple(self.skipped), self.pages)


def fetch_ref(client: SpotifyClient, ref: SpotifyRef, *, market: str | None = None,
              on_page: ProgressCallback | None = None, fetched_at: str | None = None,
              include_groups: Sequence[str] = DEFAULT_INCLUDE_GROUPS) -> FetchResult:
    """Fetch the tracks of one link.

    Parameters
    ----------
    client : SpotifyClient
        Where to get the JSON from.
    ref : SpotifyRef
        A parsed link (:func:`~.urls.parse_url`).
    market : str, optional
        ISO 3166-1 alpha-2 market; default: the client's.
    on_page : callable, optional
        ``on_page(FetchProgress)`` after every page.
    fetched_at : str, optional
        Timestamp stored in every row (default: now, UTC, ISO 8601).
    include_groups : sequence of str
        For artists: which of their album groups to walk (``album``, ``single``,
        ``appears_on``, ``compilation``).

    Returns
    -------
    FetchResult

    Raises
    ------
    SpotifyError
        Subclasses for what the API refused (not found, forbidden, rate limited...).
    """
    collector = _Collector(ref, fetched_at or utcnow(), on_page)
    if ref.kind == "track":
        answer = check_answer(client.track(ref.id, market=market), kind="track", asked=ref.id, what=ref.url)
        collector.add(answer, position=0)
        collector.page_done(total=1)
    elif ref.kind == "album":
        album = check_answer(client.album(ref.id, market=market), kind="album", asked=ref.id, what=ref.url)
        collector.page_done()
        _album_tracks(client, collector, album, market=market)
    elif ref.kind == "playlist":
        for page in client.playlist_items(ref.id, market=market):
            for i, entry in enumerate(page.items):
                obj, reason = playlist_entry(entry)
                collector.add(obj, position=page.offset + i, reason=reason, entry=entry)
            collector.page_done(total=page.total)
    else:
        for page in client.artist_albums(ref.id, market=market, include_groups=include_groups):
            collector.page_done()
            for album in page.items:
                if isinstance(album, Mapping) and is_spotify_id(album.get("id")):
                    _album_tracks(client, collector, album, market=market, artist_id=ref.id)
    return collector.result()


def _album_tracks(client: SpotifyClient, collector: _Collector, album: Mapping[str, Any], *,
                  market: str | None, artist_id: str | None = None) -> None:
    for page in client.album_tracks(str(album["id"]), market=market):
        for i, obj in enumerate(page.items):
            if not isinstance(obj, Mapping):
                collector.add(None, position=page.offset + i, reason="null entry")
            elif artist_id is not None and artist_id not in {a.get("id") for a in obj.get("artists") or []
                                                             if isinstance(a, Mapping)}:
                collector.add(obj, position=page.offset + i, reason="not by this artist")
            else:
                collector.add(obj, position=page.offset + i, album=album)
        collector.page_done(total=page.total if artist_id is None else None)


def _entry_object(entry: Any) -> Mapping[str, Any] | None:
    if not isinstance(entry, Mapping):
        return None
    obj = entry.get("item") if entry.get("item") is not None else entry.get("track")
    return obj if isinstance(obj, Mapping) else None


def _text(obj: Mapping[str, Any] | None, key: str) -> str | None:
    value = obj.get(key) if obj is not None else None
    return value[:300] if isinstance(value, str) and value else None
