"""Executors: where the attempts of a stage run — worker threads or worker processes.

The runner talks to an executor through six calls (:class:`Executor`):
``open(workers=, breakers=)``, ``free_slots()``, ``submit(task)``,
``poll(timeout)`` (typed messages: :class:`~soundforge.runner.context.Progress` and
:class:`~soundforge.runner.context.Result`), ``cancel(task_id)`` and ``close()``; an
executor declares what it can do (``hard_cancel``: does cancelling stop the work for
real?). Executors are found by name in a registry (:data:`EXECUTORS`, papermill-style:
a name maps to a lazily imported factory; ``"thread"``, ``"process"`` and ``"dask"`` are
built in, others register with :func:`register_executor` or the ``soundforge.executors``
entry-point group). Stages never change for a new backend.

:class:`ProcessExecutor` starts each worker in its own session (so its own
process group); cancelling a task — a timeout — SIGKILLs that whole group and
every process group the work registered, reaps the worker and starts a fresh
one for the next task. Workers watch their parent and kill their group if it
dies (``kill -9`` of a notebook kernel leaves no orphans working).

:class:`ThreadExecutor` cannot kill a thread: cancelling sets the context's
cancel flag, kills the registered subprocesses and retires the thread (its
late result is dropped); a new thread takes its slot.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import os
import pickle
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ..errors import ConfigError, StageError, WorkerCrashed
from .context import BreakerCall, ItemContext, Message, Outcome, Register, Result, Target, Task, execute, kill_target
from .resilience import BreakerBoard
from .worker import TASK_ID

__all__ = ["EXECUTORS", "Executor", "ExecutorRegistry", "Message", "ProcessExecutor", "RunInfo", "ThreadExecutor",
           "make_executor", "register_executor", "spawn_worker"]


@dataclasses.dataclass(frozen=True)
class RunInfo:
    """What an executor may want to know about the run it serves (given to :meth:`Executor.open`).

    Attributes
    ----------
    stage : str
        Stage name.
    run_id : str
        The run's ``jobs.run_id``.
    root : pathlib.Path or None
        The folder the work reads and writes (the workspace root: the catalog's folder). Executors
        whose workers are other machines (Dask) check at :meth:`~Executor.open` that every worker
        sees it; ``None``: nothing to check.
    """

    stage: str
    run_id: str
    root: Path | None = None


@runtime_checkable
class Executor(Protocol):
    """Where attempts run. Implement this to add a backend (e.g. Dask) without touching stages."""

    name: str
    hard_cancel: bool
    """``True`` when :meth:`cancel` stops the work for real (kills its process group), so a timeout
    cannot be outlived; ``False`` when it can only ask the work to stop (threads)."""

    def open(self, *, workers: int, breakers: BreakerBoard, run: RunInfo | None = None) -> None:
        """Prepare to run up to ``workers`` attempts at once, sharing ``breakers``.

        ``run`` describes the run (stage, run id, workspace folder); executors that do not need it
        ignore it. Raise :class:`~soundforge.errors.ConfigError` when the run cannot work at all
        (e.g. a cluster worker that cannot see ``run.root``): the runner fails before any item.
        """

    def free_slots(self) -> int:
        """How many more tasks :meth:`submit` accepts now."""

    def submit(self, task: Task) -> None:
        """Start ``task`` (never blocks; raises :class:`StageError` if it cannot be sent)."""

    def poll(self, timeout: float) -> list[Message]:
        """Wait up to ``timeout`` seconds for messages; return those available (maybe none)."""

    def cancel(self, task_id: int) -> None:
        """Stop a running task for real; its result, if any, is never delivered."""

    def close(self) -> None:
        """Stop all workers (cancelling what still runs); idempotent."""


Factory = Callable[..., Executor]
"""``factory(**options) -> Executor``; ``options`` come from ``make_executor(name, **options)``."""


class ExecutorRegistry:
    """Executor names mapped to factories, imported only when asked for (papermill's engine registry).

    A factory is a callable or a ``"module:attribute"`` string; strings keep heavy backends
    (Dask) unimported until used. Names not registered are looked up once in the
    ``soundforge.executors`` entry-point group, so a plugin package can add a backend.
    """

    def __init__(self) -> None:
        self._factories: dict[str, Factory | str] = {}

    def register(self, name: str, factory: Factory | str) -> None:
        """Register ``factory`` under ``name`` (replacing an earlier one)."""
        if not isinstance(name, str) or not name.isidentifier():
            raise ConfigError(f"An executor name must be an identifier, got {name!r}.")
        self._factories[name] = factory

    def names(self) -> list[str]:
        """Known names, sorted (entry points included)."""
        self._load_entry_points()
        return sorted(self._factories)

    def _load_entry_points(self) -> None:
        from importlib.metadata import entry_points

        for ep in entry_points(group="soundforge.executors"):
            self._factories.setdefault(ep.name, ep.value)

    def factory(self, name: str) -> Factory:
        """The factory registered as ``name``.

        Raises
        ------
        ConfigError
            For an unknown name (the message lists the known ones) or a backend that cannot be imported.
        """
        if name not in self._factories:
            self._load_entry_points()
        if name not in self._factories:
            raise ConfigError(f"Unknown executor {name!r}; known executors: {', '.join(self.names())} "
                              "(or pass an Executor instance).", executor=name)
        found = self._factories[name]
        if isinstance(found, str):
            module, _, attr = found.partition(":")
            try:
                found = getattr(importlib.import_module(module), attr)
            except ImportError as exc:
                extra = {"dask": " Install it with: pip install 'soundforge[scale]'."}.get(name, "")
                raise ConfigError(f"The executor {name!r} needs a package that is not installed "
                                  f"({exc.name or exc}).{extra}", executor=name) from exc
            self._factories[name] = found
        return found

    def create(self, name: str, /, **options: Any) -> Executor:
        """A new executor ``name`` built with ``options``."""
        return self.factory(name)(**options)


EXECUTORS = ExecutorRegistry()
"""The executors :func:`make_executor` knows, by name."""


def register_executor(name: str, factory: Factory | str) -> None:
    """Make ``executor=name`` available to every stage (see :class:`ExecutorRegistry`)."""
    EXECUTORS.register(name, factory)


def make_executor(kind: str | Executor | Any, /, **options: Any) -> Executor:
    """A registered name -> a new executor (``options`` go to its factory); an :class:`Executor` is returned as is.

    A :class:`distributed.Client` becomes a Dask executor running on that client's cluster.

    Raises
    ------
    ConfigError
        For an unknown name (listing the known ones) or an object that is not an executor.
    """
    if isinstance(kind, str):
        return EXECUTORS.create(kind, **options)
    if isinstance(kind, Executor):
        return kind
    if _is_dask_client(kind):  # executor=distributed.Client(...): run on the user's cluster
        return EXECUTORS.create("dask", client=kind, **options)
    raise ConfigError(f"executor must be one of {', '.join(EXECUTORS.names())}, a distributed.Client or an Executor "
                      f"instance, got {type(kind).__name__}.")


def _is_dask_client(obj: object) -> bool:
    """``obj`` is a :class:`distributed.Client` (without importing distributed when nobody did)."""
    distributed = sys.modules.get("distributed")
    return distributed is not None and isinstance(obj, distributed.Client)


# -- threads ---------------------------------------------------------------------------
class _ThreadWorker:
    def __init__(self, outbox: queue.SimpleQueue[Message], name: str) -> None:
        self.inbox: queue.SimpleQueue[tuple[Task, ItemContext] | None] = queue.SimpleQueue()
        self.ctx: ItemContext | None = None
        self.thread = threading.Thread(target=self._loop, args=(outbox,), name=name, daemon=True)
        self.thread.start()

    def _loop(self, outbox: queue.SimpleQueue[Message]) -> None:
        while (job := self.inbox.get()) is not None:
            task, ctx = job
            outbox.put(Result(task.task_id, execute(task, ctx)))


class ThreadExecutor:
    """Worker threads, for I/O-bound stages (fetch, download, import).

    Parameters
    ----------
    name : str
        Prefix of the worker thread names.
    """

    name = "thread"
    hard_cancel = False

    def __init__(self, *, name: str = "soundforge-worker") -> None:
        self._prefix = name
        self._workers = 0
        self._outbox: queue.SimpleQueue[Message] = queue.SimpleQueue()
        self._idle: list[_ThreadWorker] = []
        self._busy: dict[int, _ThreadWorker] = {}
        self._board = BreakerBoard()
        self._started = 0

    def open(self, *, workers: int, breakers: BreakerBoard, run: RunInfo | None = None) -> None:
        self._workers = workers
        self._board = breakers

    def free_slots(self) -> int:
        return self._workers - len(self._busy)

    def submit(self, task: Task) -> None:
        if self.free_slots() <= 0:
            raise StageError("No free worker thread; wait for a result before submitting.")
        if self._idle:
            worker = self._idle.pop()
        else:
            self._started += 1
            worker = _ThreadWorker(self._outbox, f"{self._prefix}-{self._started}")
        ctx = ItemContext(task, send=self._outbox.put, breaker_for=self._board.__getitem__)
        worker.ctx = ctx
        self._busy[task.task_id] = worker
        worker.inbox.put((task, ctx))

    def poll(self, timeout: float) -> list[Message]:
        messages: list[Message] = []
        try:
            messages.append(self._outbox.get(timeout=max(0.0, timeout)))
            while True:
                messages.append(self._outbox.get_nowait())
        except queue.Empty:
            pass
        live: list[Message] = []
        for msg in messages:
            if msg.task_id not in self._busy:
                continue  # from a cancelled task
            if isinstance(msg, Result):
                self._idle.append(self._busy.pop(msg.task_id))
            live.append(msg)
        return live

    def cancel(self, task_id: int) -> None:
        worker = self._busy.pop(task_id, None)
        if worker is None:
            return
        if worker.ctx is not None:
            worker.ctx.cancel()
        worker.inbox.put(None)  # retire it once the abandoned work returns

    def close(self) -> None:
        for task_id in list(self._busy):
            self.cancel(task_id)
        for worker in self._idle:
            worker.inbox.put(None)
        for worker in self._idle:
            worker.thread.join(timeout=1.0)
        self._idle.clear()


# -- processes -------------------------------------------------------------------------
_WORKER_BOOT = ("import sys; from soundforge.runner.worker import worker_main; "
                "worker_main(int(sys.argv[1]), int(sys.argv[2]))")


def spawn_worker(python: str) -> tuple[subprocess.Popen[bytes], Connection]:
    """Start a worker process (:func:`~soundforge.runner.worker.worker_main`) in its own session.

    Parameters
    ----------
    python : str
        The interpreter.

    Returns
    -------
    (subprocess.Popen, Connection)
        The process (its pid is its process group id) and our end of its socket pair. It
        watches the calling process and kills its own group if the caller dies.

    Raises
    ------
    StageError
        If the interpreter cannot be started.
    """
    ours, theirs = socket.socketpair()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if isinstance(p, str) and p)}
    try:
        process = subprocess.Popen(
            [python, "-c", _WORKER_BOOT, str(theirs.fileno()), str(os.getpid())],
            pass_fds=(theirs.fileno(),), start_new_session=True, stdin=subprocess.DEVNULL, env=env)
    except OSError as exc:
        ours.close()
        raise StageError(f"Cannot start a worker process with {python}: {exc}.") from exc
    finally:
        theirs.close()
    return process, Connection(ours.detach())


@dataclasses.dataclass
class _Proc:
    process: subprocess.Popen[bytes]
    conn: Connection
    task_id: int | None = None
    targets: set[Target] = dataclasses.field(default_factory=set)


class ProcessExecutor:
    """Worker processes, for CPU-bound stages (analysis, separation); real timeouts.

    Workers are fresh Python interpreters (``python -c``) started in their own
    session, talking over a socket pair: they never re-run the caller's
    ``__main__`` (no ``if __name__ == "__main__"`` guard needed), and a work
    function must be importable by its module name.

    Parameters
    ----------
    kill_wait_s : float
        How long to wait for a killed worker to be reaped, in seconds.
    python : str, optional
        Interpreter for the workers (default: ``sys.executable``).
    """

    name = "process"
    hard_cancel = True

    def __init__(self, *, kill_wait_s: float = 5.0, python: str | None = None) -> None:
        self._kill_wait_s = kill_wait_s
        self._python = python or sys.executable
        self._workers = 0
        self._procs: list[_Proc] = []
        self._board = BreakerBoard()

    def open(self, *, workers: int, breakers: BreakerBoard, run: RunInfo | None = None) -> None:
        self._workers = workers
        self._board = breakers

    @property
    def pids(self) -> list[int]:
        """Process ids of the live workers."""
        return [p.process.pid for p in self._procs]

    def _busy(self) -> list[_Proc]:
        return [p for p in self._procs if p.task_id is not None]

    def free_slots(self) -> int:
        return self._workers - len(self._busy())

    def _start(self) -> _Proc:
        process, conn = spawn_worker(self._python)
        proc = _Proc(process=process, conn=conn)
        self._procs.append(proc)
        return proc

    def submit(self, task: Task) -> None:
        if self.free_slots() <= 0:
            raise StageError("No free worker process; wait for a result before submitting.")
        task = dataclasses.replace(task, breakers=self._board.snapshots())
        try:
            data = pickle.dumps(task)
        except Exception as exc:
            raise StageError(
                f"Cannot send {task.stage} item {task.item!r} to a worker process: {type(exc).__name__}: {exc}. "
                "The work function must be a top-level function and the payload plain data.",
                item=task.item) from exc
        data = TASK_ID.pack(task.task_id) + data
        proc = next((p for p in self._procs if p.task_id is None), None) or self._start()
        proc.task_id = task.task_id
        try:
            proc.conn.send_bytes(data)
        except OSError:  # the idle worker died: replace it once
            self._discard(proc)
            proc = self._start()
            proc.task_id = task.task_id
            proc.conn.send_bytes(data)

    def poll(self, timeout: float) -> list[Message]:
        busy = self._busy()
        if not busy:
            time.sleep(max(0.0, timeout))
            return []
        by_conn = {p.conn: p for p in busy}
        messages: list[Message] = []
        for conn in wait(list(by_conn), timeout=max(0.0, timeout)):
            proc = by_conn[conn]  # type: ignore[index]
            try:
                while proc.task_id is not None and proc.conn.poll():
                    self._handle(proc, proc.conn.recv(), messages)
            except (EOFError, OSError):
                messages.append(self._crashed(proc))
        return messages

    def _handle(self, proc: _Proc, msg: Message, out: list[Message]) -> None:
        if msg.task_id != proc.task_id:
            return
        if isinstance(msg, Register):
            proc.targets.add(msg.target)
        elif isinstance(msg, BreakerCall):
            breaker = self._board[msg.service]
            if msg.ok:
                breaker.success()
            else:
                breaker.failure(msg.error or StageError("failure"))
        elif isinstance(msg, Result):
            proc.task_id = None
            proc.targets.clear()
            out.append(msg)
        else:
            out.append(msg)

    def _crashed(self, proc: _Proc) -> Result:
        task_id = proc.task_id
        self._discard(proc)
        code = proc.process.returncode
        how = f"was killed by signal {-code}" if code is not None and code < 0 else f"exited with code {code}"
        err = WorkerCrashed(f"The worker process {proc.process.pid} {how} while running this item "
                            "(a crash, out of memory, or killed from outside).", pid=proc.process.pid, exitcode=code)
        return Result(-1 if task_id is None else task_id, Outcome(ok=False, error=err, error_type="WorkerCrashed"))

    def cancel(self, task_id: int) -> None:
        proc = next((p for p in self._procs if p.task_id == task_id), None)
        if proc is not None:
            self._discard(proc)

    def _discard(self, proc: _Proc) -> None:
        """Kill a worker's process group and registered groups, reap it, forget it."""
        for target in proc.targets:
            kill_target(target)
        kill_target(("group", proc.process.pid))
        with contextlib.suppress(OSError):
            proc.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.process.wait(self._kill_wait_s)
        with contextlib.suppress(OSError):
            proc.conn.close()
        if proc in self._procs:
            self._procs.remove(proc)

    def close(self) -> None:
        for proc in list(self._procs):
            if proc.task_id is not None:
                self._discard(proc)
                continue
            with contextlib.suppress(OSError):
                proc.conn.send_bytes(b"")
        deadline = time.monotonic() + 2.0
        for proc in list(self._procs):
            try:
                proc.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self._discard(proc)
            else:
                with contextlib.suppress(OSError):
                    proc.conn.close()
        self._procs.clear()


register_executor("thread", ThreadExecutor)
register_executor("process", ProcessExecutor)
register_executor("dask", "soundforge.runner.dask:DaskExecutor")
