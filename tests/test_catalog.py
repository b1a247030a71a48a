from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from soundforge.catalog import COLUMNS, SCHEMA_VERSION, Catalog, utcnow
from soundforge.errors import CatalogError
from soundforge.events import outbox


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    return Catalog(tmp_path / "catalog.sqlite")


def _track(track_id: str, **extra: object) -> dict[str, object]:
    now = utcnow()
    return {"track_id": track_id, "source": "local", "name": f"song {track_id}", "artists": ["A", "B"],
            "duration_ms": 1000, "explicit": False, "created_at": now, "updated_at": now, **extra}


def test_wal_and_schema_version(catalog: Catalog) -> None:
    conn = sqlite3.connect(catalog.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    assert catalog.schema_version == SCHEMA_VERSION


def test_tables_match_documented_columns(catalog: Catalog) -> None:
    conn = sqlite3.connect(catalog.path)
    for table, columns in COLUMNS.items():
        actual = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
        hidden = {"secret"} if table == "webhooks" else set()
        assert [c for c in actual if c not in hidden] == list(columns), table
    conn.close()


def test_reopening_does_not_migrate_again(catalog: Catalog) -> None:
    with catalog.transaction() as conn:
        Catalog.upsert(conn, "tracks", _track("t1"), key=["track_id"])
    again = Catalog(catalog.path)
    assert len(again.table("tracks")) == 1


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    Catalog(path)
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(CatalogError, match="newer than this SoundForge"):
        Catalog(path)


def test_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    path.write_bytes(b"definitely not sqlite" * 100)
    with pytest.raises(CatalogError, match="cannot be opened or migrated"):
        Catalog(path)


def test_upsert_updates_without_duplicates(catalog: Catalog) -> None:
    with catalog.transaction() as conn:
        Catalog.upsert(conn, "tracks", _track("t1"), key=["track_id"])
    first = catalog.table("tracks")
    with catalog.transaction() as conn:
        Catalog.upsert(conn, "tracks", _track("t1", name="renamed"), key=["track_id"])
    df = catalog.table("tracks")
    assert len(df) == 1
    assert df.loc[0, "name"] == "renamed"
    assert df.loc[0, "created_at"] == first.loc[0, "created_at"]  # created_at is kept
    assert df.loc[0, "artists"] == ["A", "B"]


def test_failed_transaction_rolls_back(catalog: Catalog) -> None:
    with pytest.raises(RuntimeError, match="abort"), catalog.transaction() as conn:
        Catalog.upsert(conn, "tracks", _track("t1"), key=["track_id"])
        raise RuntimeError("abort")
    assert catalog.table("tracks").empty


def test_unknown_columns_and_tables(catalog: Catalog) -> None:
    with pytest.raises(CatalogError, match="Unknown column"), catalog.transaction() as conn:
        Catalog.upsert(conn, "tracks", {"track_id": "x", "bogus": 1}, key=["track_id"])
    with pytest.raises(CatalogError, match="Unknown catalog table"):
        catalog.table("nope")


def test_dtypes_follow_the_documentation(catalog: Catalog) -> None:
    with catalog.transaction() as conn:
        Catalog.upsert(conn, "tracks", _track("t1", explicit=True), key=["track_id"])
    for name in COLUMNS:
        df = catalog.table(name)
        assert list(df.columns) == list(COLUMNS[name])
    df = catalog.table("tracks")
    assert str(df["duration_ms"].dtype) == "Int64"
    assert str(df["explicit"].dtype) == "boolean"
    assert str(df["created_at"].dtype).startswith("datetime64")
    assert str(df["name"].dtype).startswith("string")


def test_export_writes_parquet(catalog: Catalog, tmp_path: Path) -> None:
    with catalog.transaction() as conn:
        Catalog.upsert(conn, "tracks", _track("t1"), key=["track_id"])
    written = catalog.export(tmp_path / "out")
    assert set(written) == set(COLUMNS)
    back = pd.read_parquet(written["tracks"])
    assert back.loc[0, "track_id"] == "t1"
    assert back.loc[0, "artists"] == '["A", "B"]'


def test_events_are_written_in_the_callers_transaction(catalog: Catalog) -> None:
    with pytest.raises(RuntimeError), catalog.transaction() as conn:
        Catalog.upsert(conn, "tracks", _track("t1"), key=["track_id"])
        outbox.emit(conn, "track.fetched", {"track_id": "t1"}, event_id="e1")
        raise RuntimeError("rollback both")
    assert catalog.table("events").empty
    with catalog.transaction() as conn:
        Catalog.upsert(conn, "tracks", _track("t1"), key=["track_id"])
        outbox.emit(conn, "track.fetched", {"track_id": "t1"}, event_id="e1")
    events = catalog.table("events")
    assert events.loc[0, "payload"] == {"track_id": "t1"}


def test_frame_keeps_missing_booleans_missing() -> None:
    from soundforge.catalog import frame

    df = frame([{"track_id": "a", "explicit": 1}, {"track_id": "b"}, {"track_id": "c", "explicit": 0}],
               {"track_id": "string", "explicit": "boolean", "created_at": "datetime64[us, UTC]"})
    assert df["explicit"].tolist()[0] is True
    assert df["explicit"].isna().tolist() == [False, True, False]
    assert str(df["created_at"].dtype) == "datetime64[us, UTC]"
