"""The outbox: events written in the caller's transaction, and the deliveries that carry them.

:func:`emit` inserts an ``events`` row and, in the same statement batch, one
``pending`` ``deliveries`` row for each active endpoint subscribed to its type;
called inside the transaction that records a stage's result (or a job's
failure), the event exists exactly when the change does: a crash after the
commit loses nothing (the delivery is still pending), a rollback sends nothing.

Senders take deliveries with :func:`claim` (a short lease held by their process,
so two senders never send the same delivery at once; a lease of a dead process
is taken over at once) and settle every attempt with :func:`settle` (one
``delivery_attempts`` row, the delivery's state, the endpoint's failure count).
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ..catalog import utcnow
from ..errors import ConfigError
from ..storage import pid_alive
from .types import ALL, EVENT_TYPES, TEST_EVENT, Event, clean, new_event_id

__all__ = ["Claimed", "at", "claim", "due_endpoints", "emit", "emit_many", "next_due", "pid_alive", "settle"]

_FAN_OUT = (
    "INSERT OR IGNORE INTO deliveries (event_id, webhook_id, status, attempts, next_attempt_at, created_at) "
    "SELECT ?, webhook_id, 'pending', 0, ?, ? FROM webhooks WHERE active = 1 "
    f"AND (instr(event_types, '\"{ALL}\"') > 0 OR instr(event_types, '\"' || ? || '\"') > 0)")


def at(seconds_from_now: float = 0.0) -> str:
    """ISO 8601 UTC time ``seconds_from_now`` away, formatted like :func:`soundforge.catalog.utcnow`."""
    return (datetime.now(UTC) + timedelta(seconds=seconds_from_now)).isoformat(timespec="microseconds")


def emit(conn: sqlite3.Connection, type: str, data: Mapping[str, Any], *, event_id: str | None = None,
         webhook_id: str | None = None) -> str:
    """Write one event (and its pending deliveries) in the caller's transaction; returns its id.

    Parameters
    ----------
    conn : sqlite3.Connection
        A connection inside a write transaction (``BEGIN IMMEDIATE``), e.g. the one a stage's
        ``record`` hook receives.
    type : str
        One of :data:`~soundforge.events.types.EVENT_TYPES`.
    data : Mapping[str, Any]
        The payload's ``data`` (made JSON-safe: NaN becomes ``null``).
    event_id : str, optional
        Default: :func:`~soundforge.events.types.new_event_id`.
    webhook_id : str, optional
        Deliver to this endpoint only, subscribed or not (used by ``ws.webhooks.test``).

    Raises
    ------
    ConfigError
        For an unknown event type.
    """
    return emit_many(conn, type, [data], event_ids=None if event_id is None else [event_id],
                     webhook_id=webhook_id)[0]


def emit_many(conn: sqlite3.Connection, type: str, datas: Sequence[Mapping[str, Any]], *,
              event_ids: Sequence[str] | None = None, webhook_id: str | None = None) -> list[str]:
    """:func:`emit` for many events of one type (one ``executemany`` per table); returns their ids."""
    if type not in EVENT_TYPES and type != TEST_EVENT:
        raise ConfigError(f"Unknown event type {type!r}; known types are {list(EVENT_TYPES)}.")
    ids = list(event_ids) if event_ids is not None else [new_event_id() for _ in datas]
    now = utcnow()
    conn.executemany("INSERT INTO events (event_id, type, payload, created_at) VALUES (?, ?, ?, ?)",
                     [(i, type, json.dumps(clean(dict(d)), separators=(",", ":"), allow_nan=False), now)
                      for i, d in zip(ids, datas, strict=True)])
    if webhook_id is None:
        conn.executemany(_FAN_OUT, [(i, now, now, type) for i in ids])
    else:
        conn.executemany("INSERT OR IGNORE INTO deliveries (event_id, webhook_id, status, attempts, "
                         "next_attempt_at, created_at) VALUES (?, ?, 'pending', 0, ?, ?)",
                         [(i, webhook_id, now, now) for i in ids])
    return ids


@dataclass(frozen=True)
class Claimed:
    """A delivery taken by a sender for one attempt.

    Attributes
    ----------
    delivery_id : int
    webhook_id : str
    attempt : int
        1 for the first attempt.
    event : Event
    """

    delivery_id: int
    webhook_id: str
    attempt: int
    event: Event


def due_endpoints(conn: sqlite3.Connection, *, now: str | None = None,
                  webhook_ids: Iterable[str] | None = None) -> dict[str, int]:
    """Active endpoints with deliveries a sender may take now: ``webhook_id -> count``.

    Due (pending, next attempt passed) and not leased by a live process (see :func:`claim`).
    """
    stamp = now or utcnow()
    rows = conn.execute(
        "SELECT d.webhook_id, CASE WHEN d.lease_until IS NULL OR d.lease_until <= ? THEN NULL ELSE d.lease_pid END "
        "AS holder, COUNT(*) FROM deliveries d JOIN webhooks w ON w.webhook_id = d.webhook_id "
        "WHERE d.status = 'pending' AND d.next_attempt_at <= ? AND w.active = 1 GROUP BY d.webhook_id, holder",
        (stamp, stamp)).fetchall()
    wanted = None if webhook_ids is None else set(webhook_ids)
    due: dict[str, int] = {}
    for webhook_id, holder, count in rows:
        if (wanted is None or webhook_id in wanted) and (holder is None or not pid_alive(int(holder))):
            due[webhook_id] = due.get(webhook_id, 0) + int(count)
    return due


def next_due(conn: sqlite3.Connection, *, webhook_ids: Iterable[str] | None = None) -> str | None:
    """The earliest ``next_attempt_at`` of a pending delivery to an active endpoint, or ``None``."""
    sql = ("SELECT MIN(d.next_attempt_at) FROM deliveries d JOIN webhooks w ON w.webhook_id = d.webhook_id "
           "WHERE d.status = 'pending' AND w.active = 1")
    params: list[Any] = []
    if webhook_ids is not None:
        ids = list(webhook_ids)
        sql += f" AND d.webhook_id IN ({', '.join('?' * len(ids))})"
        params = ids
    row = conn.execute(sql, params).fetchone()
    return None if row is None else row[0]


def claim(conn: sqlite3.Connection, *, webhook_id: str, limit: int, lease_s: float,
          delivery_ids: Iterable[int] | None = None, include_inactive: bool = False) -> list[Claimed]:
    """Take up to ``limit`` due deliveries of one endpoint for an attempt each (own transaction).

    A delivery is free when no lease is held, the lease ran out, or the process holding it
    is gone (``kill -9``). Taking it counts the attempt (``attempts + 1``) and leases the row
    to this process for ``lease_s`` seconds. Deliveries of disabled endpoints are taken only
    with ``include_inactive`` (test sends).
    """
    if limit < 1:
        return []
    now = utcnow()
    conn.execute("BEGIN IMMEDIATE")
    try:
        sql = ("SELECT d.delivery_id, d.attempts, d.lease_until, d.lease_pid, e.event_id, e.type, e.payload, "
               "e.created_at FROM deliveries d JOIN events e ON e.event_id = d.event_id "
               "JOIN webhooks w ON w.webhook_id = d.webhook_id "
               "WHERE d.webhook_id = ? AND d.status = 'pending' AND d.next_attempt_at <= ?"
               + ("" if include_inactive else " AND w.active = 1"))
        params: list[Any] = [webhook_id, now]
        if delivery_ids is not None:
            ids = list(delivery_ids)
            sql += f" AND d.delivery_id IN ({', '.join('?' * len(ids))})"
            params += ids
        taken: list[Claimed] = []
        for row in conn.execute(sql + " ORDER BY d.delivery_id", params):
            if len(taken) >= limit:
                break
            if row["lease_until"] is not None and row["lease_until"] > now and (
                    row["lease_pid"] is None or pid_alive(int(row["lease_pid"]))):
                continue
            event = Event(event_id=row["event_id"], type=row["type"], data=json.loads(row["payload"]),
                          created_at=row["created_at"])
            taken.append(Claimed(delivery_id=int(row["delivery_id"]), webhook_id=webhook_id,
                                 attempt=int(row["attempts"]) + 1, event=event))
        lease = at(lease_s)
        conn.executemany("UPDATE deliveries SET attempts = ?, lease_until = ?, lease_pid = ? WHERE delivery_id = ?",
                         [(c.attempt, lease, os.getpid(), c.delivery_id) for c in taken])
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return taken


def settle(conn: sqlite3.Connection, claimed: Claimed, *, started_at: str, status_code: int | None,
           duration_s: float, error: str | None, outcome: str, retry_in_s: float | None = None,
           count_failure: bool = True, disable_after: int | None = None) -> bool:
    """Record one attempt and its consequences (own transaction); returns whether the endpoint was disabled now.

    Parameters
    ----------
    outcome : {"delivered", "retry", "failed"}
        ``retry``: the delivery stays ``pending`` until ``retry_in_s`` from now.
    count_failure : bool
        Update the endpoint's consecutive-failure count and last delivery (not for test sends).
    disable_after : int, optional
        Disable the endpoint when its consecutive failed attempts reach this number.
    """
    now = utcnow()
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("INSERT OR REPLACE INTO delivery_attempts (delivery_id, attempt, started_at, status_code, "
                     "duration_s, error) VALUES (?, ?, ?, ?, ?, ?)",
                     (claimed.delivery_id, claimed.attempt, started_at, status_code, duration_s, error))
        if outcome == "delivered":
            conn.execute("UPDATE deliveries SET status = 'delivered', response_status = ?, last_error = NULL, "
                         "duration_s = ?, delivered_at = ?, next_attempt_at = NULL, lease_until = NULL, "
                         "lease_pid = NULL WHERE delivery_id = ?",
                         (status_code, duration_s, now, claimed.delivery_id))
        else:
            conn.execute("UPDATE deliveries SET status = ?, response_status = ?, last_error = ?, duration_s = ?, "
                         "next_attempt_at = ?, lease_until = NULL, lease_pid = NULL WHERE delivery_id = ?",
                         ("pending" if outcome == "retry" else "failed", status_code, error, duration_s,
                          at(retry_in_s or 0.0) if outcome == "retry" else None, claimed.delivery_id))
        disabled = False
        if count_failure:
            last = str(status_code) if status_code is not None else (error or "error").split(":", 1)[0]
            if outcome == "delivered":
                conn.execute("UPDATE webhooks SET failures = 0, last_delivery_at = ?, last_status = ? "
                             "WHERE webhook_id = ?", (now, last, claimed.webhook_id))
            else:
                conn.execute("UPDATE webhooks SET failures = failures + 1, last_delivery_at = ?, last_status = ? "
                             "WHERE webhook_id = ?", (now, last, claimed.webhook_id))
                if disable_after is not None:
                    cur = conn.execute(
                        "UPDATE webhooks SET active = 0, disabled_reason = ? WHERE webhook_id = ? AND active = 1 "
                        "AND failures >= ?",
                        (f"disabled automatically after {disable_after} consecutive failed attempts (last: "
                         f"{last}, {now[:19]}Z); fix the receiver, then enable it again (ws.webhooks.enable(id), or "
                         "soundforge webhooks enable ID)",
                         claimed.webhook_id, disable_after))
                    disabled = cur.rowcount > 0
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return disabled
