"""Retry policies and circuit breakers (used by the runner and by stage code that calls a service).

Retries are for *transient* errors only (:func:`soundforge.errors.is_transient`):
the delay before attempt ``n + 1`` is ``min(initial_s * base ** (n - 1), max_s)``
plus a uniform jitter in ``[0, jitter_s]`` (tenacity's ``wait_exponential`` +
``wait_random``).

A circuit breaker protects one external service (``"spotify"``, ``"spotdl"``...):
after ``threshold`` consecutive counted failures it *opens* and every call fails
fast with :class:`~soundforge.errors.CircuitOpen`; after ``recovery_s`` seconds
it lets exactly one *probe* call through (*half-open*): success closes it,
failure opens it again for another ``recovery_s``.

>>> breaker = CircuitBreaker("spotify")
>>> with breaker:          # or breaker.call(fn, *args)
...     pass
>>> breaker.state
'closed'
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Literal, TypeVar

from ..errors import CircuitOpen, ConfigError, is_transient
from ..retry import RetryPolicy

__all__ = ["BreakerBoard", "BreakerState", "CircuitBreaker", "RetryPolicy"]

T = TypeVar("T")
BreakerState = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    """A circuit breaker for one external service; thread-safe.

    Parameters
    ----------
    service : str
        Name of the protected service, shown in :class:`~soundforge.errors.CircuitOpen`.
    threshold : int
        Consecutive counted failures that open the breaker.
    recovery_s : float
        Seconds the breaker stays open before letting one probe call through.
    counts : callable
        ``counts(exc) -> bool``: which failures count against the service
        (default: transient ones — a 404 is not the service's fault).
    clock : callable
        Monotonic clock in seconds (inject a fake one in tests).
    wall : callable
        Wall clock (``time.time``) used to say *when* the breaker will retry.
    on_event : callable, optional
        ``on_event(ok, exc)`` called after each recorded success/failure (the
        runner uses it to forward calls made in worker processes).
    on_change : callable, optional
        ``on_change(breaker)`` called after a success or failure changed the state or the
        failure count (the runner uses it to keep the state in the catalog).
    """

    def __init__(self, service: str, *, threshold: int = 5, recovery_s: float = 30.0,
                 counts: Callable[[BaseException], bool] = is_transient,
                 clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time,
                 on_event: Callable[[bool, BaseException | None], None] | None = None,
                 on_change: Callable[[CircuitBreaker], None] | None = None) -> None:
        if not isinstance(threshold, int) or threshold < 1:
            raise ConfigError(f"Circuit breaker threshold must be an integer >= 1, got {threshold!r}.")
        if not recovery_s >= 0:
            raise ConfigError(f"Circuit breaker recovery_s must be >= 0 seconds, got {recovery_s!r}.")
        self.service = service
        self.threshold = threshold
        self.recovery_s = float(recovery_s)
        self.counts = counts
        self.clock = clock
        self.wall = wall
        self.on_event = on_event
        self.on_change = on_change
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._probe_at: float | None = None  # when the current probe was let through
        self._last_error: str | None = None

    def __repr__(self) -> str:
        return f"CircuitBreaker({self.service!r}, state={self.state!r}, failures={self.failures})"

    # -- state -------------------------------------------------------------------
    @property
    def failures(self) -> int:
        """Consecutive counted failures so far."""
        return self._failures

    @property
    def state(self) -> BreakerState:
        """``"closed"``, ``"open"`` or ``"half_open"`` (open, but the recovery time has passed)."""
        with self._lock:
            return self._state_locked()

    def _state_locked(self) -> BreakerState:
        if self._opened_at is None:
            return "closed"
        return "half_open" if self.clock() - self._opened_at >= self.recovery_s else "open"

    def retry_in(self) -> float:
        """Seconds until a probe will be allowed (0 when closed or half-open)."""
        with self._lock:
            if self._opened_at is None:
                return 0.0
            return max(0.0, self._opened_at + self.recovery_s - self.clock())

    # -- protocol ----------------------------------------------------------------
    def allow(self) -> None:
        """Ask to make a call; returns when allowed, raises :class:`CircuitOpen` when not.

        When the breaker is half-open the first caller becomes the probe; others
        fail fast until the probe's outcome is recorded (or, if it never is, for
        another ``recovery_s``).
        """
        with self._lock:
            now = self.clock()
            if self._opened_at is None:
                return
            wait = self._opened_at + self.recovery_s - now
            if wait <= 0:
                if self._probe_at is None or now - self._probe_at >= self.recovery_s:
                    self._probe_at = now
                    return
                wait = self._probe_at + self.recovery_s - now
                why = "a probe call is in flight"
            else:
                last = f" (last error: {self._last_error})" if self._last_error else ""
                why = f"{self._failures} failures in a row{last}"
            retry_at = self.wall() + wait
        when = datetime.fromtimestamp(retry_at, UTC).strftime("%H:%M:%S UTC")
        raise CircuitOpen(
            f"The {self.service} circuit breaker is open after {why}; calls fail fast until {when} "
            f"(in {wait:.0f} s). Wait and run again: finished items are kept.",
            service=self.service, retry_at=retry_at)

    def success(self) -> None:
        """Record a successful call: closes the breaker and resets the failure count."""
        with self._lock:
            changed = self._failures != 0 or self._opened_at is not None
            self._failures = 0
            self._opened_at = None
            self._probe_at = None
            self._last_error = None
        if self.on_event is not None:
            self.on_event(True, None)
        if changed and self.on_change is not None:
            self.on_change(self)

    def failure(self, exc: BaseException) -> None:
        """Record a failed call; only failures that :attr:`counts` accepts move the breaker."""
        counted = bool(self.counts(exc))
        with self._lock:
            before = (self._failures, self._opened_at)
            probing = self._probe_at is not None
            if counted:
                self._failures += 1
                self._last_error = f"{type(exc).__name__}: {exc}"[:200]
                if probing or self._failures >= self.threshold:
                    self._opened_at = self.clock()
                self._probe_at = None
            elif probing:  # the probe reached the service: it is up
                self._failures = 0
                self._opened_at = None
                self._probe_at = None
            changed = (self._failures, self._opened_at) != before
        if self.on_event is not None and counted:
            self.on_event(False, exc)
        if changed and self.on_change is not None:
            self.on_change(self)

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` through the breaker (raises :class:`CircuitOpen` when open)."""
        with self:
            return fn(*args, **kwargs)

    def __enter__(self) -> CircuitBreaker:
        self.allow()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc is None:
            self.success()
        elif isinstance(exc, Exception) and not isinstance(exc, CircuitOpen):
            self.failure(exc)

    # -- travel between processes --------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """Plain state (picklable) to seed a copy in a worker process (see :meth:`restore`)."""
        with self._lock:
            remaining = None if self._opened_at is None else self._opened_at + self.recovery_s - self.clock()
            return {"service": self.service, "threshold": self.threshold, "recovery_s": self.recovery_s,
                    "failures": self._failures, "open_for_s": remaining, "last_error": self._last_error}

    @classmethod
    def restore(cls, snap: Mapping[str, Any], *,
                on_event: Callable[[bool, BaseException | None], None] | None = None,
                on_change: Callable[[CircuitBreaker], None] | None = None) -> CircuitBreaker:
        """A breaker in the state of :meth:`snapshot` (uses the real clocks)."""
        breaker = cls(snap["service"], threshold=snap["threshold"], recovery_s=snap["recovery_s"],
                      on_event=on_event, on_change=on_change)
        breaker._failures = snap["failures"]
        breaker._last_error = snap["last_error"]
        if snap["open_for_s"] is not None:
            breaker._opened_at = breaker.clock() - breaker.recovery_s + snap["open_for_s"]
        return breaker


class BreakerBoard:
    """The circuit breakers of one run, one per service, created on first use.

    Parameters
    ----------
    threshold, recovery_s, clock, wall
        Defaults for the breakers it creates (see :class:`CircuitBreaker`).
    on_change : callable, optional
        Given to every breaker it creates (see :class:`CircuitBreaker`).
    """

    def __init__(self, *, threshold: int = 5, recovery_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time,
                 on_change: Callable[[CircuitBreaker], None] | None = None) -> None:
        self.on_change = on_change
        self.threshold = threshold
        self.recovery_s = recovery_s
        self.clock = clock
        self.wall = wall
        self._lock = threading.Lock()
        self._breakers: dict[str, CircuitBreaker] = {}

    def __getitem__(self, service: str) -> CircuitBreaker:
        with self._lock:
            if service not in self._breakers:
                self._breakers[service] = CircuitBreaker(service, threshold=self.threshold,
                                                         recovery_s=self.recovery_s, clock=self.clock,
                                                         wall=self.wall, on_change=self.on_change)
            return self._breakers[service]

    def seed(self, service: str, *, failures: int, open_for_s: float | None, last_error: str | None) -> None:
        """Put ``service``'s breaker in a remembered state (``open_for_s``: seconds until a probe, when open)."""
        breaker = self[service]
        with breaker._lock:
            breaker._failures = int(failures)
            breaker._last_error = last_error
            breaker._opened_at = (None if open_for_s is None
                                  else breaker.clock() - breaker.recovery_s + max(0.0, open_for_s))

    def __iter__(self) -> Iterator[str]:
        with self._lock:
            return iter(list(self._breakers))

    def __contains__(self, service: object) -> bool:
        return service in self._breakers

    def snapshots(self) -> dict[str, dict[str, Any]]:
        """:meth:`CircuitBreaker.snapshot` of every breaker."""
        return {name: self[name].snapshot() for name in self}

