"""Throughput of papermill batch runs: tracks per minute and overhead per notebook.

    python benchmarks/batch_throughput.py                       # 40 tracks of 4 s, the track report template
    python benchmarks/batch_throughput.py --tracks 12 --configs 1x1,2x10 --seconds 3

Synthesises ``--tracks`` short songs (clicks at a tempo plus a chord, 44.1 kHz stereo
FLAC) and, for every configuration ``WORKERSxCHUNK`` (default 1x1, 1x10, 2x1, 2x10),
imports them into a fresh workspace and runs ``soundforge.batch.run`` with the
notebook (default ``notebooks/templates/track_report.ipynb``). Measured in the same
run, as baselines:

* ``direct``: the notebook's code cells executed in an IPython shell in this process with
  every track at once, ``%matplotlib inline`` and ``display()`` as in a kernel (so every figure
  is rendered to the same PNG), the stages on the executor the kernels get (``--stage-executor``);
  no papermill, no kernel, no worker process: the work itself. Also printed, not used: the old
  baseline that ``exec``-ed the cells in plain Python, where ``display(fig)`` renders nothing;
* ``empty``: a notebook that only opens the workspace, one track per notebook, one
  worker: the pure cost of one notebook execution (worker, kernel start, papermill).

``direct`` is measured again after the configurations (the machine's load drifts; a shared
2-core machine makes it vary by a third between runs), and both are printed; the table uses the
first. For each configuration it prints wall time, tracks/minute, ``wall / direct`` (the target's ratio), and
the overhead per notebook: ``(wall * workers - direct) / notebooks`` (worker-seconds a
notebook costs beyond the work; with 2 workers on a 2-core machine CPU contention counts
as overhead too). A notebook with a ``max_plots`` parameter gets ``--tracks`` for it, so
every configuration does the same work (the template: an overview and a stem figure per track).
The template's ``workers`` parameter (default 1) is the same for ``direct`` and every notebook:
each stage inside works on one track at a time, in a thread of the process (``--stage-executor
thread``, the default of ``batch.run``), so ``direct`` and one notebook use the same cores.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from soundforge import batch  # noqa: E402
from soundforge.workspace import Workspace  # noqa: E402

SR = 44100


def synthesise(folder: Path, *, n: int, seconds: float) -> list[Path]:
    """``n`` distinct short songs: clicks at a tempo over a major chord, stereo FLAC."""
    import soundfile as sf

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    t = np.arange(int(seconds * SR)) / SR
    paths = []
    for i in range(n):
        tempo = 80.0 + 2.5 * i
        root = 110.0 * 2 ** ((i % 12) / 12)
        chord = sum(0.12 * np.sin(2 * np.pi * root * r * t) for r in (1.0, 1.26, 1.5))
        clicks = np.zeros_like(t)
        for beat in np.arange(0.1, seconds, 60.0 / tempo):
            start = int(beat * SR)
            burst = rng.standard_normal(400) * np.exp(-np.arange(400) / 60.0)
            clicks[start:start + 400] += 0.5 * burst[: len(clicks[start:start + 400])]
        mono = (chord + clicks).astype(np.float32)
        stereo = np.stack([mono, np.roll(mono, 50)], axis=1)
        path = folder / f"song_{i:03d}.flac"
        sf.write(path, stereo, SR)
        paths.append(path)
    return paths


def fresh_workspace(root: Path, files: list[Path]) -> tuple[Workspace, list[str]]:
    ws = Workspace(root)
    imported = ws.import_audio(files, progress=None)
    failed = imported[imported["status"] == "failed"]
    if len(failed):
        raise SystemExit(f"import failed: {failed.to_dict('records')}")
    return ws, imported["track_id"].tolist()


def direct_exec(notebook: Path, ws: Workspace, tracks: list[str], parameters: dict[str, Any],
                stage_executor: str | None = "thread") -> float:
    """The old ``direct`` baseline: the code cells ``exec``-ed in plain Python (magics dropped, matplotlib Agg).

    Unfair to the notebooks: ``display(fig)`` only prints the figure's repr here, so no figure is
    ever drawn or rendered to PNG, while a kernel renders every displayed figure. Kept for comparison;
    run it before :func:`direct` (with an IPython shell in the process, ``display()`` renders).
    """
    import matplotlib
    import nbformat

    matplotlib.use("Agg")
    nb = nbformat.read(str(notebook), as_version=4)
    namespace: dict[str, Any] = {"__name__": "__direct__"}
    values = {**parameters, "workspace": str(ws.root), "tracks": tracks}
    started = time.perf_counter()
    with _stage_executor(stage_executor), contextlib.redirect_stdout(io.StringIO()):
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            source = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith("%"))
            exec(compile(source, f"<{notebook.name}>", "exec"), namespace)  # our own notebook, IPython magics left out
            if "parameters" in cell.metadata.get("tags", []):
                namespace.update(values)
    return time.perf_counter() - started


@contextlib.contextmanager
def _stage_executor(name: str | None) -> Any:
    """``$SOUNDFORGE_EXECUTOR`` as the batch kernels get it (``batch.run(stage_executor=...)``), for a block."""
    saved = os.environ.get("SOUNDFORGE_EXECUTOR")
    if name:
        os.environ["SOUNDFORGE_EXECUTOR"] = name
    else:
        os.environ.pop("SOUNDFORGE_EXECUTOR", None)
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("SOUNDFORGE_EXECUTOR", None)
        else:
            os.environ["SOUNDFORGE_EXECUTOR"] = saved


def _shell() -> Any:
    """This process's IPython shell for ``direct`` (one: matplotlib-inline configures the first shell only)."""
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    class _Shell(InteractiveShell):
        def enable_gui(self, gui: Any = None) -> None:  # the inline backend needs no event loop
            pass

    if InteractiveShell.initialized():
        shell = InteractiveShell.instance()
        shell.reset(new_session=False)
        return shell
    config = Config()
    config.HistoryManager.enabled = False  # no history database for this throwaway shell
    return _Shell.instance(config=config)


def direct(notebook: Path, ws: Workspace, tracks: list[str], parameters: dict[str, Any],
           stage_executor: str | None = "thread") -> tuple[float, list[dict[str, Any]]]:
    """Execute the notebook's code cells in an IPython shell in this process with every track at once.

    The same cells as a kernel runs, magics included (``%matplotlib inline``), with the same display
    machinery: ``display(fig)`` goes through IPython's formatters, so every figure is rendered to PNG
    by matplotlib-inline exactly as in a kernel; the stages use the executor the kernels get. No
    kernel, no papermill, no worker process. Returns the seconds and the display outputs (the
    ``data`` dicts, in order).
    """
    import nbformat
    from IPython.utils.capture import capture_output

    shell = _shell()
    nb = nbformat.read(str(notebook), as_version=4)
    values = {**parameters, "workspace": str(ws.root), "tracks": tracks}
    started = time.perf_counter()
    with _stage_executor(stage_executor), capture_output() as captured:
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            shell.run_cell(cell.source, store_history=True).raise_error()
            if "parameters" in cell.metadata.get("tags", []):
                shell.user_ns.update(values)  # what papermill's injected cell does
    took = time.perf_counter() - started
    return took, [out.data for out in captured.outputs]


def empty_notebook(folder: Path) -> Path:
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    nb = new_notebook()
    params = new_code_cell('workspace: str = ""  # workspace folder\ntracks: list = []  # track ids')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, new_code_cell("import soundforge as sf\nws = sf.Workspace(workspace or None)")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = folder / "empty.ipynb"
    nbformat.write(nb, str(path))
    return path


def timed_batch(notebook: Path, ws: Workspace, tracks: list[str], *, workers: int, chunk: int,
                parameters: dict[str, Any], stage_executor: str | None = "thread") -> tuple[float, Any]:
    started = time.perf_counter()
    summary = batch.run(notebook, tracks, parameters=parameters, workers=workers, chunk_size=chunk, workspace=ws,
                        progress=None, stage_executor=stage_executor)
    return time.perf_counter() - started, summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tracks", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each synthetic song")
    parser.add_argument("--configs", default="1x1,1x10,2x1,2x10", help="WORKERSxCHUNK,... to measure")
    parser.add_argument("--notebook", default=str(REPO / "notebooks" / "templates" / "track_report.ipynb"))
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="notebook parameter (JSON value or string)")
    parser.add_argument("--tmp", default=None, help="scratch folder (default: a temporary one)")
    parser.add_argument("--stage-executor", default="thread",
                        help="executor of the stages inside each kernel ('none': each stage's own processes)")
    args = parser.parse_args(argv)

    parameters = {}
    for name, value in args.parameter:
        try:
            parameters[name] = json.loads(value)
        except ValueError:
            parameters[name] = value
    notebook = Path(args.notebook).resolve()
    import papermill

    if "max_plots" in papermill.inspect_notebook(str(notebook)) and "max_plots" not in parameters:
        parameters["max_plots"] = args.tracks  # every configuration (and direct) draws every track's figure
    configs = [tuple(int(x) for x in c.split("x")) for c in args.configs.split(",")]
    scratch = Path(args.tmp) if args.tmp else Path(tempfile.mkdtemp(prefix="sf-batch-bench-"))
    files = synthesise(scratch / "src", n=args.tracks, seconds=args.seconds)

    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"{platform.platform()}")
    print(f"notebook: {notebook.relative_to(REPO) if notebook.is_relative_to(REPO) else notebook}, "
          f"parameters {parameters}, {args.tracks} tracks x {args.seconds:g} s\n")

    stage_executor = None if args.stage_executor == "none" else args.stage_executor
    # the old baseline first: once this process has an IPython shell, display() renders figures anywhere
    ws, tracks = fresh_workspace(scratch / "ws-exec", files)
    old = direct_exec(notebook, ws, tracks, parameters, stage_executor=stage_executor)
    ws, tracks = fresh_workspace(scratch / "ws-direct", files)
    base, outputs = direct(notebook, ws, tracks, parameters, stage_executor=stage_executor)
    figures = sum("image/png" in data for data in outputs)
    print(f"{'direct (IPython shell in-process)':38s} {base:8.1f} s  {60 * len(tracks) / base:7.1f} tracks/min "
          f"({figures} figures rendered to PNG; measured again at the end)")
    print(f"{'old direct (exec, figures not rendered)':38s} {old:8.1f} s  {60 * len(tracks) / old:7.1f} tracks/min "
          f"(not the baseline: see docs/benchmarks.md)")

    ws, tracks = fresh_workspace(scratch / "ws-empty", files)
    n_empty = min(len(tracks), 10)
    empty_s, summary = timed_batch(empty_notebook(scratch), ws, tracks[:n_empty], workers=1, chunk=1, parameters={})
    assert (summary["status"] == "done").all(), summary
    print(f"{'empty notebook, 1 worker, chunk 1':38s} {empty_s:8.1f} s  {empty_s / n_empty:7.2f} s per notebook "
          f"(pure cost of one execution)\n")

    print(f"{'workers x chunk':16s} {'notebooks':>9s} {'wall s':>8s} {'tracks/min':>10s} {'wall/direct':>11s} "
          f"{'overhead s/notebook':>20s} {'failed':>6s}")
    for workers, chunk in configs:
        ws, tracks = fresh_workspace(scratch / f"ws-{workers}x{chunk}", files)
        wall, summary = timed_batch(notebook, ws, tracks, workers=workers, chunk=chunk, parameters=parameters,
                                    stage_executor=stage_executor)
        notebooks = int(summary["chunk"].nunique())
        failed = int((summary["status"] == "failed").sum())
        overhead = (wall * workers - base) / notebooks
        print(f"{workers:>7d} x {chunk:<6d} {notebooks:9d} {wall:8.1f} {60 * len(tracks) / wall:10.1f} "
              f"{wall / base:11.2f} {overhead:20.2f} {failed:6d}")
    ws, tracks = fresh_workspace(scratch / "ws-direct-again", files)
    again, _ = direct(notebook, ws, tracks, parameters, stage_executor=stage_executor)
    print(f"\n{'direct again (after the configurations)':38s} {again:8.1f} s  {60 * len(tracks) / again:7.1f} "
          f"tracks/min; the table used the first ({base:.1f} s)")
    if args.tmp is None:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
