"""Webhooks: signed, durable notifications when tracks are fetched, downloaded, analysed, separated,
when jobs fail and when batch runs finish.

>>> ws = sf.Workspace("~/music-lab")                                              # doctest: +SKIP
>>> hook = ws.webhooks.add("https://lab.example.org/soundforge", events=["track.analyzed", "job.failed"])
...                                                                               # doctest: +SKIP
>>> hook.secret      # shown once: give it to the receiver, it is never displayed again   # doctest: +SKIP
>>> ws.webhooks.list(); ws.webhooks.test(hook.webhook_id); ws.webhooks.deliver()  # doctest: +SKIP

A receiver checks each request with :func:`verify` (or the ``standardwebhooks``
package). How events are written, delivered and secured: :mod:`soundforge.events`
and ``docs/webhooks.md``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .catalog import Catalog, frame
from .events import endpoints as _endpoints
from .events.delivery import AttemptResult, Backoff, DeliverySummary, Dispatcher
from .events.safety import Resolver, check_url
from .events.secrets import SecretStore
from .events.signing import check_secret, generate_secret, verify
from .events.types import EVENT_TYPES, TEST_EVENT, check_types

__all__ = ["EVENT_TYPES", "LIST_COLUMNS", "Backoff", "DeliverySummary", "NewWebhook", "TestResult", "Webhooks",
           "verify"]

LIST_COLUMNS: dict[str, str] = {
    "webhook_id": "string", "url": "string", "events": "object", "active": "boolean", "failures": "Int64",
    "pending": "Int64", "delivered": "Int64", "failed": "Int64", "last_delivery_at": "datetime64[us, UTC]",
    "last_status": "string", "disabled_reason": "string", "allow_private": "boolean",
    "created_at": "datetime64[us, UTC]",
}
"""Columns of :meth:`Webhooks.list`: ``failures`` counts consecutive failed attempts; ``pending``,
``delivered``, ``failed`` count deliveries; ``last_status`` is the last HTTP status or error kind."""


@dataclass(frozen=True)
class NewWebhook:
    """A registered endpoint, as :meth:`Webhooks.add` returns it once.

    Its ``secret`` is readable here and nowhere else (the workspace keeps it in an owner-only
    file); ``repr`` never shows it, so displaying this object in a notebook does not store it.
    """

    webhook_id: str
    url: str
    events: tuple[str, ...]
    secret: str = field(repr=False)

    def __repr__(self) -> str:
        return (f"NewWebhook(webhook_id={self.webhook_id!r}, url={self.url!r}, events={list(self.events)!r}, "
                "secret=<hidden: read .secret once and give it to the receiver>)")

    def _repr_html_(self) -> str:
        import html

        return f"<pre>{html.escape(repr(self))}</pre>"


@dataclass(frozen=True)
class TestResult:
    """The answer to a test event (:meth:`Webhooks.test`).

    Attributes
    ----------
    webhook_id, event_id : str
    ok : bool
        The endpoint answered 2xx.
    status_code : int or None
    duration_s : float
    error : str or None
    """

    webhook_id: str
    event_id: str
    ok: bool
    status_code: int | None
    duration_s: float
    error: str | None


class Webhooks:
    """A workspace's webhook endpoints and deliveries (``ws.webhooks``).

    Parameters
    ----------
    catalog : Catalog
        The workspace catalog.
    secrets_dir : path-like
        Folder of the endpoint secrets (``<workspace>/.secrets/webhooks``).
    root : path-like, optional
        The workspace root (paths in events are relative to it).
    timeout_s : float
        Time limit of one delivery attempt's steps (connect, send, answer), seconds.
    backoff : Backoff, optional
        Attempts and waits between them (default: 5 attempts, 5 s then x4, jittered).
    senders : int
        Concurrent attempts per endpoint.
    drain_s : float
        At most how long a stage keeps delivering after its last item, seconds.
    disable_after : int or None
        Disable an endpoint after this many consecutive failed attempts.
    transport : httpx.BaseTransport, optional
        Custom transport (tests, proxies you control).
    resolver : callable, optional
        ``resolver(host, port) -> addresses`` (default: the system's DNS).
    """

    def __init__(self, catalog: Catalog, secrets_dir: str | os.PathLike[str], *,
                 root: str | os.PathLike[str] | None = None, timeout_s: float = 10.0, backoff: Backoff | None = None,
                 senders: int = 4, drain_s: float = 10.0, disable_after: int | None = 20, transport: Any = None,
                 resolver: Resolver | None = None) -> None:
        self.catalog = catalog
        self.secrets = SecretStore(secrets_dir)
        self.root = Path(root) if root is not None else catalog.path.parent
        self.timeout_s, self.backoff, self.senders = timeout_s, backoff or Backoff(), senders
        self.drain_s, self.disable_after = drain_s, disable_after
        self.transport, self.resolver = transport, resolver

    def __repr__(self) -> str:
        return f"Webhooks({str(self.root)!r})"

    def dispatcher(self, *, webhook_ids: Iterable[str] | None = None) -> Dispatcher:
        """A :class:`~soundforge.events.delivery.Dispatcher` with these settings."""
        return Dispatcher(self.catalog, self.secrets, senders=self.senders, timeout_s=self.timeout_s,
                          backoff=self.backoff, disable_after=self.disable_after, transport=self.transport,
                          resolver=self.resolver, webhook_ids=webhook_ids)

    # -- endpoints -----------------------------------------------------------------------------
    def add(self, url: str, *, events: str | Iterable[str] | None = None, secret: str | None = None,
            allow_private: bool = False, _flag: str = "allow_private=True") -> NewWebhook:
        """Register an endpoint; returns it with its secret (the only time the secret is given back).

        Parameters
        ----------
        url : str
            ``https://...`` (no credentials in it).
        events : str or iterable of str, optional
            Types to send (:data:`EVENT_TYPES`); default ``"*"``: all.
        secret : str, optional
            A ``whsec_`` secret (Standard Webhooks); default: a new random one.
        allow_private : bool
            Allow ``http`` and loopback/private/link-local destinations (development and tests only).

        Raises
        ------
        ConfigError
            A URL that is not https, carries credentials or points at a local address (without
            ``allow_private``), an unknown event type, or a malformed secret.
        """
        check_url(url, allow_private=allow_private, flag=_flag)
        types = check_types(events)
        value = generate_secret() if secret is None else secret
        check_secret(value)
        webhook_id = _endpoints.new_webhook_id()
        self.secrets.write(webhook_id, value)
        try:
            _endpoints.insert_endpoint(self.catalog, webhook_id=webhook_id, url=url, events=types,
                                       allow_private=allow_private)
        except BaseException:
            self.secrets.delete(webhook_id)
            raise
        return NewWebhook(webhook_id=webhook_id, url=url, events=tuple(types), secret=value)

    def list(self) -> Any:
        """The endpoints as a DataFrame (:data:`LIST_COLUMNS`), secrets never included."""
        rows = self.catalog.query(
            "SELECT w.webhook_id, w.url, w.event_types AS events, w.active, w.failures, w.last_delivery_at, "
            "w.last_status, w.disabled_reason, w.allow_private, w.created_at, "
            "SUM(d.status = 'pending') AS pending, SUM(d.status = 'delivered') AS delivered, "
            "SUM(d.status = 'failed') AS failed "
            "FROM webhooks w LEFT JOIN deliveries d ON d.webhook_id = w.webhook_id "
            "GROUP BY w.webhook_id ORDER BY w.created_at, w.webhook_id")
        import json

        for row in rows:
            row["events"] = json.loads(row["events"])
            for col in ("pending", "delivered", "failed"):
                row[col] = row[col] or 0
        df = frame(rows, {k: v for k, v in LIST_COLUMNS.items() if k != "events"} | {"events": "string"})
        df["events"] = [r["events"] for r in rows]
        return df[list(LIST_COLUMNS)]

    def remove(self, webhook_id: str) -> None:
        """Forget an endpoint: its row, its deliveries and their attempts, and its secret file."""
        _endpoints.require(self.catalog, webhook_id)
        with self.catalog.transaction() as conn:
            conn.execute("DELETE FROM delivery_attempts WHERE delivery_id IN "
                         "(SELECT delivery_id FROM deliveries WHERE webhook_id = ?)", (webhook_id,))
            conn.execute("DELETE FROM deliveries WHERE webhook_id = ?", (webhook_id,))
            conn.execute("DELETE FROM webhooks WHERE webhook_id = ?", (webhook_id,))
        self.secrets.delete(webhook_id)

    def disable(self, webhook_id: str) -> None:
        """Stop sending to an endpoint (its pending deliveries wait; new events are not queued for it)."""
        _endpoints.set_active(self.catalog, webhook_id, active=False)

    def enable(self, webhook_id: str) -> None:
        """Send to an endpoint again (failure count cleared); its pending deliveries go out next."""
        _endpoints.set_active(self.catalog, webhook_id, active=True)

    def test(self, webhook_id: str) -> TestResult:
        """Send a ``webhook.test`` event to one endpoint now (one attempt, disabled endpoints included).

        The attempt is recorded like any other but does not count towards disabling the endpoint.
        """
        from .events import outbox

        endpoint = _endpoints.require(self.catalog, webhook_id)
        with self.catalog.transaction() as conn:
            event_id = outbox.emit(conn, TEST_EVENT, {"webhook_id": webhook_id, "url": endpoint.url,
                                                      "message": "Test event from SoundForge."},
                                   webhook_id=webhook_id)
        conn = self.catalog.connect()
        try:
            delivery = conn.execute("SELECT delivery_id FROM deliveries WHERE event_id = ?", (event_id,)).fetchone()
            claimed = outbox.claim(conn, webhook_id=webhook_id, limit=1, lease_s=self.timeout_s * 3 + 30,
                                   delivery_ids=[int(delivery[0])], include_inactive=True)
        finally:
            conn.close()
        with self.dispatcher(webhook_ids=[webhook_id]) as dispatcher:
            result: AttemptResult | None = dispatcher.send_now(claimed[0]) if claimed else None
        if result is None:
            return TestResult(webhook_id=webhook_id, event_id=event_id, ok=False, status_code=None, duration_s=0.0,
                              error="the test event could not be sent (see the log)")
        return TestResult(webhook_id=webhook_id, event_id=event_id, ok=result.ok, status_code=result.status_code,
                          duration_s=result.duration_s, error=result.error)

    # -- deliveries ----------------------------------------------------------------------------
    def deliver(self, *, timeout: float | None = 60.0, retry_failed: bool = False, now: bool = False) -> \
            DeliverySummary:
        """Send pending deliveries (e.g. after a crash, or retries scheduled after a stage ended).

        Parameters
        ----------
        timeout : float or None
            Also wait for retries that come due within this many seconds (``None``: all of them).
        retry_failed : bool
            Give deliveries that failed for good a new set of attempts first.
        now : bool
            Make every pending delivery due at once (ignore scheduled backoff and ``Retry-After``).
        """
        from .events.outbox import at

        if retry_failed or now:
            with self.catalog.transaction() as conn:
                if retry_failed:
                    conn.execute("UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = ? "
                                 "WHERE status = 'failed'", (at(),))
                if now:
                    conn.execute("UPDATE deliveries SET next_attempt_at = ? WHERE status = 'pending'", (at(),))
        with self.dispatcher() as dispatcher:
            return dispatcher.deliver(timeout_s=timeout)

    def deliveries(self, webhook_id: str | None = None) -> Any:
        """The ``deliveries`` table with each event's ``type`` (one row per event and endpoint)."""
        df = self.catalog.table("deliveries", where="webhook_id = ?" if webhook_id else "",
                                params=[webhook_id] if webhook_id else [])
        types = {r["event_id"]: r["type"] for r in self.catalog.query("SELECT event_id, type FROM events")}
        df.insert(2, "type", df["event_id"].map(types).astype("string"))
        return df

    def attempts(self, webhook_id: str | None = None) -> Any:
        """The ``delivery_attempts`` table (one row per HTTP attempt: status code, duration, error)."""
        if webhook_id is None:
            return self.catalog.table("delivery_attempts")
        return self.catalog.table("delivery_attempts", where="delivery_id IN (SELECT delivery_id FROM deliveries "
                                  "WHERE webhook_id = ?)", params=[webhook_id])

    @contextlib.contextmanager
    def delivering(self, *, drain_s: float | None = None) -> Iterator[None]:
        """Deliver in the background while the block runs (a stage), then drain for at most ``drain_s``.

        Costs nothing when no endpoint is active. The drain sends what is due and waits for the
        attempts in flight; retries scheduled later stay pending for the next stage run or
        :meth:`deliver`.
        """
        if not self.catalog.query("SELECT 1 FROM webhooks WHERE active = 1 LIMIT 1"):
            yield
            return
        dispatcher = self.dispatcher()
        dispatcher.start()
        try:
            yield
        finally:
            try:
                dispatcher.drain(timeout_s=self.drain_s if drain_s is None else drain_s)
            finally:
                dispatcher.close()

