"""Where deliveries may go: URL checks at registration, address checks after DNS at every delivery."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from soundforge.errors import ConfigError, UnsafeDestination
from soundforge.events.safety import check_url, public_address, resolve_target
from soundforge.webhooks import Backoff, Webhooks

from .conftest import emit
from .receiver import Receiver


@pytest.mark.parametrize(("url", "message"), [
    ("http://hooks.example.org/x", "uses plain http"),
    ("ftp://hooks.example.org/x", "must start with https://"),
    ("https://user:pw@hooks.example.org/x", "carries credentials"),
    ("https://127.0.0.1/x", "loopback, private or link-local"),
    ("https://[::1]:8443/x", "loopback, private or link-local"),
    ("https://10.1.2.3/x", "loopback, private or link-local"),
    ("https://169.254.169.254/latest/meta-data", "loopback, private or link-local"),
    ("https://localhost/x", "loopback, private or link-local"),
    ("https://printer.local/x", "loopback, private or link-local"),
    ("https:///x", "has no host"),
    ("https://hooks.example.org/x#frag", "#fragment"),
])
def test_registration_refuses_unsafe_urls(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        check_url(url)
    assert "pw" not in str(info.value)


def test_allow_private_lets_development_receivers_in_and_says_so_in_the_callers_words() -> None:
    assert check_url("http://127.0.0.1:8080/hook", allow_private=True) == "http://127.0.0.1:8080/hook"
    assert check_url("https://hooks.example.org/x") == "https://hooks.example.org/x"
    with pytest.raises(ConfigError, match="pass --allow-private"):
        check_url("http://127.0.0.1/x", flag="--allow-private")


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254",
                                     "100.100.100.200", "0.0.0.0", "224.0.0.1", "::1", "fe80::1", "fd00:ec2::254",
                                     "::ffff:127.0.0.1", "::ffff:169.254.169.254"])
def test_non_public_addresses(address: str) -> None:
    assert not public_address(address)
    with pytest.raises(UnsafeDestination, match="SSRF"):
        resolve_target("https://hooks.example.org/x", allow_private=False, resolver=lambda h, p: [address])


def test_a_public_answer_is_pinned_and_a_mixed_answer_refused() -> None:
    target = resolve_target("https://hooks.example.org:8443/x?a=1", allow_private=False,
                            resolver=lambda h, p: ["93.184.216.34"])
    assert target.url == "https://93.184.216.34:8443/x?a=1"
    assert target.host == "hooks.example.org"
    with pytest.raises(UnsafeDestination, match=r"10\.0\.0\.7"):
        resolve_target("https://hooks.example.org/x", allow_private=False,
                       resolver=lambda h, p: ["93.184.216.34", "10.0.0.7"])


def test_the_address_is_checked_again_at_every_delivery(tmp_path: Path, ws) -> None:  # type: ignore[no-untyped-def]
    """DNS rebinding: the first delivery resolves to a public address, the next to the metadata service."""
    answers = iter([["93.184.216.34"], ["169.254.169.254"]])
    resolved: list[str] = []
    seen: list[httpx.Request] = []

    def resolver(host: str, port: int) -> list[str]:
        resolved.append(host)
        return next(answers)

    def network(request: httpx.Request) -> httpx.Response:  # stands in for the internet, not for our code
        seen.append(request)
        return httpx.Response(204)

    hooks = Webhooks(ws.catalog, tmp_path / "secrets", timeout_s=1.0, backoff=Backoff(initial_s=0.01),
                     transport=httpx.MockTransport(network), resolver=resolver)
    hooks.add("https://hooks.example.org/in")
    emit(ws.catalog)
    assert hooks.deliver(timeout=5).delivered == 1
    assert seen[0].url.host == "93.184.216.34"  # connected to the checked address...
    assert seen[0].headers["host"] == "hooks.example.org"  # ...for the URL's host
    assert seen[0].extensions["sni_hostname"] == "hooks.example.org"
    emit(ws.catalog)
    summary = hooks.deliver(timeout=5)
    assert (summary.delivered, summary.failed, summary.attempts) == (0, 1, 1)  # refused at once, never retried
    assert len(seen) == 1
    assert resolved == ["hooks.example.org", "hooks.example.org"]
    assert hooks.deliveries()["last_error"].dropna().str.contains("UnsafeDestination").any()


def test_a_loopback_receiver_behind_a_name_is_refused_without_allow_private(tmp_path: Path, ws,  # type: ignore[no-untyped-def]
                                                                             receiver: Receiver) -> None:
    port = int(receiver.url.split(":")[2].split("/")[0])
    hooks = Webhooks(ws.catalog, tmp_path / "secrets", timeout_s=1.0,
                     resolver=lambda h, p: ["127.0.0.1"])
    hooks.add(f"https://innocent.example.org:{port}/hook")
    emit(ws.catalog)
    assert hooks.deliver(timeout=5).failed == 1
    assert receiver.arrived == []
