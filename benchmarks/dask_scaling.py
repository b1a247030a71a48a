"""Dask executor vs process executor: 40 tracks analysed both ways in one run, plus the per-item overhead.

    PYTHONPATH=. python benchmarks/dask_scaling.py [--tracks 40] [--seconds 30] [--repeat 3] [--trivial 200]

1. Synthesises ``--tracks`` songs of ``--seconds`` (drums, bass, chords; each its own tempo
   and seed) and imports them into one workspace per run (import not timed).
2. ``ws.analyze`` with ``executor="process"`` and with a ``distributed.LocalCluster`` of 2
   process workers (1 thread each), with ``workers=1`` and ``workers=2``, interleaved (the order of
   the two executors flips every repetition, so drifting machine load hits both), best and median of
   ``--repeat``. The cluster is started once, before timing (its start-up is reported apart);
   each timed run pays its own child start-up and imports, as each process-executor run does.
   Target: the 2-worker cluster within 1.2x of the 2-worker process executor.
3. Per-item overhead of the Dask path: ``--trivial`` items whose work returns at once, through
   ``run_stage`` with both executors (2 workers, recording on); overhead per item =
   (dask wall - process wall) / items.

The machine's load average is printed: other work on the same cores slows both executors.
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, Path(__file__).resolve().parent):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))


def trivial(payload: Any, ctx: Any) -> dict[str, Any]:
    """The trivial item: return a small row."""
    return {"value": int(payload[4:])}


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg()[:2])


def make_tracks(folder: Path, *, n: int, seconds: float) -> list[Path]:
    import soundfile as sf
    from analysis_speed import synth_song  # the analysis benchmark's test song

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        song = synth_song(seconds, bpm=90.0 + 2.5 * i, seed=i)
        path = folder / f"track{i:03d}.flac"
        sf.write(path, song.T, 44100)
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tracks", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--trivial", type=int, default=200)
    args = parser.parse_args(argv)

    import distributed

    from soundforge.catalog import Catalog
    from soundforge.runner import StageSpec, run_stage
    from soundforge.workspace import Workspace

    tmp = Path(tempfile.mkdtemp(prefix="dask-bench-"))
    print(f"machine: {os.cpu_count()} CPUs, load average {load()}; python {sys.version.split()[0]}; "
          f"distributed {distributed.__version__}")
    files = make_tracks(tmp / "src", n=args.tracks, seconds=args.seconds)
    started = time.perf_counter()
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    client = distributed.Client(cluster, set_as_default=False)
    print(f"LocalCluster(n_workers=2, threads_per_worker=1) started in {time.perf_counter() - started:.2f} s "
          "(not in the timings below)")
    runs = iter(range(10_000))

    def analyse(executor: Any, workers: int) -> float:
        ws = Workspace(tmp / f"ws{next(runs)}")
        imported = ws.import_audio(files, progress=None)
        assert (imported["status"] == "done").all()
        t0 = time.perf_counter()
        result = ws.analyze(progress=None, executor=executor, workers=workers)
        took = time.perf_counter() - t0
        bad = result[result["status"] != "done"]
        assert bad.empty, bad[["track_id", "status", "error"]]
        return took

    print(f"{args.tracks} tracks of {args.seconds:g} s analysed (ws.analyze, recording on), best of {args.repeat}")
    timings: dict[tuple[str, int], list[float]] = {}
    pair: list[tuple[str, Any]] = [("process", "process"), ("dask", client)]
    for rep in range(args.repeat):
        for workers in (1, 2):
            for label, executor in (pair if rep % 2 == 0 else pair[::-1]):
                timings.setdefault((label, workers), []).append(analyse(executor, workers))
    best = {k: min(v) for k, v in timings.items()}
    median = {k: statistics.median(v) for k, v in timings.items()}
    for (label, workers), took in sorted(best.items()):
        every = ", ".join(f"{t:.2f}" for t in timings[(label, workers)])
        print(f"  {label:8s} x{workers}   best {took:6.2f} s ({args.tracks / took:5.2f} tracks/s)   median "
              f"{median[(label, workers)]:6.2f} s   (all: {every} s)")
    ratio = best[("dask", 2)] / best[("process", 2)]
    print(f"  dask x2 / process x2 wall time: best {ratio:.2f}x (target <= 1.2: {'OK' if ratio <= 1.2 else 'MISSED'}),"
          f" median {median[('dask', 2)] / median[('process', 2)]:.2f}x")
    for label in ("process", "dask"):
        print(f"  {label} speedup 2 vs 1 workers: {best[(label, 1)] / best[(label, 2)]:.2f}x")
    print(f"  per-track overhead of the Dask path (x2): "
          f"{1000 * (best[('dask', 2)] - best[('process', 2)]) / args.tracks:+.1f} ms/track")

    me = importlib.import_module(Path(__file__).stem)
    spec = StageSpec(name="trivial", work=me.trivial, executor="process", workers=2, columns={"value": "Int64"},
                     key="item")
    keys = [f"item{i:06d}" for i in range(args.trivial)]
    trivial_s: dict[str, float] = {}
    for label, executor in (("process", "process"), ("dask", client)):
        catalog = Catalog(tmp / f"trivial-{label}" / "catalog.sqlite")
        t0 = time.perf_counter()
        result = run_stage(spec, keys, catalog=catalog, progress=None, executor=executor, workers=2)
        trivial_s[label] = time.perf_counter() - t0
        assert (result["status"] == "done").all()
    per_item = 1000 * (trivial_s["dask"] - trivial_s["process"]) / args.trivial
    print(f"{args.trivial} trivial items, 2 workers, recording on (worker start-up included)")
    print(f"  process {trivial_s['process']:.2f} s ({1000 * trivial_s['process'] / args.trivial:.2f} ms/item)   "
          f"dask {trivial_s['dask']:.2f} s ({1000 * trivial_s['dask'] / args.trivial:.2f} ms/item)")
    print(f"  Dask path overhead: {per_item:+.2f} ms/item over the process executor; load average now {load()}")
    client.close()
    cluster.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
