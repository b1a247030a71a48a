"""Batch runs of parameterised notebooks: isolation of failures, summary, resume, secrets, time limits."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from soundforge import batch
from soundforge.cli import main
from soundforge.errors import BatchError, ConfigError, SecretParameterError
from soundforge.progress import ProgressEvent
from soundforge.workspace import Workspace

TEMPLATE = Path(__file__).resolve().parents[1] / "notebooks" / "templates" / "track_report.ipynb"

PARAMETERS = '''workspace: str = ""  # workspace folder
tracks: list = []  # track ids of this chunk
label: str = "peak"  # name of the value written per track
out: str = ""  # folder where each track's result file is written
'''

REPORT = '''import sys
from pathlib import Path
import soundforge as sf
from soundforge import audio
ws = sf.Workspace(workspace)
Path(out, "kernel-python.txt").write_text(sys.executable)
paths = ws.audio().set_index("track_id")["path"]
for track_id in tracks:
    samples = audio.load(paths[track_id]).samples
    Path(out, f"{track_id}.txt").write_text(f"{label}={abs(samples).max():.4f}")
'''


def _notebook(path: Path, *cells: str, parameters: str = PARAMETERS) -> Path:
    nb = new_notebook()
    param_cell = new_code_cell(parameters)
    param_cell.metadata["tags"] = ["parameters"]
    nb.cells = [new_markdown_cell("# test report"), param_cell, *(new_code_cell(c) for c in cells)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))
    return path


@pytest.fixture
def library(tmp_path: Path, make_audio: Callable[..., Path]) -> tuple[Workspace, list[str], str]:
    """A workspace with four imported tones; the audio of the third is then damaged on disk."""
    ws = Workspace(tmp_path / "ws")
    files = [make_audio(f"tone{n}.flac", seconds=0.5, freq=220.0 * (n + 1), folder=tmp_path / "src")
             for n in range(4)]
    imported = ws.import_audio(files)
    assert (imported["status"] == "done").all()
    ids = imported["track_id"].tolist()
    damaged = Path(imported["path"][2])
    damaged.write_bytes(damaged.read_bytes()[:200])  # truncated FLAC: decoding fails with AudioError
    return ws, ids, ids[2]


def test_one_bad_item_fails_alone_and_rerun_skips_done(tmp_path: Path, library: tuple[Workspace, list[str], str]
                                                      ) -> None:
    ws, ids, bad = library
    out = tmp_path / "results"
    out.mkdir()
    nb = _notebook(tmp_path / "report.ipynb", REPORT)
    events: list[ProgressEvent] = []

    summary = batch.run(nb, ids, parameters={"out": str(out)}, workspace=ws, workers=2, chunk_size=2,
                        progress=events.append)

    assert list(summary.columns) == list(batch.SUMMARY_COLUMNS)
    assert summary["item"].tolist() == ids  # summary in the order items were given
    status = dict(zip(summary["item"], summary["status"], strict=True))
    assert status == {i: ("failed" if i == bad else "done") for i in ids}
    failed = summary.set_index("item").loc[bad]
    assert failed["error_type"] == "AudioError"
    assert "corrupt or truncated" in failed["error"]
    assert failed["error"].startswith(f"cell {failed['failed_cell']} (In [")  # index, counter, first line
    assert ": import sys) raised AudioError: " in failed["error"]
    kept = nbformat.read(failed["output_notebook"], as_version=4)  # the failed notebook is kept...
    assert kept.cells[failed["failed_cell"]].outputs[-1]["ename"] == "AudioError"  # ...and names the cell
    # The bad item was isolated: its chunk-mate still succeeded and wrote its result.
    for item in ids:
        assert (out / f"{item}.txt").exists() == (item != bad)
    assert (out / f"{ids[0]}.txt").read_text().startswith("peak=0.3")
    # Kernels run the Python running the batch (the venv's): no foreign kernel.
    assert Path((out / "kernel-python.txt").read_text()).resolve() == Path(sys.executable).resolve()
    # Progress went through the runner's events: per item, per cell, retries of the failed chunk's items.
    assert [e.kind for e in events][:1] == ["start"]
    assert events[-1].kind == "end"
    ends = {e.item: e.status for e in events if e.kind == "item_end"}
    assert ends == status
    assert any(e.kind == "item_progress" and e.message and "cell" in e.message for e in events)
    assert {e.item for e in events if e.kind == "item_retry"} == {ids[2], ids[3]}  # the chunk [bad, other] split
    pd.testing.assert_frame_equal(events[-1].result, summary)

    on_disk = batch.read_summary(ws, summary["run_id"][0])
    pd.testing.assert_frame_equal(on_disk, summary)
    assert Path(summary.attrs["summary_path"]) == ws.root / "runs" / summary["run_id"][0] / "summary.parquet"
    jobs = ws.jobs()
    jobs = jobs[jobs["stage"] == batch.STAGE]
    assert set(jobs.loc[jobs["status"] == "done", "item"]) == set(ids) - {bad}
    assert (jobs["status"] != "running").all()

    again = batch.run(nb, ids, parameters={"out": str(out)}, workspace=ws, workers=2, chunk_size=2, progress=None)
    status = dict(zip(again["item"], again["status"], strict=True))
    assert status == {i: ("failed" if i == bad else "skipped") for i in ids}
    skipped = again[again["status"] == "skipped"]
    assert skipped["output_notebook"].tolist() == summary.loc[summary["item"] != bad, "output_notebook"].tolist()
    assert again["run_id"].nunique() == 1
    assert again["run_id"][0] != summary["run_id"][0]

    # Other parameters are another job: nothing is skipped.
    other = batch.run(nb, ids[:1], parameters={"out": str(out), "label": "max"}, workspace=ws, progress=None)
    assert other["status"].tolist() == ["done"]
    assert (out / f"{ids[0]}.txt").read_text().startswith("max=")


def test_time_limit_stops_the_notebook_and_its_kernel(tmp_path: Path, library: tuple[Workspace, list[str], str]
                                                     ) -> None:
    ws, ids, _ = library
    pid_file = tmp_path / "kernel.pid"
    nb = _notebook(tmp_path / "slow.ipynb", f"import os\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))",
                   "import time\ntime.sleep(120)")
    started = time.monotonic()
    summary = batch.run(nb, ids[:1], workspace=ws, workers=1, timeout=8.0, progress=None)
    assert time.monotonic() - started < 60
    row = summary.iloc[0]
    assert row["status"] == "failed"
    assert row["error_type"] == "ItemTimeout"
    assert "time limit of 8 s" in row["error"]
    assert f"stopped in cell {row['failed_cell']} (import time)" in row["error"]  # names the running cell
    kept = nbformat.read(row["output_notebook"], as_version=4)
    assert "time.sleep(120)" in kept.cells[row["failed_cell"]].source
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.2)
    assert not _alive(pid), "the kernel of a stopped notebook must not outlive it"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split()[2] == "Z")


@pytest.mark.parametrize("name", ["spotify_token", "client_secret", "password", "api_key", "apiKey", "credentials",
                                  "AWS_ACCESS_KEY_ID", "key", "auth_header"])
def test_secret_looking_parameters_are_refused(tmp_path: Path, name: str) -> None:
    nb = _notebook(tmp_path / "n.ipynb", "pass")
    with pytest.raises(SecretParameterError, match=r"environment variable"):
        batch.run(nb, ["a"], parameters={name: "x"}, workspace=tmp_path / "ws")
    assert not (tmp_path / "ws" / "runs").exists() or not any((tmp_path / "ws" / "runs").iterdir())


@pytest.mark.parametrize("name", ["tracks_per_chunk", "model", "keyboard_stem", "monkey", "tempo_bpm", "author"])
def test_ordinary_names_are_not_secrets(name: str) -> None:
    assert not batch.looks_secret(name)


def test_secret_values_from_the_environment_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPOTIFY_CLIENT_SECRET", "s3cr3t-value-123")
    with pytest.raises(SecretParameterError, match=r"\$SPOTIFY_CLIENT_SECRET"):
        batch.check_parameters({"note": "prefix s3cr3t-value-123"})
    batch.check_parameters({"note": "harmless"})


def test_bad_requests_fail_before_any_kernel_starts(tmp_path: Path) -> None:
    nb = _notebook(tmp_path / "n.ipynb", "pass")
    ws = tmp_path / "ws"
    with pytest.raises(BatchError, match=r"declares no parameter\(s\) \['colour'\]"):
        batch.run(nb, ["a"], parameters={"colour": "red"}, workspace=ws)
    no_items = _notebook(tmp_path / "m.ipynb", "pass", parameters="x = 1  # nothing else")
    with pytest.raises(BatchError, match=r"declares no parameter 'tracks'"):
        batch.run(no_items, ["a"], workspace=ws)
    with pytest.raises(BatchError, match=r"does not exist"):
        batch.run(tmp_path / "missing.ipynb", ["a"], workspace=ws)
    with pytest.raises(BatchError, match=r"not a notebook"):
        batch.run(tmp_path / "x.py", ["a"], workspace=ws)
    with pytest.raises(ConfigError, match=r"workers must be"):
        batch.run(nb, ["a"], workers=0, workspace=ws)
    with pytest.raises(ConfigError, match=r"chunk_size must be"):
        batch.run(nb, ["a"], chunk_size=0, workspace=ws)
    with pytest.raises(BatchError, match=r"non-empty strings"):
        batch.run(nb, ["a", 3], workspace=ws)
    with pytest.raises(BatchError, match=r"no 'track_id' column"):
        batch.run(nb, pd.DataFrame({"id": ["a"]}), workspace=ws)


def test_fingerprint_ignores_outputs_but_not_code(tmp_path: Path) -> None:
    nb_path = _notebook(tmp_path / "n.ipynb", "print(1)")
    before = batch.notebook_fingerprint(nb_path)
    nb = nbformat.read(str(nb_path), as_version=4)
    nb.cells[2].outputs = [nbformat.v4.new_output("stream", name="stdout", text="1\n")]
    nbformat.write(nb, str(nb_path))
    assert batch.notebook_fingerprint(nb_path) == before
    nb.cells[2].source = "print(2)"
    nbformat.write(nb, str(nb_path))
    assert batch.notebook_fingerprint(nb_path) != before


def test_cli_batch(tmp_path: Path, library: tuple[Workspace, list[str], str],
                   capsys: pytest.CaptureFixture[str]) -> None:
    ws, ids, bad = library
    out = tmp_path / "cli-results"
    out.mkdir()
    nb = _notebook(tmp_path / "report.ipynb", REPORT)
    code = main(["--root", str(ws.root), "batch", str(nb), "--tracks", ids[0], bad, "-p", "out", str(out),
                 "-p", "label", "level", "--workers", "2"])
    text = capsys.readouterr().out
    assert code == 1
    assert "1 done, 0 skipped (done before), 1 failed" in text
    assert "summary: " + str(ws.root / "runs") in text
    assert (out / f"{ids[0]}.txt").read_text().startswith("level=")
    assert main(["--root", str(ws.root), "batch", str(nb), "--tracks", "x", "-p", "api_token", "1"]) == 1
    assert "environment variable" in capsys.readouterr().err


def test_errors_raise_stops_at_the_first_failure(tmp_path: Path, library: tuple[Workspace, list[str], str]) -> None:
    ws, ids, bad = library
    out = tmp_path / "results"
    out.mkdir()
    nb = _notebook(tmp_path / "report.ipynb", REPORT)
    with pytest.raises(BatchError, match=rf"\['{bad}'\] failed: cell \d+ \(In \[\d+\]: import sys\) raised AudioError"):
        batch.run(nb, [bad, ids[0]], parameters={"out": str(out)}, workspace=ws, workers=1, errors="raise",
                  progress=None)
    run_id = ws.jobs()["run_id"].iloc[-1]
    summary = batch.read_summary(ws, run_id).set_index("item")
    assert summary.loc[bad, "status"] == "failed"
    assert summary.loc[ids[0], "error"] == "ItemCancelled: not run because another item failed and errors='raise'."
    assert not (out / f"{ids[0]}.txt").exists()


def test_track_report_template_names_the_bad_track(library: tuple[Workspace, list[str], str]) -> None:
    ws, ids, bad = library
    summary = batch.run(TEMPLATE, ids, workspace=ws, workers=2, chunk_size=4, progress=None).set_index("item")
    assert summary.loc[bad, "status"] == "failed"
    assert (summary.drop(index=bad)["status"] == "done").all()
    assert summary.loc[bad, "error_type"] == "StageError"
    assert f"1 of 1 track(s) failed: {bad} (analyze): AudioError: " in summary.loc[bad, "error"]
    assert "corrupt or truncated" in summary.loc[bad, "error"]
    report = nbformat.read(summary.loc[ids[0], "output_notebook"], as_version=4)
    injected = next(c for c in report.cells if "injected-parameters" in c.metadata.get("tags", []))
    assert str(ws.root) in injected.source  # the workspace was passed to the notebook
