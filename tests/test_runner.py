from __future__ import annotations

import math
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from soundforge.catalog import Catalog
from soundforge.errors import AudioError, CircuitOpen, ConfigError, InvalidIdError, SpotifyUnavailable
from soundforge.progress import ProgressEvent
from soundforge.runner import RESULT_COLUMNS, Skipped, StageSpec, WorkItem, run_stage
from soundforge.runner.context import ItemContext
from soundforge.runner.resilience import BreakerBoard, RetryPolicy
from tests import runner_work as work

FAST = RetryPolicy(attempts=3, initial_s=0.01, max_s=0.05, jitter_s=0.0)
VALUE = {"value": "Int64"}


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    cat = Catalog(tmp_path / "catalog.sqlite")
    with cat.transaction() as conn:  # a stage-owned table for record() tests (no unique key on purpose)
        conn.execute("CREATE TABLE results (item TEXT NOT NULL, value INTEGER)")
    return cat


def spec(fn: Any = work.double, **kw: Any) -> StageSpec:
    args: dict[str, Any] = {"name": "test", "work": fn, "executor": "thread", "workers": 2,
                            "columns": {"value": "Int64"}, "key": "item"}
    return StageSpec(**{**args, **kw})


def jobs(catalog: Catalog) -> list[dict[str, Any]]:
    return catalog.query("SELECT * FROM jobs ORDER BY job_id")


def record_value(conn: sqlite3.Connection, item: WorkItem, result: dict[str, Any]) -> None:
    conn.execute("INSERT INTO results (item, value) VALUES (?, ?)", (item.key, result["value"]))


def test_results_one_row_per_item_in_order_with_dtypes(catalog: Catalog) -> None:
    df = run_stage(spec(), ["3", "1", "2", "1"], catalog=catalog, progress=None)
    assert list(df.columns) == ["item", *RESULT_COLUMNS, "value"]
    assert df["item"].tolist() == ["3", "1", "2"]  # duplicates run once, input order kept
    assert df["status"].tolist() == ["done"] * 3
    assert df["value"].tolist() == [6, 2, 4]
    assert df["attempts"].tolist() == [1, 1, 1]
    assert df["error"].isna().all()
    assert (df["seconds_taken"] >= 0).all()
    assert str(df["status"].dtype) == "string"
    assert str(df["attempts"].dtype) == "Int64"
    rows = jobs(catalog)
    assert [(r["item"], r["status"], r["attempts"]) for r in rows] == [("3", "done", 1), ("1", "done", 1),
                                                                       ("2", "done", 1)]
    assert all(r["finished_at"] and r["duration_s"] is not None for r in rows)


def test_empty_run_returns_empty_frame_with_columns(catalog: Catalog) -> None:
    events: list[ProgressEvent] = []
    df = run_stage(spec(), [], catalog=catalog, progress=events.append)
    assert df.empty
    assert list(df.columns) == ["item", *RESULT_COLUMNS, "value"]
    assert [e.kind for e in events] == ["start", "end"]


def test_progress_events_in_order_and_final_counts_match(catalog: Catalog) -> None:
    events: list[ProgressEvent] = []
    items = [WorkItem("ok1", payload={"fail_until": 0}), WorkItem("retry", payload={"fail_until": 1}),
             WorkItem("bad", payload={"fail_until": 9, "transient": False}), WorkItem("ok2", payload={})]
    run_stage(spec(work.flaky), items[:1], catalog=catalog, progress=None)  # ok1 done before: skipped now
    df = run_stage(spec(work.flaky, max_attempts=3), items, catalog=catalog, progress=events.append, retry=FAST)
    events = [e for e in events if e.kind != "tick"]
    kinds = [e.kind for e in events]
    assert kinds[0] == "start"
    assert kinds[-1] == "end"
    assert kinds.count("start") == kinds.count("end") == 1
    assert events[0].total == 4
    for key in ["retry", "bad", "ok2"]:
        mine = [e.kind for e in events if e.item == key]
        assert mine[0] == "item_start"
        assert mine[-1] == "item_end"
        assert mine.count("item_end") == 1
    assert [e.kind for e in events if e.item == "retry"] == ["item_start", "item_retry", "item_start", "item_end"]
    assert [e.kind for e in events if e.item == "ok1"] == ["item_end"]
    ends = {e.item: e.status for e in events if e.kind == "item_end"}
    assert ends == dict(zip(df["item"], df["status"], strict=True))
    assert df.set_index("item")["status"].to_dict() == {"ok1": "skipped", "retry": "done", "bad": "failed",
                                                        "ok2": "done"}
    assert events[-1].result is not None
    assert events[-1].result["status"].tolist() == df["status"].tolist()


def test_item_progress_reports_reach_the_reporter(catalog: Catalog) -> None:
    events: list[ProgressEvent] = []
    run_stage(spec(workers=1), ["5"], catalog=catalog, progress=events.append)
    progress = [(e.percent, e.message) for e in events if e.kind == "item_progress"]
    assert progress[0] == (0.0, "step 0")
    assert progress[-1] == (100.0, "step 100")  # the last report always arrives
    assert [p for p, _ in progress] == sorted(p for p, _ in progress)


def test_one_failing_item_does_not_stop_the_others(catalog: Catalog) -> None:
    items = [WorkItem("a", payload={}), WorkItem("b", payload={"fail_until": 5, "transient": False}),
             WorkItem("c", payload={})]
    df = run_stage(spec(work.flaky, max_attempts=3), items, catalog=catalog, progress=None, retry=FAST)
    row = df.set_index("item").loc["b"]
    assert row["status"] == "failed"
    assert row["attempts"] == 1
    assert row["error"] == "AudioError: bad audio in b"
    assert df["status"].tolist() == ["done", "failed", "done"]
    failed = [r for r in jobs(catalog) if r["status"] == "failed"]
    assert [(r["item"], r["error_type"]) for r in failed] == [("b", "AudioError")]


def test_transient_errors_succeed_on_retry_with_one_job_row_per_attempt(catalog: Catalog) -> None:
    started = time.monotonic()
    policy = RetryPolicy(attempts=3, initial_s=0.1, jitter_s=0.0)
    df = run_stage(spec(work.flaky, max_attempts=3), [WorkItem("x", payload={"fail_until": 2})], catalog=catalog,
                   progress=None, retry=policy)
    assert df["status"].item() == "done"
    assert df["attempts"].item() == 3
    assert df["value"].item() == 3
    assert time.monotonic() - started >= 0.1 + 0.2  # backoff waits were honoured
    rows = jobs(catalog)
    assert [(r["attempts"], r["status"], r["error_type"]) for r in rows] == [
        (1, "failed", "SpotifyUnavailable"), (2, "failed", "SpotifyUnavailable"), (3, "done", None)]


def test_transient_errors_give_up_after_the_stage_attempt_limit(catalog: Catalog) -> None:
    df = run_stage(spec(work.flaky, max_attempts=2), [WorkItem("x", payload={"fail_until": 9})], catalog=catalog,
                   progress=None, retry=RetryPolicy(attempts=2, initial_s=0.01, jitter_s=0))
    assert df["status"].item() == "failed"
    assert df["attempts"].item() == 2
    assert "503 on attempt 2" in df["error"].item()


def test_stage_max_attempts_is_the_default_retry_limit(catalog: Catalog) -> None:
    fast = RetryPolicy(initial_s=0.01, jitter_s=0.0)
    df = run_stage(spec(work.flaky, max_attempts=4, retry=fast), [WorkItem("x", payload={"fail_until": 3})],
                   catalog=catalog, progress=None)
    assert df["attempts"].item() == 4
    assert df["status"].item() == "done"


def test_hanging_thread_item_times_out_and_others_finish(catalog: Catalog) -> None:
    started = time.monotonic()
    df = run_stage(spec(work.cooperative_hang, workers=2), ["ok", "hang", "ok2"], catalog=catalog, progress=None,
                   timeout=0.5)
    assert time.monotonic() - started < 5
    by = df.set_index("item")
    assert by.loc["hang", "status"] == "failed"
    assert by.loc["hang", "error"].startswith("ItemTimeout: test item 'hang' ran past its 0.5 s time limit")
    assert by.loc["hang", "seconds_taken"] >= 0.5
    assert by.loc["ok2", "status"] == "failed"  # "ok2" is not "ok": it hangs too
    assert by.loc["ok", "status"] == "done"
    assert [r["status"] for r in jobs(catalog)].count("running") == 0


def test_timeouts_are_retried_as_transient(catalog: Catalog) -> None:
    df = run_stage(spec(work.cooperative_hang, max_attempts=2), ["hang"], catalog=catalog, progress=None,
                   timeout=0.2, retry=RetryPolicy(attempts=2, initial_s=0.01, jitter_s=0))
    assert df["attempts"].item() == 2
    assert [r["error_type"] for r in jobs(catalog)] == ["ItemTimeout", "ItemTimeout"]


def test_rerun_skips_done_items_and_force_redoes_them(catalog: Catalog) -> None:
    first = run_stage(spec(), ["1", "2"], catalog=catalog, progress=None, record=record_value)
    again = run_stage(spec(), ["1", "2", "3"], catalog=catalog, progress=None, record=record_value)
    assert first["status"].tolist() == ["done", "done"]
    assert again["status"].tolist() == ["skipped", "skipped", "done"]
    assert again["attempts"].tolist() == [0, 0, 1]
    forced = run_stage(spec(), ["1"], catalog=catalog, progress=None, force=True, record=record_value)
    assert forced["status"].tolist() == ["done"]
    counts = catalog.query("SELECT item, COUNT(*) AS n FROM results GROUP BY item ORDER BY item")
    assert [(r["item"], r["n"]) for r in counts] == [("1", 2), ("2", 1), ("3", 1)]


def test_changed_params_version_or_input_redo_items(catalog: Catalog) -> None:
    run_stage(spec(), [WorkItem("1", input_hash="h1")], catalog=catalog, progress=None, params={"sr": 22050})
    status = lambda df: df["status"].item()  # noqa: E731
    assert status(run_stage(spec(), [WorkItem("1", input_hash="h1")], catalog=catalog, progress=None,
                            params={"sr": 22050})) == "skipped"
    assert status(run_stage(spec(), [WorkItem("1", input_hash="h1")], catalog=catalog, progress=None,
                            params={"sr": 44100})) == "done"
    assert status(run_stage(spec(), [WorkItem("1", input_hash="h2")], catalog=catalog, progress=None,
                            params={"sr": 22050})) == "done"
    assert status(run_stage(spec(version="2"), [WorkItem("1", input_hash="h2")], catalog=catalog, progress=None,
                            params={"sr": 22050})) == "done"


def test_existing_hook_fills_skipped_rows_or_asks_for_a_redo(catalog: Catalog) -> None:
    run_stage(spec(), ["1", "2"], catalog=catalog, progress=None)
    outputs = {"1": {"value": 42}}  # item 2's output is "missing"
    df = run_stage(spec(), ["1", "2"], catalog=catalog, progress=None, existing=lambda item: outputs.get(item.key))
    assert df["status"].tolist() == ["skipped", "done"]
    assert df["value"].tolist() == [42, 4]


def _maybe_skip(payload: Any, ctx: ItemContext) -> Any:
    return Skipped({"value": 0}, reason="already there") if payload == "skip" else {"value": 1}


def test_work_can_return_skipped(catalog: Catalog) -> None:
    df = run_stage(spec(_maybe_skip), [WorkItem("a", payload="skip"), WorkItem("b", payload="x")],
                   catalog=catalog, progress=None, record=record_value)
    assert df["status"].tolist() == ["skipped", "done"]
    assert df["attempts"].tolist() == [1, 1]
    assert [r["item"] for r in catalog.query("SELECT item FROM results")] == ["b"]  # record not called for skips
    again = run_stage(spec(_maybe_skip), ["a", "b"], catalog=catalog, progress=None)
    assert again["status"].tolist() == ["skipped", "skipped"]  # both count as done for the jobs table


def test_record_runs_in_the_job_transaction(catalog: Catalog) -> None:
    def record_then_fail(conn: sqlite3.Connection, item: WorkItem, result: dict[str, Any]) -> None:
        record_value(conn, item, result)
        if item.key == "2":
            raise AudioError("cannot record item 2", reason="corrupt")

    df = run_stage(spec(), ["1", "2"], catalog=catalog, progress=None, record=record_then_fail)
    assert df["status"].tolist() == ["done", "failed"]
    assert df["error"].iloc[1] == "AudioError: cannot record item 2"
    assert [r["item"] for r in catalog.query("SELECT item FROM results")] == ["1"]  # item 2's insert rolled back
    assert [(r["item"], r["status"]) for r in jobs(catalog)] == [("1", "done"), ("2", "failed")]


def test_errors_raise_raises_the_first_failure_and_cancels_the_rest(catalog: Catalog) -> None:
    items = [WorkItem("slow", payload="hang"), WorkItem("bad", payload={"fail_until": 1, "transient": False}),
             *[WorkItem(f"later{i}", payload={}) for i in range(3)]]

    def mixed(payload: Any, ctx: ItemContext) -> Any:
        if payload == "hang":
            return work.cooperative_hang(payload, ctx)
        return work.flaky(payload, ctx)

    with pytest.raises(AudioError, match="bad audio in bad"):
        run_stage(spec(mixed, workers=2), items, catalog=catalog, progress=None, errors="raise")
    rows = jobs(catalog)
    assert {r["item"]: r["status"] for r in rows} == {"slow": "failed", "bad": "failed"}
    assert {r["item"]: r["error_type"] for r in rows} == {"slow": "ItemCancelled", "bad": "AudioError"}


def test_interrupt_cancels_running_items_and_leaves_no_running_rows(catalog: Catalog) -> None:
    seen: list[str] = []

    def interrupting(event: ProgressEvent) -> None:
        seen.append(event.kind)
        if event.kind == "item_end" and event.item == "ok":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_stage(spec(work.cooperative_hang, workers=2), ["hang", "ok", "never"], catalog=catalog,
                  progress=interrupting)
    rows = {r["item"]: (r["status"], r["error_type"]) for r in jobs(catalog)}
    assert rows == {"hang": ("failed", "ItemCancelled"), "ok": ("done", None)}
    assert seen[-1] == "end"


def test_open_breaker_fails_items_fast(catalog: Catalog) -> None:
    board = BreakerBoard(threshold=5, recovery_s=30.0)
    items = [WorkItem(f"i{i}", payload={"fail_until": 9}) for i in range(8)]
    df = run_stage(spec(work.flaky, workers=1, service="spotify"), items, catalog=catalog, progress=None,
                   breakers=board)
    assert df["status"].tolist() == ["failed"] * 8
    assert df["error"].str.startswith("SpotifyUnavailable").sum() == 5
    fast = df[df["error"].str.startswith("CircuitOpen")]
    assert len(fast) == 3
    assert "spotify circuit breaker is open" in fast["error"].iloc[0]
    assert (fast["seconds_taken"] == 0).all()
    assert board["spotify"].state == "open"
    assert [r["error_type"] for r in jobs(catalog)].count("CircuitOpen") == 3


def test_breaker_half_open_probe_closes_it_again(catalog: Catalog) -> None:
    from tests.test_resilience import FakeClock

    clock = FakeClock()
    board = BreakerBoard(threshold=2, recovery_s=30.0, clock=clock)
    down = [WorkItem(f"d{i}", payload={"fail_until": 9}) for i in range(3)]
    df = run_stage(spec(work.flaky, workers=1, service="svc"), down, catalog=catalog, progress=None,
                   breakers=board)
    assert df["error"].str.startswith("CircuitOpen").tolist() == [False, False, True]
    clock.advance(30.0)
    up = [WorkItem("up", payload={}), WorkItem("up2", payload={})]
    df = run_stage(spec(work.flaky, workers=1, service="svc"), up, catalog=catalog, progress=None, breakers=board)
    assert df["status"].tolist() == ["done", "done"]
    assert board["svc"].state == "closed"


def test_stage_code_shares_the_run_breaker_through_the_context(catalog: Catalog) -> None:
    board = BreakerBoard(threshold=2)
    df = run_stage(spec(work.use_breaker, workers=1), [WorkItem("a", "down"), WorkItem("b", "down"),
                                                      WorkItem("c", "ok")],
                   catalog=catalog, progress=None, breakers=board)
    assert df["error"].tolist()[:2] == ["SpotifyUnavailable: service down"] * 2
    assert df["error"].iloc[2].startswith("CircuitOpen: The svc circuit breaker is open")
    assert board["svc"].failures == 2


def test_stale_running_rows_of_dead_runs_are_marked_interrupted(catalog: Catalog) -> None:
    dead_pid = 2**22 + 12345  # above Linux's default pid_max: never alive
    with catalog.transaction() as conn:
        conn.execute("INSERT INTO jobs (run_id, stage, item, params_hash, status, attempts, started_at) "
                     f"VALUES ('test-20260101T000000-{dead_pid}-abcdef', 'test', '1', 'x', 'running', 1, "
                     "'2026-01-01T00:00:00+00:00')")
        conn.execute("INSERT INTO jobs (run_id, stage, item, params_hash, status, attempts, started_at) "
                     f"VALUES ('test-20260101T000000-{os.getpid()}-abcdef', 'test', '2', 'x', 'running', 1, "
                     "'2026-01-01T00:00:00+00:00')")
    run_stage(spec(), ["1"], catalog=catalog, progress=None)
    rows = {(r["item"], r["run_id"].endswith("abcdef")): (r["status"], r["error_type"]) for r in jobs(catalog)}
    assert rows[("1", True)] == ("failed", "Interrupted")
    assert rows[("2", True)] == ("running", None)  # this process is alive: maybe another run in it


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"workers": 0}, "workers must be an integer >= 1"),
    ({"errors": "ignore"}, "errors must be 'record' or 'raise'"),
    ({"timeout": -1}, "timeout must be a number of seconds > 0"),
    ({"progress": "fancy"}, "Unknown progress='fancy'"),
    ({"executor": "gpu"}, "Unknown executor 'gpu'"),
])
def test_bad_arguments_fail_before_any_work(catalog: Catalog, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        run_stage(spec(), ["1"], catalog=catalog, **{"progress": None, **kwargs})
    assert jobs(catalog) == []


def test_no_timeout_with_inf(catalog: Catalog) -> None:
    df = run_stage(spec(timeout_s=0.001), ["1"], catalog=catalog, progress=None, timeout=math.inf)
    assert df["status"].item() == "done"


def test_bad_specs_are_refused() -> None:
    with pytest.raises(InvalidIdError, match="stage name"):
        StageSpec(name="a/b", work=work.double)
    with pytest.raises(ConfigError, match="runner's own"):
        StageSpec(name="s", work=work.double, columns={"seconds_taken": "float64"})
    with pytest.raises(ConfigError, match="executor must be"):
        StageSpec(name="s", work=work.double, executor="no such")


def test_bad_return_value_fails_the_item(catalog: Catalog) -> None:
    df = run_stage(spec(lambda p, ctx: 42), ["1"], catalog=catalog, progress=None)
    assert df["status"].item() == "failed"
    assert "returned a int" in df["error"].item()


def test_circuit_open_from_work_is_not_counted_twice(catalog: Catalog) -> None:
    def refuse(payload: Any, ctx: ItemContext) -> Any:
        raise CircuitOpen("open", service="other", retry_at=0.0)

    board = BreakerBoard(threshold=1)
    run_stage(spec(refuse, service="svc"), ["1"], catalog=catalog, progress=None, breakers=board)
    assert board["svc"].state == "closed"


def test_transient_error_from_a_thread_keeps_its_traceback(catalog: Catalog) -> None:
    with pytest.raises(SpotifyUnavailable) as info:
        run_stage(spec(work.flaky), [WorkItem("x", payload={"fail_until": 1})], catalog=catalog, progress=None,
                  errors="raise")
    assert info.value.__traceback__ is not None


def test_a_broken_display_does_not_sink_the_run(catalog: Catalog, caplog: pytest.LogCaptureFixture) -> None:
    def broken(event: ProgressEvent) -> None:
        raise RuntimeError("widget exploded")

    df = run_stage(spec(), ["1", "2"], catalog=catalog, progress=broken)
    assert df["status"].tolist() == ["done", "done"]
    assert "progress display failed (RuntimeError: widget exploded)" in caplog.text
