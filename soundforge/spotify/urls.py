"""Parse Spotify links into a :class:`SpotifyRef` (kind, id, canonical URL).

Accepted forms (``TYPE`` is ``track``, ``album``, ``playlist`` or ``artist``; ``ID`` is
22 base-62 characters)::

    https://open.spotify.com/TYPE/ID            optional intl-xx/ and embed/ prefixes, ?query, #fragment
    open.spotify.com/TYPE/ID                    scheme optional; hosts open./play./www. or bare spotify.com
    https://open.spotify.com/user/NAME/playlist/ID   legacy playlist links
    spotify:TYPE:ID                             URIs
    spotify:user:NAME:playlist:ID               legacy playlist URIs

Everything else is refused with :class:`~soundforge.errors.SpotifyURLError` naming the
input: other hosts (look-alikes such as ``open.spotify.com.evil.example`` included),
user-info (``user@host``), backslashes, ports other than the scheme's default,
unsupported types (episodes, shows, audiobooks...), local-file URIs and malformed
ids. The parser is a pure function: it never touches the network.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, NoReturn
from urllib.parse import urlsplit

from ..errors import SpotifyURLError

__all__ = ["KINDS", "SpotifyRef", "is_spotify_id", "parse_url", "parse_urls"]

Kind = Literal["track", "album", "playlist", "artist"]
KINDS: tuple[Kind, ...] = ("track", "album", "playlist", "artist")
"""The kinds of links SoundForge fetches tracks from."""

_UNSUPPORTED = {
    "episode": "podcast episodes", "show": "podcast shows", "audiobook": "audiobooks",
    "chapter": "audiobook chapters", "user": "user profiles", "genre": "genres", "collection": "a user's library",
    "concert": "concerts", "prerelease": "pre-releases", "search": "searches", "local": "local files",
}
_HOSTS = {"open.spotify.com", "play.spotify.com", "www.spotify.com", "spotify.com"}
_DEFAULT_PORTS = {"http": 80, "https": 443}
_ID_RE = re.compile(r"[0-9A-Za-z]{22}")
_INTL_RE = re.compile(r"intl-[a-z]{2}(?:-[a-z]{2,4})?", re.IGNORECASE)
_NAME_RE = re.compile(r"[^/\s]{1,128}")
_MAX_LENGTH = 2048


@dataclass(frozen=True)
class SpotifyRef:
    """A parsed Spotify link.

    Attributes
    ----------
    kind : {'track', 'album', 'playlist', 'artist'}
        What the link points at.
    id : str
        The Spotify id: 22 base-62 characters.
    """

    kind: Kind
    id: str

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise SpotifyURLError(f"Unsupported Spotify link type {self.kind!r}; use one of {', '.join(KINDS)}.",
                                  kind=self.kind)
        if not is_spotify_id(self.id):
            raise SpotifyURLError(f"Malformed Spotify id {_shorten(self.id)!r}: expected 22 letters and digits.",
                                  id=_shorten(self.id))

    @property
    def url(self) -> str:
        """Canonical URL, ``https://open.spotify.com/<kind>/<id>``."""
        return f"https://open.spotify.com/{self.kind}/{self.id}"

    @property
    def uri(self) -> str:
        """Spotify URI, ``spotify:<kind>:<id>``."""
        return f"spotify:{self.kind}:{self.id}"

    def __str__(self) -> str:
        return self.url


def is_spotify_id(value: object) -> bool:
    """Tell whether ``value`` is a string of exactly 22 base-62 characters (``[0-9A-Za-z]``)."""
    return isinstance(value, str) and _ID_RE.fullmatch(value) is not None


def parse_url(text: str | SpotifyRef) -> SpotifyRef:
    """Parse one Spotify URL or URI.

    Parameters
    ----------
    text : str or SpotifyRef
        A link such as ``https://open.spotify.com/intl-de/track/<id>?si=…`` or
        ``spotify:playlist:<id>``; surrounding whitespace is ignored. A
        :class:`SpotifyRef` is returned unchanged.

    Returns
    -------
    SpotifyRef

    Raises
    ------
    SpotifyURLError
        When the text is not a supported Spotify link; the message names the
        input and says what is accepted.
    """
    if isinstance(text, SpotifyRef):
        return text
    if not isinstance(text, str):
        raise SpotifyURLError(f"A Spotify link must be a string, got {type(text).__name__}.",
                              url=_shorten(repr(text)))
    value = text.strip()
    if not value:
        raise SpotifyURLError("Empty Spotify link: paste a URL such as https://open.spotify.com/track/<id>.",
                              url="")
    if len(value) > _MAX_LENGTH:
        _fail(value, f"it is longer than {_MAX_LENGTH} characters")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in value):
        _fail(value, "it contains spaces or control characters")
    if "\\" in value:
        _fail(value, "it contains a backslash, which browsers and servers read differently")
    if value[:8].lower() == "spotify:":
        return _parse_uri(value)
    if is_spotify_id(value):
        _fail(value, "a bare id does not say whether it is a track, album, playlist or artist")
    return _parse_web_url(value)


def parse_urls(texts: str | SpotifyRef | Iterable[str | SpotifyRef]) -> list[SpotifyRef]:
    """Parse one link or a sequence of links (see :func:`parse_url`); duplicates are kept in order.

    Raises
    ------
    SpotifyURLError
        For the first unsupported link, before anything is fetched.
    """
    items = [texts] if isinstance(texts, (str, SpotifyRef)) else list(texts)
    return [parse_url(t) for t in items]


def _parse_uri(value: str) -> SpotifyRef:
    parts = value.split(":")
    if len(parts) == 5 and parts[1] == "user" and parts[3] == "playlist":
        if not _NAME_RE.fullmatch(parts[2]):
            _fail(value, "the user name in the legacy playlist URI is empty or malformed")
        return _make(value, "playlist", parts[4])
    if len(parts) == 3:
        return _make(value, parts[1], parts[2])
    if len(parts) > 1 and parts[1] in _UNSUPPORTED:
        _unsupported(value, parts[1])
    _fail(value, "a Spotify URI looks like spotify:track:<id> or spotify:user:<name>:playlist:<id>")


def _parse_web_url(value: str) -> SpotifyRef:
    candidate = value if "://" in value else "https://" + value
    try:
        parts = urlsplit(candidate)
        port = parts.port
    except ValueError as exc:
        _fail(value, f"it is not a valid URL ({exc})")
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        _fail(value, "only http(s) links and spotify: URIs are accepted")
    if "@" in parts.netloc:
        _fail(value, "it carries user info ('@' before the host); copy the link from Spotify again")
    host = (parts.hostname or "").lower()
    if host == "spotify.link" or host.endswith(".spotify.link") or host == "spoti.fi":
        _fail(value, "short links must be opened in a browser first; paste the open.spotify.com link it leads to")
    if host not in _HOSTS:
        _fail(value, f"the host {host or '(none)'!r} is not open.spotify.com")
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        _fail(value, f"unexpected port {port}")
    segments = parts.path.split("/")
    if segments and segments[0] == "":
        segments = segments[1:]
    if segments and segments[-1] == "":
        segments = segments[:-1]
    if "" in segments:
        _fail(value, "its path has empty segments ('//')")
    if segments and _INTL_RE.fullmatch(segments[0]):
        segments = segments[1:]
    if segments and segments[0] == "embed":
        segments = segments[1:]
    if len(segments) == 4 and segments[0] == "user" and segments[2] == "playlist":
        if not _NAME_RE.fullmatch(segments[1]):
            _fail(value, "the user name in the legacy playlist link is malformed")
        return _make(value, "playlist", segments[3])
    if len(segments) == 2:
        return _make(value, segments[0], segments[1])
    if segments and segments[0] in _UNSUPPORTED:
        _unsupported(value, segments[0])
    _fail(value, "expected a path like /track/<id>, /album/<id>, /playlist/<id> or /artist/<id>")


def _make(value: str, kind: str, spotify_id: str) -> SpotifyRef:
    if kind in _UNSUPPORTED:
        _unsupported(value, kind)
    if kind not in KINDS:
        _fail(value, f"unknown link type {_shorten(kind)!r}; use a track, album, playlist or artist link")
    if not is_spotify_id(spotify_id):
        _fail(value, f"the id {_shorten(spotify_id)!r} is not 22 letters and digits")
    return SpotifyRef(kind, spotify_id)


def _unsupported(value: str, kind: str) -> NoReturn:
    _fail(value, f"{_UNSUPPORTED[kind]} are not supported; SoundForge fetches tracks, albums, playlists and artists")


def _fail(value: str, reason: str) -> NoReturn:
    shown = _shorten(value)
    raise SpotifyURLError(f"Not a supported Spotify link {shown!r}: {reason}. Paste a link such as "
                          "https://open.spotify.com/track/<id> or a URI such as spotify:playlist:<id>.", url=shown)


def _shorten(value: str, limit: int = 120) -> str:
    return value if len(value) <= limit else value[: limit - 3] + "..."
