"""The spotdl output parser, on lines captured from real spotdl 4.6.0 runs (and the forms its source prints)."""

from __future__ import annotations

import pytest

from soundforge.download.spotdl_output import STEPS, OutputLog, classify, parse_line
from soundforge.errors import DownloaderNotFound, DownloadError, DownloadUnavailable, NoMatch

PAD = " " * 300  # rich pads every line to the console width

# `spotdl --simple-tui --audio youtube ... -- download track.spotdl` without network (exit 0, no file).
REAL_PROVIDER_FAILURE = [
    "Processing query: track.spotdl" + PAD,
    '-Artist - Test "Song"; $(rm -rf x): Searching for song' + PAD,
    "1/1 complete" + PAD,
    "AudioProviderError: ERROR: query \"-artist - test \"song\"; $(rm -rf x)\" page 1: Unable to download API page: "
    "HTTPSConnection(host='www.youtube.com', port=443): Failed to resolve 'www.youtube.com' ([Errno -2] Name or "
    "service not known) (caused by TransportError(\"HTTPSConnection(host='www.youtube.com', port=443): Failed to "
    "resolve 'www.youtube.com' ([Errno -2] Name or service not known)\"))" + PAD,
]

# `spotdl --ffmpeg /nonexistent/ffmpeg ... download <url>` (exit 1).
REAL_NO_FFMPEG = [
    "╭─────────────────────────────── Traceback (most recent call last) ────────────────────────────────╮",
    "│ /work/venv/lib/python3.11/site-packages/spotdl/console/entry_point.py:93 in entry_point          │",
    "│ ❱  93 │   │   raise FFmpegError(                                                                 │",
    "╰──────────────────────────────────────────────────────────────────────────────────────────────────╯",
    "FFmpegError: FFmpeg is not installed. Please run `spotdl --download-ffmpeg` to install it, or `spotdl "
    "--ffmpeg /path/to/ffmpeg` to specify the path to ffmpeg.",
]

# The end of the chained traceback when music.youtube.com cannot be resolved (exit 1).
REAL_OFFLINE_TAIL = [
    "gaierror: [Errno -2] Name or service not known",
    "",
    "The above exception was the direct cause of the following exception:",
    "NameResolutionError: HTTPSConnection(host='music.youtube.com', port=443): Failed to resolve "
    "'music.youtube.com' ([Errno -2] Name or service not known)",
    "During handling of the above exception, another exception occurred:",
    "│ /work/venv/lib/python3.11/site-packages/requests/adapters.py:729 in send                         │",
    "ConnectionError: HTTPSConnectionPool(host='music.youtube.com', port=443): Max retries exceeded with url: / "
    "(Caused by NameResolutionError(\"HTTPSConnection(host='music.youtube.com', port=443): Failed to resolve "
    "'music.youtube.com' ([Errno -2] Name or service not known)\"))",
]

# A successful song, as progress_handler.py and downloader.py print it with --simple-tui.
SUCCESS = [
    "Processing query: track.spotdl",
    "Rick Stub - Never Gonna Test: Searching for song",
    "Rick Stub - Never Gonna Test: Getting audio meta",
    "Rick Stub - Never Gonna Test: Downloading",
    "Rick Stub - Never Gonna Test: Embedding metadata",
    "Rick Stub - Never Gonna Test: Done",
    "1/1 complete",
    'Downloaded "Rick Stub - Never Gonna Test": https://music.youtube.com/watch?v=dQw4w9WgXcQ',
]


def feed(lines: list[str]) -> OutputLog:
    log = OutputLog()
    for line in lines:
        log.feed(line)
    return log


def test_success_lines_give_rising_progress_and_the_source_url() -> None:
    events = [parse_line(line) for line in SUCCESS]
    progress = [(e.percent, e.message) for e in events if e is not None and e.kind == "progress"]
    assert progress == [(5.0, "Reading song data"), (25.0, "Searching for song"), (40.0, "Getting audio meta"),
                        (70.0, "Downloading"), (95.0, "Embedding metadata"), (100.0, "Done")]
    log = feed(SUCCESS)
    assert log.percent == 100.0
    assert log.source_url == "https://music.youtube.com/watch?v=dQw4w9WgXcQ"
    assert log.errors == []
    assert log.reason() == ""


def test_padding_and_ansi_colour_codes_are_ignored() -> None:
    event = parse_line("\x1b[32mArtist - Song: Downloading\x1b[0m" + PAD + "\n")
    assert event is not None
    assert (event.kind, event.percent, event.message) == ("progress", 70.0, "Downloading")


@pytest.mark.parametrize("display", ["A - B: C", "Artist: The Band - Song", "-rf - $(x); 'q'", "Error - Done"])
def test_song_names_with_colons_and_symbols_still_parse_as_steps(display: str) -> None:
    for step, percent in STEPS.items():
        event = parse_line(f"{display}: {step}")
        assert event is not None
        assert (event.kind, event.message, event.percent) == ("progress", step, percent)


def test_real_provider_failure_is_transient_with_spotdls_reason() -> None:
    log = feed(REAL_PROVIDER_FAILURE)
    assert log.last_error is not None
    assert log.last_error.error_type == "AudioProviderError"
    assert log.reason().startswith("AudioProviderError: ERROR: query")
    assert classify(log.last_error) is DownloadUnavailable
    assert DownloadUnavailable.transient


def test_lookup_error_is_no_match_even_for_a_song_called_done() -> None:
    event = parse_line("LookupError: No results found for song: The Band - Done")
    assert event is not None
    assert event.kind == "error"
    assert event.reason == "LookupError: No results found for song: The Band - Done"
    assert classify(event) is NoMatch
    assert not NoMatch.transient


def test_real_missing_ffmpeg_means_downloader_not_found() -> None:
    log = feed(REAL_NO_FFMPEG)
    assert [e.error_type for e in log.errors] == ["FFmpegError"]
    assert classify(log.last_error, returncode=1) is DownloaderNotFound
    assert "FFmpeg is not installed" in log.reason(returncode=1)


def test_chained_traceback_reports_the_outermost_exception() -> None:
    log = feed(REAL_OFFLINE_TAIL)
    assert [e.error_type for e in log.errors] == ["gaierror", "NameResolutionError", "ConnectionError"]
    assert log.reason(returncode=1).startswith("ConnectionError: HTTPSConnectionPool(host='music.youtube.com'")
    assert classify(log.last_error, returncode=1) is DownloadUnavailable


@pytest.mark.parametrize(("line", "expected"), [
    ("FFmpegError: Failed to convert A - B, you can find error here: /x/ffmpeg_error.txt", DownloadUnavailable),
    ("DownloaderError: yt-dlp failed to get metadata for: B - A", DownloadUnavailable),
    ("AudioProviderError: YT-DLP download error - https://youtu.be/x: HTTP Error 429: Too Many Requests",
     DownloadUnavailable),
    ("SongError: Track no longer exists: https://open.spotify.com/track/x", DownloadError),
    ("SpotifyError: You must be logged in to use the saved query.", DownloadError),
    ("TypeError: Song.__init__() got an unexpected keyword argument 'x'", DownloadError),
    ("MetadataError: Failed to embed metadata to the song", DownloadError),
    ("SpotifyException: http status: 503, code:-1 - Service Unavailable: timed out", DownloadUnavailable),
])
def test_classification_of_other_spotdl_errors(line: str, expected: type[DownloadError]) -> None:
    event = parse_line(line)
    assert event is not None
    assert event.kind == "error"
    assert classify(event) is expected


def test_usage_errors_and_song_level_errors_are_errors() -> None:
    usage = parse_line("spotdl: error: unrecognized arguments: --bogus")
    assert usage is not None
    assert (usage.kind, usage.error_type, usage.message) == ("error", "UsageError", "unrecognized arguments: --bogus")
    reinit = parse_line("Error occurred while reinitializing song: HTTP Error for GET to https://api.spotify.com")
    assert reinit is not None
    assert reinit.kind == "error"
    assert classify(reinit) is DownloadError


def test_boxes_blank_lines_and_overall_counts_are_not_progress() -> None:
    assert parse_line("") is None
    assert parse_line(PAD) is None
    assert parse_line(REAL_NO_FFMPEG[1]) is None
    overall = parse_line("3/10 complete")
    assert overall is not None
    assert overall.kind == "info"
    assert overall.percent is None


def test_warning_is_kept_and_reported_when_nothing_else_explains() -> None:
    log = feed(["You might be blocked by YouTube Music. If downloads fail, use a VPN, or use other audio providers. "])
    assert log.warnings == ["You might be blocked by YouTube Music. If downloads fail, use a VPN, or use other "
                            "audio providers."]
    assert log.reason().startswith("You might be blocked")


def test_unknown_output_falls_back_to_the_last_line_for_a_failed_exit() -> None:
    log = feed(["something odd happened", "and then this"])
    assert log.reason(returncode=0) == ""
    assert log.reason(returncode=3) == "and then this"
    assert classify(None, returncode=3) is DownloadError


def test_tail_is_bounded() -> None:
    log = OutputLog(tail_lines=5)
    for i in range(1000):
        log.feed(f"line {i}")
    assert list(log.tail) == [f"line {i}" for i in range(995, 1000)]
