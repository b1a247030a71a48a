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
import sys
from typing import Any, TextIO

from ..errors import ConfigError
from .events import (
    EVENT_KINDS,
    ItemState,
    ProgressEvent,
    ProgressState,
    Reporter,
    StateReporter,
    format_seconds,
    logger,
    silent,
)
from .text import LogReporter, TextReporter

__all__ = ["EVENT_KINDS", "ItemState", "LogReporter", "ProgressEvent", "ProgressState", "Reporter", "StateReporter",
           "TextReporter", "format_seconds", "in_notebook", "logger", "make_reporter", "silent"]


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
        from .widget import WidgetReporter

        return WidgetReporter()
    if progress == "text":
        return TextReporter(stream=stream)
    if progress == "log":
        return LogReporter()
    raise ConfigError(f"Unknown progress={progress!r}; use 'auto', 'widget', 'text', 'log', None or a callable "
                      "taking a ProgressEvent.")
