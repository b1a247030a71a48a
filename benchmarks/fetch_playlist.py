"""Fetch a large playlist from a local fake Spotify and count the requests it took.

    python benchmarks/fetch_playlist.py [--tracks 10000] [--repeat 3] [--latency-ms 0]

The fake (tests/spotify/fake_spotify.py) serves Spotify-shaped JSON over real
HTTP on 127.0.0.1. Each repetition measures, on the same server and playlist:

* baseline: a bare httpx loop that GETs every page (limit=50, following
  ``next``) with one pre-fetched token and decodes the JSON, nothing else;
* soundforge: ``fetch_ref(HttpSpotifyClient(...), playlist)`` from a cold token
  cache: token request, retries/rate-limit machinery, rows for every track;
* workspace: ``Workspace(tmp).fetch(playlist)`` end to end: the runner, a ``jobs`` row,
  10,000 ``tracks`` upserts and ``track_sources`` rows in one transaction, the DataFrame.

It prints medians, the ratio soundforge/baseline, and the request counts; it
exits 1 when the targets are missed: pages of the maximum size (50) and
exactly one token request.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from soundforge.spotify import PAGE_SIZES, HttpSpotifyClient, fetch_ref, parse_url  # noqa: E402
from tests.spotify.fake_spotify import CLIENT_ID, CLIENT_SECRET, FakeServer, FakeSpotify  # noqa: E402


def baseline(base: str, playlist_id: str) -> tuple[float, int]:
    """Bare httpx: one token, then every page in sequence; returns (seconds, items)."""
    started = time.perf_counter()
    with httpx.Client(timeout=30) as http:
        token = http.post(f"{base}/api/token", data={"grant_type": "client_credentials"},
                          auth=(CLIENT_ID, CLIENT_SECRET)).json()["access_token"]
        url: str | None = f"{base}/v1/playlists/{playlist_id}/items?market=US&limit=50&offset=0"
        items = 0
        while url:
            page = http.get(url, headers={"Authorization": f"Bearer {token}"}).json()
            items += len(page["items"])
            url = page["next"]
    return time.perf_counter() - started, items


def soundforge(base: str, playlist_id: str) -> tuple[float, int, dict[str, float]]:
    """fetch_ref through HttpSpotifyClient with a fresh token cache; returns (seconds, rows, stats)."""
    with tempfile.TemporaryDirectory() as cache:
        started = time.perf_counter()
        with HttpSpotifyClient(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, api_url=f"{base}/v1",
                               token_url=f"{base}/api/token", token_cache=cache, env={}) as client:
            result = fetch_ref(client, parse_url(f"spotify:playlist:{playlist_id}"))
            seconds = time.perf_counter() - started
            return seconds, len(result.tracks), client.stats.to_dict()


def workspace(base: str, playlist_id: str) -> tuple[float, int, int]:
    """ws.fetch into a fresh workspace; returns (seconds, rows returned, rows in the tracks table)."""
    from soundforge import Workspace

    os.environ.update({"SOUNDFORGE_SPOTIFY_API_URL": f"{base}/v1", "SOUNDFORGE_SPOTIFY_TOKEN_URL": f"{base}/api/token",
                       "SPOTIFY_CLIENT_ID": CLIENT_ID, "SPOTIFY_CLIENT_SECRET": CLIENT_SECRET})
    with tempfile.TemporaryDirectory() as root:
        started = time.perf_counter()
        df = Workspace(root).fetch(f"spotify:playlist:{playlist_id}", progress=None)
        seconds = time.perf_counter() - started
        return seconds, len(df), len(Workspace(root).tracks())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tracks", type=int, default=10_000, help="playlist size (default 10000)")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions; medians are reported (default 3)")
    parser.add_argument("--latency-ms", type=float, default=0.0,
                        help="delay the fake adds to every answer, in ms (default 0)")
    args = parser.parse_args(argv)
    fake = FakeSpotify(n_tracks=args.tracks)
    fake.latency_s = args.latency_ms / 1000
    playlist_id = fake.add_playlist(args.tracks)
    server = FakeServer()
    base = server.start()
    server.attach(fake)
    base_times: list[float] = []
    sf_times: list[float] = []
    ws_times: list[float] = []
    stats: dict[str, float] = {}
    try:
        for _ in range(args.repeat):
            seconds, items = baseline(base, playlist_id)
            assert items == args.tracks, items
            base_times.append(seconds)
            tokens_before = fake.counts["token"]
            seconds, rows, stats = soundforge(base, playlist_id)
            assert rows == args.tracks, rows
            assert fake.counts["token"] - tokens_before == stats["token_requests"]
            sf_times.append(seconds)
            api_before, tokens_before = fake.counts["api"], fake.counts["token"]
            seconds, rows, stored = workspace(base, playlist_id)
            assert rows == stored == args.tracks, (rows, stored)
            ws_api, ws_tokens = fake.counts["api"] - api_before, fake.counts["token"] - tokens_before
            ws_times.append(seconds)
    finally:
        server.stop()
    expected_pages = math.ceil(args.tracks / PAGE_SIZES["playlist_items"])
    b, s, w = statistics.median(base_times), statistics.median(sf_times), statistics.median(ws_times)
    print(f"fetch a {args.tracks:,}-track playlist from a local fake Spotify (127.0.0.1), "
          f"latency {args.latency_ms:g} ms/answer, {args.repeat} runs, medians")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.python_implementation()} "
          f"{platform.python_version()}, {platform.system()}; load average {load:.2f}")
    print(f"  baseline (bare httpx page loop)  : {b:7.3f} s")
    print(f"  soundforge fetch_ref             : {s:7.3f} s  = {s / b:.2f}x baseline, "
          f"{args.tracks / s:,.0f} tracks/s")
    print(f"  workspace fetch (runner+catalog) : {w:7.3f} s  = {w / b:.2f}x baseline, "
          f"{args.tracks / w:,.0f} tracks/s")
    print(f"  API requests {stats['api_requests']:.0f} (expected {expected_pages} pages of "
          f"{PAGE_SIZES['playlist_items']}), token requests {stats['token_requests']:.0f} (expected 1), "
          f"retries {stats['retries']:.0f}; workspace fetch: {ws_api} API + {ws_tokens} token requests")
    ok = (stats["api_requests"] == expected_pages and stats["token_requests"] == 1 and ws_api == expected_pages
          and ws_tokens == 1)
    print("targets:", "met" if ok else "MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
