"""Runner overhead: per-item cost of the stage runner, and multi-process speedup on CPU-bound items.

    PYTHONPATH=. python benchmarks/runner_overhead.py [--items 1000] [--repeat 3] [--cpu-items 16]

Measured, in one process, each best of ``--repeat`` runs:

1. baseline: a plain loop calling the work function (no runner, no catalog);
2. baseline + catalog: the same loop plus one write transaction per item (what any
   single-writer pipeline pays to record a result);
3. the runner with threads (2 workers) and with processes (2 workers), recording on:
   a ``jobs`` row per attempt (insert + update) and the stage's ``tracks`` upsert in the
   same transaction as the job update;
4. CPU-bound items (~0.1 s of pure-Python work each) through the process executor
   with 1 and 2 workers.

Per-item overhead = (runner wall time - baseline wall time) / items. Targets: <= 2 ms
(threads), <= 20 ms (processes), 2-worker speedup >= 1.8x. The machine's load average
is printed: other work on the same cores lowers the speedup.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

SPIN = 2_000_000  # loop iterations of spin(): ~0.1 s on a 2020s core


def trivial(payload: Any, ctx: Any) -> dict[str, Any]:
    """The trivial item: return a small row."""
    return {"value": int(payload[4:])}


def spin(payload: Any, ctx: Any) -> dict[str, Any]:
    """A CPU-bound item: a pure-Python loop (holds the GIL: only processes run it in parallel)."""
    acc = 0
    for i in range(SPIN):
        acc = (acc + i * i) % 1_000_003
    return {"value": acc}


def record(conn: Any, item: Any, result: dict[str, Any]) -> None:
    """The stage's catalog write: one ``tracks`` upsert."""
    from soundforge.catalog import Catalog, utcnow

    now = utcnow()
    Catalog.upsert(conn, "tracks", {"track_id": item.key, "source": "bench", "name": str(result["value"]),
                                    "created_at": now, "updated_at": now}, key=["track_id"])


def best_of(repeat: int, fn: Callable[[], float]) -> tuple[float, list[float]]:
    times = [fn() for _ in range(repeat)]
    return min(times), times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cpu-items", type=int, default=16)
    args = parser.parse_args(argv)

    from soundforge.catalog import Catalog, utcnow
    from soundforge.runner import StageSpec, WorkItem, run_stage

    # Work functions must be importable by name for worker processes: use this file as a module.
    me = importlib.import_module(Path(__file__).stem)
    keys = [f"item{i:06d}" for i in range(args.items)]
    tmp = Path(tempfile.mkdtemp(prefix="runner-bench-"))
    runs = iter(range(10_000))

    def fresh_catalog() -> Catalog:
        return Catalog(tmp / f"c{next(runs)}" / "catalog.sqlite")

    def baseline() -> float:
        t = time.perf_counter()
        for k in keys:
            me.trivial(k, None)
        return time.perf_counter() - t

    def baseline_catalog() -> float:
        cat = fresh_catalog()
        conn = cat.connect()
        t = time.perf_counter()
        for k in keys:
            result = me.trivial(k, None)
            conn.execute("BEGIN IMMEDIATE")
            now = utcnow()
            Catalog.upsert(conn, "tracks", {"track_id": k, "source": "bench", "name": str(result["value"]),
                                            "created_at": now, "updated_at": now}, key=["track_id"])
            conn.execute("COMMIT")
        took = time.perf_counter() - t
        conn.close()
        return took

    def runner(executor: str, fn: Callable[..., Any], items: list[str], workers: int) -> Callable[[], float]:
        spec = StageSpec(name="bench", work=fn, executor=executor, workers=workers, columns={"value": "Int64"})

        def go() -> float:
            cat = fresh_catalog()
            t = time.perf_counter()
            df = run_stage(spec, [WorkItem(k) for k in items], catalog=cat, progress=None, record=record)
            took = time.perf_counter() - t
            assert (df["status"] == "done").all(), df[df["status"] != "done"].head()
            assert len(cat.query("SELECT track_id FROM tracks")) == len(items)
            return took

        return go

    n = args.items
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} "
          f"{os.getloadavg()[1]:.2f}; python {sys.version.split()[0]}")
    print(f"{n} trivial items, best of {args.repeat}")
    base, _base_all = best_of(args.repeat, baseline)
    base_cat, base_cat_all = best_of(args.repeat, baseline_catalog)
    print(f"  baseline loop            {base * 1e3:8.1f} ms total  {base / n * 1e6:8.1f} us/item")
    print(f"  baseline loop + commit   {base_cat * 1e3:8.1f} ms total  {base_cat / n * 1e6:8.1f} us/item "
          f"(all: {', '.join(f'{x * 1e3:.0f}' for x in base_cat_all)} ms)")
    ok = True
    for executor, target_ms in [("thread", 2.0), ("process", 20.0)]:
        took, all_runs = best_of(args.repeat, runner(executor, me.trivial, keys, 2))
        per_item_ms = (took - base) / n * 1e3
        vs_commit = took / base_cat
        verdict = "OK" if per_item_ms <= target_ms else "MISS"
        ok &= verdict == "OK"
        print(f"  runner {executor:7s} x2     {took * 1e3:8.1f} ms total  overhead {per_item_ms:6.3f} ms/item "
              f"(target <= {target_ms:g}: {verdict}); {vs_commit:4.1f}x the loop+commit baseline "
              f"(all: {', '.join(f'{x * 1e3:.0f}' for x in all_runs)} ms)")

    cpu_keys = keys[: args.cpu_items] if args.cpu_items <= n else [f"cpu{i:04d}" for i in range(args.cpu_items)]
    t = time.perf_counter()
    me.spin("cpu0", None)
    one = time.perf_counter() - t
    print(f"{len(cpu_keys)} CPU-bound items of {one * 1e3:.0f} ms each (in-process), process executor, "
          f"best of {args.repeat}")
    w1, w1_all = best_of(args.repeat, runner("process", me.spin, cpu_keys, 1))
    w2, w2_all = best_of(args.repeat, runner("process", me.spin, cpu_keys, 2))
    speedup = w1 / w2
    verdict = "OK" if speedup >= 1.8 else "MISS"
    ok &= verdict == "OK"
    print(f"  1 worker  {w1:6.2f} s (all: {', '.join(f'{x:.2f}' for x in w1_all)})")
    print(f"  2 workers {w2:6.2f} s (all: {', '.join(f'{x:.2f}' for x in w2_all)})")
    print(f"  speedup 2 vs 1 workers: {speedup:.2f}x (target >= 1.8: {verdict}); "
          f"load average now {os.getloadavg()[0]:.2f}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
