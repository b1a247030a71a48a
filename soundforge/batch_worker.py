"""The worker process of :mod:`soundforge.batch`: executes notebooks with papermill, one request at a time.

Run as ``python -m soundforge.batch_worker``. It reads one JSON request per line on
stdin and answers one JSON line on its original stdout (anything else that writes
to file descriptor 1, papermill and nbclient included, goes to stderr)::

    request  {"input": str, "output": str, "parameters": {...}, "kernel_name": str | null,
              "cwd": str, "start_timeout_s": float}
    answer   {"ok": bool, "error": str | null, "error_type": str | null,
              "failed_cell": int | null, "duration_s": float}

A long-lived worker imports papermill once and then only pays for a kernel start
per notebook. The parent (:mod:`soundforge.batch`) enforces time limits by
stopping the worker: on SIGTERM it raises ``SystemExit`` so papermill shuts the
kernel down and the partial output notebook stays on disk (kernels also exit by
themselves when their parent process disappears).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from typing import IO, Any

__all__ = ["describe_failure", "execute", "first_line", "main"]


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


def execute(request: dict[str, Any]) -> dict[str, Any]:
    """Execute one notebook as described by ``request`` (see the module docstring) and answer."""
    import papermill

    started = time.perf_counter()
    answer: dict[str, Any] = {"ok": True, "error": None, "error_type": None, "failed_cell": None}
    try:
        papermill.execute_notebook(
            request["input"], request["output"], parameters=request.get("parameters") or {},
            kernel_name=request.get("kernel_name"), cwd=request.get("cwd"), progress_bar=False,
            start_timeout=float(request.get("start_timeout_s", 60.0)), log_output=False)
    except Exception as exc:
        answer = {"ok": False, **describe_failure(exc, output=request["output"])}
    answer["duration_s"] = time.perf_counter() - started
    return answer


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
    answers = _protocol_stream()
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
            answer = execute(request)
        except Exception as exc:  # a malformed request must not kill the worker silently
            answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}", "error_type": type(exc).__name__,
                      "failed_cell": None, "duration_s": 0.0}
        answers.write(json.dumps(answer) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
