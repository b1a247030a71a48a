"""Worker processes of :mod:`soundforge.batch`: both sides of a small line protocol around papermill.

The worker side runs as ``python -m soundforge.batch.worker``. It reads one JSON
request per line on stdin, executes that notebook with papermill and answers on its
original stdout (anything else that writes to file descriptor 1, papermill and
nbclient included, goes to stderr)::

    request   {"input": str, "output": str, "parameters": {...}, "kernel_name": str | null,
               "cwd": str, "start_timeout_s": float}
    progress  {"progress": float, "message": str}          (0 or more, as cells start)
    answer    {"ok": bool, "error": str | null, "error_type": str | null,
               "failed_cell": int | null, "duration_s": float}

A long-lived worker imports papermill once and then only pays for a kernel start
per notebook. The parent side (:class:`WorkerProcess`, :class:`WorkerPool`)
enforces time limits by stopping the worker: on SIGTERM it raises ``SystemExit``
so papermill shuts the kernel down and the partial output notebook stays on disk
(kernels also exit by themselves when their parent process disappears).
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import site
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

__all__ = ["WorkerPool", "WorkerProcess", "describe_failure", "execute", "first_line", "main", "running_cell"]

OnProgress = Callable[[float, str], None]


# -- worker side ---------------------------------------------------------------------------------------
def first_line(source: str, *, limit: int = 60) -> str:
    """The first non-empty line of a cell's source, shortened to ``limit`` characters."""
    for line in source.splitlines():
        line = line.strip()
        if line:
            return line if len(line) <= limit else line[: limit - 3] + "..."
    return ""


def _saved_index(output: str | None, fallback: int) -> int:
    """Index of the first cell with an error output in the saved output notebook.

    papermill inserts an error banner (and an anchor) before saving, so the index in
    its exception is not the index in the file people and programs open.
    """
    if not output:
        return fallback
    import nbformat

    try:
        nb = nbformat.read(output, as_version=4)
    except Exception:
        return fallback
    for index, cell in enumerate(nb.cells):
        if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            return index
    return fallback


def describe_failure(exc: BaseException, *, output: str | None = None) -> dict[str, Any]:
    """Turn an exception raised by papermill into the ``error``/``error_type``/``failed_cell`` answer fields.

    Parameters
    ----------
    exc : BaseException
        What :func:`papermill.execute_notebook` raised.
    output : str, optional
        The output notebook, to find the failing cell's index in the saved file.

    Returns
    -------
    dict
        ``error`` names the failing cell (its index in the output notebook, its
        ``In [n]`` counter and first line) and the exception; ``error_type`` is the
        exception's class name inside the notebook; ``failed_cell`` the cell index.
    """
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, PapermillExecutionError):
        line = first_line(exc.source or "")
        index = _saved_index(output, int(exc.cell_index))
        where = f"cell {index} (In [{exc.exec_count}]" + (f": {line}" if line else "") + ")"
        evalue = str(exc.evalue).strip()
        return {"error": f"{where} raised {exc.ename}: {evalue}" if evalue else f"{where} raised {exc.ename}",
                "error_type": str(exc.ename), "failed_cell": index}
    message = str(exc).strip() or repr(exc)
    return {"error": f"{type(exc).__name__}: {message}", "error_type": type(exc).__name__, "failed_cell": None}


def execute(request: Mapping[str, Any], *, on_progress: OnProgress | None = None) -> dict[str, Any]:
    """Execute one notebook as described by ``request`` (see the module docstring) and answer.

    ``on_progress(percent, message)`` is called as each cell starts.
    """
    import nbformat
    import papermill

    started = time.perf_counter()
    answer: dict[str, Any] = {"ok": True, "error": None, "error_type": None, "failed_cell": None}
    hooks: dict[str, Any] = {}
    if on_progress is not None:
        total = len(nbformat.read(request["input"], as_version=4).cells) + 1  # + the injected parameters

        def on_cell_start(cell: Any, cell_index: int, **_: Any) -> None:
            on_progress(min(99.0, 100.0 * cell_index / total), f"cell {cell_index}: {first_line(cell.source)}")

        hooks["on_cell_start"] = on_cell_start
    try:
        papermill.execute_notebook(
            request["input"], request["output"], parameters=request.get("parameters") or {},
            kernel_name=request.get("kernel_name"), cwd=request.get("cwd"), progress_bar=False,
            start_timeout=float(request.get("start_timeout_s", 60.0)), log_output=False,
            extra_arguments=quiet_kernel_arguments(request["input"], kernel_name=request.get("kernel_name")),
            **hooks)
    except Exception as exc:
        answer = {"ok": False, **describe_failure(exc, output=request["output"])}
    answer["duration_s"] = time.perf_counter() - started
    return answer


def quiet_kernel_arguments(notebook: str, *, kernel_name: str | None) -> list[str]:
    """Kernel command-line arguments that keep ipykernel's start-up chatter out of batch logs.

    ipykernel warns "Kernel is running over TCP without encryption" on every start, although
    papermill's kernels listen on 127.0.0.1 only and live as long as one notebook: with
    ``--IPKernelApp.log_level=ERROR`` the logs of a batch run carry only what matters. Kernels
    other than ipykernel get no extra argument (they might refuse it).
    """
    import contextlib

    import nbformat
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    name = kernel_name
    if name is None:
        with contextlib.suppress(Exception):
            name = nbformat.read(notebook, as_version=4).metadata.get("kernelspec", {}).get("name")
    try:
        argv = KernelSpecManager().get_kernel_spec(name or "python3").argv
    except (NoSuchKernel, OSError, ValueError):
        return []
    return ["--IPKernelApp.log_level=ERROR"] if any("ipykernel" in str(a) for a in argv) else []


def _stop(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def _protocol_stream() -> IO[str]:
    """Keep the real stdout for answers; point file descriptor 1 (and ``sys.stdout``) at stderr."""
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return answers


def main() -> int:
    """Serve requests from stdin until it closes; returns the exit code."""
    signal.signal(signal.SIGTERM, _stop)
    out = _protocol_stream()

    def progress(percent: float, message: str) -> None:
        out.write(json.dumps({"progress": percent, "message": message}) + "\n")

    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            answer = execute(json.loads(line), on_progress=progress)
        except Exception as exc:  # a malformed request must not kill the worker silently
            answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}", "error_type": type(exc).__name__,
                      "failed_cell": None, "duration_s": 0.0}
        out.write(json.dumps(answer) + "\n")
    return 0


# -- parent side ---------------------------------------------------------------------------------------
def worker_env() -> dict[str, str]:
    """The environment of worker processes (and so of kernels): ours, plus where this soundforge lives."""
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parent.parent)
    installed = {str(Path(p).resolve()) for p in [*site.getsitepackages(), site.getusersitepackages()]}
    if package_root not in installed:
        parts = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        if package_root not in parts:
            env["PYTHONPATH"] = os.pathsep.join([package_root, *parts])
    env["PYTHONUNBUFFERED"] = "1"
    return env


def running_cell(output: str) -> tuple[int | None, str]:
    """The cell papermill marked ``running`` in a partly executed notebook: ``(index, " in cell N (...)")``."""
    import nbformat

    try:
        nb = nbformat.read(output, as_version=4)
    except Exception:
        return None, ""
    for index, cell in enumerate(nb.cells):
        if cell.get("metadata", {}).get("papermill", {}).get("status") == "running":
            line = first_line(cell.get("source", ""))
            return index, f" in cell {index}" + (f" ({line})" if line else "")
    return None, ""


class WorkerProcess:
    """A long-lived ``python -m soundforge.batch.worker`` process, restarted when it died or was stopped.

    Parameters
    ----------
    name : str
        Name used for its reader thread.
    log_path : pathlib.Path
        File receiving the worker's stderr (papermill and kernel logs).
    """

    def __init__(self, *, name: str, log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        self._proc: subprocess.Popen[str] | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._log: IO[str] | None = None

    def _start(self) -> subprocess.Popen[str]:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        if self._log is None:
            self._log = open(self.log_path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self._lines = queue.Queue()
        proc = subprocess.Popen([sys.executable, "-m", "soundforge.batch.worker"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=self._log, text=True, encoding="utf-8",
                                env=worker_env(), start_new_session=True)
        threading.Thread(target=self._read, args=(proc, self._lines), daemon=True,
                         name=f"{self.name}-reader").start()
        self._proc = proc
        return proc

    @staticmethod
    def _read(proc: subprocess.Popen[str], lines: queue.Queue[str | None]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    def execute(self, request: Mapping[str, Any], *, timeout_s: float | None,
                on_progress: OnProgress | None = None) -> dict[str, Any]:
        """Execute one request; stop the worker when no answer came within ``timeout_s`` seconds.

        Returns the worker's answer, or a failed answer with ``error_type`` ``ItemTimeout``
        (time limit) or ``WorkerDied`` (the process ended), naming the cell that was running.
        """
        proc = self._proc if self._proc is not None and self._proc.poll() is None else self._start()
        assert proc.stdin is not None
        started = time.perf_counter()
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        try:
            proc.stdin.write(json.dumps(dict(request)) + "\n")
            proc.stdin.flush()
            while True:
                wait = None if deadline is None else max(0.0, deadline - time.monotonic())
                line = self._lines.get(timeout=wait)
                if line is None:
                    break
                message = json.loads(line)
                if "progress" not in message:
                    return dict(message)
                if on_progress is not None:
                    on_progress(float(message["progress"]), str(message.get("message", "")))
        except queue.Empty:
            cell, where = running_cell(request["output"])  # read before stopping: stopping finishes the file
            self.stop()
            return {"ok": False, "error_type": "ItemTimeout", "failed_cell": cell,
                    "duration_s": time.perf_counter() - started,
                    "error": f"ItemTimeout: the notebook ran past its time limit of {timeout_s:g} s and was "
                             f"stopped{where}"}
        except OSError:  # BrokenPipeError: the worker is gone
            pass
        cell, where = running_cell(request["output"])
        code = self.stop()
        return {"ok": False, "error_type": "WorkerDied", "failed_cell": cell,
                "duration_s": time.perf_counter() - started,
                "error": f"WorkerDied: the papermill worker exited (code {code}){where}; see {self.log_path}"}

    def stop(self, *, grace_s: float = 10.0) -> int | None:
        """Stop the worker process: SIGTERM (papermill shuts its kernel down), then SIGKILL after ``grace_s``."""
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=grace_s)
        return proc.returncode

    def close(self, *, grace_s: float = 10.0) -> None:
        """Let the worker finish (close its stdin), else stop it; close the log."""
        proc = self._proc
        if proc is not None and proc.poll() is None and proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=grace_s)
        self.stop(grace_s=grace_s)
        if self._log is not None:
            self._log.close()
            self._log = None


class WorkerPool:
    """``size`` worker processes (started on first use) handed out to threads one at a time.

    Parameters
    ----------
    size : int
        Number of workers.
    log_dir : pathlib.Path
        Folder of the workers' logs (``worker-<n>.log``).
    """

    def __init__(self, *, size: int, log_dir: Path) -> None:
        self._all = [WorkerProcess(name=f"worker-{n}", log_path=log_dir / f"worker-{n}.log")
                     for n in range(1, size + 1)]
        self._free: queue.Queue[WorkerProcess] = queue.Queue()
        for worker in self._all:
            self._free.put(worker)

    @contextlib.contextmanager
    def worker(self) -> Iterator[WorkerProcess]:
        """Borrow a worker for one execution."""
        worker = self._free.get()
        try:
            yield worker
        finally:
            self._free.put(worker)

    def stop_all(self) -> None:
        """Stop every worker now (cancels what they run)."""
        for worker in self._all:
            worker.stop(grace_s=5.0)

    def close(self) -> None:
        """Let idle workers exit and stop the others."""
        for worker in self._all:
            worker.close()


if __name__ == "__main__":
    raise SystemExit(main())
