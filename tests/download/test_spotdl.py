"""download_track against the stub spotdl (every behaviour mode) and, where installed, the real spotdl."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from soundforge.config import Settings, load_settings
from soundforge.download import spotdl
from soundforge.download.spotdl import (
    SONG_FILE,
    build_command,
    check_options,
    download_track,
    find_spotdl,
    output_template,
    song_entry,
)
from soundforge.errors import (
    ConfigError,
    DownloaderNotFound,
    DownloadError,
    DownloadUnavailable,
    ItemCancelled,
    ItemTimeout,
    NoMatch,
    is_transient,
)
from soundforge.storage import Storage

from .conftest import FakeSpotdl, gone, track_row

TID = "4uLU6hMCjMI75M1A2tKUQC"
DANGEROUS = [
    "-rf --version",
    "--output=/etc/passwd",
    'He said "hi" and \'bye\'',
    "a; rm -rf ~; b",
    "$(touch PWNED) `touch PWNED2`",
    "line one\nline two\r\n--ffmpeg-args=-y",
    "{title}/../../{artist}",
    "|https://youtu.be/x|",
]


def _argv(fake: FakeSpotdl) -> list[str]:
    calls = fake.calls()
    assert calls, "the stub was never run"
    return list(calls[-1]["argv"])


def _after_dashdash(argv: list[str]) -> list[str]:
    return argv[argv.index("--") + 1:]


def _downloads(storage: Storage) -> list[Path]:
    return sorted((storage.root / "downloads").iterdir())


def _tmp_left(storage: Storage) -> list[Path]:
    return sorted((storage.root / "tmp").iterdir())


# -- success ---------------------------------------------------------------------------------------------
def test_success_moves_a_verified_file_into_downloads(fake_spotdl: FakeSpotdl, storage: Storage,
                                                      settings: Settings) -> None:
    seen: list[tuple[float, str]] = []
    result = download_track(track_row(), storage=storage, settings=settings,
                            on_progress=lambda p, m: seen.append((p, m)))
    assert result.path == storage.root / "downloads" / f"{TID}.mp3"
    assert _downloads(storage) == [result.path]
    assert _tmp_left(storage) == []
    assert result.format == "mp3"
    assert result.duration_s == pytest.approx(3.0, abs=0.1)
    assert (result.sample_rate, result.channels, result.is_silent) == (44100, 2, False)
    assert result.size_bytes == result.path.stat().st_size
    assert result.sha256 == hashlib.sha256(result.path.read_bytes()).hexdigest()
    assert result.source_url == "https://music.youtube.com/watch?v=dQw4w9WgXcQ"
    assert result.query == "metadata"
    percents = [p for p, _ in seen]
    assert percents == sorted(percents)
    assert seen[-1] == (100.0, "Done")
    assert {"Searching for song", "Downloading", "Verifying audio"} <= {m for _, m in seen}
    row = result.to_audio_row(storage, created_at="2026-01-01T00:00:00+00:00")
    assert row["path"] == f"downloads/{TID}.mp3"
    assert row["origin"] == "spotdl"


def test_argument_list_is_fixed_and_hands_over_our_metadata(fake_spotdl: FakeSpotdl, storage: Storage,
                                                           settings: Settings) -> None:
    download_track(track_row(), storage=storage, settings=settings, format="mp3", bitrate="192k")
    call = fake_spotdl.calls()[-1]
    argv = call["argv"]
    assert argv[0] == str(fake_spotdl.path)
    assert _after_dashdash(argv) == ["download", SONG_FILE]
    options = argv[1:argv.index("--")]
    assert options[:6] == ["--simple-tui", "--log-level", "INFO", "--log-format", "%(message)s", "--format"]
    pairs = dict(zip(options[5::2], options[6::2], strict=False))
    assert pairs["--format"] == "mp3"
    assert pairs["--bitrate"] == "192k"
    output = pairs["--output"]
    assert Path(output).is_absolute()
    assert output == f"{call['cwd']}/track.{{output-ext}}"
    assert Path(call["cwd"]).parent == storage.root / "tmp"
    assert not any(a.startswith(("--ffmpeg", "--yt-dlp-args", "--search-query", "--config")) for a in argv)
    # its own session and process group, a wide plain console, unbuffered output
    assert call["sid"] == call["pid"] == call["pgid"]
    assert (call["columns"], call["term"], call["unbuffered"]) == ("10000", "dumb", "1")
    song = call["songs"][0]
    assert song["song_id"] == TID
    assert song["name"] == "Never Gonna Test"
    assert song["artists"] == ["Rick Stub", "Guest"]
    assert song["duration"] == 3
    assert (song["year"], song["date"], song["album_name"]) == (1987, "1987-11-12", "Whenever")
    assert song["url"] == f"https://open.spotify.com/track/{TID}"
    # the fields whose absence makes spotdl ask Spotify again are all filled
    for key in ("genres", "disc_count", "tracks_count", "track_number", "album_id", "album_artist"):
        assert song[key] is not None


@pytest.mark.parametrize("text", DANGEROUS)
def test_user_text_never_reaches_the_argument_list(fake_spotdl: FakeSpotdl, storage: Storage, settings: Settings,
                                                   tmp_path: Path, text: str) -> None:
    row = track_row(name=text, artists=[text, "B"], album=text, isrc=text, spotify_url=text, release_date=text)
    cwd = Path.cwd()
    result = download_track(row, storage=storage, settings=settings)
    assert result.path.is_file()
    argv = _argv(fake_spotdl)
    for fragment in {text, *text.split()}:
        if len(fragment) > 3:
            assert not any(fragment in arg for arg in argv), (fragment, argv)
    assert _after_dashdash(argv) == ["download", SONG_FILE]
    assert not list(tmp_path.rglob("PWNED*"))
    assert not list(cwd.glob("PWNED*"))
    song = fake_spotdl.calls()[-1]["songs"][0]
    assert "\n" not in song["name"]
    assert "\r" not in song["name"]
    assert song["name"] == re.sub(r"[\x00-\x1f]+", " ", text).strip()
    assert song["url"] == f"https://open.spotify.com/track/{TID}"  # never the stored spotify_url


def test_missing_metadata_passes_the_canonical_url_built_from_the_id(fake_spotdl: FakeSpotdl, storage: Storage,
                                                                    settings: Settings) -> None:
    row = {"track_id": TID, "name": None, "artists": [], "duration_ms": None,
           "spotify_url": "--version https://evil.example/track"}
    result = download_track(row, storage=storage, settings=settings)
    assert result.query == f"https://open.spotify.com/track/{TID}"
    assert _after_dashdash(_argv(fake_spotdl)) == ["download", f"https://open.spotify.com/track/{TID}"]
    assert not any("evil" in a for a in _argv(fake_spotdl))
    assert result.duration_s == pytest.approx(3.0, abs=0.1)


def test_pandas_row_with_missing_values_works(fake_spotdl: FakeSpotdl, storage: Storage, settings: Settings) -> None:
    import pandas as pd

    df = pd.DataFrame([track_row(album=None, isrc=None, release_date=None, track_number=None, explicit=None)])
    df = df.astype({"duration_ms": "Int64", "track_number": "Int64", "explicit": "boolean", "isrc": "string"})
    download_track(df.iloc[0].to_dict(), storage=storage, settings=settings)
    song = fake_spotdl.calls()[-1]["songs"][0]
    assert (song["album_name"], song["isrc"], song["year"], song["track_number"], song["explicit"]) == (
        "Never Gonna Test", None, 0, 1, False)


@pytest.mark.parametrize("fmt", ["flac", "ogg", "opus", "wav", "m4a"])
def test_other_formats(fake_spotdl: FakeSpotdl, storage: Storage, settings: Settings, fmt: str) -> None:
    if fmt == "m4a" and shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg needed for m4a")
    result = download_track(track_row(), storage=storage, settings=settings, format=fmt.upper(), bitrate="256k")
    argv = _argv(fake_spotdl)
    assert argv[argv.index("--format") + 1] == fmt
    assert argv[argv.index("--bitrate") + 1] == ("disable" if fmt in ("flac", "wav") else "256k")
    assert result.path.name == f"{TID}.{fmt}"
    assert result.duration_s == pytest.approx(3.0, abs=0.15)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"format": "aiff"}, "Unsupported download format 'aiff'"),
    ({"format": "--help"}, "Unsupported download format"),
    ({"bitrate": "999k"}, "Unsupported bitrate '999k'"),
    ({"bitrate": "320k; rm -rf /"}, "Unsupported bitrate"),
    ({"timeout_s": 0}, "timeout_s must be > 0"),
])
def test_bad_options_fail_before_spotdl_runs(fake_spotdl: FakeSpotdl, storage: Storage, settings: Settings,
                                             kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(match)):
        download_track(track_row(), storage=storage, settings=settings, **kwargs)
    assert fake_spotdl.calls() == []


@pytest.mark.parametrize("track_id", ["local-0123456789abcdef", "short", "-" * 22])
def test_non_spotify_tracks_are_refused(fake_spotdl: FakeSpotdl, storage: Storage, settings: Settings,
                                        track_id: str) -> None:
    with pytest.raises(DownloadError, match="not a Spotify track") as info:
        download_track(track_row(track_id=track_id), storage=storage, settings=settings)
    assert not is_transient(info.value)
    assert fake_spotdl.calls() == []


# -- spotdl's failure modes -------------------------------------------------------------------------------
@pytest.mark.parametrize(("mode", "error", "transient", "match"), [
    ("nofile", DownloadError, False, "spotdl wrote no audio file for track .* and printed no error"),
    ("nomatch", NoMatch, False, "LookupError: No results found for song: Rick Stub - Never Gonna Test"),
    ("provider_error", DownloadUnavailable, True, "AudioProviderError: .*Failed to resolve 'www.youtube.com'"),
    ("truncated", DownloadUnavailable, True, "truncated|not usable audio"),
    ("wrong_duration", DownloadError, False, r"lasts 18\.0 s but the track lasts 3\.0 s \(tolerance 10\.0 s\)"),
    ("network", DownloadUnavailable, True, r"exit status 1\): ConnectionError: .*music\.youtube\.com"),
    ("noffmpeg", DownloaderNotFound, False, r"FFmpeg is not installed.*sudo apt-get install ffmpeg.*brew install"),
])
def test_failures_carry_spotdls_reason_and_leave_nothing(fake_spotdl: FakeSpotdl, storage: Storage,
                                                         settings: Settings, mode: str, error: type[Exception],
                                                         transient: bool, match: str) -> None:
    fake_spotdl.mode(mode)
    with pytest.raises(error, match=match) as info:
        download_track(track_row(), storage=storage, settings=settings)
    assert type(info.value) is error
    assert is_transient(info.value) is transient
    assert _downloads(storage) == []
    assert _tmp_left(storage) == []


def test_metadata_error_with_a_good_file_is_accepted_with_a_warning(fake_spotdl: FakeSpotdl, storage: Storage,
                                                                    settings: Settings) -> None:
    fake_spotdl.mode("metadata_error")
    result = download_track(track_row(), storage=storage, settings=settings)
    assert result.path.is_file()
    assert result.warnings == ("MetadataError: Failed to embed metadata to the song",)


def test_missing_spotdl_says_how_to_install(storage: Storage, tmp_path: Path) -> None:
    settings = load_settings(home=storage.root, spotdl=str(tmp_path / "nowhere" / "spotdl"))
    with pytest.raises(DownloaderNotFound, match=re.escape("pip install 'soundforge[download]'")):
        download_track(track_row(), storage=storage, settings=settings)
    with pytest.raises(DownloaderNotFound, match="SOUNDFORGE_SPOTDL"):
        find_spotdl("spotdl-that-does-not-exist")


def test_configured_ffmpeg_is_passed_as_an_absolute_path_or_refused(fake_spotdl: FakeSpotdl, storage: Storage,
                                                                   tmp_path: Path) -> None:
    missing = load_settings(home=storage.root, ffmpeg=str(tmp_path / "no-ffmpeg"))
    with pytest.raises(DownloaderNotFound, match="apt-get install ffmpeg"):
        download_track(track_row(), storage=storage, settings=missing)
    assert fake_spotdl.calls() == []
    real = shutil.which("ffmpeg")
    if real is None:
        pytest.skip("ffmpeg not installed")
    link = tmp_path / "tools" / "my-ffmpeg"
    link.parent.mkdir()
    link.symlink_to(real)
    download_track(track_row(), storage=storage, settings=load_settings(home=storage.root, ffmpeg=str(link)))
    assert f"--ffmpeg={link}" in _argv(fake_spotdl)


# -- time limits, cancellation, progress -------------------------------------------------------------------
def test_timeout_kills_the_whole_process_group_and_leaves_no_partial_file(
        fake_spotdl: FakeSpotdl, storage: Storage, settings: Settings, no_leftover_processes: None) -> None:
    fake_spotdl.mode("hang")
    started = time.monotonic()
    with pytest.raises(ItemTimeout, match=r"longer than 1\.5 s .* stopped with its child processes") as info:
        download_track(track_row(), storage=storage, settings=settings, timeout_s=1.5, kill_grace_s=0.3)
    elapsed = time.monotonic() - started
    assert is_transient(info.value)
    assert 1.5 <= elapsed < 8.0
    pids = json.loads(fake_spotdl.pids.read_text())
    assert gone(pids["spotdl"])
    assert gone(pids["grandchild"])
    assert _downloads(storage) == []
    assert _tmp_left(storage) == []


def test_should_stop_cancels_and_kills(fake_spotdl: FakeSpotdl, storage: Storage, settings: Settings,
                                       no_leftover_processes: None) -> None:
    fake_spotdl.mode("hang")
    seen: list[str] = []
    with pytest.raises(ItemCancelled, match="cancelled"):
        download_track(track_row(), storage=storage, settings=settings, timeout_s=60, kill_grace_s=0.2,
                       on_progress=lambda p, m: seen.append(m),
                       should_stop=lambda: "Searching for song" in seen and fake_spotdl.pids.exists())
    pids = json.loads(fake_spotdl.pids.read_text())
    assert gone(pids["grandchild"])
    assert _downloads(storage) == []
    assert _tmp_left(storage) == []


def test_on_process_hands_over_the_group_leader(fake_spotdl: FakeSpotdl, storage: Storage,
                                                settings: Settings, no_leftover_processes: None) -> None:
    fake_spotdl.mode("hang")
    handed: list[subprocess.Popen[bytes]] = []

    def stop_from_outside() -> bool:  # what a runner does: kill the group it was handed
        if handed and fake_spotdl.pids.exists():
            os.killpg(handed[0].pid, 9)
        return False

    with pytest.raises(DownloadUnavailable, match=r"killed by signal 9 \(SIGKILL\)"):
        download_track(track_row(), storage=storage, settings=settings, timeout_s=30,
                       on_process=handed.append, should_stop=stop_from_outside)
    assert os.getpgid(os.getpid()) != handed[0].pid


def test_slow_progress_is_reported_live(fake_spotdl: FakeSpotdl, storage: Storage, settings: Settings) -> None:
    fake_spotdl.mode("slow", delay="0.4")
    stamps: list[tuple[float, str]] = []
    download_track(track_row(), storage=storage, settings=settings,
                   on_progress=lambda p, m: stamps.append((time.monotonic(), m)))
    end = time.monotonic()
    first_search = next(t for t, m in stamps if m == "Searching for song")
    downloading = next(t for t, m in stamps if m == "Downloading")
    assert end - first_search >= 1.2  # reported while spotdl was still working, not at exit
    assert downloading - first_search >= 0.6


# -- paths spotdl would rewrite ----------------------------------------------------------------------------
@pytest.mark.parametrize("folder", [".hidden-lab", "lab {title}", "trailing.", "cash$"])
def test_workspace_paths_spotdl_would_mangle_use_a_relative_template(fake_spotdl: FakeSpotdl, tmp_path: Path,
                                                                    folder: str) -> None:
    storage = Storage(tmp_path / folder / "ws")
    settings = load_settings(home=storage.root)
    result = download_track(track_row(), storage=storage, settings=settings)
    assert result.path == storage.root / "downloads" / f"{TID}.mp3"
    argv = _argv(fake_spotdl)
    assert argv[argv.index("--output") + 1] == "track.{output-ext}"


def test_output_template_is_absolute_when_safe(tmp_path: Path) -> None:
    folder = tmp_path / "ws" / "tmp" / "spotdl-x-abc"
    assert output_template(folder) == f"{folder}/track.{{output-ext}}"
    assert output_template(tmp_path / ".cache" / "x") == "track.{output-ext}"


# -- pure helpers ------------------------------------------------------------------------------------------
def test_song_entry_needs_name_artists_and_duration() -> None:
    assert song_entry(track_row()) is not None
    assert song_entry(track_row(name="")) is None
    assert song_entry(track_row(artists=[])) is None
    assert song_entry(track_row(duration_ms=None)) is None
    assert song_entry(track_row(duration_ms=float("nan"))) is None
    assert song_entry(track_row(artists='["A", "B"]'))["artists"] == ["A", "B"]  # type: ignore[index]
    assert song_entry(track_row(artists="Solo"))["artists"] == ["Solo"]  # type: ignore[index]


def test_build_command_puts_the_query_after_double_dash() -> None:
    cmd = build_command(executable="/x/spotdl", query="-evil", output="/o/track.{output-ext}", format="mp3",
                        bitrate="320k")
    assert cmd[0] == "/x/spotdl"
    assert cmd[-3:] == ["--", "download", "-evil"]
    assert check_options(format="WAV", bitrate="320k") == ("wav", "disable")


# -- the real spotdl, when installed ----------------------------------------------------------------------
def _real_spotdl() -> str:
    found = shutil.which("spotdl") or str(Path(sys.executable).parent / "spotdl")
    if not Path(found).is_file():
        pytest.skip("the real spotdl is not installed")
    return found


@pytest.fixture
def real_spotdl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    exe = _real_spotdl()
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))  # spotdl writes ~/.config/spotdl/config.json on every start
    monkeypatch.setenv("SOUNDFORGE_SPOTDL", exe)
    return exe


def test_every_option_we_pass_exists_in_the_real_spotdl(real_spotdl: str, tmp_path: Path) -> None:
    help_text = subprocess.run([real_spotdl, "download", "--help"], capture_output=True, text=True, timeout=120,
                               env={**os.environ, "COLUMNS": "200"}, check=True).stdout
    cmd = build_command(executable=real_spotdl, query=SONG_FILE, output=output_template(tmp_path), format="flac",
                        bitrate="disable", ffmpeg="/usr/bin/ffmpeg")
    options = {arg.split("=", 1)[0] for arg in cmd[1:] if arg.startswith("--") and arg != "--"}
    assert options >= {"--simple-tui", "--format", "--bitrate", "--output", "--ffmpeg", "--log-level"}
    for option in options:
        assert re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", help_text), f"{option} not in spotdl --help"
    for value in spotdl.FORMATS:
        assert value in help_text
    for value in spotdl.BITRATES:
        assert value in help_text


def test_real_spotdl_reads_our_song_file_format() -> None:
    song_module = pytest.importorskip("spotdl.types.song")
    entry = song_entry(track_row(name='x "y"\nz'))
    assert entry is not None
    song = song_module.Song.from_dict(json.loads(json.dumps(entry)))
    assert (song.name, song.artist, song.duration, song.song_id) == ('x "y" z', "Rick Stub", 3, TID)
    assert song.display_name == 'Rick Stub - x "y" z'


def test_real_spotdl_parses_our_arguments_and_misses_ffmpeg(real_spotdl: str, storage: Storage,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")  # neither ffmpeg on PATH nor spotdl's own copy in HOME
    settings = load_settings(home=storage.root)
    with pytest.raises(DownloaderNotFound, match=r"exit status 1\): FFmpegError: FFmpeg is not installed"):
        download_track(track_row(), storage=storage, settings=settings, timeout_s=120)
    assert _tmp_left(storage) == []


def test_real_spotdl_without_network_is_a_transient_failure(real_spotdl: str, storage: Storage,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # a closed local port: nothing leaves the machine
    monkeypatch.setenv("NO_PROXY", "")
    monkeypatch.setenv("no_proxy", "")
    messages: list[str] = []
    with pytest.raises(DownloadUnavailable, match=r"exit status 1\): \w*(Proxy|Connection)\w*Error") as info:
        download_track(track_row(), storage=storage, settings=load_settings(home=storage.root), timeout_s=120,
                       on_progress=lambda p, m: messages.append(m))
    assert info.value.transient
    assert any("Error:" in m for m in messages)  # spotdl's errors were shown live, not only at the end
    assert _downloads(storage) == []
    assert _tmp_left(storage) == []
