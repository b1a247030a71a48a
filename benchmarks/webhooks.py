"""Webhook delivery throughput and the cost of events on the stage's side.

    PYTHONPATH=. python benchmarks/webhooks.py [--events 1000] [--repeat 2]

Measured in one run, against a local receiver (``http.server`` in a child process
on 127.0.0.1, answering 200 at once):

1. deliveries per second of ``ws.webhooks.deliver()`` with 1 and 4 concurrent senders
   (claim, sign, POST, record the attempt in the catalog), each against a baseline: a bare
   httpx loop POSTing the same bodies from 1 and 4 threads (no signing, no catalog);
2. the cost per event on the stage's side: the same 1,000-item stage (thread executor,
   trivial work, a ``tracks`` upsert in ``record``) with and without one ``outbox.emit`` per
   item (an ``events`` row plus a ``deliveries`` row for the one endpoint), and the same stage
   through the workspace with the background sender delivering meanwhile (time to the stage's
   ``end`` event; the drain after it is reported apart). Target: <= 1 ms per event.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RECEIVER = r"""
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(200); self.send_header("content-length", "0"); self.end_headers()
    def log_message(self, *a): pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
s.daemon_threads = True
print(s.server_address[1], flush=True)
s.serve_forever()
"""


def trivial(payload: Any, ctx: Any) -> dict[str, Any]:
    return {"n": int(payload[1:])}


def record_plain(conn: Any, item: Any, result: Any) -> None:
    from soundforge.catalog import Catalog, utcnow

    now = utcnow()
    Catalog.upsert(conn, "tracks", {"track_id": item.key, "source": "bench", "name": str(result["n"]),
                                    "created_at": now, "updated_at": now}, key=["track_id"])


def record_event(conn: Any, item: Any, result: Any) -> None:
    from soundforge.events import outbox

    record_plain(conn, item, result)
    outbox.emit(conn, "track.downloaded", {"track_id": item.key, "path": f"downloads/{item.key}.wav",
                                           "format": "wav", "size_bytes": 123456, "duration_s": 1.0,
                                           "sha256": "0" * 64, "origin": "import"})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args(argv)
    n = args.events

    import httpx

    from soundforge.events import outbox
    from soundforge.runner import StageSpec, run_stage
    from soundforge.workspace import Workspace

    tmp = Path(tempfile.mkdtemp(prefix="webhooks-bench-"))
    child = subprocess.Popen([sys.executable, "-c", RECEIVER], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    url = f"http://127.0.0.1:{child.stdout.readline().strip()}/hook"
    runs = iter(range(10_000))
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; python "
          f"{sys.version.split()[0]}; receiver {url} (child process)")
    try:
        body = b'{"type":"track.downloaded","timestamp":"2026-01-01T00:00:00.000000Z","data":{"track_id":"x"}}'

        def bare(senders: int) -> float:
            with httpx.Client(trust_env=False, limits=httpx.Limits(max_connections=senders)) as client:
                def post(_: int) -> None:
                    client.post(url, content=body, headers={"content-type": "application/json"})
                start = time.perf_counter()
                with cf.ThreadPoolExecutor(senders) as pool:
                    list(pool.map(post, range(n)))
                return time.perf_counter() - start

        def ours(senders: int) -> float:
            ws = Workspace(tmp / f"d{next(runs)}")
            ws.webhooks.senders = senders
            ws.webhooks.add(url, allow_private=True)
            with ws.catalog.transaction() as conn:
                outbox.emit_many(conn, "track.downloaded", [{"track_id": f"t{i}"} for i in range(n)])
            start = time.perf_counter()
            summary = ws.webhooks.deliver(timeout=60)
            took = time.perf_counter() - start
            assert (summary.delivered, summary.pending) == (n, 0), summary
            return took

        print(f"\n{n} events to the local receiver, best of {args.repeat}")
        for senders in (1, 4):
            b = min(bare(senders) for _ in range(args.repeat))
            o = min(ours(senders) for _ in range(args.repeat))
            print(f"  {senders} sender{'s' if senders > 1 else ' '}: ws.webhooks.deliver() {n / o:7.0f} deliveries/s "
                  f"({o:.2f} s); bare httpx POST loop {n / b:7.0f}/s ({b:.2f} s); ratio {o / b:.2f}x")

        spec = StageSpec(name="bench", work=trivial, executor="thread", workers=2, columns={"n": "Int64"})
        keys = [f"t{i:06d}" for i in range(n)]

        def stage(record: Any, *, endpoint: bool, through_workspace: bool = False) -> tuple[float, float]:
            ws = Workspace(tmp / f"s{next(runs)}", webhook_drain_s=30)
            if endpoint:
                ws.webhooks.add(url, allow_private=True)
            marks: dict[str, float] = {}

            def progress(event: Any) -> None:
                marks.setdefault(event.kind, event.time)

            start = time.monotonic()
            if through_workspace:
                df = ws._run_stage(spec, keys, progress=progress, record=record)
            else:
                df = run_stage(spec, keys, catalog=ws.catalog, progress=progress, record=record)
            returned = time.monotonic() - start
            assert (df["status"] == "done").all()
            if through_workspace:
                left = ws.catalog.query("SELECT COUNT(*) AS n FROM deliveries WHERE status != 'delivered'")[0]["n"]
                assert left == 0, left
            return marks["end"] - marks["start"], returned - (marks["end"] - start)

        stage(record_plain, endpoint=False)  # warm up: imports, pandas
        print(f"\nstage of {n} trivial items (2 threads), best of {args.repeat}; time to the stage's end event")
        base = min(stage(record_plain, endpoint=True)[0] for _ in range(args.repeat))
        emit = min(stage(record_event, endpoint=True)[0] for _ in range(args.repeat))
        bg = [stage(record_event, endpoint=True, through_workspace=True) for _ in range(args.repeat)]
        live = min(t for t, _ in bg)
        print(f"  baseline (tracks upsert per item)            {base:6.3f} s")
        print(f"  + one event per item (rows only)             {emit:6.3f} s   "
              f"+{(emit - base) / n * 1000:.3f} ms/event")
        print(f"  + events delivered in the background         {live:6.3f} s   "
              f"+{(live - base) / n * 1000:.3f} ms/event (target <= 1 ms); drain after the stage "
              f"{min(d for _, d in bg):.2f} s")
        worst = max((emit - base), (live - base)) / n * 1000
        print(f"target (<= 1 ms per event on the stage's side): {'met' if worst <= 1.0 else 'MISSED'}")
    finally:
        child.kill()
        child.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
