"""The ``import`` stage: the user's own audio files -> ``downloads/`` + ``tracks``/``audio`` rows.

Items are files (key: the absolute path; input hash: size and modification
time). Worker threads validate and copy (:func:`soundforge.download.local.import_file`);
the runner records the ``tracks`` and ``audio`` rows with the item's job row.
A file whose bytes are already in the workspace (under any name), or that repeats the bytes of
another file of the same call, is ``skipped``.
"""

from __future__ import annotations

import functools
import os
import sqlite3
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..catalog import Catalog
from ..download import local
from ..errors import AudioError, SoundforgeError
from ..events import outbox
from ..events.types import track_downloaded
from ..runner.spec import ItemContext, Skipped, StageSpec, WorkItem
from ..storage import Storage
from .base import Plan, RunOptions, StageEnv

__all__ = ["IMPORT", "STAGE", "Claims", "ImportJob", "ImportResult", "ImportStage", "audio_result_row",
           "existing_import", "import_item",
           "import_items", "record_import"]

COLUMNS = {"track_id": "string", "path": "string", "duration_s": "float64", "sample_rate": "Int64",
           "channels": "Int64", "format": "string", "is_silent": "boolean", "warning": "string"}


class Claims:
    """The files of one import call, by content: the first file with given bytes imports them, the
    others wait for it and are ``skipped`` (or fail with its error).

    Shared by the items of one call (threads); pickles to an empty table (a process-based executor
    then falls back to the catalog's own de-duplication).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._first: dict[str, tuple[str, threading.Event, dict[str, Any]]] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__()  # type: ignore[misc]

    def claim(self, digest: str, path: str) -> tuple[str, threading.Event, dict[str, Any]] | None:
        """``None`` when ``path`` is the first with these bytes; else the first's ``(path, done, outcome)``."""
        with self._lock:
            first = self._first.get(digest)
            if first is None:
                self._first[digest] = (path, threading.Event(), {})
                return None
            return first

    def finish(self, digest: str, **outcome: Any) -> None:
        """Record the first file's outcome (``row=`` or ``error=``) and wake the files waiting on it."""
        with self._lock:
            first = self._first.get(digest)
        if first is not None:
            first[2].update(outcome)
            first[1].set()


@dataclass(frozen=True)
class ImportJob:
    """The payload of one import item.

    Attributes
    ----------
    path : str
        The file to import.
    storage : Storage
        Workspace storage.
    max_duration_s : float or None
        Longest accepted duration, in seconds.
    ffmpeg : str
        ffmpeg executable.
    ffmpeg_timeout_s : float
        Time limit of one decode, in seconds.
    known : Mapping[str, Mapping]
        SHA-256 -> result row of audio already in the workspace (empty with ``force``).
    claims : Claims, optional
        The call's table of contents being imported (same bytes under two names: the second is skipped).
    """

    path: str
    storage: Storage
    max_duration_s: float | None
    ffmpeg: str = "ffmpeg"
    ffmpeg_timeout_s: float = 600.0
    known: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    claims: Claims | None = None


@dataclass(frozen=True)
class ImportResult:
    """A validated, copied file: catalog rows plus the result row."""

    track: dict[str, Any]
    audio: dict[str, Any]
    row: dict[str, Any]

    def to_row(self) -> dict[str, Any]:
        """The stage's result columns."""
        return self.row


def audio_result_row(storage: Storage, audio_row: Mapping[str, Any]) -> dict[str, Any]:
    """Result columns of the import stage from an ``audio`` catalog row."""
    return {"track_id": audio_row["track_id"], "path": str(storage.resolve(audio_row["path"])),
            "duration_s": audio_row["duration_s"], "sample_rate": audio_row["sample_rate"],
            "channels": audio_row["channels"], "format": audio_row["format"],
            "is_silent": bool(audio_row["is_silent"]), "warning": None}


def import_item(job: ImportJob, ctx: ItemContext) -> ImportResult | Skipped:
    """Work function: validate and copy one file (runs in a worker thread)."""
    path = Path(job.path)
    digest = None
    try:
        if (job.known or job.claims is not None) and path.is_file() and path.stat().st_size > 0:
            ctx.report(message="hashing")
            digest = local.sha256_file(path)
            row = job.known.get(digest)
            if row is not None and Path(row["path"]).is_file():
                return Skipped(row, reason="the same audio is already in the workspace")
        if digest is not None and job.claims is not None:
            first = job.claims.claim(digest, str(path))
            if first is not None:
                return _same_as(first, path, ctx)
        ctx.report(percent=10.0, message="validating")
        try:
            result = local.import_file(path, storage=job.storage, max_duration_s=job.max_duration_s,
                                       ffmpeg=job.ffmpeg, timeout_s=job.ffmpeg_timeout_s,
                                       on_process=ctx.register_process, sha256=digest)
        except BaseException as exc:
            if digest is not None and job.claims is not None:
                job.claims.finish(digest, error=str(exc))
            raise
    except OSError as exc:
        if isinstance(exc, SoundforgeError):  # StorageError is an OSError too
            raise
        raise AudioError(f"Cannot read {path}: {exc.strerror or exc}.", path=path, reason="missing") from exc
    row = {**audio_result_row(job.storage, result.audio), "warning": result.warning}
    if digest is not None and job.claims is not None:
        job.claims.finish(digest, row={**row, "warning": None})
    return ImportResult(track=result.track, audio=result.audio, row=row)


def _same_as(first: tuple[str, threading.Event, dict[str, Any]], path: Path, ctx: ItemContext) -> Skipped:
    """The outcome of a file whose bytes another file of this call is importing: wait for it, then skip."""
    first_path, done, outcome = first
    while not done.wait(0.2):
        ctx.check()
    if "row" in outcome:
        return Skipped(outcome["row"], reason=f"the same audio as {first_path}, imported by this call")
    raise AudioError(f"{path} has the same bytes as {first_path}, which failed: {outcome.get('error')}",
                     path=path, reason="duplicate")


def record_import(conn: sqlite3.Connection, item: WorkItem, result: ImportResult) -> None:
    """Record hook: the ``tracks`` row (kept if the track exists, e.g. from Spotify), the ``audio`` row and a
    ``track.downloaded`` event (``origin`` ``import``)."""
    track = result.track
    if conn.execute("SELECT 1 FROM tracks WHERE track_id = ?", (track["track_id"],)).fetchone():
        conn.execute("UPDATE tracks SET updated_at = ? WHERE track_id = ?", (track["updated_at"], track["track_id"]))
    else:
        Catalog.upsert(conn, "tracks", track, key=["track_id"])
    Catalog.upsert(conn, "audio", result.audio, key=["track_id"])
    outbox.emit(conn, "track.downloaded", track_downloaded(
        track_id=result.audio["track_id"], path=result.audio["path"], format=result.audio["format"],
        size_bytes=result.audio["size_bytes"], duration_s=result.audio["duration_s"],
        sha256=result.audio["sha256"], origin=result.audio["origin"]))


def existing_import(catalog: Catalog, storage: Storage, item: WorkItem) -> dict[str, Any] | None:
    """Existing hook: the result row of a file imported before, or ``None`` if its audio is gone."""
    found = catalog.query("SELECT * FROM audio WHERE source_path = ?", (str(Path(item.key).resolve()),))
    if not found or not storage.resolve(found[0]["path"]).is_file():
        return None
    return audio_result_row(storage, found[0])


def import_items(files: list[Path], *, catalog: Catalog, storage: Storage, max_duration_s: float | None,
                 ffmpeg: str, ffmpeg_timeout_s: float, force: bool) -> list[WorkItem]:
    """One :class:`WorkItem` per file, sharing one table of the audio already in the workspace."""
    known: dict[str, dict[str, Any]] = {}
    claims = Claims()
    if not force:
        known = {r["sha256"]: audio_result_row(storage, r) for r in catalog.query("SELECT * FROM audio")}
    items = []
    for path in files:
        try:
            st = path.stat()
            input_hash: str | None = f"{st.st_size}-{st.st_mtime_ns}"
        except OSError:
            input_hash = None
        job = ImportJob(path=str(path), storage=storage, max_duration_s=max_duration_s, ffmpeg=ffmpeg,
                        ffmpeg_timeout_s=ffmpeg_timeout_s, known=known, claims=claims)
        items.append(WorkItem(key=str(path), payload=job, input_hash=input_hash))
    return items


IMPORT = StageSpec(name="import", work=import_item, executor="thread", workers=min(4, os.cpu_count() or 1),
                   columns=COLUMNS, key="source_path", version="1")
"""The import stage: threads (decoding and copying are I/O and C code), no retries, no breaker."""


class ImportStage:
    """The import stage as one object: ``plan(env, options, paths=, max_duration_s=)``."""

    spec = IMPORT

    def plan(self, env: StageEnv, options: RunOptions, /, *,
             paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
             max_duration_s: float | None = None) -> Plan:
        files = local.expand_paths(paths)
        limit = env.settings.max_audio_s if max_duration_s is None else max_duration_s
        items = import_items(files, catalog=env.catalog, storage=env.storage, max_duration_s=limit,
                             ffmpeg=env.settings.ffmpeg, ffmpeg_timeout_s=env.settings.ffmpeg_timeout_s,
                             force=options.force)
        return Plan(items=items, params={"max_duration_s": limit}, record=record_import,
                    existing=functools.partial(existing_import, env.catalog, env.storage))


STAGE = ImportStage()
