from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from soundforge.catalog import Catalog
from soundforge.errors import ConfigError
from soundforge.progress import ProgressEvent
from soundforge.runner import StageSpec, WorkItem, run_stage
from soundforge.runner.executors import Executor, ExecutorRegistry, ProcessExecutor, ThreadExecutor, make_executor
from soundforge.runner.resilience import BreakerBoard, RetryPolicy
from tests import runner_work as work

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc to find leftover pids")


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    return Catalog(tmp_path / "catalog.sqlite")


def spec(fn: Any = work.double, **kw: Any) -> StageSpec:
    args: dict[str, Any] = {"name": "proc", "work": fn, "executor": "process", "workers": 2,
                            "columns": {"value": "Int64", "pid": "Int64"}, "key": "item"}
    return StageSpec(**{**args, **kw})


def _state(pid: int) -> tuple[str, int] | None:
    """``(state, ppid)`` of a live or zombie process, ``None`` once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return fields[0], int(fields[1])


def _leftover(pid: int) -> bool:
    """Still running, or dead but left unreaped by us (a zombie adopted by init is init's to reap)."""
    st = _state(pid)
    return st is not None and (st[0] != "Z" or st[1] == os.getpid())


def wait_gone(pids: list[int], *, within_s: float = 5.0) -> list[int]:
    """The pids still left over (see :func:`_leftover`) after up to ``within_s`` seconds."""
    deadline = time.monotonic() + within_s
    while True:
        left = [p for p in pids if _leftover(p)]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def zombie_children() -> list[int]:
    """Our own children that died and were never reaped."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            st = _state(int(entry.name))
            if st is not None and st == ("Z", os.getpid()):
                out.append(int(entry.name))
    return out


def test_process_executor_runs_items_in_worker_processes_and_cleans_up(catalog: Catalog) -> None:
    ex = ProcessExecutor()
    events: list[ProgressEvent] = []
    df = run_stage(spec(), [str(i) for i in range(12)], catalog=catalog, progress=events.append, executor=ex)
    assert df["status"].tolist() == ["done"] * 12
    assert df["value"].tolist() == [2 * i for i in range(12)]
    pids = set(df["pid"].tolist())
    assert os.getpid() not in pids
    assert 1 <= len(pids) <= 2
    assert ex.pids == []
    assert wait_gone(sorted(pids)) == []
    assert zombie_children() == []
    assert any(e.kind == "item_progress" and e.percent == 100.0 for e in events)


@pytest.mark.parametrize(("executor", "own_session", "register"), [
    ("process", False, False),  # the child stays in the worker's process group
    ("process", True, True),    # the child has its own group (like spotdl) and is registered
    ("thread", True, True),     # threads cannot be killed: the registered group is
])
def test_hung_subprocess_tree_is_killed_at_timeout(tmp_path: Path, catalog: Catalog, executor: str,
                                                   own_session: bool, register: bool) -> None:
    pidfile = tmp_path / "tree.pids"
    item = WorkItem("tree", payload={"pidfile": str(pidfile), "own_session": own_session, "register": register})
    started = time.monotonic()
    df = run_stage(spec(work.spawn_tree, executor=executor), [item, WorkItem("7")], catalog=catalog,
                   progress=None, timeout=2.0)
    assert time.monotonic() - started < 10
    by = df.set_index("item")
    assert by.loc["7", "status"] == "done"
    assert by.loc["tree", "status"] == "failed"
    assert by.loc["tree", "error"].startswith("ItemTimeout: proc item 'tree' ran past its 2 s time limit")
    child, grandchild = map(int, pidfile.read_text().split())
    worker = int(Path(str(pidfile) + ".worker").read_text())
    tree = [child, grandchild] + ([worker] if executor == "process" else [])
    assert wait_gone(tree) == [], f"leftover processes: {[(p, _state(p)) for p in tree]}"
    assert zombie_children() == []


def test_process_timeout_replaces_the_worker_and_goes_on(catalog: Catalog) -> None:
    df = run_stage(spec(work.hard_hang, workers=1), ["hang", "ok", "ok"], catalog=catalog, progress=None,
                   timeout=1.0)
    assert df["status"].tolist() == ["failed", "done"]
    assert "ItemTimeout" in df["error"].iloc[0]


def test_crashed_worker_fails_its_item_only(catalog: Catalog) -> None:
    df = run_stage(spec(work.crash, workers=1), [WorkItem("a", "fine"), WorkItem("b", "crash"),
                                                WorkItem("c", "fine")], catalog=catalog, progress=None)
    assert df["status"].tolist() == ["done", "failed", "done"]
    assert df["error"].iloc[1].startswith("WorkerCrashed: The worker process")
    assert "killed by signal 9" in df["error"].iloc[1]
    assert zombie_children() == []


def test_transient_failures_are_retried_in_fresh_attempts(catalog: Catalog) -> None:
    df = run_stage(spec(work.flaky, max_attempts=3), [WorkItem("x", payload={"fail_until": 2})], catalog=catalog,
                   progress=None, retry=RetryPolicy(attempts=3, initial_s=0.01, jitter_s=0))
    assert df["status"].item() == "done"
    assert df["attempts"].item() == 3


def test_unpicklable_errors_come_back_as_stand_ins(catalog: Catalog) -> None:
    df = run_stage(spec(work.unpicklable_error), ["x"], catalog=catalog, progress=None)
    assert df["error"].item() == "_Unpicklable: needs two args 1 2"


def test_work_that_cannot_travel_fails_with_advice(catalog: Catalog) -> None:
    df = run_stage(spec(lambda payload, ctx: {"value": 1}), ["x"], catalog=catalog, progress=None)
    assert df["status"].item() == "failed"
    assert "must be a top-level function" in df["error"].item()


def test_errors_raise_carries_the_remote_traceback(catalog: Catalog) -> None:
    from soundforge.errors import AudioError
    from soundforge.runner import RemoteTraceback

    with pytest.raises(AudioError, match="bad audio in x") as info:
        run_stage(spec(work.flaky), [WorkItem("x", payload={"fail_until": 1, "transient": False})],
                  catalog=catalog, progress=None, errors="raise")
    assert isinstance(info.value.__cause__, RemoteTraceback)
    assert "runner_work.py" in str(info.value.__cause__)


def test_breaker_calls_in_worker_processes_reach_the_run_board(catalog: Catalog) -> None:
    board = BreakerBoard(threshold=2)
    df = run_stage(spec(work.use_breaker, workers=1), [WorkItem("a", "down"), WorkItem("b", "down"),
                                                      WorkItem("c", "ok")],
                   catalog=catalog, progress=None, breakers=board)
    assert df["error"].tolist()[:2] == ["SpotifyUnavailable: service down"] * 2
    assert df["error"].iloc[2].startswith("CircuitOpen: The svc circuit breaker is open")
    assert board["svc"].state == "open"


def test_make_executor() -> None:
    assert isinstance(make_executor("thread"), ThreadExecutor)
    assert isinstance(make_executor("process"), ProcessExecutor)
    ex = ThreadExecutor()
    assert make_executor(ex) is ex
    assert isinstance(ex, Executor)
    assert ProcessExecutor.hard_cancel
    assert not ThreadExecutor.hard_cancel


def test_registry_refuses_unknown_names_listing_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"Unknown executor 'proces'; known executors: dask, process, thread"):
        make_executor("proces")
    with pytest.raises(ConfigError, match="or an Executor instance, got int"):
        make_executor(3)  # type: ignore[arg-type]


def test_registry_takes_new_backends_lazily() -> None:
    registry = ExecutorRegistry()
    registry.register("mine", "soundforge.runner.executors:ThreadExecutor")
    assert "mine" in registry.names()
    assert isinstance(registry.create("mine", name="x"), ThreadExecutor)
    registry.register("broken", "soundforge_no_such_module:Thing")
    with pytest.raises(ConfigError, match="executor 'broken' needs a package that is not installed"):
        registry.create("broken")
    with pytest.raises(ConfigError, match="must be an identifier"):
        registry.register("no spaces", ThreadExecutor)


def max_overlap(spans: list[tuple[float, float]]) -> int:
    """Most intervals open at the same instant."""
    points = sorted([(t0, 1) for t0, _ in spans] + [(t1, -1) for _, t1 in spans])
    best = cur = 0
    for _, step in points:
        cur += step
        best = max(best, cur)
    return best


@pytest.mark.parametrize(("executor", "workers"), [("thread", 3), ("thread", 1), ("process", 2)])
def test_workers_limit_concurrency(catalog: Catalog, executor: str, workers: int) -> None:
    items = [WorkItem(f"i{i}", payload=0.15) for i in range(8)]
    df = run_stage(spec(work.timed, executor=executor, columns={"t0": "float64", "t1": "float64"}), items,
                   catalog=catalog, progress=None, workers=workers)
    assert (df["status"] == "done").all()
    assert max_overlap(list(zip(df["t0"], df["t1"], strict=True))) == workers
