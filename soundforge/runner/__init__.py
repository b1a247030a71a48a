"""The engine: run one stage over many items (concurrency, real timeouts, retries, breakers, jobs, progress).

A stage is a :class:`StageSpec` (``spec``: a name, a top-level work function
``work(payload, ctx) -> result``, defaults) run by :func:`run_stage` (``run``) on an
executor (``executors``: threads, processes, or any registered backend), with one
``jobs`` row per attempt (``jobs``), circuit breakers and retry policies
(``resilience``). Work functions see only :class:`ItemContext` (``context``);
worker processes run :mod:`soundforge.runner.worker`. See ``docs/runner.md`` and
``docs/architecture.md``.
"""

from __future__ import annotations

from typing import Any

from .context import ItemContext
from .spec import RESULT_COLUMNS, Existing, Record, Skipped, StageSpec, WorkItem

__all__ = ["RESULT_COLUMNS", "Existing", "ItemContext", "Record", "RemoteTraceback", "Skipped", "StageSpec", "WorkItem",
           "run_stage"]


def __getattr__(name: str) -> Any:
    # run_stage pulls in the catalog and progress displays: worker processes, which import
    # soundforge.runner.worker, never need them.
    if name in ("run_stage", "RemoteTraceback"):
        from . import run

        return getattr(run, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
