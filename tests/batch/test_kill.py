"""kill -9 of a batch run, then a rerun: every item ends done exactly once; the killed notebook never looks done."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from soundforge import batch
from soundforge.workspace import Workspace

ROOT = Path(__file__).resolve().parents[2]

PARAMETERS = '''workspace: str = ""
tracks: list = []
log: str = ""
'''

SLOW = '''import time
from pathlib import Path
for track in tracks:
    time.sleep(1.5)
    with open(log, "a") as fh:
        fh.write(track + "\\n")
'''

RUN = """
import sys
from soundforge import batch
batch.run(sys.argv[1], sys.argv[2].split(","), workspace=sys.argv[3], parameters={"log": sys.argv[4]}, workers=1,
          progress=None)
"""


def _notebook(path: Path, code: str = SLOW) -> Path:
    nb = new_notebook()
    params = new_code_cell(PARAMETERS)
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, new_code_cell(code)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))
    return path


def test_kill_minus_9_then_rerun_finishes_every_item_exactly_once(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    nb = _notebook(tmp_path / "slow.ipynb")
    log = tmp_path / "done.log"
    items = ["t1", "t2", "t3"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-c", RUN, str(nb), ",".join(items), str(ws.root), str(log)], env=env,
                            cwd=ROOT)
    deadline = time.monotonic() + 120
    outputs: list[Path] = []
    while time.monotonic() < deadline and proc.poll() is None:
        outputs = list((ws.root / "runs").glob("*/outputs.jsonl"))
        if outputs and outputs[0].read_text().strip():
            break
        time.sleep(0.1)
    assert outputs, "the first item never finished"
    time.sleep(0.5)  # the second item's kernel is running now
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    first_run = outputs[0].parent
    partial = list(first_run.glob(".*.partial.ipynb"))
    assert [p.name for p in partial] == [".t2.partial.ipynb"]  # the unfinished notebook does not look finished
    assert nbformat.read(partial[0], as_version=4).metadata["soundforge"]["status"] == "running"
    assert not (first_run / "t2.ipynb").exists()

    summary = batch.run(nb, items, workspace=ws, parameters={"log": str(log)}, workers=1, progress=None)
    assert summary.set_index("item")["status"].to_dict() == {"t1": "skipped", "t2": "done", "t3": "done"}
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and len(log.read_text().split()) < 3:
        time.sleep(0.1)
    assert sorted(log.read_text().split()) == items  # each item's work finished once: t2's killed kernel never did
    done = ws.catalog.query("SELECT item, COUNT(*) AS n FROM jobs WHERE stage = 'batch' AND status = 'done' "
                            "GROUP BY item")
    assert {r["item"]: r["n"] for r in done} == dict.fromkeys(items, 1)
    assert json.loads(outputs[0].read_text().splitlines()[0])["item"] == "t1"
    for item in items:
        notebook = summary.set_index("item").loc[item, "output_notebook"]
        assert nbformat.read(notebook, as_version=4).metadata["soundforge"]["status"] == "completed"


DIES_ONCE = '''import os
from pathlib import Path
marker = Path(log).with_suffix(".died")
if not marker.exists():
    marker.write_text("x")
    os._exit(1)  # the kernel dies on the first attempt only
Path(log).write_text("ok")
'''


def test_a_kernel_that_died_is_retried_once(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    path = _notebook(tmp_path / "dies.ipynb", DIES_ONCE)
    log = tmp_path / "out.txt"
    summary = batch.run(path, ["t1"], workspace=ws, parameters={"log": str(log)}, workers=1, progress=None)
    assert summary["status"].item() == "done"
    assert log.read_text() == "ok"
    jobs = ws.catalog.query("SELECT status, error_type, attempts FROM jobs WHERE stage = 'batch' ORDER BY job_id")
    assert [(j["status"], j["error_type"], j["attempts"]) for j in jobs] == [("failed", "KernelDied", 1),
                                                                              ("done", None, 2)]


REUSE = '''import os
seen = "leftover" in dir()
leftover = 1
with open(log, "a") as fh:
    fh.write(f"{tracks[0]} {os.getpid()} {seen} {os.getcwd()}\\n")
'''


def test_a_worker_keeps_its_kernel_warm_but_resets_it_between_notebooks(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    path = _notebook(tmp_path / "reuse.ipynb", REUSE)
    warm, cold = tmp_path / "warm.txt", tmp_path / "cold.txt"
    batch.run(path, ["a", "b", "c"], workspace=ws, parameters={"log": str(warm)}, workers=1, progress=None)
    rows = [line.split() for line in warm.read_text().splitlines()]
    assert len({pid for _, pid, _, _ in rows}) == 1  # one kernel for the three notebooks
    assert [seen for _, _, seen, _ in rows] == ["False"] * 3  # ... whose namespace was reset each time
    assert {cwd for *_, cwd in rows} == {str(tmp_path)}
    batch.run(path, ["a", "b"], workspace=ws, parameters={"log": str(cold)}, workers=1, progress=None, force=True,
              reuse_kernel=False)
    assert len({line.split()[1] for line in cold.read_text().splitlines()}) == 2  # a fresh kernel each


def test_a_fresh_kernel_per_notebook_reports_the_failing_cell(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    path = _notebook(tmp_path / "fails.ipynb", "raise ValueError(f'bad track {tracks[0]}')")
    summary = batch.run(path, ["t1"], workspace=ws, parameters={"log": str(tmp_path / "x")}, workers=1,
                        progress=None, reuse_kernel=False)
    row = summary.iloc[0]
    assert row["status"] == "failed"
    assert row["error_type"] == "ValueError"
    assert "raised ValueError: bad track t1" in row["error"]
    assert nbformat.read(row["output_notebook"], as_version=4).metadata["soundforge"]["status"] == "failed"
    assert (ws.root / "runs" / summary["run_id"][0] / "logs" / "t1.log").is_file()  # the kernel's own output
