"""Delivering events: one signed HTTP attempt, retries with backoff, and the sender threads.

An attempt (:func:`send`) resolves and checks the destination
(:mod:`~soundforge.events.safety`), signs the body (:mod:`~soundforge.events.signing`)
and POSTs it with a time limit, never following redirects. Its answer decides:

==========================================  ===========================================================
2xx                                         delivered
network error, timeout, 408, 429, 5xx       retried after a backoff (a 429's ``Retry-After``, capped),
                                            up to ``attempts`` attempts, then ``failed``
3xx (redirect), other 4xx, unsafe address   ``failed`` at once: retrying would not help
==========================================  ===========================================================

A :class:`Dispatcher` sends the deliveries of each endpoint from that endpoint's
own pool of ``senders`` threads, so a slow or dead endpoint never holds up
another. It runs in the background while a stage runs (:meth:`Dispatcher.start`,
:meth:`Dispatcher.drain`) or on demand (:meth:`Dispatcher.deliver`). Every
attempt is recorded (:func:`~soundforge.events.outbox.settle`); an endpoint whose
attempts keep failing is disabled after ``disable_after`` consecutive failures.
"""

from __future__ import annotations

import contextlib
import email.utils
import logging
import math
import random
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..catalog import Catalog, utcnow
from ..errors import ConfigError, SoundforgeError, UnsafeDestination
from . import outbox
from .endpoints import Endpoint, load_endpoints
from .safety import Resolver, resolve_target
from .secrets import SecretStore
from .signing import headers as signed_headers
from .types import Event

__all__ = ["AttemptResult", "Backoff", "DeliverySummary", "Dispatcher", "retry_after_s", "send"]

logger = logging.getLogger("soundforge.webhooks")

USER_AGENT = "soundforge-webhooks/1"



@dataclass(frozen=True)
class Backoff:
    """When to try a delivery again.

    The wait before attempt ``n + 1`` is ``min(initial_s * factor ** (n - 1), max_s)``, times a
    random factor in ``[1 - jitter, 1 + jitter]``; a 429's ``Retry-After`` replaces it, capped
    at ``max_retry_after_s``.

    Parameters
    ----------
    attempts : int
        Attempts per delivery, first included.
    initial_s : float
        Wait before the second attempt, seconds.
    factor : float
        Growth of the wait per attempt.
    max_s : float
        Cap of the wait, seconds.
    jitter : float
        Relative spread of the wait (0 for none).
    max_retry_after_s : float
        Longest ``Retry-After`` honoured, seconds.
    """

    attempts: int = 5
    initial_s: float = 5.0
    factor: float = 4.0
    max_s: float = 3600.0
    jitter: float = 0.2
    max_retry_after_s: float = 300.0

    def __post_init__(self) -> None:
        if not isinstance(self.attempts, int) or isinstance(self.attempts, bool) or self.attempts < 1:
            raise ConfigError(f"Webhook backoff attempts must be an integer >= 1, got {self.attempts!r}.")
        for name in ("initial_s", "max_s", "max_retry_after_s"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0 <= value < math.inf):
                raise ConfigError(f"Webhook backoff {name} must be a number of seconds >= 0, got {value!r}.")
        if not self.factor >= 1 or not 0 <= self.jitter < 1:
            raise ConfigError(f"Webhook backoff needs factor >= 1 and 0 <= jitter < 1, got {self.factor!r} and "
                              f"{self.jitter!r}.")

    def delay(self, attempt: int, *, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after_s)
        base = min(self.initial_s * self.factor ** (attempt - 1), self.max_s)
        return base * random.uniform(1 - self.jitter, 1 + self.jitter) if self.jitter else base


@dataclass(frozen=True)
class AttemptResult:
    """What one attempt gave.

    Attributes
    ----------
    ok : bool
        A 2xx answer came.
    retryable : bool
        The failure may pass (network error, timeout, 408, 429, 5xx).
    status_code : int or None
        HTTP status, ``None`` when no answer came.
    duration_s : float
        Seconds from the start of the attempt to its answer or failure.
    error : str or None
        ``"<Kind>: <what happened>"`` for a failure.
    retry_after_s : float or None
        The answer's ``Retry-After``, seconds.
    started_at : str
        ISO 8601 UTC start time.
    """

    ok: bool
    retryable: bool
    status_code: int | None
    duration_s: float
    error: str | None = None
    retry_after_s: float | None = None
    started_at: str = ""


def retry_after_s(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds asked by a ``Retry-After`` header (delta-seconds or an HTTP date), or ``None``."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def send(client: Any, *, url: str, secret: str, event: Event, allow_private: bool, timeout_s: float,
         resolver: Resolver | None = None) -> AttemptResult:
    """One attempt: check the destination, sign, POST, classify the answer (never raises for HTTP failures).

    Parameters
    ----------
    client : httpx.Client
        Made with ``follow_redirects=False`` (see :meth:`Dispatcher.make_client`).
    url : str
        The endpoint URL.
    secret : str
        Its ``whsec_`` secret.
    event : Event
        What to send.
    allow_private : bool
        Skip the address checks.
    timeout_s : float
        Time limit of each step (connect, write, read the answer), seconds.
    resolver : callable, optional
        Host resolution (default: the system's).
    """
    import httpx

    started_at = utcnow()
    start = time.perf_counter()

    def failed(error: str, *, retryable: bool, status: int | None = None,
               retry_after: float | None = None) -> AttemptResult:
        return AttemptResult(ok=False, retryable=retryable, status_code=status, error=error,
                             duration_s=time.perf_counter() - start, retry_after_s=retry_after,
                             started_at=started_at)

    try:
        target = resolve_target(url, allow_private=allow_private, resolver=resolver)
    except UnsafeDestination as exc:
        return failed(f"UnsafeDestination: {exc}", retryable=False)
    except OSError as exc:
        return failed(f"DNSError: {exc}", retryable=True)
    body = event.body()
    port = httpx.URL(url).port
    request_headers = {**signed_headers(secret, msg_id=event.event_id, body=body),
                       "content-type": "application/json", "user-agent": USER_AGENT,
                       "host": target.host if port is None else f"{target.host}:{port}"}
    try:
        with client.stream("POST", target.url, content=body, headers=request_headers,
                           timeout=httpx.Timeout(timeout_s),
                           extensions={"sni_hostname": target.host}) as response:
            status = response.status_code
            location = response.headers.get("location")
            wait = retry_after_s(response.headers.get("retry-after"))
    except httpx.TimeoutException as exc:
        return failed(f"Timeout: no answer within {timeout_s:g} s ({type(exc).__name__})", retryable=True)
    except httpx.HTTPError as exc:
        return failed(f"{type(exc).__name__}: {exc}", retryable=True)
    took = time.perf_counter() - start
    if 200 <= status < 300:
        return AttemptResult(ok=True, retryable=False, status_code=status, duration_s=took, started_at=started_at)
    if 300 <= status < 400:
        return failed(f"Redirect: HTTP {status} to {location or '?'}; redirects are not followed, register the "
                      "final URL", retryable=False, status=status)
    retryable = status in (408, 429) or status >= 500
    return failed(f"HTTP {status}", retryable=retryable, status=status, retry_after=wait if status == 429 else None)


@dataclass(frozen=True)
class DeliverySummary:
    """What a :meth:`Dispatcher.deliver` call did.

    Attributes
    ----------
    attempts : int
        HTTP attempts made.
    delivered : int
        Deliveries that succeeded.
    failed : int
        Deliveries that failed for good.
    pending : int
        Deliveries still pending afterwards (retries scheduled later, or endpoints disabled).
    seconds : float
        Wall time of the call.
    """

    attempts: int
    delivered: int
    failed: int
    pending: int
    seconds: float


class Dispatcher:
    """Sends a workspace's pending deliveries: one thread pool per endpoint.

    Parameters
    ----------
    catalog : Catalog
        The workspace catalog (outbox and delivery records).
    secrets : SecretStore
        Where endpoint secrets are read.
    senders : int
        Concurrent attempts per endpoint.
    timeout_s : float
        Time limit of one attempt's steps, seconds.
    backoff : Backoff, optional
        Retry schedule (default :class:`Backoff`).
    disable_after : int or None
        Disable an endpoint after this many consecutive failed attempts (``None``: never).
    poll_s : float
        How often the background thread looks for new deliveries, seconds.
    transport : httpx.BaseTransport, optional
        For tests and custom networking.
    resolver : callable, optional
        Host resolution (default: the system's).
    webhook_ids : iterable of str, optional
        Only these endpoints.
    """

    def __init__(self, catalog: Catalog, secrets: SecretStore, *, senders: int = 4, timeout_s: float = 10.0,
                 backoff: Backoff | None = None, disable_after: int | None = 20, poll_s: float = 0.1,
                 transport: Any = None, resolver: Resolver | None = None,
                 webhook_ids: Iterable[str] | None = None) -> None:
        if not isinstance(senders, int) or isinstance(senders, bool) or senders < 1:
            raise ConfigError(f"senders must be an integer >= 1, got {senders!r}.")
        if not (isinstance(timeout_s, (int, float)) and 0 < timeout_s < math.inf):
            raise ConfigError(f"The webhook timeout must be a number of seconds > 0, got {timeout_s!r}.")
        self.catalog, self.secrets, self.senders, self.timeout_s = catalog, secrets, senders, float(timeout_s)
        self.backoff = backoff or Backoff()
        self.disable_after, self.poll_s = disable_after, poll_s
        self.transport, self.resolver = transport, resolver
        self.only = None if webhook_ids is None else set(webhook_ids)
        self._cond = threading.Condition()
        self._inflight: dict[str, int] = {}
        self._clients: dict[str, Any] = {}
        self._endpoints: dict[str, tuple[Endpoint, str]] = {}
        self._counts = {"attempts": 0, "delivered": 0, "failed": 0}
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._halt = threading.Event()
        self._closed = False

    def __repr__(self) -> str:
        return f"Dispatcher({self.catalog!r}, senders={self.senders}, timeout_s={self.timeout_s:g})"

    # -- one pass ------------------------------------------------------------------------------
    def make_client(self) -> Any:
        """An httpx client that never follows redirects nor reads proxy settings from the environment."""
        import httpx

        return httpx.Client(follow_redirects=False, trust_env=False, transport=self.transport,
                            timeout=httpx.Timeout(self.timeout_s),
                            limits=httpx.Limits(max_connections=self.senders,
                                                max_keepalive_connections=self.senders))

    def _endpoint(self, webhook_id: str) -> tuple[Endpoint, str] | None:
        if webhook_id not in self._endpoints:
            found = load_endpoints(self.catalog, webhook_ids=[webhook_id])
            if not found:
                return None
            try:
                secret = self.secrets.read(webhook_id)
            except SoundforgeError as exc:
                logger.warning("webhook %s: %s", webhook_id, exc)
                return None
            self._endpoints[webhook_id] = (found[0], secret)
        return self._endpoints[webhook_id]

    def tick(self) -> int:
        """Start sender threads for endpoints with deliveries due (up to ``senders`` each); returns how many."""
        if self._halt.is_set():
            return 0
        conn = self.catalog.connect()
        try:
            due = outbox.due_endpoints(conn, webhook_ids=self.only)
        finally:
            conn.close()
        started = 0
        for webhook_id, count in due.items():
            with self._cond:
                running = self._inflight.get(webhook_id, 0)
            wanted = min(self.senders - running, count)
            if wanted <= 0:
                continue
            endpoint = self._endpoint(webhook_id)
            if endpoint is None:
                continue
            with self._cond:
                client = self._clients.get(webhook_id)
                if client is None:
                    client = self._clients[webhook_id] = self.make_client()
                self._inflight[webhook_id] = running + wanted
            for n in range(wanted):
                threading.Thread(target=self._sender, args=(client, webhook_id, *endpoint), daemon=True,
                                 name=f"webhook-{webhook_id[-6:]}-{running + n}").start()
            started += wanted
        return started

    def _sender(self, client: Any, webhook_id: str, endpoint: Endpoint, secret: str) -> None:
        """One sender of one endpoint: claim a due delivery, attempt it, record it; until none is due."""
        conn = None
        try:
            conn = self.catalog.connect()
            while not self._halt.is_set() and self._endpoints.get(webhook_id) is not None:
                with self.catalog.write_lock:
                    claimed = outbox.claim(conn, webhook_id=webhook_id, limit=1, lease_s=self.timeout_s * 3 + 30)
                if not claimed:
                    break
                result = send(client, url=endpoint.url, secret=secret, event=claimed[0].event,
                              allow_private=endpoint.allow_private, timeout_s=self.timeout_s, resolver=self.resolver)
                self.record(claimed[0], result, conn=conn)
        except Exception as exc:  # a busy or broken catalog: the deliveries stay pending, never crash a stage
            logger.warning("webhook %s: sender stopped (%s: %s); pending deliveries wait for the next run",
                           webhook_id, type(exc).__name__, exc)
        finally:
            if conn is not None:
                conn.close()
            with self._cond:
                self._inflight[webhook_id] -= 1
                self._cond.notify_all()

    def record(self, item: outbox.Claimed, result: AttemptResult, *, count_failure: bool = True,
               conn: sqlite3.Connection | None = None) -> AttemptResult:
        """Settle one attempt in the catalog and log it (no header, body or secret is logged)."""
        if result.ok:
            outcome, wait = "delivered", None
        elif result.retryable and item.attempt < self.backoff.attempts and count_failure:
            outcome, wait = "retry", self.backoff.delay(item.attempt, retry_after=result.retry_after_s)
        else:
            outcome, wait = "failed", None
        own = conn is None
        db = self.catalog.connect() if conn is None else conn
        try:
            with self.catalog.write_lock:
                disabled = outbox.settle(db, item, started_at=result.started_at, status_code=result.status_code,
                                         duration_s=result.duration_s, error=result.error, outcome=outcome,
                                         retry_in_s=wait, count_failure=count_failure,
                                         disable_after=self.disable_after)
        finally:
            if own:
                db.close()
        with self._cond:
            self._counts["attempts"] += 1
            if outcome in ("delivered", "failed"):
                self._counts[outcome] += 1
        what = f"webhook {item.webhook_id}: {item.event.type} {item.event.event_id} attempt {item.attempt}"
        if outcome == "delivered":
            logger.debug("%s delivered (HTTP %s, %.3f s)", what, result.status_code, result.duration_s)
        elif outcome == "retry":
            logger.info("%s failed (%s); next attempt in %.1f s", what, result.error, wait or 0.0)
        else:
            logger.warning("%s failed for good (%s)", what, result.error)
        if disabled:
            self._endpoints.pop(item.webhook_id, None)
            logger.warning("webhook %s disabled after %s consecutive failed attempts; see ws.webhooks.list()",
                           item.webhook_id, self.disable_after)
        return result

    def inflight(self) -> int:
        """Attempts running now."""
        with self._cond:
            return sum(self._inflight.values())

    def _wait(self, seconds: float) -> None:
        with self._cond:
            self._cond.wait(timeout=max(0.0, seconds))

    def _seconds_to_next_due(self) -> float | None:
        conn = self.catalog.connect()
        try:
            when = outbox.next_due(conn, webhook_ids=self.only)
        finally:
            conn.close()
        if when is None:
            return None
        return max(0.0, (datetime.fromisoformat(when) - datetime.now(UTC)).total_seconds())

    # -- synchronous ---------------------------------------------------------------------------
    def deliver(self, *, timeout_s: float | None = None) -> DeliverySummary:
        """Send what is pending: everything due now, and retries that come due before ``timeout_s`` has passed.

        Returns when nothing is in flight and nothing will be due before the deadline
        (``timeout_s=None``: wait for every retry, however far). In-flight attempts are
        waited for even past the deadline (each is bounded by ``timeout_s`` of the dispatcher).
        """
        start = time.monotonic()
        before = dict(self._counts)
        deadline = math.inf if timeout_s is None else start + max(0.0, timeout_s)
        self._halt.clear()
        idle = 0
        while True:
            if time.monotonic() >= deadline:
                self._halt.set()  # senders finish the attempt they are in, then stop
            if self.tick():
                idle = 0
                continue
            if self.inflight():
                self._wait(self.poll_s)
                continue
            wait = self._seconds_to_next_due()
            if wait is None or time.monotonic() + wait > deadline:
                break
            if wait <= 0:  # due but not claimable: leased by another live sender, or its secret is unusable
                idle += 1
                if idle > 3:
                    break
            time.sleep(min(wait + 0.01, 1.0) if wait > 0 else self.poll_s)
        self._halt.clear()
        conn = self.catalog.connect()
        try:
            sql = "SELECT COUNT(*) FROM deliveries WHERE status = 'pending'"
            params: list[Any] = []
            if self.only is not None:
                sql += f" AND webhook_id IN ({', '.join('?' * len(self.only))})"
                params = list(self.only)
            pending = int(conn.execute(sql, params).fetchone()[0])
        finally:
            conn.close()
        return DeliverySummary(attempts=self._counts["attempts"] - before["attempts"],
                               delivered=self._counts["delivered"] - before["delivered"],
                               failed=self._counts["failed"] - before["failed"], pending=pending,
                               seconds=time.monotonic() - start)

    def send_now(self, item: outbox.Claimed) -> AttemptResult | None:
        """One attempt of a claimed delivery in this thread, not counted against the endpoint (test sends)."""
        endpoint = self._endpoint(item.webhook_id)
        if endpoint is None:
            return None
        url, secret = endpoint[0], endpoint[1]
        with self.make_client() as client:
            result = send(client, url=url.url, secret=secret, event=item.event, allow_private=url.allow_private,
                          timeout_s=self.timeout_s, resolver=self.resolver)
        return self.record(item, result, count_failure=False)

    # -- background ----------------------------------------------------------------------------
    def start(self) -> None:
        """Deliver in a background thread until :meth:`drain` or :meth:`close`."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="webhook-dispatcher", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                started = self.tick()
            except Exception as exc:  # a busy or broken catalog: try again later, never crash the stage
                logger.debug("webhook dispatcher: %s: %s", type(exc).__name__, exc)
                started = 0
            if not started:
                self._stop.wait(self.poll_s)

    def drain(self, *, timeout_s: float) -> DeliverySummary:
        """Stop the background thread, then :meth:`deliver` for at most ``timeout_s`` seconds more."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        summary = self.deliver(timeout_s=timeout_s)
        if summary.pending:
            logger.info("%d webhook deliveries still pending (retries scheduled later, or endpoints disabled); "
                        "the next stage run or ws.webhooks.deliver() sends them", summary.pending)
        return summary

    def close(self) -> None:
        """Stop the background thread and the senders (each ends the attempt it is in); close clients."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._halt.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        with self._cond:
            while sum(self._inflight.values()):
                self._cond.wait(timeout=self.timeout_s * 3)
            clients = list(self._clients.values())
        for client in clients:
            with contextlib.suppress(Exception):
                client.close()

    def __enter__(self) -> Dispatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


