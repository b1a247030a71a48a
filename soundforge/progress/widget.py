"""The notebook reporter: an ipywidgets panel while a stage runs, the result table as HTML when it ends.

While running: a header (stage, counts, elapsed, ETA), a progress bar and a
table of the items that matter now (running ones with their percent and
message, then failures, then the latest finished), redrawn at most 10 times a
second. At the end the panel's output is *replaced* (same display id) by the
final result table as plain HTML, so a notebook executed by papermill/nbval or
viewed on GitHub shows the final state rather than a frozen bar; the widget
models keep their final state too (saved with ``store_widget_state``).
"""

from __future__ import annotations

import html
import time
from typing import Any

from .events import ItemState, ProgressState, StateReporter, format_seconds

__all__ = ["WidgetReporter", "final_html", "final_text", "items_html"]

_ORDER = {"running": 0, "retrying": 1, "failed": 2, "done": 3, "skipped": 4, "pending": 5}
_COLOURS = {"running": "#1f77b4", "retrying": "#ff7f0e", "failed": "#d62728", "done": "#2ca02c",
            "skipped": "#7f7f7f", "pending": "#7f7f7f"}


def items_html(state: ProgressState, *, limit: int = 25) -> str:
    """HTML table of the items worth showing now (running, retrying, failed, latest finished)."""
    shown = sorted((i for i in state.items.values() if i.status != "pending"),
                   key=lambda i: (_ORDER.get(i.status, 9), -i.changed))
    rows = [_item_row(i) for i in shown[:limit]]
    more = len(shown) - limit
    if more > 0:
        rows.append(f'<tr><td colspan="4" style="text-align:left">... and {more} more</td></tr>')
    head = "<tr><th>item</th><th>status</th><th>%</th><th>message</th></tr>"
    return f'<table class="soundforge-items">{head}{"".join(rows)}</table>'


def _item_row(item: ItemState) -> str:
    pct = "" if item.percent is None else f"{item.percent:.0f}"
    colour = _COLOURS.get(item.status, "#000")
    return (f"<tr><td>{html.escape(item.item)}</td><td style='color:{colour}'>{item.status}</td>"
            f"<td>{pct}</td><td style='text-align:left'>{html.escape(item.message[:160])}</td></tr>")


def _header(state: ProgressState, *, final: bool) -> str:
    now = state.ended if final and state.ended is not None else time.monotonic()
    timing = (f"{format_seconds(now - state.started)} elapsed" if final
              else f"{format_seconds(now - state.started)} elapsed · ETA {format_seconds(state.eta_s(now))}")
    link = "" if final or not state.link else (f' · <a href="{html.escape(state.link, quote=True)}" '
                                               'target="_blank" rel="noopener">dashboard</a>')
    return f"<b>{html.escape(state.stage)}</b> {html.escape(state.summary())} · {timing}{link}"


def _compact(value: Any) -> Any:
    """A nested value (a stage's list of stems, a dict) as a short summary; anything else unchanged."""
    if isinstance(value, (list, tuple)):
        return f"[{len(value)} items]"
    if isinstance(value, dict):
        return f"{{{len(value)} keys}}"
    return value


def _shown(result: Any) -> Any:
    """The result with floats rounded, nested values summarised and missing values blank, ready to print."""
    floats = [c for c in result.columns if str(result[c].dtype).startswith("float")]
    rounded = result.round(dict.fromkeys(floats, 3))
    nested = [c for c in rounded.columns if rounded[c].dtype == object]
    if nested:
        rounded = rounded.assign(**{c: rounded[c].map(_compact) for c in nested})
    return rounded.astype(object).where(rounded.notna(), "")


def final_html(state: ProgressState, result: Any, *, max_rows: int = 100) -> str:
    """The final display: a summary line and the result DataFrame as an HTML table."""
    table = ""
    if result is not None and hasattr(result, "to_html"):
        table = _shown(result).to_html(index=False, max_rows=max_rows, border=0, classes="soundforge-result")
    return f'<div class="soundforge-run"><p>{_header(state, final=True)}</p>{table}</div>'


def final_text(state: ProgressState, result: Any, *, max_rows: int = 20) -> str:
    """Plain-text twin of :func:`final_html` (for consoles and text-only viewers)."""
    head = f"{state.stage}: {state.summary()}"
    if result is None or not hasattr(result, "to_string") or result.empty:
        return head
    return head + "\n" + _shown(result).to_string(index=False, max_rows=max_rows, max_colwidth=50)


class WidgetReporter(StateReporter):
    """ipywidgets panel: header, bar, per-item table; replaced by :func:`final_html` at the end.

    Parameters
    ----------
    interval_s : float
        Minimum seconds between redraws (default 0.1: at most 10 updates a second).
    rows : int
        Items shown in the live table.
    """

    def __init__(self, *, interval_s: float = 0.1, rows: int = 25) -> None:
        super().__init__(interval_s=interval_s)
        import ipywidgets as widgets

        self.rows = rows
        self.header = widgets.HTML()
        self.bar = widgets.FloatProgress(value=0.0, min=0.0, max=1.0, bar_style="info",
                                         layout=widgets.Layout(width="60%"))
        self.table = widgets.HTML()
        self.box = widgets.VBox([self.header, self.bar, self.table])
        self._handle: Any = None

    def render(self, *, final: bool) -> None:
        st = self.state
        if self._handle is None:
            from IPython.display import display

            self._handle = display(self.box, display_id=True)
        self.bar.max = max(1, st.total)
        self.bar.value = st.finished
        self.header.value = _header(st, final=final)
        self.table.value = items_html(st, limit=self.rows)
        if final:
            self.bar.bar_style = "danger" if st.counts["failed"] else "success"
            if self._handle is not None:
                self._handle.update({"text/html": final_html(st, st.result),
                                     "text/plain": final_text(st, st.result)}, raw=True)
