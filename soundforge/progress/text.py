"""Reporters for terminals and logs: a self-updating line (``"text"``) and log lines (``"log"``)."""

from __future__ import annotations

import logging
import math
import sys
import time
from typing import TextIO

from .events import ProgressEvent, StateReporter, format_seconds, logger

__all__ = ["LogReporter", "TextReporter"]


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
            self.log.info("%s: %d items, %d workers%s", event.stage, event.total, event.workers,
                          f" (dashboard: {event.link})" if event.link else "")
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
