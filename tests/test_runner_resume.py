"""kill -9 of a run at random points, then a rerun: every item done exactly once, no half-written files."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from soundforge.catalog import Catalog

REPO = Path(__file__).resolve().parents[1]
N = 24

_RUN = """
import sys
from soundforge.catalog import Catalog
from soundforge.runner import StageSpec, WorkItem, run_stage
from tests import runner_work

root, executor, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
catalog = Catalog(root + "/catalog.sqlite")
with catalog.transaction() as conn:  # no unique key: a second insert for an item would show
    conn.execute("CREATE TABLE IF NOT EXISTS results (item TEXT NOT NULL, size INTEGER NOT NULL)")

def record(conn, item, result):
    conn.execute("INSERT INTO results (item, size) VALUES (?, ?)", (item.key, result["value"]))

def progress(event):
    if event.kind == "item_end":
        print("ended", event.item, flush=True)

spec = StageSpec(name="resume", work=runner_work.write_file, executor=executor, workers=2,
                 columns={"value": "Int64"}, key="item")
items = [WorkItem(f"item{i:02d}", payload={"root": root, "sleep": 0.02}) for i in range(n)]
print("ready", flush=True)
df = run_stage(spec, items, catalog=catalog, progress=progress, record=record)
print("finished", sorted(df["status"].unique()), flush=True)
"""


def _start(root: Path, executor: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-c", _RUN, str(root), executor, str(N)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)


def _workers_of(pid: int) -> list[int]:
    """Live worker processes started by the runner process ``pid`` (their command line names it)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            cmd = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if any(b"worker_main" in part for part in cmd) and cmd[-2:-1] == [str(pid).encode()] and state != "Z":
            found.append(int(entry.name))
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc")
@pytest.mark.parametrize(("seed", "executor"), [(1, "thread"), (2, "process"), (3, "thread"), (4, "process")])
def test_kill9_at_a_random_point_then_rerun_finishes_each_item_exactly_once(tmp_path: Path, seed: int,
                                                                          executor: str) -> None:
    rng = random.Random(seed)
    root = tmp_path / "ws"
    root.mkdir()
    first = _start(root, executor)
    assert first.stdout is not None
    assert first.stdout.readline().strip() == "ready"
    kill_after = rng.randint(1, N - 4)  # items finished before the kill
    ended = 0
    while ended < kill_after:
        line = first.stdout.readline()
        assert line, first.stderr.read() if first.stderr else "no output"
        ended += line.startswith("ended")
    time.sleep(rng.uniform(0.0, 0.03))  # land anywhere: mid-work, mid-write, mid-commit
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    assert first.returncode == -signal.SIGKILL

    deadline = time.monotonic() + 5
    while _workers_of(first.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _workers_of(first.pid) == []  # the workers' watchdog took them down

    catalog = Catalog(root / "catalog.sqlite")
    before = catalog.query("SELECT COUNT(*) AS n FROM results")[0]["n"]
    assert kill_after <= before < N  # killed mid-run

    second = _start(root, executor)
    out, err = second.communicate(timeout=60)
    assert second.returncode == 0, err
    assert "finished ['done', 'skipped']" in out or "finished ['done']" in out

    counts = {r["item"]: r["n"] for r in catalog.query("SELECT item, COUNT(*) AS n FROM results GROUP BY item")}
    assert counts == {f"item{i:02d}": 1 for i in range(N)}
    done = {r["item"]: r["n"] for r in catalog.query(
        "SELECT item, COUNT(*) AS n FROM jobs WHERE status = 'done' GROUP BY item")}
    assert done == {f"item{i:02d}": 1 for i in range(N)}
    assert catalog.query("SELECT COUNT(*) AS n FROM jobs WHERE status = 'running'")[0]["n"] == 0

    files = sorted((root / "runs" / "kill").iterdir())
    assert [f.name for f in files] == [f"item{i:02d}.json" for i in range(N)]
    sizes = {r["item"]: r["size"] for r in catalog.query("SELECT item, size FROM results")}
    for f in files:
        body = json.loads(f.read_text())  # complete, valid JSON: never half-written
        assert body["item"] == f.stem
        assert f.stat().st_size == sizes[f.stem]
