from __future__ import annotations

import base64
import json
import logging
import pickle
import random
import threading
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

from soundforge.errors import (
    CircuitOpen,
    ConfigError,
    PremiumRequired,
    RateLimited,
    SpotifyAuthError,
    SpotifyError,
    SpotifyForbidden,
    SpotifyNotFound,
    SpotifyUnavailable,
    SpotifyURLError,
)
from soundforge.spotify import HttpSpotifyClient, RetryPolicy, SpotifyClient, fetch_ref, parse_url
from soundforge.spotify.client import PAGE_SIZES, parse_retry_after

from .fake_spotify import CLIENT_ID, CLIENT_SECRET, FakeServer, FakeSpotify

T = TypeVar("T")
MakeClient = Callable[..., HttpSpotifyClient]
PREMIUM = ("Active premium subscription required for the owner of the app. When the subscription status changes, "
           "it can take a few hours before requests are allowed again.")


def _err(status: int, message: str) -> str:
    return json.dumps({"error": {"status": status, "message": message}})


def test_client_satisfies_the_protocol(make_client: MakeClient) -> None:
    assert isinstance(make_client(), SpotifyClient)


def test_track_album_and_market(fake: FakeSpotify, make_client: MakeClient) -> None:
    client = make_client(market="de")
    track = client.track(fake.track_id(3))
    assert track["id"] == fake.track_id(3)
    assert track["album"]["id"] == fake.album_id(0)
    assert client.album(fake.album_id(1))["name"] == "Album 1"
    client.track(fake.track_id(4), market="FR")
    client.track(fake.track_id(5), market="")
    markets = [args.get("market") for _, path, args in fake.log if path.startswith("/v1/tracks/")]
    assert markets == ["DE", "FR", None]
    with pytest.raises(ConfigError, match="two-letter country code"):
        client.track(fake.track_id(4), market="Germany")


def test_settings_env_vars_set_the_base_urls(fake: FakeSpotify, tmp_path: Path) -> None:
    env = {"SOUNDFORGE_SPOTIFY_API_URL": f"{fake.base}/v1/", "SOUNDFORGE_SPOTIFY_TOKEN_URL": f"{fake.base}/api/token",
           "SPOTIFY_CLIENT_ID": CLIENT_ID, "SPOTIFY_CLIENT_SECRET": CLIENT_SECRET, "SOUNDFORGE_MARKET": "se"}
    with HttpSpotifyClient(env=env) as client:
        assert client.api_url == f"{fake.base}/v1"
        assert client.market == "SE"
        assert client.track(fake.track_id(0))["id"] == fake.track_id(0)
    default = HttpSpotifyClient(env={"SPOTIFY_CLIENT_ID": "a", "SPOTIFY_CLIENT_SECRET": "b"})
    assert default.api_url == "https://api.spotify.com/v1"
    assert default.token_url == "https://accounts.spotify.com/api/token"
    assert default.timeout.connect == 5.0
    assert default.timeout.read == 30.0
    default.close()


def test_ids_are_validated_before_any_request(fake: FakeSpotify, make_client: MakeClient) -> None:
    client = make_client()
    for call in (lambda: client.track("../../me"), lambda: client.album("x" * 22 + "/"),
                 lambda: list(client.playlist_items("short"))):
        with pytest.raises(SpotifyURLError, match="Malformed Spotify"):
            call()
    assert fake.log == []


def test_playlist_pages_use_the_maximum_size_and_follow_next(fake: FakeSpotify, make_client: MakeClient) -> None:
    pid = fake.add_playlist(1001)
    client = make_client()
    pages = list(client.playlist_items(pid))
    assert [len(p.items) for p in pages] == [50] * 20 + [1]
    assert [p.offset for p in pages] == list(range(0, 1001, 50))
    assert pages[-1].total == 1001
    assert not pages[-1].has_next
    assert pages[0].has_next
    requests = [args for _, path, args in fake.log if path.endswith("/items")]
    assert all(a["limit"] == str(PAGE_SIZES["playlist_items"]) for a in requests)
    assert all(a["market"] == "US" and a["additional_types"] == "track,episode" for a in requests)
    assert client.stats.pages == 21
    assert client.stats.api_requests == 21
    assert client.stats.token_requests == 1


def test_ten_thousand_entry_playlist(fake_server: FakeServer, tmp_path: Path, sleeps: list[float]) -> None:
    fake = fake_server.attach(FakeSpotify(n_tracks=10_000))
    special = {17: "null", 4242: "local", 9999: "episode", 500: "no_item"}
    pid = fake.add_playlist(10_000, special=special)
    progress: list[tuple[int, int, int | None]] = []
    base = fake.base
    with HttpSpotifyClient(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, env={}, api_url=f"{base}/v1",
                           token_url=f"{base}/api/token", token_cache=tmp_path, sleep=sleeps.append) as client:
        result = fetch_ref(client, parse_url(f"https://open.spotify.com/playlist/{pid}"),
                           on_page=lambda p: progress.append((p.pages, p.tracks, p.total)))
    assert len(result.tracks) == 10_000 - len(special)
    assert len({t.track_id for t in result.tracks}) == len(result.tracks)
    assert sorted((s.position, s.reason) for s in result.skipped) == [
        (17, "null entry"), (500, "null entry"), (4242, "local file"), (9999, "episode")]
    assert result.pages == 200
    assert fake.counts["api"] == 200
    assert fake.counts["token"] == 1
    assert progress[0] == (1, 49, 10_000)
    assert progress[-1] == (200, 9996, 10_000)
    assert sleeps == []


def test_legacy_track_field_and_rebased_next_links(tmp_path: Path, make_client: MakeClient,
                                                    fake: FakeSpotify) -> None:
    pid = fake.add_playlist(120, style="legacy", special={3: "episode", 4: "local"})
    fake.next_base = "https://api.spotify.com/v1"  # what the real API puts in `next`
    result = fetch_ref(make_client(), parse_url(f"spotify:playlist:{pid}"))
    assert len(result.tracks) == 118
    assert result.tracks[0].isrc == "QZFZ20000000"
    assert [s.reason for s in result.skipped] == ["episode", "local file"]
    assert all(path.startswith("/v1/playlists/") for _, path, _ in fake.log if path != "/api/token")


def test_next_links_to_other_hosts_are_refused(fake: FakeSpotify, make_client: MakeClient) -> None:
    pid = fake.add_playlist(120)
    fake.next_base = "https://evil.example/v1"
    with pytest.raises(SpotifyError, match=r"points outside .* refusing to send the access token there"):
        list(make_client().playlist_items(pid))
    assert fake.counts["api"] == 1


def test_looping_next_links_stop(fake: FakeSpotify, make_client: MakeClient) -> None:
    pid = fake.add_playlist(120)
    page = {"href": "", "items": [{"item": None}], "limit": 50, "offset": 0, "total": 120,
            "next": f"{fake.base}/v1/playlists/{pid}/items?offset=0&limit=50"}
    fake.add_fault(r"/items$", status=200, body=json.dumps(page), times=5)
    with pytest.raises(SpotifyError, match="loop back"):
        list(make_client().playlist_items(pid))


def test_expired_token_mid_run_is_refreshed_once(fake: FakeSpotify, make_client: MakeClient) -> None:
    pid = fake.add_playlist(500)
    fake.add_fault(r"/items$", expire_tokens=True, skip=4)  # the 5th page finds its token expired
    client = make_client()
    result = fetch_ref(client, parse_url(f"spotify:playlist:{pid}"))
    assert len(result.tracks) == 500
    assert fake.counts["token"] == 2
    assert client.stats.token_requests == 2
    assert fake.counts["api"] == 11  # 10 pages + the one 401


def test_a_second_401_is_an_auth_error_not_a_loop(fake: FakeSpotify, make_client: MakeClient) -> None:
    fake.add_fault(r"/tracks/", status=401, body=_err(401, "Invalid access token"), times=10)
    with pytest.raises(SpotifyAuthError, match=r"rejected a freshly issued access token .*Invalid access token"):
        make_client().track(fake.track_id(1))
    assert fake.counts["token"] == 2


def test_bad_credentials(fake: FakeSpotify, make_client: MakeClient) -> None:
    with pytest.raises(SpotifyAuthError, match=r"refused the credentials of client id 'nobody' \(HTTP 400: "
                                               r"invalid_client: Invalid client\)\. Check SPOTIFY_CLIENT_ID"):
        make_client(client_id="nobody").track(fake.track_id(1))
    assert fake.counts["api"] == 0


def test_429_with_a_small_retry_after_waits_and_continues(fake: FakeSpotify, make_client: MakeClient,
                                                         sleeps: list[float]) -> None:
    pid = fake.add_playlist(200)
    fake.add_fault(r"/items$", status=429, body=_err(429, "API rate limit exceeded"),
                   headers={"Retry-After": "3"}, skip=1, times=2)
    client = make_client()
    result = fetch_ref(client, parse_url(f"spotify:playlist:{pid}"))
    assert len(result.tracks) == 200
    assert sleeps == [3.0, 3.0]
    assert client.stats.rate_limit_waits == 2
    assert client.stats.waited_s == 6.0


def test_429_with_a_huge_retry_after_raises_at_once(fake: FakeSpotify, make_client: MakeClient,
                                                   sleeps: list[float]) -> None:
    fake.add_fault(r"/tracks/", status=429, body="", headers={"Retry-After": "86400"})
    with pytest.raises(RateLimited, match=r"asks to wait 24\.0 h \(Retry-After\)") as info:
        make_client().track(fake.track_id(1))
    assert info.value.retry_after == 86400.0
    assert not info.value.transient
    assert sleeps == []
    back = pickle.loads(pickle.dumps(info.value))
    assert isinstance(back, RateLimited)
    assert back.retry_after == 86400.0


def test_429_cap_is_configurable_and_repeated_429s_give_up(fake: FakeSpotify, make_client: MakeClient,
                                                          sleeps: list[float]) -> None:
    fake.add_fault(r"/tracks/", status=429, headers={"Retry-After": "90"}, times=1)
    client = make_client(retry=RetryPolicy(max_retry_after_s=120))
    assert client.track(fake.track_id(1))["id"] == fake.track_id(1)
    assert sleeps == [90.0]
    fake.add_fault(r"/tracks/", status=429, headers={"Retry-After": "1"}, times=100)
    with pytest.raises(RateLimited, match="3 waits"):
        make_client(retry=RetryPolicy(max_rate_limit_waits=3)).track(fake.track_id(1))
    assert sleeps == [90.0, 1.0, 1.0, 1.0]


def test_429_without_retry_after_backs_off(fake: FakeSpotify, make_client: MakeClient, sleeps: list[float]) -> None:
    fake.add_fault(r"/tracks/", status=429, times=2)
    make_client(rng=random.Random(1)).track(fake.track_id(1))
    assert len(sleeps) == 2
    assert 0.25 <= sleeps[0] <= 0.5
    assert 0.5 <= sleeps[1] <= 1.0


def test_5xx_bursts_are_retried_with_growing_jittered_backoff(fake: FakeSpotify, make_client: MakeClient,
                                                             sleeps: list[float]) -> None:
    pid = fake.add_playlist(150)
    fake.add_fault(r"/items$", status=503, body="<html><body>503 Service Unavailable</body></html>",
                   headers={"Content-Type": "text/html"}, skip=1, times=3)
    fake.add_fault(r"/items$", status=500, body=_err(500, "Server error"), times=1)
    client = make_client()
    result = fetch_ref(client, parse_url(f"spotify:playlist:{pid}"))
    assert len(result.tracks) == 150
    assert client.stats.retries == 4
    assert fake.counts["faults"] == 4
    for n, wait in enumerate(sleeps[:3], start=1):
        assert 0.5 * 2 ** (n - 1) / 2 <= wait <= 0.5 * 2 ** (n - 1)


def test_5xx_that_never_ends_gives_up_with_a_clear_transient_error(fake: FakeSpotify, make_client: MakeClient,
                                                                  sleeps: list[float]) -> None:
    fake.add_fault(r"/tracks/", status=502, body="<html>Bad Gateway</html>", times=100)
    with pytest.raises(SpotifyUnavailable, match=r"HTTP 502 \(body starts '<html>Bad Gateway</html>'\).*"
                                                 r"gave up after 5 attempt\(s\)") as info:
        make_client().track(fake.track_id(1))
    assert info.value.transient
    assert len(sleeps) == 4
    assert fake.counts["faults"] == 5


def test_503_retry_after_is_honoured(fake: FakeSpotify, make_client: MakeClient, sleeps: list[float]) -> None:
    fake.add_fault(r"/tracks/", status=503, headers={"Retry-After": "7"}, times=1)
    make_client().track(fake.track_id(1))
    assert sleeps == [7.0]


def test_slow_response_past_the_read_timeout_is_retried(fake: FakeSpotify, make_client: MakeClient,
                                                        sleeps: list[float]) -> None:
    fake.add_fault(r"/tracks/", delay_s=1.0, times=1)
    client = make_client(read_timeout_s=0.2)
    started = time.monotonic()
    assert client.track(fake.track_id(2))["id"] == fake.track_id(2)
    assert time.monotonic() - started < 0.9  # did not wait for the slow answer
    assert client.stats.retries == 1
    assert len(sleeps) == 1


def test_timeouts_that_persist(fake: FakeSpotify, make_client: MakeClient) -> None:
    fake.add_fault(r"/tracks/", delay_s=0.5, times=2)
    with pytest.raises(SpotifyUnavailable, match=r"did not answer track .* in time \(ReadTimeout; limits: connect "
                                                 r"5\.0 s, read 0\.1 s\).*gave up after 2"):
        make_client(read_timeout_s=0.1, retry=RetryPolicy(attempts=2)).track(fake.track_id(2))


def test_connection_refused(tmp_path: Path, sleeps: list[float]) -> None:
    client = HttpSpotifyClient(client_id="a", client_secret="b", api_url="http://127.0.0.1:9/v1",
                               token_url="http://127.0.0.1:9/api/token", sleep=sleeps.append, env={},
                               retry=RetryPolicy(attempts=3))
    with pytest.raises(SpotifyUnavailable, match=r"Could not reach Spotify for an access token \(ConnectError"):
        client.track("4uLU6hMCjMI75M1A2tKUQC")
    assert client.stats.token_requests == 3
    assert len(sleeps) == 2


@pytest.mark.parametrize("body", ["{\"href\": \"x\", \"items\": [", "not json at all", "[1, 2, 3]", ""])
def test_malformed_json_is_retried_then_reported(fake: FakeSpotify, make_client: MakeClient, body: str) -> None:
    pid = fake.add_playlist(60)
    fake.add_fault(r"/items$", status=200, body=body, times=1)
    result = fetch_ref(make_client(), parse_url(f"spotify:playlist:{pid}"))
    assert len(result.tracks) == 60
    fake.add_fault(r"/tracks/", status=200, body=body, times=5)
    with pytest.raises(SpotifyUnavailable, match="not a JSON object"):
        make_client().track(fake.track_id(1))


def test_403_premium_required(fake: FakeSpotify, make_client: MakeClient, sleeps: list[float]) -> None:
    pid = fake.add_playlist(10, forbidden=PREMIUM)
    with pytest.raises(PremiumRequired, match=r"Active premium subscription required .*\(HTTP 403\)\. "
                                              "Development-mode apps only work while the app owner"):
        fetch_ref(make_client(), parse_url(f"spotify:playlist:{pid}"))
    assert sleeps == []
    assert fake.counts["api"] == 1


def test_other_403_and_404_and_400(fake: FakeSpotify, make_client: MakeClient) -> None:
    pid = fake.add_playlist(10, forbidden="Forbidden")
    client = make_client()
    with pytest.raises(SpotifyForbidden, match="refused items of playlist") as info:
        list(client.playlist_items(pid))
    assert not isinstance(info.value, PremiumRequired)
    with pytest.raises(SpotifyNotFound, match=r"Spotify found no track 0000000000000000000000 \(HTTP 404: Resource"):
        client.track("0000000000000000000000")
    fake.add_fault(r"/tracks/", status=400, body=_err(400, "invalid market"))
    with pytest.raises(SpotifyError, match="HTTP 400: invalid market"):
        client.track(fake.track_id(1))
    fake.add_fault(r"/tracks/", status=302, headers={"Location": "https://elsewhere.example/"})
    with pytest.raises(SpotifyError, match="does not follow redirects"):
        client.track(fake.track_id(1))
    assert fake.counts["api"] == 2  # the 403 and the 404, each sent once: not retried
    assert fake.counts["faults"] == 2  # the 400 and the 302, each sent once


class CountingBreaker:
    """A small real breaker: opens after ``threshold`` consecutive failures."""

    def __init__(self, threshold: int = 2) -> None:
        self.threshold = threshold
        self.calls = 0
        self.failures = 0

    def call(self, fn: Callable[[], T], /) -> T:
        self.calls += 1
        if self.failures >= self.threshold:
            raise CircuitOpen("spotify circuit is open", service="spotify", retry_at=time.time() + 30)
        try:
            result = fn()
        except SpotifyUnavailable:
            self.failures += 1
            raise
        self.failures = 0
        return result


def test_every_request_goes_through_the_breaker_and_open_circuits_fail_fast(
        fake: FakeSpotify, make_client: MakeClient) -> None:
    breaker = CountingBreaker(threshold=2)
    client = make_client(breaker=breaker, retry=RetryPolicy(attempts=2))
    pid = fake.add_playlist(120)
    list(client.playlist_items(pid))
    assert breaker.calls == 3  # one call per logical request (page), retries inside it
    fake.add_fault(r"/tracks/", status=503, times=100)
    for _ in range(2):
        with pytest.raises(SpotifyUnavailable):
            client.track(fake.track_id(1))
    sent = fake.counts["faults"]
    with pytest.raises(CircuitOpen, match="open"):
        client.track(fake.track_id(1))
    assert fake.counts["faults"] == sent  # nothing was sent


def test_threads_share_one_client_and_one_token(fake: FakeSpotify, make_client: MakeClient) -> None:
    client = make_client()
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def work(i: int) -> None:
        barrier.wait()
        try:
            assert client.track(fake.track_id(i))["id"] == fake.track_id(i)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    assert fake.counts["token"] == 1
    assert client.stats.api_requests == 6


def test_injected_transport_and_http_client(fake: FakeSpotify) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        if request.url.path == "/api/token":
            return httpx.Response(200, json={"access_token": "t", "token_type": "Bearer", "expires_in": 3600})
        return httpx.Response(200, json={"id": "4uLU6hMCjMI75M1A2tKUQC", "type": "track"})

    client = HttpSpotifyClient(client_id="a", client_secret="b", transport=httpx.MockTransport(handler), env={})
    assert client.track("4uLU6hMCjMI75M1A2tKUQC")["type"] == "track"
    assert seen == ["/api/token", "/v1/tracks/4uLU6hMCjMI75M1A2tKUQC"]
    own = httpx.Client(transport=httpx.MockTransport(handler))
    with HttpSpotifyClient(client_id="a", client_secret="b", http=own, env={}) as borrowed:
        borrowed.track("4uLU6hMCjMI75M1A2tKUQC")
    assert not own.is_closed  # a borrowed client is left open
    own.close()


def test_retry_after_parsing() -> None:
    now = datetime(2026, 3, 9, 12, 0, 0, tzinfo=UTC).timestamp()
    assert parse_retry_after("120", now=now) == 120.0
    assert parse_retry_after(" 0 ", now=now) == 0.0
    assert parse_retry_after("-5", now=now) == 0.0
    assert parse_retry_after(format_datetime(datetime(2026, 3, 9, 12, 1, 30, tzinfo=UTC), usegmt=True),
                             now=now) == 90.0
    assert parse_retry_after(None, now=now) is None
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after("nan", now=now) is None


def test_retry_policy_validation() -> None:
    with pytest.raises(ConfigError, match="attempts must be an integer >= 1"):
        RetryPolicy(attempts=0)
    with pytest.raises(ConfigError, match=">= 0 seconds"):
        RetryPolicy(initial_s=-1)
    with pytest.raises(ConfigError, match="Timeouts must be > 0"):
        HttpSpotifyClient(client_id="a", client_secret="b", read_timeout_s=0, env={})


def _exception_texts(exc: BaseException) -> list[str]:
    """Everything a notebook or log could show of ``exc``: messages, reprs, verbose tracebacks with locals."""
    texts = [repr(pickle.loads(pickle.dumps(exc)))]
    summary: traceback.TracebackException | None = traceback.TracebackException.from_exception(
        exc, capture_locals=True)
    while summary is not None:  # locals of every library frame, as IPython's %xmode Verbose prints them
        for frame in summary.stack:
            if frame.filename != __file__:  # this test's own frame holds the secret on purpose
                texts += [f"{frame.filename}:{frame.lineno} {name}={value}" for name, value in
                          (frame.locals or {}).items()]
        summary = summary.__cause__ or summary.__context__
    chain: BaseException | None = exc
    while chain is not None:
        texts += [str(chain), repr(chain), repr(getattr(chain, "args", ()))]
        chain = chain.__cause__ or chain.__context__
    return texts


def test_the_secret_never_leaks(fake: FakeSpotify, make_client: MakeClient, tmp_path: Path,
                                caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str],
                                monkeypatch: pytest.MonkeyPatch, sleeps: list[float]) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, httpx and httpcore included
    monkeypatch.setenv("SPOTIFY_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("SPOTIFY_CLIENT_SECRET", CLIENT_SECRET)
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    texts: list[str] = []
    pid = fake.add_playlist(120)
    fake.add_fault(r"/items$", status=503, times=1)
    fake.add_fault(r"/items$", expire_tokens=True, skip=1)
    urls = {"api_url": f"{fake.base}/v1", "token_url": f"{fake.base}/api/token"}
    client = HttpSpotifyClient(**urls, token_cache=tmp_path / "cache", sleep=sleeps.append)  # credentials from env
    fetch_ref(client, parse_url(f"spotify:playlist:{pid}"))
    texts += [repr(client), str(client.credentials), repr(client.credentials), repr(client.tokens),
              repr(client.tokens.cache), repr(client.stats), str(vars(client))]
    fake.add_fault("/api/token", method="POST", status=400,
                   body=json.dumps({"error": "invalid_client", "error_description": "Invalid client secret"}))
    failures: list[BaseException] = []
    attempts: list[Callable[[], object]] = [
        lambda: HttpSpotifyClient(**urls, sleep=sleeps.append).track(fake.track_id(1)),  # refused
        lambda: HttpSpotifyClient(api_url=urls["api_url"], token_url="http://127.0.0.1:9/api/token",
                                  sleep=sleeps.append, retry=RetryPolicy(attempts=1)).track(fake.track_id(1)),
        lambda: make_client(client_secret="wrong-" + CLIENT_SECRET, token_cache=None).track("x"),
    ]
    for attempt in attempts:
        with pytest.raises(SpotifyError) as info:
            attempt()
        failures.append(info.value)
    monkeypatch.delenv("SPOTIFY_CLIENT_ID")  # the secret is set, the id is missing
    with pytest.raises(SpotifyAuthError, match="SPOTIFY_CLIENT_ID") as info:
        HttpSpotifyClient(**urls)
    failures.append(info.value)
    for exc in failures:
        texts += _exception_texts(exc)
    texts += [r.getMessage() for r in caplog.records] + [caplog.text]
    out = capsys.readouterr()
    texts += [out.out, out.err]
    texts += [p.read_text(errors="replace") for p in (tmp_path / "cache").iterdir() if p.is_file()]
    assert len(caplog.records) > 5  # httpx/httpcore really logged at DEBUG
    assert any("spotify/client.py" in t and "self=HttpSpotifyClient(" in t for t in texts)  # frames were seen
    assert any("httpx/" in t for t in texts)
    for text in texts:
        assert CLIENT_SECRET not in text
        assert basic not in text


def test_secret_is_really_sent(fake: FakeSpotify, make_client: MakeClient) -> None:
    # guards the leak test above against passing because nothing was ever sent
    make_client(token_cache=None).track(fake.track_id(1))
    assert fake.counts["token"] == 1
    assert fake.counts["api"] == 1
