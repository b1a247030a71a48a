"""The Spotify Web API client: a :class:`SpotifyClient` Protocol and its httpx implementation.

What the API looks like for a development-mode app in 2026 (and how we use it):

* one id per request (the batch ``GET /tracks?ids=`` endpoints are gone);
* ``GET /tracks/{id}``, ``GET /albums/{id}`` and ``GET /albums/{id}/tracks``
  (pages of up to 50 simplified tracks);
* ``GET /playlists/{id}/items`` (pages of up to 50 entries, each entry's object
  under ``item``; older answers put it under ``track``);
* ``GET /artists/{id}/albums`` (pages of up to 10 albums): ``/artists/{id}/top-tracks``
  was removed for development-mode apps, so an artist is fetched as every track of
  their albums and singles (see :mod:`soundforge.spotify.fetch`);
* ``market`` is passed on every catalog request;
* 403 "Active premium subscription required for the owner of the app" when the
  app owner lacks Premium; ``Retry-After`` on 429 can be as long as a day.

Faults, per request:

======================================  ==============================================================
answer                                  what the client does
======================================  ==============================================================
2xx with a JSON object                  returns it
2xx with anything else                  retried like a 5xx (truncated or proxied body)
401                                     fetches a fresh token once, retries; a second 401 raises
                                        :class:`~soundforge.errors.SpotifyAuthError`
403                                     :class:`~soundforge.errors.PremiumRequired` when the message
                                        mentions Premium, else :class:`~soundforge.errors.SpotifyForbidden`
404                                     :class:`~soundforge.errors.SpotifyNotFound`
429                                     sleeps ``Retry-After`` when at most ``max_retry_after_s``
                                        (default 60 s), else raises
                                        :class:`~soundforge.errors.RateLimited` carrying the wait
5xx, timeouts, connection errors        retried with exponential backoff and jitter (``attempts``
                                        tries in all), then :class:`~soundforge.errors.SpotifyUnavailable`
======================================  ==============================================================

Every logical request (its retries included) runs through ``breaker.call``; see
:class:`Breaker`. ``next`` links are only followed inside the configured API base
(links to ``https://api.spotify.com/v1`` are re-based onto it), so the bearer token
is never sent to another host.
"""

from __future__ import annotations

import copy
import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable
from urllib.parse import urlsplit

import httpx

from .._version import __version__
from ..config import Settings, load_settings
from ..errors import (
    ConfigError,
    PremiumRequired,
    RateLimited,
    SpotifyAuthError,
    SpotifyError,
    SpotifyForbidden,
    SpotifyNotFound,
    SpotifyUnavailable,
    SpotifyURLError,
)
from .auth import (
    ENV_CLIENT_ID,
    ENV_CLIENT_SECRET,
    Credentials,
    Token,
    TokenCache,
    TokenProvider,
    cache_key,
    parse_token_response,
)
from .http import (
    BasicAuth,
    RequestStats,
    RetryPolicy,
    error_message,
    human_seconds,
    json_object,
    market_code,
    parse_retry_after,
    snippet,
)
from .urls import is_spotify_id

__all__ = [
    "PAGE_SIZES",
    "Breaker",
    "HttpSpotifyClient",
    "NullBreaker",
    "Page",
    "RequestStats",
    "RetryPolicy",
    "SpotifyClient",
    "market_code",
    "parse_retry_after",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

PAGE_SIZES = {"album_tracks": 50, "playlist_items": 50, "artist_albums": 10}
"""Largest ``limit`` each paged endpoint accepts (Spotify's documented maxima)."""

DEFAULT_INCLUDE_GROUPS = ("album", "single")
_MAX_PAGES = 100_000
_SPOTIFY_API = ("https", "api.spotify.com", "/v1")


@dataclass(frozen=True)
class Page:
    """One page of a paged listing.

    Attributes
    ----------
    items : list
        The page's ``items`` as Spotify sent them (entries may be ``None``).
    offset : int
        Index of the first item in the whole listing.
    total : int or None
        Size of the whole listing, when Spotify says.
    number : int
        1-based page number within this listing.
    has_next : bool
        Whether another page follows.
    """

    items: list[Any]
    offset: int
    total: int | None
    number: int
    has_next: bool


@runtime_checkable
class SpotifyClient(Protocol):
    """What :mod:`soundforge.spotify.fetch` needs from a Spotify client.

    ``market`` is an ISO 3166-1 alpha-2 country; ``None`` means the client's
    default and ``""`` means "send no market". Ids are 22 base-62 characters.
    Methods raise :class:`~soundforge.errors.SpotifyError` subclasses.
    """

    def track(self, track_id: str, *, market: str | None = None) -> dict[str, Any]:
        """The full track object of ``GET /tracks/{id}``."""
        ...

    def album(self, album_id: str, *, market: str | None = None) -> dict[str, Any]:
        """The album object of ``GET /albums/{id}``."""
        ...

    def album_tracks(self, album_id: str, *, market: str | None = None) -> Iterator[Page]:
        """Pages of simplified tracks of ``GET /albums/{id}/tracks``."""
        ...

    def playlist_items(self, playlist_id: str, *, market: str | None = None) -> Iterator[Page]:
        """Pages of playlist entries of ``GET /playlists/{id}/items``."""
        ...

    def artist_albums(self, artist_id: str, *, market: str | None = None,
                      include_groups: Sequence[str] = DEFAULT_INCLUDE_GROUPS) -> Iterator[Page]:
        """Pages of simplified albums of ``GET /artists/{id}/albums``."""
        ...


class Breaker(Protocol):
    """The circuit-breaker interface the client calls every request through.

    ``call(fn)`` runs ``fn()`` and returns its result, recording success or
    failure; while the circuit is open it raises
    :class:`~soundforge.errors.CircuitOpen` without calling ``fn``.
    """

    def call(self, fn: Callable[[], T], /) -> T:
        """Run ``fn`` under the breaker."""
        ...


class NullBreaker:
    """A breaker that never opens (the default when none is given)."""

    def call(self, fn: Callable[[], T], /) -> T:
        """Run ``fn``."""
        return fn()

    def __repr__(self) -> str:
        return "NullBreaker()"


class HttpSpotifyClient:
    """:class:`SpotifyClient` over httpx with the client-credentials flow.

    Parameters
    ----------
    credentials : Credentials, optional
        Client id and secret; default from ``client_id``/``client_secret`` or
        ``$SPOTIFY_CLIENT_ID``/``$SPOTIFY_CLIENT_SECRET``.
    client_id, client_secret : str, optional
        Explicit credentials (used when ``credentials`` is not given).
    settings : Settings, optional
        Source of ``spotify_api_url``, ``spotify_token_url`` and ``market`` (default: from the environment).
    api_url, token_url : str, optional
        Override the settings' base URLs.
    market : str, optional
        Default market (ISO 3166-1 alpha-2); default ``settings.market``.
    token_cache : path-like or TokenCache, optional
        Folder of the shared token cache file (a workspace passes ``<root>/.cache``);
        ``None`` keeps the token in memory only.
    http : httpx.Client, optional
        Client to send requests with (not closed by :meth:`close`).
    transport : httpx.BaseTransport, optional
        Transport for the internally created client (tests, proxies).
    connect_timeout_s, read_timeout_s : float
        httpx timeouts in seconds (connect 5 s, read 30 s).
    retry : RetryPolicy, optional
        Retry and wait limits.
    breaker : Breaker, optional
        Circuit breaker every request runs through (default: none).
    sleep : callable
        ``sleep(seconds)`` used for every wait (injectable for tests).
    rng : random.Random, optional
        Source of jitter.
    clock : callable
        Wall-clock seconds (token expiry, HTTP-date ``Retry-After``).
    env : Mapping[str, str], optional
        Environment for credentials and settings (default ``os.environ``).
    """

    def __init__(self, *, credentials: Credentials | None = None, client_id: str | None = None,
                 client_secret: str | None = None, settings: Settings | None = None, api_url: str | None = None,
                 token_url: str | None = None, market: str | None = None,
                 token_cache: str | Path | TokenCache | None = None, http: httpx.Client | None = None,
                 transport: httpx.BaseTransport | None = None, connect_timeout_s: float = 5.0,
                 read_timeout_s: float = 30.0, retry: RetryPolicy | None = None, breaker: Breaker | None = None,
                 sleep: Callable[[float], None] = time.sleep, rng: random.Random | None = None,
                 clock: Callable[[], float] = time.time, env: Mapping[str, str] | None = None) -> None:
        if min(connect_timeout_s, read_timeout_s) <= 0:
            raise ConfigError(f"Timeouts must be > 0 seconds, got connect={connect_timeout_s}, "
                              f"read={read_timeout_s}.")
        resolved = settings if settings is not None else load_settings(env=env)
        urls = {k: v for k, v in (("spotify_api_url", api_url), ("spotify_token_url", token_url)) if v is not None}
        if urls:
            resolved = resolved.replace(**urls)
        self.settings = resolved
        self.api_url = resolved.spotify_api_url
        self.token_url = resolved.spotify_token_url
        self.market = market_code(market if market is not None else resolved.market)
        self.credentials = credentials or Credentials.resolve(client_id=client_id, client_secret=client_secret,
                                                              env=env)
        self.retry = retry or RetryPolicy()
        self.breaker: Breaker = breaker if breaker is not None else NullBreaker()
        self.timeout = httpx.Timeout(read_timeout_s, connect=connect_timeout_s)
        self.stats = RequestStats()
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._clock = clock
        self._owns_http = http is None
        self._http = http if http is not None else httpx.Client(
            transport=transport, timeout=self.timeout, follow_redirects=False,
            headers={"Accept": "application/json", "User-Agent": f"soundforge/{__version__}"})
        if isinstance(token_cache, TokenCache):
            cache: TokenCache | None = token_cache
        elif token_cache is not None:
            cache = TokenCache(token_cache, key=cache_key(self.credentials.client_id, self.token_url))
        else:
            cache = None
        self.tokens = TokenProvider(fetch=self._fetch_token, cache=cache, clock=clock)

    def __repr__(self) -> str:
        # getattr: also called on half-built objects (verbose tracebacks of __init__)
        credentials = getattr(self, "credentials", None)
        return (f"HttpSpotifyClient(api_url={getattr(self, 'api_url', None)!r}, "
                f"token_url={getattr(self, 'token_url', None)!r}, "
                f"client_id={credentials.client_id if credentials else None!r}, "
                f"market={getattr(self, 'market', None)!r})")

    def with_breaker(self, breaker: Breaker) -> HttpSpotifyClient:
        """A view of this client whose requests go through ``breaker``.

        The view shares connections, token provider and :attr:`stats` with this
        client (so threads of one run share one token and one connection pool);
        closing it closes nothing.
        """
        view = copy.copy(self)
        view.breaker = breaker
        view._owns_http = False
        return view

    # -- lifecycle -------------------------------------------------------------------
    def close(self) -> None:
        """Close the HTTP connections (only when this object created the httpx client)."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> HttpSpotifyClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the SpotifyClient protocol -------------------------------------------------
    def track(self, track_id: str, *, market: str | None = None) -> dict[str, Any]:
        """The full track object of ``GET /tracks/{id}``."""
        _check_id(track_id, "track")
        return self._get(f"{self.api_url}/tracks/{track_id}", self._params(market), what=f"track {track_id}")

    def album(self, album_id: str, *, market: str | None = None) -> dict[str, Any]:
        """The album object of ``GET /albums/{id}``."""
        _check_id(album_id, "album")
        return self._get(f"{self.api_url}/albums/{album_id}", self._params(market), what=f"album {album_id}")

    def album_tracks(self, album_id: str, *, market: str | None = None) -> Iterator[Page]:
        """Pages of up to 50 simplified tracks of ``GET /albums/{id}/tracks``."""
        _check_id(album_id, "album")
        return self._pages(f"/albums/{album_id}/tracks",
                           {**self._params(market), "limit": PAGE_SIZES["album_tracks"], "offset": 0},
                           what=f"tracks of album {album_id}")

    def playlist_items(self, playlist_id: str, *, market: str | None = None) -> Iterator[Page]:
        """Pages of up to 50 entries of ``GET /playlists/{id}/items`` (episodes included, to be skipped)."""
        _check_id(playlist_id, "playlist")
        params = {**self._params(market), "limit": PAGE_SIZES["playlist_items"], "offset": 0,
                  "additional_types": "track,episode"}
        return self._pages(f"/playlists/{playlist_id}/items", params, what=f"items of playlist {playlist_id}")

    def artist_albums(self, artist_id: str, *, market: str | None = None,
                      include_groups: Sequence[str] = DEFAULT_INCLUDE_GROUPS) -> Iterator[Page]:
        """Pages of up to 10 simplified albums of ``GET /artists/{id}/albums``."""
        _check_id(artist_id, "artist")
        groups = [g for g in include_groups if g in ("album", "single", "appears_on", "compilation")]
        if not groups or len(groups) != len(include_groups):
            raise ConfigError(f"include_groups must be a non-empty subset of album, single, appears_on, "
                              f"compilation; got {list(include_groups)!r}.")
        params = {**self._params(market), "include_groups": ",".join(groups),
                  "limit": PAGE_SIZES["artist_albums"], "offset": 0}
        return self._pages(f"/artists/{artist_id}/albums", params, what=f"albums of artist {artist_id}")

    # -- requests ----------------------------------------------------------------------
    def _params(self, market: str | None) -> dict[str, Any]:
        chosen = self.market if market is None else market_code(market)
        return {"market": chosen} if chosen else {}

    def _get(self, url: str, params: Mapping[str, Any] | None, *, what: str) -> dict[str, Any]:
        def send(token: str | None) -> httpx.Response:
            return self._http.get(url, params=params, headers={"Authorization": f"Bearer {token}"})

        return self.breaker.call(lambda: self._call(send, what=what, url=url, api=True))

    def _fetch_token(self) -> Token:
        now = self._clock()
        auth = BasicAuth(self.credentials)

        def send(_: str | None) -> httpx.Response:
            return self._http.post(self.token_url, data={"grant_type": "client_credentials"}, auth=auth)

        payload = self._call(send, what="an access token", url=self.token_url, api=False)
        return parse_token_response(payload, now=now)

    def _call(self, send: Callable[[str | None], httpx.Response], *, what: str, url: str,
              api: bool) -> dict[str, Any]:
        """One logical request with its retries (see the table in the module docstring)."""
        policy = self.retry
        failures = rate_waits = 0
        refreshed = False
        token = self.tokens.get().access_token if api else None
        while True:
            cause: BaseException | None = None
            server_wait: float | None = None
            self.stats.add(**{"api_requests" if api else "token_requests": 1})
            try:
                response = send(token)
            except httpx.TimeoutException as exc:
                problem = (f"Spotify did not answer {what} in time ({type(exc).__name__}; limits: connect "
                           f"{self.timeout.connect} s, read {self.timeout.read} s)")
                cause = exc
            except httpx.RequestError as exc:
                problem = f"Could not reach Spotify for {what} ({type(exc).__name__}: {exc})"
                cause = exc
            else:
                status = response.status_code
                if 200 <= status < 300:
                    try:
                        return json_object(response)
                    except ValueError as exc:
                        problem = (f"Spotify answered {what} with a body that is not a JSON object "
                                   f"({snippet(response)})")
                        cause = exc
                elif status == 401 and api and not refreshed and token is not None:
                    refreshed = True
                    log.info("Spotify answered 401 for %s; fetching a fresh access token.", what)
                    token = self.tokens.get(stale=token).access_token
                    continue
                elif status == 429:
                    delay = parse_retry_after(response.headers.get("Retry-After"), now=self._clock())
                    if delay is None:
                        delay = policy.backoff(rate_waits + 1, self._rng)
                    if delay > policy.max_retry_after_s or rate_waits >= policy.max_rate_limit_waits:
                        raise RateLimited(
                            f"Spotify is rate limiting {what} and asks to wait {human_seconds(delay)} (Retry-After), "
                            f"more than SoundForge waits on its own ({human_seconds(policy.max_retry_after_s)}, "
                            f"{policy.max_rate_limit_waits} waits). Try again after that.",
                            retry_after=delay, url=url)
                    rate_waits += 1
                    log.warning("Spotify rate limit on %s: waiting %.1f s (Retry-After).", what, delay)
                    self._wait(delay, rate_limit_waits=1)
                    continue
                elif status >= 500:
                    problem = f"Spotify answered {what} with HTTP {status} ({error_message(response)})"
                    server_wait = parse_retry_after(response.headers.get("Retry-After"), now=self._clock())
                else:
                    raise self._refusal(response, what=what, url=url, api=api)
            failures += 1
            if failures >= policy.attempts:
                raise SpotifyUnavailable(f"{problem} at {url}; gave up after {failures} attempt(s). Spotify or the "
                                         "network may be down: try again later.", url=url) from cause
            delay = server_wait if server_wait is not None and server_wait <= policy.max_retry_after_s \
                else policy.backoff(failures, self._rng)
            log.info("%s; retry %d/%d in %.2f s.", problem, failures, policy.attempts - 1, delay)
            self._wait(delay, retries=1)

    def _wait(self, seconds: float, **counters: float) -> None:
        self.stats.add(waited_s=seconds, **counters)
        self._sleep(seconds)

    def _refusal(self, response: httpx.Response, *, what: str, url: str, api: bool) -> SpotifyError:
        """The error for a 3xx/4xx answer that retrying cannot fix."""
        status = response.status_code
        message = error_message(response)
        if not api:
            return SpotifyAuthError(
                f"Spotify's token endpoint {url} refused the credentials of client id "
                f"{self.credentials.client_id!r} (HTTP {status}: {message}). Check {ENV_CLIENT_ID} and "
                f"{ENV_CLIENT_SECRET} (or client_id=/client_secret=) against your app's dashboard.",
                status=status, url=url)
        if status == 401:
            return SpotifyAuthError(f"Spotify rejected a freshly issued access token for {what} (HTTP 401: "
                                    f"{message}). Check that the app's credentials are valid.", status=status, url=url)
        if status == 403 and "premium" in message.lower():
            return PremiumRequired(
                f"Spotify refused {what}: {message} (HTTP 403). Development-mode apps only work while the "
                "app owner's account has Spotify Premium.", status=status, url=url)
        if status == 403:
            return SpotifyForbidden(
                f"Spotify refused {what} (HTTP 403: {message}). Development-mode apps may only read some items "
                "(for example playlists their owner made); check the link or the app's quota mode.",
                status=status, url=url)
        if status == 404:
            return SpotifyNotFound(f"Spotify found no {what} (HTTP 404: {message}). Check the link: private, "
                                   "deleted or region-locked items are not found.", status=status, url=url)
        if 300 <= status < 400:
            return SpotifyError(f"Spotify redirected {what} to {response.headers.get('Location', '?')!r} (HTTP "
                                f"{status}); SoundForge does not follow redirects. Check SOUNDFORGE_SPOTIFY_API_URL.",
                                status=status, url=url)
        return SpotifyError(f"Spotify refused {what} with HTTP {status}: {message}.", status=status, url=url)

    # -- pagination ----------------------------------------------------------------------
    def _pages(self, path: str, params: dict[str, Any], *, what: str) -> Iterator[Page]:
        url = self.api_url + path
        query: dict[str, Any] | None = params
        seen = {url}
        number = 0
        while True:
            payload = self._get(url, query, what=f"{what} (page {number + 1})")
            items = payload.get("items")
            if not isinstance(items, list):
                raise SpotifyError(f"Spotify's answer for {what} (page {number + 1}) has no 'items' list; "
                                   "is SOUNDFORGE_SPOTIFY_API_URL a Spotify Web API?", url=url)
            number += 1
            self.stats.add(pages=1)
            link = payload.get("next")
            total = payload.get("total")
            offset = payload.get("offset")
            yield Page(items=items, offset=offset if isinstance(offset, int) else 0,
                       total=total if isinstance(total, int) else None, number=number, has_next=bool(link))
            if not link:
                return
            if not isinstance(link, str) or not items:
                raise SpotifyError(f"Spotify's page {number} of {what} is empty or its next link is not a URL; "
                                   "stopping instead of looping.", url=url)
            url = self._follow(link, what=what)
            query = None
            if url in seen or number >= _MAX_PAGES:
                raise SpotifyError(f"Spotify's next links for {what} loop back to {url}; stopping.", url=url)
            seen.add(url)

    def _follow(self, link: str, *, what: str) -> str:
        """The URL to request for a ``next`` link, refusing links outside the API base."""
        parts = urlsplit(link)
        base = urlsplit(self.api_url)
        if (parts.scheme, parts.netloc) == (base.scheme, base.netloc) and parts.path.startswith(base.path + "/"):
            return link
        if (parts.scheme, parts.hostname) == _SPOTIFY_API[:2] and parts.path.startswith(_SPOTIFY_API[2] + "/") \
                and parts.port is None and "@" not in parts.netloc:
            rebased = self.api_url + parts.path[len(_SPOTIFY_API[2]):]
            return rebased + (f"?{parts.query}" if parts.query else "")
        raise SpotifyError(f"Spotify's next link for {what} points outside {self.api_url} ({link[:200]!r}); "
                           "refusing to send the access token there.", url=link[:200])


def _check_id(value: str, kind: str) -> None:
    if not is_spotify_id(value):
        raise SpotifyURLError(f"Malformed Spotify {kind} id {str(value)[:60]!r}: expected 22 letters and digits.",
                              id=str(value)[:60])
