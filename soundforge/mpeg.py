"""MPEG audio (MP3) streams: how many samples a file really holds, and whether its end is missing.

libsndfile (through mpg123) reads an MP3's length from its Xing/Info or VBRI header when it has one,
which LAME and ffmpeg write by default. Without such a header there is no declared length: mpg123
estimates one from the file size and the first frame's bitrate, counting the tags too, so an MP3 with
embedded cover art or long ID3 comments "lasts" seconds longer than it decodes, and a variable-bitrate
stream can be off by any amount. :func:`scan` walks the MPEG frame headers instead (ISO/IEC 11172-3,
13818-3; the layout every MP3 parser reads, e.g. mutagen or ffprobe ``-count_frames``) and reports the
exact number of samples the frames hold and whether the last frame is whole: a download cut short
ends in the middle of a frame.

>>> from soundforge.mpeg import scan
>>> s = scan("song.mp3")                      # doctest: +SKIP
>>> s.samples, s.sample_rate, s.complete      # doctest: +SKIP
"""

from __future__ import annotations

import mmap
from dataclasses import dataclass
from pathlib import Path

__all__ = ["MpegScan", "scan"]

_BITRATES_KBPS = {
    # (MPEG-1?, layer) -> bitrate index 1..14
    (True, 1): (32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (True, 2): (32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, 3): (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (False, 1): (32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (False, 3): (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_SAMPLE_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}
_TRAILING_TAGS = (b"TAG", b"APETAGEX", b"LYRICSBEGIN", b"ID3")
_SYNC_FRAMES = 3
"""Consecutive valid frame headers that lock the walk onto the stream (a lone 0xFFE sync pattern inside a
tag or inside audio data is not a frame)."""
_MAX_RESYNC_BYTES = 1 << 16


@dataclass(frozen=True)
class MpegScan:
    """What the frames of an MPEG audio file hold.

    Attributes
    ----------
    samples : int
        Samples per channel in the audio frames walked (a Xing/Info/VBRI header frame not counted); where
        such a header declares the length, that length, and the frames are not walked.
    sample_rate : int
        Hz, from the first frame.
    frames : int
        MPEG frames walked (or declared by the header).
    header_samples : int or None
        Samples per channel that a Xing/Info or VBRI header declares, when there is one with a frame count.
    complete : bool
        False when the last frame runs past the end of the file (the file was cut short); a partial last
        frame followed by a trailing tag counts as complete (the tag was written after the stream ended).
        True where a header declares the length (:mod:`soundforge.audio` checks it against what decodes).
    missing_bytes : int
        How many bytes the last frame lacks (0 when ``complete``).
    """

    samples: int
    sample_rate: int
    frames: int
    header_samples: int | None
    complete: bool
    missing_bytes: int


@dataclass(frozen=True)
class _Frame:
    length: int
    samples: int
    sample_rate: int
    mpeg1: bool
    mono: bool


def _frame(buf: bytes | mmap.mmap, at: int) -> _Frame | None:
    """The frame header at byte ``at``, or None when the four bytes there are not one (free format counts as not)."""
    if at + 4 > len(buf) or buf[at] != 0xFF or (buf[at + 1] & 0xE0) != 0xE0:
        return None
    b1, b2, b3 = buf[at + 1], buf[at + 2], buf[at + 3]
    version, layer_bits = (b1 >> 3) & 3, (b1 >> 1) & 3
    bitrate_index, rate_index, padding = b2 >> 4, (b2 >> 2) & 3, (b2 >> 1) & 1
    if version == 1 or layer_bits == 0 or bitrate_index in (0, 15) or rate_index == 3:
        return None
    layer = 4 - layer_bits
    mpeg1 = version == 3
    bitrate = _BITRATES_KBPS[(mpeg1, layer)][bitrate_index - 1] * 1000
    rate = _SAMPLE_RATES[version][rate_index]
    if layer == 1:
        return _Frame((12 * bitrate // rate + padding) * 4, 384, rate, mpeg1, (b3 >> 6) == 3)
    samples = 1152 if (layer == 2 or mpeg1) else 576
    return _Frame(samples // 8 * bitrate // rate + padding, samples, rate, mpeg1, (b3 >> 6) == 3)


def _header_samples(buf: bytes | mmap.mmap, at: int, frame: _Frame) -> tuple[bool, int | None]:
    """``(is_info_frame, declared_samples)`` for a Xing/Info or VBRI header in the frame at ``at``."""
    side = (17 if frame.mono else 32) if frame.mpeg1 else (9 if frame.mono else 17)
    xing = at + 4 + side
    if buf[xing:xing + 4] in (b"Xing", b"Info"):
        flags = int.from_bytes(buf[xing + 4:xing + 8], "big")
        count = int.from_bytes(buf[xing + 8:xing + 12], "big") if flags & 1 else None
        return True, None if count is None else count * frame.samples
    vbri = at + 4 + 32
    if buf[vbri:vbri + 4] == b"VBRI":
        return True, int.from_bytes(buf[vbri + 14:vbri + 18], "big") * frame.samples
    return False, None


def _skip_id3v2(buf: bytes | mmap.mmap, at: int) -> int:
    while buf[at:at + 3] == b"ID3" and at + 10 <= len(buf):
        size = 0
        for byte in buf[at + 6:at + 10]:
            size = (size << 7) | (byte & 0x7F)
        at += 10 + size + (10 if buf[at + 5] & 0x10 else 0)
    return at


def _locked(buf: bytes | mmap.mmap, at: int) -> bool:
    """Whether ``_SYNC_FRAMES`` frames follow one another from ``at`` (or the file ends after a whole one)."""
    for _ in range(_SYNC_FRAMES):
        frame = _frame(buf, at)
        if frame is None:
            return False
        at += frame.length
        if at >= len(buf):
            return at == len(buf)
    return True


def _find_stream(buf: bytes | mmap.mmap, start: int, *, limit: int) -> int | None:
    at = buf.find(b"\xff", start)
    while 0 <= at < min(len(buf), start + limit):
        if _locked(buf, at):
            return at
        at = buf.find(b"\xff", at + 1)
    return None


def _finished_with_tag(buf: bytes | mmap.mmap, at: int) -> bool:
    """Whether the file ends in a tag (ID3v1, or an APE tag footer) that starts after the frame at ``at``.

    Some encoders and editors leave the last frame partial and then append a tag: the file was finished
    after the stream ended, so it is whole as written. A download cut short has no tag after the cut.
    """
    size = len(buf)
    return any(size - back > at and buf[size - back:size - back + len(marker)] == marker
               for back, marker in ((128, b"TAG"), (32, b"APETAGEX"), (160, b"APETAGEX")))


def scan(path: str | Path) -> MpegScan | None:
    """Walk the MPEG audio frames of ``path``.

    Leading ID3v2 tags are skipped; the walk starts where three frame headers follow one another,
    stops at trailing tags (ID3v1, APE, Lyrics3, a second ID3v2), and steps over damaged stretches
    (at most 64 KiB each) to the next run of valid frames, as decoders do.

    Parameters
    ----------
    path : str or pathlib.Path
        The file.

    Returns
    -------
    MpegScan or None
        None when no MPEG audio stream is found (not an MP3, free-format bitrate, unreadable).
    """
    try:
        with open(path, "rb") as handle:
            handle.seek(0, 2)
            if handle.tell() == 0:
                return None
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buf:
                return _walk(buf)
    except (OSError, ValueError):
        return None


def _walk(buf: mmap.mmap) -> MpegScan | None:
    size = len(buf)
    at = _find_stream(buf, _skip_id3v2(buf, 0), limit=_MAX_RESYNC_BYTES)
    if at is None:
        return None
    first = _frame(buf, at)
    assert first is not None
    is_info, declared = _header_samples(buf, at, first)
    if declared is not None:  # the header says how long the stream is: decoders trust it, so do we
        return MpegScan(samples=declared, sample_rate=first.sample_rate, frames=declared // first.samples,
                        header_samples=declared, complete=True, missing_bytes=0)
    if is_info:
        at += first.length
    samples = frames = 0
    while at < size:
        frame = _frame(buf, at)
        if frame is None:
            if any(buf[at:at + len(tag)] == tag for tag in _TRAILING_TAGS):
                break
            resync = _find_stream(buf, at + 1, limit=_MAX_RESYNC_BYTES)
            if resync is None:
                break
            at = resync
            continue
        if at + frame.length > size:
            if _finished_with_tag(buf, at):  # a partial frame before a tag written after it: decoders drop it
                break
            return MpegScan(samples=samples, sample_rate=first.sample_rate, frames=frames, header_samples=None,
                            complete=False, missing_bytes=at + frame.length - size)
        samples += frame.samples
        frames += 1
        at += frame.length
    return MpegScan(samples=samples, sample_rate=first.sample_rate, frames=frames, header_samples=None,
                    complete=True, missing_bytes=0)
