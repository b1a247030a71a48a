"""The worker-process side of :class:`soundforge.executors.ProcessExecutor`.

A worker is a fresh interpreter (``python -c``, own session) that reads one task
at a time from a socket, runs it with :func:`soundforge.context.execute` and
sends back progress, registered processes, circuit-breaker calls and the
outcome. A watchdog thread kills the worker's process group (and registered
groups) if the runner process dies. Imports stay light: no pandas here.
"""

from __future__ import annotations

import functools
import os
import pickle
import signal
import struct
import threading
import time
from multiprocessing.connection import Connection

from ..errors import StageError
from .context import (
    BreakerCall,
    ItemContext,
    Message,
    Outcome,
    Register,
    Result,
    Target,
    Task,
    execute,
    kill_target,
    portable_error,
)
from .resilience import CircuitBreaker

__all__ = ["TASK_ID", "worker_main"]

TASK_ID = struct.Struct("!q")
"""Prefix of each task message: the task id, readable even when the task cannot be unpickled."""


class _WorkerSide:
    """The worker process's end: sends messages, tracks registered processes, local breakers."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.lock = threading.Lock()
        self.targets: set[Target] = set()
        self.task: Task | None = None
        self.local: dict[str, CircuitBreaker] = {}

    def send(self, msg: Message) -> None:
        with self.lock:
            self.conn.send(msg)

    def begin(self, task: Task) -> ItemContext:
        self.task, self.local = task, {}
        return ItemContext(task, send=self.send, breaker_for=self.breaker_for, on_register=self.on_register)

    def breaker_for(self, service: str) -> CircuitBreaker:
        if service not in self.local:
            snap = (self.task.breakers or {}).get(service) if self.task is not None else None
            forward = functools.partial(self._forward, service)
            self.local[service] = (CircuitBreaker.restore(snap, on_event=forward) if snap is not None
                                   else CircuitBreaker(service, on_event=forward))
        return self.local[service]

    def _forward(self, service: str, ok: bool, exc: BaseException | None) -> None:
        task_id = self.task.task_id if self.task is not None else -1
        self.send(BreakerCall(task_id, service, ok, None if exc is None else portable_error(exc)))

    def on_register(self, target: Target) -> None:
        self.targets.add(target)
        self.send(Register(self.task.task_id if self.task is not None else -1, target))

    def watchdog(self, parent_pid: int) -> None:
        while True:
            time.sleep(0.2)
            if os.getppid() != parent_pid:  # the runner died: take our work down with it
                for target in list(self.targets):
                    kill_target(target)
                os.killpg(os.getpgrp(), signal.SIGKILL)


def worker_main(fd: int, parent_pid: int) -> None:
    """Body of a worker process: parent watchdog, then one task at a time from the socket ``fd``.

    Not for direct use: :class:`ProcessExecutor` starts it (in its own session).
    """
    conn = Connection(fd)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the runner's business
    side = _WorkerSide(conn)
    threading.Thread(target=side.watchdog, args=(parent_pid,), name="soundforge-watchdog", daemon=True).start()
    while True:
        try:
            data = conn.recv_bytes()
        except (EOFError, OSError):
            return
        if not data:
            return
        (task_id,) = TASK_ID.unpack_from(data)
        try:
            task: Task = pickle.loads(data[TASK_ID.size:])
        except Exception as exc:
            err = StageError(f"The worker process cannot load this item's task ({type(exc).__name__}: {exc}). "
                             "The work function must be importable by its module name (not defined in a "
                             "notebook or __main__) and the payload plain data.")
            side.send(Result(task_id, Outcome(ok=False, error=err, error_type="StageError")))
            continue
        outcome = execute(task, side.begin(task), portable=True)
        side.targets.clear()
        try:
            side.send(Result(task.task_id, outcome))
        except Exception as exc:
            err = StageError(f"Could not send the result of {task.item!r} back: {type(exc).__name__}: {exc}.")
            side.send(Result(task.task_id, Outcome(ok=False, error=err, error_type="StageError")))
