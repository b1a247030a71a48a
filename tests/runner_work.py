"""Work functions for the runner tests: top-level, so worker processes can import them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from soundforge.errors import AudioError, SpotifyUnavailable
from soundforge.runner.context import ItemContext
from soundforge.storage import Storage


def double(payload: Any, ctx: ItemContext) -> dict[str, Any]:
    """Report 0, 50, 100 % and return ``value = 2 * int(payload)``."""
    for pct in (0, 50, 100):
        ctx.report(percent=pct, message=f"step {pct}")
    return {"value": 2 * int(payload), "pid": os.getpid()}


def flaky(payload: dict[str, Any], ctx: ItemContext) -> dict[str, Any]:
    """Fail attempts up to ``fail_until`` (transiently or not), then succeed."""
    if ctx.attempt <= payload.get("fail_until", 0):
        if payload.get("transient", True):
            raise SpotifyUnavailable(f"503 on attempt {ctx.attempt}", item=ctx.item)
        raise AudioError(f"bad audio in {ctx.item}", reason="corrupt")
    return {"value": ctx.attempt}


def cooperative_hang(payload: Any, ctx: ItemContext) -> dict[str, Any]:
    """Hang unless the payload says ``"ok"``; returns once cancelled (threads cannot be killed)."""
    if payload == "ok":
        return {"value": 1}
    while not ctx.cancelled():
        time.sleep(0.01)
    return {"value": -1}


def hard_hang(payload: Any, ctx: ItemContext) -> dict[str, Any]:
    """Sleep for ten minutes, ignoring cancellation (needs a process executor to stop)."""
    if payload == "ok":
        return {"value": 1}
    time.sleep(600)
    return {"value": -1}


_TREE = """
import os, subprocess, sys, time
grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(f"{os.getpid()} {grandchild.pid}")
os.replace(sys.argv[1] + ".tmp", sys.argv[1])
time.sleep(600)
"""


def spawn_tree(payload: dict[str, Any], ctx: ItemContext) -> dict[str, Any]:
    """Start a child that starts a grandchild; both hang. Writes their pids to ``pidfile``.

    A payload that is not a dict is a quick item.
    """
    if not isinstance(payload, dict):
        return {"value": int(payload)}
    proc = subprocess.Popen([sys.executable, "-c", _TREE, payload["pidfile"]],
                            start_new_session=payload.get("own_session", False))
    if payload.get("register", False):
        ctx.register_process(proc)
    Path(payload["pidfile"] + ".worker").write_text(str(os.getpid()))
    proc.wait()
    return {"value": proc.returncode}


def crash(payload: Any, ctx: ItemContext) -> dict[str, Any]:
    """Kill the worker process itself when the payload says so."""
    if payload == "crash":
        os.kill(os.getpid(), signal.SIGKILL)
    return {"value": 1}


class _Unpicklable(Exception):
    def __init__(self, a: int, b: int) -> None:
        super().__init__(f"needs two args {a} {b}")


def unpicklable_error(payload: Any, ctx: ItemContext) -> dict[str, Any]:
    """Raise an exception that cannot be rebuilt by pickle."""
    raise _Unpicklable(1, 2)


def use_breaker(payload: Any, ctx: ItemContext) -> dict[str, Any]:
    """Call a (fake) service through ``ctx.breaker("svc")``: fails transiently unless payload is "ok"."""
    def call() -> int:
        if payload != "ok":
            raise SpotifyUnavailable("service down")
        return 1

    return {"value": ctx.breaker("svc").call(call)}


def write_file(payload: dict[str, Any], ctx: ItemContext) -> dict[str, Any]:
    """Write ``runs/kill/<item>.json`` atomically (a few hundred KB), slowly, and return its size."""
    storage = Storage(payload["root"])
    final = storage.root / "runs" / "kill" / f"{ctx.item}.json"
    body = {"item": ctx.item, "filler": "x" * 200_000}
    with storage.atomic_path(final) as tmp, open(tmp, "w") as handle:
        text = json.dumps(body)
        half = len(text) // 2
        handle.write(text[:half])
        handle.flush()
        time.sleep(payload.get("sleep", 0.0))
        handle.write(text[half:])
    return {"value": final.stat().st_size}


def timed(payload: Any, ctx: ItemContext) -> dict[str, Any]:
    """Sleep ``payload`` seconds (a number), or until the file ``payload`` (a path string) exists, at most
    60 s; return when the item ran (wall clock) to measure concurrency."""
    start = time.time()
    if isinstance(payload, str):
        deadline = time.monotonic() + 60.0
        while not Path(payload).exists() and time.monotonic() < deadline:
            time.sleep(0.02)
    else:
        time.sleep(float(payload))
    return {"t0": start, "t1": time.time()}


def whereabouts(payload: Any, ctx: ItemContext) -> dict[str, Any]:
    """Report progress, sleep ``payload`` seconds, and return the pids of the work and of its parent."""
    ctx.report(percent=0, message="started")
    time.sleep(float(payload))
    ctx.report(percent=100, message="slept")
    return {"pid": os.getpid(), "ppid": os.getppid()}


def tree_or_fail(payload: Any, ctx: ItemContext) -> dict[str, Any]:
    """A dict payload: :func:`spawn_tree`; a number: sleep that many seconds, then fail for good."""
    if isinstance(payload, dict):
        return spawn_tree(payload, ctx)
    time.sleep(float(payload))
    raise AudioError(f"bad audio in {ctx.item}", reason="corrupt")
