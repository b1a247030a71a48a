from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import pytest

from soundforge.errors import ItemCancelled, SpotifyUnavailable, StageError
from soundforge.runner.context import ItemContext, Progress, Task, execute, kill_target, portable_error
from soundforge.runner.resilience import BreakerBoard


def make_ctx(*, deadline: float | None = None, sent: list[Any] | None = None) -> ItemContext:
    task = Task(task_id=7, stage="s", item="t1", attempt=2, work=lambda p, c: None, payload=None,
                params={"sr": 22050}, deadline=deadline)
    return ItemContext(task, send=(sent if sent is not None else []).append, breaker_for=BreakerBoard().__getitem__)


def test_context_exposes_the_attempt() -> None:
    ctx = make_ctx()
    assert (ctx.item, ctx.attempt, ctx.params["sr"], ctx.deadline) == ("t1", 2, 22050, None)
    assert ctx.remaining() is None
    assert not ctx.cancelled()


def test_reports_are_coalesced_and_the_last_one_always_arrives() -> None:
    sent: list[Any] = []
    ctx = make_ctx(sent=sent)
    for i in range(1000):
        ctx.report(percent=i / 10, message=f"chunk {i}")
    ctx.flush()
    assert len(sent) < 20
    assert sent[0] == Progress(7, 0.0, "chunk 0")
    assert sent[-1] == Progress(7, 99.9, "chunk 999")


def test_report_clamps_and_accepts_100_at_once() -> None:
    sent: list[Any] = []
    ctx = make_ctx(sent=sent)
    ctx.report(percent=-5)
    ctx.report(percent=250)  # 100 % is never held back
    ctx.report(percent=float("nan"), message="x" * 1000)
    ctx.flush()
    assert [m.percent for m in sent] == [0.0, 100.0, None]
    assert len(sent[-1].message) == 300


def test_deadline_and_cancel() -> None:
    ctx = make_ctx(deadline=time.monotonic() + 0.05)
    assert 0 < (ctx.remaining() or 0) <= 0.05
    ctx.check()
    time.sleep(0.06)
    assert ctx.cancelled()
    assert ctx.remaining() == 0.0
    with pytest.raises(ItemCancelled, match="'t1' was cancelled"):
        ctx.check()
    other = make_ctx()
    other.cancel()
    assert other.cancelled()


def test_cancel_kills_registered_processes_in_their_own_group() -> None:
    ctx = make_ctx()
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    ctx.register_process(proc)
    assert ctx.processes == frozenset({("group", proc.pid)})
    ctx.cancel()
    assert proc.wait(timeout=5) == -9


def test_registering_after_cancel_kills_at_once_and_own_group_is_never_killed() -> None:
    ctx = make_ctx()
    ctx.cancel()
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])  # our own group
    ctx.register_process(proc)
    assert ctx.processes == frozenset({("pid", proc.pid)})
    assert proc.wait(timeout=5) == -9
    import os

    kill_target(("group", os.getpgrp()))  # refused silently: we are still alive
    ctx.unregister_process(proc)
    assert ctx.processes == frozenset()


def test_execute_captures_errors_and_system_exit() -> None:
    ctx = make_ctx()

    def bye(payload: Any, c: ItemContext) -> None:
        raise SystemExit("demucs says bye")

    task = Task(task_id=1, stage="s", item="i", attempt=1, work=bye, payload=None)
    outcome = execute(task, ctx)
    assert not outcome.ok
    assert outcome.error_text == "SystemExit: demucs says bye"
    assert "demucs says bye" in (outcome.traceback or "")


def test_portable_error_keeps_message_and_transient_flag() -> None:
    class Odd(TimeoutError):  # transient, and pickle cannot rebuild it
        def __init__(self, a: int, b: int) -> None:
            super().__init__(f"odd {a} {b}")

    stand_in = portable_error(Odd(1, 2))
    assert isinstance(stand_in, StageError)
    assert str(stand_in) == "odd 1 2"
    assert stand_in.transient is True
    same = SpotifyUnavailable("503")
    assert type(portable_error(same)) is SpotifyUnavailable
