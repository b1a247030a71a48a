"""Kernels kept warm across the notebook executions of one worker process.

A fresh kernel per notebook pays the kernel's start and every import of the notebook (numpy,
scipy, librosa, pandas, matplotlib: seconds) again and again. A worker process that executes
notebook after notebook keeps its kernel instead, and before each notebook resets it: the user
namespace is cleared (``%reset -f``), the working folder set back and matplotlib figures closed.
Imported modules stay loaded: that is the point. What a notebook changes outside its namespace
(environment variables, module state) can leak into the next one, so ``batch.run(reuse_kernel=False)``
keeps papermill's fresh kernel per notebook.

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

__all__ = ["ENGINE", "KernelPool", "pool"]

ENGINE = "soundforge-kept-kernel"
"""papermill engine name of :class:`_KeptKernelEngine` (registered on first use)."""

_RESET = ("get_ipython().run_line_magic('reset', '-f')\n"
          "import os as _sf_os, sys as _sf_sys\n"
          "_sf_os.chdir({cwd!r})\n"
          "_sf_plt = _sf_sys.modules.get('matplotlib.pyplot')\n"
          "if _sf_plt is not None: _sf_plt.close('all')\n"
          "del _sf_os, _sf_sys, _sf_plt\n")


def _register_engine() -> None:
    """papermill's nbclient engine, but the kernel client's channels are closed after each notebook
    (with a kernel it did not start, nbclient leaves them open: ~18 file descriptors per notebook)."""
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine, papermill_engines
    from papermill.log import logger
    from papermill.utils import merge_kwargs, remove_args

    if ENGINE in papermill_engines._engines:
        return

    class _KeptKernelEngine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man: Any, kernel_name: str, log_output: bool = False,
                                     stdout_file: Any = None, stderr_file: Any = None, start_timeout: float = 60,
                                     execution_timeout: float | None = None, **kwargs: Any) -> Any:
            kwargs = remove_args(["input_path"], **kwargs)
            safe = remove_args(["timeout", "startup_timeout"], **kwargs)
            final = merge_kwargs(safe, timeout=execution_timeout if execution_timeout else kwargs.get("timeout"),
                                 startup_timeout=start_timeout, kernel_name=kernel_name, log=logger,
                                 log_output=log_output, stdout_file=stdout_file, stderr_file=stderr_file)
            client = PapermillNotebookClient(nb_man, **final)
            try:
                return client.execute()
            finally:
                if client.kc is not None:
                    client.kc.stop_channels()
                    client.kc = None

    papermill_engines.register(ENGINE, _KeptKernelEngine)


class KernelPool:
    """The warm kernels of this process, one per (kernel name, folder, environment)."""

    def __init__(self) -> None:
        self._kernels: dict[tuple[Any, ...], Any] = {}
        self._logs: dict[tuple[Any, ...], Any] = {}
        atexit.register(self.close)

    def kernel(self, *, kernel_name: str, cwd: str, env: Mapping[str, str], log_dir: str | None,
               extra_arguments: list[str], start_timeout_s: float) -> tuple[Any, bool]:
        """A started kernel manager for these settings, and whether it ran a notebook before (then it is reset).

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
            Seconds a reset may take.
        """
        from jupyter_core.utils import run_sync

        key = (kernel_name, cwd, tuple(sorted(env.items())), log_dir)
        km = self._kernels.get(key)
        if km is not None:
            alive = False
            with contextlib.suppress(Exception):
                alive = bool(run_sync(km.is_alive)())
            if alive and self._reset(km, cwd=cwd, timeout_s=start_timeout_s):
                return km, True
            self._drop(key)
        log = None
        if log_dir is not None:
            Path(log_dir).mkdir(parents=True, exist_ok=True)
            log = open(Path(log_dir) / f"kernel-{os.getpid()}-{len(self._logs) + 1}.log", "ab")  # noqa: SIM115
        km = _manager_class()(kernel_name=kernel_name)
        km.extra_env, km.log_stream = dict(env), log
        run_sync(km.start_kernel)(cwd=cwd, extra_arguments=list(extra_arguments))
        self._kernels[key], self._logs[key] = km, log
        _register_engine()
        return km, False

    @staticmethod
    def _reset(km: Any, *, cwd: str, timeout_s: float) -> bool:
        """Clear the kernel's namespace; ``False`` when it does not answer in time."""
        from jupyter_client import BlockingKernelClient

        kc = BlockingKernelClient()
        kc.load_connection_info(km.get_connection_info())
        kc.start_channels()
        try:
            kc.wait_for_ready(timeout=timeout_s)
            reply = kc.execute_interactive(_RESET.format(cwd=cwd), timeout=timeout_s, store_history=False,
                                           output_hook=lambda msg: None)
            return bool(reply.get("content", {}).get("status") == "ok")
        except Exception:
            return False
        finally:
            kc.stop_channels()

    def forget(self, km: Any) -> None:
        """Stop using ``km`` (its kernel died or misbehaved) and kill it."""
        for key, held in list(self._kernels.items()):
            if held is km:
                self._drop(key)

    def _drop(self, key: tuple[Any, ...]) -> None:
        km = self._kernels.pop(key, None)
        log = self._logs.pop(key, None)
        if km is not None:
            _kill(km)
        if log is not None:
            with contextlib.suppress(OSError):
                log.close()

    def close(self) -> None:
        """Kill every kernel of the pool (at the worker's exit)."""
        for key in list(self._kernels):
            self._drop(key)


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
