"""Managed storage: the file layout under a workspace root, safe names and atomic writes.

Layout (DESIGN §3)::

    <root>/catalog.sqlite
    <root>/downloads/<track_id>.<ext>
    <root>/analysis/<track_id>/<version>.json   (+ .npz)
    <root>/stems/<track_id>/<model>/<stem>.flac
    <root>/runs/<run_id>/
    <root>/tmp/                                  partial files, moved into place atomically

No path is ever built from a title or any other free text: every name that
becomes a path component goes through :func:`validate_id` first.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import InvalidIdError, StorageError

__all__ = ["AREAS", "Storage", "StorageStats", "fsync_dir", "validate_ext", "validate_id"]

AREAS = ("downloads", "analysis", "stems", "runs", "tmp")

_OWNED = re.compile(r"^\.?[A-Za-z_]*-?(\d+)-")
MAX_ID_LENGTH = 128
_ID_RE = re.compile(r"[A-Za-z0-9_-]+")
_EXT_RE = re.compile(r"[a-z0-9]{1,8}")


def validate_id(value: object, *, kind: str = "track id") -> str:
    """Check that ``value`` can safely be used as one path component.

    Parameters
    ----------
    value : object
        Candidate id; must be a ``str`` of 1-128 characters from ``[A-Za-z0-9_-]``.
    kind : str
        What the id names, used in the error message.

    Returns
    -------
    str
        ``value`` unchanged.

    Raises
    ------
    InvalidIdError
        For anything else: path separators, ``..``, NUL, spaces, empty or too long.
    """
    if not isinstance(value, str):
        raise InvalidIdError(f"The {kind} must be a string, got {type(value).__name__}.", value=repr(value))
    if not value or len(value) > MAX_ID_LENGTH or not _ID_RE.fullmatch(value):
        shown = value if len(value) <= 60 else value[:57] + "..."
        raise InvalidIdError(
            f"Invalid {kind} {shown!r}: use 1-{MAX_ID_LENGTH} characters from A-Z, a-z, 0-9, '_' and '-' "
            "(no paths, dots, spaces or other characters).",
            value=shown,
        )
    return value


def validate_ext(value: str) -> str:
    """Check a file extension (without dot): 1-8 lowercase letters or digits."""
    ext = value.lower().lstrip(".")
    if not _EXT_RE.fullmatch(ext):
        raise InvalidIdError(f"Invalid file extension {value!r}: use 1-8 lowercase letters or digits such as 'flac'.")
    return ext


@dataclass(frozen=True)
class StorageStats:
    """Files and bytes per storage area.

    Attributes
    ----------
    areas : dict[str, tuple[int, int]]
        ``area -> (files, bytes)`` for each area and ``"catalog"``.
    """

    areas: dict[str, tuple[int, int]]

    @property
    def files(self) -> int:
        """Total number of files."""
        return sum(f for f, _ in self.areas.values())

    @property
    def bytes(self) -> int:
        """Total size in bytes."""
        return sum(b for _, b in self.areas.values())

    def to_rows(self) -> list[dict[str, Any]]:
        """Tidy rows ``{area, files, bytes}``, one per area plus a ``total`` row."""
        rows = [{"area": a, "files": f, "bytes": b} for a, (f, b) in self.areas.items()]
        rows.append({"area": "total", "files": self.files, "bytes": self.bytes})
        return rows

    def to_dataframe(self) -> Any:
        """The rows of :meth:`to_rows` as a pandas DataFrame (``area`` str, ``files``/``bytes`` int64)."""
        import pandas as pd

        return pd.DataFrame(self.to_rows()).astype({"files": "int64", "bytes": "int64"})


class Storage:
    """The files of one workspace.

    Parameters
    ----------
    root : str or pathlib.Path
        Storage root; created (with its areas) when missing.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()
        try:
            for area in AREAS:
                (self.root / area).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"Cannot create the workspace at {self.root}: {exc.strerror or exc}. "
                               "Choose a writable folder.", path=str(self.root)) from exc

    def __repr__(self) -> str:
        return f"Storage({str(self.root)!r})"

    # -- paths -----------------------------------------------------------------
    @property
    def catalog_path(self) -> Path:
        """Path of the SQLite catalog."""
        return self.root / "catalog.sqlite"

    def download_path(self, track_id: str, ext: str) -> Path:
        """``downloads/<track_id>.<ext>``."""
        return self.root / "downloads" / f"{validate_id(track_id)}.{validate_ext(ext)}"

    def analysis_path(self, track_id: str, version: str, ext: str) -> Path:
        """``analysis/<track_id>/<version>.<ext>``."""
        name = f"{validate_id(version, kind='analysis version')}.{validate_ext(ext)}"
        return self.root / "analysis" / validate_id(track_id) / name

    def stem_path(self, track_id: str, model: str, stem: str, ext: str = "flac") -> Path:
        """``stems/<track_id>/<model>/<stem>.<ext>``."""
        return (self.root / "stems" / validate_id(track_id) / validate_id(model, kind="model name")
                / f"{validate_id(stem, kind='stem name')}.{validate_ext(ext)}")

    def run_dir(self, run_id: str) -> Path:
        """``runs/<run_id>/`` (created)."""
        path = self.root / "runs" / validate_id(run_id, kind="run id")
        path.mkdir(parents=True, exist_ok=True)
        return path

    def relative(self, path: str | Path) -> str:
        """Path relative to the root, with ``/`` separators, as stored in the catalog."""
        resolved = Path(path).resolve()
        try:
            return resolved.relative_to(self.root).as_posix()
        except ValueError as exc:
            raise StorageError(f"{resolved} is outside the workspace {self.root}.", path=str(resolved)) from exc

    def resolve(self, relpath: str | Path) -> Path:
        """Absolute path of a catalog-relative path; refuses anything that escapes the root."""
        candidate = (self.root / relpath).resolve()
        if candidate != self.root and self.root not in candidate.parents:
            raise StorageError(f"Path {str(relpath)!r} escapes the workspace {self.root}.", path=str(relpath))
        return candidate

    # -- atomic writes ---------------------------------------------------------
    def tmp_dir(self, prefix: str = "work-") -> Path:
        """A fresh private folder under ``tmp/`` (caller removes it, see :meth:`scratch_dir`)."""
        return Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=self.root / "tmp"))

    @contextlib.contextmanager
    def scratch_dir(self, prefix: str = "work-") -> Iterator[Path]:
        """Context manager around :meth:`tmp_dir` that always removes the folder."""
        path = self.tmp_dir(prefix)
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)

    @contextlib.contextmanager
    def atomic_path(self, final: str | Path) -> Iterator[Path]:
        """Yield a temporary path under ``tmp/``; on success move it to ``final`` atomically.

        The caller writes the temporary file (with any library); when the block
        exits normally the file is fsynced and moved with :func:`os.replace`, then
        the folder entry is fsynced. On an exception the temporary file is removed
        and ``final`` is untouched, so a partial file never appears at ``final``.

        Parameters
        ----------
        final : str or pathlib.Path
            Destination inside the workspace.
        """
        final = Path(final)
        self.relative(final)  # refuses destinations outside the root
        suffix = "".join(final.suffixes[-1:])
        fd, tmp_name = tempfile.mkstemp(prefix=f".{os.getpid()}-{final.stem[:40]}-", suffix=suffix,
                                        dir=self.root / "tmp")
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            yield tmp
            self._commit(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def move_into_place(self, source: str | Path, final: str | Path) -> Path:
        """Atomically move a finished file (e.g. from a scratch folder under ``tmp/``) to ``final``."""
        final = Path(final)
        self.relative(final)
        self._commit(Path(source), final)
        return final

    def _commit(self, tmp: Path, final: Path) -> None:
        try:
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, final)
            fsync_dir(final.parent)
        except OSError as exc:
            raise StorageError(f"Could not move {tmp.name} into place at {final}: {exc.strerror or exc}.",
                               path=str(final)) from exc

    def write_bytes(self, final: str | Path, data: bytes) -> Path:
        """Write ``data`` to ``final`` atomically."""
        with self.atomic_path(final) as tmp:
            tmp.write_bytes(data)
        return Path(final)

    def write_json(self, final: str | Path, obj: Any) -> Path:
        """Write ``obj`` as UTF-8 JSON to ``final`` atomically."""
        return self.write_bytes(final, json.dumps(obj, indent=2, sort_keys=True, default=str).encode())

    # -- delete & stats ----------------------------------------------------------
    def delete(self, path: str | Path) -> bool:
        """Delete a file or folder inside the workspace; deleting what is gone is not an error.

        Returns
        -------
        bool
            ``True`` when something was removed.
        """
        target = self.resolve(path)
        if target == self.root:
            raise StorageError("Refusing to delete the workspace root.", path=str(target))
        try:
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            else:
                target.unlink()
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise StorageError(f"Could not delete {target}: {exc.strerror or exc}.", path=str(target)) from exc
        return True

    def clean_tmp(self, *, older_than_s: float = 24 * 3600.0) -> int:
        """Remove leftovers under ``tmp/`` older than ``older_than_s`` seconds; returns how many."""
        cutoff = time.time() - older_than_s
        removed = 0
        for entry in (self.root / "tmp").iterdir():
            with contextlib.suppress(FileNotFoundError):
                if entry.lstat().st_mtime < cutoff:
                    self.delete(entry)
                    removed += 1
        return removed

    def clean_stale(self) -> int:
        """Remove scratch under ``tmp/`` left by processes that are gone (a kill -9 mid-stage); returns how many.

        Scratch entries carry their owner's pid in their name (:meth:`tmp_dir`, :meth:`atomic_path`);
        an entry of a live process is never touched. Entries without an owner fall back to
        :meth:`clean_tmp`'s 24-hour rule.
        """
        removed = 0
        tmp = self.root / "tmp"
        if not tmp.is_dir():
            return 0
        for entry in tmp.iterdir():
            pid = _owner(entry.name)
            if pid is None or pid_alive(pid):
                continue
            with contextlib.suppress(FileNotFoundError, StorageError):
                self.delete(entry)
                removed += 1
        return removed + self.clean_tmp()

    def stats(self) -> StorageStats:
        """Count files and bytes per area (and the catalog files)."""
        areas: dict[str, tuple[int, int]] = {}
        for area in AREAS:
            files = size = 0
            for dirpath, _, names in os.walk(self.root / area):
                for name in names:
                    with contextlib.suppress(FileNotFoundError):
                        size += (Path(dirpath) / name).lstat().st_size
                        files += 1
            areas[area] = (files, size)
        catalog = [p for p in self.root.glob("catalog.sqlite*") if p.is_file()]
        areas["catalog"] = (len(catalog), sum(p.stat().st_size for p in catalog))
        return StorageStats(areas)


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this host (ours always does; one we may not signal is alive)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _owner(name: str) -> int | None:
    """The pid a scratch entry's name starts with (``[.]<prefix><pid>-...``), if any."""
    match = _OWNED.match(name)
    return int(match.group(1)) if match else None


def fsync_dir(path: Path) -> None:
    """Flush a folder entry to disk (after a rename into it); errors are ignored."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
