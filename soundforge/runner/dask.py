"""The Dask executor: each attempt of a stage is one task on a ``distributed`` cluster.

``executor="dask"`` (or ``executor=<distributed.Client>``) runs a stage's attempts on Dask
workers under the same contract as :class:`~soundforge.runner.executors.ProcessExecutor`:

- **Timeouts kill.** A task runs its item in a child interpreter
  (:func:`~soundforge.runner.worker.worker_main`, the process executor's worker) started in its
  own session on the Dask worker. At the item's time limit, or when the client cancels the task,
  the task SIGKILLs the child's process group and every group the work registered
  (``ctx.register_process``), so a hung demucs or spotdl never outlives its time. Children are
  reused by the tasks of one run on one Dask worker (heavy imports are paid once per worker)
  and watch the Dask worker: if it dies, they kill their group.
- **One catalog writer.** A task returns the attempt's :class:`~soundforge.runner.context.Outcome`;
  the runner, in the client process, records it. Workers never open ``catalog.sqlite``.
- **Shared workspace.** Large outputs (stems, executed notebooks) are written by workers into
  the workspace, atomically as on one machine, so every worker must see the workspace folder at
  the same path. :meth:`DaskExecutor.open` checks that with a marker file before any item runs.
- **Lost workers.** A task whose Dask worker dies is run again elsewhere by the scheduler
  (``distributed.scheduler.allowed-failures`` times, then it fails with ``WorkerCrashed``). The
  executor delivers one result per task, so the item ends done once.
- **Progress** travels as Dask events (``Worker.log_event`` to ``Client.subscribe_topic``) on a
  topic of the run; :attr:`DaskExecutor.dashboard_link` is shown by the progress widget.
- **Resources.** An item that asks for resources (``WorkItem(resources={"GPU": 1})``) is placed on
  workers declaring them (``dask worker --resources GPU=1``) when any does, and anywhere otherwise.

``distributed`` is imported only when the executor connects. See ``docs/scale.md``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pickle
import queue
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from ..errors import ConfigError, ItemCancelled, ItemTimeout, StageError, WorkerCrashed
from .context import BreakerCall, Message, Outcome, Progress, Register, Result, Target, Task, kill_target
from .executors import RunInfo, spawn_worker
from .resilience import BreakerBoard
from .worker import TASK_ID

__all__ = ["SCHEDULER_ENV", "DaskExecutor", "close_local_clusters", "run_task"]

SCHEDULER_ENV = "SOUNDFORGE_DASK_SCHEDULER"
"""Environment variable naming the scheduler ``executor="dask"`` connects to (``tcp://host:8786``)."""

CHECK_S = 0.1
"""Seconds between two checks, in a running task, of its time limit and of a cancellation by the client."""

CHILD_IDLE_S = 300.0
"""Idle children of other runs older than this (seconds) are stopped when a task looks for one."""

_CANCELLED_STATES = frozenset({"cancelled", "released", "forgotten"})


# -- the client side -------------------------------------------------------------------
class DaskExecutor:
    """Attempts as tasks on a Dask cluster; real timeouts, one result per attempt, live progress.

    Which cluster: ``client`` if given; else the scheduler at ``address``, at
    ``$SOUNDFORGE_DASK_SCHEDULER``, or in dask's configuration (``scheduler-address``); else a
    :class:`distributed.LocalCluster` of process workers started once per Python process and
    shared by later runs (``n_workers`` processes, default one per CPU).

    Parameters
    ----------
    client : distributed.Client, optional
        A client the caller made; it is used as is and never closed here.
    address : str, optional
        Scheduler address (``"tcp://10.0.0.5:8786"``); the executor's own client is closed at
        :meth:`close`.
    n_workers : int, optional
        Worker processes of the local cluster (default: ``os.cpu_count()``).
    threads_per_worker : int
        Threads per worker process of the local cluster (each running task uses one, plus a
        child process).
    resources : Mapping[str, float], optional
        Resources every task asks for (e.g. ``{"MEM_GB": 8}``); some worker must declare each.
    check_workspace : bool
        At :meth:`open`, check that every worker sees the run's workspace folder (default ``True``).
    connect_timeout_s : float
        Seconds to wait for the scheduler and for a first worker.
    python : str, optional
        Interpreter of the children on the workers (default: the Dask worker's ``sys.executable``).

    Raises
    ------
    ConfigError
        For invalid arguments (nothing connects before :meth:`open`).
    """

    name = "dask"
    hard_cancel = True

    def __init__(self, *, client: Any = None, address: str | None = None, n_workers: int | None = None,
                 threads_per_worker: int = 1, resources: Mapping[str, float] | None = None,
                 check_workspace: bool = True, connect_timeout_s: float = 30.0, python: str | None = None) -> None:
        if client is not None and not (callable(getattr(client, "submit", None))
                                       and callable(getattr(client, "subscribe_topic", None))):
            raise ConfigError(f"client must be a distributed.Client, got {type(client).__name__}.")
        if address is not None and (not isinstance(address, str) or not address.strip()):
            raise ConfigError(f"address must be a scheduler address such as 'tcp://host:8786', got {address!r}.")
        for label, value in (("n_workers", n_workers), ("threads_per_worker", threads_per_worker)):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise ConfigError(f"{label} must be an integer >= 1, got {value!r}.")
        wanted = dict(resources or {})
        for res, amount in wanted.items():
            if not isinstance(res, str) or not isinstance(amount, (int, float)) or not amount > 0:
                raise ConfigError(f"resources must map names to amounts > 0, got {res!r}: {amount!r}.")
        if not isinstance(connect_timeout_s, (int, float)) or not connect_timeout_s > 0:
            raise ConfigError(f"connect_timeout_s must be a number of seconds > 0, got {connect_timeout_s!r}.")
        self._given = client
        self._address = address
        self._n_workers = n_workers
        self._threads = threads_per_worker
        self._resources = wanted
        self._check = check_workspace
        self._connect_timeout_s = float(connect_timeout_s)
        self._python = python
        self._client: Any = None
        self._own = False
        self._workers = 0
        self._board = BreakerBoard()
        self._token = ""
        self._topic = ""
        self._stage = "stage"
        self._root: str | None = None
        self._inbox: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._futures: dict[int, Any] = {}
        self._by_key: dict[str, int] = {}
        self._items: dict[int, str] = {}
        self._capacity = 0
        self._declared: set[str] = set()
        self._checked_at = -float("inf")

    def __repr__(self) -> str:
        where = self._address or ("client" if self._given is not None else "local cluster")
        return f"DaskExecutor({where}, running={len(self._futures)})"

    # -- connection ----------------------------------------------------------------------
    @property
    def client(self) -> Any:
        """The :class:`distributed.Client` in use (connecting, or starting the local cluster, if needed)."""
        return self._connect()

    def _connect(self) -> Any:
        if self._client is not None:
            return self._client
        try:
            import dask
            import distributed
        except ImportError as exc:
            raise ConfigError("executor='dask' needs dask.distributed. Install it with: "
                              "pip install 'soundforge[scale]'.", executor="dask") from exc
        if self._given is not None:
            self._client, self._own = self._given, False
            return self._client
        address = self._address or os.environ.get(SCHEDULER_ENV) or dask.config.get("scheduler-address", None)
        if address:
            try:
                client = distributed.Client(address, timeout=f"{self._connect_timeout_s}s", set_as_default=False)
            except Exception as exc:  # OSError, TimeoutError, ValueError for a malformed address...
                raise ConfigError(
                    f"Cannot reach the Dask scheduler at {address!r} ({type(exc).__name__}: {exc}). Start one with "
                    f"`dask scheduler` and workers with `dask worker {address}`, or unset {SCHEDULER_ENV} to run "
                    "on a local cluster.", address=address) from exc
            self._client, self._own = client, True
        else:
            n_workers = self._n_workers or max(1, os.cpu_count() or 1)
            self._client, self._own = _local_client(n_workers, self._threads), False
        return self._client

    @property
    def dashboard_link(self) -> str | None:
        """URL of the cluster's Dask dashboard (``None`` before connecting, or without a dashboard)."""
        if self._client is None:
            return None
        try:
            info = self._client.scheduler_info(n_workers=0)
            if "dashboard" not in info.get("services", {}):
                return None
            return str(self._client.dashboard_link)
        except Exception:  # no dashboard, or the scheduler is gone: nothing to link
            return None

    def default_workers(self) -> int:
        """Tasks the cluster runs at once (its worker threads); the default concurrency of CPU stages."""
        self._connect()
        self._refresh(force=True)
        return max(1, self._capacity)

    def _refresh(self, *, force: bool = False) -> None:
        """Update the cluster's capacity (and declared resources) at most every 2 s."""
        now = time.monotonic()
        if not force and now - self._checked_at < 2.0:
            return
        self._checked_at = now
        try:
            threads = self._client.nthreads()
        except Exception:  # the scheduler is unreachable for a moment: keep what we knew
            return
        if force or sum(threads.values()) != self._capacity or not self._declared:
            with contextlib.suppress(Exception):
                workers = self._client.scheduler_info(n_workers=-1).get("workers", {})
                self._declared = {r for w in workers.values() for r in (w.get("resources") or {})}
        self._capacity = sum(threads.values())

    # -- the Executor protocol -----------------------------------------------------------------
    def open(self, *, workers: int, breakers: BreakerBoard, run: RunInfo | None = None) -> None:
        """Connect, wait for a worker, subscribe to the run's progress, and check the shared workspace.

        Raises
        ------
        ConfigError
            No scheduler, no worker within ``connect_timeout_s``, a resource no worker declares, or a
            worker that cannot see ``run.root`` (before any item runs).
        """
        client = self._connect()
        self._workers, self._board = workers, breakers
        self._token = secrets.token_hex(6)
        self._stage = run.stage if run is not None else "stage"
        self._topic = f"soundforge-progress-{self._token}"
        self._inbox = queue.SimpleQueue()
        try:
            client.wait_for_workers(1, timeout=self._connect_timeout_s)
        except Exception as exc:  # TimeoutError, or a closed client
            raise ConfigError(f"The Dask cluster ({self._where()}) has no worker after {self._connect_timeout_s:g} s "
                              f"({type(exc).__name__}: {exc}). Start workers with `dask worker <scheduler address>`.",
                              executor="dask") from exc
        self._refresh(force=True)
        missing = sorted(set(self._resources) - self._declared)
        if missing:
            raise ConfigError(f"No Dask worker declares the resource(s) {missing} this executor asks for; start "
                              f"workers with `dask worker ... --resources {missing[0]}=1` or drop them.",
                              executor="dask")
        self._root = str(run.root) if run is not None and run.root is not None else None
        if self._root is not None and self._check:
            self.check_workspace(self._root)
        client.subscribe_topic(self._topic, self._on_event)

    def _where(self) -> str:
        try:
            return str(self._client.scheduler.address)
        except Exception:
            return "unknown scheduler"

    def check_workspace(self, root: str | os.PathLike[str]) -> None:
        """Check that every worker of the cluster sees (and can write) the folder ``root``.

        The client writes a marker file with a random token into ``root``; each worker must read the
        same token at the same path (so a different folder mounted there does not pass).

        Parameters
        ----------
        root : str or os.PathLike
            The workspace folder (as the client sees it).

        Raises
        ------
        ConfigError
            Naming each worker that cannot see or write ``root``, and what to do.
        """
        client = self._connect()
        folder = Path(root)
        token = secrets.token_hex(16)
        marker = folder / f".soundforge-dask-check-{token}"
        try:
            marker.write_text(token)
        except OSError as exc:
            raise ConfigError(f"Cannot write the check file {marker} into the workspace ({exc}); the workspace "
                              "must be a writable folder shared with every Dask worker.", path=str(folder)) from exc
        try:
            seen = client.run(sees_marker, str(marker), token, on_error="return")
        finally:
            with contextlib.suppress(OSError):
                marker.unlink()
        bad = {}
        for address, answer in sorted(seen.items()):
            if isinstance(answer, BaseException):
                bad[address] = f"the check failed there: {type(answer).__name__}: {answer}"
            elif answer[0] is not True:
                bad[address] = f"{answer[1]}: {answer[2]}"
        if bad:
            shown = "; ".join(f"{address} ({why})" for address, why in list(bad.items())[:5])
            raise ConfigError(
                f"{len(bad)} of {len(seen)} Dask worker(s) cannot use the workspace {folder}: {shown}. Workers write "
                "stems and notebooks into the workspace, so it must be a shared folder (NFS, SMB, a cluster "
                "filesystem) mounted at the same path on every worker; see docs/scale.md.",
                path=str(folder), workers=sorted(bad))

    def free_slots(self) -> int:
        self._refresh()
        return min(self._workers, max(1, self._capacity)) - len(self._futures)

    def submit(self, task: Task) -> None:
        if self.free_slots() <= 0:
            raise StageError("No free Dask slot; wait for a result before submitting.")
        seconds = None if task.deadline is None else max(0.0, task.deadline - time.monotonic())
        sent = dataclasses.replace(task, breakers=self._board.snapshots(), deadline=None)
        try:
            data = pickle.dumps(sent)
        except Exception as exc:
            raise StageError(
                f"Cannot send {task.stage} item {task.item!r} to a Dask worker: {type(exc).__name__}: {exc}. "
                "The work function must be a top-level function and the payload plain data.",
                item=task.item) from exc
        key = f"{task.stage}-{self._token}-{task.task_id}"
        try:
            future = self._client.submit(
                run_task, TASK_ID.pack(task.task_id) + data, seconds, item=task.item, topic=self._topic,
                token=self._token,
                root=self._root, python=self._python, key=key, pure=False, retries=0,
                resources=self._resources_for(task))
        except Exception as exc:
            raise StageError(f"Cannot submit {task.stage} item {task.item!r} to the Dask cluster: "
                             f"{type(exc).__name__}: {exc}.", item=task.item) from exc
        self._futures[task.task_id] = future
        self._by_key[str(future.key)] = task.task_id
        self._items[task.task_id] = task.item
        future.add_done_callback(self._on_done)

    def _resources_for(self, task: Task) -> dict[str, float] | None:
        wanted = dict(self._resources)
        for res, amount in (task.resources or {}).items():
            if res in self._declared:  # a CPU-only cluster runs GPU-capable work anywhere
                wanted[res] = amount
        return wanted or None

    def _on_event(self, event: Any) -> None:
        """``subscribe_topic`` handler (client's event loop): ``(timestamp, message)``."""
        self._inbox.put(("progress", event[1]))

    def _on_done(self, future: Any) -> None:
        self._inbox.put(("done", str(future.key)))

    def poll(self, timeout: float) -> list[Message]:
        got: list[tuple[str, Any]] = []
        try:
            got.append(self._inbox.get(timeout=max(0.0, timeout)))
            while True:
                got.append(self._inbox.get_nowait())
        except queue.Empty:
            pass
        messages: list[Message] = []
        for kind, data in got:
            if kind == "progress" and isinstance(data, dict) and data.get("task") in self._futures:
                messages.append(Progress(int(data["task"]), data.get("percent"), data.get("message")))
            elif kind == "done" and data in self._by_key:
                task_id = self._by_key.pop(data)
                future = self._futures.pop(task_id, None)
                if future is not None:  # None: cancelled, never delivered
                    messages.append(Result(task_id, self._outcome(task_id, future)))
        return messages

    def _outcome(self, task_id: int, future: Any) -> Outcome:
        item = self._items.pop(task_id, "?")
        try:
            if future.status == "finished":
                result, calls = future.result(timeout=60)
                self._feed(calls)
                return result.outcome
            exc = future.exception(timeout=60) if future.status == "error" else None
        except Exception as fetch_error:  # the result could not be fetched (its worker died since)
            exc = fetch_error
        finally:
            future.release()
        if type(exc).__name__ == "KilledWorker":
            crashed = WorkerCrashed(
                f"{self._stage} item {item!r}: every Dask worker that ran it died (the scheduler gave up after "
                f"distributed.scheduler.allowed-failures tries): {exc}. It may crash its worker or need more memory.",
                item=item)
            return Outcome(ok=False, error=crashed, error_type="WorkerCrashed")
        text = "was lost" if exc is None else f"failed: {type(exc).__name__}: {exc}"
        return Outcome(ok=False, error=StageError(f"The Dask task of {self._stage} item {item!r} {text}.", item=item),
                       error_type="StageError")

    def _feed(self, calls: list[BreakerCall]) -> None:
        for call in calls:
            breaker = self._board[call.service]
            if call.ok:
                breaker.success()
            else:
                breaker.failure(call.error or StageError("failure"))

    def cancel(self, task_id: int) -> None:
        future = self._futures.pop(task_id, None)
        self._items.pop(task_id, None)
        if future is None:
            return
        self._by_key.pop(str(future.key), None)
        with contextlib.suppress(Exception):  # the task sees its key cancelled and kills its process group
            future.cancel()

    def close(self) -> None:
        client = self._client
        for task_id in list(self._futures):
            self.cancel(task_id)
        if client is None:
            return
        with contextlib.suppress(Exception):
            if self._topic:
                client.unsubscribe_topic(self._topic)
        with contextlib.suppress(Exception):
            if self._token:
                client.run(release_children, self._token, on_error="ignore")
        if self._own:
            with contextlib.suppress(Exception):
                client.close()
            self._client = None
        self._topic = self._token = ""


_LOCAL: dict[tuple[int, int], Any] = {}
_LOCAL_LOCK = threading.Lock()


def _local_client(n_workers: int, threads: int) -> Any:
    """A client of this process's local cluster of that shape (started on first use, then shared)."""
    from distributed import Client, LocalCluster

    with _LOCAL_LOCK:
        client = _LOCAL.get((n_workers, threads))
        if client is not None and client.status == "running":
            return client
        try:
            cluster = LocalCluster(n_workers=n_workers, threads_per_worker=threads, processes=True)
        except Exception as exc:
            raise ConfigError(f"Cannot start a local Dask cluster of {n_workers} workers: {type(exc).__name__}: "
                              f"{exc}.", executor="dask") from exc
        client = Client(cluster, set_as_default=False)
        _LOCAL[(n_workers, threads)] = client
        return client


def close_local_clusters() -> None:
    """Close the local clusters ``executor="dask"`` started in this process (they also end with it)."""
    with _LOCAL_LOCK:
        clients = list(_LOCAL.values())
        _LOCAL.clear()
    for client in clients:
        cluster = client.cluster
        with contextlib.suppress(Exception):
            client.close()
        with contextlib.suppress(Exception):
            cluster.close()


# -- the worker side -------------------------------------------------------------------
def sees_marker(path: str, token: str) -> tuple[bool, str, str]:
    """Run on each worker by :meth:`DaskExecutor.check_workspace`: ``(ok, host, why not)``."""
    host = socket.gethostname()
    marker = Path(path)
    try:
        text = marker.read_text()
    except FileNotFoundError:
        return False, host, f"{marker.parent} is missing or not the client's folder there"
    except OSError as exc:
        return False, host, f"cannot read {marker}: {exc}"
    if text != token:
        return False, host, f"{marker.parent} is another folder than the client's"
    if not os.access(marker.parent, os.W_OK):
        return False, host, f"{marker.parent} is not writable there"
    return True, host, ""


@dataclasses.dataclass
class _Child:
    process: subprocess.Popen[bytes]
    conn: Connection
    token: str
    idle_since: float = 0.0


class _Children:
    """Idle child interpreters of this Dask worker process, by run token."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.idle: list[_Child] = []

    def take(self, token: str, python: str | None) -> _Child:
        now = time.monotonic()
        found: _Child | None = None
        stale: list[_Child] = []
        with self.lock:
            keep = []
            for child in self.idle:
                if child.process.poll() is not None:
                    stale.append(child)
                elif found is None and child.token == token:
                    found = child
                elif child.token != token and now - child.idle_since > CHILD_IDLE_S:
                    stale.append(child)
                else:
                    keep.append(child)
            self.idle = keep
        for child in stale:
            _stop(child, set())
        if found is not None:
            return found
        process, conn = spawn_worker(python or sys.executable)
        return _Child(process=process, conn=conn, token=token)

    def give_back(self, child: _Child) -> None:
        child.idle_since = time.monotonic()
        with self.lock:
            self.idle.append(child)

    def release(self, token: str) -> int:
        with self.lock:
            mine = [c for c in self.idle if c.token == token]
            self.idle = [c for c in self.idle if c.token != token]
        for child in mine:
            with contextlib.suppress(OSError):
                child.conn.send_bytes(b"")  # a clean exit
        for child in mine:
            try:
                child.process.wait(2.0)
            except subprocess.TimeoutExpired:
                _stop(child, set())
            with contextlib.suppress(OSError):
                child.conn.close()
        return len(mine)


_CHILDREN = _Children()


def release_children(token: str) -> int:
    """Stop this Dask worker's idle children of run ``token`` (run on every worker at the run's end)."""
    return _CHILDREN.release(token)


def _stop(child: _Child, targets: set[Target]) -> None:
    """SIGKILL the child's process group and the registered groups, and reap it."""
    for target in targets:
        kill_target(target)
    kill_target(("group", child.process.pid))
    with contextlib.suppress(OSError):
        child.process.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        child.process.wait(5.0)
    with contextlib.suppress(OSError):
        child.conn.close()


class _WithDeadline:
    """Pickles as "the task in ``data``, with ``deadline`` on the child's clock" (the child rebuilds it)."""

    def __init__(self, data: bytes, deadline: float | None) -> None:
        self.data, self.deadline = data, deadline

    def __reduce__(self) -> tuple[Any, ...]:
        return _task_with_deadline, (self.data, self.deadline)


def _task_with_deadline(data: bytes, deadline: float | None) -> Task:
    task: Task = pickle.loads(data)
    return dataclasses.replace(task, deadline=deadline)


def _cancelled(worker: Any, key: Any) -> bool:
    """Has the client cancelled (released) the task ``key`` running on ``worker``?"""
    if key is None:
        return False
    try:
        state = worker.state.tasks.get(key)
    except Exception:  # another distributed version: rely on the time limit
        return False
    return state is None or state.state in _CANCELLED_STATES


def run_task(data: bytes, seconds: float | None, *, item: str, topic: str, token: str, root: str | None,
             python: str | None = None) -> tuple[Result, list[BreakerCall]]:
    """The Dask task of one attempt: run it in a child process group, kill that group when time is up.

    Not for direct use (:class:`DaskExecutor` submits it). Progress goes to the client as events
    on ``topic``; circuit-breaker calls come back with the result.

    Parameters
    ----------
    data : bytes
        The task id (:data:`~soundforge.runner.worker.TASK_ID`) and the pickled :class:`Task`.
    seconds : float or None
        Time limit of the attempt in seconds, from now (monotonic clocks differ between machines).
    item : str
        The item key (for messages).
    topic, token : str
        The run's progress topic and token (children are reused within a run).
    root : str or None
        The workspace folder, which must exist here.
    python : str or None
        Interpreter of the child.

    Returns
    -------
    (Result, list of BreakerCall)
    """
    from distributed import get_worker
    from distributed.worker import thread_state

    worker = get_worker()
    key = getattr(thread_state, "key", None)
    (task_id,) = TASK_ID.unpack_from(data)
    deadline = None if seconds is None else time.monotonic() + seconds
    if root is not None and not os.path.isdir(root):
        err: StageError | ConfigError = ConfigError(
            f"The Dask worker {worker.address} on {socket.gethostname()} cannot see the workspace {root} (item "
            f"{item!r}); mount it at the same path on every worker (docs/scale.md).", path=root)
        return Result(task_id, Outcome(ok=False, error=err, error_type="ConfigError")), []
    message = TASK_ID.pack(task_id) + pickle.dumps(_WithDeadline(data[TASK_ID.size:], deadline))
    child = _CHILDREN.take(token, python)
    try:
        child.conn.send_bytes(message)
    except OSError:  # an idle child died: one fresh try
        _stop(child, set())
        child = _CHILDREN.take(token, python)
        child.conn.send_bytes(message)
    targets: set[Target] = set()
    calls: list[BreakerCall] = []
    try:
        while True:
            wait_s = CHECK_S if deadline is None else min(CHECK_S, max(0.0, deadline - time.monotonic()))
            if child.conn.poll(wait_s):
                msg = child.conn.recv()
                if msg.task_id == task_id:
                    if isinstance(msg, Result):
                        _CHILDREN.give_back(child)
                        return msg, calls
                    if isinstance(msg, Progress):
                        worker.log_event(topic, {"task": task_id, "percent": msg.percent, "message": msg.message})
                    elif isinstance(msg, Register):
                        targets.add(msg.target)
                    elif isinstance(msg, BreakerCall):
                        calls.append(msg)
            if deadline is not None and time.monotonic() >= deadline:
                _stop(child, targets)
                err = ItemTimeout(f"Item {item!r} ran past its {seconds:g} s time limit on the Dask worker "
                                  f"{worker.address}: its process group was killed.", item=item, timeout_s=seconds)
                return Result(task_id, Outcome(ok=False, error=err, error_type="ItemTimeout")), calls
            if _cancelled(worker, key):
                _stop(child, targets)
                err = ItemCancelled(f"The client cancelled item {item!r}; its process group was killed.", item=item)
                return Result(task_id, Outcome(ok=False, error=err, error_type="ItemCancelled")), calls
    except (EOFError, OSError):
        _stop(child, targets)
        code = child.process.returncode
        how = f"was killed by signal {-code}" if code is not None and code < 0 else f"exited with code {code}"
        err = WorkerCrashed(f"The child process {child.process.pid} on the Dask worker {worker.address} {how} while "
                            f"running item {item!r} (a crash, out of memory, or killed from outside).",
                            pid=child.process.pid, exitcode=code)
        return Result(task_id, Outcome(ok=False, error=err, error_type="WorkerCrashed")), calls
    except BaseException:
        _stop(child, targets)
        raise

