"""Read spotdl's ``--simple-tui`` output: one line in, one progress or error event out.

spotdl 4 prints, for each song and only when the song's progress changes
(``spotdl/download/progress_handler.py``)::

    Processing query: track.spotdl
    Artist - Title: Searching for song          25 %
    Artist - Title: Getting audio meta          40 %
    Artist - Title: Downloading                 70 %  (simple TUI: 70 for the whole transfer)
    Artist - Title: Embedding metadata          95 %
    Artist - Title: Done                       100 %
    1/1 complete
    Downloaded "Artist - Title": https://music.youtube.com/watch?v=...

A failed song prints ``<ExceptionClass>: <message>`` (for example
``LookupError: No results found for song: Artist - Title`` or
``AudioProviderError: ...``) and spotdl still exits 0. An exception that ends
the program is drawn as a rich traceback box whose last line is again
``<ExceptionClass>: <message>``, and the exit status is 1. argparse errors exit
2 with ``spotdl: error: ...``.

:func:`parse_line` turns one line into an :class:`OutputEvent`;
:class:`OutputLog` keeps the events of one run and names the failure;
:func:`classify` maps a failure to the right :class:`~soundforge.errors.DownloadError`
subclass, which tells the runner whether a retry can help.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field

from ..errors import DownloaderNotFound, DownloadError, DownloadUnavailable, NoMatch

__all__ = ["STEPS", "OutputEvent", "OutputLog", "classify", "parse_line"]

STEPS: dict[str, float] = {
    "Searching for song": 25.0,
    "Getting audio meta": 40.0,
    "Downloading": 70.0,
    "Converting": 70.0,
    "Embedding metadata": 95.0,
    "Done": 100.0,
    "Skipped": 100.0,
    "Error": 100.0,
}
"""spotdl's per-song status messages and the percentage spotdl gives each (simple TUI)."""

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
_BOX = ("│", "╭", "╰", "─", "┃", "━")
_ERROR = re.compile(r"^(?P<type>[A-Z][A-Za-z0-9_]*(?:Error|Exception)|[a-z][a-z_]*error|KeyboardInterrupt)"
                    r"(?::\s*(?P<msg>.*))?$")
_OVERALL = re.compile(r"^\d+/\d+ complete$")
_DOWNLOADED = re.compile(r'^Downloaded "(?P<song>.*)": (?P<url>\S+)$')
_SONG_ERRORS = ("Error occurred while reinitializing song:", "Song is missing required fields:")
_WARNINGS = ("You might be blocked by YouTube Music", "Template contains", "Deprecated ")

# Exception classes (as spotdl prints them) that say the network or the audio
# provider failed: the same song may download on the next attempt.
_TRANSIENT_TYPES = frozenset({
    "AudioProviderError", "ConnectionError", "ConnectTimeout", "ReadTimeout", "Timeout", "TimeoutError",
    "NameResolutionError", "MaxRetryError", "ProtocolError", "RemoteDisconnected", "ChunkedEncodingError",
    "IncompleteRead", "SSLError", "ProxyError", "HTTPError", "DownloadError", "DownloaderError",
    "ExtractorError", "gaierror", "timeout", "RateLimitError",
})
_TRANSIENT_TEXT = re.compile(
    r"timed? ?out|temporary failure|name or service not known|failed to resolve|connection (?:reset|refused|"
    r"aborted)|network is unreachable|http error 5\d\d|\b5\d\d server error|\b429\b|too many requests|rate.?limit",
    re.IGNORECASE)


@dataclass(frozen=True)
class OutputEvent:
    """What one line of spotdl output means.

    Attributes
    ----------
    kind : str
        ``"progress"`` (a song step), ``"error"`` (an exception line), ``"warning"``,
        ``"downloaded"`` (spotdl's success line, with the source URL) or ``"info"``.
    message : str
        Human-readable text: the step (``"Downloading"``), or the error message.
    percent : float or None
        spotdl's own percentage for a ``"progress"`` event, 0-100.
    error_type : str or None
        Exception class name for an ``"error"`` event (``"LookupError"``...).
    source_url : str or None
        The URL spotdl downloaded from, for a ``"downloaded"`` event.
    """

    kind: str
    message: str
    percent: float | None = None
    error_type: str | None = None
    source_url: str | None = None

    @property
    def reason(self) -> str:
        """``"<ErrorType>: <message>"`` for errors, else the message."""
        return f"{self.error_type}: {self.message}" if self.error_type else self.message


def clean_line(raw: str) -> str:
    """Strip ANSI escapes, carriage returns and the padding rich adds to fill the console width."""
    return _ANSI.sub("", raw).replace("\r", "").rstrip()


def parse_line(raw: str) -> OutputEvent | None:
    """Interpret one line of spotdl output.

    Parameters
    ----------
    raw : str
        One line, with or without its newline, ANSI codes or trailing padding.

    Returns
    -------
    OutputEvent or None
        ``None`` for blank lines and the frames of rich traceback boxes.
    """
    line = clean_line(raw).strip()
    if not line or line.startswith(_BOX):
        return None
    match = _ERROR.match(line)
    if match:
        return OutputEvent("error", (match.group("msg") or "").strip(), error_type=match.group("type"))
    if line.startswith("spotdl: error:"):
        return OutputEvent("error", line.removeprefix("spotdl: error:").strip(), error_type="UsageError")
    if line.startswith(_SONG_ERRORS):
        return OutputEvent("error", line)
    if _OVERALL.match(line):
        return OutputEvent("info", line)
    match = _DOWNLOADED.match(line)
    if match:
        return OutputEvent("downloaded", "Downloaded", percent=100.0, source_url=match.group("url"))
    if line.startswith("Processing query:"):
        return OutputEvent("progress", "Reading song data", percent=5.0)
    head, sep, step = line.rpartition(": ")
    if sep and head and step in STEPS:
        return OutputEvent("progress", step, percent=STEPS[step])
    if line.startswith(_WARNINGS):
        return OutputEvent("warning", line)
    return OutputEvent("info", line)


@dataclass
class OutputLog:
    """The events of one spotdl run, in order, and what they say about the outcome.

    Parameters
    ----------
    tail_lines : int
        How many raw lines to keep for error messages (the rest is dropped).
    """

    tail_lines: int = 40
    errors: list[OutputEvent] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    percent: float = 0.0
    source_url: str | None = None
    tail: deque[str] = field(init=False)

    def __post_init__(self) -> None:
        self.tail = deque(maxlen=self.tail_lines)

    def feed(self, raw: str) -> OutputEvent | None:
        """Record one line; returns its event (``None`` for blank/box lines)."""
        line = clean_line(raw)
        if line.strip():
            self.tail.append(line.strip())
        event = parse_line(line)
        if event is None:
            return None
        if event.kind == "error":
            self.errors.append(event)
        elif event.kind == "warning":
            self.warnings.append(event.message)
        elif event.kind == "downloaded":
            self.source_url = event.source_url
        if event.percent is not None and event.kind in ("progress", "downloaded"):
            self.percent = max(self.percent, event.percent)
        return event

    @property
    def last_error(self) -> OutputEvent | None:
        """The last exception line: the song's error, or the outermost exception of a traceback."""
        return self.errors[-1] if self.errors else None

    def reason(self, *, returncode: int | None = None) -> str:
        """The best one-line explanation spotdl gave for a failure."""
        if self.last_error is not None:
            return self.last_error.reason
        if self.warnings:
            return self.warnings[-1]
        if returncode not in (None, 0) and self.tail:
            return self.tail[-1]
        return ""


def classify(event: OutputEvent | None, *, returncode: int | None = None) -> type[DownloadError]:
    """Pick the error class for a failed download from spotdl's last error line.

    Parameters
    ----------
    event : OutputEvent or None
        The last ``"error"`` event (see :attr:`OutputLog.last_error`), if any.
    returncode : int, optional
        spotdl's exit status.

    Returns
    -------
    type[DownloadError]
        :class:`DownloaderNotFound` for a missing ffmpeg, :class:`NoMatch` for
        ``LookupError: No results found``, :class:`DownloadUnavailable` (transient)
        for network, provider, rate-limit and conversion failures, else
        :class:`DownloadError` (not retried).
    """
    if event is None:
        return DownloadError
    kind, text = event.error_type or "", event.message
    if kind == "FFmpegError" and "not installed" in text:
        return DownloaderNotFound
    if kind == "LookupError" or text.startswith("No results found"):
        return NoMatch
    if kind in _TRANSIENT_TYPES or _TRANSIENT_TEXT.search(text):
        return DownloadUnavailable
    if kind == "FFmpegError":  # "Failed to convert ...": usually a damaged download
        return DownloadUnavailable
    return DownloadError
