"""Reading papermill's notebooks: which cell failed or was running, and quiet kernels for batch logs."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

__all__ = ["describe_failure", "first_line", "quiet_kernel_arguments", "running_cell"]

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


def quiet_kernel_arguments(notebook: str, *, kernel_name: str | None) -> list[str]:
    """Kernel command-line arguments that keep ipykernel's start-up chatter out of batch logs.

    ipykernel warns "Kernel is running over TCP without encryption" on every start, although
    papermill's kernels listen on 127.0.0.1 only and live as long as one notebook: with
    ``--IPKernelApp.log_level=ERROR`` the logs of a batch run carry only what matters. Kernels
    other than ipykernel get no extra argument (they might refuse it).
    """

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
