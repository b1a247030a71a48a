"""Kernels kept warm across the notebook executions of one worker process.

A fresh kernel per notebook pays the kernel's start and every import of the notebook (numpy,
scipy, librosa, pandas, matplotlib: seconds) again and again. A worker process that executes
notebook after notebook keeps its kernel instead, and before each notebook resets it: the user
namespace is cleared (``%reset -f``), the working folder set back and matplotlib figures closed.
Imported modules stay loaded: that is the point. What a notebook changes outside its namespace
(environment variables, module state) can leak into the next one, so ``batch.run(reuse_kernel=False)``
keeps papermill's fresh kernel per notebook.

Each warm kernel also keeps one connected client: its readiness handshake (``wait_for_ready``,
which always ends with 0.2 s of waiting for stray IOPub messages) is paid once when the kernel
starts, not twice per notebook (once for the reset, once when papermill connects); the reset
goes over the shell channel of that client and papermill executes through it.

Kernels live as long as their worker process: a timeout kills the worker's process group and the
kernel's (it is registered with every attempt), a worker that exits kills its kernels, and a kernel
whose parent disappears exits by itself. Only dedicated worker processes (the ``process`` and
``dask`` executors) reuse kernels; a run in threads of the caller's process never does.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["ENGINE", "KernelPool", "pool", "register_engine"]

ENGINE = "soundforge"
"""papermill engine name of soundforge's nbclient engine (registered by :func:`register_engine`)."""

_RESET = """\
def _sf_reset(cwd):
    import gc, os, sys
    collect, shell = gc.collect, get_ipython()
    gc.collect = lambda generation=2: 0  # IPython collects before it clears the namespace: wasted, once below
    try:
        shell.reset(new_session=False)  # what %reset -f does (it then collects)
    finally:
        gc.collect = collect
    os.chdir(cwd)
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        plt.close("all")
    gc.collect()
_sf_reset({cwd!r})
"""
"""Run in a kept kernel before each notebook: ``%reset -f`` (namespace, output cache) with one full
garbage collection instead of two (~0.15 s each with numpy, pandas, matplotlib and librosa loaded),
the working folder set back, pyplot's figures closed. The reset clears ``_sf_reset`` itself."""


def register_engine() -> str:
    """Register soundforge's papermill engine (once) and return its name, :data:`ENGINE`.

    papermill's nbclient engine, with two differences:

    * it executes through a given connected kernel client (``kc=``, a warm kernel's, see
      :class:`KernelPool`), and closes only the clients it connected itself (with a kernel it
      did not start, nbclient leaves its client's channels open: ~18 file descriptors per notebook);
    * the output notebook is saved when a code cell starts and ends (and at the start and the end),
      not when a markdown or raw cell does: papermill rewrites the whole notebook, figures included,
      at every cell's start and end, and half the cells of a report are markdown.
    """
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine, NotebookExecutionManager, papermill_engines
    from papermill.log import logger
    from papermill.utils import merge_kwargs, remove_args

    if ENGINE in papermill_engines._engines:
        return ENGINE

    class _CodeCellSaves(NotebookExecutionManager):
        _quiet = False

        def save(self, **kwargs: Any) -> None:
            if not self._quiet:
                super().save(**kwargs)

        def cell_start(self, cell: Any, cell_index: Any = None, **kwargs: Any) -> None:
            self._quiet = cell.get("cell_type") != "code"  # metadata still updated, saved with the next code cell
            try:
                super().cell_start(cell, cell_index, **kwargs)
            finally:
                self._quiet = False

        def cell_complete(self, cell: Any, cell_index: Any = None, **kwargs: Any) -> None:
            self._quiet = cell.get("cell_type") != "code"
            try:
                super().cell_complete(cell, cell_index, **kwargs)
            finally:
                self._quiet = False

    class _Engine(NBClientEngine):
        @classmethod
        def execute_notebook(cls, nb: Any, kernel_name: str, output_path: Any = None, progress_bar: Any = True,
                             log_output: bool = False, autosave_cell_every: int = 30, **kwargs: Any) -> Any:
            # papermill's Engine.execute_notebook with the manager above
            nb_man = _CodeCellSaves(nb, output_path=output_path, progress_bar=progress_bar, log_output=log_output,
                                    autosave_cell_every=autosave_cell_every)
            nb_man.notebook_start()
            try:
                cls.execute_managed_notebook(nb_man, kernel_name, log_output=log_output, **kwargs)
            finally:
                nb_man.cleanup_pbar()
                nb_man.notebook_complete()
            return nb_man.nb

        @classmethod
        def execute_managed_notebook(cls, nb_man: Any, kernel_name: str, log_output: bool = False,
                                     stdout_file: Any = None, stderr_file: Any = None, start_timeout: float = 60,
                                     execution_timeout: float | None = None, kc: Any = None, **kwargs: Any) -> Any:
            kwargs = remove_args(["input_path"], **kwargs)
            safe = remove_args(["timeout", "startup_timeout"], **kwargs)
            final = merge_kwargs(safe, timeout=execution_timeout if execution_timeout else kwargs.get("timeout"),
                                 startup_timeout=start_timeout, kernel_name=kernel_name, log=logger,
                                 log_output=log_output, stdout_file=stdout_file, stderr_file=stderr_file)
            client = PapermillNotebookClient(nb_man, **final)
            client.kc = kc  # a connected client (nbclient connects a new one only when this is None)
            try:
                return client.execute()
            finally:
                if client.kc is not None and client.kc is not kc:
                    client.kc.stop_channels()
                client.kc = None

    papermill_engines.register(ENGINE, _Engine)
    return ENGINE


class KernelPool:
    """The warm kernels of this process, one per (kernel name, folder, environment)."""

    def __init__(self) -> None:
        self._kernels: dict[tuple[Any, ...], tuple[Any, Any]] = {}  # key -> (manager, connected client)
        self._logs: dict[tuple[Any, ...], Any] = {}
        atexit.register(self.close)

    def kernel(self, *, kernel_name: str, cwd: str, env: Mapping[str, str], log_dir: str | None,
               extra_arguments: list[str], start_timeout_s: float) -> tuple[Any, Any, bool]:
        """A started kernel for these settings: its manager, its connected client (for papermill), and
        whether it ran a notebook before (then it has been reset).

        Parameters
        ----------
        kernel_name : str
            Jupyter kernel name.
        cwd : str
            The kernel's working folder (the notebook's).
        env : Mapping[str, str]
            Variables on top of this process's environment.
        log_dir : str or None
            Folder of the kernel's log (``kernel-<pid>-<n>.log``).
        extra_arguments : list of str
            Kernel command-line arguments.
        start_timeout_s : float
            Seconds a start (or a reset) may take.
        """
        from jupyter_core.utils import run_sync

        key = (kernel_name, cwd, tuple(sorted(env.items())), log_dir)
        held = self._kernels.get(key)
        if held is not None:
            km, kc = held
            alive = False
            with contextlib.suppress(Exception):
                alive = bool(run_sync(km.is_alive)())
            if alive and run_sync(_reset)(kc, cwd=cwd, timeout_s=start_timeout_s):
                return km, kc, True
            self._drop(key)
        log = None
        if log_dir is not None:
            Path(log_dir).mkdir(parents=True, exist_ok=True)
            log = open(Path(log_dir) / f"kernel-{os.getpid()}-{len(self._logs) + 1}.log", "ab")  # noqa: SIM115
        km = _manager_class()(kernel_name=kernel_name)
        km.extra_env, km.log_stream = dict(env), log
        self._logs[key] = log
        run_sync(km.start_kernel)(cwd=cwd, extra_arguments=list(extra_arguments))
        self._kernels[key] = (km, None)
        kc = run_sync(_connect)(km, timeout_s=start_timeout_s)
        self._kernels[key] = (km, kc)
        return km, kc, False

    def forget(self, km: Any) -> None:
        """Stop using ``km`` (its kernel died or misbehaved) and kill it."""
        for key, (held, _) in list(self._kernels.items()):
            if held is km:
                self._drop(key)

    def _drop(self, key: tuple[Any, ...]) -> None:
        km, kc = self._kernels.pop(key, (None, None))
        log = self._logs.pop(key, None)
        if kc is not None:
            with contextlib.suppress(Exception):
                kc.stop_channels()
        if km is not None:
            _kill(km)
        if log is not None:
            with contextlib.suppress(OSError):
                log.close()

    def close(self) -> None:
        """Kill every kernel of the pool (at the worker's exit)."""
        for key in list(self._kernels):
            self._drop(key)


async def _connect(km: Any, *, timeout_s: float) -> Any:
    """A client of ``km``'s kernel with its channels started, once the kernel answers (as nbclient connects)."""
    kc = km.client()
    kc.start_channels()
    try:
        await kc.wait_for_ready(timeout=timeout_s)
    except BaseException:
        kc.stop_channels()
        raise
    kc.allow_stdin = False
    return kc


async def _reset(kc: Any, *, cwd: str, timeout_s: float) -> bool:
    """Clear the kernel's namespace through ``kc``; ``False`` when it fails or does not answer in time.

    Only the shell channel's reply is awaited (the kernel replies once the code has run); what the
    previous notebook and the reset leave on IOPub is dropped first and after (nbclient ignores
    messages of other requests anyway).
    """
    import time
    from queue import Empty

    try:
        await _drain(kc)
        msg_id = kc.execute(_RESET.format(cwd=cwd), silent=True, store_history=False, allow_stdin=False)
        deadline = time.monotonic() + timeout_s
        while True:
            reply = await kc.get_shell_msg(timeout=max(0.0, deadline - time.monotonic()))
            if reply.get("parent_header", {}).get("msg_id") == msg_id:
                return bool(reply.get("content", {}).get("status") == "ok")
    except (Empty, Exception):
        return False


async def _drain(kc: Any) -> None:
    """Drop the messages waiting on ``kc``'s IOPub channel (without waiting for more)."""
    from queue import Empty

    with contextlib.suppress(Empty):
        while True:
            await kc.iopub_channel.get_msg(timeout=0)


def _manager_class() -> type:
    """``AsyncKernelManager`` that starts kernels with extra environment variables and a log file."""
    from jupyter_client.manager import AsyncKernelManager

    class _KeptKernelManager(AsyncKernelManager):
        extra_env: dict[str, str] = {}  # noqa: RUF012 - replaced per instance
        log_stream: Any = None

        async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
            if self.extra_env:
                kw["env"] = {**(kw.get("env") or os.environ), **self.extra_env}
            if self.log_stream is not None:
                kw["stdout"] = kw["stderr"] = self.log_stream
            await super()._async_launch_kernel(kernel_cmd, **kw)

    return _KeptKernelManager


def _kill(km: Any) -> None:
    pid = getattr(getattr(km, "provisioner", None), "pid", None)
    if pid:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(os.getpgid(pid), signal.SIGKILL)
    with contextlib.suppress(Exception):
        from jupyter_core.utils import run_sync

        run_sync(km.cleanup_resources)()


_POOL: KernelPool | None = None


def pool() -> KernelPool:
    """This process's kernel pool (created on first use; one per worker process by design)."""
    global _POOL
    if _POOL is None:
        _POOL = KernelPool()
    return _POOL
