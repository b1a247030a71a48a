"""Spotify JSON -> tidy track rows.

The Web API returns full track objects (``GET /tracks/{id}``, playlist entries)
and simplified ones (``GET /albums/{id}/tracks``, which lack ``album`` and
``external_ids``; the album comes from the caller). :func:`track_row` accepts
both, with field names old and new:

* playlist entries keep their object under ``item`` (2026) or ``track`` (before);
* episodes are ``type: "episode"`` objects, or, in the older shape, track-like
  objects flagged ``episode: true``;
* local files are entries with ``is_local: true`` (their ``id`` is null);
* ``external_ids.isrc`` is absent for development-mode apps since February 2026,
  so ``isrc`` is often missing.

Rows have the columns of :data:`TRACK_COLUMNS` (the ``tracks`` table of the
catalog minus its bookkeeping columns).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from .urls import is_spotify_id

__all__ = ["SKIP_COLUMNS", "TRACK_COLUMNS", "Skip", "TrackRow", "check_answer", "malformed", "playlist_entry",
           "track_reason", "track_row"]

TRACK_COLUMNS: dict[str, str] = {
    "track_id": "string", "name": "string", "artists": "object", "artist_ids": "object", "album": "string",
    "album_id": "string", "release_date": "string", "duration_ms": "Int64", "track_number": "Int64",
    "disc_number": "Int64", "explicit": "boolean", "isrc": "string", "spotify_url": "string",
    "source_url": "string", "fetched_at": "datetime64[us, UTC]",
}
"""Columns and pandas dtypes of fetched track rows (``artists``/``artist_ids`` hold lists of str)."""

SKIP_COLUMNS: dict[str, str] = {"source_url": "string", "position": "Int64", "reason": "string",
                                "name": "string", "uri": "string"}
"""Columns and dtypes of the table of skipped playlist/album entries."""


@dataclass(frozen=True)
class TrackRow:
    """One track as SoundForge stores it.

    Attributes
    ----------
    track_id : str
        Spotify id (22 base-62 characters).
    name : str
        Track title.
    artists, artist_ids : tuple of str
        Credited artists' names and ids, in Spotify's order.
    album, album_id, release_date : str or None
        The album; ``release_date`` as Spotify gives it (``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``).
    duration_ms : int or None
        Duration in milliseconds.
    track_number, disc_number : int or None
        Position on the album.
    explicit : bool or None
        Explicit-lyrics flag.
    isrc : str or None
        International Standard Recording Code, when Spotify provides it.
    spotify_url : str
        ``https://open.spotify.com/track/<id>``.
    source_url : str
        Canonical URL of the link the track was fetched from (track, album, playlist or artist).
    fetched_at : str
        UTC time of the fetch, ISO 8601.
    """

    track_id: str
    name: str | None
    artists: tuple[str, ...]
    artist_ids: tuple[str, ...]
    album: str | None
    album_id: str | None
    release_date: str | None
    duration_ms: int | None
    track_number: int | None
    disc_number: int | None
    explicit: bool | None
    isrc: str | None
    spotify_url: str
    source_url: str
    fetched_at: str

    def to_row(self) -> dict[str, Any]:
        """Plain dict with the keys of :data:`TRACK_COLUMNS` (lists for the artist columns)."""
        row = asdict(self)
        row["artists"] = list(self.artists)
        row["artist_ids"] = list(self.artist_ids)
        return row


@dataclass(frozen=True)
class Skip:
    """An entry that yields no track, and why.

    Attributes
    ----------
    source_url : str
        Canonical URL of the playlist/album/artist.
    position : int or None
        0-based index of the entry in its listing.
    reason : str
        ``"null entry"``, ``"local file"``, ``"episode"``, ``"no id"``, ``"duplicate"``...
    name : str or None
        The entry's title, when it has one.
    uri : str or None
        The entry's Spotify URI, when it has one.
    """

    source_url: str
    position: int | None
    reason: str
    name: str | None = None
    uri: str | None = None

    def to_row(self) -> dict[str, Any]:
        """Plain dict with the keys of :data:`SKIP_COLUMNS`."""
        return asdict(self)


def playlist_entry(entry: Any) -> tuple[Mapping[str, Any] | None, str | None]:
    """Pick the track object of one playlist entry.

    Parameters
    ----------
    entry : Any
        An element of the ``items`` array of ``GET /playlists/{id}/items``.

    Returns
    -------
    (track, reason)
        The track object and ``None``, or ``None`` and why the entry is skipped.
    """
    if not isinstance(entry, Mapping):
        return None, "null entry"
    obj = entry.get("item") if entry.get("item") is not None else entry.get("track")
    if entry.get("is_local") or (isinstance(obj, Mapping) and obj.get("is_local")):
        return None, "local file"
    if not isinstance(obj, Mapping):
        return None, "null entry"
    if obj.get("type") == "episode" or obj.get("episode") is True:
        return None, "episode"
    if obj.get("type") not in (None, "track"):
        return None, f"unsupported item type {str(obj.get('type'))[:40]!r}"
    return obj, None


def track_reason(obj: Mapping[str, Any]) -> str | None:
    """Why a track object cannot become a row (``None`` when it can)."""
    if obj.get("is_local"):
        return "local file"
    if obj.get("type") == "episode" or obj.get("episode") is True:
        return "episode"
    if not is_spotify_id(obj.get("id")):
        return "no id" if obj.get("id") is None else "malformed id"
    problem = malformed(obj)
    return f"malformed track object ({problem})" if problem else None


def malformed(obj: Mapping[str, Any]) -> str | None:
    """What makes a track object unfit to store (``None`` when it is fine): a missing or empty ``name``,
    a ``duration_ms`` that is not a whole number >= 0, ``artists`` that is not a list of objects with a
    name, or a ``type`` other than ``track``."""
    if obj.get("type") not in (None, "track"):
        return f"type {str(obj.get('type'))[:40]!r} instead of 'track'"
    name = obj.get("name")
    if not isinstance(name, str) or not name.strip():
        if name is None or isinstance(name, str):
            return "no name"
        return f"a name that is not text ({type(name).__name__})"
    duration = obj.get("duration_ms")
    if isinstance(duration, bool) or not isinstance(duration, int) or duration < 0:
        return "no duration_ms" if duration is None else f"an unusable duration_ms {str(duration)[:40]!r}"
    artists = obj.get("artists")
    if not isinstance(artists, list) or any(not isinstance(a, Mapping) or not isinstance(a.get("name"), str)
                                            for a in artists):
        return "artists that are not a list of named artists"
    return None


def check_answer(obj: Any, *, kind: str, asked: str, what: str) -> Mapping[str, Any]:
    """Refuse an answer that is not an object of ``kind`` with id ``asked`` (track relinking allowed).

    Parameters
    ----------
    obj : Any
        The decoded JSON answer.
    kind : str
        ``"track"``, ``"album"``...
    asked : str
        The id that was requested.
    what : str
        The link, for the message.

    Returns
    -------
    Mapping
        ``obj``.

    Raises
    ------
    SpotifyBadResponse
        Not a JSON object, another type, another id, or (tracks) :func:`malformed`.
    """
    from ..errors import SpotifyBadResponse

    def bad(why: str) -> SpotifyBadResponse:
        return SpotifyBadResponse(f"Spotify's answer for {what} cannot be used: {why}. Nothing was stored for it; "
                                  "try again later, and report it if it persists.", url=what)

    if not isinstance(obj, Mapping):
        raise bad(f"it is {type(obj).__name__}, not a {kind} object")
    if obj.get("type") not in (None, kind):
        raise bad(f"it describes a {str(obj.get('type'))[:40]!r}, not a {kind}")
    got = obj.get("id")
    linked = _mapping(obj.get("linked_from")).get("id")
    if got != asked and linked != asked:
        raise bad(f"it describes {kind} {str(got)[:40]!r}, not {asked!r}" if got is not None else "it has no id")
    problem = malformed(obj) if kind == "track" else None
    if problem is None and kind != "track" and not (isinstance(obj.get("name"), str) and obj.get("name")):
        problem = "no name"
    if problem is not None:
        raise bad(f"the {kind} object has {problem}")
    return obj


def track_row(obj: Mapping[str, Any], *, source_url: str, fetched_at: str,
              album: Mapping[str, Any] | None = None) -> TrackRow:
    """Turn a full or simplified track object into a :class:`TrackRow`.

    Parameters
    ----------
    obj : Mapping
        Spotify track object; must have a valid ``id`` (check with :func:`track_reason`).
    source_url : str
        Canonical URL of what was fetched.
    fetched_at : str
        UTC time of the fetch, ISO 8601.
    album : Mapping, optional
        Album object for simplified tracks (``obj["album"]`` wins when present).

    Raises
    ------
    ValueError
        When the object has no valid track id.
    """
    track_id = obj.get("id")
    if not isinstance(track_id, str) or not is_spotify_id(track_id):
        raise ValueError(f"track object without a valid id: {str(track_id)[:40]!r}")
    alb = _mapping(obj.get("album")) or _mapping(album)
    artists = [a for a in (obj.get("artists") or []) if isinstance(a, Mapping)]
    url = _mapping(obj.get("external_urls")).get("spotify")
    return TrackRow(
        track_id=track_id,
        name=_text(obj.get("name")),
        artists=tuple(str(a.get("name") or "") for a in artists),
        artist_ids=tuple(str(a.get("id") or "") for a in artists),
        album=_text(alb.get("name")),
        album_id=_text(alb.get("id")),
        release_date=_text(alb.get("release_date")),
        duration_ms=_int(obj.get("duration_ms")),
        track_number=_int(obj.get("track_number")),
        disc_number=_int(obj.get("disc_number")),
        explicit=obj.get("explicit") if isinstance(obj.get("explicit"), bool) else None,
        isrc=_text(_mapping(obj.get("external_ids")).get("isrc")),
        spotify_url=url if isinstance(url, str) and url.startswith("https://open.spotify.com/")
        else f"https://open.spotify.com/track/{track_id}",
        source_url=source_url,
        fetched_at=fetched_at,
    )


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value != "" else None


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value)
