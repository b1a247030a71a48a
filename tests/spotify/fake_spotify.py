"""A fake Spotify (token endpoint + Web API) served over real HTTP on 127.0.0.1.

Payloads follow Spotify's documented object schemas (track, simplified track,
album, simplified album, artist, playlist entry, paging and error objects) and
are generated from indexes, so a 10,000-entry playlist costs no fixtures.

Two styles of answers:

* ``"2026"``: playlist entries carry their object under ``item``; track objects
  have no ``external_ids``/``popularity``/``available_markets`` (development-mode
  apps since February 2026);
* ``"legacy"``: entries under ``track``; tracks carry ``external_ids.isrc``;
  episodes in playlists look like tracks flagged ``episode: true``.

Faults are scripted with :meth:`FakeSpotify.add_fault`: a status/body/headers to
answer instead, a delay before answering, or expiring every issued token.

Used by tests/spotify/ and benchmarks/fetch_playlist.py::

    fake = FakeSpotify()
    with fake.serve() as base:            # "http://127.0.0.1:PORT"
        ...  api_url=base + "/v1", token_url=base + "/api/token"
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from werkzeug.wrappers import Request, Response

CLIENT_ID = "fake-client-id-0123456789"
CLIENT_SECRET = "fake-client-secret-s3cr3t-XYZ-987"
_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_PAGE_MAX = {"items": 50, "tracks": 50, "albums": 10}


def spotify_id(kind: str, index: int) -> str:
    """A deterministic 22-character base-62 id for ``kind`` number ``index``."""
    number = int.from_bytes(hashlib.sha256(f"{kind}:{index}".encode()).digest()[:17], "big")
    chars = []
    for _ in range(22):
        number, rest = divmod(number, 62)
        chars.append(_B62[rest])
    return "".join(chars)


@dataclass
class Fault:
    """One scripted misbehaviour.

    Attributes
    ----------
    path : str
        Regular expression matched (``re.search``) against the request path.
    status : int or None
        Status to answer instead of the real answer (``None``: answer normally).
    body : str or bytes
        Body of the fault answer (JSON text, HTML...).
    headers : dict
        Headers of the fault answer (``Retry-After``...).
    times : int
        How many matching requests it affects.
    skip : int
        Matching requests to let through before it starts.
    delay_s : float
        Sleep before answering (a slow server).
    expire_tokens : bool
        Invalidate every issued token, then answer normally (that is: 401).
    method : str
        HTTP method to match.
    """

    path: str
    status: int | None = None
    body: str | bytes = ""
    headers: dict[str, str] = field(default_factory=dict)
    times: int = 1
    skip: int = 0
    delay_s: float = 0.0
    expire_tokens: bool = False
    method: str = "GET"
    hits: int = 0


class FakeSpotify:
    """State and request handler of the fake service.

    Parameters
    ----------
    n_tracks : int
        Size of the track universe (track ``i`` is on album ``i // tracks_per_album``).
    tracks_per_album : int
        Tracks per album.
    n_artists : int
        Album ``a`` is by artist ``a % n_artists``.
    token_lifetime_s : int
        ``expires_in`` of issued tokens.
    token_delay_s : float
        Time the token endpoint takes to answer (widens races in concurrency tests).
    style : {'2026', 'legacy'}
        Default answer style (see module docstring).
    """

    def __init__(self, *, n_tracks: int = 12_000, tracks_per_album: int = 12, n_artists: int = 50,
                 token_lifetime_s: int = 3600, token_delay_s: float = 0.0, style: str = "2026") -> None:
        self.n_tracks = n_tracks
        self.tracks_per_album = tracks_per_album
        self.n_albums = -(-n_tracks // tracks_per_album)
        self.n_artists = n_artists
        self.token_lifetime_s = token_lifetime_s
        self.token_delay_s = token_delay_s
        self.style = style
        self.base = "http://127.0.0.1"
        self.next_base: str | None = None
        self.latency_s = 0.0  # added to every answer (network round trip)
        self.name_suffix = ""  # appended to track names: simulates metadata edited on Spotify
        self.tokens: set[str] = set()
        self.counts: Counter[str] = Counter()
        self.log: list[tuple[str, str, dict[str, str]]] = []
        self.faults: list[Fault] = []
        self.playlists: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._track_ids = {spotify_id("track", i): i for i in range(n_tracks)}
        self._album_ids = {spotify_id("album", a): a for a in range(self.n_albums)}
        self._artist_ids = {spotify_id("artist", r): r for r in range(n_artists)}

    # -- set-up ---------------------------------------------------------------------
    def add_playlist(self, n: int, *, special: dict[int, str] | None = None, style: str | None = None,
                     start: int = 0, forbidden: str | None = None) -> str:
        """Register a playlist of ``n`` entries (entry ``j`` is track ``start + j``).

        ``special`` maps entry positions to ``"null"``, ``"local"``, ``"episode"``,
        ``"no_item"`` (entry without item/track) or ``"repeat"`` (the previous entry's track again).
        ``forbidden`` makes the playlist answer 403 with that message.
        """
        if start + n > self.n_tracks:
            raise ValueError("playlist exceeds the track universe")
        playlist_id = spotify_id("playlist", len(self.playlists))
        self.playlists[playlist_id] = {"n": n, "special": dict(special or {}), "style": style or self.style,
                                       "start": start, "forbidden": forbidden}
        return playlist_id

    def add_fault(self, path: str, **kwargs: Any) -> Fault:
        """Script a fault (see :class:`Fault`); returns it (its ``hits`` count what it answered)."""
        fault = Fault(path, **kwargs)
        with self._lock:
            self.faults.append(fault)
        return fault

    def track_id(self, i: int) -> str:
        return spotify_id("track", i)

    def album_id(self, a: int) -> str:
        return spotify_id("album", a)

    def artist_id(self, r: int) -> str:
        return spotify_id("artist", r)

    def artist_albums(self, r: int) -> list[int]:
        return [a for a in range(self.n_albums) if a % self.n_artists == r]

    def album_track_indexes(self, a: int) -> list[int]:
        return list(range(a * self.tracks_per_album, min(self.n_tracks, (a + 1) * self.tracks_per_album)))

    @contextlib.contextmanager
    def serve(self) -> Iterator[str]:
        """Serve on 127.0.0.1 (an ephemeral port) in a thread; yields the base URL."""
        server = FakeServer()
        base = server.start()
        server.attach(self)
        try:
            yield base
        finally:
            server.stop()

    # -- objects ----------------------------------------------------------------------
    def _artist(self, r: int) -> dict[str, Any]:
        aid = spotify_id("artist", r)
        return {"external_urls": {"spotify": f"https://open.spotify.com/artist/{aid}"},
                "href": f"https://api.spotify.com/v1/artists/{aid}", "id": aid, "name": f"Artist {r}",
                "type": "artist", "uri": f"spotify:artist:{aid}"}

    def _simple_album(self, a: int, style: str) -> dict[str, Any]:
        aid = spotify_id("album", a)
        album: dict[str, Any] = {
            "album_type": "single" if a % 7 == 3 else "album",
            "total_tracks": len(self.album_track_indexes(a)),
            "external_urls": {"spotify": f"https://open.spotify.com/album/{aid}"},
            "href": f"https://api.spotify.com/v1/albums/{aid}", "id": aid,
            "images": [{"url": f"https://i.scdn.co/image/{aid}-{s}", "height": s, "width": s} for s in (640, 300, 64)],
            "name": f"Album {a}",
            "release_date": f"{1970 + a % 55}" if a % 11 == 5 else f"{1970 + a % 55}-{a % 12 + 1:02d}-{a % 28 + 1:02d}",
            "release_date_precision": "year" if a % 11 == 5 else "day",
            "restrictions": None, "type": "album", "uri": f"spotify:album:{aid}",
            "artists": [self._artist(a % self.n_artists)],
        }
        if style == "legacy":
            album["available_markets"] = ["DE", "FR", "US"]
            album["album_group"] = album["album_type"]
        else:
            del album["restrictions"]
        return album

    def _track_artists(self, i: int) -> list[dict[str, Any]]:
        main = (i // self.tracks_per_album) % self.n_artists
        if i % 97 == 96:  # a guest track that does not credit the album artist
            return [self._artist((main + 1) % self.n_artists)]
        if i % 4 == 1:
            return [self._artist(main), self._artist((main + 7) % self.n_artists)]
        return [self._artist(main)]

    def _simple_track(self, i: int, style: str) -> dict[str, Any]:
        tid = spotify_id("track", i)
        track: dict[str, Any] = {
            "artists": self._track_artists(i), "disc_number": 1 + (i % self.tracks_per_album) // 10,
            "duration_ms": 150_000 + (i * 7919) % 150_000, "explicit": i % 5 == 0,
            "external_urls": {"spotify": f"https://open.spotify.com/track/{tid}"},
            "href": f"https://api.spotify.com/v1/tracks/{tid}", "id": tid, "is_playable": True,
            "name": f"Track {i} \u2013 \u201c\u00dcn\u00efcode\u201d & more{self.name_suffix}", "preview_url": None,
            "track_number": i % self.tracks_per_album + 1, "type": "track", "uri": f"spotify:track:{tid}",
            "is_local": False,
        }
        if style == "legacy":
            track["available_markets"] = ["DE", "FR", "US"]
        return track

    def _track(self, i: int, style: str) -> dict[str, Any]:
        track = self._simple_track(i, style)
        track["album"] = self._simple_album(i // self.tracks_per_album, style)
        if style == "legacy":
            track["external_ids"] = {"isrc": f"QZFZ2{i:07d}"}
            track["popularity"] = i % 100
        return track

    def _episode(self, j: int, style: str) -> dict[str, Any]:
        eid = spotify_id("episode", j)
        if style == "legacy":  # old shape: an episode dressed as a track
            return {"id": eid, "name": f"Episode {j}", "type": "track", "episode": True, "track": False,
                    "uri": f"spotify:episode:{eid}", "duration_ms": 1_800_000, "artists": [], "album": {}}
        return {"id": eid, "name": f"Episode {j}", "type": "episode", "uri": f"spotify:episode:{eid}",
                "duration_ms": 1_800_000, "description": "A podcast episode", "show": {"name": "A show"}}

    def _entry(self, playlist: dict[str, Any], j: int) -> dict[str, Any]:
        style = playlist["style"]
        key = "item" if style == "2026" else "track"
        kind = playlist["special"].get(j)
        entry: dict[str, Any] = {"added_at": "2024-05-01T12:00:00Z",
                                 "added_by": {"id": "someone", "type": "user", "uri": "spotify:user:someone"},
                                 "is_local": False, "primary_color": None}
        if kind == "null":
            entry[key] = None
        elif kind == "no_item":
            pass
        elif kind == "local":
            entry["is_local"] = True
            entry[key] = {"id": None, "name": f"My demo {j}", "type": "track", "is_local": True,
                          "uri": f"spotify:local:Me:Demos:My+demo+{j}:200", "duration_ms": 200_000, "artists": [],
                          "album": {"name": "Demos", "id": None}}
        elif kind == "episode":
            entry[key] = self._episode(j, style)
        elif kind == "repeat":
            entry[key] = self._track(playlist["start"] + j - 1, style)
        else:
            entry[key] = self._track(playlist["start"] + j, style)
        return entry

    # -- HTTP -------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        """Answer one request (the pytest-httpserver handler)."""
        if self.latency_s:
            time.sleep(self.latency_s)
        with self._lock:
            self.log.append((request.method, request.path, dict(request.args)))
            fault = self._match_fault(request)
        if fault is not None:
            if fault.delay_s:
                time.sleep(fault.delay_s)
            if fault.expire_tokens:
                with self._lock:
                    self.tokens.clear()
            elif fault.status is not None:
                with self._lock:
                    self.counts["faults"] += 1
                return Response(fault.body, status=fault.status, headers=fault.headers,
                                content_type=fault.headers.get("Content-Type", "application/json"))
        if request.path == "/api/token":
            return self._token(request)
        if request.path.startswith("/v1/"):
            with self._lock:
                self.counts["api"] += 1
            return self._api(request)
        return _json({"error": {"status": 404, "message": "Service not found"}}, 404)

    def _match_fault(self, request: Request) -> Fault | None:
        for fault in self.faults:
            if fault.method == request.method and re.search(fault.path, request.path):
                if fault.skip > 0:
                    fault.skip -= 1
                    continue
                if fault.times > 0:
                    fault.times -= 1
                    fault.hits += 1
                    return fault
        return None

    def _token(self, request: Request) -> Response:
        with self._lock:
            self.counts["token"] += 1
        if self.token_delay_s:
            time.sleep(self.token_delay_s)
        expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if request.method != "POST":
            return _json({"error": {"status": 405, "message": "Method not allowed"}}, 405)
        if request.form.get("grant_type") != "client_credentials":
            return _json({"error": "unsupported_grant_type", "error_description": "grant_type parameter is missing"},
                         400)
        if request.headers.get("Authorization") != expected:
            return _json({"error": "invalid_client", "error_description": "Invalid client"}, 400)
        token = "BQ" + secrets.token_urlsafe(60)
        with self._lock:
            self.tokens.add(token)
        return _json({"access_token": token, "token_type": "Bearer", "expires_in": self.token_lifetime_s})

    def _api(self, request: Request) -> Response:
        auth = request.headers.get("Authorization", "")
        with self._lock:
            valid = auth.startswith("Bearer ") and auth[7:] in self.tokens
        if not valid:
            message = "The access token expired" if auth.startswith("Bearer ") else "No token provided"
            return _json({"error": {"status": 401, "message": message}}, 401)
        parts = request.path.strip("/").split("/")[1:]
        if len(parts) == 2 and parts[0] == "tracks":
            index = self._track_ids.get(parts[1])
            return self._missing() if index is None else _json(self._track(index, self.style))
        if len(parts) == 2 and parts[0] == "albums":
            a = self._album_ids.get(parts[1])
            if a is None:
                return self._missing()
            album = self._simple_album(a, self.style)
            album.update({"label": "Fake Records", "genres": [], "copyrights": [],
                          "tracks": self._embedded(request, [self._simple_track(i, self.style)
                                                             for i in self.album_track_indexes(a)],
                                                   path=f"{request.path}/tracks")})
            return _json(album)
        if len(parts) == 3 and parts[0] == "albums" and parts[2] == "tracks":
            a = self._album_ids.get(parts[1])
            if a is None:
                return self._missing()
            indexes = self.album_track_indexes(a)
            return self._paged(request, len(indexes), lambda k: self._simple_track(indexes[k], self.style), "tracks")
        if len(parts) == 3 and parts[0] == "playlists" and parts[2] in ("items", "tracks"):
            playlist = self.playlists.get(parts[1])
            if playlist is None:
                return self._missing()
            if playlist["forbidden"]:
                return _json({"error": {"status": 403, "message": playlist["forbidden"]}}, 403)
            return self._paged(request, playlist["n"], lambda j: self._entry(playlist, j), "items")
        if len(parts) == 3 and parts[0] == "artists" and parts[2] == "albums":
            r = self._artist_ids.get(parts[1])
            if r is None:
                return self._missing()
            groups = set((request.args.get("include_groups") or "album,single,appears_on,compilation").split(","))
            albums = [a for a in self.artist_albums(r) if ("single" if a % 7 == 3 else "album") in groups]
            return self._paged(request, len(albums), lambda k: self._simple_album(albums[k], self.style), "albums")
        return self._missing()

    def _missing(self) -> Response:
        return _json({"error": {"status": 404, "message": "Resource not found"}}, 404)

    def _paged(self, request: Request, total: int, make: Any, kind: str) -> Response:
        try:
            limit = int(request.args.get("limit", 20))
            offset = int(request.args.get("offset", 0))
        except ValueError:
            return _json({"error": {"status": 400, "message": "Invalid limit or offset"}}, 400)
        if not 1 <= limit <= _PAGE_MAX[kind] or offset < 0:
            return _json({"error": {"status": 400, "message": "Invalid limit"}}, 400)
        items = [make(k) for k in range(offset, min(total, offset + limit))]
        return _json(self._page_body(request, items, total, limit, offset))

    def _embedded(self, request: Request, items: list[Any], *, path: str) -> dict[str, Any]:
        limit = _PAGE_MAX["tracks"]
        return self._page_body(request, items[:limit], len(items), limit, 0, path=path)

    def _page_body(self, request: Request, items: list[Any], total: int, limit: int, offset: int,
                   path: str | None = None) -> dict[str, Any]:
        base = (self.next_base or f"{self.base}/v1") + (path or request.path)[len("/v1"):]
        args = {k: v for k, v in request.args.items() if k not in ("offset", "limit")}

        def link(at: int) -> str:
            return f"{base}?{urlencode({**args, 'offset': at, 'limit': limit})}"

        return {"href": link(offset), "limit": limit, "offset": offset, "total": total, "items": items,
                "next": link(offset + limit) if offset + limit < total else None,
                "previous": link(max(0, offset - limit)) if offset > 0 else None}


class FakeServer:
    """A threaded HTTP server on 127.0.0.1 whose requests go to the attached :class:`FakeSpotify`.

    Starting and stopping a server costs about half a second, so tests share one
    server and attach a fresh fake to it per test.
    """

    def __init__(self) -> None:
        self.target: FakeSpotify | None = None
        self.base = ""
        self._server: Any = None

    def start(self) -> str:
        """Start serving; returns the base URL ``http://127.0.0.1:PORT``."""
        from pytest_httpserver import HTTPServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log lines in test output
        self._server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
        self._server.expect_request(re.compile(".*")).respond_with_handler(self.handle)
        self._server.start()
        self.base = f"http://127.0.0.1:{self._server.port}"
        return self.base

    def attach(self, fake: FakeSpotify) -> FakeSpotify:
        """Send the following requests to ``fake``."""
        fake.base = self.base
        self.target = fake
        return fake

    def handle(self, request: Request) -> Response:
        target = self.target
        if target is None:
            return _json({"error": {"status": 503, "message": "no fake attached"}}, 503)
        return target.handle(request)

    def stop(self) -> None:
        """Stop serving."""
        self._server.clear_log()
        self._server.stop()


def _json(payload: Any, status: int = 200) -> Response:
    return Response(json.dumps(payload), status=status, content_type="application/json")
