"""The ``separate`` stage: a track's audio -> ``stems/<track_id>/<model>/<stem>.flac`` + ``stems`` rows.

Items are tracks (key: the track id; input hash: the audio's SHA-256). A
worker process separates the file into a scratch folder under ``tmp/``
(:func:`soundforge.separation.separate`, progress and cancellation wired to the
runner's context), then moves each stem into place atomically; the runner
records one ``stems`` row per stem, with the hash of the model and the
options that shape the result, in the transaction that marks the job done.
A track already separated with the same model and options (and the same
audio) is ``skipped`` as long as its stem files are still there.
"""

from __future__ import annotations

import functools
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..catalog import Catalog, utcnow
from ..errors import AudioError
from ..events import outbox
from ..events.types import track_separated
from ..runner.spec import ItemContext, StageSpec, WorkItem, params_hash
from ..storage import Storage
from . import limits
from .base import Plan, RunOptions, StageEnv, require_tracks, track_ids

__all__ = ["COLUMNS", "SEPARATE", "STEM_COLUMNS", "SeparateJob", "existing_stems", "gpu_resources", "plan_items",
           "record_stems", "player", "separate_item", "stem_order", "stem_rows", "STAGE", "SeparateStage"]

COLUMNS = {"model": "string", "params_hash": "string", "duration_s": "float64", "stems": "object",
           "warning": "string"}
"""Per-track result columns of the stage (``stems``: list of dicts, one per stem)."""

STEM_COLUMNS = {"track_id": "string", "model": "string", "stem": "string", "path": "string", "status": "string",
                "error": "string", "duration_s": "float64", "seconds_taken": "float64", "sample_rate": "Int64",
                "channels": "Int64", "params_hash": "string", "attempts": "Int64", "warning": "string"}
"""Columns and dtypes of :meth:`Workspace.separate`'s result: one row per stem."""


@dataclass(frozen=True)
class SeparateJob:
    """The payload of one separation item.

    Attributes
    ----------
    track_id : str
        The track.
    audio_path : str or None
        Its audio file (``None``: the track has no audio in the workspace).
    model : str
        Model name (``"dsp"``, ``"htdemucs"``...).
    options : Mapping[str, Any]
        Canonical backend options (execution ones such as ``device`` included).
    storage : Storage
        Workspace storage.
    params_hash : str
        Hash recorded with the stems (the run's ``jobs.params_hash``).
    max_duration_s : float or None
        Longest accepted input, in seconds.
    ffmpeg : str
        ffmpeg executable.
    """

    track_id: str
    audio_path: str | None
    model: str
    options: Mapping[str, Any]
    storage: Storage
    params_hash: str
    max_duration_s: float | None = None
    ffmpeg: str = "ffmpeg"
    stems: tuple[str, ...] = field(default_factory=tuple)


def separate_item(job: SeparateJob, ctx: ItemContext) -> dict[str, Any]:
    """Work function (worker process): separate one track and move its stems into place."""
    from .. import audio
    from ..separation import separate

    if job.audio_path is None:
        raise AudioError(f"Track {job.track_id} has no audio in this workspace; import or download it first "
                         "(ws.import_audio / ws.download).", reason="missing", track_id=job.track_id)
    start = time.perf_counter()
    notes: list[str] = []
    with job.storage.scratch_dir("separate-") as scratch:
        paths = separate(job.audio_path, model=job.model, out_dir=scratch, progress=lambda p: ctx.report(percent=p),
                         cancel=ctx.cancelled, max_duration_s=job.max_duration_s, ffmpeg=job.ffmpeg,
                         on_warning=notes.append, **job.options)
        info = audio.probe(next(iter(paths.values())), max_duration_s=None)
        ctx.check()
        finals = {stem: job.storage.move_into_place(path, job.storage.stem_path(job.track_id, job.model, stem))
                  for stem, path in paths.items()}
    took = time.perf_counter() - start
    stems = [{"stem": stem, "path": str(path), "sample_rate": info.sample_rate, "channels": info.channels,
              "duration_s": info.duration_s, "seconds_taken": took} for stem, path in finals.items()]
    return {"model": job.model, "params_hash": job.params_hash, "duration_s": info.duration_s, "stems": stems,
            "warning": "; ".join(notes) or None}


def record_stems(conn: sqlite3.Connection, item: WorkItem, result: Mapping[str, Any]) -> None:
    """Record hook: one ``stems`` row per stem (stale stems of the same track and model are removed) and a
    ``track.separated`` event."""
    job: SeparateJob = item.payload
    names = [s["stem"] for s in result["stems"]]
    conn.execute(f"DELETE FROM stems WHERE track_id = ? AND model = ? AND stem NOT IN ({','.join('?' * len(names))})",
                 (job.track_id, job.model, *names))
    now = utcnow()
    recorded = []
    for s in result["stems"]:
        row = {
            "track_id": job.track_id, "model": job.model, "stem": s["stem"], "params_hash": result["params_hash"],
            "path": job.storage.relative(s["path"]), "sample_rate": s["sample_rate"], "channels": s["channels"],
            "duration_s": s["duration_s"], "seconds_taken": s["seconds_taken"], "created_at": now,
        }
        Catalog.upsert(conn, "stems", row, key=["track_id", "model", "stem"])
        recorded.append(row)
    outbox.emit(conn, "track.separated", track_separated(track_id=job.track_id, model=job.model,
                                                         params_hash=result["params_hash"],
                                                         duration_s=result["duration_s"], stems=recorded))


def existing_stems(catalog: Catalog, item: WorkItem) -> dict[str, Any] | None:
    """Existing hook: the result of a track separated before with the same parameters, if its files are there."""
    job: SeparateJob = item.payload
    rows = catalog.query("SELECT * FROM stems WHERE track_id = ? AND model = ?", (job.track_id, job.model))
    if not rows or any(r["params_hash"] != job.params_hash for r in rows):
        return None
    if job.stems and sorted(r["stem"] for r in rows) != sorted(job.stems):
        return None
    stems = []
    for r in rows:
        path = job.storage.resolve(r["path"])
        if not path.is_file():
            return None
        stems.append({"stem": r["stem"], "path": str(path), "sample_rate": r["sample_rate"],
                      "channels": r["channels"], "duration_s": r["duration_s"], "seconds_taken": r["seconds_taken"]})
    order = {name: i for i, name in enumerate(job.stems)}
    stems.sort(key=lambda s: order.get(s["stem"], len(order)))
    return {"model": job.model, "params_hash": job.params_hash, "duration_s": rows[0]["duration_s"], "stems": stems}


def stem_rows(result: Any, *, expected: tuple[str, ...]) -> Any:
    """Expand the runner's per-track result into one row per stem (:data:`STEM_COLUMNS`).

    A failed track gives one ``failed`` row per stem the model would have produced.
    """
    from ..catalog import frame

    rows: list[dict[str, Any]] = []
    for rec in result.to_dict("records"):
        base = {"track_id": rec["track_id"], "model": rec.get("model"), "status": rec["status"],
                "error": rec["error"], "seconds_taken": rec["seconds_taken"], "attempts": rec["attempts"],
                "params_hash": rec.get("params_hash"), "duration_s": rec.get("duration_s"),
                "warning": rec.get("warning") if isinstance(rec.get("warning"), str) else None}
        stems = rec.get("stems")
        if isinstance(stems, list) and stems:
            for s in stems:
                rows.append({**base, "stem": s["stem"], "path": s["path"], "sample_rate": s["sample_rate"],
                             "channels": s["channels"], "duration_s": s["duration_s"]})
        else:
            rows.extend({**base, "stem": stem, "path": None, "sample_rate": None, "channels": None}
                        for stem in expected)
    return frame(rows, STEM_COLUMNS)


def stem_order(table: Any) -> Any:
    """``table`` (with ``track_id``, ``model``, ``stem``) sorted by track, model and each model's own stem order.

    Stems of a model the registry does not know come after the known ones, alphabetically.
    """
    from ..errors import ConfigError
    from ..separation import stems_of

    def rank(model: Any, stem: Any) -> int:
        try:
            order = stems_of(str(model))
        except ConfigError:
            return 99
        return order.index(stem) if stem in order else len(order)

    if table.empty:
        return table
    ranks = [rank(m, s) for m, s in zip(table["model"], table["stem"], strict=True)]
    return (table.assign(_rank=ranks).sort_values(["track_id", "model", "_rank", "stem"], kind="stable")
            .drop(columns="_rank").reset_index(drop=True))


def gpu_resources(options: Mapping[str, Any]) -> dict[str, float] | None:
    """``{"GPU": 1}`` when the backend options run on a GPU if there is one (``device`` ``"auto"`` or ``"cuda..."``).

    Executors that place work by resource (Dask) send such items to workers declaring a ``GPU``
    (``dask worker --resources GPU=1``), and anywhere on clusters where none does. Backends without
    a ``device`` option (dsp) run on the CPU: ``None``.
    """
    device = str(options.get("device") or "cpu")
    return {"GPU": 1.0} if device == "auto" or device.startswith("cuda") else None


def plan_items(ids: list[str], *, catalog: Catalog, storage: Storage, model: str, options: Mapping[str, Any],
               params_hash: str, stems: tuple[str, ...], max_duration_s: float | None,
               ffmpeg: str) -> list[WorkItem]:
    """One :class:`WorkItem` per track (tracks without audio become items that fail with a clear error).

    Items of a model that can use a GPU ask for one (:func:`gpu_resources`); each item's default time
    limit grows with its track's duration (:func:`soundforge.stages.limits.separation`).
    """
    audio = {r["track_id"]: r for r in catalog.query("SELECT track_id, path, sha256, duration_s FROM audio")}
    resources = gpu_resources(options)
    device = str(options.get("device", "auto"))
    items = []
    for track_id in ids:
        row = audio.get(track_id)
        path = str(storage.resolve(row["path"])) if row else None
        job = SeparateJob(track_id=track_id, audio_path=path, model=model, options=dict(options), storage=storage,
                          params_hash=params_hash, max_duration_s=max_duration_s, ffmpeg=ffmpeg, stems=stems)
        items.append(WorkItem(key=track_id, payload=job, input_hash=row["sha256"] if row else None,
                              resources=resources,
                              timeout_s=limits.separation(row["duration_s"] if row else None, model=model,
                                                          device=device)))
    return items


def player(path: Any, *, start_s: float = 0.0, duration_s: float | None = None,
           max_duration_s: float | None = None) -> Any:
    """``IPython.display.Audio`` for a file: the file itself, or a decoded excerpt as WAV.

    Browsers play FLAC, WAV, MP3 and Ogg; other formats (m4a, webm...) and
    excerpts are decoded and embedded as 16-bit WAV.
    """
    from IPython.display import Audio

    from .. import audio
    from ..errors import ConfigError

    if start_s < 0 or (duration_s is not None and duration_s <= 0):
        raise ConfigError(f"start_s must be >= 0 and duration_s > 0, got {start_s!r} and {duration_s!r}.")
    info = audio.probe(path, max_duration_s=max_duration_s)
    if start_s == 0 and duration_s is None and info.format in {"flac", "wav", "mp3", "ogg", "oga", "opus"}:
        return Audio(filename=str(info.path))
    first = int(start_s * info.sample_rate)
    last = info.frames if duration_s is None else first + int(duration_s * info.sample_rate)
    parts, seen = [], 0
    for _, block in audio.stream(info.path, block_s=30.0, max_duration_s=max_duration_s):
        lo, hi = max(first - seen, 0), min(last - seen, block.shape[1])
        if hi > lo:
            parts.append(block[:, lo:hi])
        seen += block.shape[1]
        if seen >= last:
            break
    import numpy as np

    data = np.concatenate(parts, axis=1) if parts else np.zeros((info.channels, 1), dtype=np.float32)
    return Audio(data=np.clip(data, -1.0, 1.0), rate=info.sample_rate, normalize=False)


SEPARATE = StageSpec(name="separate", work=separate_item, executor="process", workers=1, max_attempts=1,
                     columns=COLUMNS, version="1")
"""The separate stage: one worker process by default (a demucs model is large; more workers need more memory)."""


class SeparateStage:
    """The separate stage as one object: ``plan(env, options, tracks=, model=, device=, **backend_options)``."""

    spec = SEPARATE

    def plan(self, env: StageEnv, options: RunOptions, /, *, tracks: Any = None, model: str = "auto",
             device: str = "auto", **backend_options: Any) -> Plan:
        from ..separation.setup import prepare

        ready = prepare(model, device=device, repo=env.settings.demucs_repo, offline=env.settings.offline,
                        **backend_options)
        ids = track_ids(tracks, catalog=env.catalog)
        require_tracks(env.catalog, ids, root=env.storage.root)
        items = plan_items(ids, catalog=env.catalog, storage=env.storage, model=ready.model, options=ready.options,
                           params_hash=params_hash(dict(ready.params), version=SEPARATE.version), stems=ready.stems,
                           max_duration_s=env.settings.max_audio_s, ffmpeg=env.settings.ffmpeg)

        def finish(result: Any) -> Any:
            rows = stem_rows(result, expected=ready.stems)
            rows.attrs["model"] = ready.model
            rows.attrs["model_reason"] = ready.reason
            return rows

        return Plan(items=items, params=dict(ready.params), record=record_stems,
                    existing=functools.partial(existing_stems, env.catalog), finish=finish)


STAGE = SeparateStage()
