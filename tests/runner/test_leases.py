"""No work done twice: a run waits for items another live run holds, and takes over those of a dead one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from soundforge.catalog import Catalog
from soundforge.runner import StageSpec, WorkItem, run_stage
from soundforge.runner.jobs import DONE_ELSEWHERE, JobStore

RUN = """
import sys
from soundforge.catalog import Catalog
from soundforge.runner import StageSpec, WorkItem, run_stage
from tests import runner_work as work
spec = StageSpec(name="slow", work=work.timed, executor="thread", workers=1, columns={"t0": "float64", "t1": "float64"})
items = [WorkItem(key=k, payload=float(sys.argv[2])) for k in sys.argv[3].split(",")]
df = run_stage(spec, items, catalog=Catalog(sys.argv[1]), progress=None)
print(",".join(df["status"]))
"""


def _spec() -> StageSpec:
    from tests import runner_work as work

    return StageSpec(name="slow", work=work.timed, executor="thread", workers=1,
                     columns={"t0": "float64", "t1": "float64"})


def _start(catalog: Catalog, seconds: float, keys: list[str]) -> subprocess.Popen[str]:
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, "-c", RUN, str(catalog.path), str(seconds), ",".join(keys)],
                            stdout=subprocess.PIPE, text=True, env=env, cwd=root)


def _wait_running(catalog: Catalog, n: int = 1, limit_s: float = 30.0) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if len(catalog.query("SELECT 1 FROM jobs WHERE status = 'running'")) >= n:
            return
        time.sleep(0.05)
    raise AssertionError("the other run never started an item")


def test_two_runs_on_the_same_items_do_each_item_once(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "catalog.sqlite")
    keys = ["a", "b", "c"]
    other = _start(catalog, 1.0, keys)
    _wait_running(catalog)
    mine = run_stage(_spec(), [WorkItem(key=k, payload=1.0) for k in keys], catalog=catalog, progress=None)
    out, _ = other.communicate(timeout=60)
    theirs = out.strip().split(",")
    assert set(mine["status"]) <= {"done", "skipped"}
    assert set(theirs) <= {"done", "skipped"}
    done = catalog.query("SELECT item, COUNT(*) AS n FROM jobs WHERE status = 'done' GROUP BY item")
    assert {r["item"]: r["n"] for r in done} == dict.fromkeys(keys, 1)  # every item done exactly once
    assert "skipped" in set(mine["status"]) | set(theirs)  # the overlap was waited for, not redone


def test_an_item_another_run_finished_after_this_one_planned_is_not_redone(tmp_path: Path) -> None:
    """This run plans x and b and starts x; meanwhile another run does b from start to finish. When this
    run comes to b, b is done: it is skipped, not redone (the claim checked only for running rows, so b
    was done twice; the full suite under load caught it)."""
    catalog = Catalog(tmp_path / "catalog.sqlite")
    flag = tmp_path / "go"
    result: dict[str, Any] = {}
    items = [WorkItem(key="x", payload=str(flag)), WorkItem(key="b", payload=0.1)]
    mine = threading.Thread(target=lambda: result.update(df=run_stage(_spec(), items, catalog=catalog,
                                                                      progress=None)))
    mine.start()
    try:
        _wait_running(catalog)                   # x runs here; b is planned, not started
        other = _start(catalog, 0.1, ["b"])
        out, _ = other.communicate(timeout=60)
        assert out.strip() == "done"
    finally:
        flag.touch()
        mine.join(timeout=60)
    df = result["df"]
    assert dict(zip(df[_spec().key], df["status"], strict=True)) == {"x": "done", "b": "skipped"}
    done = catalog.query("SELECT item, COUNT(*) AS n FROM jobs WHERE status = 'done' GROUP BY item")
    assert {r["item"]: r["n"] for r in done} == {"x": 1, "b": 1}


def test_a_claim_can_refuse_an_item_that_is_already_done(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "catalog.sqlite")
    with JobStore(catalog, stage="s", params_hash="p", run_id="s-1-1-aaaaaa") as theirs:
        job = theirs.start("b", input_hash="h", attempt=1)
        theirs.finish(job, status="done", duration_s=0.1)
    with JobStore(catalog, stage="s", params_hash="p", run_id="s-2-2-bbbbbb") as mine:
        assert mine.claim("b", input_hash="h", attempt=1, unless_done=True) == DONE_ELSEWHERE
        assert mine.claim("b", input_hash="other", attempt=1, unless_done=True) not in (None, DONE_ELSEWHERE)
        assert mine.claim("b", input_hash="h", attempt=1) not in (None, DONE_ELSEWHERE)   # force: redo


def test_an_item_held_by_a_dead_run_is_taken_over(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "catalog.sqlite")
    other = _start(catalog, 60.0, ["a"])
    _wait_running(catalog)
    other.send_signal(signal.SIGKILL)
    other.wait(timeout=30)
    mine = run_stage(_spec(), [WorkItem(key="a", payload=0.1)], catalog=catalog, progress=None)
    assert mine["status"].item() == "done"
    rows = catalog.query("SELECT status, error_type FROM jobs ORDER BY job_id")
    assert [r["status"] for r in rows] == ["failed", "done"]
    assert rows[0]["error_type"] == "Interrupted"


def test_a_lease_that_was_not_renewed_is_taken_over(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "catalog.sqlite")
    with JobStore(catalog, stage="slow", params_hash="p", run_id=f"slow-x-{os.getpid()}-aaaaaa") as store:
        job = store.start("a", input_hash=None, attempt=1)
    with catalog.transaction() as conn:  # our own pid is alive, but the lease ran out
        conn.execute("UPDATE jobs SET lease_until = '2000-01-01T00:00:00.000000+00:00' WHERE job_id = ?", (job,))
    with JobStore(catalog, stage="slow", params_hash="p", run_id="slow-y-1-bbbbbb") as other:
        assert other.claim("a", input_hash=None, attempt=1) is not None
    assert catalog.query("SELECT status FROM jobs WHERE job_id = ?", [job])[0]["status"] == "failed"
