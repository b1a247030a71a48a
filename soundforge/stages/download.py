"""The ``download`` stage: fetched Spotify tracks -> spotdl -> ``downloads/`` + ``audio`` rows.

Items are track ids; the payload carries the track's catalog row (the metadata
handed to spotdl) and, unless ``force``, the audio the track already has, so a
track with audio (downloaded before, in any format, or imported) is
``skipped`` without running spotdl. Worker threads run
:func:`soundforge.download.spotdl.download_track` through the run's ``spotdl``
circuit breaker; the runner retries transient failures (3 attempts), kills
spotdl's process group on timeout and records the ``audio`` row with the item's
job row.
"""

from __future__ import annotations

import functools
import math
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..catalog import Catalog, utcnow
from ..config import Settings
from ..errors import DownloadUnavailable, ItemCancelled, ItemTimeout
from ..events import outbox
from ..events.types import track_downloaded
from ..runner.spec import ItemContext, Skipped, StageSpec, WorkItem
from ..storage import Storage
from .base import Plan, RunOptions, StageEnv, track_ids

__all__ = ["COLUMNS", "DOWNLOAD", "STAGE", "DownloadJob", "DownloadResult", "DownloadStage", "audio_paths",
           "download_item", "download_items", "download_result_row", "existing_download", "record_download",
           "remove_replaced", "table_rows", "tracks_without_audio"]

COLUMNS = {"path": "string", "format": "string", "size_bytes": "Int64", "duration_s": "float64",
           "source_url": "string"}
"""The stage's own result columns (after ``track_id``, ``status``, ``error``, ``attempts``, ``duration_s``)."""

SERVICE = "spotdl"
"""Name of the circuit breaker every spotdl run goes through."""

_MARGIN_S = 5.0  # our own kill comes after the runner's, which reports the timeout
_TRACK_FIELDS = ("name", "artists", "artist_ids", "album", "album_id", "release_date", "duration_ms", "track_number",
                 "disc_number", "explicit", "isrc", "spotify_url")


@dataclass(frozen=True)
class DownloadJob:
    """The payload of one download item.

    Attributes
    ----------
    track : Mapping[str, Any]
        The track's ``tracks`` row (or just ``{"track_id": ...}`` when it is not in the catalog).
    storage : Storage
        Workspace storage.
    settings : Settings
        Workspace settings (spotdl and ffmpeg executables, audio limits).
    format, bitrate : str
        Checked values (see :func:`soundforge.download.spotdl.check_options`).
    present : Mapping[str, Any] or None
        The ``audio`` row of the audio the track already has (``None`` with ``force``).
    """

    track: Mapping[str, Any]
    storage: Storage
    settings: Settings
    format: str
    bitrate: str
    present: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class DownloadResult:
    """A verified download: the ``audio`` row to record and the result row."""

    track: Mapping[str, Any]
    audio: dict[str, Any]
    row: dict[str, Any]

    def to_row(self) -> dict[str, Any]:
        """The stage's result columns."""
        return self.row


def download_result_row(storage: Storage, audio_row: Mapping[str, Any]) -> dict[str, Any]:
    """Result columns of the download stage from an ``audio`` catalog row."""
    source = audio_row.get("source_path") if audio_row.get("origin") == "spotdl" else None
    return {"path": str(storage.resolve(audio_row["path"])), "format": audio_row["format"],
            "size_bytes": audio_row["size_bytes"], "duration_s": audio_row["duration_s"],
            "source_url": source}


def download_item(job: DownloadJob, ctx: ItemContext) -> DownloadResult | Skipped:
    """Work function: download one track with spotdl (runs in a worker thread)."""
    from ..download.spotdl import download_track

    storage = job.storage
    if job.present is not None and storage.resolve(job.present["path"]).is_file():
        return Skipped(download_result_row(storage, job.present), reason="the track already has audio")
    remaining = ctx.remaining()
    timeout_s = math.inf if remaining is None else remaining + _MARGIN_S
    started: list[Any] = []

    def register(proc: Any) -> None:
        started.append(proc)
        ctx.register_process(proc)  # a runner timeout kills spotdl's whole process group

    with ctx.breaker(SERVICE):  # an open breaker fails fast; transient failures and timeouts count against it
        try:
            result = download_track(job.track, storage=storage, settings=job.settings, format=job.format,
                                    bitrate=job.bitrate, timeout_s=timeout_s, on_progress=ctx.report,
                                    should_stop=ctx.cancelled, on_process=register)
        except (ItemCancelled, DownloadUnavailable) as exc:
            if ctx.deadline is not None and time.monotonic() >= ctx.deadline:
                raise ItemTimeout(f"spotdl ran past the time limit for track {ctx.item} and was stopped.",
                                  track_id=ctx.item) from exc
            raise
        finally:
            for proc in started:  # its group is gone: never signal that id again
                ctx.unregister_process(proc)
    audio = result.to_audio_row(storage, created_at=utcnow())
    return DownloadResult(track=job.track, audio=audio, row=download_result_row(storage, audio))


def record_download(conn: sqlite3.Connection, item: WorkItem, result: DownloadResult) -> None:
    """Record hook: the ``audio`` row (replacing an older one), a ``tracks`` row if the track had none, and a
    ``track.downloaded`` event."""
    if not conn.execute("SELECT 1 FROM tracks WHERE track_id = ?", (item.key,)).fetchone():
        now = utcnow()
        known = {k: _py(v) for k in _TRACK_FIELDS if _plain(v := result.track.get(k))}
        Catalog.upsert(conn, "tracks", {**known, "track_id": item.key, "source": "spotify",
                                        "source_url": f"https://open.spotify.com/track/{item.key}",
                                        "created_at": now, "updated_at": now}, key=["track_id"])
    Catalog.upsert(conn, "audio", result.audio, key=["track_id"])
    audio = result.audio
    outbox.emit(conn, "track.downloaded", track_downloaded(
        track_id=item.key, path=audio["path"], format=audio["format"], size_bytes=audio["size_bytes"],
        duration_s=audio["duration_s"], sha256=audio["sha256"], origin=audio["origin"]))


def _plain(value: Any) -> bool:
    """A value worth storing: not None/NaN/pandas.NA, and a type the catalog can write."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    return isinstance(value, (str, int, float, bool, list, tuple)) or hasattr(value, "item")


def _py(value: Any) -> Any:
    """numpy scalars and arrays -> Python values and lists."""
    return value.tolist() if hasattr(value, "tolist") else value


def existing_download(catalog: Catalog, storage: Storage, item: WorkItem) -> dict[str, Any] | None:
    """Existing hook: the result row of a track downloaded before, or ``None`` if its file is gone."""
    found = catalog.query("SELECT * FROM audio WHERE track_id = ?", (item.key,))
    if not found or not storage.resolve(found[0]["path"]).is_file():
        return None
    return download_result_row(storage, found[0])


DOWNLOAD = StageSpec(name="download", work=download_item, executor="thread", workers=3, max_attempts=3,
                     timeout_s=600.0, columns=COLUMNS, version="1")
"""The download stage: 3 threads (spotdl is a subprocess; threads only wait), 3 attempts for transient
failures, 10 minutes per attempt, the ``spotdl`` breaker used inside the work function."""


def download_items(track_ids: list[str], *, catalog: Catalog, storage: Storage, settings: Settings, format: str,
                   bitrate: str, force: bool, rows: Mapping[str, Mapping[str, Any]] | None = None) -> list[WorkItem]:
    """One :class:`WorkItem` per track id, with its catalog row and (unless ``force``) its present audio.

    Parameters
    ----------
    track_ids : list[str]
        Validated track ids, in order.
    rows : Mapping[str, Mapping], optional
        Metadata for tracks missing from the catalog (e.g. the rows of a DataFrame the caller passed).
    """
    tracks = _catalog_rows(catalog, "tracks", track_ids)
    present = {} if force else {track_id: row for track_id, row in
                                _catalog_rows(catalog, "audio", track_ids, table_reader=False).items()
                                if storage.resolve(row["path"]).is_file()}
    items = []
    for track_id in track_ids:
        track = tracks.get(track_id) or dict((rows or {}).get(track_id, {}))
        job = DownloadJob(track={**track, "track_id": track_id}, storage=storage, settings=settings, format=format,
                          bitrate=bitrate, present=present.get(track_id))
        items.append(WorkItem(key=track_id, payload=job))
    return items


def _catalog_rows(catalog: Catalog, table: str, ids: list[str], *,
                  table_reader: bool = True) -> dict[str, dict[str, Any]]:
    """Rows of ``table`` for ``ids`` (decoded like :meth:`Catalog.table` when ``table_reader``), by track id."""
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        where = f"track_id IN ({', '.join('?' * len(chunk))})"
        if table_reader:
            records = catalog.table(table, where=where, params=chunk).to_dict("records")
        else:
            records = catalog.query(f"SELECT * FROM {table} WHERE {where}", chunk)
        found.update({r["track_id"]: r for r in records})
    return found


def audio_paths(catalog: Catalog, track_ids: list[str]) -> dict[str, str]:
    """Catalog-relative audio paths of these tracks, by track id."""
    return {k: r["path"] for k, r in _catalog_rows(catalog, "audio", track_ids, table_reader=False).items()}


def remove_replaced(result: Any, before: Mapping[str, str], storage: Storage) -> list[str]:
    """Delete audio files that a forced download in another format replaced (after the catalog was updated).

    Parameters
    ----------
    result : pandas.DataFrame
        The stage's result table.
    before : Mapping[str, str]
        Track id -> catalog-relative audio path before the run.

    Returns
    -------
    list[str]
        The removed paths.
    """
    removed = []
    for track_id, status, path in zip(result["track_id"], result["status"], result["path"], strict=True):
        old = before.get(str(track_id))
        if status == "done" and old is not None and storage.resolve(old) != storage.resolve(str(path)):
            storage.delete(old)
            removed.append(old)
    return removed


def tracks_without_audio(catalog: Catalog, storage: Storage) -> list[str]:
    """Ids of Spotify tracks in the catalog that have no audio, or whose audio file is gone."""
    rows = catalog.query("SELECT t.track_id, a.path FROM tracks t LEFT JOIN audio a ON a.track_id = t.track_id "
                         "WHERE t.source = 'spotify' ORDER BY t.created_at, t.track_id")
    return [r["track_id"] for r in rows if r["path"] is None or not storage.resolve(r["path"]).is_file()]


def table_rows(tracks: Any) -> dict[str, dict[str, Any]]:
    """Metadata rows of a table the caller passed as ``tracks`` (for tracks not yet in the catalog), by track id."""
    if not hasattr(tracks, "columns") or "track_id" not in tracks.columns:
        return {}
    return {str(r["track_id"]): r for r in tracks.to_dict("records") if isinstance(r["track_id"], str)}


class DownloadStage:
    """The download stage as one object: ``plan(env, options, tracks=, format=, bitrate=)``."""

    spec = DOWNLOAD

    def plan(self, env: StageEnv, options: RunOptions, /, *, tracks: Any = None, format: str = "mp3",
             bitrate: str = "320k") -> Plan:
        from ..download import spotdl

        fmt, rate = spotdl.check_options(format=format, bitrate=bitrate)
        ids = track_ids(tracks, default=lambda: tracks_without_audio(env.catalog, env.storage))
        items = download_items(ids, catalog=env.catalog, storage=env.storage, settings=env.settings, format=fmt,
                               bitrate=rate, force=options.force, rows=table_rows(tracks))
        if any(item.payload.present is None for item in items):
            spotdl.preflight(env.settings)
        before = audio_paths(env.catalog, ids) if options.force else {}

        def finish(result: Any) -> Any:
            remove_replaced(result, before, env.storage)
            return result

        return Plan(items=items, params={"format": fmt, "bitrate": rate}, record=record_download,
                    existing=functools.partial(existing_download, env.catalog, env.storage), finish=finish)


STAGE = DownloadStage()
