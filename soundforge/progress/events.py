"""Progress events of a stage run and the state they build (no display code here).

See :mod:`soundforge.progress` for the event order and the reporters.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["EVENT_KINDS", "ItemState", "ProgressEvent", "ProgressState", "Reporter", "StateReporter",
           "format_seconds", "logger", "silent"]

Reporter = Callable[["ProgressEvent"], None]
"""A reporter: called with each :class:`ProgressEvent` of a run, from the runner's thread."""

EVENT_KINDS = ("start", "item_start", "item_progress", "item_retry", "item_end", "tick", "end")

logger = logging.getLogger("soundforge.runner")


@dataclass(frozen=True)
class ProgressEvent:
    """Something that happened in a stage run.

    Attributes
    ----------
    kind : str
        One of ``start``, ``item_start``, ``item_progress``, ``item_retry``, ``item_end``, ``tick``, ``end``.
    stage : str
        Stage name.
    time : float
        :func:`time.monotonic` when it happened.
    item : str or None
        The item key (item events).
    total : int
        Number of items in the run (``start``).
    workers : int
        Concurrency of the run (``start``).
    attempt : int
        1-based attempt number (item events; 0 for skipped items).
    status : str or None
        ``done``, ``skipped`` or ``failed`` (``item_end``).
    percent : float or None
        Item progress in [0, 100] (``item_progress``).
    message : str or None
        Short text from the stage (``item_progress``).
    error : str or None
        ``"ErrorType: message"`` (``item_retry`` and failed ``item_end``).
    delay_s : float or None
        Seconds before the next attempt (``item_retry``).
    seconds_taken : float or None
        Seconds the item took, all attempts (``item_end``).
    result : Any
        The result DataFrame (``end``).
    link : str or None
        A page showing where the work runs, e.g. the Dask dashboard (``start``; ``None``: none).
    """

    kind: str
    stage: str
    time: float = field(default_factory=time.monotonic)
    item: str | None = None
    total: int = 0
    workers: int = 0
    attempt: int = 0
    status: str | None = None
    percent: float | None = None
    message: str | None = None
    error: str | None = None
    delay_s: float | None = None
    seconds_taken: float | None = None
    result: Any = None
    link: str | None = None


@dataclass
class ItemState:
    """Live state of one item: ``status`` is pending, running, retrying, done, skipped or failed."""

    item: str
    status: str = "pending"
    attempt: int = 0
    percent: float | None = None
    message: str = ""
    changed: float = 0.0


class ProgressState:
    """Counts, ETA and per-item state built from events (:meth:`apply`)."""

    def __init__(self) -> None:
        self.stage = ""
        self.total = 0
        self.workers = 0
        self.started = time.monotonic()
        self.ended: float | None = None
        self.counts = {"done": 0, "skipped": 0, "failed": 0}
        self.items: dict[str, ItemState] = {}
        self.first_work: float | None = None
        self.worked = 0  # items that finished after running (not skipped)
        self.result: Any = None
        self.link: str | None = None

    def apply(self, event: ProgressEvent) -> None:
        """Update the state with one event."""
        if event.kind == "start":
            self.stage, self.total, self.workers, self.started = event.stage, event.total, event.workers, event.time
            self.link = event.link
            return
        if event.kind == "end":
            self.ended, self.result = event.time, event.result
            return
        if event.item is None:
            return
        item = self.items.setdefault(event.item, ItemState(event.item))
        item.changed = event.time
        if event.kind == "item_start":
            self.first_work = event.time if self.first_work is None else self.first_work
            item.status, item.attempt, item.percent = "running", event.attempt, None
            item.message = "" if event.attempt == 1 else f"attempt {event.attempt}"
        elif event.kind == "item_progress":
            item.percent = event.percent if event.percent is not None else item.percent
            item.message = event.message if event.message is not None else item.message
        elif event.kind == "item_retry":
            item.status = "retrying"
            item.message = f"retry in {event.delay_s or 0:.1f} s after {event.error}"
        elif event.kind == "item_end" and event.status in self.counts:
            self.counts[event.status] += 1
            item.status, item.attempt = event.status, event.attempt
            item.percent = 100.0 if event.status == "done" else item.percent
            item.message = event.error or event.message or ""
            if event.status != "skipped":
                self.worked += 1

    @property
    def finished(self) -> int:
        """Items done, skipped or failed."""
        return sum(self.counts.values())

    @property
    def running(self) -> int:
        """Items running now."""
        return sum(1 for i in self.items.values() if i.status == "running")

    def eta_s(self, now: float | None = None) -> float | None:
        """Seconds left, from the rate of items finished since work started (``None`` if unknown)."""
        now = time.monotonic() if now is None else now
        left = self.total - self.finished
        if left <= 0:
            return 0.0
        if self.first_work is None or self.worked == 0:
            return None
        elapsed = now - self.first_work
        partial = sum((i.percent or 0.0) / 100.0 for i in self.items.values() if i.status == "running")
        rate = (self.worked + partial) / elapsed if elapsed > 0 else 0.0
        return left / rate if rate > 0 else None

    def summary(self) -> str:
        """``"12/40 · 10 done · 1 skipped · 1 failed · 3 running"``."""
        c = self.counts
        text = f"{self.finished}/{self.total} · {c['done']} done · {c['skipped']} skipped · {c['failed']} failed"
        return text + (f" · {self.running} running" if self.ended is None else "")


def format_seconds(seconds: float | None) -> str:
    """``"1:02:03"`` / ``"2:03"``; ``"?"`` for unknown."""
    if seconds is None or math.isinf(seconds) or math.isnan(seconds):
        return "?"
    s = round(seconds)
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class StateReporter:
    """Base of the built-in reporters: keeps a :class:`ProgressState` and throttles redraws.

    Subclasses implement :meth:`render` (and may override :meth:`on_event`).

    Parameters
    ----------
    interval_s : float
        Minimum seconds between two redraws (the final one is always drawn).
    """

    def __init__(self, *, interval_s: float = 0.1) -> None:
        self.state = ProgressState()
        self.interval_s = interval_s
        self._last_render = -math.inf
        self.renders = 0

    def __call__(self, event: ProgressEvent) -> None:
        self.state.apply(event)
        self.on_event(event)
        final = event.kind == "end"
        if final or event.kind == "start" or event.time - self._last_render >= self.interval_s:
            self._last_render = event.time
            self.renders += 1
            self.render(final=final)

    def on_event(self, event: ProgressEvent) -> None:
        """Hook called for every event, before any redraw."""

    def render(self, *, final: bool) -> None:
        """Draw the current state (``final``: the run has ended)."""


def silent(event: ProgressEvent) -> None:
    """The silent reporter."""
