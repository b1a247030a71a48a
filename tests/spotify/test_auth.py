from __future__ import annotations

import json
import os
import pickle
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from soundforge.errors import SpotifyAuthError, SpotifyError
from soundforge.spotify.auth import (
    Credentials,
    Secret,
    Token,
    TokenCache,
    TokenProvider,
    cache_key,
    parse_token_response,
)

from .fake_spotify import CLIENT_ID, CLIENT_SECRET, FakeServer, FakeSpotify

REPO = Path(__file__).resolve().parents[2]


# -- secrets and credentials --------------------------------------------------------------
def test_secret_never_shows_itself() -> None:
    secret = Secret("hunter2-very-secret")
    shown = [repr(secret), str(secret), f"{secret}", f"{secret!r}", f"{secret:>30}", "%s" % secret]  # noqa: UP031
    assert all("hunter2" not in s for s in shown)
    assert secret.reveal() == "hunter2-very-secret"
    assert secret == Secret("hunter2-very-secret")
    assert secret != Secret("other")
    assert len({secret, Secret("hunter2-very-secret")}) == 1
    assert "hunter2" not in repr(Credentials("id", secret))
    assert "hunter2" not in str(Credentials("id", secret))


def test_credentials_from_arguments_then_environment() -> None:
    env = {"SPOTIFY_CLIENT_ID": "env-id", "SPOTIFY_CLIENT_SECRET": "env-secret"}
    creds = Credentials.resolve(env=env)
    assert creds.client_id == "env-id"
    assert creds.client_secret.reveal() == "env-secret"
    creds = Credentials.resolve(client_id="arg-id", client_secret="arg-secret", env=env)
    assert creds.client_id == "arg-id"
    assert creds.client_secret.reveal() == "arg-secret"
    assert Credentials("x", "plain").client_secret == Secret("plain")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        ({}, "SPOTIFY_CLIENT_ID and SPOTIFY_CLIENT_SECRET"),
        ({"SPOTIFY_CLIENT_ID": "id"}, "variable SPOTIFY_CLIENT_SECRET "),
        ({"SPOTIFY_CLIENT_SECRET": "s3cret"}, "variable SPOTIFY_CLIENT_ID "),
        ({"SPOTIFY_CLIENT_ID": "  ", "SPOTIFY_CLIENT_SECRET": "s3cret"}, "variable SPOTIFY_CLIENT_ID "),
    ],
)
def test_missing_credentials_name_the_variables(env: dict[str, str], missing: str) -> None:
    with pytest.raises(SpotifyAuthError, match="Spotify credentials are missing: set the environment") as info:
        Credentials.resolve(env=env)
    assert missing in str(info.value)
    assert "s3cret" not in str(info.value)
    assert "s3cret" not in repr(info.value)


# -- tokens ---------------------------------------------------------------------------------
def test_token_response_parsing_and_refresh_margin() -> None:
    token = parse_token_response({"access_token": "abc", "token_type": "Bearer", "expires_in": 3600}, now=1000.0)
    assert token.expires_at == 4600.0
    assert token.refresh_at == 4500.0
    assert token.usable(4499.9)
    assert not token.usable(4500.0)
    assert "abc" not in repr(token)
    short = parse_token_response({"access_token": "abc", "token_type": "bearer", "expires_in": 60}, now=0.0)
    assert short.refresh_at == 30.0  # half the lifetime when it is shorter than 200 s
    for bad in ({}, {"access_token": "", "expires_in": 10}, {"access_token": "a", "token_type": "MAC", "expires_in": 9},
                {"access_token": "a", "expires_in": 0}, {"access_token": "a", "expires_in": "3600"},
                {"access_token": "a", "expires_in": True}):
        with pytest.raises(SpotifyAuthError, match="token endpoint"):
            parse_token_response(bad, now=0.0)


def test_cache_file_is_private_atomic_and_keyed(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    cache = TokenCache(folder, key=cache_key("id-1", "https://accounts.spotify.com/api/token"))
    assert cache.load() is None
    token = Token("tok-1", expires_at=2e9, refresh_at=2e9 - 100)
    cache.store(token)
    assert cache.load() == token
    assert stat.S_IMODE(cache.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == []  # no temporary file left
    data = json.loads(cache.path.read_text())
    assert set(data) == {"version", "key", "access_token", "expires_at", "refresh_at"}  # never the secret
    other = TokenCache(folder, key=cache_key("id-2", "https://accounts.spotify.com/api/token"))
    assert other.path != cache.path
    assert other.load() is None
    other.path.write_text(cache.path.read_text())  # a file with a foreign key is ignored
    other.path.chmod(0o600)
    assert other.load() is None


@pytest.mark.parametrize("damage", ["corrupt", "world_readable", "symlink", "wrong_version", "missing_field"])
def test_untrusted_or_damaged_cache_files_are_ignored(tmp_path: Path, damage: str) -> None:
    cache = TokenCache(tmp_path / "c", key="k")
    cache.store(Token("tok", expires_at=2e9, refresh_at=2e9))
    data = json.loads(cache.path.read_text())
    if damage == "corrupt":
        cache.path.write_text("{not json")
    elif damage == "world_readable":
        cache.path.chmod(0o644)
    elif damage == "symlink":
        real = tmp_path / "elsewhere.json"
        real.write_text(json.dumps(data))
        real.chmod(0o600)
        cache.path.unlink()
        cache.path.symlink_to(real)
    elif damage == "wrong_version":
        cache.path.write_text(json.dumps({**data, "version": 99}))
    else:
        del data["refresh_at"]
        cache.path.write_text(json.dumps(data))
    assert cache.load() is None
    cache.store(Token("fresh", expires_at=2e9, refresh_at=2e9))  # and it is replaced cleanly
    assert cache.load() == Token("fresh", expires_at=2e9, refresh_at=2e9)
    assert stat.S_IMODE(cache.path.stat().st_mode) == 0o600
    assert not cache.path.is_symlink()


def test_cache_write_failures_are_not_fatal(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    cache = TokenCache(blocker / "sub", key="k")
    cache.store(Token("tok", expires_at=2e9, refresh_at=2e9))
    assert "Could not write the Spotify token cache" in caplog.text


class Issuer:
    """A token source counting its calls (stands in for the HTTP token request)."""

    def __init__(self, *, delay_s: float = 0.0, lifetime_s: float = 3600.0) -> None:
        self.calls = 0
        self.delay_s = delay_s
        self.lifetime_s = lifetime_s
        self._lock = threading.Lock()

    def __call__(self) -> Token:
        time.sleep(self.delay_s)
        with self._lock:
            self.calls += 1
            n = self.calls
        return parse_token_response({"access_token": f"tok-{n}", "expires_in": self.lifetime_s}, now=time.time())


def test_provider_reuses_memory_then_file_and_refreshes_before_expiry(tmp_path: Path) -> None:
    now = [1000.0]
    issuer = Issuer()
    cache = TokenCache(tmp_path, key="k")
    provider = TokenProvider(fetch=lambda: Token(f"t{issuer().access_token}", now[0] + 3600, now[0] + 3500),
                             cache=cache, clock=lambda: now[0])
    first = provider.get()
    assert provider.get() is first
    assert issuer.calls == 1
    second_process = TokenProvider(fetch=issuer, cache=cache, clock=lambda: now[0])
    assert second_process.get() == first
    assert issuer.calls == 1
    now[0] += 3499
    assert provider.get() is first
    now[0] += 2  # now inside the last 100 s
    assert provider.get() != first
    assert issuer.calls == 2


def test_stale_token_is_replaced_once(tmp_path: Path) -> None:
    issuer = Issuer()
    cache = TokenCache(tmp_path, key="k")
    a = TokenProvider(fetch=issuer, cache=cache)
    b = TokenProvider(fetch=issuer, cache=cache)
    old = a.get()
    assert b.get() == old
    new = a.get(stale=old.access_token)  # a got a 401 with `old`
    assert new != old
    assert issuer.calls == 2
    assert b.get(stale=old.access_token) == new
    assert issuer.calls == 2


def test_provider_rejects_a_fetch_that_returns_garbage() -> None:
    provider = TokenProvider(fetch=lambda: "token")  # type: ignore[arg-type,return-value]
    with pytest.raises(SpotifyError, match="returned str, not a Token"):
        provider.get()


def test_threads_with_separate_providers_make_one_token_request(tmp_path: Path) -> None:
    issuer = Issuer(delay_s=0.2)
    providers = [TokenProvider(fetch=issuer, cache=TokenCache(tmp_path, key="k")) for _ in range(8)]
    barrier = threading.Barrier(8)
    got: list[str] = []

    def work(p: TokenProvider) -> None:
        barrier.wait()
        got.append(p.get().access_token)

    threads = [threading.Thread(target=work, args=(p,)) for p in providers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert issuer.calls == 1
    assert got == ["tok-1"] * 8


def test_lock_timeout_is_reported(tmp_path: Path) -> None:
    cache = TokenCache(tmp_path, key="k", lock_timeout_s=0.2)
    other = TokenCache(tmp_path, key="k", lock_timeout_s=0.2)
    with cache.lock(), pytest.raises(SpotifyAuthError, match="refreshing the Spotify token for over"), other.lock():
        pass


WORKER = """
import os, sys, time
from pathlib import Path
from soundforge.spotify import HttpSpotifyClient
base, cache, ready, go, track_id, client_id, secret = sys.argv[1:]
client = HttpSpotifyClient(client_id=client_id, client_secret=secret, api_url=base + "/v1",
                           token_url=base + "/api/token", token_cache=cache, env={})
Path(ready, str(os.getpid())).touch()
deadline = time.monotonic() + 60
while not os.path.exists(go) and time.monotonic() < deadline:
    time.sleep(0.002)
track = client.track(track_id)
print(track["id"], client.tokens.fetches, client.stats.token_requests)
"""


def test_processes_sharing_the_cache_make_exactly_one_token_request(fake_server: FakeServer, tmp_path: Path) -> None:
    processes = 4
    fake = fake_server.attach(FakeSpotify(n_tracks=20, token_delay_s=0.3))  # a slow token endpoint widens the race
    ready = tmp_path / "ready"
    ready.mkdir()
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, fake.base, str(tmp_path / "cache"), str(ready), str(go),
                               fake.track_id(i), CLIENT_ID, CLIENT_SECRET],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for i in range(processes)]
    deadline = time.monotonic() + 60
    while len(list(ready.iterdir())) < processes and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()  # all start together
    outputs = [p.communicate(timeout=60) for p in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
    fetched = [line.split() for line, _ in outputs]
    assert sorted(f[0] for f in fetched) == sorted(fake.track_id(i) for i in range(processes))
    assert fake.counts["token"] == 1
    assert sum(int(f[1]) for f in fetched) == 1
    assert sum(int(f[2]) for f in fetched) == 1
    assert fake.counts["api"] == processes


def test_pickled_credentials_and_tokens_keep_hiding(tmp_path: Path) -> None:
    creds = pickle.loads(pickle.dumps(Credentials("id", Secret("s3cr3t-value"))))
    assert creds.client_secret.reveal() == "s3cr3t-value"
    assert "s3cr3t" not in repr(creds)
