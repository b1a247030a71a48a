"""Runner bookkeeping in the catalog's ``jobs`` table: one row per attempt of a stage item.

A row is inserted as ``running`` when an attempt starts and updated to ``done``
or ``failed`` when it ends; the ``done`` update runs in the same ``BEGIN
IMMEDIATE`` transaction as the stage's own catalog writes, so a result and its
job row are committed together or not at all. An item is *done* for a stage
when a ``done`` row exists with the same ``params_hash`` and ``input_hash``.
``running`` rows left by a run whose process died (``kill -9``) are marked
``failed`` (``error_type`` ``Interrupted``) by the next run of the stage.

Every attempt that ends ``failed`` for good (no retry follows: the last attempt,
a cancelled or refused one, an interrupted run) writes a ``job.failed`` event to
the outbox (:mod:`soundforge.events.outbox`) in the transaction that marks it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from ..catalog import Catalog, utcnow
from ..errors import CatalogError
from ..events import outbox
from ..events.types import job_failed
from ..storage import pid_alive
from .spec import params_hash

__all__ = ["DONE_ELSEWHERE", "LEASE_S", "JobStore", "new_run_id", "params_hash"]

LEASE_S = 60.0
"""Seconds a running attempt holds its item without renewal; the runner renews every :data:`RENEW_S`."""

RENEW_S = 15.0
"""Seconds between two renewals of the running attempts' leases."""

DONE_ELSEWHERE = -1
"""What :meth:`JobStore.claim` returns with ``unless_done=True`` when the item is already ``done``."""


def new_run_id(stage: str) -> str:
    """``<stage>-<UTC yyyymmddTHHMMSS>-<pid>-<6 hex>``: unique, sortable, safe as a folder name."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return f"{stage}-{stamp}-{os.getpid()}-{secrets.token_hex(3)}"


def _run_pid(run_id: str) -> int | None:
    parts = run_id.rsplit("-", 2)
    return int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None


class JobStore:
    """The ``jobs`` rows of one run of one stage, written over one connection (single writer).

    Parameters
    ----------
    catalog : Catalog
        The workspace catalog.
    stage : str
        Stage name.
    params_hash : str
        Hash of the run's parameters (see :func:`params_hash`).
    run_id : str
        This run's id (see :func:`new_run_id`).
    """

    def __init__(self, catalog: Catalog, *, stage: str, params_hash: str, run_id: str) -> None:
        self.catalog = catalog
        self.stage = stage
        self.params_hash = params_hash
        self.run_id = run_id
        self._conn: sqlite3.Connection | None = None

    def __enter__(self) -> JobStore:
        self._conn = self.catalog.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise CatalogError("JobStore used outside its 'with' block.")
        return self._conn

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` on the store's connection; commit on success, roll back on error."""
        conn = self.conn
        with self.catalog.write_lock:  # this process's writers queue here, not in SQLite's sleeping busy wait
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise CatalogError(f"Could not start a write on {self.catalog.path}: {exc}.") from exc
            try:
                yield conn
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise CatalogError(f"Could not commit to {self.catalog.path}: {exc}.") from exc

    # -- reads -----------------------------------------------------------------------
    def done_inputs(self) -> dict[str, set[str | None]]:
        """``item -> {input_hash, ...}`` of every ``done`` attempt of this stage with these parameters."""
        done: dict[str, set[str | None]] = {}
        for item, input_hash in self.conn.execute(
                "SELECT item, input_hash FROM jobs WHERE stage = ? AND params_hash = ? AND status = 'done'",
                (self.stage, self.params_hash)):
            done.setdefault(item, set()).add(input_hash)
        return done

    # -- writes ----------------------------------------------------------------------
    def mark_interrupted(self) -> int:
        """Mark ``running`` rows of this stage whose run's process is gone as ``failed``; returns how many."""
        runs = [r[0] for r in self.conn.execute(
            "SELECT DISTINCT run_id FROM jobs WHERE stage = ? AND status = 'running' AND run_id != ?",
            (self.stage, self.run_id))]
        dead = [r for r in runs if (pid := _run_pid(r)) is not None and not pid_alive(pid)]
        if not dead:
            return 0
        with self.transaction() as conn:
            ids = [r[0] for r in conn.execute(
                f"SELECT job_id FROM jobs WHERE status = 'running' AND stage = ? "
                f"AND run_id IN ({', '.join('?' * len(dead))})", (self.stage, *dead))]
            cur = conn.execute(
                f"UPDATE jobs SET status = 'failed', error_type = 'Interrupted', finished_at = ?, "
                f"error = 'The run was interrupted (its process ended) before this attempt finished.' "
                f"WHERE status = 'running' AND stage = ? AND run_id IN ({', '.join('?' * len(dead))})",
                (utcnow(), self.stage, *dead))
            self._failed_events(conn, ids)
            return cur.rowcount

    def start(self, item: str, *, input_hash: str | None, attempt: int) -> int:
        """Insert a ``running`` row for an attempt (holding a lease on the item); returns its ``job_id``."""
        with self.transaction() as conn:
            return self._insert_running(conn, item, input_hash=input_hash, attempt=attempt)

    def _insert_running(self, conn: sqlite3.Connection, item: str, *, input_hash: str | None, attempt: int) -> int:
        cur = conn.execute(
            "INSERT INTO jobs (run_id, stage, item, params_hash, input_hash, status, attempts, started_at, "
            "lease_until) VALUES (?, ?, ?, ?, ?, 'running', ?, ?, ?)",
            (self.run_id, self.stage, item, self.params_hash, input_hash, attempt, utcnow(),
             utcnow(after_s=LEASE_S)))
        return int(cur.lastrowid or 0)

    def claim(self, item: str, *, input_hash: str | None, attempt: int, unless_done: bool = False) -> int | None:
        """Start an attempt unless another live run holds the item; returns the ``job_id``, or ``None`` when held.

        An item is held by a ``running`` row of this stage and these parameters from another run whose
        process is alive and whose lease (renewed while it runs, :data:`LEASE_S`) has not expired. A
        row whose holder died or stopped renewing is taken over: marked failed (``Interrupted``), and
        this run starts the item. With ``unless_done``, an item that is already ``done`` with these
        parameters and this input (another run finished it since this one planned) is not started:
        :data:`DONE_ELSEWHERE` is returned. The checks and the start are one transaction, so two runs
        never both start an item, nor start one the other has just finished.
        """
        with self.transaction() as conn:
            if unless_done and conn.execute(
                    "SELECT 1 FROM jobs WHERE stage = ? AND item = ? AND params_hash = ? AND status = 'done' "
                    "AND input_hash IS ? LIMIT 1", (self.stage, item, self.params_hash, input_hash)).fetchone():
                return DONE_ELSEWHERE
            rows = conn.execute(
                "SELECT job_id, run_id, lease_until FROM jobs WHERE stage = ? AND item = ? AND params_hash = ? "
                "AND status = 'running' AND run_id != ?", (self.stage, item, self.params_hash, self.run_id)).fetchall()
            now = utcnow()
            stale = []
            for job_id, run_id, lease_until in rows:
                pid = _run_pid(run_id)
                alive = pid is not None and pid_alive(pid)
                if alive and (lease_until is None or lease_until > now):
                    return None
                stale.append(job_id)
            if stale:
                conn.execute(
                    f"UPDATE jobs SET status = 'failed', error_type = 'Interrupted', finished_at = ?, "
                    f"error = 'Taken over by run {self.run_id}: the run holding this item ended or stopped "
                    f"renewing its lease.' WHERE job_id IN ({', '.join('?' * len(stale))})", (now, *stale))
                self._failed_events(conn, stale)
            return self._insert_running(conn, item, input_hash=input_hash, attempt=attempt)

    def renew(self, job_ids: list[int]) -> None:
        """Extend the leases of these running attempts by :data:`LEASE_S` from now."""
        if not job_ids:
            return
        with self.transaction() as conn:
            conn.execute(f"UPDATE jobs SET lease_until = ? WHERE status = 'running' AND job_id IN "
                         f"({', '.join('?' * len(job_ids))})", (utcnow(after_s=LEASE_S), *job_ids))

    def held_elsewhere(self, item: str) -> bool:
        """Whether another live run holds ``item`` (a running row with an unexpired lease)."""
        now = utcnow()
        for run_id, lease_until in self.conn.execute(
                "SELECT run_id, lease_until FROM jobs WHERE stage = ? AND item = ? AND params_hash = ? "
                "AND status = 'running' AND run_id != ?", (self.stage, item, self.params_hash, self.run_id)):
            pid = _run_pid(run_id)
            if pid is not None and pid_alive(pid) and (lease_until is None or lease_until > now):
                return True
        return False

    def done_elsewhere(self, item: str, *, input_hash: str | None) -> bool:
        """Whether another run finished ``item`` (same parameters and input) as ``done``."""
        row = self.conn.execute(
            "SELECT 1 FROM jobs WHERE stage = ? AND item = ? AND params_hash = ? AND status = 'done' "
            "AND input_hash IS ? LIMIT 1", (self.stage, item, self.params_hash, input_hash)).fetchone()
        return row is not None

    def finish(self, job_id: int, *, status: str, duration_s: float, error: str | None = None,
               error_type: str | None = None,
               record: Callable[[sqlite3.Connection], None] | None = None, retrying: bool = False) -> None:
        """End an attempt: run ``record(conn)`` (the stage's writes) and update the row, in one transaction.

        A ``failed`` attempt also writes a ``job.failed`` event there, unless ``retrying`` (another
        attempt of the item follows).
        """
        with self.transaction() as conn:
            if record is not None:
                record(conn)
            conn.execute("UPDATE jobs SET status = ?, error = ?, error_type = ?, finished_at = ?, duration_s = ?, "
                         "lease_until = NULL WHERE job_id = ?",
                         (status, error, error_type, utcnow(), duration_s, job_id))
            if status == "failed" and not retrying:
                self._failed_events(conn, [job_id])

    def add_failed(self, item: str, *, input_hash: str | None, attempt: int, error: str, error_type: str) -> None:
        """Record an attempt that failed before it started (e.g. an open circuit breaker)."""
        now = utcnow()
        with self.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO jobs (run_id, stage, item, params_hash, input_hash, status, attempts, error, "
                "error_type, started_at, finished_at, duration_s) VALUES (?, ?, ?, ?, ?, 'failed', ?, ?, ?, ?, ?, 0)",
                (self.run_id, self.stage, item, self.params_hash, input_hash, attempt, error, error_type, now, now))
            self._failed_events(conn, [int(cur.lastrowid or 0)])

    def _failed_events(self, conn: sqlite3.Connection, job_ids: list[int]) -> None:
        """``job.failed`` events for these job rows, in the caller's transaction."""
        if not job_ids:
            return
        rows = conn.execute(f"SELECT job_id, run_id, stage, item, attempts, error, error_type FROM jobs "
                            f"WHERE job_id IN ({', '.join('?' * len(job_ids))}) ORDER BY job_id", job_ids).fetchall()
        root = self.catalog.path.parent
        outbox.emit_many(conn, "job.failed", [
            job_failed(job_id=r[0], run_id=r[1], stage=r[2], item=r[3], attempts=r[4], error=r[5], error_type=r[6],
                       root=root) for r in rows])
