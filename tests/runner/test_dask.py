"""The Dask executor on a real ``distributed.LocalCluster`` (2 process workers, 1 thread each, loopback).

Same rows as the process executor, timeouts that kill the item's process group on the Dask
worker, cancellation, a Dask worker killed mid-run (every item done exactly once), progress
from remote workers, the shared-workspace check, ``SOUNDFORGE_DASK_SCHEDULER`` and GPU resources.
"""

from __future__ import annotations

import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
import soundfile as sf
from nbformat.v4 import new_code_cell, new_notebook

from soundforge import batch
from soundforge.catalog import Catalog
from soundforge.errors import AudioError, ConfigError
from soundforge.progress import ProgressEvent
from soundforge.runner import StageSpec, WorkItem, run_stage
from soundforge.workspace import Workspace
from tests import runner_work as work
from tests.conftest import two_sources

distributed = pytest.importorskip("distributed")

from soundforge.runner.dask import SCHEDULER_ENV, DaskExecutor  # noqa: E402

pytestmark = [pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; /proc/self/cwd"),
              pytest.mark.timeout(120)]

COLUMNS = {"value": "Int64", "pid": "Int64", "ppid": "Int64"}


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    client = distributed.Client(cluster, set_as_default=False)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


@pytest.fixture
def dask(client: Any) -> Any:
    """The module's client, with its two workers up (a test may have killed one)."""
    client.wait_for_workers(2, timeout=60)
    return client


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    return Catalog(tmp_path / "catalog.sqlite")


def spec(fn: Any = work.double, **kw: Any) -> StageSpec:
    args: dict[str, Any] = {"name": "dasktest", "work": fn, "executor": "process", "workers": 2, "columns": COLUMNS,
                            "key": "item"}
    return StageSpec(**{**args, **kw})


def worker_pids(client: Any) -> set[int]:
    return set(client.run(os.getpid).values())


def leftover(pids: list[int], *, within_s: float = 5.0) -> list[int]:
    """Pids still running (or dead but unreaped) after up to ``within_s`` s; a zombie adopted by init is gone."""
    def alive(pid: int) -> bool:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        return state != "Z" or int(ppid) > 1

    deadline = time.monotonic() + within_s
    while True:
        left = [p for p in pids if alive(p)]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def jobs(catalog: Catalog) -> list[tuple[str, str, int]]:
    rows = catalog.query("SELECT item, status, attempts FROM jobs ORDER BY item, attempts, status")
    return [(r["item"], r["status"], r["attempts"]) for r in rows]


def test_same_rows_as_the_process_executor(dask: Any, tmp_path: Path) -> None:
    items = [str(i) for i in range(6)]
    by_process = Catalog(tmp_path / "p" / "catalog.sqlite")
    by_dask = Catalog(tmp_path / "d" / "catalog.sqlite")
    local = run_stage(spec(), items, catalog=by_process, progress=None, executor="process")
    remote = run_stage(spec(), items, catalog=by_dask, progress=None, executor=dask)
    same = ["item", "status", "error", "attempts", "value"]
    assert remote[same].equals(local[same])
    assert list(remote["status"]) == ["done"] * 6
    assert jobs(by_dask) == jobs(by_process)
    assert not set(remote["pid"]) & ({os.getpid()} | worker_pids(dask))  # child processes on the workers


def test_progress_events_arrive_from_remote_workers(dask: Any, catalog: Catalog) -> None:
    events: list[ProgressEvent] = []
    result = run_stage(spec(work.whereabouts), [WorkItem("a", 0.3), WorkItem("b", 0.3)], catalog=catalog,
                       progress=events.append, executor=dask)
    assert set(result["ppid"]) <= worker_pids(dask)  # the work ran under the Dask workers
    seen = {(e.item, e.percent, e.message) for e in events if e.kind == "item_progress"}
    assert seen == {(i, p, m) for i in "ab" for p, m in ((0.0, "started"), (100.0, "slept"))}
    start = next(e for e in events if e.kind == "start")
    assert start.link is None or start.link.startswith("http")


@pytest.mark.parametrize(("own_session", "register"), [(False, False), (True, True)])
def test_hung_item_is_killed_at_its_timeout_with_its_process_group(dask: Any, tmp_path: Path, catalog: Catalog,
                                                                   own_session: bool, register: bool) -> None:
    pidfile = str(tmp_path / "tree.pids")
    before = worker_pids(dask)
    items = [WorkItem("hung", {"pidfile": pidfile, "own_session": own_session, "register": register}),
             WorkItem("quick", 7)]
    started = time.monotonic()
    result = run_stage(spec(work.spawn_tree), items, catalog=catalog, progress=None, executor=dask, timeout=3)
    assert time.monotonic() - started < 15
    rows = result.set_index("item")
    assert rows.loc["quick", "status"] == "done"
    assert rows.loc["hung", "status"] == "failed"
    assert rows.loc["hung", "error"].startswith("ItemTimeout: dasktest item 'hung' ran past its 3 s time limit")
    child, grandchild = map(int, Path(pidfile).read_text().split())
    runner = int(Path(pidfile + ".worker").read_text())
    assert leftover([runner, child, grandchild]) == []
    assert worker_pids(dask) == before  # the Dask workers themselves live on


def test_errors_raise_cancels_remote_work_and_kills_it(dask: Any, tmp_path: Path, catalog: Catalog) -> None:
    pidfile = str(tmp_path / "tree.pids")
    items = [WorkItem("hang", {"pidfile": pidfile}), WorkItem("bad", 1.5)]  # no time limit: only a cancel stops it
    with pytest.raises(AudioError, match="bad audio in bad"):
        run_stage(spec(work.tree_or_fail), items, catalog=catalog, progress=None, executor=dask, errors="raise")
    child, grandchild = map(int, Path(pidfile).read_text().split())
    runner = int(Path(pidfile + ".worker").read_text())
    assert leftover([runner, child, grandchild]) == []


def test_a_dask_worker_killed_mid_run_leaves_every_item_done_exactly_once(dask: Any, catalog: Catalog) -> None:
    victims = sorted(worker_pids(dask))
    killed: list[int] = []

    def kill_one_worker(event: ProgressEvent) -> None:
        if event.kind == "item_progress" and event.message == "started" and not killed:
            killed.append(victims[0])
            os.kill(victims[0], signal.SIGKILL)

    def record(conn: sqlite3.Connection, item: WorkItem, result: Any) -> None:
        conn.execute("CREATE TABLE IF NOT EXISTS dask_records (item TEXT NOT NULL)")
        conn.execute("INSERT INTO dask_records (item) VALUES (?)", (item.key,))

    items = [WorkItem(f"t{i}", 1.0) for i in range(6)]
    result = run_stage(spec(work.whereabouts), items, catalog=catalog, progress=kill_one_worker, executor=dask,
                       record=record)
    assert killed
    assert list(result["status"]) == ["done"] * 6
    assert list(result["attempts"]) == [1] * 6  # Dask ran the lost task again: no failed attempt
    assert jobs(catalog) == [(f"t{i}", "done", 1) for i in range(6)]
    recorded = catalog.query("SELECT item, COUNT(*) AS n FROM dask_records GROUP BY item ORDER BY item")
    assert [(r["item"], r["n"]) for r in recorded] == [(f"t{i}", 1) for i in range(6)]
    assert victims[0] not in set(result["ppid"])


def test_a_workspace_a_worker_cannot_see_fails_the_run_at_once(dask: Any, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    # /proc/self/cwd is "this process's working directory": the client (moved into tmp_path) sees the
    # workspace there, the Dask workers (started elsewhere) find nothing at that path, as a worker on
    # another machine without the shared mount would.
    name = f"ws-{secrets.token_hex(4)}"
    (tmp_path / name).mkdir()
    monkeypatch.chdir(tmp_path)
    root = Path("/proc/self/cwd") / name
    catalog = Catalog(root / "catalog.sqlite")
    started = time.monotonic()
    with pytest.raises(ConfigError, match=rf"2 of 2 Dask worker\(s\) cannot use the workspace {root}: tcp://.*"
                                          r"missing.*must be a shared folder.*docs/scale.md"):
        run_stage(spec(), ["1", "2"], catalog=catalog, progress=None, executor=dask)
    assert time.monotonic() - started < 10
    assert jobs(catalog) == []  # no item started
    assert not list((tmp_path / name).glob(".soundforge-dask-check-*"))


def test_executor_dask_connects_to_soundforge_dask_scheduler(dask: Any, catalog: Catalog,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from soundforge.runner import dask as backend

    monkeypatch.setenv(SCHEDULER_ENV, dask.scheduler.address)
    items = [WorkItem(str(i), 0.01) for i in range(3)]
    result = run_stage(spec(work.whereabouts, workers=None), items, catalog=catalog, progress=None, executor="dask")
    assert list(result["status"]) == ["done"] * 3
    assert set(result["ppid"]) <= worker_pids(dask)
    assert backend._LOCAL == {}  # no local cluster was started


def test_an_unreachable_scheduler_is_a_clear_error(catalog: Catalog) -> None:
    ex = DaskExecutor(address="tcp://127.0.0.1:9", connect_timeout_s=1)
    with pytest.raises(ConfigError, match=r"Cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'.*dask scheduler"):
        run_stage(spec(), ["1"], catalog=catalog, progress=None, executor=ex)
    assert jobs(catalog) == []


def test_gpu_items_go_to_gpu_workers_and_run_anywhere_without_them(dask: Any, catalog: Catalog) -> None:
    with pytest.raises(ConfigError, match=r"No Dask worker declares the resource\(s\) \['GPU'\]"):
        run_stage(spec(), ["1"], catalog=catalog, progress=None, executor=DaskExecutor(client=dask,
                                                                                      resources={"GPU": 1}))
    gpu_items = [WorkItem(f"g{i}", 0.05, resources={"GPU": 1}) for i in range(4)]
    cpu_only = run_stage(spec(work.whereabouts), gpu_items, catalog=catalog, progress=None, executor=dask)
    assert list(cpu_only["status"]) == ["done"] * 4  # a CPU-only cluster still runs them
    gpu = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", dask.scheduler.address,
                            "--nthreads", "1", "--no-nanny", "--no-dashboard", "--resources", "GPU=1",
                            "--name", "gpu"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        dask.wait_for_workers(3, timeout=60)
        on_gpu = run_stage(spec(work.whereabouts), gpu_items, catalog=catalog, progress=None, executor=dask,
                           force=True)
        assert list(on_gpu["status"]) == ["done"] * 4
        assert set(on_gpu["ppid"]) == {gpu.pid}
    finally:
        gpu.terminate()
        gpu.wait(30)


# -- workspace stages and batch runs on the cluster -------------------------------------------------------
def songs(folder: Path) -> list[Path]:
    """Two short synthetic songs (bass + drums), stereo 44.1 kHz and mono 22.05 kHz."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, seconds, sr, channels in (("a.flac", 2.0, 44100, 2), ("b.wav", 1.5, 22050, 1)):
        bass, drums = two_sources(seconds=seconds, sr=sr, channels=channels)
        sf.write(folder / name, (bass + drums).T, sr)
        paths.append(folder / name)
    return paths


def rows(ws: Workspace, table: str, columns: str) -> list[dict[str, Any]]:
    return ws.catalog.query(f"SELECT {columns} FROM {table} ORDER BY {columns}")


def test_workspace_stages_on_the_cluster_write_the_same_catalog_rows(dask: Any, tmp_path: Path) -> None:
    files = songs(tmp_path / "src")
    local, remote = Workspace(tmp_path / "local"), Workspace(tmp_path / "remote")
    assert local.import_audio(files, progress=None)["status"].tolist() == ["done"] * 2
    assert remote.import_audio(files, progress=None, executor=dask)["status"].tolist() == ["done"] * 2
    local.analyze(progress=None, executor="process", workers=2)
    remote_features = remote.analyze(progress=None, executor=dask)
    assert remote_features["status"].tolist() == ["done"] * 2
    local.separate(model="dsp", progress=None, executor="process", workers=2)
    remote_stems = remote.separate(model="dsp", progress=None, executor=dask, workers=2)
    assert remote_stems["status"].tolist() == ["done"] * 8
    audio = "track_id, path, format, size_bytes, sha256, duration_s, sample_rate, channels, origin"
    assert rows(remote, "audio", audio) == rows(local, "audio", audio)
    analyses = "track_id, version, params_hash, params, features, json_path, npz_path"
    assert rows(remote, "analyses", analyses) == rows(local, "analyses", analyses)
    stems = "track_id, model, stem, params_hash, path, sample_rate, channels, duration_s"
    assert rows(remote, "stems", stems) == rows(local, "stems", stems)
    for row in rows(remote, "stems", "path"):  # written by the workers into the shared workspace
        assert (remote.root / row["path"]).is_file()
    assert not list(remote.root.glob("tmp/**/*.*"))  # no partial file left behind


PARAMETERS = '''workspace: str = ""
tracks: list = []
out: str = ""
'''

REPORT = '''import os
from pathlib import Path
import soundforge as sf
from soundforge import audio
ws = sf.Workspace(workspace)
paths = ws.audio().set_index("track_id")["path"]
for track_id in tracks:
    peak = abs(audio.load(paths[track_id]).samples).max()
    Path(out, f"{track_id}.txt").write_text(f"{peak:.4f} {os.getppid()}")
'''


def test_a_batch_run_over_the_cluster_with_one_failing_notebook(dask: Any, tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    imported = ws.import_audio(songs(tmp_path / "src"), progress=None)
    ids = imported["track_id"].tolist()
    damaged = Path(imported["path"][1])
    damaged.write_bytes(damaged.read_bytes()[:200])  # truncated: the notebook of this track fails
    nb = new_notebook()
    params = new_code_cell(PARAMETERS)
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, new_code_cell(REPORT)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(tmp_path / "report.ipynb"))
    out = tmp_path / "out"
    out.mkdir()
    summary = batch.run(tmp_path / "report.ipynb", ids, parameters={"out": str(out)}, workspace=ws, workers=2,
                        progress=None, executor=dask).set_index("item")
    assert summary.loc[ids[0], "status"] == "done"
    assert summary.loc[ids[1], "status"] == "failed"
    assert summary.loc[ids[1], "error_type"] == "AudioError"
    assert Path(summary.loc[ids[0], "output_notebook"]).is_file()  # written by a worker into the workspace
    kept = nbformat.read(summary.loc[ids[1], "output_notebook"], as_version=4)  # the failed one is kept
    assert kept.cells[-1].outputs[-1]["ename"] == "AudioError"
    assert (out / f"{ids[0]}.txt").is_file()


def test_separation_asks_for_a_gpu_where_the_model_can_use_one() -> None:
    from soundforge.stages.separate import gpu_resources

    assert gpu_resources({"device": "auto"}) == {"GPU": 1.0}
    assert gpu_resources({"device": "cuda:1"}) == {"GPU": 1.0}
    assert gpu_resources({"device": "cpu"}) is None
    assert gpu_resources({"chunk_s": 30.0}) is None  # dsp: no device, CPU only
