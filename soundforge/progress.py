"""Progress of a stage run: events, the state they build, and reporters that show it.

The runner emits :class:`ProgressEvent` objects, in this order::

    start, then per attempt: item_start, item_progress*, (item_retry | item_end), ..., end

(``item_end`` comes without ``item_start`` for skipped items and for items
refused before they start, e.g. by an open circuit breaker; ``tick`` events
come in between when nothing happened for a while, so displays can refresh
elapsed time and ETA). A *reporter* is any callable taking one event — the
whole interface; ignore the kinds you do not need. Built-in reporters keep a
:class:`ProgressState` and redraw at most ``1 / interval_s`` times a second:

=============  ===============================================================
``"widget"``   ipywidgets in a notebook: bar, counts, ETA, per-item table;
               replaced at the end by the result table as plain HTML
``"text"``     one self-updating line on a terminal (stderr)
``"log"``      :mod:`logging` lines on logger ``soundforge.runner``
``None``       silent
``"auto"``     widget in a Jupyter kernel with ipywidgets, text on a TTY, else log
=============  ===============================================================
"""

from __future__ import annotations

import importlib.util
import logging
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from .errors import ConfigError

__all__ = ["ItemState", "LogReporter", "ProgressEvent", "ProgressState", "Reporter", "StateReporter",
           "TextReporter", "format_seconds", "in_notebook", "make_reporter", "silent"]

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

    def apply(self, event: ProgressEvent) -> None:
        """Update the state with one event."""
        if event.kind == "start":
            self.stage, self.total, self.workers, self.started = event.stage, event.total, event.workers, event.time
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


class TextReporter(StateReporter):
    """One self-updating line on a terminal, then a summary with the first failures.

    Parameters
    ----------
    stream : file-like, optional
        Where to write (default ``sys.stderr``).
    width : int
        Width of the bar in characters.
    interval_s : float
        Minimum seconds between redraws.
    """

    def __init__(self, *, stream: TextIO | None = None, width: int = 24, interval_s: float = 0.1) -> None:
        super().__init__(interval_s=interval_s)
        self.stream = stream if stream is not None else sys.stderr
        self.width = width

    def render(self, *, final: bool) -> None:
        st = self.state
        frac = st.finished / st.total if st.total else 1.0
        fill = round(frac * self.width)
        bar = "#" * fill + "-" * (self.width - fill)
        tail = (f" in {format_seconds((st.ended or time.monotonic()) - st.started)}" if final
                else f" · ETA {format_seconds(st.eta_s())}")
        self.stream.write(f"\r{st.stage} [{bar}] {frac * 100:3.0f}% {st.summary()}{tail}\x1b[K")
        if final:
            self.stream.write("\n")
            failed = [i for i in st.items.values() if i.status == "failed"]
            for item in failed[:10]:
                self.stream.write(f"  failed {item.item}: {item.message}\n")
            if len(failed) > 10:
                self.stream.write(f"  ... and {len(failed) - 10} more failed items\n")
        self.stream.flush()


class LogReporter(StateReporter):
    """:mod:`logging` lines for batch runs and non-terminals: start, each finished item, retries, a status
    line every ``every_s`` seconds while work runs (counts, running items with their percent, ETA), and a
    summary.

    Parameters
    ----------
    log : logging.Logger, optional
        Default: ``logging.getLogger("soundforge.runner")``.
    every_s : float
        Seconds between two periodic status lines (the runner's ``tick`` events drive them);
        ``math.inf``: none.
    """

    def __init__(self, *, log: logging.Logger | None = None, every_s: float = 10.0) -> None:
        super().__init__(interval_s=math.inf)
        self.log = log or logger
        self.every_s = every_s
        self._last_line = -math.inf

    def on_event(self, event: ProgressEvent) -> None:
        st = self.state
        if event.kind in ("start", "item_end", "item_retry"):
            self._last_line = event.time
        elif event.kind != "end" and event.time - self._last_line >= self.every_s:
            self._last_line = event.time
            running = [f"{i.item} {i.percent:.0f}%" if i.percent is not None else i.item
                       for i in st.items.values() if i.status == "running"]
            self.log.info("%s: %s%s · %s elapsed · ETA %s", st.stage, st.summary(),
                          f" ({', '.join(running[:5])}{' ...' if len(running) > 5 else ''})" if running else "",
                          format_seconds(event.time - st.started), format_seconds(st.eta_s(event.time)))
        if event.kind == "start":
            self.log.info("%s: %d items, %d workers", event.stage, event.total, event.workers)
        elif event.kind == "item_retry":
            self.log.info("%s: %s attempt %d failed (%s); retrying in %.1f s", event.stage, event.item,
                          event.attempt, event.error, event.delay_s or 0.0)
        elif event.kind == "item_end":
            where = f"[{st.finished}/{st.total}]"
            if event.status == "failed":
                self.log.warning("%s %s failed %s: %s", event.stage, where, event.item, event.error)
            elif event.status == "skipped":
                self.log.debug("%s %s skipped %s (already done)", event.stage, where, event.item)
            else:
                self.log.info("%s %s done %s (%.1f s)", event.stage, where, event.item, event.seconds_taken or 0.0)
        elif event.kind == "end":
            self.log.info("%s: finished %s in %s", event.stage, st.summary(),
                          format_seconds(event.time - st.started))


def in_notebook() -> bool:
    """``True`` inside a Jupyter kernel (IPython with a kernel attached)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    shell = ipython.get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def make_reporter(progress: Any, *, stream: TextIO | None = None) -> Reporter:
    """Turn a ``progress=`` argument into a reporter.

    Parameters
    ----------
    progress : {"auto", "widget", "text", "log", None} or callable
        See the module docstring; a callable is used as the reporter itself.
    stream : file-like, optional
        Where ``"auto"`` checks for a TTY and ``"text"`` writes (default ``sys.stderr``).
    """
    if callable(progress):
        return progress
    if progress is None or progress is False or progress == "none":
        return silent
    if progress == "auto":
        out = stream if stream is not None else sys.stderr
        if in_notebook() and importlib.util.find_spec("ipywidgets") is not None:
            progress = "widget"
        elif hasattr(out, "isatty") and out.isatty():
            progress = "text"
        else:
            progress = "log"
    if progress == "widget":
        from .progress_widget import WidgetReporter

        return WidgetReporter()
    if progress == "text":
        return TextReporter(stream=stream)
    if progress == "log":
        return LogReporter()
    raise ConfigError(f"Unknown progress={progress!r}; use 'auto', 'widget', 'text', 'log', None or a callable "
                      "taking a ProgressEvent.")


def silent(event: ProgressEvent) -> None:
    """The silent reporter."""
