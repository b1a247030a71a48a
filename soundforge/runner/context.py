"""What a stage's work function sees of the runner: :class:`ItemContext`, and how one item is run.

A work function is a top-level (picklable) function ``work(payload, ctx) -> result``.
Through ``ctx`` it reports progress, learns when it has been cancelled or
timed out, registers the subprocesses it starts (so a timeout kills them, with
their children) and reaches the run's circuit breakers. It works the same in a
worker thread and in a worker process; nothing here imports pandas or widgets,
so worker processes start fast.
"""

from __future__ import annotations

import contextlib
import math
import os
import pickle
import signal
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ItemCancelled, StageError, is_transient
from .resilience import CircuitBreaker

__all__ = ["BreakerCall", "ItemContext", "Message", "Outcome", "Progress", "Register", "Result", "Task", "execute",
           "kill_target", "portable_error"]

REPORT_INTERVAL_S = 0.05
"""Minimum seconds between two progress messages of one item (the last one is always delivered)."""

Target = tuple[str, int]
"""A process to kill on timeout: ``("group", pgid)`` or ``("pid", pid)``."""


@dataclass(frozen=True)
class Task:
    """One attempt of one item, as sent to a worker.

    Attributes
    ----------
    task_id : int
        Unique within the run.
    stage, item : str
        Stage name and item key.
    attempt : int
        1-based attempt number.
    work : callable
        ``work(payload, ctx)``; top-level function when it must travel to a process.
    payload : Any
        The item's input.
    params : Mapping[str, Any]
        The run's parameters (hashed into ``jobs.params_hash``).
    deadline : float or None
        :func:`time.monotonic` time after which the attempt is stopped.
    breakers : Mapping[str, dict] or None
        Circuit breaker snapshots, filled in by executors whose workers are other processes.
    resources : Mapping[str, float]
        Abstract resources the attempt needs (``{"GPU": 1}``), from :attr:`WorkItem.resources`;
        executors that place work by resource (Dask) honour them, the others ignore them.
    """

    task_id: int
    stage: str
    item: str
    attempt: int
    work: Callable[[Any, ItemContext], Any]
    payload: Any
    params: Mapping[str, Any] = field(default_factory=dict)
    deadline: float | None = None
    breakers: Mapping[str, dict[str, Any]] | None = None
    resources: Mapping[str, float] = field(default_factory=dict)


@dataclass
class Outcome:
    """How an attempt ended, sent back by the worker.

    ``error`` is the exception (or a picklable stand-in keeping its message and
    ``transient`` flag); ``error_type`` is the original class name.
    """

    ok: bool
    value: Any = None
    error: BaseException | None = None
    error_type: str | None = None
    traceback: str | None = None
    used_breakers: frozenset[str] = frozenset()

    @property
    def error_text(self) -> str:
        """``"ErrorType: message"``, as shown in result tables and ``jobs.error``."""
        return f"{self.error_type}: {self.error}" if self.error is not None else ""


@dataclass(frozen=True)
class Progress:
    """Message: an attempt reported progress (``percent`` in [0, 100] and/or a short ``message``)."""

    task_id: int
    percent: float | None = None
    message: str | None = None


@dataclass(frozen=True)
class Result:
    """Message: an attempt ended with ``outcome`` (the executor's last message about the task)."""

    task_id: int
    outcome: Outcome


@dataclass(frozen=True)
class Register:
    """Message (worker to executor): kill ``target`` too if the attempt is cancelled or times out."""

    task_id: int
    target: Target


@dataclass(frozen=True)
class BreakerCall:
    """Message (worker to executor): the attempt fed circuit breaker ``service`` (``ok``, else ``error``)."""

    task_id: int
    service: str
    ok: bool
    error: BaseException | None = None


Message = Progress | Result | Register | BreakerCall
"""What travels between a worker and its executor; the runner sees only :class:`Progress` and :class:`Result`."""


class ItemContext:
    """The runner, as seen by one attempt of one item.

    Attributes
    ----------
    item : str
        The item key (usually a track id).
    attempt : int
        1-based attempt number.
    params : Mapping[str, Any]
        The run's parameters.
    deadline : float or None
        :func:`time.monotonic` time at which the attempt will be stopped (``None``: no limit).
    """

    def __init__(self, task: Task, *, send: Callable[[Message], None],
                 breaker_for: Callable[[str], CircuitBreaker],
                 on_register: Callable[[Target], None] | None = None) -> None:
        self.item = task.item
        self.attempt = task.attempt
        self.params = task.params
        self.deadline = task.deadline
        self.stage = task.stage
        self._task_id = task.task_id
        self._send = send
        self._breaker_for = breaker_for
        self._on_register = on_register
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._targets: set[Target] = set()
        self._last_sent = -math.inf
        self._pending: tuple[float | None, str | None] | None = None
        self._used: set[str] = set()

    def __repr__(self) -> str:
        return f"ItemContext(stage={self.stage!r}, item={self.item!r}, attempt={self.attempt})"

    # -- progress ------------------------------------------------------------------
    def report(self, percent: float | None = None, message: str | None = None) -> None:
        """Report progress of this item: ``percent`` in [0, 100] and/or a short ``message``.

        Safe from any thread. Calls closer than 50 ms apart are coalesced (the
        latest value wins and is always delivered), so calling it per chunk is fine.
        """
        if percent is not None:
            percent = float(percent)
            percent = None if math.isnan(percent) else min(100.0, max(0.0, percent))
        if message is not None:
            message = str(message)[:300]
        with self._lock:
            now = time.monotonic()
            if now - self._last_sent < REPORT_INTERVAL_S and percent != 100.0:
                self._pending = (percent, message)
                return
            self._last_sent = now
            self._pending = None
        self._send(Progress(self._task_id, percent, message))

    def flush(self) -> None:
        """Deliver a coalesced progress report still waiting (called by the runner after the work)."""
        with self._lock:
            pending, self._pending = self._pending, None
        if pending is not None:
            self._send(Progress(self._task_id, *pending))

    # -- cancellation --------------------------------------------------------------
    def remaining(self) -> float | None:
        """Seconds left before the deadline (``None`` without a time limit; never negative)."""
        return None if self.deadline is None else max(0.0, self.deadline - time.monotonic())

    def cancelled(self) -> bool:
        """``True`` once the attempt was cancelled or its deadline passed: stop as soon as you can."""
        return self._cancel.is_set() or (self.deadline is not None and time.monotonic() >= self.deadline)

    def check(self) -> None:
        """Raise :class:`~soundforge.errors.ItemCancelled` when :meth:`cancelled`; call it in long loops."""
        if self.cancelled():
            raise ItemCancelled(f"{self.stage} item {self.item!r} was cancelled (timeout or stop).",
                                item=self.item)

    def cancel(self) -> None:
        """Cancel the attempt: :meth:`cancelled` turns ``True`` and registered processes are killed."""
        self._cancel.set()
        with self._lock:
            targets = list(self._targets)
        for target in targets:
            kill_target(target)

    # -- subprocesses --------------------------------------------------------------
    def register_process(self, proc: Any) -> None:
        """Have the runner kill ``proc`` (a :class:`subprocess.Popen` or a pid) if the item times out.

        Start subprocesses in their own process group (``start_new_session=True``):
        then the whole group — the process and all of its children — is killed.
        A process left in the runner's own group is killed alone.
        """
        pid = int(getattr(proc, "pid", proc))
        try:
            pgid = os.getpgid(pid)
        except ProcessLookupError:
            return
        target: Target = ("group", pgid) if pgid != os.getpgrp() else ("pid", pid)
        with self._lock:
            self._targets.add(target)
        if self._on_register is not None:
            self._on_register(target)
        if self._cancel.is_set():
            kill_target(target)

    def unregister_process(self, proc: Any) -> None:
        """Forget a process registered with :meth:`register_process` (e.g. once it has exited)."""
        pid = int(getattr(proc, "pid", proc))
        with self._lock:
            self._targets = {t for t in self._targets if t[1] != pid}

    @property
    def processes(self) -> frozenset[Target]:
        """The registered kill targets."""
        with self._lock:
            return frozenset(self._targets)

    # -- services --------------------------------------------------------------------
    def breaker(self, service: str) -> CircuitBreaker:
        """The run's circuit breaker for ``service``; use ``breaker.call(fn, ...)`` or ``with breaker:``."""
        self._used.add(service)
        return self._breaker_for(service)

    @property
    def used_breakers(self) -> frozenset[str]:
        """Services whose breaker this attempt used directly."""
        return frozenset(self._used)


def kill_target(target: Target) -> None:
    """SIGKILL a process group or a single process; never the caller's own group; gone is fine."""
    kind, ident = target
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if kind == "group":
            if ident != os.getpgrp() and ident > 1:
                os.killpg(ident, signal.SIGKILL)
        elif ident > 1 and ident != os.getpid():
            os.kill(ident, signal.SIGKILL)


def execute(task: Task, ctx: ItemContext, *, portable: bool = False) -> Outcome:
    """Run one attempt and capture how it ended; never raises.

    Parameters
    ----------
    task : Task
        The attempt.
    ctx : ItemContext
        Its context.
    portable : bool
        Make sure the value and error can be pickled (worker processes); an
        error that cannot is replaced by a :class:`StageError` with the same
        message and ``transient`` flag.
    """
    try:
        value = task.work(task.payload, ctx)
    except BaseException as exc:  # SystemExit from a library (demucs) must not end the worker
        ctx.flush()
        error: BaseException = exc
        tb = "".join(traceback.format_exception(exc))
        if portable:
            error = portable_error(exc)
        return Outcome(ok=False, error=error, error_type=type(exc).__name__, traceback=tb,
                       used_breakers=ctx.used_breakers)
    ctx.flush()
    if portable:
        try:
            pickle.dumps(value)
        except Exception as exc:
            err = StageError(f"{task.stage} item {task.item!r} returned a value that cannot be sent back "
                             f"from the worker process ({type(exc).__name__}: {exc}). Return plain data.",
                             item=task.item)
            return Outcome(ok=False, error=err, error_type="StageError", used_breakers=ctx.used_breakers)
    return Outcome(ok=True, value=value, used_breakers=ctx.used_breakers)


def portable_error(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling, else a :class:`StageError` with its message and ``transient`` flag."""
    try:
        back = pickle.loads(pickle.dumps(exc))
        if isinstance(back, BaseException):
            return back
    except Exception:
        pass  # fall through to the stand-in
    stand_in = StageError(str(exc) or type(exc).__name__, original_type=type(exc).__name__)
    stand_in.transient = is_transient(exc)
    return stand_in
