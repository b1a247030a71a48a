"""HTTP details of the Spotify client: retry policy, counters, ``Retry-After``, error bodies, Basic auth.

Kept apart from :mod:`.client` so the client module stays about the API itself.
"""

from __future__ import annotations

import base64
import email.utils
import math
import random
import threading
from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

import httpx

from .. import retry as _retry
from ..errors import ConfigError
from .auth import Credentials

__all__ = ["BasicAuth", "RequestStats", "RetryPolicy", "SpotifyRetryPolicy", "error_message", "human_seconds",
           "json_object", "market_code", "parse_retry_after", "snippet"]


@dataclass(frozen=True)
class SpotifyRetryPolicy(_retry.RetryPolicy):
    """The package's :class:`~soundforge.retry.RetryPolicy` plus the Web API's own waiting rules.

    Attributes
    ----------
    attempts : int
        Tries per request for 5xx answers, timeouts, connection errors and non-JSON bodies.
    initial_s : float
        Base delay in seconds; the n-th retry waits between ``b*2**(n-1)/2`` and
        ``b*2**(n-1)`` ("equal jitter"), at most ``max_s``.
    max_s : float
        Longest backoff in seconds.
    max_retry_after_s : float
        Longest ``Retry-After`` (429, or 5xx that carry one) the client sleeps through, in seconds;
        a longer one raises :class:`~soundforge.errors.RateLimited`.
    max_rate_limit_waits : int
        429 answers one request may wait through before raising ``RateLimited``.
    """

    attempts: int = 5
    initial_s: float = 0.5
    max_s: float = 30.0
    max_retry_after_s: float = 60.0
    max_rate_limit_waits: int = 10

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.max_rate_limit_waits, int) or self.max_rate_limit_waits < 0:
            raise ConfigError(f"RetryPolicy needs attempts >= 1 and max_rate_limit_waits >= 0, got {self}.")
        if not self.max_retry_after_s >= 0:
            raise ConfigError(f"RetryPolicy max_retry_after_s must be >= 0 seconds, got {self}.")

    def backoff(self, retry: int, rng: random.Random) -> float:
        """Seconds to wait before retry number ``retry`` (1-based): equal jitter around the exponential delay."""
        ceiling = min(self.max_s, self.initial_s * self.base ** max(0, retry - 1))
        return ceiling / 2 + rng.uniform(0, ceiling / 2)


RetryPolicy = SpotifyRetryPolicy


@dataclass
class RequestStats:
    """Counters of one client (thread-safe through :meth:`add`).

    Attributes
    ----------
    api_requests, token_requests : int
        HTTP requests sent to the API and to the token endpoint (retries included).
    pages : int
        Pages of paged listings received.
    retries : int
        Requests repeated after a 5xx, timeout, connection error or bad body.
    rate_limit_waits : int
        429 answers slept through.
    waited_s : float
        Seconds slept for backoff and ``Retry-After``.
    """

    api_requests: int = 0
    token_requests: int = 0
    pages: int = 0
    retries: int = 0
    rate_limit_waits: int = 0
    waited_s: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **amounts: float) -> None:
        """Add to counters by name."""
        with self._lock:
            for name, amount in amounts.items():
                setattr(self, name, getattr(self, name) + amount)

    def to_dict(self) -> dict[str, float]:
        """The counters as a plain dict."""
        with self._lock:
            return {k: getattr(self, k) for k in ("api_requests", "token_requests", "pages", "retries",
                                                  "rate_limit_waits", "waited_s")}


class BasicAuth(httpx.Auth):
    """HTTP Basic auth that keeps the secret inside :class:`Secret` until the header is built.

    Passing ``auth=(id, secret)`` would leave the plain secret in httpx's stack
    frames, where verbose tracebacks (IPython ``%xmode Verbose``) print locals.
    """

    def __init__(self, credentials: Credentials) -> None:
        self._credentials = credentials

    def __repr__(self) -> str:
        return f"BasicAuth(client_id={self._credentials.client_id!r}, client_secret='***')"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = "Basic " + base64.b64encode(
            f"{self._credentials.client_id}:{self._credentials.client_secret.reveal()}".encode()).decode()
        yield request


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date).

    Parameters
    ----------
    value : str or None
        The header value.
    now : float
        Current wall-clock time (seconds since the epoch), for HTTP dates.

    Returns
    -------
    float or None
        ``None`` when the header is missing or unreadable; never negative.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - now
    if math.isnan(seconds):
        return None
    return max(0.0, seconds)


def json_object(response: httpx.Response) -> dict[str, Any]:
    data = response.json()
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, got {type(data).__name__}")
    return data


def error_message(response: httpx.Response) -> str:
    """Spotify's error message from a JSON or non-JSON error body."""
    try:
        data = response.json()
    except ValueError:
        return snippet(response)
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:300]
        if isinstance(error, str):
            detail = data.get("error_description")
            return f"{error}: {detail}"[:300] if detail else error[:300]
    return snippet(response)


def snippet(response: httpx.Response) -> str:
    text = " ".join(response.text.split())
    if not text:
        return f"empty body, content-type {response.headers.get('content-type', 'none')!r}"
    return f"body starts {text[:120]!r}"


def human_seconds(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 120:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


def market_code(value: str) -> str:
    """Normalise a market: two letters, upper-cased; ``""`` means none. Raises ConfigError otherwise."""
    text = str(value).strip().upper()
    if text and (len(text) != 2 or not text.isalpha()):
        raise ConfigError(f"Unusable market {value!r}: expected a two-letter country code such as US or DE "
                          "(or '' for none).")
    return text
