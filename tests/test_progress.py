from __future__ import annotations

import io
import logging
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from soundforge.catalog import Catalog
from soundforge.errors import ConfigError
from soundforge.progress import (
    LogReporter,
    ProgressEvent,
    ProgressState,
    StateReporter,
    TextReporter,
    format_seconds,
    make_reporter,
)
from soundforge.runner import StageSpec, WorkItem, run_stage
from tests import runner_work as work


def events_for(n: int, *, fail: set[int] = frozenset(), step_s: float = 0.001) -> list[ProgressEvent]:  # type: ignore[assignment]
    """A synthetic run: start, then per item start/progress/end, then end; times advance by ``step_s``."""
    t = 100.0
    out = [ProgressEvent("start", "demo", time=t, total=n, workers=2)]
    for i in range(n):
        for kind, extra in [("item_start", {"attempt": 1}), ("item_progress", {"percent": 50.0, "message": "half"}),
                            ("item_end", {"attempt": 1, "status": "failed" if i in fail else "done",
                                          "error": "AudioError: bad" if i in fail else None})]:
            t += step_s
            out.append(ProgressEvent(kind, "demo", time=t, item=f"t{i}", **extra))
    out.append(ProgressEvent("end", "demo", time=t + step_s))
    return out


class Counting(StateReporter):
    def render(self, *, final: bool) -> None:
        pass


def test_state_counts_and_eta() -> None:
    state = ProgressState()
    evs = events_for(10, fail={3})
    for e in evs[:16]:  # start + 5 items
        state.apply(e)
    assert state.counts == {"done": 4, "skipped": 0, "failed": 1}
    assert state.finished == 5
    assert state.total == 10
    eta = state.eta_s(now=evs[15].time)
    assert eta is not None
    assert eta == pytest.approx(5 * (evs[15].time - evs[1].time) / 5, rel=0.2)
    assert state.items["t3"].status == "failed"
    assert state.items["t3"].message == "AudioError: bad"
    assert "5/10 · 4 done · 0 skipped · 1 failed" in state.summary()


def test_redraws_are_throttled_to_ten_per_second() -> None:
    reporter = Counting(interval_s=0.1)
    for e in events_for(1000, step_s=0.001):  # 3,000 item events over 3 s
        reporter(e)
    assert reporter.state.finished == 1000
    assert 25 <= reporter.renders <= 35  # ~10 per second, plus start and end


def test_text_reporter_draws_a_bar_and_lists_failures() -> None:
    out = io.StringIO()
    reporter = TextReporter(stream=out, width=10)
    for e in events_for(4, fail={1}):
        reporter(e)
    text = out.getvalue()
    last = text.rsplit("\r", 1)[-1]
    assert last.startswith("demo [##########] 100% 4/4 · 3 done · 0 skipped · 1 failed in ")
    assert "failed t1: AudioError: bad" in text


def test_log_reporter_writes_lines(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="soundforge.runner"):
        reporter = LogReporter()
        for e in events_for(3, fail={2}):
            reporter(e)
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0] == "demo: 3 items, 2 workers"
    assert messages[1].startswith("demo [1/3] done t0")
    assert any(m.startswith("demo [3/3] failed t2: AudioError: bad") for m in messages)
    assert messages[-1].startswith("demo: finished 3/3 · 2 done · 0 skipped · 1 failed in")
    assert [r.levelname for r in caplog.records].count("WARNING") == 1


def test_log_reporter_prints_periodic_status_lines(caplog: pytest.LogCaptureFixture) -> None:
    """A long item in a non-terminal is not silence: ticks give a line every ``every_s`` with counts and ETA."""
    evs = [ProgressEvent("start", "separate", time=0.0, total=3, workers=1),
           ProgressEvent("item_start", "separate", time=0.1, item="t0", attempt=1),
           ProgressEvent("item_end", "separate", time=5.0, item="t0", attempt=1, status="done"),
           ProgressEvent("item_start", "separate", time=5.1, item="t1", attempt=1)]
    evs += [ProgressEvent("tick", "separate", time=5.5 + 0.5 * k) for k in range(50)]
    evs.insert(6, ProgressEvent("item_progress", "separate", time=6.0, item="t1", percent=40.0))
    with caplog.at_level(logging.INFO, logger="soundforge.runner"):
        reporter = LogReporter(every_s=10.0)
        for e in evs:
            reporter(e)
    periodic = [r.getMessage() for r in caplog.records if "elapsed" in r.getMessage()]
    assert len(periodic) == 2  # at 15 s and 25 s of a 30 s stretch without items finishing
    assert periodic[0].startswith("separate: 1/3 · 1 done · 0 skipped · 0 failed · 1 running (t1 40%) · 0:15 elapsed")
    assert re.search(r"ETA \d+:\d\d$", periodic[0])


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_auto_picks_text_on_a_tty_and_log_otherwise() -> None:
    assert isinstance(make_reporter("auto", stream=Tty()), TextReporter)
    assert isinstance(make_reporter("auto", stream=io.StringIO()), LogReporter)
    assert isinstance(make_reporter("text"), TextReporter)
    events: list[Any] = []
    assert make_reporter(events.append) == events.append
    make_reporter(None)(ProgressEvent("start", "x"))  # silent
    with pytest.raises(ConfigError, match="Unknown progress"):
        make_reporter("loud")


def test_format_seconds() -> None:
    assert format_seconds(None) == "?"
    assert format_seconds(65) == "1:05"
    assert format_seconds(3723) == "1:02:03"


def test_widget_reporter_renders_live_table_and_final_html(capsys: pytest.CaptureFixture[str]) -> None:
    from soundforge.progress.widget import WidgetReporter, final_html, items_html

    reporter = WidgetReporter(rows=3)
    evs = events_for(5, fail={0})
    for e in evs[:-1]:
        reporter(e)
    assert reporter.bar.value < 5  # throttled: the last events came within 0.1 s
    reporter(ProgressEvent("tick", "demo", time=evs[-1].time + 0.2))
    assert reporter.bar.value == 5
    assert reporter.bar.max == 5
    assert "5/5 · 4 done · 0 skipped · 1 failed" in reporter.header.value
    table = items_html(reporter.state, limit=3)
    assert table.index("t0") < table.index(">done<")  # failures first, then finished
    assert "... and 2 more" in table
    result = pd.DataFrame({"item": ["<b>x</b>"], "status": ["done"]})
    reporter(ProgressEvent("end", "demo", time=evs[-1].time, result=result))
    assert reporter.bar.bar_style == "danger"
    html = final_html(reporter.state, result)
    assert "&lt;b&gt;x&lt;/b&gt;" in html
    assert "<table" in html
    nested = pd.DataFrame({"item": ["a"], "stems": [[{"stem": "vocals", "path": "/very/long"}] * 4],
                           "meta": [{"k": 1}], "n": [1.23456]})
    shown = final_html(reporter.state, nested)
    assert "[4 items]" in shown
    assert "{1 keys}" in shown
    assert "1.235" in shown
    assert "/very/long" not in shown


def test_reporter_sees_a_real_run(tmp_path: Path) -> None:
    out = io.StringIO()
    spec = StageSpec(name="real", work=work.flaky, workers=2, columns={"value": "Int64"}, key="item")
    items = [WorkItem(f"i{i}", payload={"fail_until": 5 if i == 2 else 0, "transient": False}) for i in range(6)]
    reporter = TextReporter(stream=out)
    df = run_stage(spec, items, catalog=Catalog(tmp_path / "c.sqlite"), progress=reporter)
    assert reporter.state.counts == df["status"].value_counts().reindex(
        ["done", "skipped", "failed"], fill_value=0).to_dict()
    assert "6/6 · 5 done · 0 skipped · 1 failed" in out.getvalue()


def test_widget_links_the_executor_dashboard_while_running(capsys: pytest.CaptureFixture[str]) -> None:
    from soundforge.progress.widget import WidgetReporter, final_html

    reporter = WidgetReporter()
    reporter(ProgressEvent("start", "demo", time=1.0, total=1, workers=2, link="http://10.0.0.5:8787/status?a=1&b=2"))
    assert ('<a href="http://10.0.0.5:8787/status?a=1&amp;b=2" target="_blank" rel="noopener">dashboard</a>'
            in reporter.header.value)
    reporter(ProgressEvent("end", "demo", time=2.0))
    assert "dashboard" not in final_html(reporter.state, None)  # an executed notebook keeps no dead link
    no_link = WidgetReporter()
    no_link(ProgressEvent("start", "demo", time=1.0, total=1, workers=2))
    assert "dashboard" not in no_link.header.value
