"""The ``soundforge`` command line.

::

    soundforge [--root DIR] import PATH...      import audio files, folders or globs
    soundforge [--root DIR] fetch URL...        Spotify track/album/playlist/artist links -> tracks
    soundforge [--root DIR] download [ID...]    download fetched Spotify tracks with spotdl
    soundforge [--root DIR] analyze [ID...]     tempo, key, loudness, timbre... of tracks with audio
                                                (also spelt ``analyse``)
    soundforge [--root DIR] separate [TRACK_ID...] [--model M]   split tracks into stems (default: auto)
    soundforge [--root DIR] status              tables of the catalog and storage (read-only)
    soundforge [--root DIR] export DIR          every catalog table as DIR/<table>.parquet (read-only)
    soundforge [--root DIR] batch NOTEBOOK (--tracks ID... | --all) [-p NAME VALUE]...
                                                run a parameterised notebook per track (papermill)
    soundforge [--root DIR] webhooks add URL [--events T,...] [--allow-private] [--secret-env VAR]
    soundforge [--root DIR] webhooks list|remove ID|enable ID|disable ID|test ID|deliver
                                                signed notifications of events (docs/webhooks.md)
    soundforge [--root DIR] demo                the main job on the built-in demo songs

Every command has ``--help``. Errors print one line (``error: ...``) in the shell's words (``--model dsp``,
not ``model='dsp'``: see :data:`SHELL_WORDS`) and exit 1; a bad option value (``--workers 0``,
``--timeout abc``) is a usage error: one line, exit 2. A mistyped command or choice is answered
with the known ones. Read-only commands (``status``, ``export``, ``webhooks list``) never create a
workspace. When standard error is not a terminal, stage progress comes as periodic log lines.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from . import __version__
from .errors import ConfigError, InvalidArgument, SoundforgeError

__all__ = ["SHELL_WORDS", "build_parser", "main", "to_shell"]

Command = Callable[[argparse.Namespace], int]

SHELL_WORDS: tuple[tuple[str, str], ...] = (
    (r"ws\.separate\(([^)]*)\)", "soundforge separate \\1"),
    (r"ws\.analyze\(([^)]*)\)", "soundforge analyze \\1"),
    (r"ws\.import_audio(?:\([^)]*\))?", "soundforge import PATH"),
    (r"ws\.download(?:\([^)]*\))?", "soundforge download"),
    (r"ws\.fetch(?:\([^)]*\))?", "soundforge fetch URL"),
    (r"ws\.tracks\(\)", "soundforge status"),
    (r"ws\.export\(([^)]*)\)", "soundforge export \\1"),
    (r"\ballow_download=True", "--allow-download"),
    (r"\bforce=True", "--force"),
    (r"\bconcert_pitch_prior=False", "--no-concert-pitch-prior"),
    (r"\bmodel=(?:'([^']*)'|\"([^\"]*)\")", "--model \\1\\2"),
    (r"\bfeatures=", "--features "),
    (r"\bworkers=", "--workers "),
    (r"\btimeout=", "--timeout "),
    (r"\bdevice=(?:'([^']*)'|\"([^\"]*)\")", "--device \\1\\2"),
    (r"\bsegment=", "--segment "),
    (r" \(or Workspace\(demucs_repo=\.\.\.\) / repo=\.\.\.\)", ""),
    (r"\(repo= / SOUNDFORGE_DEMUCS_REPO / Workspace\(demucs_repo=\.\.\.\)\)", "(SOUNDFORGE_DEMUCS_REPO)"),
)
"""Registry of rewrites from the Python API's words in error messages to the shell's (pattern, replacement):
the library speaks keywords (``model='dsp'``); the command line prints flags (``--model dsp``)."""


def to_shell(message: str) -> str:
    """An error message from the library, in the words of the command line (see :data:`SHELL_WORDS`)."""
    for pattern, replacement in SHELL_WORDS:
        message = re.sub(pattern, replacement, message)
    message = re.sub(r"soundforge (separate|analyze|export) '([^']*)'", r"soundforge \1 \2", message)
    return re.sub(r"(soundforge \w+) +([.;,)])", r"\1\2", message)


def _workspace(args: argparse.Namespace, *, create: bool = True) -> Any:
    """The workspace at ``--root``; ``create=False`` (read-only commands) refuses to make a new one."""
    from .config import load_settings
    from .workspace import Workspace

    if not create:
        home = Path(load_settings(home=args.root).home)
        if not (home / "catalog.sqlite").is_file():
            demo = Path("soundforge-demo")
            hint = (" The demo's workspace is ./soundforge-demo: add --root soundforge-demo."
                    if (demo / "catalog.sqlite").is_file() and demo.resolve() != home.resolve() else "")
            raise ConfigError(f"No workspace at {home} (no catalog.sqlite there); this command only reads one. "
                              f"Pass --root DIR (or set SOUNDFORGE_HOME) to open yours, or create one with "
                              f"'soundforge --root {home} import PATH...'.{hint}", path=str(home))
    return Workspace(args.root)


def _with_titles(ws: Any, df: Any) -> Any:
    """``df`` with a ``title`` column (the track's name) right after ``track_id``, when it has one."""
    if "track_id" not in df.columns or "title" in df.columns or not len(df):
        return df
    names = ws.tracks()[["track_id", "name"]].rename(columns={"name": "title"})
    out = df.merge(names, on="track_id", how="left")
    cols = list(df.columns)
    cols.insert(cols.index("track_id") + 1, "title")
    out = out[cols]
    out["title"] = out["title"].map(lambda t: t if not isinstance(t, str) or len(t) <= 32 else t[:31] + "…",
                                    na_action="ignore")
    return out


def _show(df: Any, columns: Sequence[str] | None = None) -> None:
    import pandas as pd

    if columns is not None:
        df = df[[c for c in columns if c in df.columns]]
    with pd.option_context("display.max_rows", 200, "display.max_columns", 50, "display.width", 200,
                           "display.max_colwidth", 60):
        print(df.to_string(index=False) if len(df) else "(no rows)")


def _counts(result: Any) -> tuple[int, int, int]:
    """Rows of a stage result that are ``done``, ``skipped`` and ``failed``."""
    counts = result["status"].value_counts()
    return int(counts.get("done", 0)), int(counts.get("skipped", 0)), int(counts.get("failed", 0))


def cmd_import(args: argparse.Namespace) -> int:
    """``soundforge import``: import files; exit 1 when any file failed."""
    ws = _workspace(args)
    result = ws.import_audio(args.paths, force=args.force, workers=args.workers, timeout=args.timeout)
    _show(_with_titles(ws, result), ["track_id", "title", "status", "duration_s", "sample_rate", "channels", "format",
                                     "source_path", "error"])
    failed = int((result["status"] == "failed").sum())
    print(f"\n{len(result) - failed} imported or already present, {failed} failed; workspace {ws.root}")
    return 1 if failed else 0


def cmd_fetch(args: argparse.Namespace) -> int:
    """``soundforge fetch``: Spotify links -> ``tracks``; exit 1 when any link failed."""
    ws = _workspace(args)
    groups = args.include_groups.split(",") if args.include_groups else ("album", "single")
    result = ws.fetch(args.urls, market=args.market, include_groups=groups, force=args.force, workers=args.workers,
                      timeout=args.timeout, progress="auto" if args.progress else None)
    tracks = result[result["status"] != "failed"]
    _show(tracks, ["track_id", "status", "name", "artists", "album", "release_date", "duration_ms"])
    links = result.attrs.get("links", [])
    failed = [link for link in links if link["status"] == "failed"]
    for link in failed:
        print(f"failed: {link['source_url']}: {link['error']}", file=sys.stderr)
    fetched = sum(1 for link in links if link["status"] == "done")
    known = sum(1 for link in links if link["status"] == "skipped")
    skipped = len(result.attrs.get("skipped_entries", []))
    print(f"\n{len(tracks)} tracks from {len(links)} link(s): {fetched} fetched, {known} already in the workspace "
          f"(--force fetches again), {len(failed)} failed; {skipped} entries without a track skipped "
          f"(null, local file, episode, duplicate); workspace {ws.root}")
    return 1 if failed else 0


def cmd_download(args: argparse.Namespace) -> int:
    """``soundforge download``: download tracks with spotdl; exit 1 when any track failed."""
    ws = _workspace(args)
    result = ws.download(args.track_ids or None, format=args.format, bitrate=args.bitrate, force=args.force,
                         workers=args.workers, timeout=args.timeout)
    if not len(result):
        print("Nothing to download: every fetched Spotify track already has audio "
              f"(workspace {ws.root}). Fetch tracks first, or name track ids.")
        return 0
    _show(_with_titles(ws, result), ["track_id", "title", "status", "attempts", "duration_s", "format", "path",
                                     "error"])
    done, skipped, failed = _counts(result)
    print(f"\n{done} downloaded, {skipped} already present, "
          f"{failed} failed; workspace {ws.root}")
    return 1 if failed else 0


def cmd_analyze(args: argparse.Namespace) -> int:
    """``soundforge analyze``: analyse tracks with audio; exit 1 when any track failed."""
    ws = _workspace(args)
    groups = [g.strip() for g in args.features.split(",")] if args.features else None
    result = ws.analyze(args.track_ids or None, features=groups, force=args.force, workers=args.workers,
                        timeout=args.timeout, concert_pitch_prior=not args.no_concert_pitch_prior)
    if not len(result):
        print(f"Nothing to analyse: the workspace {ws.root} has no audio yet. Import or download tracks first.")
        return 0
    _show(_with_titles(ws, result), ["track_id", "title", "status", "duration_s", "tempo_bpm", "key_tonic",
                                     "key_mode", "time_signature", "loudness_lufs", "energy", "danceability", "error"])
    done, skipped, failed = _counts(result)
    print(f"\n{done} analysed, {skipped} already analysed, "
          f"{failed} failed; all features: ws.features() or the analyses table (workspace {ws.root})")
    return 1 if failed else 0


def cmd_separate(args: argparse.Namespace) -> int:
    """``soundforge separate``: split tracks into stems; exit 1 when any track failed."""
    ws = _workspace(args)
    options = {k: v for k, v in (("segment", args.segment), ("overlap", args.overlap), ("shifts", args.shifts),
                                 ("jobs", args.jobs)) if v is not None}
    if args.allow_download:
        options["allow_download"] = True
    result = ws.separate(args.tracks or None, model=args.model, device=args.device, force=args.force,
                         workers=args.workers, timeout=args.timeout, **options)
    if result.attrs.get("model_reason"):
        print(to_shell(result.attrs["model_reason"]) + "\n")
    if not len(result):
        print(f"Nothing to separate: the workspace {ws.root} has no audio yet. Import or download tracks first.")
        return 0
    _show(_with_titles(ws, result), ["track_id", "title", "model", "stem", "status", "duration_s", "seconds_taken",
                                     "path", "error"])
    failed = result.loc[result["status"] == "failed", "track_id"].nunique()
    done = int((result["status"] != "failed").sum())
    print(f"\n{done} stems done or already there with --model {result.attrs.get('model')}, {failed} track(s) "
          f"failed; workspace {ws.root}")
    return 1 if failed else 0


def cmd_status(args: argparse.Namespace) -> int:
    """``soundforge status``: tracks with their audio, then storage stats."""
    ws = _workspace(args, create=False)
    print(f"workspace: {ws.root}\n")
    tracks = ws.tracks()
    audio = ws.audio()[["track_id", "format", "duration_s", "sample_rate", "channels"]]
    table = tracks[["track_id", "name", "artists", "source"]].rename(columns={"name": "title"})
    table["artists"] = table["artists"].map(lambda a: ", ".join(a) if isinstance(a, list | tuple) else a)
    _show(table.merge(audio, on="track_id", how="left"))
    print()
    _show(ws.stats())
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """``soundforge export``: every catalog table as ``OUT_DIR/<table>.parquet``, like ``ws.export``."""
    ws = _workspace(args, create=False)
    written = ws.export(Path(args.out_dir).expanduser())
    for name, path in written.items():
        print(f"{name:12s} {path}")
    print(f"\n{len(written)} tables of the workspace {ws.root} written as Parquet to {args.out_dir}")
    return 0


def _parameter_value(text: str) -> Any:
    """A ``-p`` value: JSON when it parses (numbers, true/false, null, lists), else the string itself."""
    import json

    try:
        return json.loads(text)
    except ValueError:
        return text


def cmd_batch(args: argparse.Namespace) -> int:
    """``soundforge batch``: run a notebook per track or chunk; exit 1 when any item failed."""
    from . import batch

    ws = _workspace(args)
    if args.all:
        tracks = ws.audio()["track_id"].tolist()
        if not tracks:
            print(f"No track with audio in the workspace {ws.root}: import or download some first.", file=sys.stderr)
            return 1
    else:
        tracks = args.tracks
    parameters = {name: _parameter_value(value) for name, value in args.parameters}
    summary = batch.run(args.notebook, tracks, parameters=parameters, workers=args.workers,
                        chunk_size=args.chunk_size, out_dir=args.out_dir, timeout=args.timeout, force=args.force,
                        progress=None if args.quiet else "auto", kernel_name=args.kernel, workspace=ws)
    _show(_with_titles(ws, summary.rename(columns={"item": "track_id"})),
          ["track_id", "title", "status", "duration_s", "output_notebook", "error"])
    done, skipped, failed = _counts(summary)
    print(f"\n{done} done, {skipped} skipped (done before), "
          f"{failed} failed")
    from .batch import notebook_folders

    print(f"executed notebooks: {', '.join(notebook_folders(summary)) or '(none)'}")
    print(f"summary: {summary.attrs['summary_path']}")
    return 1 if failed else 0


def cmd_webhooks(args: argparse.Namespace) -> int:
    """``soundforge webhooks``: register, list, test endpoints; deliver what is pending."""
    import os

    ws = _workspace(args, create=args.action != "list")
    hooks = ws.webhooks
    action = args.action
    if action == "add":
        secret = None
        if args.secret_env:
            secret = os.environ.get(args.secret_env)
            if not secret:
                print(f"error: --secret-env {args.secret_env}: that environment variable is not set or empty.",
                      file=sys.stderr)
                return 1
        events = [e.strip() for e in args.events.split(",")] if args.events else None
        hook = hooks.add(args.url, events=events, secret=secret, allow_private=args.allow_private,
                         _flag="--allow-private")
        print(f"webhook {hook.webhook_id} added: {hook.url} (events: {', '.join(hook.events)})")
        if secret is None:
            print(f"secret (shown once, give it to the receiver; it is never printed again): {hook.secret}")
        return 0
    if action == "list":
        df = hooks.list()
        df["events"] = df["events"].map(", ".join)
        _show(df, ["webhook_id", "url", "events", "active", "failures", "pending", "delivered", "failed",
                   "last_delivery_at", "last_status", "disabled_reason"])
        return 0
    if action in ("remove", "enable", "disable"):
        getattr(hooks, action)(args.webhook_id)
        print(f"webhook {args.webhook_id}: {action}d")
        return 0
    if action == "test":
        result = hooks.test(args.webhook_id)
        if result.ok:
            print(f"webhook {args.webhook_id}: test event {result.event_id} delivered (HTTP {result.status_code}, "
                  f"{result.duration_s * 1000:.0f} ms)")
            return 0
        print(f"webhook {args.webhook_id}: test event {result.event_id} failed: {result.error}", file=sys.stderr)
        return 1
    summary = hooks.deliver(timeout=args.timeout, retry_failed=args.retry_failed, now=args.now)
    print(f"{summary.attempts} attempt(s): {summary.delivered} delivered, {summary.failed} failed for good; "
          f"{summary.pending} still pending ({summary.seconds:.1f} s)")
    return 1 if summary.failed else 0


def cmd_demo(args: argparse.Namespace) -> int:
    """``soundforge demo``: run the main job on the built-in demo songs."""
    from .demo import run_demo

    return run_demo(root=args.root)


def _whole(minimum: int) -> Callable[[str], int]:
    """argparse type: a whole number >= ``minimum`` (a bad value is a usage error: one line, exit 2)."""
    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text!r} is below {minimum}")
        return value
    convert.__name__ = "whole number"
    return convert


def _time_limit(text: str) -> float:
    """argparse type of ``--timeout``: seconds > 0, or ``none`` (no limit)."""
    import math

    if text.strip().lower() in ("none", "inf", "infinity"):
        return math.inf
    return _seconds(text)


def _seconds(text: str) -> float:
    """argparse type: a finite number of seconds > 0."""
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds > 0")
    return value


def _add_run_options(p: argparse.ArgumentParser) -> None:
    """The runner options every stage command shares."""
    p.add_argument("--workers", type=_whole(1), default=None, metavar="N", help="items processed at once")
    p.add_argument("--timeout", type=_time_limit, default=None, metavar="SECONDS",
                   help="time limit per item (default: derived from the work; 'none': no limit)")


class _Parser(argparse.ArgumentParser):
    """argparse, with a "did you mean" for a mistyped command or choice."""

    def error(self, message: str) -> Any:
        import difflib

        wrong = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if wrong:
            choices = re.findall(r"'?([\w.-]+)'?", wrong.group(2))
            close = difflib.get_close_matches(wrong.group(1), choices, n=1, cutoff=0.5)
            if close:
                message += f"; did you mean {close[0]!r}?"
        return super().error(message)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``soundforge`` command."""
    parser = _Parser(prog="soundforge", description="SoundForge: music research workbench.")
    parser.add_argument("--version", action="version", version=f"soundforge {__version__}")
    parser.add_argument("--root", default=None,
                        help="workspace folder (default: $SOUNDFORGE_HOME, else ~/soundforge)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_Parser)

    p = sub.add_parser("import", help="import audio files, folders or glob patterns",
                       description="Import the user's own audio files into the workspace.")
    p.add_argument("paths", nargs="+", metavar="PATH", help="file, folder or glob pattern")
    p.add_argument("--force", action="store_true", help="re-validate files already imported")
    _add_run_options(p)
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("fetch", help="fetch track metadata from Spotify links",
                       description="Fetch the tracks of Spotify track, album, playlist or artist links into the "
                                   "workspace's tracks table. Credentials: SPOTIFY_CLIENT_ID and "
                                   "SPOTIFY_CLIENT_SECRET environment variables.")
    p.add_argument("urls", nargs="+", metavar="URL", help="open.spotify.com link or spotify: URI")
    p.add_argument("--market", default=None, metavar="CC",
                   help="ISO country code passed to Spotify (default: $SOUNDFORGE_MARKET, else US)")
    p.add_argument("--include-groups", default=None, metavar="GROUPS",
                   help="for artists: comma-separated album groups (default album,single; also appears_on, "
                        "compilation)")
    p.add_argument("--force", action="store_true", help="fetch links again even if fetched before")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="do not show progress")
    _add_run_options(p)
    p.set_defaults(func=cmd_fetch)

    p = sub.add_parser("download", help="download fetched Spotify tracks with spotdl (needs network)",
                       description="Download the audio of Spotify tracks with spotdl: the given track ids, or "
                                   "every fetched Spotify track without audio. Needs spotdl "
                                   "(pip install 'soundforge[download]'), ffmpeg and network access to YouTube.")
    p.add_argument("track_ids", nargs="*", metavar="TRACK_ID", help="Spotify track ids (default: all without audio)")
    p.add_argument("--format", default="mp3", choices=["mp3", "flac", "ogg", "opus", "m4a", "wav"],
                   help="audio format (default: mp3)")
    p.add_argument("--bitrate", default="320k", help="e.g. 320k, 192k, auto, disable, or VBR 0-9 (default: 320k)")
    p.add_argument("--force", action="store_true", help="download again tracks that already have audio")
    _add_run_options(p)
    p.set_defaults(func=cmd_download)

    p = sub.add_parser("analyze", aliases=["analyse"],
                       help="analyse tracks: tempo, beats, key, loudness, timbre, structure",
                       description="Analyse the audio of the given tracks (default: every track with audio) in "
                                   "worker processes; results go to the analyses table and analysis/<track_id>/.")
    p.add_argument("track_ids", nargs="*", metavar="TRACK_ID", help="track ids (default: all with audio)")
    p.add_argument("--features", default=None, metavar="GROUPS",
                   help="comma-separated feature groups: loudness, rhythm, tonal, timbre, structure, descriptors "
                        "(default: all)")
    p.add_argument("--force", action="store_true", help="analyse again tracks already analysed")
    p.add_argument("--no-concert-pitch-prior", action="store_true",
                   help="read the key without the prior that concert pitch lies in 435-450 Hz: for recordings "
                        "known to be far from 440 Hz (off-speed tape transfers, historical tunings)")
    _add_run_options(p)
    p.set_defaults(func=cmd_analyze)

    p = sub.add_parser("separate", help="split tracks into stems (vocals, drums, bass, other...)",
                       description="Separate tracks of the workspace into stems/<track_id>/<model>/<stem>.flac. "
                                   "demucs models need their weights in $SOUNDFORGE_DEMUCS_REPO or a pre-filled "
                                   "cache; --model dsp needs none.")
    p.add_argument("tracks", nargs="*", metavar="TRACK_ID", help="tracks to separate (default: all with audio)")
    p.add_argument("--model", default="auto",
                   help="auto (default: the best demucs model whose weights are on this machine, else dsp), "
                        "htdemucs, htdemucs_ft, htdemucs_6s, hdemucs_mmi, or dsp (no weights needed)")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N or mps")
    p.add_argument("--segment", type=_seconds, default=None, metavar="SECONDS", help="demucs segment length")
    p.add_argument("--overlap", type=float, default=None, help="demucs segment overlap (default 0.25)")
    p.add_argument("--shifts", type=_whole(1), default=None, help="demucs random shifts (default 1)")
    p.add_argument("--jobs", type=_whole(0), default=None, help="demucs threads per track (default 0)")
    p.add_argument("--allow-download", action="store_true", help="let demucs download missing weights")
    p.add_argument("--force", action="store_true", help="separate again tracks already done")
    _add_run_options(p)
    p.set_defaults(func=cmd_separate)

    p = sub.add_parser("status", help="show the catalog and storage tables",
                       description="Show tracks (with titles), audio and storage statistics of the workspace. "
                                   "Read-only: a folder without a workspace is reported, never created.")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("export", help="write every catalog table as Parquet files",
                       description="Write every table of the workspace's catalog (tracks, audio, analyses, stems, "
                                   "jobs...) as OUT_DIR/<table>.parquet, like ws.export(OUT_DIR). Read-only.")
    p.add_argument("out_dir", metavar="OUT_DIR", help="folder receiving one file per table (created)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("batch", help="run a parameterised notebook per track with papermill",
                       description="Execute NOTEBOOK with papermill for each track (or chunk of tracks), in "
                                   "parallel; failures are isolated; tracks done before with the same notebook and "
                                   "parameters are skipped. Secrets are never parameters: notebooks read them "
                                   "from environment variables.")
    p.add_argument("notebook", metavar="NOTEBOOK", help="the .ipynb file (see notebooks/templates/)")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--tracks", nargs="+", metavar="ID", help="track ids to run the notebook on")
    which.add_argument("--all", action="store_true", help="every track with audio in the workspace")
    p.add_argument("-p", "--parameter", dest="parameters", nargs=2, action="append", default=[],
                   metavar=("NAME", "VALUE"), help="notebook parameter (VALUE parsed as JSON when it can be)")
    p.add_argument("--workers", type=_whole(1), default=2, help="notebooks executed at the same time (default 2)")
    p.add_argument("--chunk-size", type=_whole(1), default=1, help="tracks per notebook execution (default 1)")
    p.add_argument("--timeout", type=_time_limit, default=None,
                   help="time limit per track in seconds (default: derived from the work; 'none': no limit)")
    p.add_argument("--out-dir", default=None, help="folder of the executed notebooks (default runs/<run_id>/)")
    p.add_argument("--kernel", default=None, help="Jupyter kernel name (default: the notebook's)")
    p.add_argument("--force", action="store_true", help="re-run tracks already done")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=cmd_batch)

    p = sub.add_parser("webhooks", help="signed HTTP notifications of events (add, list, test, deliver...)",
                       description="Register HTTP endpoints that receive signed Standard Webhooks notifications "
                                   "when tracks are fetched, downloaded, analysed or separated, when jobs fail and "
                                   "when batch runs finish (see docs/webhooks.md).")
    hooks = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    h = hooks.add_parser("add", help="register an endpoint (prints its new secret once)",
                         description="Register an https endpoint. A secret is generated and printed once unless "
                                     "--secret-env names a variable holding a whsec_ secret.")
    h.add_argument("url", metavar="URL", help="https://... (no credentials in it)")
    h.add_argument("--events", default=None, metavar="TYPES",
                   help="comma-separated event types (default: all): track.fetched, track.downloaded, "
                        "track.analyzed, track.separated, job.failed, batch.finished")
    h.add_argument("--allow-private", action="store_true",
                   help="allow http:// and loopback/private addresses (development and tests only)")
    h.add_argument("--secret-env", default=None, metavar="VAR",
                   help="read the endpoint's whsec_ secret from this environment variable")
    hooks.add_parser("list", help="registered endpoints and their delivery health")
    for name, text in (("remove", "forget an endpoint and its deliveries"), ("enable", "send to an endpoint again"),
                       ("disable", "stop sending to an endpoint"), ("test", "send a test event to an endpoint now")):
        h = hooks.add_parser(name, help=text)
        h.add_argument("webhook_id", metavar="ID", help="the endpoint's id (see: webhooks list)")
    h = hooks.add_parser("deliver", help="send pending deliveries (e.g. after a crash)")
    h.add_argument("--timeout", type=_seconds, default=60.0, metavar="SECONDS",
                   help="also wait for retries due within this time (default 60)")
    h.add_argument("--now", action="store_true", help="send every pending delivery now, ignoring the backoff")
    h.add_argument("--retry-failed", action="store_true", help="give failed deliveries new attempts")
    p.set_defaults(func=cmd_webhooks)

    p = sub.add_parser("demo", help="run the main job on the built-in demo songs",
                       description="Import the demo songs into a workspace and show the results "
                                   "(default workspace: ./soundforge-demo).")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _log_progress_when_not_a_terminal()
    try:
        return int(args.func(args))
    except InvalidArgument as exc:  # a bad option value: a usage error, like argparse's own
        print(f"error: {to_shell(str(exc))}", file=sys.stderr)
        return 2
    except SoundforgeError as exc:
        print(f"error: {to_shell(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _log_progress_when_not_a_terminal() -> None:
    """Stage progress (``progress="auto"``) becomes log lines when stderr is not a TTY: show them on stderr."""
    import logging

    if sys.stderr.isatty():
        return
    log = logging.getLogger("soundforge")
    if not any(isinstance(h, logging.StreamHandler) for h in log.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
