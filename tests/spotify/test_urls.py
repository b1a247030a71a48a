from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from soundforge.errors import SpotifyURLError
from soundforge.spotify.urls import SpotifyRef, is_spotify_id, parse_url, parse_urls

TID = "4uLU6hMCjMI75M1A2tKUQC"
PID = "37i9dQZF1DXcBWIGoYBM5M"

GOOD = [
    (f"https://open.spotify.com/track/{TID}", "track", TID),
    (f"https://open.spotify.com/track/{TID}?si=1a2b3c4d5e6f", "track", TID),
    (f"https://open.spotify.com/track/{TID}?si=abc&utm_source=copy-link&nd=1", "track", TID),
    (f"https://open.spotify.com/track/{TID}#fragment", "track", TID),
    (f"https://open.spotify.com/track/{TID}/", "track", TID),
    (f"https://open.spotify.com/intl-de/track/{TID}", "track", TID),
    (f"https://open.spotify.com/intl-pt/album/{TID}?si=x", "album", TID),
    (f"https://open.spotify.com/intl-zh-hant/playlist/{PID}", "playlist", PID),
    (f"https://open.spotify.com/embed/track/{TID}", "track", TID),
    (f"https://open.spotify.com/intl-fr/embed/playlist/{PID}?utm_source=generator", "playlist", PID),
    (f"http://open.spotify.com/track/{TID}", "track", TID),
    (f"HTTPS://OPEN.SPOTIFY.COM/track/{TID}", "track", TID),
    (f"https://open.spotify.com:443/track/{TID}", "track", TID),
    (f"open.spotify.com/track/{TID}", "track", TID),
    (f"spotify.com/album/{TID}", "album", TID),
    (f"https://spotify.com/artist/{TID}", "artist", TID),
    (f"https://www.spotify.com/playlist/{PID}", "playlist", PID),
    (f"https://play.spotify.com/track/{TID}", "track", TID),
    (f"  https://open.spotify.com/track/{TID}\n", "track", TID),
    (f"https://open.spotify.com/playlist/{PID}?si=d1f0e9&pi=u-abc", "playlist", PID),
    (f"https://open.spotify.com/artist/{TID}?si=zz", "artist", TID),
    (f"https://open.spotify.com/user/spotify/playlist/{PID}", "playlist", PID),
    (f"https://open.spotify.com/user/some.one_42/playlist/{PID}?si=q", "playlist", PID),
    (f"spotify:track:{TID}", "track", TID),
    (f"spotify:album:{TID}", "album", TID),
    (f"spotify:playlist:{PID}", "playlist", PID),
    (f"spotify:artist:{TID}", "artist", TID),
    (f"spotify:user:spotify:playlist:{PID}", "playlist", PID),
    (f"spotify:user:1234567890:playlist:{PID}", "playlist", PID),
    (f"Spotify:track:{TID}", "track", TID),
]

BAD = [
    ("", "Empty Spotify link"),
    ("   ", "Empty Spotify link"),
    (TID, "a bare id does not say whether it is a track"),
    (f"https://open.spotify.com.evil.example/track/{TID}", "host 'open.spotify.com.evil.example'"),
    (f"https://evil.example/open.spotify.com/track/{TID}", "host 'evil.example'"),
    (f"https://open.spotify.com@evil.example/track/{TID}", "user info"),
    (f"https://evil.example@open.spotify.com/track/{TID}", "user info"),
    (f"https://evil.example\\@open.spotify.com/track/{TID}", "backslash"),
    (f"https://open.spotify.com\\.evil.example/track/{TID}", "backslash"),
    (f"https://open.spotify.com/track\\{TID}", "backslash"),
    (f"https://notspotify.com/track/{TID}", "host 'notspotify.com'"),
    (f"https://open-spotify.com/track/{TID}", "host 'open-spotify.com'"),
    (f"https://open.spotify.co/track/{TID}", "host 'open.spotify.co'"),
    (f"https://open.spotify.com./track/{TID}", "host 'open.spotify.com.'"),
    (f"https://open.spotify.com:8443/track/{TID}", "unexpected port 8443"),
    (f"https://open.spotify.com:99999/track/{TID}", "not a valid URL"),
    (f"ftp://open.spotify.com/track/{TID}", "only http"),
    (f"javascript://open.spotify.com/track/{TID}", "only http"),
    (f"file:///open.spotify.com/track/{TID}", "only http"),
    (f"https://open.spotify.com/episode/{TID}", "podcast episodes are not supported"),
    (f"https://open.spotify.com/show/{TID}", "podcast shows are not supported"),
    (f"https://open.spotify.com/intl-de/episode/{TID}?si=1", "podcast episodes are not supported"),
    (f"spotify:episode:{TID}", "podcast episodes are not supported"),
    (f"spotify:show:{TID}", "podcast shows are not supported"),
    (f"https://open.spotify.com/audiobook/{TID}", "audiobooks are not supported"),
    (f"https://open.spotify.com/user/{TID}", "user profiles are not supported"),
    ("spotify:local:Artist:Album:Title:215", "local files are not supported"),
    (f"https://open.spotify.com/genre/{TID}", "genres are not supported"),
    (f"https://open.spotify.com/podcast/{TID}", "unknown link type 'podcast'"),
    (f"https://open.spotify.com/track/{TID[:-1]}", "is not 22 letters and digits"),
    (f"https://open.spotify.com/track/{TID}X", "is not 22 letters and digits"),
    ("https://open.spotify.com/track/4uLU6hMCjMI75M1A2tKU-C", "is not 22 letters and digits"),
    ("https://open.spotify.com/track/4uLU6hMCjMI75M1A2tKU%2F", "is not 22 letters and digits"),
    ("https://open.spotify.com/track/..%2F..%2Fetc%2Fpasswd", "is not 22 letters and digits"),
    (f"spotify:track:{TID[:10]}", "is not 22 letters and digits"),
    (f"https://open.spotify.com/track/{TID}/extra", "expected a path like"),
    (f"https://open.spotify.com//track/{TID}", "empty segments"),
    ("https://open.spotify.com/", "expected a path like"),
    (f"https://open.spotify.com/intl-de/intl-fr/track/{TID}", "expected a path like"),
    ("spotify:track", "a Spotify URI looks like"),
    (f"spotify:track:{TID}:extra", "a Spotify URI looks like"),
    (f"spotify:user::playlist:{PID}", "user name in the legacy playlist URI"),
    (f"https://open.spotify.com/track/{TID} evil", "spaces or control characters"),
    (f"https://open.spotify.com/track/{TID}\x00", "spaces or control characters"),
    ("https://spotify.link/AbCdEfGh", "short links must be opened in a browser"),
    ("https://open.spotify.com/track/" + "A" * 3000, "longer than 2048"),
    (f"https://\u043epen.spotify.com/track/{TID}", "is not open.spotify.com"),  # Cyrillic o
    (f"https://open.spotify.com%2eevil.example/track/{TID}", "is not open.spotify.com"),
]


@pytest.mark.parametrize(("text", "kind", "spotify_id"), GOOD)
def test_good_links(text: str, kind: str, spotify_id: str) -> None:
    ref = parse_url(text)
    assert (ref.kind, ref.id) == (kind, spotify_id)
    assert ref.url == f"https://open.spotify.com/{kind}/{spotify_id}"
    assert ref.uri == f"spotify:{kind}:{spotify_id}"
    assert parse_url(ref.url) == ref  # the canonical URL round-trips
    assert parse_url(ref.uri) == ref


@pytest.mark.parametrize(("text", "message"), BAD)
def test_bad_links_are_refused_with_a_clear_message(text: str, message: str) -> None:
    with pytest.raises(SpotifyURLError, match=r"Not a supported Spotify link|Empty Spotify link") as info:
        parse_url(text)
    assert message in str(info.value)
    if text.strip():
        assert "open.spotify.com/track/<id>" in str(info.value)  # says what is accepted


def test_there_are_at_least_40_cases() -> None:
    assert len(GOOD) + len(BAD) >= 40
    assert len(BAD) >= 20


def test_non_strings_and_refs() -> None:
    ref = SpotifyRef("track", TID)
    assert parse_url(ref) is ref
    with pytest.raises(SpotifyURLError, match="must be a string, got int"):
        parse_url(12345)  # type: ignore[arg-type]
    with pytest.raises(SpotifyURLError, match="Malformed Spotify id"):
        SpotifyRef("track", "short")
    with pytest.raises(SpotifyURLError, match="Unsupported Spotify link type 'episode'"):
        SpotifyRef("episode", TID)  # type: ignore[arg-type]


def test_refs_are_frozen_hashable_and_print_as_their_url() -> None:
    ref = parse_url(f"spotify:album:{TID}")
    assert str(ref) == f"https://open.spotify.com/album/{TID}"
    assert len({ref, parse_url(f"https://open.spotify.com/intl-it/album/{TID}?si=1")}) == 1
    with pytest.raises(AttributeError):
        ref.id = PID  # type: ignore[misc]


def test_parse_urls_keeps_order_and_stops_at_the_first_bad_link() -> None:
    refs = parse_urls([f"spotify:track:{TID}", f"https://open.spotify.com/playlist/{PID}"])
    assert [r.kind for r in refs] == ["track", "playlist"]
    assert parse_urls(f"spotify:track:{TID}") == [SpotifyRef("track", TID)]
    with pytest.raises(SpotifyURLError, match="episode"):
        parse_urls([f"spotify:track:{TID}", f"spotify:episode:{TID}"])


def test_error_message_shortens_huge_inputs() -> None:
    with pytest.raises(SpotifyURLError) as info:
        parse_url("https://evil.example/" + "x" * 1000)
    assert len(str(info.value)) < 400
    assert info.value.context["url"].endswith("...")


def test_is_spotify_id() -> None:
    assert is_spotify_id(TID)
    assert not is_spotify_id(TID + "a")
    assert not is_spotify_id("é" * 22)
    assert not is_spotify_id(None)
    assert not is_spotify_id("4uLU6hMCjMI75M1A2tKUQ\n")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_any_text_parses_or_raises_the_documented_error(text: str) -> None:
    message = ""
    try:
        ref = parse_url(text)
    except SpotifyURLError as exc:
        message = exc.message
    else:
        assert is_spotify_id(ref.id)
    assert message == "" or message.startswith(("Not a supported Spotify link", "Empty Spotify link"))


@settings(max_examples=300, deadline=None)
@given(host=st.text(alphabet="abcdefghijklmnopqrstuvwxyz.-@:\\%0123456789", min_size=1, max_size=40),
       kind=st.sampled_from(["track", "album", "playlist", "artist"]))
def test_only_spotify_hosts_are_accepted(host: str, kind: str) -> None:
    try:
        ref = parse_url(f"https://{host}/{kind}/{TID}")
    except SpotifyURLError:
        return
    assert host.lower().split(":")[0] in {"open.spotify.com", "play.spotify.com", "www.spotify.com", "spotify.com"}
    assert ref == SpotifyRef(kind, TID)  # type: ignore[arg-type]
