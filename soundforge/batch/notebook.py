"""The batch stage: one papermill execution (one track, or a chunk of tracks) as the runner's work function.

:data:`BATCH` is a chunked :class:`~soundforge.runner.spec.StageSpec`: the runner groups
items into chunks, keeps one ``jobs`` row per item, enforces the time limit (the
kernel is registered with the attempt, so a timeout kills the kernel's process group
with the worker), splits a failed chunk so one bad track fails alone, and reports
progress (one message per cell).

An execution writes ``.<stem>.partial.ipynb`` next to its output and renames it to
``<name>`` only when papermill is done with it (completed or failed at a cell), after
stamping ``metadata.soundforge.status`` (``completed``/``failed``). A notebook whose
execution was stopped (timeout, kill -9 of the run) keeps its ``.partial`` name and
``status: running`` in its metadata until :func:`settle_partial` names it
``stopped``: it never looks finished.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import BatchError
from ..runner.spec import ItemContext, StageSpec
from .cells import describe_failure, first_line, quiet_kernel_arguments
from .kernels import register_engine

__all__ = ["BATCH", "KernelDied", "NotebookFailed", "NotebookItem", "output_name", "partial_path", "run_notebook",
           "settle_partial", "stamp"]

COLUMNS = {"error_type": "string", "failed_cell": "Int64", "output_notebook": "string", "duration_s": "float64"}


class KernelDied(BatchError):
    """The notebook's kernel died (crashed, out of memory, killed): transient, the runner tries once more."""

    transient = True


class NotebookFailed(BatchError):
    """A notebook raised in a cell (context: the ``error_type`` inside it, ``failed_cell``, ``output_notebook``)."""


@dataclass(frozen=True)
class NotebookItem:
    """The payload of one batch item.

    Attributes
    ----------
    item : str
        The track id (or any item) passed in the notebook's item parameter.
    input : str
        The notebook to execute.
    out_dir : str
        Folder of the executed notebooks.
    parameters : Mapping[str, Any]
        The parameters every execution gets (the item list is added).
    item_parameter : str
        Name of the parameter receiving the list of items.
    kernel_name : str or None
        Jupyter kernel (default: the notebook's own).
    start_timeout_s : float
        Seconds a kernel may take to start.
    kernel_env : Mapping[str, str]
        Environment variables the kernel gets on top of the worker's (``SOUNDFORGE_EXECUTOR``).
    log_dir : str or None
        Folder of the kernels' logs (``<item or chunk>.log``: what a kernel prints on its own
        stdout/stderr); ``None``: the worker's streams.
    reuse_kernel : bool
        Execute in this worker process's warm kernel, reset between notebooks
        (:mod:`soundforge.batch.kernels`), instead of a fresh kernel per notebook.
    """

    item: str
    input: str
    out_dir: str
    parameters: Mapping[str, Any] = field(default_factory=dict)
    item_parameter: str = "tracks"
    kernel_name: str | None = None
    start_timeout_s: float = 120.0
    kernel_env: Mapping[str, str] = field(default_factory=dict)
    log_dir: str | None = None
    reuse_kernel: bool = False


def output_name(items: list[str]) -> str:
    """``<item>.ipynb`` for one item (when it is a safe file name), else ``chunk-<hash of the items>.ipynb``."""
    from ..errors import SoundforgeError
    from ..storage import validate_id

    if len(items) == 1:
        with contextlib.suppress(SoundforgeError):
            return f"{validate_id(items[0])}.ipynb"
    digest = hashlib.sha256(json.dumps(items).encode()).hexdigest()[:12]
    return f"chunk-{digest}.ipynb"


def partial_path(final: Path) -> Path:
    """Where an execution writes until it is done: ``.<stem>.partial.ipynb`` beside ``final``."""
    return final.with_name(f".{final.stem}.partial.ipynb")


def stamp(path: Path, target: Path, *, status: str, nb: Any = None, **extra: Any) -> None:
    """Write ``path`` to ``target`` (atomically) with ``metadata.soundforge.status = status``; remove ``path``.

    ``nb``: the notebook ``path`` holds, when the caller has it in memory (it is not read again).
    """
    import nbformat

    if nb is None:
        nb = nbformat.read(os.fspath(path), as_version=4)
    meta = dict(nb.metadata.get("soundforge", {}))
    meta.update(status=status, **extra)
    nb.metadata["soundforge"] = meta
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    nbformat.write(nb, os.fspath(tmp))
    os.replace(tmp, target)
    if path != target:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def settle_partial(final: Path, *, why: str) -> tuple[int | None, str]:
    """A stopped execution's partial notebook -> ``final`` marked ``stopped``; returns the running cell.

    Returns ``(index, " in cell N (first line)")`` of the cell that was running, or ``(None, "")``
    when there is no partial notebook.
    """
    from .cells import running_cell

    partial = partial_path(final)
    if not partial.is_file():
        return None, ""
    cell, where = running_cell(os.fspath(partial))
    with contextlib.suppress(Exception):
        stamp(partial, final, status="stopped", reason=why)
    return cell, where


def _kernel_manager(ctx: ItemContext, env: Mapping[str, str], log: Any = None) -> type:
    """A kernel manager class that gives kernels ``env`` (and ``log`` as stdout/stderr) and registers each
    kernel it starts with the attempt (so a timeout kills the kernel's process group too)."""
    from jupyter_client.manager import AsyncKernelManager

    class _Registered(AsyncKernelManager):
        async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
            if env:
                kw["env"] = {**(kw.get("env") or os.environ), **env}
            if log is not None:
                kw["stdout"] = kw["stderr"] = log
            await super()._async_launch_kernel(kernel_cmd, **kw)
            pid = getattr(self.provisioner, "pid", None)
            if pid:
                ctx.register_process(pid)

    return _Registered


def run_notebook(payloads: list[NotebookItem], ctx: ItemContext) -> dict[str, dict[str, Any]]:
    """Execute the notebook once for ``payloads`` (a chunk of items); the runner's work function.

    Returns
    -------
    dict
        ``{item: {"output_notebook", "duration_s", ...}}`` (the time shared equally).

    Raises
    ------
    NotebookFailed
        A cell raised: the message names the cell (index, ``In [n]``, first line) and the
        error; the output notebook is kept, marked ``failed``.
    """
    import nbformat
    import papermill

    first = payloads[0]
    items = [p.item for p in payloads]
    final = Path(first.out_dir) / output_name(items)
    partial = partial_path(final)
    nb = nbformat.read(first.input, as_version=4)
    nb.metadata["soundforge"] = {"status": "running", "items": items, "attempt": ctx.attempt}
    total = len(nb.cells) + 1  # + the injected parameters

    def on_cell_start(cell: Any, cell_index: int, **_: Any) -> None:
        ctx.report(min(99.0, 100.0 * cell_index / total), f"cell {cell_index}: {first_line(cell.source)}")

    cwd = str(Path(first.input).parent)
    arguments = quiet_kernel_arguments(first.input, kernel_name=first.kernel_name)
    with contextlib.ExitStack() as stack:
        forget: Any = None
        if first.reuse_kernel:  # this worker's warm kernel, reset (see soundforge.batch.kernels)
            from .kernels import pool

            kernel_name = first.kernel_name or nb.metadata.get("kernelspec", {}).get("name") or "python3"
            km, kc, _ = pool().kernel(kernel_name=kernel_name, cwd=cwd, env=first.kernel_env,
                                      log_dir=first.log_dir, extra_arguments=arguments,
                                      start_timeout_s=float(first.start_timeout_s))
            pid = getattr(km.provisioner, "pid", None)
            if pid:
                ctx.register_process(pid)  # a timeout kills the kernel with the worker
            kernel: dict[str, Any] = {"kernel_name": kernel_name, "km": km, "kc": kc}
            forget = functools.partial(pool().forget, km)
        else:  # a fresh kernel for this notebook
            log = None
            if first.log_dir is not None:
                Path(first.log_dir).mkdir(parents=True, exist_ok=True)
                log = stack.enter_context(open(Path(first.log_dir) / f"{final.stem}.log", "ab"))
            kernel = {"kernel_name": first.kernel_name, "extra_arguments": arguments,
                      "kernel_manager_class": _kernel_manager(ctx, first.kernel_env, log)}
        started = time.perf_counter()
        try:
            executed = papermill.execute_notebook(
                nb, os.fspath(partial), parameters={**first.parameters, first.item_parameter: items}, cwd=cwd,
                progress_bar=False, start_timeout=float(first.start_timeout_s), log_output=False,
                on_cell_start=on_cell_start, engine_name=register_engine(), **kernel)
        except Exception as exc:
            raise _failure(exc, final=final, partial=partial, took=time.perf_counter() - started,
                           forget=forget) from exc
        took = time.perf_counter() - started
    stamp(partial, final, status="completed", nb=executed)  # what papermill just wrote to partial, not read back
    share = took / len(items)
    return {item: {"output_notebook": str(final), "duration_s": share, "error_type": None, "failed_cell": None}
            for item in items}


def _failure(exc: BaseException, *, final: Path, partial: Path, took: float,
             forget: Any = None) -> BatchError:
    """The error of an execution that raised: :class:`KernelDied` (retried) or :class:`NotebookFailed`,
    whose output notebook is kept and marked ``failed``."""
    if type(exc).__name__ == "DeadKernelError":  # nbclient's: the kernel process is gone
        if forget is not None:
            forget()
        return KernelDied(f"The kernel of {final.name} died while it ran ({exc}); the attempt is retried once. "
                          "Out of memory? See the kernel log in the run's logs/ folder.",
                          output_notebook=None, duration_s=took)
    found = describe_failure(exc, output=os.fspath(partial) if partial.is_file() else None)
    kept = None
    if partial.is_file():
        with contextlib.suppress(Exception):
            stamp(partial, final, status="failed", error=found["error"])
            kept = str(final)
    return NotebookFailed(found["error"], error_type=found["error_type"], failed_cell=found["failed_cell"],
                          output_notebook=kept, duration_s=took)


BATCH = StageSpec(name="batch", work=run_notebook, executor="process", workers=2, timeout_s=None, columns=COLUMNS,
                  key="item", version="1", chunked=True, max_attempts=2)
"""The batch stage: one papermill execution per chunk in a worker process (papermill imported once per
worker, one kernel start per execution). A notebook that raises is not retried (its chunk's items run
alone); a kernel that died (:class:`KernelDied`, transient) is retried once."""
