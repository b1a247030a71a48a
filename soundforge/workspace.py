"""The workspace: a notebook's entry point that wires settings, storage, catalog and stages.

>>> import soundforge as sf
>>> ws = sf.Workspace("~/music-lab")                  # doctest: +SKIP
>>> ws.import_audio("~/Music/*.flac")                 # doctest: +SKIP
>>> ws.tracks(); ws.audio(); ws.stats()               # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from .catalog import Catalog
from .config import Settings, load_settings
from .download import local
from .errors import AudioError, SoundforgeError
from .storage import Storage

__all__ = ["IMPORT_COLUMNS", "Workspace"]

IMPORT_COLUMNS = {
    "track_id": "string", "status": "string", "error": "string", "path": "string", "duration_s": "float64",
    "sample_rate": "Int64", "channels": "Int64", "format": "string", "is_silent": "boolean",
    "source_path": "string",
}
"""Columns and dtypes of the DataFrame returned by :meth:`Workspace.import_audio`."""

ProgressCallback = Callable[[int, int, dict[str, Any]], None]


class Workspace:
    """Managed storage plus catalog, and the stages that fill them.

    Parameters
    ----------
    root : str or pathlib.Path, optional
        Storage root; default ``$SOUNDFORGE_HOME``, else ``~/soundforge``.
    **settings
        Any :class:`~soundforge.config.Settings` field (``max_audio_s=``, ``market=``...),
        overriding environment variables.
    """

    def __init__(self, root: str | os.PathLike[str] | None = None, **settings: Any) -> None:
        self.settings: Settings = load_settings(home=root, **settings)
        self.storage = Storage(self.settings.home)
        self.catalog = Catalog(self.storage.catalog_path)

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r})"

    @property
    def root(self) -> Path:
        """The storage root."""
        return self.storage.root

    # -- stages --------------------------------------------------------------------
    def import_audio(self, paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]], *,
                     max_duration_s: float | None = None, force: bool = False,
                     on_item: ProgressCallback | None = None) -> Any:
        """Import the user's own audio files (files, folders, glob patterns).

        Each file is fully decoded and checked, copied into ``downloads/`` and
        recorded in the ``tracks`` and ``audio`` tables in one transaction. A bad
        file becomes a ``failed`` row; the others still import. A file already
        in the workspace (same bytes) is ``skipped``.

        Parameters
        ----------
        paths : path-like or iterable of path-likes
            Files, folders (walked for audio extensions) and glob patterns.
        max_duration_s : float, optional
            Longest accepted duration in seconds (default: the workspace's ``max_audio_s``).
        force : bool
            Re-validate and re-copy files already imported.
        on_item : callable, optional
            ``on_item(done, total, row)`` called after each file.

        Returns
        -------
        pandas.DataFrame
            One row per file, columns :data:`IMPORT_COLUMNS`.
        """
        files = local.expand_paths(paths)
        limit = self.settings.max_audio_s if max_duration_s is None else max_duration_s
        rows: list[dict[str, Any]] = []
        for done, path in enumerate(files, start=1):
            row = self._import_one(path, max_duration_s=limit, force=force)
            rows.append(row)
            if on_item is not None:
                on_item(done, len(files), row)
        from .catalog import frame

        return frame(rows, IMPORT_COLUMNS)

    def _import_one(self, path: Path, *, max_duration_s: float, force: bool) -> dict[str, Any]:
        row: dict[str, Any] = {"source_path": str(path), "status": "failed"}
        try:
            if not force and path.is_file() and path.stat().st_size > 0:
                existing = self._existing_import(path)
                if existing is not None:
                    return {**existing, "status": "skipped", "source_path": str(path)}
            result = local.import_file(path, storage=self.storage, max_duration_s=max_duration_s,
                                       ffmpeg=self.settings.ffmpeg, timeout_s=self.settings.ffmpeg_timeout_s)
            with self.catalog.transaction() as conn:
                _record_local_track(conn, self.catalog, result.track)
                self.catalog.upsert(conn, "audio", result.audio, key=["track_id"])
            return {**_audio_row(self.storage, result.audio), "status": "done", "source_path": str(path)}
        except SoundforgeError as exc:
            row["error"] = f"{type(exc).__name__}: {exc}"
        except OSError as exc:
            row["error"] = f"AudioError: cannot read {path}: {exc.strerror or exc}"
        return row

    def _existing_import(self, path: Path) -> dict[str, Any] | None:
        try:
            digest = local.sha256_file(path)
        except OSError as exc:
            raise AudioError(f"Cannot read {path}: {exc.strerror or exc}.", path=path, reason="missing") from exc
        found = self.catalog.query("SELECT * FROM audio WHERE track_id = ? AND sha256 = ?",
                                   (local.local_track_id(digest), digest))
        if not found or not self.storage.resolve(found[0]["path"]).is_file():
            return None
        return _audio_row(self.storage, found[0])

    # -- readers -------------------------------------------------------------------
    def tracks(self) -> Any:
        """The ``tracks`` table (see :data:`soundforge.catalog.COLUMNS`)."""
        return self.catalog.table("tracks")

    def audio(self) -> Any:
        """The ``audio`` table, with ``path`` made absolute."""
        df = self.catalog.table("audio")
        df["path"] = df["path"].map(lambda p: str(self.storage.resolve(p)), na_action="ignore").astype("string")
        return df

    def jobs(self) -> Any:
        """The ``jobs`` table: one row per attempt of a stage item."""
        return self.catalog.table("jobs")

    def stats(self) -> Any:
        """Files and bytes per storage area, plus catalog row counts, as a DataFrame.

        Columns: ``area`` (string), ``files`` (int64), ``bytes`` (int64), ``rows`` (Int64: catalog
        rows for the matching table, missing for areas without one).
        """
        df = self.storage.stats().to_dataframe()
        counts = {r["name"]: r["n"] for r in self.catalog.query(
            "SELECT 'tracks' AS name, COUNT(*) AS n FROM tracks UNION ALL SELECT 'audio', COUNT(*) FROM audio "
            "UNION ALL SELECT 'analyses', COUNT(*) FROM analyses UNION ALL SELECT 'stems', COUNT(*) FROM stems "
            "UNION ALL SELECT 'jobs', COUNT(*) FROM jobs")}
        table_of = {"downloads": "audio", "analysis": "analyses", "stems": "stems", "runs": None, "tmp": None,
                    "catalog": "tracks", "total": None}
        df["rows"] = [counts.get(table_of.get(a) or "") for a in df["area"]]
        df["rows"] = df["rows"].astype("Int64")
        return df

    def export(self, path: str | os.PathLike[str]) -> dict[str, Path]:
        """Write every catalog table as ``<path>/<table>.parquet``; returns table -> file."""
        return self.catalog.export(path)


def _audio_row(storage: Storage, audio_row: dict[str, Any]) -> dict[str, Any]:
    keys = ("track_id", "duration_s", "sample_rate", "channels", "format", "is_silent")
    return {**{k: audio_row.get(k) for k in keys}, "path": str(storage.resolve(audio_row["path"])), "error": None}


def _record_local_track(conn: Any, catalog: Catalog, track: dict[str, Any]) -> None:
    """Insert a local track; keep richer metadata (e.g. from Spotify) when the track already exists."""
    exists = conn.execute("SELECT 1 FROM tracks WHERE track_id = ?", (track["track_id"],)).fetchone()
    if exists:
        conn.execute("UPDATE tracks SET updated_at = ? WHERE track_id = ?", (track["updated_at"], track["track_id"]))
    else:
        catalog.upsert(conn, "tracks", track, key=["track_id"])
