"""Chunked streaming for separators: bounded memory whatever the track length.

A separator never holds a whole track. Audio is decoded block by block
(:func:`soundforge.audio.stream`), cut into overlapping windows, each window is
separated on its own, consecutive windows are joined with a linear crossfade
(weights that sum to one, so stems that add up to a window's input still add
up to the track), and finished stretches are written straight to the stem files.

::

    window k reads   [k*hop - context,  (k+1)*hop + crossfade + context)
    window k gives   [k*hop,            (k+1)*hop + crossfade)        (context dropped)
    output           [k*hop, k*hop + crossfade): fade from window k-1 to window k
                     [k*hop + crossfade, (k+1)*hop): window k alone

:class:`StemWriter` streams stems to FLAC files under temporary names and moves
them into place only when every stem is complete; :class:`Control` carries the
progress and cancellation callbacks and the deadline.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from ..audio import AudioInfo
from ..errors import AudioError, ItemCancelled, ItemTimeout, StorageError
from ..storage import fsync_dir

__all__ = ["AudioSource", "CancelCallback", "ChunkPlan", "Control", "ProgressCallback", "Resampler", "StemWriter",
           "Stems", "Window", "check_finite", "iter_windows", "join_windows", "release_memory"]

Stems = dict[str, np.ndarray]
"""Stem name -> ``float32`` samples shaped ``(channels, frames)``."""

ProgressCallback = Callable[[float], None]
"""``progress(percent)``: percent done of the current track, in [0, 100]."""

CancelCallback = Callable[[], bool]
"""``cancel() -> bool``: ``True`` when the work should stop."""

PCM24_MAX = 1.0 - 2.0 ** -23
"""Largest sample value a 24-bit FLAC can hold (``+1.0`` would wrap)."""


@dataclass(frozen=True)
class AudioSource:
    """A validated input file and how to decode it.

    Attributes
    ----------
    info : AudioInfo
        What :func:`soundforge.audio.probe` read from the header.
    ffmpeg : str
        ffmpeg executable for formats soundfile cannot read.
    timeout_s : float
        Time limit of one ffmpeg decode, in seconds.
    """

    info: AudioInfo
    ffmpeg: str = "ffmpeg"
    timeout_s: float = 600.0

    @property
    def path(self) -> Path:
        """The file."""
        return self.info.path

    def blocks(self, *, sr: int | None = None, block_s: float = 10.0) -> Iterator[np.ndarray]:
        """Decode block by block: ``float32`` ``(channels, n)`` arrays, resampled to ``sr`` when given."""
        from .. import audio

        for _, block in audio.stream(self.info.path, block_s=block_s, sr=sr, max_duration_s=None,
                                     ffmpeg=self.ffmpeg, timeout_s=self.timeout_s):
            yield block


class Control:
    """Progress reporting, cancellation and deadline of one separation.

    Parameters
    ----------
    progress : callable, optional
        ``progress(percent)`` with percent in [0, 100]; never called with a smaller value than before.
    cancel : callable, optional
        ``cancel() -> bool``, polled between chunks (and, for demucs, between model segments).
    timeout_s : float, optional
        Seconds allowed from now; past it :meth:`check` raises :class:`~soundforge.errors.ItemTimeout`.
    what : str
        Names the work in error messages (e.g. the input file).
    on_warning : callable, optional
        ``on_warning(message)`` for what the user should know about a finished result (clipped stems).
    """

    def __init__(self, *, progress: ProgressCallback | None = None, cancel: CancelCallback | None = None,
                 timeout_s: float | None = None, what: str = "separation",
                 on_warning: Callable[[str], None] | None = None) -> None:
        self._on_warning = on_warning
        self.warnings: list[str] = []
        self._progress = progress
        self._cancel = cancel
        self._timeout_s = timeout_s
        self._deadline = None if timeout_s is None else time.monotonic() + timeout_s
        self._last = -1.0
        self.what = what

    def check(self) -> None:
        """Raise :class:`ItemCancelled` when cancelled, :class:`ItemTimeout` past the deadline."""
        if self._cancel is not None and self._cancel():
            raise ItemCancelled(f"Separation of {self.what} was cancelled.", item=self.what)
        if self._deadline is not None and time.monotonic() >= self._deadline:
            raise ItemTimeout(f"Separation of {self.what} ran past its time limit of {self._timeout_s:g} s; "
                              "raise timeout= or use a faster model/device.", item=self.what)

    def report(self, percent: float) -> None:
        """Report progress (clamped to [0, 100], never going backwards)."""
        value = min(100.0, max(0.0, float(percent)))
        if value <= self._last or self._progress is None:
            self._last = max(self._last, value)
            return
        self._last = value
        self._progress(value)

    def warn(self, message: str) -> None:
        """Record a warning about the result (kept in :attr:`warnings`, passed to ``on_warning``)."""
        self.warnings.append(message)
        if self._on_warning is not None:
            self._on_warning(message)

    def clipping(self, writer: StemWriter) -> None:
        """Warn when ``writer`` had to clip samples to full scale (stems never clip silently)."""
        if writer.clipped:
            total = max(1, writer.written * writer.channels * len(writer.stems))
            self.warn(f"{writer.clipped} stem samples ({100.0 * writer.clipped / total:.3g} %) of {self.what} were "
                      f"above full scale and were clipped (peak {writer.peak:.4g}); lower the input level "
                      "and separate again with force=True for unclipped stems")

    @property
    def percent(self) -> float:
        """The last percentage reported (``-1`` before any)."""
        return self._last


@dataclass(frozen=True)
class ChunkPlan:
    """How a track is cut into windows, in frames.

    Attributes
    ----------
    hop : int
        Frames each window contributes on its own (> 0).
    crossfade : int
        Frames over which consecutive windows are crossfaded (>= 0, < ``hop``).
    context : int
        Extra frames read on each side of a window and dropped from its output (>= 0).
    """

    hop: int
    crossfade: int = 0
    context: int = 0

    def __post_init__(self) -> None:
        if self.hop <= 0 or self.crossfade < 0 or self.context < 0 or self.crossfade >= self.hop:
            raise ValueError(f"Invalid chunk plan {self}: need hop > crossfade >= 0 and context >= 0.")

    @classmethod
    def from_seconds(cls, *, chunk_s: float, crossfade_s: float, context_s: float, sample_rate: int) -> ChunkPlan:
        """Build a plan from durations in seconds at ``sample_rate`` Hz."""
        return cls(hop=max(1, round(chunk_s * sample_rate)), crossfade=max(0, round(crossfade_s * sample_rate)),
                   context=max(0, round(context_s * sample_rate)))

    def windows(self, total: int) -> int:
        """Number of windows for a track of ``total`` frames."""
        return max(1, -(-max(total - self.crossfade, 1) // self.hop))


@dataclass(frozen=True)
class Window:
    """One window of input.

    Attributes
    ----------
    index : int
        0-based window number.
    start : int
        Frame (in the track) of ``samples[:, 0]``.
    keep_start, keep_stop : int
        Track frames this window's output covers (context excluded).
    samples : numpy.ndarray
        ``(channels, frames)`` input, context included.
    last : bool
        ``True`` for the final window.
    """

    index: int
    start: int
    keep_start: int
    keep_stop: int
    samples: np.ndarray
    last: bool


def iter_windows(blocks: Iterable[np.ndarray], plan: ChunkPlan) -> Iterator[Window]:
    """Cut a stream of ``(channels, n)`` blocks into overlapping :class:`Window` objects.

    Only about one window of samples is held at a time; the track length need not be known.
    """
    buf: np.ndarray | None = None  # samples from frame buf_start on
    buf_start = 0
    received = 0
    index = 0
    source = iter(blocks)
    exhausted = False
    while True:
        keep_start = index * plan.hop
        need_stop = keep_start + plan.hop + plan.crossfade + plan.context
        while not exhausted and received < need_stop + 1:  # +1: know whether more follows
            try:
                block = next(source)
            except StopIteration:
                exhausted = True
                break
            if block.shape[-1] == 0:
                continue
            buf = block if buf is None else np.concatenate([buf, block], axis=1)
            received += block.shape[-1]
        if buf is None:
            return
        last = exhausted and received <= keep_start + plan.hop + plan.crossfade
        start = max(0, keep_start - plan.context)
        stop = min(received, need_stop)
        keep_stop = received if last else min(received, keep_start + plan.hop + plan.crossfade)
        samples = buf[:, start - buf_start: stop - buf_start]
        yield Window(index=index, start=start, keep_start=keep_start, keep_stop=keep_stop, samples=samples,
                     last=last)
        if last:
            return
        index += 1
        drop = max(0, (index * plan.hop - plan.context) - buf_start)
        if drop:
            buf = buf[:, drop:].copy()  # a copy, so the consumed part is freed (a view would keep it alive)
            buf_start += drop


def join_windows(windows: Iterable[tuple[Window, Stems]], plan: ChunkPlan) -> Iterator[Stems]:
    """Crossfade per-window stems into consecutive finished stretches of the track.

    Parameters
    ----------
    windows : iterable of (Window, Stems)
        Each window with its stems, covering ``window.start`` onwards (same length as its samples).
    plan : ChunkPlan
        The plan the windows were cut with.

    Yields
    ------
    Stems
        Consecutive stretches; together they cover the track exactly once.
    """
    tail: Stems | None = None
    for window, stems in windows:
        lo = window.keep_start - window.start
        hi = window.keep_stop - window.start
        cur = {name: s[:, lo:hi] for name, s in stems.items()}
        if tail is not None:
            n = min(plan.crossfade, hi - lo, *(t.shape[1] for t in tail.values()))
            fade = ((np.arange(n, dtype=np.float32) + 0.5) / max(n, 1))[None, :]
            cur = {name: np.concatenate([tail[name][:, :n] * (1 - fade) + c[:, :n] * fade, c[:, n:]], axis=1)
                   for name, c in cur.items()}
        if window.last:
            yield cur
            return
        cut = min(plan.hop, next(iter(cur.values())).shape[1])
        yield {name: c[:, :cut] for name, c in cur.items()}
        tail = {name: c[:, cut:].copy() for name, c in cur.items()}  # copies: free this window's arrays


class StemWriter:
    """Write stems as FLAC files chunk by chunk, then move them into place together.

    Files are written under hidden temporary names in ``tmp_dir`` (default:
    ``out_dir``) and moved to ``out_dir/<stem>.flac`` by :meth:`commit` only when
    every stem has exactly ``frames`` frames; :meth:`abort` (or leaving the
    ``with`` block with an exception) removes them. Samples are clipped to the
    24-bit range; the number of clipped samples is kept in :attr:`clipped`.

    Parameters
    ----------
    out_dir : pathlib.Path
        Destination folder (created).
    stems : Iterable[str]
        Stem names, used as file names (checked by the caller).
    sample_rate : int
        Sample rate of the files, in Hz.
    channels : int
        Channels of the files.
    frames : int or None
        Exact length of every file: shorter input is padded with silence, longer is
        cut. ``None``: whatever is written.
    tmp_dir : pathlib.Path, optional
        Folder for the partial files (same file system as ``out_dir``).
    """

    def __init__(self, out_dir: Path, stems: Iterable[str], *, sample_rate: int, channels: int,
                 frames: int | None, tmp_dir: Path | None = None) -> None:
        import soundfile as sf

        self.out_dir = Path(out_dir)
        self.sample_rate = sample_rate
        self.channels = channels
        self.frames = frames
        self.written = 0
        self.clipped = 0
        self.peak = 0.0
        self._files: dict[str, Any] = {}
        self._tmp: dict[str, Path] = {}
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            folder = Path(tmp_dir) if tmp_dir is not None else self.out_dir
            folder.mkdir(parents=True, exist_ok=True)
            for stem in stems:
                fd, name = tempfile.mkstemp(prefix=f".{stem}-", suffix=".flac.part", dir=folder)
                os.close(fd)
                self._tmp[stem] = Path(name)
                self._files[stem] = sf.SoundFile(name, mode="w", samplerate=sample_rate, channels=channels,
                                                 format="FLAC", subtype="PCM_24")
        except (OSError, RuntimeError) as exc:
            self.abort()
            raise StorageError(f"Cannot create stem files in {self.out_dir}: {exc}. Check the folder is "
                               "writable and has free space.", path=str(self.out_dir)) from exc

    def __enter__(self) -> StemWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is not None or self._files:
            self.abort()

    @property
    def stems(self) -> tuple[str, ...]:
        """Stem names, in order."""
        return tuple(self._tmp)

    def write(self, stems: Mapping[str, np.ndarray]) -> None:
        """Append one stretch of every stem (``(channels, n)`` each, same ``n``); past ``frames`` is dropped."""
        n = {s.shape[1] for s in stems.values()}
        if set(stems) != set(self._files) or len(n) != 1:
            raise ValueError(f"write() needs all stems {sorted(self._files)} with one length, got "
                             f"{ {k: v.shape for k, v in stems.items()} }.")
        take = n.pop() if self.frames is None else min(n.pop(), self.frames - self.written)
        if take <= 0:
            return
        for name, samples in stems.items():
            block = np.asarray(samples[:, :take], dtype=np.float32)
            if block.shape[0] != self.channels:
                raise ValueError(f"Stem {name!r} has {block.shape[0]} channels, expected {self.channels}.")
            over = np.abs(block) > PCM24_MAX
            if over.any():
                self.clipped += int(over.sum())
                self.peak = max(self.peak, float(np.max(np.abs(block))))
                block = np.clip(block, -1.0, PCM24_MAX)
            self._write(name, block.T)
        self.written += take

    def _write(self, name: str, data: np.ndarray) -> None:
        try:
            self._files[name].write(data)
        except (OSError, RuntimeError) as exc:
            raise StorageError(f"Cannot write stem {name!r} under {self.out_dir}: {exc}.",
                               path=str(self.out_dir)) from exc

    def commit(self) -> dict[str, Path]:
        """Pad to ``frames`` (if set), close, fsync and move every file into place; returns stem -> final path."""
        if self.frames is not None and self.written < self.frames:
            pad = self.frames - self.written
            for name in self._files:
                for start in range(0, pad, 1 << 20):
                    n = min(1 << 20, pad - start)
                    self._write(name, np.zeros((n, self.channels), dtype=np.float32))
            self.written = self.frames
        finals: dict[str, Path] = {}
        try:
            for name, handle in list(self._files.items()):
                handle.close()
                with open(self._tmp[name], "rb+") as raw:
                    os.fsync(raw.fileno())
            for name, tmp in self._tmp.items():
                final = self.out_dir / f"{name}.flac"
                os.replace(tmp, final)
                finals[name] = final
            fsync_dir(self.out_dir)
        except (OSError, RuntimeError) as exc:
            self.abort()
            raise StorageError(f"Cannot finish the stem files in {self.out_dir}: {exc}.",
                               path=str(self.out_dir)) from exc
        self._files.clear()
        self._tmp.clear()
        return finals

    def abort(self) -> None:
        """Close and delete the partial files (idempotent)."""
        for handle in self._files.values():
            with contextlib.suppress(Exception):
                handle.close()
        for tmp in self._tmp.values():
            tmp.unlink(missing_ok=True)
        self._files.clear()
        self._tmp.clear()


class Resampler:
    """Streaming resampler for a dict of stems (soxr, high quality), or a pass-through.

    Parameters
    ----------
    stems : Iterable[str]
        Stem names.
    channels : int
        Channels per stem.
    from_sr, to_sr : int
        Sample rates in Hz.
    """

    def __init__(self, stems: Iterable[str], *, channels: int, from_sr: int, to_sr: int) -> None:
        self.active = from_sr != to_sr
        self._streams: dict[str, Any] = {}
        if self.active:
            import soxr

            self._streams = {s: soxr.ResampleStream(from_sr, to_sr, channels, dtype="float32", quality="HQ")
                             for s in stems}

    def __call__(self, stems: Mapping[str, np.ndarray], *, last: bool = False) -> Stems:
        """Resample one stretch (``(channels, n)`` per stem); ``last=True`` flushes the filters."""
        if not self.active:
            return dict(stems)
        return {name: np.ascontiguousarray(self._streams[name].resample_chunk(
            np.ascontiguousarray(s.T, dtype=np.float32), last=last).T) for name, s in stems.items()}


def release_memory() -> None:
    """Give freed memory back to the OS between chunks, so peak RSS stays flat over many chunks.

    glibc keeps freed blocks in its arenas; after a few large, differently sized
    chunk allocations its footprint creeps up. ``malloc_trim`` (glibc only; a
    no-op elsewhere) returns the free pages.
    """
    import ctypes
    import ctypes.util
    import gc

    gc.collect()
    name = ctypes.util.find_library("c")
    if name is None:
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(name).malloc_trim(0)


def check_finite(stems: Mapping[str, np.ndarray], *, what: str) -> None:
    """Raise :class:`AudioError` when a separator produced NaN or infinite samples."""
    for name, s in stems.items():
        if not np.isfinite(s).all():
            raise AudioError(f"Separating {what} produced non-finite samples in stem {name!r}; the input may "
                             "be damaged (or the model weights are broken).", path=what, reason="non_finite")
