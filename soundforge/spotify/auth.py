"""Client-credentials authentication: credentials, access tokens and the shared token cache.

Spotify's client-credentials flow trades the app's client id and secret for a
bearer token valid for ``expires_in`` seconds (an hour). SoundForge keeps the
token in memory and in a per-workspace cache file so that every thread and
every worker process of a workspace uses the same token:

* the file is written atomically (temporary file, ``fsync``, ``os.replace``)
  with mode ``0600`` in a ``0700`` folder, and ignored when it is group- or
  world-accessible, owned by someone else, a symlink, or unreadable;
* a token is used until 100 s before it expires (half its lifetime for tokens
  that live less than 200 s);
* refreshing happens under an exclusive ``fcntl.flock`` on a lock file beside
  the cache, and the cache is read again once the lock is held, so N processes
  that find the token stale together make exactly one token request;
* the file holds the access token only, never the client secret, and is keyed
  by a hash of (client id, token URL) so switching apps or endpoints never
  reuses a foreign token.

This module does no HTTP itself: :class:`TokenProvider` is given a ``fetch``
callable (the client's token request, with its retries and error handling).
The client secret is wrapped in :class:`Secret`, which never shows its value in
``repr``, ``str``, f-strings or logs.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import os
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import SpotifyAuthError, SpotifyError
from ..storage import fsync_dir

__all__ = [
    "ENV_CLIENT_ID",
    "ENV_CLIENT_SECRET",
    "REFRESH_MARGIN_S",
    "Credentials",
    "Secret",
    "Token",
    "TokenCache",
    "TokenProvider",
    "cache_key",
    "parse_token_response",
]

log = logging.getLogger(__name__)

ENV_CLIENT_ID = "SPOTIFY_CLIENT_ID"
ENV_CLIENT_SECRET = "SPOTIFY_CLIENT_SECRET"
REFRESH_MARGIN_S = 100.0
"""A token is replaced this many seconds before Spotify says it expires."""

_CACHE_VERSION = 1


class Secret:
    """A string that hides its value from ``repr``, ``str`` and formatting.

    Parameters
    ----------
    value : str
        The secret. Read it back with :meth:`reveal` only where it is sent.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret value itself."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __format__(self, spec: str) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(("Secret", hashlib.sha256(self._value.encode()).digest()))

    def __bool__(self) -> bool:
        return bool(self._value)


@dataclass(frozen=True)
class Credentials:
    """A Spotify app's client id and secret.

    Attributes
    ----------
    client_id : str
        The app's client id (not secret; shown in reprs).
    client_secret : Secret
        The app's client secret (never shown).
    """

    client_id: str
    client_secret: Secret = field(repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.client_secret, Secret):
            object.__setattr__(self, "client_secret", Secret(str(self.client_secret)))

    def __repr__(self) -> str:
        return f"Credentials(client_id={self.client_id!r}, client_secret='***')"

    @classmethod
    def resolve(cls, *, client_id: str | None = None, client_secret: str | Secret | None = None,
                env: Mapping[str, str] | None = None) -> Credentials:
        """Credentials from arguments, else ``$SPOTIFY_CLIENT_ID`` / ``$SPOTIFY_CLIENT_SECRET``.

        Parameters
        ----------
        client_id, client_secret : str, optional
            Explicit values; win over the environment.
        env : Mapping[str, str], optional
            Environment to read (default: ``os.environ``).

        Raises
        ------
        SpotifyAuthError
            When either value is missing, naming exactly which variable(s) to set.
        """
        # No local variable holds os.environ or the plain secret: verbose tracebacks print locals.
        cid = (client_id or _from_env(ENV_CLIENT_ID, env)).strip()
        secret = client_secret if isinstance(client_secret, Secret) else Secret(
            (client_secret or _from_env(ENV_CLIENT_SECRET, env)).strip())
        missing = [name for name, value in ((ENV_CLIENT_ID, cid), (ENV_CLIENT_SECRET, secret.reveal().strip()))
                   if not value]
        if missing:
            raise SpotifyAuthError(
                f"Spotify credentials are missing: set the environment variable{'s' if len(missing) > 1 else ''} "
                f"{' and '.join(missing)} (from your app at https://developer.spotify.com/dashboard), "
                "or pass client_id= and client_secret=.", missing=missing)
        return cls(cid, Secret(secret.reveal().strip()))


@dataclass(frozen=True)
class Token:
    """An access token and when to stop using it.

    Attributes
    ----------
    access_token : str
        The bearer token (hidden from ``repr``).
    expires_at : float
        Wall-clock time (``time.time()``, seconds) at which Spotify expires it.
    refresh_at : float
        Wall-clock time after which SoundForge fetches a new one.
    """

    access_token: str = field(repr=False)
    expires_at: float
    refresh_at: float

    def usable(self, now: float) -> bool:
        """``True`` while ``now`` (seconds since the epoch) is before :attr:`refresh_at`."""
        return now < self.refresh_at

    def __repr__(self) -> str:
        return f"Token(access_token='***', expires_at={self.expires_at:.0f}, refresh_at={self.refresh_at:.0f})"


def parse_token_response(payload: Mapping[str, Any], *, now: float) -> Token:
    """Turn the token endpoint's JSON answer into a :class:`Token`.

    Parameters
    ----------
    payload : Mapping
        ``{"access_token": str, "token_type": "Bearer", "expires_in": int}``.
    now : float
        Time the request was sent (seconds since the epoch).

    Raises
    ------
    SpotifyAuthError
        When the answer lacks a usable token or lifetime.
    """
    access = payload.get("access_token")
    kind = str(payload.get("token_type", "Bearer"))
    expires_in = payload.get("expires_in")
    if not isinstance(access, str) or not access or kind.lower() != "bearer":
        raise SpotifyAuthError("Spotify's token endpoint answered without a bearer access token; check "
                               "SOUNDFORGE_SPOTIFY_TOKEN_URL points at https://accounts.spotify.com/api/token.")
    if isinstance(expires_in, bool) or not isinstance(expires_in, (int, float)) or expires_in <= 0:
        raise SpotifyAuthError(f"Spotify's token endpoint gave an unusable lifetime expires_in={expires_in!r}.")
    margin = min(REFRESH_MARGIN_S, expires_in / 2)
    return Token(access, expires_at=now + expires_in, refresh_at=now + expires_in - margin)


def cache_key(client_id: str, token_url: str) -> str:
    """Short hash naming the cache file of one (client id, token URL) pair."""
    return hashlib.sha256(f"{client_id}\n{token_url}".encode()).hexdigest()[:16]


class TokenCache:
    """The per-workspace token file, ``<folder>/spotify-token-<key>.json``.

    Parameters
    ----------
    folder : str or pathlib.Path
        Folder of the cache (created with mode ``0700``).
    key : str
        :func:`cache_key` of the client id and token URL.
    lock_timeout_s : float
        How long :meth:`lock` waits for another process's refresh, in seconds.
    """

    def __init__(self, folder: str | os.PathLike[str], *, key: str, lock_timeout_s: float = 120.0) -> None:
        self.folder = Path(folder).expanduser()
        self.key = key
        self.lock_timeout_s = lock_timeout_s

    def __repr__(self) -> str:
        return f"TokenCache({str(self.path)!r})"

    @property
    def path(self) -> Path:
        """The cache file."""
        return self.folder / f"spotify-token-{self.key}.json"

    def load(self) -> Token | None:
        """The cached token, or ``None`` when absent, foreign, corrupt or not private."""
        try:
            fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            return None
        try:
            info = os.fstat(fd)
            if info.st_mode & 0o077 or (hasattr(os, "getuid") and info.st_uid != os.getuid()):
                log.warning("Ignoring Spotify token cache %s: it is readable by others or not yours.", self.path)
                return None
            with os.fdopen(fd, "rb", closefd=False) as handle:
                data = json.loads(handle.read(65536))
        except (OSError, ValueError):
            return None
        finally:
            os.close(fd)
        if not isinstance(data, dict) or data.get("version") != _CACHE_VERSION or data.get("key") != self.key:
            return None
        try:
            return Token(str(data["access_token"]), expires_at=float(data["expires_at"]),
                         refresh_at=float(data["refresh_at"]))
        except (KeyError, TypeError, ValueError):
            return None

    def store(self, token: Token) -> None:
        """Write ``token`` atomically with mode ``0600``; failures are logged, not raised."""
        payload = json.dumps({"version": _CACHE_VERSION, "key": self.key, "access_token": token.access_token,
                              "expires_at": token.expires_at, "refresh_at": token.refresh_at}).encode()
        tmp: str | None = None
        try:
            self._ensure_folder()
            fd, tmp = tempfile.mkstemp(prefix=".spotify-token-", suffix=".tmp", dir=self.folder)
            with os.fdopen(fd, "wb") as handle:
                os.fchmod(handle.fileno(), 0o600)
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
            tmp = None
            fsync_dir(self.folder)
        except OSError as exc:
            log.warning("Could not write the Spotify token cache %s: %s", self.path, exc.strerror or exc)
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold an exclusive lock on ``<cache>.lock`` (``fcntl.flock``) while refreshing.

        Raises
        ------
        SpotifyAuthError
            When another process holds the lock longer than ``lock_timeout_s``.
        """
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: threads of one process are still serialised
            yield
            return
        self._ensure_folder()
        lock_path = self.path.with_suffix(".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
        try:
            deadline = time.monotonic() + self.lock_timeout_s
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise SpotifyAuthError(
                            f"Another process has been refreshing the Spotify token for over "
                            f"{self.lock_timeout_s:.0f} s (lock {lock_path}); retry later.",
                            path=str(lock_path)) from None
                    time.sleep(0.02)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def _ensure_folder(self) -> None:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if stat.S_IMODE(self.folder.stat().st_mode) & 0o077:
            with contextlib.suppress(OSError):
                self.folder.chmod(0o700)


class TokenProvider:
    """Hands out a usable access token, fetching one only when nobody else has.

    Parameters
    ----------
    fetch : callable
        ``fetch() -> Token``: one token request (with its own retries).
    cache : TokenCache, optional
        Shared file cache; without it tokens are shared by this object's users only.
    clock : callable
        Wall-clock time in seconds (``time.time``), injectable for tests.

    Attributes
    ----------
    fetches : int
        Token requests this provider made.
    """

    def __init__(self, *, fetch: Callable[[], Token], cache: TokenCache | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self._fetch = fetch
        self.cache = cache
        self._clock = clock
        self._lock = threading.Lock()
        self._token: Token | None = None
        self.fetches = 0

    def __repr__(self) -> str:
        return f"TokenProvider(cache={self.cache!r})"

    def get(self, *, stale: str | None = None) -> Token:
        """A usable token.

        Parameters
        ----------
        stale : str, optional
            An access token Spotify just rejected (401): never return it again.
        """
        with self._lock:
            token = self._token
            if token is not None and self._good(token, stale):
                return token
            token = self._from_cache(stale)
            if token is None:
                if self.cache is None:
                    token = self._new()
                else:
                    with self.cache.lock():
                        token = self._from_cache(stale) or self._new()
            self._token = token
            return token

    def _good(self, token: Token, stale: str | None) -> bool:
        return token.usable(self._clock()) and (stale is None or not hmac.compare_digest(token.access_token, stale))

    def _from_cache(self, stale: str | None) -> Token | None:
        if self.cache is None:
            return None
        token = self.cache.load()
        return token if token is not None and self._good(token, stale) else None

    def _new(self) -> Token:
        self.fetches += 1
        token = self._fetch()
        if not isinstance(token, Token):  # a custom fetch returning garbage must not poison the cache
            raise SpotifyError(f"The token fetch function returned {type(token).__name__}, not a Token.")
        if self.cache is not None:
            self.cache.store(token)
        return token


def _from_env(name: str, env: Mapping[str, str] | None) -> str:
    return (os.environ if env is None else env).get(name, "")

