"""The outbox: events written with the change that causes them; deliveries survive a crash."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from soundforge.errors import CatalogError, ConfigError
from soundforge.events import outbox
from soundforge.runner import WorkItem
from soundforge.stages import imports
from soundforge.workspace import Workspace

from .conftest import emit
from .receiver import Answer, Receiver

REPO = Path(__file__).resolve().parents[2]


def test_events_fan_out_to_active_subscribed_endpoints_only(ws: Workspace, receiver: Receiver) -> None:
    every = ws.webhooks.add(receiver.url, allow_private=True).webhook_id
    failures = ws.webhooks.add(receiver.url, events=["job.failed"], allow_private=True).webhook_id
    off = ws.webhooks.add(receiver.url, allow_private=True).webhook_id
    ws.webhooks.disable(off)
    emit(ws.catalog, 2)
    with ws.catalog.transaction() as conn:
        outbox.emit(conn, "job.failed", {"job_id": 1})
    rows = ws.catalog.query("SELECT d.webhook_id, e.type FROM deliveries d JOIN events e USING (event_id) "
                            "ORDER BY d.delivery_id")
    assert [(r["webhook_id"], r["type"]) for r in rows] == [
        (every, "track.downloaded"), (every, "track.downloaded"), (every, "job.failed"), (failures, "job.failed")]
    with pytest.raises(ConfigError, match=r"Unknown event type 'track\.played'"), ws.catalog.transaction() as conn:
        outbox.emit(conn, "track.played", {})


def test_a_rolled_back_transaction_leaves_no_event(ws: Workspace, receiver: Receiver) -> None:
    ws.webhooks.add(receiver.url, allow_private=True)
    with pytest.raises(RuntimeError), ws.catalog.transaction() as conn:
        outbox.emit(conn, "track.downloaded", {"track_id": "t1"})
        raise RuntimeError("the change failed")
    assert ws.catalog.query("SELECT * FROM events") == []
    assert ws.catalog.query("SELECT * FROM deliveries") == []


def test_a_rolled_back_stage_record_emits_nothing(ws: Workspace, receiver: Receiver,
                                                  make_audio: Callable[..., Path]) -> None:
    """The import stage's real record hook writes the event, then the transaction fails: no track.downloaded
    reaches the receiver; the item's failure (job.failed) does."""
    hook = ws.webhooks.add(receiver.url, allow_private=True)

    def record_then_fail(conn: Any, item: WorkItem, result: Any) -> None:
        imports.record_import(conn, item, result)
        assert conn.execute("SELECT COUNT(*) FROM events WHERE type = 'track.downloaded'").fetchone()[0] == 1
        raise CatalogError("disk full (simulated) after the stage's writes")

    files = [make_audio("a.wav", seconds=0.3)]
    items = imports.import_items(files, catalog=ws.catalog, storage=ws.storage, max_duration_s=60.0,
                                 ffmpeg="ffmpeg", ffmpeg_timeout_s=60.0, force=False)
    df = ws._run_stage(imports.IMPORT, items, progress=None, record=record_then_fail)
    assert df["status"].tolist() == ["failed"]
    assert ws.audio().empty
    assert [r["type"] for r in ws.catalog.query("SELECT type FROM events")] == ["job.failed"]
    got = [Webhook(hook.secret).verify(r.body, r.headers) for r in receiver.wait_for(1)]
    time.sleep(0.3)
    assert [g["type"] for g in got] == ["job.failed"]
    assert len(receiver.arrived) == 1
    assert "disk full" in got[0]["data"]["error"]


def test_claims_lease_deliveries_and_take_over_those_of_dead_processes(ws: Workspace, receiver: Receiver) -> None:
    hook = ws.webhooks.add(receiver.url, allow_private=True).webhook_id
    emit(ws.catalog, 3)
    conn = ws.catalog.connect()
    try:
        first = outbox.claim(conn, webhook_id=hook, limit=2, lease_s=60)
        assert [c.attempt for c in first] == [1, 1]
        assert outbox.due_endpoints(conn) == {hook: 1}  # leased by this live process: not due for a sender
        assert len(outbox.claim(conn, webhook_id=hook, limit=5, lease_s=60)) == 1  # the two leased are not free
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True)
        conn.execute("UPDATE deliveries SET lease_pid = ?", (int(dead.stdout),))
        assert outbox.due_endpoints(conn) == {hook: 3}
        again = outbox.claim(conn, webhook_id=hook, limit=5, lease_s=60)
        assert sorted(c.delivery_id for c in again) == [1, 2, 3]
        assert {c.attempt for c in again} == {2}
    finally:
        conn.close()


CHILD = textwrap.dedent('''
    import sys, time
    from soundforge.runner import run_stage
    from soundforge.stages import imports
    from soundforge.workspace import Workspace

    root, audio, mode = sys.argv[1:4]
    ws = Workspace(root, webhook_timeout_s=30, webhook_drain_s=30)
    items = imports.import_items([__import__("pathlib").Path(audio)], catalog=ws.catalog, storage=ws.storage,
                                 max_duration_s=60.0, ffmpeg="ffmpeg", ffmpeg_timeout_s=60.0, force=False)
    if mode == "before_sending":  # the stage commits through the runner; nothing delivers in this process
        run_stage(imports.IMPORT, items, catalog=ws.catalog, progress=None, record=imports.record_import)
    else:  # the workspace's stage: its sender thread is sending when the process dies
        ws._run_stage(imports.IMPORT, items, progress=None, record=imports.record_import)
    print("committed", flush=True)
    time.sleep(60)
''')


@pytest.mark.parametrize("mode", ["before_sending", "while_sending"])
def test_kill_9_after_the_commit_then_deliver(tmp_path: Path, receiver: Receiver, make_audio: Callable[..., Path],
                                              mode: str) -> None:
    """kill -9 between the catalog commit and the delivery: deliver() sends the event, same webhook-id."""
    root = tmp_path / "ws"
    ws = Workspace(root, webhook_timeout_s=5.0, webhook_backoff_s=0.05)
    hook = ws.webhooks.add(receiver.url, allow_private=True, events=["track.downloaded"])
    if mode == "while_sending":
        receiver.script(Answer(hang=True))  # the child's attempt gets no answer before it dies
    audio = make_audio("song.wav", seconds=0.3)
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(root), str(audio), mode], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        if mode == "while_sending":
            receiver.wait_for(1, answered=False, timeout_s=60)
        else:
            assert child.stdout is not None
            line = child.stdout.readline()
            assert line.strip() == "committed", child.stderr.read() if child.stderr else ""
        events = ws.catalog.query("SELECT event_id FROM events WHERE type = 'track.downloaded'")
        assert len(events) == 1  # committed with the audio row
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    receiver.release()
    assert ws.catalog.query("SELECT status FROM deliveries")[0]["status"] == "pending"
    summary = ws.webhooks.deliver(timeout=10)
    assert summary.delivered == 1
    answered = receiver.wait_for(1)
    ids = {h["webhook-id"] for _, h, _ in receiver.arrived}
    assert ids == {events[0]["event_id"]}  # at least once, always the same id
    payload = Webhook(hook.secret).verify(answered[-1].body, answered[-1].headers)
    assert payload["type"] == "track.downloaded"
    assert payload["data"]["path"].startswith("downloads/")
    assert len(receiver.arrived) == (2 if mode == "while_sending" else 1)
