"""Import the user's own audio files: expand paths, validate, hash and copy into managed storage.

A track imported from a file gets the id ``local-<first 16 hex digits of the
file's SHA-256>``, so importing the same bytes twice (under any name) yields
the same track, never a duplicate.
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import audio
from ..catalog import utcnow
from ..errors import AudioError, InvalidIdError, StorageError
from ..storage import Storage

__all__ = ["LocalImport", "check_levels", "expand_paths", "import_file", "local_track_id"]

_HASH_PREFIX = 16
_CHUNK = 1 << 20


def expand_paths(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Turn files, folders and glob patterns into a sorted, de-duplicated list of files.

    Folders are walked recursively and contribute files whose extension is in
    :data:`soundforge.audio.AUDIO_EXTENSIONS`; files named explicitly are always
    included (so a bad file named by the user becomes a failed row, not a
    silent omission). A pattern or path that matches nothing is returned as is,
    so the import reports it as missing.

    Parameters
    ----------
    paths : path-like or iterable of path-likes
        Files, folders or glob patterns (``~`` is expanded; ``**`` recurses).

    Returns
    -------
    list[pathlib.Path]
    """
    items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    found: list[Path] = []
    for raw in items:
        text = os.path.expanduser(os.fspath(raw))
        matches = sorted(glob.glob(text, recursive=True)) if glob.has_magic(text) else [text]
        if not matches:
            found.append(Path(text))
        for match in matches:
            p = Path(match)
            if p.is_dir():
                found.extend(sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith(".")
                                    and f.suffix.lower().lstrip(".") in audio.AUDIO_EXTENSIONS))
            else:
                found.append(p)
    unique: dict[Path, None] = {}
    for p in found:
        unique.setdefault(p.absolute(), None)
    return list(unique)


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def local_track_id(sha256: str) -> str:
    """The track id of an imported file: ``local-`` + the first 16 hex digits of its SHA-256."""
    return f"local-{sha256[:_HASH_PREFIX]}"


@dataclass(frozen=True)
class LocalImport:
    """A validated file copied into the workspace.

    Attributes
    ----------
    track : dict
        Row for the catalog ``tracks`` table.
    audio : dict
        Row for the catalog ``audio`` table (``path`` relative to the root).
    warning : str or None
        Something the user should know about a file that was imported anyway (samples above
        full scale); shown in the import result's ``warning`` column.
    """

    track: dict[str, Any]
    audio: dict[str, Any]
    warning: str | None = None


def check_levels(path: Path, peak: float) -> str | None:
    """Refuse samples far outside ``[-1, 1]``; return a warning for a small overshoot (else ``None``).

    Parameters
    ----------
    path : pathlib.Path
        The file (for the message).
    peak : float
        Its largest absolute sample value (full scale is 1.0).

    Raises
    ------
    AudioError
        ``out_of_range`` when ``peak`` exceeds :data:`soundforge.audio.MAX_PEAK`.
    """
    import math

    if peak <= 1.0:
        return None
    db = 20 * math.log10(peak)
    if peak > audio.MAX_PEAK:
        raise AudioError(f"Audio file {path} has samples up to {peak:.4g} ({db:+.1f} dBFS), far outside the float "
                         f"range -1..1 (at most {audio.MAX_PEAK:g} is accepted): it is scaled wrongly. Normalise "
                         "it (e.g. 'sox IN OUT norm' or 'ffmpeg -i IN -af volume=-{:.0f}dB OUT'), then import it "
                         "again.".format(math.ceil(db)), path=path, reason="out_of_range", peak=peak)
    return (f"samples reach {peak:.4g} ({db:+.2f} dBFS), above full scale: analysis reads them as they are, "
            "players and stems are limited to full scale")

def import_file(path: str | Path, *, storage: Storage, max_duration_s: float | None = None,
                ffmpeg: str = "ffmpeg", timeout_s: float = 600.0,
                on_process: audio.ProcessHook | None = None, sha256: str | None = None) -> LocalImport:
    """Validate one audio file and copy it into ``downloads/<track_id>.<ext>``.

    The whole file is decoded block by block first (:func:`soundforge.audio.scan`),
    so truncated, corrupt, NaN or over-long audio is refused before anything is
    written. The copy goes through ``tmp/`` and :func:`os.replace`.

    Parameters
    ----------
    path : str or pathlib.Path
        The file to import.
    storage : Storage
        Workspace storage.
    max_duration_s : float, optional
        Longest accepted duration in seconds (``None``: no limit).
    ffmpeg : str
        ffmpeg executable for formats soundfile cannot read.
    timeout_s : float
        Time limit of a decode, in seconds.
    on_process : callable, optional
        Receives any ffmpeg subprocess (e.g. ``ctx.register_process``) so a runner can kill it.
    sha256 : str, optional
        The file's SHA-256 when the caller has it already (saves reading the file again).

    Returns
    -------
    LocalImport

    Raises
    ------
    AudioError
        When the file is missing, empty, not audio, corrupt/truncated (declared and decodable lengths differ),
        has NaN/Inf samples or samples far above full scale (``out_of_range``), or is shorter than
        :data:`soundforge.audio.MIN_AUDIO_S` or longer than ``max_duration_s`` once decoded.
    StorageError
        When it cannot be copied into the workspace.
    """
    src = Path(path).expanduser()
    checked = audio.scan(src, max_duration_s=max_duration_s, ffmpeg=ffmpeg, timeout_s=timeout_s,
                         on_process=on_process)
    if checked.duration_s < audio.MIN_AUDIO_S:
        raise audio.too_short(f"Audio file {src}", checked.duration_s, path=src)
    if max_duration_s is not None and checked.duration_s > max_duration_s:
        raise audio.too_long(src, checked.duration_s, max_duration_s)
    warning = check_levels(src, checked.peak)
    digest = sha256 or sha256_file(src)
    track_id = local_track_id(digest)
    ext = checked.info.format if checked.info.format in audio.AUDIO_EXTENSIONS else src.suffix.lstrip(".").lower()
    try:
        final = storage.download_path(track_id, ext)
    except InvalidIdError as exc:
        raise AudioError(f"Cannot store {src} with extension {ext!r}; rename it to a known audio extension.",
                         path=src, reason="not_audio") from exc
    if not (final.exists() and final.stat().st_size == src.stat().st_size):
        try:
            with storage.atomic_path(final) as tmp:
                shutil.copyfile(src, tmp)
        except OSError as exc:
            raise StorageError(f"Could not copy {src} into the workspace: {exc}.", path=str(src)) from exc
    now = utcnow()
    track = {"track_id": track_id, "source": "local", "name": src.stem, "artists": [], "artist_ids": [],
             "duration_ms": round(checked.duration_s * 1000), "source_url": src.resolve().as_uri(),
             "created_at": now, "updated_at": now}
    row = {"track_id": track_id, "path": storage.relative(final), "format": ext, "size_bytes": final.stat().st_size,
           "sha256": digest, "duration_s": checked.duration_s, "sample_rate": checked.info.sample_rate,
           "channels": checked.info.channels, "is_silent": checked.is_silent, "origin": "import",
           "source_path": str(src.resolve()), "created_at": now}
    return LocalImport(track=track, audio=row, warning=warning)
