"""Download one track's audio with the spotdl command-line program.

spotdl always runs as a separate process (its asyncio loop and global
singletons break inside a Jupyter kernel), in its own process group, with a
list of arguments and never a shell. What it is given is fixed by us:

* the metadata we already fetched, as a one-song ``.spotdl`` file (the format
  ``spotdl save`` writes), so spotdl does not ask Spotify again; when a track
  lacks the metadata spotdl needs (name, artists, duration) we pass the track's
  canonical URL ``https://open.spotify.com/track/<id>`` built from its validated id;
* our own ``--output`` template inside a fresh per-attempt folder under the
  workspace's ``tmp/`` (absolute, unless spotdl's filename sanitiser would
  rewrite that path, see :func:`output_template`);
* options that make its output parseable (``--simple-tui``, ``--log-level
  INFO``, ``--log-format %(message)s``, a wide ``COLUMNS``) and the format and
  bitrate, checked against spotdl's own choices.

The operation and the query come after ``--`` (``spotdl [options] -- download
track.spotdl``). No title, artist, URL or other free text ever reaches the
argument list, ``--output`` or the ``--*-args`` options; ``--ffmpeg`` is only
given the absolute path of an existing executable (a configured
``SOUNDFORGE_FFMPEG``, resolved).

spotdl exits 0 even when a song failed, so the result is verified here: the
file must exist, decode completely (:func:`soundforge.audio.scan`) and last as
long as the metadata says (within a tolerance). Otherwise the download fails
with the reason spotdl printed, as a :class:`~soundforge.errors.DownloadError`
subclass whose ``transient`` flag tells the runner whether to retry.

A per-track time limit kills the whole process group (spotdl, its ffmpeg and
anything else it started); the scratch folder is removed, so no partial file is
ever left in ``downloads/``. Files spotdl keeps in its own cache folder
(``~/.config/spotdl/temp``) are spotdl's business.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import audio
from ..config import Settings
from ..errors import (
    AudioError,
    ConfigError,
    DownloaderNotFound,
    DownloadError,
    DownloadUnavailable,
    ItemCancelled,
    ItemTimeout,
)
from ..storage import Storage, validate_id
from .local import sha256_file
from .process import ProcessOutcome, run_process
from .spotdl_output import OutputEvent, OutputLog, classify

__all__ = [
    "BITRATES",
    "FORMATS",
    "INSTALL_HINT",
    "SpotdlDownload",
    "build_command",
    "check_options",
    "download_track",
    "find_spotdl",
    "is_spotify_id",
    "output_template",
    "preflight",
    "song_entry",
    "spotdl_env",
]

FORMATS = ("mp3", "flac", "ogg", "opus", "m4a", "wav")
"""Output formats spotdl can write (``--format``)."""

BITRATES = ("auto", "disable", "8k", "16k", "24k", "32k", "40k", "48k", "64k", "80k", "96k", "112k", "128k",
            "160k", "192k", "224k", "256k", "320k", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9")
"""Bitrates spotdl accepts (``--bitrate``): constant ``<n>k``, VBR quality ``0``-``9``, ``auto``, ``disable``."""

_LOSSLESS = frozenset({"flac", "wav"})

INSTALL_HINT = ("Install it with \"pip install 'soundforge[download]'\" (or 'pip install spotdl') in the same "
                "environment, or set SOUNDFORGE_SPOTDL to the spotdl executable.")
FFMPEG_HINT = ("spotdl needs ffmpeg. Install it (Debian/Ubuntu: 'sudo apt-get install ffmpeg'; macOS: "
               "'brew install ffmpeg'; conda: 'conda install -c conda-forge ffmpeg'), run 'spotdl "
               "--download-ffmpeg', or set SOUNDFORGE_FFMPEG to its path.")

SONG_FILE = "track.spotdl"
"""Name of the one-song file handed to spotdl, relative to the attempt folder (its working directory)."""

OUTPUT_STEM = "track"
"""File name (without extension) spotdl is told to write, inside the attempt folder."""

COLUMNS = "10000"
"""Console width given to spotdl: rich pads/wraps lines to it, so long messages stay on one line."""

_SPOTIFY_ID = re.compile(r"[0-9A-Za-z]{22}")
# spotdl's filename sanitiser (spotdl.utils.formatter.create_path_object) keeps, of every path
# component, only the match of this pattern; and its template expander replaces these keys.
_SPOTDL_PART = re.compile(r"[^\.*](.*)[^\.*$]")
_SPOTDL_VARS = ("{title}", "{artists}", "{artist}", "{album}", "{album-artist}", "{genre}", "{disc-number}",
                "{disc-count}", "{duration}", "{year}", "{original-date}", "{track-number}", "{tracks-count}",
                "{isrc}", "{track-id}", "{publisher}", "{list-length}", "{list-position}", "{list-name}",
                "{output-ext}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")

ProgressFn = Callable[[float, str], None]
"""``on_progress(percent, message)``: percent in [0, 100], message a short status."""


@dataclass(frozen=True)
class SpotdlDownload:
    """A verified audio file downloaded by spotdl and moved into ``downloads/``.

    Attributes
    ----------
    track_id : str
    path : pathlib.Path
        ``<root>/downloads/<track_id>.<format>``.
    format : str
        File extension / container (``"mp3"``...).
    size_bytes : int
    sha256 : str
        Hex SHA-256 of the file.
    duration_s : float
        Decoded duration in seconds.
    sample_rate : int
        Hz.
    channels : int
    is_silent : bool
        Digital silence (see :data:`soundforge.audio.SILENCE_PEAK`).
    source_url : str or None
        Where spotdl took the audio from (its ``Downloaded "...": <url>`` line).
    query : str
        What spotdl was asked for: ``"metadata"`` (our ``.spotdl`` file) or the track URL.
    warnings : tuple[str, ...]
        Warnings spotdl printed (e.g. "You might be blocked by YouTube Music").
    """

    track_id: str
    path: Path
    format: str
    size_bytes: int
    sha256: str
    duration_s: float
    sample_rate: int
    channels: int
    is_silent: bool
    source_url: str | None
    query: str
    warnings: tuple[str, ...] = ()

    def to_audio_row(self, storage: Storage, *, created_at: str) -> dict[str, Any]:
        """Row for the catalog ``audio`` table (``origin='spotdl'``, ``path`` relative to the root,
        ``source_path`` = the URL spotdl downloaded from)."""
        return {"track_id": self.track_id, "path": storage.relative(self.path), "format": self.format,
                "size_bytes": self.size_bytes, "sha256": self.sha256, "duration_s": self.duration_s,
                "sample_rate": self.sample_rate, "channels": self.channels, "is_silent": self.is_silent,
                "origin": "spotdl", "source_path": self.source_url, "created_at": created_at}


# -- pure helpers ---------------------------------------------------------------------------------------
def is_spotify_id(value: object) -> bool:
    """``True`` for a Spotify track id (22 base-62 characters)."""
    return isinstance(value, str) and bool(_SPOTIFY_ID.fullmatch(value))


def find_spotdl(executable: str = "spotdl") -> str:
    """Resolve the spotdl executable to an absolute path.

    Parameters
    ----------
    executable : str
        A name looked up on ``PATH`` or a path (setting ``spotdl`` / ``$SOUNDFORGE_SPOTDL``).
        The default name is also looked for next to the running Python, so a
        Jupyter kernel started from a virtual environment finds it without ``PATH``.

    Returns
    -------
    str

    Raises
    ------
    DownloaderNotFound
        With install instructions.
    """
    found = shutil.which(executable)
    if found is None and executable == "spotdl":
        sibling = Path(sys.executable).parent / "spotdl"
        if sibling.is_file() and os.access(sibling, os.X_OK):
            found = str(sibling)
    if found is None:
        raise DownloaderNotFound(f"The spotdl program ({executable!r}) was not found. {INSTALL_HINT}",
                                 executable=executable)
    return str(Path(found).absolute())


def _resolve_ffmpeg(ffmpeg: str) -> str | None:
    """Absolute path of a configured ffmpeg, ``None`` for the default (spotdl finds its own)."""
    if ffmpeg == "ffmpeg":
        return None
    found = shutil.which(ffmpeg)
    if found is None:
        raise DownloaderNotFound(f"The configured ffmpeg ({ffmpeg!r}) was not found. {FFMPEG_HINT}", ffmpeg=ffmpeg)
    return str(Path(found).absolute())


def preflight(settings: Settings) -> str:
    """Check, before a batch starts, that spotdl and ffmpeg can be found.

    ffmpeg counts as found on ``PATH``, at the configured ``SOUNDFORGE_FFMPEG``, or
    as the copy ``spotdl --download-ffmpeg`` keeps in its own folder.

    Returns
    -------
    str
        The absolute path of spotdl.

    Raises
    ------
    DownloaderNotFound
        Saying how to install what is missing.
    """
    executable = find_spotdl(settings.spotdl)
    if _resolve_ffmpeg(settings.ffmpeg) is None and shutil.which("ffmpeg") is None:
        own = [Path.home() / ".config" / "spotdl" / "ffmpeg", Path.home() / ".spotdl" / "ffmpeg"]
        if not any(p.is_file() and os.access(p, os.X_OK) for p in own):
            raise DownloaderNotFound(f"ffmpeg was not found on PATH. {FFMPEG_HINT}")
    return executable


def check_options(*, format: str, bitrate: str) -> tuple[str, str]:
    """Validate format and bitrate against spotdl's choices; lossless formats get ``bitrate='disable'``.

    Returns
    -------
    (str, str)
        The format and the bitrate to pass.

    Raises
    ------
    ConfigError
    """
    fmt = str(format).lower().lstrip(".")
    if fmt not in FORMATS:
        raise ConfigError(f"Unsupported download format {format!r}; choose one of {', '.join(FORMATS)}.")
    rate = str(bitrate).lower()
    if rate not in BITRATES:
        raise ConfigError(f"Unsupported bitrate {bitrate!r}; use e.g. '320k', '192k', 'auto', 'disable' or a "
                          "VBR quality 0-9.")
    return fmt, ("disable" if fmt in _LOSSLESS else rate)


def _present(value: Any) -> bool:
    """``False`` for None, NaN, pandas.NA and NaT."""
    if value is None:
        return False
    if isinstance(value, float):
        return not math.isnan(value)
    return type(value).__name__ not in ("NAType", "NaTType")


def _text(value: Any) -> str:
    """Free text for the song file: control characters (newlines...) become spaces."""
    return _CONTROL.sub(" ", str(value)).strip() if _present(value) else ""


def _names(value: Any) -> list[str]:
    """A list of names from a list, a tuple, an array, a JSON list text or one name."""
    if isinstance(value, str):
        text = value.strip()
        items: list[Any] = [text]
        if text.startswith("["):
            with contextlib.suppress(json.JSONDecodeError, TypeError):
                decoded = json.loads(text)
                items = decoded if isinstance(decoded, list) else [decoded]
    elif isinstance(value, (list, tuple)) or hasattr(value, "tolist"):
        items = list(value)
    elif _present(value):
        items = [value]
    else:
        items = []
    return [name for name in (_text(v) for v in items) if name]


def _int(value: Any, default: int | None = None) -> int | None:
    if not _present(value):
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def song_entry(track: Mapping[str, Any]) -> dict[str, Any] | None:
    """Build spotdl's song record (one element of a ``.spotdl`` file) from a ``tracks`` row.

    Every field spotdl's ``Song`` dataclass requires is filled, and the fields
    whose absence makes spotdl re-query Spotify (``genres``, ``disc_count``,
    ``tracks_count``, ``track_number``, ``album_id``, ``album_artist``) are never
    ``None``. ``tracks_count`` is unknown to our catalog and set to the track
    number; control characters in free text become spaces.

    Parameters
    ----------
    track : Mapping
        A ``tracks`` row: ``track_id``, ``name``, ``artists`` (list), ``artist_ids``,
        ``album``, ``album_id``, ``release_date``, ``duration_ms``, ``track_number``,
        ``disc_number``, ``explicit``, ``isrc``.

    Returns
    -------
    dict or None
        ``None`` when the name, the artists or the duration is missing: then
        spotdl must be given the track URL instead.
    """
    track_id = str(track.get("track_id"))
    name = _text(track.get("name"))
    artists = _names(track.get("artists"))
    duration_ms = _int(track.get("duration_ms"))
    if not name or not artists or not duration_ms or duration_ms <= 0 or not is_spotify_id(track_id):
        return None
    date = _text(track.get("release_date"))
    year = _int(date[:4], 0) if date[:4].isdigit() else 0
    disc = _int(track.get("disc_number"), 1) or 1
    number = _int(track.get("track_number"), 1) or 1
    artist_ids = _names(track.get("artist_ids"))
    explicit = track.get("explicit")
    url = f"https://open.spotify.com/track/{track_id}"
    return {
        "name": name, "artists": artists, "artist": artists[0], "genres": [], "disc_number": disc,
        "disc_count": disc, "album_name": _text(track.get("album")) or name, "album_artist": artists[0],
        "duration": max(1, round(duration_ms / 1000)), "year": year, "date": date, "track_number": number,
        "tracks_count": number, "song_id": track_id, "explicit": bool(explicit) if _present(explicit) else False,
        "publisher": "", "url": url, "isrc": _text(track.get("isrc")) or None, "cover_url": None,
        "copyright_text": None, "download_url": None, "lyrics": None, "popularity": None,
        "album_id": _text(track.get("album_id")) or "", "list_name": None, "list_url": None,
        "list_position": None, "list_length": None, "artist_id": artist_ids[0] if artist_ids else None,
        "album_type": None,
    }


def _survives_spotdl(path: str) -> bool:
    """Would spotdl write to exactly ``path`` (no template key inside, no component rewritten)?"""
    if any(key in path for key in _SPOTDL_VARS if key != "{output-ext}") or path.count("{output-ext}") != 1:
        return False
    for part in Path(path).parts:
        match = _SPOTDL_PART.search(part)
        if match and part != ".spotdl" and match.group(0) != part:
            return False
    return True


def output_template(folder: Path) -> str:
    """Our ``--output`` template: ``<folder>/track.{output-ext}``, absolute.

    spotdl expands template keys anywhere in the string and, in every path
    component, drops leading dots/asterisks and trailing dots/asterisks/``$``
    (``~/.music`` would become ``~/music``). When the absolute folder would be
    rewritten that way, the relative ``track.{output-ext}`` is returned instead;
    spotdl runs with the attempt folder as its working directory, so both name
    the same file.
    """
    absolute = f"{folder.absolute()}/{OUTPUT_STEM}.{{output-ext}}"
    return absolute if _survives_spotdl(absolute) else f"{OUTPUT_STEM}.{{output-ext}}"


def build_command(*, executable: str, query: str, output: str, format: str, bitrate: str,
                  ffmpeg: str | None = None) -> list[str]:
    """The argument list for one spotdl run (no shell is ever involved).

    Parameters
    ----------
    executable : str
        Absolute path of spotdl (:func:`find_spotdl`).
    query : str
        :data:`SONG_FILE` or a canonical track URL (``https://open.spotify.com/track/<id>``).
    output : str
        :func:`output_template`.
    format, bitrate : str
        Checked values (:func:`check_options`).
    ffmpeg : str, optional
        Absolute path of a configured ffmpeg.

    Returns
    -------
    list[str]
        ``[spotdl, options..., "--", "download", query]``.
    """
    cmd = [executable, "--simple-tui", "--log-level", "INFO", "--log-format", "%(message)s",
           "--format", format, "--bitrate", bitrate, "--output", output, "--overwrite", "force",
           "--threads", "1"]
    if ffmpeg is not None:
        cmd.append(f"--ffmpeg={ffmpeg}")
    return [*cmd, "--", "download", query]


_SECRET_NAME = re.compile(r"SECRET|TOKEN|PASSW|PASSPHRASE|CREDENTIAL|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|COOKIE|"
                          r"SESSION|AUTH|^SPOTIFY_CLIENT_", re.IGNORECASE)
"""Names of environment variables spotdl never gets: it is handed our metadata as a ``.spotdl`` file,
so it needs no Spotify credentials, and it has no business with any other secret."""


def spotdl_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for spotdl: ours minus every secret-looking variable (:data:`_SECRET_NAME`:
    ``SPOTIFY_CLIENT_SECRET``, ``*_TOKEN``, ``*_API_KEY``...), with a wide plain console, UTF-8 and
    unbuffered output."""
    env = {k: v for k, v in (os.environ if base is None else base).items() if not _SECRET_NAME.search(k)}
    for name in ("FORCE_COLOR", "CLICOLOR_FORCE", "PYTHONSTARTUP"):
        env.pop(name, None)
    env.update({"COLUMNS": COLUMNS, "TERM": "dumb", "NO_COLOR": "1", "PYTHONIOENCODING": "utf-8",
                "PYTHONUNBUFFERED": "1"})
    return env


# -- one track ------------------------------------------------------------------------------------------
def download_track(track: Mapping[str, Any], *, storage: Storage, settings: Settings, format: str = "mp3",
                   bitrate: str = "320k", timeout_s: float = 600.0, on_progress: ProgressFn | None = None,
                   should_stop: Callable[[], bool] | None = None,
                   on_process: Callable[[subprocess.Popen[bytes]], None] | None = None,
                   duration_tolerance_s: float | None = None, kill_grace_s: float = 2.0) -> SpotdlDownload:
    """Download, verify and store the audio of one Spotify track with spotdl (one attempt).

    Parameters
    ----------
    track : Mapping
        A ``tracks`` row (see :func:`song_entry`); at least ``track_id``, a Spotify id.
    storage : Storage
        The workspace's storage: scratch folder under ``tmp/``, final file in ``downloads/``.
    settings : Settings
        Uses ``spotdl`` (executable), ``ffmpeg``, ``max_audio_s`` and ``ffmpeg_timeout_s``.
    format : str
        One of :data:`FORMATS`.
    bitrate : str
        One of :data:`BITRATES` (ignored for lossless formats).
    timeout_s : float
        Wall-clock limit for the spotdl process, in seconds.
    on_progress : callable, optional
        ``on_progress(percent, message)`` as spotdl advances (percent 0-100).
    should_stop : callable, optional
        Polled about every 0.1 s; returning ``True`` kills spotdl (see ``Raises``).
    on_process : callable, optional
        Receives the :class:`subprocess.Popen` right after it starts (its pid is
        also its process-group id), e.g. so a runner can kill it.
    duration_tolerance_s : float, optional
        Accepted difference between the file's and the metadata's duration, in
        seconds (default: the larger of 10 s and 5 % of the track).
    kill_grace_s : float
        Seconds between SIGTERM and SIGKILL when the process group is stopped.

    Returns
    -------
    SpotdlDownload

    Raises
    ------
    ConfigError
        Bad format, bitrate or timeout.
    DownloadError
        Not a Spotify track, or spotdl failed; subclasses: :class:`DownloaderNotFound`
        (spotdl or ffmpeg missing), :class:`NoMatch` (no audio found),
        :class:`DownloadUnavailable` (transient: network, provider, truncated file).
    ItemCancelled
        ``should_stop()`` turned true; spotdl's process group was killed.
    ItemTimeout
        spotdl ran past ``timeout_s`` (transient); its process group was killed.
    """
    fmt, rate = check_options(format=format, bitrate=bitrate)
    if not timeout_s > 0:
        raise ConfigError(f"timeout_s must be > 0 seconds, got {timeout_s!r}.")
    track_id = validate_id(track.get("track_id"))
    if not is_spotify_id(track_id):
        raise DownloadError(f"Track {track_id!r} is not a Spotify track (Spotify ids are 22 letters and digits); "
                            "spotdl can only download Spotify tracks. Import your own file instead "
                            "(ws.import_audio).", track_id=track_id)
    executable = find_spotdl(settings.spotdl)
    ffmpeg = _resolve_ffmpeg(settings.ffmpeg)
    report = on_progress or (lambda percent, message: None)
    entry = song_entry(track)
    with storage.scratch_dir(prefix=f"spotdl-{track_id}-") as folder:
        if entry is not None:
            (folder / SONG_FILE).write_text(json.dumps([entry], ensure_ascii=False, indent=1), encoding="utf-8")
            query = SONG_FILE
        else:
            query = f"https://open.spotify.com/track/{track_id}"
        cmd = build_command(executable=executable, query=query, output=output_template(folder), format=fmt,
                            bitrate=rate, ffmpeg=ffmpeg)
        log = OutputLog()
        report(0.0, "Starting spotdl")

        def on_line(line: str) -> None:
            event = log.feed(line)
            if event is not None and event.kind in ("progress", "error", "warning"):
                report(min(log.percent, 95.0), _short(event))

        try:
            outcome = run_process(cmd, cwd=folder, env=spotdl_env(), timeout_s=timeout_s, on_line=on_line,
                                  should_stop=should_stop, on_process=on_process, kill_grace_s=kill_grace_s)
        except OSError as exc:
            raise DownloaderNotFound(f"Could not start spotdl ({executable}): {exc.strerror or exc}. {INSTALL_HINT}",
                                     executable=executable) from exc
        _raise_for_outcome(outcome, log, track_id=track_id, timeout_s=timeout_s)
        produced = folder / f"{OUTPUT_STEM}.{fmt}"
        if produced.is_file():
            report(96.0, "Verifying audio")
        checked = _verify(produced, log=log, track_id=track_id, expected_ms=_int(track.get("duration_ms")),
                          tolerance_s=duration_tolerance_s, settings=settings, returncode=outcome.returncode)
        digest = sha256_file(produced)
        final = storage.move_into_place(produced, storage.download_path(track_id, fmt))
    report(100.0, "Done")
    return SpotdlDownload(track_id=track_id, path=final, format=fmt, size_bytes=final.stat().st_size, sha256=digest,
                          duration_s=checked.duration_s, sample_rate=checked.info.sample_rate,
                          channels=checked.info.channels, is_silent=checked.is_silent, source_url=log.source_url,
                          query="metadata" if entry is not None else query,
                          warnings=(*log.warnings, *(e.reason for e in log.errors)))


def _short(event: OutputEvent) -> str:
    text = event.reason
    return text if len(text) <= 200 else text[:197] + "..."


def _raise_for_outcome(outcome: ProcessOutcome, log: OutputLog, *, track_id: str, timeout_s: float) -> None:
    """Turn a killed or failed run into the right error (exit 0 is judged by the file, later)."""
    said = log.reason(returncode=outcome.returncode)
    if outcome.timed_out:
        raise ItemTimeout(f"spotdl took longer than {timeout_s:g} s for track {track_id} and was stopped with its "
                          f"child processes (last output: {said or 'none'}). Raise timeout= for slow connections.",
                          track_id=track_id, timeout_s=timeout_s)
    if outcome.cancelled:
        raise ItemCancelled(f"The download of track {track_id} was cancelled; spotdl and its child processes "
                            "were stopped.", track_id=track_id)
    if outcome.returncode == 0:
        return
    status = outcome.returncode
    if status is not None and status < 0:
        name = "unknown"
        with contextlib.suppress(ValueError):
            name = signal.Signals(-status).name
        raise DownloadUnavailable(f"spotdl for track {track_id} was killed by signal {-status} ({name}) "
                                  f"(last output: {said or 'none'}).", track_id=track_id, returncode=status)
    cls = classify(log.last_error, returncode=status)
    hint = f" {FFMPEG_HINT}" if cls is DownloaderNotFound else ""
    raise cls(f"spotdl failed for track {track_id} (exit status {status}): {said.rstrip('.') or 'no message'}.{hint}",
              track_id=track_id, returncode=status, spotdl_error=log.last_error.error_type if log.last_error else None)


def _verify(path: Path, *, log: OutputLog, track_id: str, expected_ms: int | None, tolerance_s: float | None,
            settings: Settings, returncode: int | None) -> audio.ScanResult:
    """Check that spotdl really produced the song: present, decodable, complete, the right length."""
    said = log.reason(returncode=returncode)
    if not path.is_file():
        cls = classify(log.last_error, returncode=returncode)
        because = f": {said.rstrip('.')}" if said else " and printed no error"
        raise cls(f"spotdl wrote no audio file for track {track_id}{because}.", track_id=track_id,
                  spotdl_error=log.last_error.error_type if log.last_error else None)
    try:
        checked = audio.scan(path, max_duration_s=settings.max_audio_s, ffmpeg=settings.ffmpeg,
                             timeout_s=settings.ffmpeg_timeout_s)
    except AudioError as exc:
        extra = f" (spotdl said: {said})" if said else ""
        raise DownloadUnavailable(f"spotdl's file for track {track_id} is not usable audio: {exc.message}{extra}",
                                  track_id=track_id, reason=exc.reason) from exc
    header_s = checked.info.duration_s
    if header_s > 0 and checked.duration_s < header_s - max(1.0, 0.02 * header_s):
        raise DownloadUnavailable(f"spotdl's file for track {track_id} is truncated: {checked.duration_s:.1f} s "
                                  f"decoded of {header_s:.1f} s (an interrupted download).", track_id=track_id)
    if expected_ms:
        expected_s = expected_ms / 1000.0
        allowed = tolerance_s if tolerance_s is not None else max(10.0, 0.05 * expected_s)
        if abs(checked.duration_s - expected_s) > allowed:
            extra = f" spotdl said: {said}." if said else ""
            raise DownloadError(
                f"spotdl's audio for track {track_id} lasts {checked.duration_s:.1f} s but the track lasts "
                f"{expected_s:.1f} s (tolerance {allowed:.1f} s): it matched a different version or a partial "
                f"file.{extra}", track_id=track_id, duration_s=checked.duration_s, expected_s=expected_s)
    return checked


