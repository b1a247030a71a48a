"""A stand-in for the ``spotdl`` program, for tests (copied into tmp_path with a shebang, made executable).

It parses the options SoundForge passes like spotdl 4.6 does (argparse, unknown
options exit 2), reads the ``.spotdl`` song file exactly as spotdl's
``Song.from_dict`` would (missing or unknown fields crash), expands the
``--output`` template and sanitises its path components like
``spotdl.utils.formatter.create_path_object``, and prints the same
``--simple-tui`` lines and error lines as the real program.

Behaviour mode: ``$FAKE_SPOTDL_MODES`` (JSON ``{song_id: mode}``), else
``$FAKE_SPOTDL_MODE``, else ``success``. Modes:

success          writes a real audio file (synthesised tone of the song's duration), exit 0
nofile           prints the usual progress up to "Done" but writes nothing, exit 0
truncated        writes the first half of a real file, exit 0
wrong_duration   writes a complete file 15 s longer than the song (another version), exit 0
nomatch          ``LookupError: No results found for song: ...``, exit 0, no file
provider_error   ``AudioProviderError: ... Failed to resolve 'www.youtube.com' ...``, exit 0, no file
metadata_error   writes the file, then ``MetadataError: Failed to embed metadata to the song``, exit 0
noffmpeg         the rich traceback and ``FFmpegError: FFmpeg is not installed...``, exit 1
network          the rich traceback and ``ConnectionError: ...music.youtube.com...``, exit 1
hang             starts a grandchild, writes a partial file, ignores SIGTERM, sleeps forever
slow             the success path with ``$FAKE_SPOTDL_DELAY`` seconds (default 0.4) between lines
flaky            ``provider_error`` for the first ``$FAKE_SPOTDL_FAILS`` (default 2) runs of a song, then success

Every run appends one JSON line to ``$FAKE_SPOTDL_LOG`` (argv, cwd, environment
facts, process ids, the song file's content); ``hang`` writes its own and its
grandchild's pid to ``$FAKE_SPOTDL_PIDS``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

SONG_REQUIRED = ("name", "artists", "artist", "genres", "disc_number", "disc_count", "album_name", "album_artist",
                 "duration", "year", "date", "track_number", "tracks_count", "song_id", "explicit", "publisher",
                 "url", "isrc", "cover_url", "copyright_text")
SONG_OPTIONAL = ("download_url", "lyrics", "popularity", "album_id", "list_name", "list_url", "list_position",
                 "list_length", "artist_id", "album_type")
FORMATS = ("mp3", "flac", "ogg", "opus", "m4a", "wav")
BITRATES = ("auto", "disable", "8k", "16k", "24k", "32k", "40k", "48k", "64k", "80k", "96k", "112k", "128k",
            "160k", "192k", "224k", "256k", "320k", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9")
FFMPEG_MESSAGE = ("FFmpeg is not installed. Please run `spotdl --download-ffmpeg` to install it, or "
                  "`spotdl --ffmpeg /path/to/ffmpeg` to specify the path to ffmpeg.")
WIDTH = min(int(os.environ.get("COLUMNS") or 80), 10000)


def say(text: str) -> None:
    """Print like rich does to a non-terminal: wrapped at the console width, padded with spaces."""
    for start in range(0, max(len(text), 1), WIDTH):
        print(text[start:start + WIDTH].ljust(WIDTH), flush=True)


def box(*frames: str) -> None:
    say("╭" + "─" * 31 + " Traceback (most recent call last) " + "─" * 32 + "╮")
    for frame in frames:
        say(f"│ {frame:<96} │")
    say("╰" + "─" * 98 + "╯")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="spotdl", allow_abbrev=False)
    parser.add_argument("operation", nargs="?", choices=["download", "save", "web", "sync", "meta", "url"],
                        default="download", const="download")
    parser.add_argument("query", nargs="+")
    parser.add_argument("--simple-tui", action="store_true")
    parser.add_argument("--log-level")
    parser.add_argument("--log-format")
    parser.add_argument("--format", choices=FORMATS, default="mp3")
    parser.add_argument("--bitrate", choices=BITRATES)
    parser.add_argument("--output", default="{artists} - {title}.{output-ext}")
    parser.add_argument("--overwrite", choices=["force", "skip", "metadata"])
    parser.add_argument("--threads", type=int)
    parser.add_argument("--ffmpeg", default="ffmpeg")
    return parser.parse_args(argv)


def sanitize(value: object) -> str:
    text = "".join(ch for ch in str(value) if ch not in "/?\\*|<>")
    return re.sub(r"\s{2,}", " ", text).replace('"', "'").replace(":", "-")


def output_path(template: str, song: dict, ext: str) -> Path:
    """spotdl's create_file_name + create_path_object, for the keys our callers could use."""
    if not template.endswith(".{output-ext}"):
        template += ".{output-ext}"
    values = {"{title}": song["name"], "{artists}": ", ".join(song["artists"]), "{artist}": song["artists"][0],
              "{track-id}": song["song_id"], "{output-ext}": ext, "{album}": song["album_name"]}
    for key, value in values.items():
        template = template.replace(key, sanitize(value))
    parts = []
    for part in Path(template).parts:
        match = re.search(r"[^\.*](.*)[^\.*$]", part)
        parts.append(match.group(0) if match and part != ".spotdl" else part)
    return Path(*parts)


def load_songs(query: str) -> list[dict]:
    if query.endswith(".spotdl"):
        with open(query, encoding="utf-8") as handle:
            songs = json.load(handle)
        for song in songs:
            missing = [k for k in SONG_REQUIRED if k not in song]
            unknown = [k for k in song if k not in SONG_REQUIRED + SONG_OPTIONAL]
            if missing or unknown:
                box("/usr/lib/python3/site-packages/spotdl/types/song.py:225 in from_dict")
                what = (f"missing {len(missing)} required positional argument(s): {missing}" if missing
                        else f"got an unexpected keyword argument '{unknown[0]}'")
                say(f"TypeError: Song.__init__() {what}")
                sys.exit(1)
        return songs
    match = re.fullmatch(r"https://open\.spotify\.com/track/([0-9A-Za-z]{22})", query)
    if not match:
        say(f"SongError: No results found for: {query}")
        sys.exit(1)
    seconds = float(os.environ.get("FAKE_SPOTDL_URL_SECONDS", "3"))
    return [{"name": "Fetched Song", "artists": ["Fetched Artist"], "artist": "Fetched Artist", "album_name": "A",
             "duration": seconds, "song_id": match.group(1), "url": query}]


def write_audio(path: Path, ext: str, seconds: float) -> None:
    import numpy as np
    import soundfile as sf

    sr = 44100
    t = np.arange(int(seconds * sr)) / sr
    tone = (0.3 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)
    data = np.stack([tone, tone], axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    if ext == "m4a":
        wav = path.with_suffix(".src.wav")
        sf.write(wav, data, sr)
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(wav), "-c:a", "aac", str(path)],
                       check=True)
        wav.unlink()
        return
    formats = {"mp3": ("MP3", None), "flac": ("FLAC", "PCM_16"), "ogg": ("OGG", "VORBIS"),
               "opus": ("OGG", "OPUS"), "wav": ("WAV", "PCM_16")}
    fmt, subtype = formats[ext]
    if ext == "opus":  # Opus runs at 48 kHz
        sr = 48000
        t = np.arange(int(seconds * sr)) / sr
        tone = (0.3 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)
        data = np.stack([tone, tone], axis=1)
    sf.write(str(path), data, sr, format=fmt, subtype=subtype)


def log_call(args: argparse.Namespace, songs: list[dict] | None) -> None:
    target = os.environ.get("FAKE_SPOTDL_LOG")
    if not target:
        return
    record = {"argv": sys.argv, "cwd": os.getcwd(), "pid": os.getpid(), "pgid": os.getpgid(0), "sid": os.getsid(0),
              "columns": os.environ.get("COLUMNS"), "term": os.environ.get("TERM"),
              "unbuffered": os.environ.get("PYTHONUNBUFFERED"), "songs": songs, "query": args.query}
    with open(target, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")


def mode_for(song: dict) -> str:
    modes = json.loads(os.environ.get("FAKE_SPOTDL_MODES") or "{}")
    return modes.get(song["song_id"]) or os.environ.get("FAKE_SPOTDL_MODE") or "success"


def flaky_should_fail(song: dict) -> bool:
    state = Path(os.environ.get("FAKE_SPOTDL_STATE") or ".") / f"flaky-{song['song_id']}.count"
    runs = int(state.read_text()) if state.exists() else 0
    state.write_text(str(runs + 1))
    return runs < int(os.environ.get("FAKE_SPOTDL_FAILS", "2"))


def hang(out: Path) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    child = subprocess.Popen([sys.executable, "-c", "import signal, time\n"
                              "signal.signal(signal.SIGTERM, signal.SIG_IGN)\ntime.sleep(3600)"])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(b"ID3partial")  # a partial download that must never reach downloads/
    pids = os.environ.get("FAKE_SPOTDL_PIDS")
    if pids:
        Path(pids).write_text(json.dumps({"spotdl": os.getpid(), "grandchild": child.pid}))
    while True:
        time.sleep(1)


def download(song: dict, args: argparse.Namespace) -> int:
    display = f"{song['artist']} - {song['name']}"
    ext = args.format
    out = output_path(args.output, song, ext)
    mode = mode_for(song)
    delay = float(os.environ.get("FAKE_SPOTDL_DELAY", "0.4")) if mode == "slow" else 0.0
    if mode == "flaky":
        mode = "provider_error" if flaky_should_fail(song) else "success"

    def step(message: str) -> None:
        say(f"{display}: {message}")
        time.sleep(delay)

    step("Searching for song")
    if mode == "hang":
        hang(out)
    if mode == "nomatch":
        say("1/1 complete")
        say(f"LookupError: No results found for song: {display}")
        return 0
    if mode == "provider_error":
        say("1/1 complete")
        say(f'AudioProviderError: ERROR: query "{display.lower()}" page 1: Unable to download API page: '
            "HTTPSConnection(host='www.youtube.com', port=443): Failed to resolve 'www.youtube.com' ([Errno -2] "
            "Name or service not known)")
        return 0
    step("Getting audio meta")
    step("Downloading")
    seconds = float(song["duration"]) + (15 if mode == "wrong_duration" else 0)
    if mode != "nofile":
        write_audio(out, ext, seconds)
    if mode == "truncated":
        raw = out.read_bytes()
        out.write_bytes(raw[: len(raw) // 2])
    if mode == "metadata_error":
        say("1/1 complete")
        say("MetadataError: Failed to embed metadata to the song")
        return 0
    step("Embedding metadata")
    step("Done")
    say("1/1 complete")
    say(f'Downloaded "{display}": https://music.youtube.com/watch?v=dQw4w9WgXcQ')
    return 0


def main() -> int:
    args = parse(sys.argv[1:])
    songs = load_songs(args.query[0])
    log_call(args, songs)
    mode = mode_for(songs[0])
    if mode == "noffmpeg" or (args.ffmpeg != "ffmpeg" and not os.access(args.ffmpeg, os.X_OK)):
        box("/usr/lib/python3/site-packages/spotdl/console/entry_point.py:93 in entry_point")
        say(f"FFmpegError: {FFMPEG_MESSAGE}")
        return 1
    if mode == "network":
        box("/usr/lib/python3/site-packages/spotdl/utils/downloader.py:21 in check_ytmusic_connection")
        say("ConnectionError: HTTPSConnectionPool(host='music.youtube.com', port=443): Max retries exceeded with "
            "url: / (Caused by NameResolutionError(\"HTTPSConnection(host='music.youtube.com', port=443): Failed "
            "to resolve 'music.youtube.com' ([Errno -2] Name or service not known)\"))")
        return 1
    say(f"Processing query: {args.query[0]}")
    status = 0
    for song in songs:
        status = max(status, download(song, args))
    return status


if __name__ == "__main__":
    sys.exit(main())
