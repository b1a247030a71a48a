from __future__ import annotations

import pickle
import random
import threading

import pytest

from soundforge.errors import AudioError, CircuitOpen, ConfigError, SpotifyUnavailable
from soundforge.runner.resilience import BreakerBoard, CircuitBreaker, RetryPolicy


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


# -- retry policy -----------------------------------------------------------------------
def test_delays_grow_exponentially_and_are_capped_without_jitter() -> None:
    policy = RetryPolicy(attempts=8, initial_s=0.5, max_s=3.0, base=2.0, jitter_s=0.0)
    assert [policy.delay(attempt=n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]


def test_jitter_stays_within_bounds_and_varies() -> None:
    random.seed(7)
    policy = RetryPolicy(initial_s=1.0, max_s=60.0, jitter_s=0.5)
    delays = [policy.delay(attempt=2) for _ in range(200)]
    assert all(2.0 <= d <= 2.5 for d in delays)
    assert max(delays) - min(delays) > 0.3  # really random, not a constant


def test_only_transient_errors_are_retried_and_attempts_are_bounded() -> None:
    policy = RetryPolicy(attempts=3)
    assert policy.should_retry(SpotifyUnavailable("503"), attempt=1)
    assert policy.should_retry(TimeoutError(), attempt=2)
    assert not policy.should_retry(SpotifyUnavailable("503"), attempt=3)
    assert not policy.should_retry(AudioError("corrupt"), attempt=1)
    assert not policy.should_retry(ValueError("bug"), attempt=1)


def test_policy_call_retries_with_injected_sleep() -> None:
    sleeps: list[float] = []
    calls = {"n": 0}

    def flaky() -> str:
        calls["n"] += 1
        if calls["n"] < 3:
            raise SpotifyUnavailable("503")
        return "ok"

    policy = RetryPolicy(attempts=4, initial_s=1.0, jitter_s=0.0)
    assert policy.call(flaky, sleep=sleeps.append) == "ok"
    assert calls["n"] == 3
    assert sleeps == [1.0, 2.0]


def test_policy_call_reraises_permanent_errors_at_once_and_last_error_when_exhausted() -> None:
    sleeps: list[float] = []

    def bad() -> None:
        raise AudioError("corrupt file x.wav")

    with pytest.raises(AudioError, match="corrupt file"):
        RetryPolicy(attempts=5).call(bad, sleep=sleeps.append)
    assert sleeps == []

    def down() -> None:
        raise SpotifyUnavailable("still 503")

    with pytest.raises(SpotifyUnavailable, match="still 503"):
        RetryPolicy(attempts=3, jitter_s=0.0).call(down, sleep=sleeps.append)
    assert len(sleeps) == 2


def test_policy_validation() -> None:
    with pytest.raises(ConfigError, match="attempts"):
        RetryPolicy(attempts=0)
    with pytest.raises(ConfigError, match="jitter_s"):
        RetryPolicy(jitter_s=-1.0)


# -- circuit breaker ----------------------------------------------------------------------
def _fail(breaker: CircuitBreaker, exc: Exception | None = None) -> None:
    breaker.allow()
    breaker.failure(exc or SpotifyUnavailable("503 Service Unavailable"))


def test_breaker_opens_after_threshold_and_fails_fast_naming_the_service() -> None:
    clock, wall = FakeClock(), FakeClock(1_700_000_000.0)
    breaker = CircuitBreaker("spotify", threshold=5, recovery_s=30.0, clock=clock, wall=wall)
    for _ in range(4):
        _fail(breaker)
    assert breaker.state == "closed"
    _fail(breaker)
    assert breaker.state == "open"
    clock.advance(10)
    with pytest.raises(CircuitOpen, match=r"spotify circuit breaker is open after 5 failures.*in 20 s") as info:
        breaker.allow()
    assert info.value.service == "spotify"
    assert info.value.retry_at == pytest.approx(wall.now + 20.0)


def test_breaker_counts_only_consecutive_transient_failures() -> None:
    breaker = CircuitBreaker("spotify", threshold=3, clock=FakeClock())
    _fail(breaker)
    _fail(breaker)
    _fail(breaker, AudioError("bad audio"))  # not the service's fault
    assert breaker.failures == 2
    breaker.allow()
    breaker.success()  # resets the streak
    _fail(breaker)
    _fail(breaker)
    assert breaker.state == "closed"


def test_half_open_lets_one_probe_through_and_success_closes() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("spotdl", threshold=2, recovery_s=30.0, clock=clock)
    _fail(breaker)
    _fail(breaker)
    clock.advance(30.0)
    assert breaker.state == "half_open"
    breaker.allow()  # the probe
    with pytest.raises(CircuitOpen, match="probe call is in flight"):
        breaker.allow()
    breaker.success()
    assert breaker.state == "closed"
    breaker.allow()
    breaker.allow()


def test_failed_probe_reopens_for_another_recovery_period() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("spotdl", threshold=2, recovery_s=30.0, clock=clock)
    _fail(breaker)
    _fail(breaker)
    clock.advance(31.0)
    _fail(breaker)  # probe fails
    assert breaker.state == "open"
    clock.advance(29.0)
    with pytest.raises(CircuitOpen):
        breaker.allow()
    clock.advance(1.0)
    breaker.allow()
    breaker.success()
    assert breaker.state == "closed"


def test_lost_probe_is_replaced_after_recovery() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("svc", threshold=1, recovery_s=10.0, clock=clock)
    _fail(breaker)
    clock.advance(10.0)
    breaker.allow()  # a probe that never reports back
    clock.advance(5.0)
    with pytest.raises(CircuitOpen):
        breaker.allow()
    clock.advance(5.0)
    breaker.allow()  # a new probe


def test_probe_with_a_non_service_error_closes() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("svc", threshold=1, recovery_s=1.0, clock=clock)
    _fail(breaker)
    clock.advance(1.0)
    _fail(breaker, AudioError("the service answered; the input was bad"))
    assert breaker.state == "closed"


def test_context_manager_and_call() -> None:
    breaker = CircuitBreaker("svc", threshold=2, clock=FakeClock())
    assert breaker.call(lambda x: x + 1, 1) == 2
    for _ in range(2):
        with pytest.raises(SpotifyUnavailable), breaker:
            raise SpotifyUnavailable("down")
    with pytest.raises(CircuitOpen):
        breaker.call(lambda: None)


def test_breaker_is_thread_safe() -> None:
    breaker = CircuitBreaker("svc", threshold=10_000, clock=FakeClock())

    def hammer() -> None:
        for _ in range(1000):
            breaker.allow()
            breaker.failure(SpotifyUnavailable("x"))

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert breaker.failures == 4000


def test_snapshot_restore_keeps_open_state_and_forwards_events() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("svc", threshold=1, recovery_s=30.0, clock=clock)
    _fail(breaker)
    snap = pickle.loads(pickle.dumps(breaker.snapshot()))
    events: list[bool] = []
    copy = CircuitBreaker.restore(snap, on_event=lambda ok, exc: events.append(ok))
    assert copy.state == "open"
    assert 29.0 < copy.retry_in() <= 30.0
    with pytest.raises(CircuitOpen):
        copy.allow()
    copy.success()
    assert events == [True]


def test_board_creates_one_breaker_per_service() -> None:
    board = BreakerBoard(threshold=2, recovery_s=5.0)
    assert board["a"] is board["a"]
    assert board["a"] is not board["b"]
    assert board["a"].threshold == 2
    assert set(board) == {"a", "b"}
    assert set(board.snapshots()) == {"a", "b"}
