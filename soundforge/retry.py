"""One retry policy for the whole package: how many tries, and how long to wait between them.

The runner retries items with it (:class:`soundforge.runner.resilience` re-exports it), stage code
can retry a call with :meth:`RetryPolicy.call`, and the Spotify client's policy
(:class:`soundforge.spotify.http.SpotifyRetryPolicy`) is this one plus its own rules for
``Retry-After`` and 429 answers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .errors import ConfigError, is_transient

__all__ = ["RetryPolicy"]

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How many times to try an item and how long to wait between tries.

    Parameters
    ----------
    attempts : int
        Total attempts, first one included (1 = never retry).
    initial_s : float
        Delay before the second attempt, in seconds (before jitter).
    max_s : float
        Cap of the exponential part of the delay, in seconds.
    base : float
        Growth factor of the delay per attempt.
    jitter_s : float
        Upper bound of the uniform random delay added to each wait, in seconds.
    retry_on : callable
        ``retry_on(exc) -> bool``: which errors are worth retrying (default: transient ones).
    """

    attempts: int = 3
    initial_s: float = 1.0
    max_s: float = 60.0
    base: float = 2.0
    jitter_s: float = 1.0
    retry_on: Callable[[BaseException], bool] = field(default=is_transient, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.attempts, int) or self.attempts < 1:
            raise ConfigError(f"RetryPolicy attempts must be an integer >= 1, got {self.attempts!r}.")
        for name in ("initial_s", "max_s", "jitter_s"):
            if not getattr(self, name) >= 0:
                raise ConfigError(f"RetryPolicy {name} must be >= 0 seconds, got {getattr(self, name)!r}.")
        if not self.base >= 1:
            raise ConfigError(f"RetryPolicy base must be >= 1, got {self.base!r}.")

    def with_attempts(self, attempts: int) -> RetryPolicy:
        """A copy with another attempt limit."""
        return RetryPolicy(attempts=attempts, initial_s=self.initial_s, max_s=self.max_s, base=self.base,
                           jitter_s=self.jitter_s, retry_on=self.retry_on)

    def should_retry(self, exc: BaseException, *, attempt: int) -> bool:
        """Whether attempt number ``attempt`` (1-based), which raised ``exc``, deserves another try."""
        return attempt < self.attempts and bool(self.retry_on(exc))

    def _wait(self) -> Any:
        import tenacity

        return (tenacity.wait_exponential(multiplier=self.initial_s, max=self.max_s, exp_base=self.base)
                + tenacity.wait_random(0, self.jitter_s))

    def delay(self, *, attempt: int) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based) before the next one.

        Uses :mod:`random` for the jitter (seed it for reproducible delays).
        """
        import tenacity

        state = tenacity.RetryCallState(retry_object=tenacity.Retrying(), fn=None, args=(), kwargs={})
        state.attempt_number = attempt
        return float(self._wait()(state))

    def retrying(self, *, sleep: Callable[[float], None] = time.sleep) -> Any:
        """A :class:`tenacity.Retrying` with this policy, for stage code that retries a call itself.

        Parameters
        ----------
        sleep : callable
            ``sleep(seconds)``; inject a fake one in tests.

        Examples
        --------
        >>> for attempt in RetryPolicy(attempts=2).retrying():   # doctest: +SKIP
        ...     with attempt:
        ...         response = client.get(url)
        """
        import tenacity

        return tenacity.Retrying(stop=tenacity.stop_after_attempt(self.attempts), wait=self._wait(),
                                 retry=tenacity.retry_if_exception(self.retry_on), sleep=sleep, reraise=True)

    def call(self, fn: Callable[..., T], *args: Any, sleep: Callable[[float], None] = time.sleep,
             **kwargs: Any) -> T:
        """Call ``fn(*args, **kwargs)``, retrying transient failures; the last error is re-raised."""
        result: T = self.retrying(sleep=sleep)(fn, *args, **kwargs)
        return result
