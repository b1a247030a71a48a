"""The ``import`` stage: the user's own audio files -> ``downloads/`` + ``tracks``/``audio`` rows.

Items are files (key: the absolute path; input hash: size and modification
time). Worker threads validate and copy (:func:`soundforge.download.local.import_file`);
the runner records the ``tracks`` and ``audio`` rows with the item's job row.
A file whose bytes are already in the workspace (under any name) is ``skipped``.
"""

from __future__ import annotations

import functools
import os
import sqlite3
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

__all__ = ["IMPORT", "STAGE", "ImportJob", "ImportResult", "ImportStage", "audio_result_row", "existing_import",
           "import_item",
           "import_items", "record_import"]

COLUMNS = {"track_id": "string", "path": "string", "duration_s": "float64", "sample_rate": "Int64",
           "channels": "Int64", "format": "string", "is_silent": "boolean"}


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
    """

    path: str
    storage: Storage
    max_duration_s: float | None
    ffmpeg: str = "ffmpeg"
    ffmpeg_timeout_s: float = 600.0
    known: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


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
            "is_silent": bool(audio_row["is_silent"])}


def import_item(job: ImportJob, ctx: ItemContext) -> ImportResult | Skipped:
    """Work function: validate and copy one file (runs in a worker thread)."""
    path = Path(job.path)
    try:
        if job.known and path.is_file() and path.stat().st_size > 0:
            ctx.report(message="hashing")
            row = job.known.get(local.sha256_file(path))
            if row is not None and Path(row["path"]).is_file():
                return Skipped(row, reason="the same audio is already in the workspace")
        ctx.report(percent=10.0, message="validating")
        result = local.import_file(path, storage=job.storage, max_duration_s=job.max_duration_s, ffmpeg=job.ffmpeg,
                                   timeout_s=job.ffmpeg_timeout_s, on_process=ctx.register_process)
    except OSError as exc:
        if isinstance(exc, SoundforgeError):  # StorageError is an OSError too
            raise
        raise AudioError(f"Cannot read {path}: {exc.strerror or exc}.", path=path, reason="missing") from exc
    return ImportResult(track=result.track, audio=result.audio, row=audio_result_row(job.storage, result.audio))


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
                        ffmpeg_timeout_s=ffmpeg_timeout_s, known=known)
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
