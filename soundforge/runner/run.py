"""Run one stage over many items: concurrency, timeouts, retries, circuit breakers, jobs, progress.

A stage is described by a :class:`StageSpec` (a name, a top-level work function
``work(payload, ctx) -> result``, an executor kind, defaults) and run with
:func:`run_stage`, which returns one DataFrame row per item with ``status``
(``done``, ``skipped``, ``failed``), ``error``, ``attempts``, ``seconds_taken`` and
the stage's own columns. One failing item never stops the others (unless
``errors="raise"``). The calling process is the only catalog writer: a
stage-supplied ``record(conn, item, result)`` runs in the same transaction as
the item's ``jobs`` row update. See ``docs/runner.md`` for a worked example.
"""

from __future__ import annotations

import contextlib
import functools
import heapq
import itertools
import math
import sqlite3
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..catalog import Catalog
from ..errors import CircuitOpen, ConfigError, ItemCancelled, ItemTimeout, SoundforgeError, StageError
from ..progress import ProgressEvent, Reporter, logger, make_reporter, silent
from .breakers import remembered_board
from .context import ItemContext, Outcome, Progress, Result, Task
from .executors import Executor, RunInfo, make_executor
from .jobs import DONE_ELSEWHERE, RENEW_S, JobStore, new_run_id, params_hash
from .resilience import BreakerBoard, RetryPolicy
from .spec import RESULT_COLUMNS, Existing, Record, Skipped, StageSpec, WorkItem

__all__ = ["RESULT_COLUMNS", "Existing", "ItemContext", "Record", "RemoteTraceback", "Skipped", "StageSpec", "WorkItem",
           "run_stage"]

TICK_S = 0.5
"""Seconds without events after which the runner emits a ``tick`` (reporters refresh elapsed time and ETA)."""

class RemoteTraceback(Exception):
    """The traceback of an error raised in a worker process (set as ``__cause__``)."""


@dataclass
class _Running:
    items: tuple[WorkItem, ...]
    attempt: int
    job_ids: list[int]
    started: float
    deadline: float | None
    limit: float | None = None

    @property
    def item(self) -> WorkItem:
        return self.items[0]

    @property
    def job_id(self) -> int:
        return self.job_ids[0]


def run_stage(spec: StageSpec, items: Iterable[WorkItem | str], *, catalog: Catalog,
              params: Mapping[str, Any] | None = None, workers: int | None = None, timeout: float | None = None,
              force: bool = False, progress: Any = "auto", errors: str = "record", record: Record | None = None,
              existing: Existing | None = None, executor: str | Executor | None = None,
              breakers: BreakerBoard | None = None, retry: RetryPolicy | None = None,
              run_id: str | None = None, chunk_size: int = 1) -> Any:
    """Run ``spec`` over ``items`` and return one result row per item.

    Parameters
    ----------
    spec : StageSpec
        The stage.
    items : iterable of WorkItem or str
        The items (a string is ``WorkItem(key=s)``); duplicate keys run once.
    catalog : Catalog
        Where ``jobs`` rows and the stage's records go.
    params : Mapping[str, Any], optional
        Parameters of the run, given to the work as ``ctx.params`` and hashed into ``jobs.params_hash``.
    workers : int, optional
        Items running at once (default: the stage's; a stage that uses every CPU by default gets the
        executor's ``default_workers()`` when it has one, e.g. a Dask cluster's threads).
    timeout : float, optional
        Seconds per attempt of each item (default: the item's own limit, which stages derive from the
        work, e.g. a multiple of the track's duration, else the stage's ``timeout_s``; ``math.inf``: no
        limit). Work past it is stopped for real (process group killed) and the attempt fails with
        ``ItemTimeout``.
    force : bool
        Redo items already done with the same input and parameters.
    progress : {"auto", "widget", "text", "log", None} or callable
        How to show progress (see :mod:`soundforge.progress`).
    errors : {"record", "raise"}
        ``"record"``: failures become ``failed`` rows. ``"raise"``: stop at the first item that fails for
        good (running items are cancelled) and raise its error.
    record : callable, optional
        ``record(conn, item, result)``: the stage's catalog writes for a done item, in the same transaction
        as its ``jobs`` row. Runs in this process.
    existing : callable, optional
        ``existing(item) -> row or None`` for items already done: their columns for the result table, or
        ``None`` when the output is missing (then the item is redone).
    executor : {"thread", "process", "dask"}, Executor or distributed.Client, optional
        Override the stage's executor (any registered name; a ``distributed.Client`` runs on its cluster).
    breakers : BreakerBoard, optional
        Circuit breakers to share (default: the workspace's, remembered in the catalog's ``breakers``
        table across calls and processes; see :mod:`soundforge.runner.breakers`).
    retry : RetryPolicy, optional
        Backoff and attempts (default: the stage's policy with ``max_attempts`` attempts).
    run_id : str, optional
        Id of this run in ``jobs.run_id`` (default: a new one).
    chunk_size : int
        Items per attempt, for stages whose spec is ``chunked`` (their work takes a list of payloads
        and returns ``{key: result}``; e.g. one notebook execution for several tracks). Each item
        keeps its own ``jobs`` row; the time limit of a chunk is ``timeout`` times its size; a chunk
        that fails is split and its items run alone, so one bad item fails alone.

    Returns
    -------
    pandas.DataFrame
        Columns :meth:`StageSpec.result_columns`, one row per item, in input order.

    Raises
    ------
    ConfigError
        For invalid arguments (before any work starts).
    Exception
        With ``errors="raise"``, the first final error of an item (remote traceback as its cause).
    KeyboardInterrupt
        After cancelling running items and recording them as failed.
    """
    if errors not in ("record", "raise"):
        raise ConfigError(f"errors must be 'record' or 'raise', got {errors!r}.")
    if workers is not None and (not isinstance(workers, int) or isinstance(workers, bool) or workers < 1):
        raise ConfigError(f"workers must be an integer >= 1, got {workers!r}.")
    limit = spec.timeout_s if timeout is None else timeout
    if limit is not None and (not isinstance(limit, (int, float)) or not limit > 0):
        raise ConfigError(f"timeout must be a number of seconds > 0 (math.inf for none), got {timeout!r}.")
    if not isinstance(chunk_size, int) or isinstance(chunk_size, bool) or chunk_size < 1:
        raise ConfigError(f"chunk_size must be an integer >= 1, got {chunk_size!r}.")
    if chunk_size > 1 and not spec.chunked:
        raise ConfigError(f"Stage {spec.name!r} runs one item per attempt; chunk_size={chunk_size} needs a "
                          "chunked stage.")
    policy = retry if retry is not None else spec.retry.with_attempts(spec.max_attempts)
    work_items = _work_items(items)
    reporter = make_reporter(progress)
    chosen = make_executor(executor if executor is not None else spec.executor)
    n = workers if workers is not None else _default_workers(spec, chosen)
    run = _Run(spec, work_items, catalog=catalog, params=dict(params or {}), workers=n,
               timeout=None if limit is None or math.isinf(limit) else float(limit), force=force,
               reporter=reporter, errors=errors, record=record, existing=existing, executor=chosen,
               breakers=breakers if breakers is not None else remembered_board(catalog), policy=policy,
               run_id=run_id or new_run_id(spec.name), chunk_size=chunk_size, explicit_timeout=timeout is not None)
    return run.execute()


def _default_workers(spec: StageSpec, executor: Executor) -> int:
    """The stage's default concurrency; "as many as the hardware" (``workers=None``) asks the executor.

    An executor spanning several machines (Dask) may define ``default_workers() -> int`` (its
    cluster's slots); on one machine it is the number of CPUs.
    """
    hook = getattr(executor, "default_workers", None)
    if spec.workers is None and callable(hook):
        n = hook()
        if isinstance(n, int) and n >= 1:
            return n
    return spec.default_workers()


def _work_items(items: Iterable[WorkItem | str]) -> list[WorkItem]:
    if isinstance(items, (str, WorkItem)):
        items = [items]
    seen: dict[str, WorkItem] = {}
    for it in items:
        item = WorkItem(key=it) if isinstance(it, str) else it
        if not isinstance(item, WorkItem) or not isinstance(item.key, str) or not item.key:
            raise ConfigError(f"Items must be non-empty strings or WorkItem objects, got {it!r}.")
        seen.setdefault(item.key, item)
    return list(seen.values())


class _Run:
    """State of one :func:`run_stage` call."""

    def __init__(self, spec: StageSpec, items: list[WorkItem], *, catalog: Catalog, params: dict[str, Any],
                 workers: int, timeout: float | None, force: bool, reporter: Reporter, errors: str,
                 record: Record | None, existing: Existing | None, executor: Executor, breakers: BreakerBoard,
                 policy: RetryPolicy, run_id: str, chunk_size: int = 1, explicit_timeout: bool = True) -> None:
        self.spec, self.items, self.catalog, self.params = spec, items, catalog, params
        self.workers, self.timeout, self.force, self.reporter = workers, timeout, force, reporter
        self.errors, self.record, self.existing, self.executor = errors, record, existing, executor
        self.board, self.policy, self.run_id = breakers, policy, run_id
        self.chunk_size = chunk_size
        self.explicit_timeout = explicit_timeout
        self.store = JobStore(catalog, stage=spec.name, params_hash=params_hash(params, version=spec.version),
                              run_id=run_id)
        self.rows: dict[str, dict[str, Any]] = {}
        self.spent: dict[str, float] = {}
        self.running: dict[int, _Running] = {}
        self.todo: deque[tuple[tuple[WorkItem, ...], int]] = deque()
        self.retries: list[tuple[float, int, tuple[WorkItem, ...], int]] = []
        self.ids = itertools.count(1)
        self.stop_error: BaseException | None = None
        self.waiting: list[tuple[WorkItem, int]] = []
        self.last_lease = time.monotonic()
        self.last_renewal = time.monotonic()
        self.last_event = time.monotonic()

    # -- events ------------------------------------------------------------------------
    def emit(self, kind: str, **fields: Any) -> None:
        event = ProgressEvent(kind=kind, stage=self.spec.name, **fields)
        self.last_event = event.time
        try:
            self.reporter(event)
        except Exception as exc:  # a broken display must not sink the run
            logger.warning("%s: progress display failed (%s: %s); continuing without it", self.spec.name,
                           type(exc).__name__, exc)
            self.reporter = silent

    # -- main ----------------------------------------------------------------------------
    def execute(self) -> Any:
        with self.store:
            self.store.mark_interrupted()
            info = RunInfo(stage=self.spec.name, run_id=self.run_id, root=self.catalog.path.parent)
            try:  # before any item: a cluster that cannot run this stage (workspace not shared) fails it now
                self.executor.open(workers=self.workers, breakers=self.board, run=info)
            except BaseException:
                self.executor.close()
                raise
            self.emit("start", total=len(self.items), workers=self.workers,
                      link=getattr(self.executor, "dashboard_link", None))
            try:
                self._plan()
                self._loop()
                if self.stop_error is not None:
                    self._abort("another item failed and errors='raise'")
            except BaseException as exc:
                self._abort(f"the run was interrupted ({type(exc).__name__})")
                self.emit("end", result=self._frame())
                raise
            finally:
                self.executor.close()
        result = self._frame()
        self.emit("end", result=result)
        if self.stop_error is not None:
            raise self.stop_error
        return result

    def _plan(self) -> None:
        done = {} if self.force else self.store.done_inputs()
        pending: list[WorkItem] = []
        for item in self.items:
            if item.input_hash in done.get(item.key, ()):
                row = self._existing_row(item)
                if row is not None:
                    self._final(item, "skipped", attempts=0, values=row)
                    continue
            pending.append(item)
        for start in range(0, len(pending), self.chunk_size):
            self.todo.append((tuple(pending[start:start + self.chunk_size]), 1))

    def _existing_row(self, item: WorkItem) -> dict[str, Any] | None:
        if self.existing is None:
            return {}
        try:
            found = self.existing(item)
        except (SoundforgeError, OSError) as exc:  # cannot tell whether the output is there: redo
            logger.debug("%s: existing(%r) failed (%s); redoing the item", self.spec.name, item.key, exc)
            return None
        return None if found is None else self.spec.row(found)

    def _loop(self) -> None:
        while (self.todo or self.retries or self.running or self.waiting) and self.stop_error is None:
            while self.executor.free_slots() > 0 and self.stop_error is None:
                ready = self._next_ready()
                if ready is None:
                    break
                self._dispatch(*ready)
            self._leases()
            if not (self.running or self.retries or self.waiting):
                continue
            messages = self.executor.poll(self._wait_s())
            # Expire first: a result that arrives after its deadline (work that noticed ctx.cancelled()
            # and returned) is a timeout, not a success.
            self._expire()
            for msg in messages:
                if isinstance(msg, Progress) and msg.task_id in self.running:
                    run = self.running[msg.task_id]
                    for item in run.items:
                        self.emit("item_progress", item=item.key, attempt=run.attempt, percent=msg.percent,
                                  message=msg.message)
                elif isinstance(msg, Result) and msg.task_id in self.running:
                    self._on_result(self.running.pop(msg.task_id), msg.outcome)
            if time.monotonic() - self.last_event >= TICK_S:
                self.emit("tick")

    def _next_ready(self) -> tuple[tuple[WorkItem, ...], int] | None:
        if self.retries and self.retries[0][0] <= time.monotonic():
            _, _, item, attempt = heapq.heappop(self.retries)
            return item, attempt
        return self.todo.popleft() if self.todo else None

    def _leases(self) -> None:
        """Renew the leases of running attempts; settle items another run held (done there: skipped here)."""
        now = time.monotonic()
        if now - self.last_lease < min(RENEW_S, 1.0 if self.waiting else RENEW_S):
            return
        self.last_lease = now
        if now - self.last_renewal >= RENEW_S:
            self.last_renewal = now
            self.store.renew([job_id for run in self.running.values() for job_id in run.job_ids])
        still: list[tuple[WorkItem, int]] = []
        for item, attempt in self.waiting:
            if self.store.held_elsewhere(item.key):   # first: a holder's row turns from running to done at once
                still.append((item, attempt))
                continue
            if self.store.done_elsewhere(item.key, input_hash=item.input_hash) and self._taken_from_elsewhere(item):
                continue
            self.todo.appendleft(((item,), attempt))
        self.waiting = still

    def _claim(self, item: WorkItem, attempt: int) -> int | None:
        """Start an attempt of ``item``: its ``job_id``; ``None`` when another live run holds it (wait);
        :data:`DONE_ELSEWHERE` when another run finished it since the plan, and its output is here
        (then it is recorded as skipped). A finished item whose output is missing is done again, as
        at planning."""
        if self.force:
            return self.store.claim(item.key, input_hash=item.input_hash, attempt=attempt)
        job_id = self.store.claim(item.key, input_hash=item.input_hash, attempt=attempt, unless_done=True)
        if job_id != DONE_ELSEWHERE:
            return job_id
        if self._taken_from_elsewhere(item):
            return DONE_ELSEWHERE
        return self.store.claim(item.key, input_hash=item.input_hash, attempt=attempt)

    def _taken_from_elsewhere(self, item: WorkItem) -> bool:
        """Record ``item``, which another run finished, as ``skipped`` with that run's output, when the
        output is here; ``False`` (do it again) when it is not."""
        row = self._existing_row(item)
        if row is None:
            return False
        self._final(item, "skipped", attempts=0, values=row, message="done by another run")
        return True

    def _limit(self, group: tuple[WorkItem, ...]) -> float | None:
        """Seconds an attempt of ``group`` may take: the caller's ``timeout`` per item, else each item's own
        default (derived from its work by the stage), else the stage's; ``None``: no limit."""
        total = 0.0
        for item in group:
            own = self.timeout if self.explicit_timeout or item.timeout_s is None else item.timeout_s
            if own is None or math.isinf(own):
                return None
            total += own
        return total

    def _wait_s(self) -> float:
        now = time.monotonic()
        wake = now + 0.5
        if self.retries and self.executor.free_slots() > 0:
            wake = min(wake, self.retries[0][0])
        for run in self.running.values():
            if run.deadline is not None:
                wake = min(wake, run.deadline)
        return max(0.0, wake - now)

    # -- attempts ------------------------------------------------------------------------
    def _dispatch(self, group: tuple[WorkItem, ...], attempt: int) -> None:
        spec = self.spec
        if spec.service is not None:
            try:
                self.board[spec.service].allow()
            except CircuitOpen as exc:
                text = f"CircuitOpen: {exc}"
                for item in group:
                    self.store.add_failed(item.key, input_hash=item.input_hash, attempt=attempt, error=text,
                                          error_type="CircuitOpen")
                    self._final(item, "failed", attempts=attempt, error=text, exc=exc)
                return
        claimed = [(item, self._claim(item, attempt)) for item in group]
        if any(job_id == DONE_ELSEWHERE for _, job_id in claimed):   # already skipped
            claimed = [(item, job_id) for item, job_id in claimed if job_id != DONE_ELSEWHERE]
            group = tuple(item for item, _ in claimed)
            if not group:
                return
        held = [item for item, job_id in claimed if job_id is None]
        if held:  # another live run is doing these: wait for it (its result is ours) or take over if it dies
            self.waiting.extend((item, attempt) for item in held)
            for item in held:
                self.emit("item_progress", item=item.key, attempt=attempt, percent=None,
                          message="waiting: another run is doing this item")
            group = tuple(item for item, job_id in claimed if job_id is not None)
            if not group:
                return
        job_ids = [job_id for _, job_id in claimed if job_id is not None]
        now = time.monotonic()
        limit = self._limit(group)
        deadline = None if limit is None else now + limit
        payloads = [item.key if item.payload is None else item.payload for item in group]
        first = group[0].key
        task = Task(task_id=next(self.ids), stage=spec.name,
                    item=first if len(group) == 1 else f"{first} (+{len(group) - 1})", attempt=attempt,
                    work=spec.work, payload=payloads if spec.chunked else payloads[0], params=self.params,
                    deadline=deadline, resources=_resources(group))
        run = _Running(items=group, attempt=attempt, job_ids=job_ids, started=now, deadline=deadline, limit=limit)
        try:
            self.executor.submit(task)
        except StageError as exc:
            self._on_result(run, Outcome(ok=False, error=exc, error_type=type(exc).__name__))
            return
        self.running[task.task_id] = run
        for item in group:
            self.emit("item_start", item=item.key, attempt=attempt)

    def _on_result(self, run: _Running, outcome: Outcome) -> None:
        took = time.monotonic() - run.started
        share = took / len(run.items)
        for item in run.items:
            self.spent[item.key] = self.spent.get(item.key, 0.0) + share
        if not outcome.ok:
            self._on_failure(run, outcome, took)
            return
        if self.spec.chunked:
            results = outcome.value
            missing = [i.key for i in run.items if not isinstance(results, Mapping) or i.key not in results]
            if missing:
                exc = StageError(f"Stage {self.spec.name!r} returned no result for {missing[:3]}; a chunked "
                                 "stage's work returns {key: result} for every item it was given.")
                self._on_failure(run, Outcome(ok=False, error=exc, error_type="StageError"), took)
                return
            values_by_item = [(item, job_id, results[item.key]) for item, job_id in zip(run.items, run.job_ids,
                                                                                         strict=True)]
        else:
            values_by_item = [(run.item, run.job_id, outcome.value)]
        finals = []
        for item, job_id, value in values_by_item:
            try:
                values = self.spec.row(value)
                write = None
                if self.record is not None and not isinstance(value, Skipped):
                    write = functools.partial(_record_one, self.record, item, value)
                self.store.finish(job_id, status="done", duration_s=share, record=write)
            except Exception as exc:
                failed = Outcome(ok=False, error=exc, error_type=type(exc).__name__)
                self._on_failure(_Running(items=(item,), attempt=run.attempt, job_ids=[job_id],
                                          started=run.started, deadline=run.deadline), failed, share)
                continue
            finals.append((item, value, values))
        if not finals:
            return
        self._feed_breaker(outcome, None)
        for item, value, values in finals:
            if isinstance(value, Skipped):
                self._final(item, "skipped", attempts=run.attempt, values=values, message=value.reason or None)
            else:
                self._final(item, "done", attempts=run.attempt, values=values)

    def _on_failure(self, run: _Running, outcome: Outcome, took: float) -> None:
        exc = outcome.error if outcome.error is not None else StageError("unknown failure")
        if outcome.traceback and exc.__traceback__ is None and exc.__cause__ is None:
            exc.__cause__ = RemoteTraceback(outcome.traceback)
        text = outcome.error_text
        if len(run.items) > 1 and self.stop_error is None:
            # A chunk failed: each of its items runs alone next, first in line, so one bad item fails alone.
            for job_id in run.job_ids:
                self.store.finish(job_id, status="failed", duration_s=took / len(run.items), error=text,
                                  error_type=outcome.error_type, retrying=True)
            self.todo.extendleft(((item,), run.attempt + 1) for item in reversed(run.items))
            for item in run.items:
                self.emit("item_retry", item=item.key, attempt=run.attempt, error=text, delay_s=0.0)
            return
        retry = self.stop_error is None and self.policy.should_retry(exc, attempt=run.attempt)
        self.store.finish(run.job_id, status="failed", duration_s=took, error=text, error_type=outcome.error_type,
                          retrying=retry)
        self._feed_breaker(outcome, exc)
        if retry:
            delay = self.policy.delay(attempt=run.attempt)
            heapq.heappush(self.retries, (time.monotonic() + delay, next(self.ids), run.items, run.attempt + 1))
            self.emit("item_retry", item=run.item.key, attempt=run.attempt, error=text, delay_s=delay)
            return
        self._final(run.item, "failed", attempts=run.attempt, error=text, exc=exc)

    def _feed_breaker(self, outcome: Outcome, exc: BaseException | None) -> None:
        service = self.spec.service
        if service is None or service in outcome.used_breakers or isinstance(exc, (CircuitOpen, ItemCancelled)):
            return
        if exc is None:
            self.board[service].success()
        else:
            self.board[service].failure(exc)

    def _expire(self) -> None:
        now = time.monotonic()
        for task_id, run in list(self.running.items()):
            if run.deadline is None or now < run.deadline:
                continue
            self.executor.cancel(task_id)
            del self.running[task_id]
            how = ("its worker process and the processes it started were killed" if self.executor.hard_cancel
                   else "it was told to stop and the subprocesses it registered were killed")
            limit = run.limit or 0.0
            what = (f"item {run.item.key!r}" if len(run.items) == 1
                    else f"chunk of {len(run.items)} items ({', '.join(i.key for i in run.items[:3])}...)")
            exc = ItemTimeout(
                f"{self.spec.name} {what} ran past its {limit:g} s time limit (attempt "
                f"{run.attempt}): {how}. Give it more time with timeout=, or find out why it hangs.",
                item=run.item.key, timeout_s=limit)
            self._on_result(run, Outcome(ok=False, error=exc, error_type="ItemTimeout"))

    def _abort(self, why: str) -> None:
        """Cancel what runs and record it as failed; never-started items get rows but no job."""
        for task_id, run in list(self.running.items()):
            self.executor.cancel(task_id)
            del self.running[task_id]
            text = f"ItemCancelled: stopped because {why}."
            share = (time.monotonic() - run.started) / len(run.items)
            for item, job_id in zip(run.items, run.job_ids, strict=True):
                self.spent[item.key] = self.spent.get(item.key, 0.0) + share
                # the catalog may be what failed: then the row stays 'running' until the next run marks it
                with contextlib.suppress(Exception):
                    self.store.finish(job_id, status="failed", duration_s=share, error=text,
                                      error_type="ItemCancelled")
                self._final(item, "failed", attempts=run.attempt, error=text)
        pending = ([(g, a - 1) for _, _, g, a in self.retries] + [(g, a - 1) for g, a in self.todo]
                   + [((i,), a - 1) for i, a in self.waiting])
        self.waiting.clear()
        for group, attempts in pending:
            for item in group:
                self._final(item, "failed", attempts=attempts, error=f"ItemCancelled: not run because {why}.")
        self.retries.clear()
        self.todo.clear()

    # -- results -------------------------------------------------------------------------
    def _final(self, item: WorkItem, status: str, *, attempts: int, values: Mapping[str, Any] | None = None,
               error: str | None = None, exc: BaseException | None = None, message: str | None = None) -> None:
        took = self.spent.get(item.key, 0.0)
        context = getattr(exc, "context", None)
        if isinstance(context, Mapping) and values is None:  # a failure may carry the stage's columns
            values = {c: context[c] for c in self.spec.columns if c in context}
        self.rows[item.key] = {**(values or {}), self.spec.key: item.key, "status": status, "error": error,
                               "attempts": attempts, "seconds_taken": took}
        self.emit("item_end", item=item.key, attempt=attempts, status=status, error=error, seconds_taken=took,
                  message=message)
        if status == "failed" and exc is not None and self.errors == "raise" and self.stop_error is None:
            self.stop_error = exc

    def _frame(self) -> Any:
        from ..catalog import frame

        rows = [self.rows[i.key] for i in self.items if i.key in self.rows]
        return frame(rows, self.spec.result_columns())


def _record_one(record: Record, item: WorkItem, value: Any, conn: sqlite3.Connection) -> None:
    record(conn, item, value)


def _resources(group: tuple[WorkItem, ...]) -> dict[str, float]:
    """Resources an attempt asks of its executor (e.g. ``{"GPU": 1}``): the most any item of the chunk asks."""
    out: dict[str, float] = {}
    for item in group:
        for name, amount in (item.resources or {}).items():
            out[name] = max(out.get(name, 0.0), float(amount))
    return out
