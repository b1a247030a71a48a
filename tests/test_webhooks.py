"""``ws.webhooks``: endpoints, every event type end to end against a real receiver, and secrets kept secret."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook
from standardwebhooks.webhooks import Webhook

from soundforge import batch
from soundforge.catalog import utcnow
from soundforge.errors import ConfigError
from soundforge.events.signing import generate_secret
from soundforge.webhooks import LIST_COLUMNS, verify
from soundforge.workspace import Workspace
from tests.download.conftest import FakeSpotdl, track_row
from tests.download.conftest import fake_spotdl as fake_spotdl  # the stub spotdl fixture
from tests.events.conftest import FAST
from tests.events.receiver import Answer, Receiver
from tests.spotify.conftest import fake, fake_server  # noqa: F401  (the fake Spotify on 127.0.0.1)
from tests.spotify.conftest import spotify_env as spotify_env  # the fake Spotify in the environment
from tests.spotify.fake_spotify import FakeSpotify


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as rx:
        yield rx


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path / "ws", **FAST)


def test_add_validates_and_list_shows_health_without_secrets(ws: Workspace, receiver: Receiver) -> None:
    with pytest.raises(ConfigError, match=r"uses plain http.*allow_private=True"):
        ws.webhooks.add(receiver.url)
    with pytest.raises(ConfigError, match=r"Unknown event type\(s\) \['track.played'\]"):
        ws.webhooks.add("https://hooks.example.org/x", events=["track.played"])
    with pytest.raises(ConfigError, match="must start with 'whsec_'"):
        ws.webhooks.add("https://hooks.example.org/x", secret="not-a-standard-secret")
    mine = generate_secret()
    given = ws.webhooks.add("https://hooks.example.org/x", events="job.failed", secret=mine)
    assert given.secret == mine
    hook = ws.webhooks.add(receiver.url, allow_private=True)
    assert hook.secret.startswith("whsec_")
    assert hook.secret not in repr(hook)
    assert hook.secret not in hook._repr_html_()
    df = ws.webhooks.list()
    assert list(df.columns) == list(LIST_COLUMNS)
    assert df["events"].tolist() == [["job.failed"], ["*"]]
    assert df["active"].tolist() == [True, True]
    assert (ws.root / ".secrets" / "webhooks" / hook.webhook_id).read_text() == hook.secret
    ws.webhooks.disable(given.webhook_id)
    assert "by hand" in ws.webhooks.list()["disabled_reason"].iloc[0]
    ws.webhooks.remove(given.webhook_id)
    assert not (ws.root / ".secrets" / "webhooks" / given.webhook_id).exists()
    with pytest.raises(ConfigError, match=r"No webhook 'wh_000000000000'.*registered: \['wh_"):
        ws.webhooks.remove("wh_000000000000")


def test_test_sends_one_signed_event_even_to_a_disabled_endpoint(ws: Workspace, receiver: Receiver) -> None:
    hook = ws.webhooks.add(receiver.url, allow_private=True)
    ws.webhooks.disable(hook.webhook_id)
    result = ws.webhooks.test(hook.webhook_id)
    assert (result.ok, result.status_code, result.error) == (True, 200, None)
    (request,) = receiver.wait_for(1)
    payload = verify(request.body, request.headers, hook.secret)
    assert payload["type"] == "webhook.test"
    assert request.headers["webhook-id"] == result.event_id
    receiver.script(Answer(500))
    failed = ws.webhooks.test(hook.webhook_id)
    assert (failed.ok, failed.status_code, failed.error) == (False, 500, "HTTP 500")
    assert ws.webhooks.list()["failures"].iloc[0] == 0  # tests do not count against the endpoint


def _absolute_paths(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [p for v in value.values() for p in _absolute_paths(v)]
    if isinstance(value, list):
        return [p for v in value for p in _absolute_paths(v)]
    return [value] if isinstance(value, str) and value.startswith("/") else []


@pytest.mark.slow
def test_every_event_type_reaches_the_receiver_signed(tmp_path: Path, receiver: Receiver,
                                                      make_audio: Callable[..., Path], bad_files: dict[str, Path],
                                                      spotify_env: FakeSpotify, fake_spotdl: FakeSpotdl) -> None:
    ws = Workspace(tmp_path / "ws", **FAST)
    hook = ws.webhooks.add(receiver.url, allow_private=True)
    imported = ws.import_audio([make_audio("tone.wav", seconds=2.0), bad_files["text"]], progress=None)
    track = imported.loc[imported["status"] == "done", "track_id"].iloc[0]
    ws.analyze(track, progress=None)
    ws.separate(track, model="dsp", progress=None)
    ws.fetch(f"spotify:track:{spotify_env.track_id(500)}", progress=None)
    spotify_id = "4uLU6hMCjMI75M1A2tKUQC"
    now = utcnow()
    with ws.catalog.transaction() as conn:
        ws.catalog.upsert(conn, "tracks", {**track_row(spotify_id), "fetched_at": now, "created_at": now,
                                           "updated_at": now}, key=["track_id"])
    assert ws.download([spotify_id], progress=None)["status"].tolist() == ["done"]
    notebook = tmp_path / "report.ipynb"
    nb = new_notebook()
    params = new_code_cell('workspace: str = ""\ntracks: list = []')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, new_code_cell("print(len(tracks))")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(notebook))
    batch.run(notebook, [track], workspace=ws, workers=1, progress=None)

    payloads = [Webhook(hook.secret).verify(r.body, r.headers) for r in receiver.wait_for(7, timeout_s=30)]
    by_type = {p["type"]: p for p in payloads}
    assert set(by_type) == {"track.fetched", "track.downloaded", "track.analyzed", "track.separated", "job.failed",
                            "batch.finished"}
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == len(receiver.requests)
    assert all(p["timestamp"].endswith("Z") for p in payloads)
    assert sorted(p["data"]["origin"] for p in payloads if p["type"] == "track.downloaded") == ["import", "spotdl"]
    assert by_type["track.analyzed"]["data"]["track_id"] == track
    assert set(by_type["track.analyzed"]["data"]) >= {"tempo_bpm", "key_tonic", "key_mode", "energy", "features"}
    assert [s["stem"] for s in by_type["track.separated"]["data"]["stems"]] == ["vocals", "drums", "bass", "other"]
    assert by_type["track.fetched"]["data"]["track_id"] == spotify_env.track_id(500)
    failed = by_type["job.failed"]["data"]
    assert (failed["stage"], failed["item"], failed["error_type"]) == ("import", "notes.mp3", "AudioError")
    assert (by_type["batch.finished"]["data"]["total"], by_type["batch.finished"]["data"]["done"]) == (1, 1)
    assert by_type["batch.finished"]["data"]["summary_path"].startswith("runs/")
    assert [p for payload in payloads for p in _absolute_paths(payload["data"])] == []


def _everything(ws: Workspace, export: Path) -> list[tuple[str, bytes]]:
    """Every value of every table (hidden columns included), the catalog files, and a Parquet export."""
    found = []
    conn = sqlite3.connect(ws.catalog.path)
    for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
        for row in conn.execute(f"SELECT * FROM {table}"):
            found.append((table, json.dumps(row, default=str).encode()))
    conn.close()
    ws.export(export)
    files = [*ws.root.glob("catalog.sqlite*"), *export.glob("*.parquet")]
    return found + [(str(f), f.read_bytes()) for f in files]


@pytest.mark.slow
def test_a_secret_never_appears_in_tables_logs_or_an_executed_notebook(
        tmp_path: Path, receiver: Receiver, make_audio: Callable[..., Path], bad_files: dict[str, Path],
        caplog: pytest.LogCaptureFixture) -> None:
    import nbclient

    caplog.set_level(logging.DEBUG)
    root = tmp_path / "ws"
    audio = make_audio("tone.wav", seconds=0.5)
    secret_file = tmp_path / "handed-to-the-receiver.txt"
    notebook = new_notebook()
    notebook.cells = [new_code_cell(c) for c in (
        "import logging, sys\nlogging.basicConfig(level=logging.DEBUG, stream=sys.stdout)",
        f"import soundforge as sf\nws = sf.Workspace({str(root)!r}, webhook_backoff_s=0.05, webhook_drain_s=5)",
        f"hook = ws.webhooks.add({receiver.url!r}, allow_private=True)\nhook",
        f"open({str(secret_file)!r}, 'w').write(hook.secret)  # give it to the receiver, not to the notebook",
        "ws.webhooks.list()",
        "ws.webhooks.test(hook.webhook_id)",
        f"ws.import_audio([{str(audio)!r}, {str(bad_files['text'])!r}], progress='log')",
        "ws.webhooks.deliveries()",
        "print(vars(ws.webhooks), ws.webhooks.secrets, ws.settings)",
    )]
    receiver.script(Answer(500))  # one failed attempt, logged
    nbclient.NotebookClient(notebook, kernel_name="python3", timeout=120,
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    executed = tmp_path / "executed.ipynb"
    nbformat.write(notebook, str(executed))
    secret = secret_file.read_text()
    key = secret.removeprefix("whsec_")
    text = executed.read_text()
    assert "NewWebhook(webhook_id=" in text
    assert "secret=<hidden" in text
    assert "track.downloaded" in text or "deliver" in text

    # the same workspace from this process: deliveries, retries, failures, with every log line captured
    ws = Workspace(root, **FAST)
    receiver.script(Answer(500), Answer(302, headers={"Location": receiver.url + "?secret=1"}))
    ws.import_audio(make_audio("other.wav", seconds=0.4, freq=330.0), progress="log")
    ws.webhooks.deliver(timeout=5, retry_failed=True)
    ws.webhooks.test(ws.webhooks.list()["webhook_id"].iloc[0])
    requests = receiver.wait_for(3)
    assert verify(requests[-1].body, requests[-1].headers, secret)["type"] in {"track.downloaded", "job.failed",
                                                                              "webhook.test"}
    logged = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    assert "webhook" in logged  # deliveries were logged...
    for where, content in [("notebook", text.encode()), ("logs", logged.encode()),
                           *_everything(ws, tmp_path / "export")]:
        for needle in (secret, key):
            assert needle.encode() not in content, f"the secret leaked into {where}"
    assert not any(f.name.startswith("whsec") for f in ws.root.rglob("*"))
    assert (os.stat(ws.root / ".secrets").st_mode & 0o077) == 0
