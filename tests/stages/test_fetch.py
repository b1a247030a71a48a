"""ws.fetch and the fetch stage, against the fake Spotify on 127.0.0.1."""

from __future__ import annotations

import base64
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from soundforge import Workspace
from soundforge.catalog import Catalog
from soundforge.errors import SpotifyNotFound, SpotifyURLError
from soundforge.progress import ProgressEvent
from soundforge.runner import run_stage
from soundforge.runner.resilience import BreakerBoard, RetryPolicy
from soundforge.spotify import HttpSpotifyClient, parse_url
from soundforge.spotify import RetryPolicy as ClientRetry
from soundforge.stages.fetch import FETCH, FETCH_COLUMNS, ClientHolder, fetch_items, record_fetch
from tests.spotify.conftest import fake, fake_server, make_client, sleeps  # noqa: F401  (shared fixtures)
from tests.spotify.conftest import spotify_env as spotify_env  # the fake Spotify in the environment
from tests.spotify.fake_spotify import CLIENT_ID, CLIENT_SECRET, FakeSpotify

REPO = Path(__file__).resolve().parents[2]
MakeClient = Callable[..., HttpSpotifyClient]


@pytest.fixture
def ws(tmp_path: Path, spotify_env: FakeSpotify) -> Workspace:
    return Workspace(tmp_path / "ws")


def test_fetch_links_of_every_kind(ws: Workspace, spotify_env: FakeSpotify) -> None:
    sp = spotify_env
    pid = sp.add_playlist(130, special={3: "null", 4: "local", 5: "episode"})
    links = [f"https://open.spotify.com/intl-de/playlist/{pid}?si=abc", f"spotify:album:{sp.album_id(20)}",
             f"https://open.spotify.com/track/{sp.track_id(500)}", f"spotify:artist:{sp.artist_id(7)}"]
    df = ws.fetch(links, progress=None)
    assert list(df.columns) == list(FETCH_COLUMNS)
    assert set(df["status"]) == {"done"}
    artist_tracks = [i for a in sp.artist_albums(7) for i in sp.album_track_indexes(a) if i % 97 != 96]
    expected = 127 + 12 + 1 + len(artist_tracks)
    assert len(df) == expected
    assert df["source_url"].iloc[0] == f"https://open.spotify.com/playlist/{pid}"  # canonical, no ?si=
    assert df["track_id"].iloc[:3].tolist() == [sp.track_id(i) for i in (0, 1, 2)]
    assert df["track_id"].iloc[3] == sp.track_id(6)  # entries 3-5 gave no track
    assert isinstance(df["artists"].iloc[0], list)
    assert str(df["duration_ms"].dtype) == "Int64"
    assert str(df["explicit"].dtype) == "boolean"
    assert isinstance(df["fetched_at"].dtype, pd.DatetimeTZDtype)
    assert [link["kind"] for link in df.attrs["links"]] == ["playlist", "album", "track", "artist"]
    assert df.attrs["links"][0]["pages"] == 3
    reasons = sorted(e["reason"] for e in df.attrs["skipped_entries"] if e["source_url"].endswith(pid))
    assert reasons == ["episode", "local file", "null entry"]
    tracks = ws.tracks()
    assert len(tracks) == df["track_id"].nunique()
    assert set(tracks["source"]) == {"spotify"}
    sources = ws.catalog.table("track_sources")
    assert len(sources) == len(df)
    playlist = sources[sources["source_url"] == f"https://open.spotify.com/playlist/{pid}"]
    assert playlist["position"].tolist() == list(range(127))
    market = {args.get("market") for _, path, args in sp.log if path.startswith("/v1/")}
    assert market == {"US"}
    assert sp.counts["token"] == 1


def test_refetch_updates_never_duplicates_and_keeps_created_at(ws: Workspace, spotify_env: FakeSpotify) -> None:
    sp = spotify_env
    pid = sp.add_playlist(60)
    ws.fetch(f"spotify:playlist:{pid}", progress=None)
    before = ws.tracks().set_index("track_id")
    sp.name_suffix = " (Remastered)"
    time.sleep(0.01)
    again = ws.fetch(f"spotify:playlist:{pid}", force=True, progress=None)
    assert set(again["status"]) == {"done"}
    after = ws.tracks().set_index("track_id")
    assert len(after) == len(before) == 60
    assert after["name"].str.endswith(" (Remastered)").all()
    assert (after["created_at"] == before.loc[after.index, "created_at"]).all()
    assert (after["updated_at"] > before.loc[after.index, "updated_at"]).all()
    assert (after["fetched_at"] > before.loc[after.index, "fetched_at"]).all()
    assert len(ws.catalog.table("track_sources")) == 60


def test_fetched_links_are_skipped_without_requests_or_credentials(ws: Workspace, spotify_env: FakeSpotify,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    sp = spotify_env
    pid = sp.add_playlist(75, special={10: "repeat"})
    first = ws.fetch([f"spotify:playlist:{pid}", f"spotify:track:{sp.track_id(3)}"], progress=None)
    sent = len(sp.log)
    monkeypatch.delenv("SPOTIFY_CLIENT_SECRET")  # not needed: nothing is fetched
    second = ws.fetch([f"spotify:playlist:{pid}", f"spotify:track:{sp.track_id(3)}"], progress=None)
    assert len(sp.log) == sent
    assert set(second["status"]) == {"skipped"}
    cols = [c for c in FETCH_COLUMNS if c not in ("status", "fetched_at")]
    pd.testing.assert_frame_equal(first[cols].reset_index(drop=True), second[cols].reset_index(drop=True))
    # fetched_at is when the row's metadata was fetched: track 3 was fetched again by the track link
    assert (second["fetched_at"].to_numpy() >= first["fetched_at"].to_numpy()).all()
    other_market = ws.fetch(f"spotify:playlist:{pid}", market="de", progress=None)  # new parameters: fetched
    assert other_market["status"].iloc[0] == "failed"
    assert "SPOTIFY_CLIENT_SECRET" in other_market["error"].iloc[0]


def test_failed_links_become_rows_or_raise(ws: Workspace, spotify_env: FakeSpotify) -> None:
    sp = spotify_env
    missing = "spotify:playlist:0000000000000000000000"
    df = ws.fetch([missing, f"spotify:track:{sp.track_id(1)}"], progress=None)
    failed = df[df["status"] == "failed"]
    assert len(failed) == 1
    assert failed["source_url"].iloc[0] == "https://open.spotify.com/playlist/0000000000000000000000"
    assert failed["error"].iloc[0].startswith("SpotifyNotFound: Spotify found no items of playlist")
    assert failed["explicit"].isna().all()
    assert failed["track_id"].isna().all()
    assert df[df["status"] == "done"]["track_id"].tolist() == [sp.track_id(1)]
    with pytest.raises(SpotifyNotFound, match="0000000000000000000000"):
        ws.fetch(missing, errors="raise", progress=None)


def test_bad_links_are_refused_before_any_request(ws: Workspace, spotify_env: FakeSpotify) -> None:
    with pytest.raises(SpotifyURLError, match="podcast episodes are not supported"):
        ws.fetch([f"spotify:track:{spotify_env.track_id(1)}", "https://open.spotify.com/episode/" + "a" * 22])
    assert spotify_env.log == []
    assert len(ws.jobs()) == 0


def test_missing_credentials_say_what_to_set(ws: Workspace, spotify_env: FakeSpotify,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPOTIFY_CLIENT_ID")
    monkeypatch.delenv("SPOTIFY_CLIENT_SECRET")
    df = ws.fetch(f"spotify:track:{spotify_env.track_id(1)}", progress=None)
    assert df["status"].tolist() == ["failed"]
    assert "set the environment variables SPOTIFY_CLIENT_ID and SPOTIFY_CLIENT_SECRET" in df["error"].iloc[0]
    assert df.attrs["links"][0]["attempts"] == 1  # not retried: it cannot get better by itself


def test_progress_reports_pages_and_tracks(ws: Workspace, spotify_env: FakeSpotify) -> None:
    pid = spotify_env.add_playlist(120)
    events: list[ProgressEvent] = []
    ws.fetch(f"spotify:playlist:{pid}", progress=events.append)
    messages = [e.message for e in events if e.kind == "item_progress"]
    assert messages[-1] == "3 pages, 120 tracks of 120"
    percents = [e.percent for e in events if e.kind == "item_progress"]
    assert percents[-1] == 100.0
    kinds = [e.kind for e in events]
    assert kinds[0] == "start"
    assert kinds[-1] == "end"


def test_injected_client_and_workers(ws: Workspace, spotify_env: FakeSpotify,
                                     make_client: MakeClient) -> None:  # noqa: F811
    sp = spotify_env
    client = make_client()
    links = [f"spotify:track:{sp.track_id(i)}" for i in range(12)]
    df = ws.fetch(links, client=client, workers=4, progress=None)
    assert df["track_id"].tolist() == [sp.track_id(i) for i in range(12)]  # input order kept
    assert client.stats.token_requests == 1
    assert client.stats.api_requests == 12
    assert not client._http.is_closed  # an injected client is left open


def test_circuit_breaker_opens_after_five_failing_requests(fake: FakeSpotify, make_client: MakeClient,  # noqa: F811
                                                           tmp_path: Path) -> None:
    fake.add_fault(r"/v1/tracks/", status=503, times=1000)
    client = make_client(retry=ClientRetry(attempts=1))
    refs = [parse_url(f"spotify:track:{fake.track_id(i)}") for i in range(9)]
    board = BreakerBoard()
    catalog = Catalog(tmp_path / "c.sqlite")
    result = run_stage(FETCH, fetch_items(refs, client=ClientHolder(lambda: client), market="US",
                                          include_groups=("album",)),
                       catalog=catalog, workers=1, progress=None, retry=RetryPolicy(attempts=1),
                       breakers=board, record=record_fetch)
    errors = result["error"].tolist()
    assert all(e.startswith("SpotifyUnavailable") for e in errors[:5])
    assert all(e.startswith("CircuitOpen: The spotify circuit breaker is open") for e in errors[5:])
    assert fake.counts["faults"] == 5  # nothing was sent once it opened
    assert board["spotify"].state == "open"


def test_old_catalogs_are_upgraded(tmp_path: Path) -> None:
    from soundforge.catalog import MIGRATIONS, SCHEMA_VERSION, _statements

    path = tmp_path / "ws" / "catalog.sqlite"
    path.parent.mkdir()
    conn = sqlite3.connect(path)
    for statement in _statements(MIGRATIONS[0]):
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    ws = Workspace(tmp_path / "ws")
    assert ws.catalog.schema_version == SCHEMA_VERSION
    assert list(ws.catalog.table("track_sources").columns) == ["source_url", "position", "track_id", "fetched_at"]


def test_the_secret_is_not_in_the_workspace(ws: Workspace, spotify_env: FakeSpotify) -> None:
    pid = spotify_env.add_playlist(60)
    spotify_env.add_fault(r"/items$", expire_tokens=True, skip=1)
    ws.fetch([f"spotify:playlist:{pid}", "spotify:track:0000000000000000000000"], progress="log")
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode())
    conn = sqlite3.connect(ws.catalog.path)
    dump = "\n".join(conn.iterdump())
    conn.close()
    assert len(dump) > 10_000
    assert "spotify-token" not in dump
    assert CLIENT_SECRET not in dump
    for file in ws.root.rglob("*"):
        if file.is_file():
            data = file.read_bytes()
            assert CLIENT_SECRET.encode() not in data, file
            assert basic not in data, file
    cache = list((ws.root / ".cache" / "spotify").glob("spotify-token-*.json"))
    assert len(cache) == 1
    assert cache[0].stat().st_mode & 0o777 == 0o600


WORKER = """
import sys
from soundforge import Workspace
root, link = sys.argv[1:]
df = Workspace(root).fetch(link, progress=None)
print(df["status"].iloc[0])
"""


def test_two_processes_on_one_workspace_share_one_token(tmp_path: Path, fake_server: Any,  # noqa: F811
                                                        spotify_env: FakeSpotify) -> None:
    sp = fake_server.attach(FakeSpotify(n_tracks=40, token_delay_s=0.3))
    env = {**os.environ, "PYTHONPATH": str(REPO), "SOUNDFORGE_SPOTIFY_API_URL": f"{sp.base}/v1",
           "SOUNDFORGE_SPOTIFY_TOKEN_URL": f"{sp.base}/api/token"}
    Workspace(tmp_path / "ws")  # create the catalog once
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(tmp_path / "ws"), f"spotify:track:{sp.track_id(i)}"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for i in range(2)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [o.strip() for o, _ in outputs] == ["done", "done"], outputs
    assert sp.counts["token"] == 1
    assert len(Workspace(tmp_path / "ws").tracks()) == 2


def test_metadata_fetched_earlier_never_overwrites_later(tmp_path: Path) -> None:
    from soundforge.runner import WorkItem
    from soundforge.spotify import FetchResult, TrackRow
    from soundforge.stages.fetch import LinkResult

    def link(name: str, when: str) -> LinkResult:
        row = TrackRow("4uLU6hMCjMI75M1A2tKUQC", name, ("A",), ("a",), None, None, None, 1000, 1, 1, False, None,
                       "https://open.spotify.com/track/4uLU6hMCjMI75M1A2tKUQC", "https://open.spotify.com/album/x",
                       when)
        return LinkResult(FetchResult(parse_url("spotify:track:4uLU6hMCjMI75M1A2tKUQC"), (row,)), "track",
                          [row.to_row()])

    catalog = Catalog(tmp_path / "c.sqlite")
    with catalog.transaction() as conn:
        record_fetch(conn, WorkItem("https://open.spotify.com/track/a"), link("new", "2026-01-02T00:00:00+00:00"))
    with catalog.transaction() as conn:  # an older fetch finishing later
        record_fetch(conn, WorkItem("https://open.spotify.com/track/b"), link("old", "2026-01-01T00:00:00+00:00"))
    tracks = catalog.table("tracks")
    assert tracks["name"].tolist() == ["new"]
    assert len(catalog.table("track_sources")) == 2  # both links still list the track
    with catalog.transaction() as conn:
        record_fetch(conn, WorkItem("https://open.spotify.com/track/a"), link("newer", "2026-01-03T00:00:00+00:00"))
    assert catalog.table("tracks")["name"].tolist() == ["newer"]
    assert catalog.table("tracks")["explicit"].tolist() == [False]
    assert catalog.table("tracks")["artists"].tolist() == [["A"]]


def test_cli_fetch(tmp_path: Path, spotify_env: FakeSpotify, capsys: pytest.CaptureFixture[str]) -> None:
    from soundforge.cli import main

    sp = spotify_env
    pid = sp.add_playlist(55, special={0: "episode"})
    root = str(tmp_path / "ws")
    code = main(["--root", root, "fetch", f"https://open.spotify.com/playlist/{pid}", "--no-progress",
                 "--market", "se"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "Track 1 " in out.out
    assert "54 tracks from 1 link(s): 1 fetched, 0 already in the workspace" in out.out
    assert "1 entries without a track skipped" in out.out
    assert {args.get("market") for _, path, args in sp.log if path.startswith("/v1/")} == {"SE"}
    code = main(["--root", root, "fetch", f"spotify:playlist:{pid}", "spotify:album:0000000000000000000000",
                 "--no-progress", "--market", "se"])
    out = capsys.readouterr()
    assert code == 1
    assert "1 fetched" not in out.out
    assert "1 already in the workspace" in out.out
    assert "failed: https://open.spotify.com/album/0000000000000000000000: SpotifyNotFound" in out.err
    assert main(["--root", root, "fetch", "https://evil.example/track/" + "a" * 22]) == 1
    assert "error: Not a supported Spotify link" in capsys.readouterr().err


@pytest.mark.slow
def test_notebook_outputs_never_show_the_secret(tmp_path: Path, spotify_env: FakeSpotify) -> None:
    """A real kernel fetches, displays the client and fails with %xmode Verbose (locals in tracebacks)."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    sp = spotify_env
    pid = sp.add_playlist(60)
    sp.add_fault("/api/token", method="POST", status=400, skip=1,
                 body='{"error": "invalid_client", "error_description": "Invalid client secret"}')
    cells = [
        f"import sys\nsys.path.insert(0, {str(REPO)!r})\nimport soundforge as sf\n"
        f"from soundforge.spotify import RetryPolicy\nws = sf.Workspace({str(tmp_path / 'ws')!r})\nws",
        f"df = ws.fetch(['spotify:playlist:{pid}', 'spotify:track:0000000000000000000000'], progress='auto')\ndf",
        "client = ws.spotify_client()\ndisplay(client, client.credentials, client.tokens, vars(client))\n"
        f"client.track({sp.track_id(1)!r})['name']",
        "%xmode Verbose",
        f"ws.spotify_client(token_cache=None).track({sp.track_id(2)!r})",  # the token endpoint refuses
        "ws.spotify_client(token_url='http://127.0.0.1:9/api/token', token_cache=None,\n"
        f"                  retry=RetryPolicy(attempts=1)).track({sp.track_id(2)!r})",
        "import os\ndel os.environ['SPOTIFY_CLIENT_ID']\nws.spotify_client()",
    ]
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    client = nbclient.NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                                     store_widget_state=True, resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    saved = tmp_path / "executed.ipynb"
    nbformat.write(nb, saved)
    text = saved.read_text()
    errors = {o.ename: "\n".join(o.traceback) for c in nb.cells for o in c.outputs if o.output_type == "error"}
    assert set(errors) == {"SpotifyAuthError", "SpotifyUnavailable"}, errors
    assert "HttpSpotifyClient(api_url=" in errors["SpotifyUnavailable"]  # verbose: frame locals were printed
    assert "Track 1" in text  # the fetch and the display really ran
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    assert CLIENT_SECRET not in text
    assert basic not in text
