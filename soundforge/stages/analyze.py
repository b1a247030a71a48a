"""The ``analyze`` stage: tracks with audio -> features in the ``analyses`` table and ``analysis/`` files.

Items are track ids; the payload carries the audio's absolute path and the
feature groups; the input hash is the audio's SHA-256, so new audio for a
track is analysed again. Worker processes run
:func:`soundforge.analysis.analyze` and write
``analysis/<track_id>/<stem>.json`` (scalars, parameters, sections) and
``.npz`` (frame-level series) atomically; the runner records the
``analyses`` row with the item's job row. ``<stem>`` is the analyzer version
(``v1``) for the default feature set, ``v1-<params hash>`` for others, so
analyses with different parameters never overwrite each other.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..catalog import Catalog, utcnow
from ..errors import ConfigError
from ..events import outbox
from ..events.types import track_analyzed
from ..runner.spec import ItemContext, StageSpec, WorkItem, params_hash
from ..storage import Storage, validate_id
from . import limits
from .base import Plan, RunOptions, StageEnv, require_tracks, track_ids

__all__ = ["ANALYZE", "COLUMNS", "STAGE", "AnalyzeJob", "AnalyzeResult", "AnalyzeStage", "analysis_stem",
           "analyze_item", "analyze_items", "existing_analysis", "feature_columns", "features_table", "record_analysis",
           "stage_params"]


def feature_columns() -> dict[str, str]:
    """pandas dtype of every scalar feature column."""
    from ..analysis.result import FEATURES

    text = {"time_signature", "key_tonic", "key_mode", "tempo_note", "key_note"}
    return {name: "string" if name in text else "Int64" if name == "beat_count" else "float64" for name in FEATURES}


COLUMNS: dict[str, str] = {**feature_columns(), "version": "string", "params_hash": "string",
                           "json_path": "string", "npz_path": "string"}
"""The stage's own result columns: every scalar feature (see ``soundforge.analysis.FEATURES``; ``duration_s`` is
the audio's length), then the analyzer version, parameters hash and the saved files."""


def stage_params(features: Iterable[str] | None, *, concert_pitch_prior: bool = True) -> dict[str, Any]:
    """Parameters of a run (what the params hash covers): analysis parameters plus analyzer version."""
    from ..analysis.analyzer import ANALYZER_VERSION, analysis_params

    return {**analysis_params(features, concert_pitch_prior=concert_pitch_prior), "version": ANALYZER_VERSION}


def analysis_stem(params: Mapping[str, Any]) -> tuple[str, str]:
    """``(file stem, params hash)``: ``v1`` for the default feature set, ``v1-<hash>`` otherwise."""
    from ..analysis.analyzer import ANALYZER_VERSION

    digest = params_hash(params)
    stem = ANALYZER_VERSION if dict(params) == stage_params(None) else f"{ANALYZER_VERSION}-{digest[:8]}"
    return validate_id(stem, kind="analysis version"), digest


@dataclass(frozen=True)
class AnalyzeJob:
    """The payload of one analysis item.

    Attributes
    ----------
    track_id : str
    audio_path : str
        Absolute path of the track's audio.
    storage : Storage
        Workspace storage.
    params : Mapping[str, Any]
        :func:`stage_params` of the run.
    max_duration_s : float or None
        Longest accepted audio, seconds.
    """

    track_id: str
    audio_path: str
    storage: Storage
    params: Mapping[str, Any]
    max_duration_s: float | None = None


@dataclass(frozen=True)
class AnalyzeResult:
    """Scalars and file locations of one analysed track."""

    track_id: str
    version: str
    params_hash: str
    params: Mapping[str, Any]
    features: Mapping[str, Any]
    json_path: str
    npz_path: str

    def to_row(self) -> dict[str, Any]:
        """The stage's result columns."""
        return {**self.features, "version": self.version, "params_hash": self.params_hash,
                "json_path": self.json_path, "npz_path": self.npz_path}


def analyze_item(job: AnalyzeJob, ctx: ItemContext) -> AnalyzeResult:
    """Work function: analyse one track and write its files (runs in a worker process)."""
    from ..analysis import analyze

    params = dict(job.params)
    stem, digest = analysis_stem(params)
    result = analyze(job.audio_path, features=params["features"], max_duration_s=job.max_duration_s,
                     on_progress=ctx.report, concert_pitch_prior=bool(params.get("concert_pitch_prior", True)))
    storage = job.storage
    json_final = storage.analysis_path(job.track_id, stem, "json")
    npz_final = storage.analysis_path(job.track_id, stem, "npz")
    json_final.parent.mkdir(parents=True, exist_ok=True)
    with storage.atomic_path(npz_final) as tmp:
        result.save_npz(tmp)
    storage.write_json(json_final, {**result.to_json(), "track_id": job.track_id, "params_hash": digest})
    return AnalyzeResult(track_id=job.track_id, version=str(params["version"]), params_hash=digest, params=params,
                         features=result.to_row(), json_path=str(json_final), npz_path=str(npz_final))


def record_analysis(conn: sqlite3.Connection, item: WorkItem, result: AnalyzeResult) -> None:
    """Record hook: the ``analyses`` row (scalars as a JSON object; paths relative to the workspace) and a
    ``track.analyzed`` event."""
    storage: Storage = item.payload.storage
    json_path = storage.relative(result.json_path)
    Catalog.upsert(conn, "analyses", {
        "track_id": item.key, "version": result.version, "params_hash": result.params_hash,
        "params": dict(result.params), "features": dict(result.features),
        "json_path": json_path, "npz_path": storage.relative(result.npz_path),
        "created_at": utcnow()}, key=["track_id", "version", "params_hash"])
    outbox.emit(conn, "track.analyzed", track_analyzed(track_id=item.key, version=result.version,
                                                       params_hash=result.params_hash, features=result.features,
                                                       json_path=json_path))


def existing_analysis(catalog: Catalog, storage: Storage, item: WorkItem) -> dict[str, Any] | None:
    """Existing hook: the result row of an analysis done before with these parameters, or ``None`` if its
    files are gone (then the track is analysed again)."""
    job: AnalyzeJob = item.payload
    _, digest = analysis_stem(job.params)
    found = catalog.table("analyses", where="track_id = ? AND version = ? AND params_hash = ?",
                          params=[item.key, str(job.params["version"]), digest])
    if found.empty:
        return None
    row = found.iloc[0]
    json_path, npz_path = storage.resolve(row["json_path"]), storage.resolve(row["npz_path"])
    if not (json_path.is_file() and npz_path.is_file()):
        return None
    return {**row["features"], "version": row["version"], "params_hash": row["params_hash"],
            "json_path": str(json_path), "npz_path": str(npz_path)}


def analyze_items(track_ids: list[str], *, catalog: Catalog, storage: Storage, params: Mapping[str, Any],
                  max_duration_s: float | None) -> list[WorkItem]:
    """One :class:`WorkItem` per track id (input hash: the audio's SHA-256).

    Raises
    ------
    ConfigError
        A track without audio in the workspace (import or download it first).
    """
    audio = {r["track_id"]: r for start in range(0, len(track_ids), 500)
             for r in catalog.query("SELECT * FROM audio WHERE track_id IN "
                                    f"({', '.join('?' * len(track_ids[start:start + 500]))})",
                                    track_ids[start:start + 500])}
    missing = [t for t in track_ids if t not in audio]
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise ConfigError(f"{len(missing)} track(s) have no audio in this workspace ({shown}); import or download "
                          "them first (ws.import_audio / ws.download).")
    items = []
    for track_id in track_ids:
        row = audio[track_id]
        job = AnalyzeJob(track_id=track_id, audio_path=str(storage.resolve(row["path"])), storage=storage,
                         params=dict(params), max_duration_s=max_duration_s)
        items.append(WorkItem(key=track_id, payload=job, input_hash=row["sha256"],
                              timeout_s=limits.analysis(row.get("duration_s"))))
    return items


def features_table(catalog: Catalog, storage: Storage) -> Any:
    """The latest analysis of every track joined with its ``tracks`` row, scalar features as columns.

    Columns: ``track_id``, ``name``, ``artists``, every feature of ``soundforge.analysis.FEATURES``
    (missing values for groups not computed), ``version``, ``params_hash``, ``analyzed_at``,
    ``json_path``, ``npz_path`` (absolute). One row per analysed track.
    """
    import pandas as pd

    analyses = catalog.table("analyses")
    tracks = catalog.table("tracks")[["track_id", "name", "artists"]]
    cols = feature_columns()
    if analyses.empty:
        empty = pd.DataFrame({c: pd.Series(dtype=d) for c, d in
                              {"track_id": "string", "name": "string", "artists": "object", **cols,
                               "version": "string", "params_hash": "string", "analyzed_at": "datetime64[ns, UTC]",
                               "json_path": "string", "npz_path": "string"}.items()})
        return empty
    latest = analyses.sort_values(["created_at", "version"]).groupby("track_id", sort=False).tail(1)
    feats = pd.DataFrame([dict(f) for f in latest["features"]], index=latest.index)
    for col, dtype in cols.items():
        values: Any = feats[col] if col in feats else pd.Series([None] * len(feats), index=feats.index,
                                                                 dtype="object")
        if dtype == "string":
            feats[col] = values.astype("string")
        else:
            feats[col] = pd.to_numeric(values, errors="coerce").astype(dtype)
    out = pd.concat([latest[["track_id"]], feats[list(cols)]], axis=1)
    out["version"] = latest["version"]
    out["params_hash"] = latest["params_hash"]
    out["analyzed_at"] = latest["created_at"]
    for col in ("json_path", "npz_path"):
        out[col] = latest[col].map(lambda p: str(storage.resolve(p)), na_action="ignore").astype("string")
    out = tracks.merge(out, on="track_id", how="right")
    return out.sort_values("track_id").reset_index(drop=True)


ANALYZE = StageSpec(name="analyze", work=analyze_item, executor="process", workers=None, timeout_s=1800.0,
                    columns=COLUMNS, version="1")
"""The analyze stage: one process per CPU (the analysis is CPU-bound numpy), one attempt (bad audio stays bad),
30 minutes per track."""


class AnalyzeStage:
    """The analyze stage as one object: ``plan(env, options, tracks=, features=, concert_pitch_prior=)``."""

    spec = ANALYZE

    def plan(self, env: StageEnv, options: RunOptions, /, *, tracks: Any = None,
             features: Iterable[str] | None = None, concert_pitch_prior: bool = True) -> Plan:
        params = stage_params(features, concert_pitch_prior=concert_pitch_prior)
        ids = track_ids(tracks, catalog=env.catalog)
        require_tracks(env.catalog, ids, root=env.storage.root)
        items = analyze_items(ids, catalog=env.catalog, storage=env.storage, params=params,
                              max_duration_s=env.settings.max_audio_s)
        return Plan(items=items, params=params, record=record_analysis,
                    existing=functools.partial(existing_analysis, env.catalog, env.storage))


STAGE = AnalyzeStage()
