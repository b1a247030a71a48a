"""What a stage is, for the runner: :class:`StageSpec`, :class:`WorkItem`, :class:`Skipped`.

Stages import what they need of the engine from here only (``ItemContext`` included); see ``docs/runner.md``.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError, StageError
from ..storage import validate_id
from .context import ItemContext
from .resilience import RetryPolicy

__all__ = ["RESULT_COLUMNS", "Existing", "ItemContext", "Record", "Skipped", "StageSpec", "WorkItem", "params_hash"]

RESULT_COLUMNS: dict[str, str] = {"status": "string", "error": "string", "attempts": "Int64",
                                  "seconds_taken": "float64"}
"""Columns every stage result has after the key column (``seconds_taken``: seconds spent on the item, all
attempts). ``duration_s`` is left to stages: audio stages use it for the audio's length."""

Record = Callable[[sqlite3.Connection, "WorkItem", Any], None]
Existing = Callable[["WorkItem"], "Mapping[str, Any] | None"]


@dataclass(frozen=True)
class StageSpec:
    """What the runner needs to know about a stage.

    Attributes
    ----------
    name : str
        Stage name (``jobs.stage``), from ``[A-Za-z0-9_-]``.
    work : callable
        ``work(payload, ctx) -> result``: a top-level function (picklable for
        processes) doing one item. ``result`` is a mapping of the stage's columns,
        an object with ``to_row()``, :class:`Skipped`, or anything ``record`` understands.
    executor : str
        Default executor (a name in :data:`soundforge.runner.executors.EXECUTORS`): threads for
        I/O-bound stages, processes for CPU-bound ones.
    workers : int or None
        Default concurrency; ``None`` means ``os.cpu_count()``.
    max_attempts : int
        Attempts per item for transient errors (1 = no retry).
    timeout_s : float or None
        Default time limit per attempt, in seconds (``None``: none).
    service : str or None
        Circuit breaker fed by item outcomes (``"spotify"``, ``"spotdl"``...).
    columns : Mapping[str, str]
        The stage's own result columns and their pandas dtypes.
    key : str
        Name of the result column holding the item key (``"track_id"``).
    version : str
        Stage code version, hashed with the parameters: bump it to redo done items.
    retry : RetryPolicy
        Backoff shape (its ``attempts`` is replaced by ``max_attempts``).
    chunked : bool
        ``work`` takes a list of payloads and returns ``{key: result}`` (``run_stage(chunk_size=)``
        groups items into one attempt, e.g. one notebook execution for several tracks).
    """

    name: str
    work: Callable[[Any, ItemContext], Any]
    executor: str = "thread"
    workers: int | None = 1
    max_attempts: int = 1
    timeout_s: float | None = None
    service: str | None = None
    columns: Mapping[str, str] = field(default_factory=dict)
    key: str = "track_id"
    version: str = "1"
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    chunked: bool = False

    def __post_init__(self) -> None:
        validate_id(self.name, kind="stage name")
        if not isinstance(self.executor, str) or not self.executor.isidentifier():
            raise ConfigError(f"Stage {self.name!r}: executor must be a registered executor name such as 'thread' "
                              f"or 'process', got {self.executor!r}.")
        if self.workers is not None and (not isinstance(self.workers, int) or self.workers < 1):
            raise ConfigError(f"Stage {self.name!r}: workers must be an integer >= 1 or None, got {self.workers!r}.")
        if not isinstance(self.max_attempts, int) or self.max_attempts < 1:
            raise ConfigError(f"Stage {self.name!r}: max_attempts must be an integer >= 1.")
        clash = (set(RESULT_COLUMNS) | {self.key}) & set(self.columns)
        if clash:
            raise ConfigError(f"Stage {self.name!r}: columns {sorted(clash)} are the runner's own; rename them "
                              "(the time spent is seconds_taken).")

    def default_workers(self) -> int:
        """``workers``, or the number of CPUs when it is ``None``."""
        return self.workers if self.workers is not None else max(1, os.cpu_count() or 1)

    def result_columns(self) -> dict[str, str]:
        """All result columns in order: key, :data:`RESULT_COLUMNS`, the stage's columns."""
        return {self.key: "string", **RESULT_COLUMNS, **self.columns}

    def row(self, value: Any) -> dict[str, Any]:
        """The stage's columns from a work result (a mapping, ``to_row()``, or :class:`Skipped`)."""
        if isinstance(value, Skipped):
            value = value.row
        elif hasattr(value, "to_row") and callable(value.to_row):
            value = value.to_row()
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise StageError(f"Stage {self.name!r} returned a {type(value).__name__}; return a mapping of its "
                             "columns or an object with to_row().")
        return {c: value.get(c) for c in self.columns}


@dataclass(frozen=True)
class WorkItem:
    """One item of a run.

    Attributes
    ----------
    key : str
        Identifies the item (``jobs.item``), usually a track id; unique within a run.
    payload : Any
        What the work function receives (``None``: the key).
    input_hash : str or None
        Fingerprint of the item's input (e.g. the audio's SHA-256); a done item
        whose input changed is redone.
    resources : Mapping[str, float] or None
        Abstract resources one attempt needs, e.g. ``{"GPU": 1}`` for a demucs separation on
        CUDA. Executors that place work by resource (Dask: ``dask worker --resources GPU=1``)
        send the attempt to a worker declaring them, when any worker does; the others ignore it.
    """

    key: str
    payload: Any = None
    input_hash: str | None = None
    resources: Mapping[str, float] | None = None


@dataclass(frozen=True)
class Skipped:
    """Returned by a work function that finds its output already there: the item is ``skipped``.

    Attributes
    ----------
    row : Mapping[str, Any]
        The stage's columns for the result table.
    reason : str
        Why (shown as the item's message).
    """

    row: Mapping[str, Any] = field(default_factory=dict)
    reason: str = ""


def params_hash(params: Mapping[str, Any], *, version: str = "") -> str:
    """Stable 16-hex-digit hash of a stage's parameters (canonical JSON) and its version."""
    text = json.dumps({"params": dict(params), "version": version}, sort_keys=True, default=str,
                      separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
