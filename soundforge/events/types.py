"""Event types and their payloads.

Every event is delivered as a Standard Webhooks payload::

    {"type": "track.analyzed", "timestamp": "2026-05-01T12:00:00.123456Z", "data": {...}}

``timestamp`` is when the event happened (when its catalog change was committed,
to the microsecond); ``data`` holds ids, paths relative to the workspace root and
features, never secrets or file contents. The builders below are the one place
that says what each type's ``data`` holds (see ``docs/webhooks.md`` for examples).
"""

from __future__ import annotations

import json
import math
import os
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError

__all__ = ["ALL", "EVENT_TYPES", "TEST_EVENT", "Event", "batch_finished", "check_types", "clean", "job_failed",
           "new_event_id", "track_analyzed", "track_downloaded", "track_fetched", "track_separated"]

EVENT_TYPES: tuple[str, ...] = ("track.fetched", "track.downloaded", "track.analyzed", "track.separated",
                                "job.failed", "batch.finished")
"""Types an endpoint can subscribe to."""

TEST_EVENT = "webhook.test"
"""Type of the event :meth:`soundforge.webhooks.Webhooks.test` sends to one endpoint."""

ALL = "*"
"""Subscription to every type."""

HEADLINE_FEATURES = ("duration_s", "tempo_bpm", "key_tonic", "key_mode", "energy", "danceability",
                     "loudness_lufs")


def new_event_id() -> str:
    """A new event id, ``evt_<microseconds hex><16 random hex>``: unique and sortable by creation time.

    It is the ``webhook-id`` header of every delivery of the event (receivers de-duplicate on it).
    """
    return f"evt_{time.time_ns() // 1000:014x}{secrets.token_hex(8)}"


def check_types(events: str | Iterable[str] | None) -> list[str]:
    """Validate a subscription: ``None`` or ``"*"`` for every type, else names from :data:`EVENT_TYPES`.

    Raises
    ------
    ConfigError
        For an unknown type (the message lists the known ones) or an empty list.
    """
    if events is None:
        return [ALL]
    names = [events] if isinstance(events, str) else list(events)
    if not names:
        raise ConfigError(f"events is empty: pass some of {list(EVENT_TYPES)}, or '*' (the default) for all.")
    if ALL in names:
        return [ALL]
    unknown = [n for n in names if n not in EVENT_TYPES]
    if unknown:
        raise ConfigError(f"Unknown event type(s) {unknown}; known types are {list(EVENT_TYPES)} ('*' for all).")
    return list(dict.fromkeys(names))


def clean(value: Any) -> Any:
    """JSON-safe copy: numpy scalars/arrays to Python values, NaN and infinities to ``None``."""
    if isinstance(value, Mapping):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if hasattr(value, "tolist") and callable(value.tolist):  # numpy scalar or array
        return clean(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    try:  # pandas.NA and friends
        import pandas as pd

        if pd.isna(value):
            return None
    except (ImportError, TypeError, ValueError):
        pass
    return str(value)


@dataclass(frozen=True)
class Event:
    """One row of the outbox.

    Attributes
    ----------
    event_id : str
        Unique id, sent as ``webhook-id``.
    type : str
        One of :data:`EVENT_TYPES` (or :data:`TEST_EVENT`).
    data : Mapping[str, Any]
        The payload's ``data``.
    created_at : str
        ISO 8601 UTC time the event was written.
    """

    event_id: str
    type: str
    data: Mapping[str, Any]
    created_at: str

    def body(self) -> bytes:
        """The exact bytes POSTed (and signed): compact JSON ``{"type", "timestamp", "data"}``."""
        stamp = self.created_at.replace("+00:00", "Z")
        return json.dumps({"type": self.type, "timestamp": stamp, "data": self.data}, separators=(",", ":"),
                          ensure_ascii=False, allow_nan=False).encode()


def _relative(path: str | None, root: str | os.PathLike[str] | None) -> str | None:
    if path is None or root is None or not os.path.isabs(path):
        return path
    try:
        return os.path.relpath(path, root) if os.path.commonpath([path, os.fspath(root)]) == os.fspath(root) \
            else os.path.basename(path)
    except ValueError:
        return os.path.basename(path)


# -- builders: the data of each type ---------------------------------------------------------------
def track_fetched(*, track_id: str, name: str | None, artists: Any, album: str | None, duration_ms: Any,
                  spotify_url: str | None, source_url: str) -> dict[str, Any]:
    """``track.fetched``: Spotify metadata of a track was written by ``ws.fetch`` (one event per track and link)."""
    return clean({"track_id": track_id, "name": name, "artists": list(artists or []), "album": album,
                  "duration_ms": duration_ms, "spotify_url": spotify_url, "source_url": source_url})


def track_downloaded(*, track_id: str, path: str, format: str, size_bytes: int, duration_s: float, sha256: str,
                     origin: str) -> dict[str, Any]:
    """``track.downloaded``: a track's audio arrived in the workspace (``origin``: ``spotdl`` or ``import``).

    ``path`` is relative to the workspace root.
    """
    return clean({"track_id": track_id, "path": path, "format": format, "size_bytes": size_bytes,
                  "duration_s": duration_s, "sha256": sha256, "origin": origin})


def track_analyzed(*, track_id: str, version: str, params_hash: str, features: Mapping[str, Any],
                   json_path: str | None) -> dict[str, Any]:
    """``track.analyzed``: a track's features were recorded.

    The headline features (tempo, key, energy...) are at the top of ``data``; every
    scalar feature is under ``features`` (missing ones are ``null``).
    """
    feats = clean(dict(features))
    return {"track_id": track_id, "version": version, "params_hash": params_hash,
            **{k: feats.get(k) for k in HEADLINE_FEATURES}, "features": feats, "json_path": json_path}


def track_separated(*, track_id: str, model: str, params_hash: str, duration_s: float,
                    stems: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """``track.separated``: a track's stems were recorded (``stems``: name, relative path, rate, channels)."""
    return clean({"track_id": track_id, "model": model, "params_hash": params_hash, "duration_s": duration_s,
                  "stems": [{k: s.get(k) for k in ("stem", "path", "sample_rate", "channels")} for s in stems]})


def job_failed(*, job_id: int, run_id: str, stage: str, item: str, attempts: int, error: str | None,
               error_type: str | None, root: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """``job.failed``: a stage item failed for good (no retry left), was cancelled, or its run died.

    An ``item`` that is an absolute path (imported files) is made relative to the workspace
    ``root``, or cut to its file name when outside; so are workspace paths in ``error``.
    """
    text = error
    if text and root is not None:
        text = text.replace(os.fspath(root).rstrip(os.sep) + os.sep, "")
    return clean({"job_id": job_id, "run_id": run_id, "stage": stage, "item": _relative(item, root),
                  "attempts": attempts, "error": text, "error_type": error_type})


def batch_finished(*, run_id: str, notebook: str, total: int, done: int, skipped: int, failed: int,
                   seconds: float, summary_path: str | None) -> dict[str, Any]:
    """``batch.finished``: a papermill batch run ended; counts of its summary table."""
    return clean({"run_id": run_id, "notebook": notebook, "total": total, "done": done, "skipped": skipped,
                  "failed": failed, "seconds": seconds, "summary_path": summary_path})
