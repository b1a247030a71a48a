"""The catalog: a SQLite database (WAL) that is the system of record of a workspace.

Writers use ``BEGIN IMMEDIATE`` so two processes never deadlock upgrading a read
lock, and every connection waits (busy timeout) instead of failing with
"database is locked". Readers return pandas DataFrames with the columns and
dtypes listed in :data:`COLUMNS`. Paths are stored relative to the workspace
root; the workspace turns them into absolute paths.

The schema version lives in ``PRAGMA user_version``; :data:`MIGRATIONS` holds
one SQL script per version, applied in order inside one write transaction.

Tables
------
tracks      one row per track (Spotify metadata or an imported file)
track_sources  which tracks each fetched Spotify link gave, in order (schema v2)
audio       the audio file of a track (downloaded or imported)
analyses    analysis results: one row per (track, analyzer version, parameters)
stems       separated stems: one row per (track, model, stem)
jobs        one row per attempt of a stage item (runner bookkeeping)
events      outbox of events, written in the same transaction as the change
webhooks    registered webhook endpoints (secrets are kept outside the catalog, schema v3)
deliveries  one row per (event, endpoint): state of its delivery (schema v3: duration, lease)
delivery_attempts  one row per HTTP attempt of a delivery (schema v3)
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .errors import CatalogError

__all__ = ["COLUMNS", "MIGRATIONS", "SCHEMA_VERSION", "Catalog", "utcnow"]

_V1 = """
CREATE TABLE tracks (
    track_id      TEXT PRIMARY KEY,
    source        TEXT NOT NULL,            -- 'spotify' or 'local'
    name          TEXT,
    artists       TEXT,                     -- JSON list of names
    artist_ids    TEXT,                     -- JSON list of Spotify ids
    album         TEXT,
    album_id      TEXT,
    release_date  TEXT,
    duration_ms   INTEGER,
    track_number  INTEGER,
    disc_number   INTEGER,
    explicit      INTEGER,
    isrc          TEXT,
    spotify_url   TEXT,
    source_url    TEXT,
    fetched_at    TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
CREATE TABLE audio (
    track_id      TEXT PRIMARY KEY REFERENCES tracks(track_id),
    path          TEXT NOT NULL,            -- relative to the workspace root
    format        TEXT NOT NULL,
    size_bytes    INTEGER NOT NULL,
    sha256        TEXT NOT NULL,
    duration_s    REAL NOT NULL,
    sample_rate   INTEGER NOT NULL,
    channels      INTEGER NOT NULL,
    is_silent     INTEGER NOT NULL DEFAULT 0,
    origin        TEXT NOT NULL,            -- 'import' or 'spotdl'
    source_path   TEXT,                     -- the imported file, for 'import'
    created_at    TEXT NOT NULL
);
CREATE TABLE analyses (
    track_id      TEXT NOT NULL REFERENCES tracks(track_id),
    version       TEXT NOT NULL,
    params_hash   TEXT NOT NULL,
    params        TEXT NOT NULL,            -- JSON
    features      TEXT NOT NULL,            -- JSON object of scalar features
    json_path     TEXT,
    npz_path      TEXT,
    created_at    TEXT NOT NULL,
    PRIMARY KEY (track_id, version, params_hash)
);
CREATE TABLE stems (
    track_id      TEXT NOT NULL REFERENCES tracks(track_id),
    model         TEXT NOT NULL,
    stem          TEXT NOT NULL,
    params_hash   TEXT NOT NULL,
    path          TEXT NOT NULL,
    sample_rate   INTEGER,
    channels      INTEGER,
    duration_s    REAL,
    seconds_taken REAL,
    created_at    TEXT NOT NULL,
    PRIMARY KEY (track_id, model, stem)
);
CREATE TABLE jobs (
    job_id        INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id        TEXT NOT NULL,
    stage         TEXT NOT NULL,
    item          TEXT NOT NULL,            -- usually a track id
    params_hash   TEXT NOT NULL,
    input_hash    TEXT,
    status        TEXT NOT NULL,            -- running, done, failed
    attempts      INTEGER NOT NULL DEFAULT 0,
    error         TEXT,
    error_type    TEXT,
    started_at    TEXT NOT NULL,
    finished_at   TEXT,
    duration_s    REAL
);
CREATE INDEX jobs_lookup ON jobs (stage, item, params_hash, status);
CREATE TABLE events (
    event_id      TEXT PRIMARY KEY,
    type          TEXT NOT NULL,
    payload       TEXT NOT NULL,            -- JSON
    created_at    TEXT NOT NULL
);
CREATE TABLE webhooks (
    webhook_id    TEXT PRIMARY KEY,
    url           TEXT NOT NULL,
    secret        TEXT NOT NULL,
    event_types   TEXT NOT NULL,            -- JSON list, ["*"] for all
    active        INTEGER NOT NULL DEFAULT 1,
    created_at    TEXT NOT NULL
);
CREATE TABLE deliveries (
    delivery_id     INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id        TEXT NOT NULL REFERENCES events(event_id),
    webhook_id      TEXT NOT NULL REFERENCES webhooks(webhook_id),
    status          TEXT NOT NULL,          -- pending, delivered, failed
    attempts        INTEGER NOT NULL DEFAULT 0,
    response_status INTEGER,
    last_error      TEXT,
    next_attempt_at TEXT,
    delivered_at    TEXT,
    UNIQUE (event_id, webhook_id)
);
"""

_V2 = """
CREATE TABLE track_sources (
    source_url    TEXT NOT NULL,            -- canonical URL of a fetched link (playlist, album, artist, track)
    position      INTEGER NOT NULL,         -- 0-based place of the track in that link's result
    track_id      TEXT NOT NULL REFERENCES tracks(track_id),
    fetched_at    TEXT NOT NULL,
    PRIMARY KEY (source_url, position)
);
CREATE INDEX track_sources_track ON track_sources (track_id);
"""

_V3 = """
ALTER TABLE webhooks ADD COLUMN allow_private INTEGER NOT NULL DEFAULT 0;
ALTER TABLE webhooks ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;     -- consecutive failed attempts
ALTER TABLE webhooks ADD COLUMN disabled_reason TEXT;
ALTER TABLE webhooks ADD COLUMN last_delivery_at TEXT;
ALTER TABLE webhooks ADD COLUMN last_status TEXT;                        -- HTTP status or error kind
ALTER TABLE deliveries ADD COLUMN created_at TEXT;
ALTER TABLE deliveries ADD COLUMN duration_s REAL;                       -- of the last attempt
ALTER TABLE deliveries ADD COLUMN lease_until TEXT;                      -- a sender holds the row until then
ALTER TABLE deliveries ADD COLUMN lease_pid INTEGER;                     -- ... from this process
CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at);
CREATE INDEX deliveries_webhook ON deliveries (webhook_id, status);
CREATE TABLE delivery_attempts (
    delivery_id   INTEGER NOT NULL REFERENCES deliveries(delivery_id),
    attempt       INTEGER NOT NULL,
    started_at    TEXT NOT NULL,
    status_code   INTEGER,                  -- HTTP status, NULL when no answer came
    duration_s    REAL NOT NULL,
    error         TEXT,
    PRIMARY KEY (delivery_id, attempt)
);
"""

MIGRATIONS: tuple[str, ...] = (_V1, _V2, _V3)
"""SQL script that brings the schema from version ``i`` to ``i + 1`` (index ``i``)."""

SCHEMA_VERSION = len(MIGRATIONS)

_TS = "datetime64[us, UTC]"
COLUMNS: dict[str, dict[str, str]] = {
    "tracks": {
        "track_id": "string", "source": "string", "name": "string", "artists": "object",
        "artist_ids": "object", "album": "string", "album_id": "string", "release_date": "string",
        "duration_ms": "Int64", "track_number": "Int64", "disc_number": "Int64", "explicit": "boolean",
        "isrc": "string", "spotify_url": "string", "source_url": "string", "fetched_at": _TS,
        "created_at": _TS, "updated_at": _TS,
    },
    "track_sources": {"source_url": "string", "position": "Int64", "track_id": "string", "fetched_at": _TS},
    "audio": {
        "track_id": "string", "path": "string", "format": "string", "size_bytes": "Int64",
        "sha256": "string", "duration_s": "float64", "sample_rate": "Int64", "channels": "Int64",
        "is_silent": "boolean", "origin": "string", "source_path": "string", "created_at": _TS,
    },
    "analyses": {
        "track_id": "string", "version": "string", "params_hash": "string", "params": "object",
        "features": "object", "json_path": "string", "npz_path": "string", "created_at": _TS,
    },
    "stems": {
        "track_id": "string", "model": "string", "stem": "string", "params_hash": "string",
        "path": "string", "sample_rate": "Int64", "channels": "Int64", "duration_s": "float64",
        "seconds_taken": "float64", "created_at": _TS,
    },
    "jobs": {
        "job_id": "Int64", "run_id": "string", "stage": "string", "item": "string",
        "params_hash": "string", "input_hash": "string", "status": "string", "attempts": "Int64",
        "error": "string", "error_type": "string", "started_at": _TS, "finished_at": _TS,
        "duration_s": "float64",
    },
    "events": {"event_id": "string", "type": "string", "payload": "object", "created_at": _TS},
    "webhooks": {
        "webhook_id": "string", "url": "string", "event_types": "object", "active": "boolean",
        "created_at": _TS, "allow_private": "boolean", "failures": "Int64", "disabled_reason": "string",
        "last_delivery_at": _TS, "last_status": "string",
    },
    "deliveries": {
        "delivery_id": "Int64", "event_id": "string", "webhook_id": "string", "status": "string",
        "attempts": "Int64", "response_status": "Int64", "last_error": "string",
        "next_attempt_at": _TS, "delivered_at": _TS, "created_at": _TS, "duration_s": "float64",
        "lease_until": _TS, "lease_pid": "Int64",
    },
    "delivery_attempts": {
        "delivery_id": "Int64", "attempt": "Int64", "started_at": _TS, "status_code": "Int64",
        "duration_s": "float64", "error": "string",
    },
}
"""Columns and pandas dtypes of each table as returned by :meth:`Catalog.table`.

JSON columns (``artists``, ``params``, ``features``...) come back decoded
(lists / dicts, dtype ``object``). ``webhooks.secret`` is never returned (and, from schema v3 on, never
holds a secret: see :mod:`soundforge.events.secrets`).
"""

_JSON_COLUMNS = {"artists", "artist_ids", "params", "features", "payload", "event_types"}


def utcnow() -> str:
    """Current UTC time as an ISO 8601 string with microseconds (how the catalog stores times)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


class Catalog:
    """Access to one workspace's SQLite catalog.

    A new connection is opened per operation, so one ``Catalog`` can be used
    from several threads, and several processes can use the same file.

    Parameters
    ----------
    path : str or pathlib.Path
        The ``catalog.sqlite`` file; created and migrated when needed.
    timeout_s : float
        How long a writer waits for another writer's lock, in seconds.
    """

    def __init__(self, path: str | Path, *, timeout_s: float = 60.0) -> None:
        self.path = Path(path)
        self.timeout_s = timeout_s
        self.write_lock = threading.RLock()
        """Held by this process's writers around each write transaction: threads of one process queue here
        instead of in SQLite's busy handler, which sleeps in millisecond steps."""
        self._migrate()

    def __repr__(self) -> str:
        return f"Catalog({str(self.path)!r})"

    # -- connections & transactions ------------------------------------------------
    def connect(self) -> sqlite3.Connection:
        """Open a connection (autocommit mode, WAL, busy timeout, foreign keys on)."""
        try:
            conn = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None)
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout_s * 1000)}")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.Error as exc:
            raise CatalogError(f"Cannot open the catalog {self.path}: {exc}. Check the folder is writable.",
                               path=str(self.path)) from exc
        conn.row_factory = sqlite3.Row
        return conn

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``), committed on success, rolled back on error."""
        conn = self.connect()
        try:
            with self.write_lock:
                try:
                    conn.execute("BEGIN IMMEDIATE")
                except sqlite3.Error as exc:
                    raise CatalogError(f"Could not start a write on {self.path}: {exc}.", path=str(self.path)) from exc
                try:
                    yield conn
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                try:
                    conn.execute("COMMIT")
                except sqlite3.Error as exc:
                    conn.execute("ROLLBACK")
                    raise CatalogError(f"Could not commit to {self.path}: {exc}.", path=str(self.path)) from exc
        finally:
            conn.close()

    def _migrate(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise CatalogError(f"Cannot create the catalog {self.path}: {exc}.", path=str(self.path)) from exc
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout_s * 1000)}")
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("BEGIN IMMEDIATE")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                conn.execute("ROLLBACK")
                raise CatalogError(
                    f"The catalog {self.path} has schema version {version}, newer than this SoundForge "
                    f"understands ({SCHEMA_VERSION}). Upgrade SoundForge.", path=str(self.path))
            for step in range(version, SCHEMA_VERSION):
                for statement in _statements(MIGRATIONS[step]):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {step + 1}")
            conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise CatalogError(f"The catalog {self.path} cannot be opened or migrated: {exc}. "
                               "If it is not a SoundForge catalog, choose another workspace folder.",
                               path=str(self.path)) from exc
        finally:
            conn.close()

    @property
    def schema_version(self) -> int:
        """The schema version stored in the file."""
        conn = self.connect()
        try:
            return int(conn.execute("PRAGMA user_version").fetchone()[0])
        finally:
            conn.close()

    # -- writes ------------------------------------------------------------------
    @staticmethod
    def upsert(conn: sqlite3.Connection, table: str, row: Mapping[str, Any], *, key: Sequence[str]) -> None:
        """Insert ``row`` into ``table``, or update the existing row with the same ``key`` columns.

        Parameters
        ----------
        conn : sqlite3.Connection
            A connection inside :meth:`transaction`.
        table : str
            One of :data:`COLUMNS`.
        row : Mapping[str, Any]
            Column values; lists/dicts are stored as JSON, booleans as 0/1.
        key : Sequence[str]
            Columns of the primary key / unique constraint.
        """
        if table not in COLUMNS:
            raise CatalogError(f"Unknown catalog table {table!r}.")
        allowed = set(COLUMNS[table]) | ({"secret"} if table == "webhooks" else set())
        unknown = set(row) - allowed
        if unknown:
            raise CatalogError(f"Unknown column(s) {sorted(unknown)} for table {table!r}.")
        cols = list(row)
        values = [_to_sql(row[c]) for c in cols]
        updates = [c for c in cols if c not in key and c != "created_at"]
        sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
        if updates:
            sql += f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in updates)
        else:
            sql += f" ON CONFLICT ({', '.join(key)}) DO NOTHING"
        conn.execute(sql, values)

    # -- reads -------------------------------------------------------------------
    def query(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[dict[str, Any]]:
        """Run a read query and return plain dict rows."""
        conn = self.connect()
        try:
            return [dict(r) for r in conn.execute(sql, params)]
        except sqlite3.Error as exc:
            raise CatalogError(f"Catalog query failed: {exc}.", sql=sql) from exc
        finally:
            conn.close()

    def table(self, name: str, *, where: str = "", params: Sequence[Any] = ()) -> Any:
        """Read one table as a DataFrame with the columns and dtypes of :data:`COLUMNS`.

        Parameters
        ----------
        name : str
            Table name.
        where : str
            Optional SQL condition (with ``?`` placeholders), without ``WHERE``.
        params : Sequence
            Values for the placeholders.
        """
        if name not in COLUMNS:
            raise CatalogError(f"Unknown catalog table {name!r}; tables are {sorted(COLUMNS)}.")
        cols = list(COLUMNS[name])
        sql = f"SELECT {', '.join(cols)} FROM {name}" + (f" WHERE {where}" if where else "")
        return frame(self.query(sql, params), COLUMNS[name])

    def export(self, path: str | os.PathLike[str], *, tables: Iterable[str] | None = None) -> dict[str, Path]:
        """Write tables as Parquet files ``<path>/<table>.parquet``.

        Returns
        -------
        dict[str, pathlib.Path]
            Table name -> written file.
        """
        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        written: dict[str, Path] = {}
        for name in tables or COLUMNS:
            df = self.table(name)
            for col, dtype in COLUMNS[name].items():
                if dtype == "object":  # JSON-ish columns travel as JSON text
                    df[col] = df[col].map(lambda v: None if v is None else json.dumps(v, default=str))
            target = out / f"{name}.parquet"
            df.to_parquet(target, index=False)
            written[name] = target
        return written


def frame(rows: list[dict[str, Any]], dtypes: Mapping[str, str]) -> Any:
    """Build a DataFrame from catalog rows, decoding JSON columns and applying ``dtypes``."""
    import pandas as pd

    df = pd.DataFrame(rows, columns=list(dtypes))
    for col, dtype in dtypes.items():
        if col in _JSON_COLUMNS:
            df[col] = df[col].map(lambda v: json.loads(v) if isinstance(v, str) else v).astype(object)
        elif dtype == _TS:
            df[col] = pd.to_datetime(df[col], utc=True, format="ISO8601").astype("datetime64[us, UTC]")
        elif dtype == "boolean":
            df[col] = df[col].map(lambda v: None if pd.isna(v) else bool(v)).astype("boolean")
    plain = {c: d for c, d in dtypes.items() if c not in _JSON_COLUMNS and d not in (_TS, "boolean")}
    return df.astype(plain)


def _to_sql(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, default=str)
    if isinstance(value, Path):
        return value.as_posix()
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return value.item()
    return value


def _statements(script: str) -> list[str]:
    """Split a migration script into statements (no semicolons inside our DDL strings)."""
    lines = [line.split("--", 1)[0] for line in script.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
