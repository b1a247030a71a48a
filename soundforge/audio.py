"""Audio I/O: the one place where SoundForge decodes, validates, resamples and writes audio.

WAV, FLAC, OGG (Vorbis/Opus), MP3, AIFF... are read with soundfile (libsndfile);
everything else (m4a, webm, aac, wma...) and anything libsndfile refuses goes
through an ``ffmpeg`` subprocess (list arguments, time limit). Resampling uses
soxr. Samples are ``float32`` arrays shaped ``(channels, frames)``, the layout
librosa and torch use for multichannel audio.

Validation raises :class:`~soundforge.errors.AudioError` with the file and a
``reason``: ``missing``, ``empty``, ``not_audio``, ``corrupt``, ``non_finite``,
``too_long``, ``too_short``, ``out_of_range``, ``chained`` (an Ogg file of several streams one after
another, which libsndfile would read only up to the end of the first) or ``decoder``. Digital silence
is not an error: it is reported by the ``is_silent`` flag.

Declared and decodable length must agree: a WAV/AIFF whose header declares more
frames than its data holds, a FLAC/MP3 that decodes to fewer frames than its
header says, an MP3 without a length header whose last MPEG frame is cut off,
or an Ogg file without its end-of-stream page is ``corrupt`` (the message gives
both lengths). The length of an MP3 without a Xing/Info/VBRI header is counted
from its frames (:mod:`soundforge.mpeg`), not guessed from the file size: tags and
cover art would make it seconds too long. When libsndfile fails part-way through
a lossy file, or stops short of the end of such an MP3, and ffmpeg can decode it,
decoding goes on with ffmpeg from the same frame.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import mpeg
from .errors import AudioError, DecoderNotFound

__all__ = [
    "AUDIO_EXTENSIONS",
    "MAX_PEAK",
    "MIN_AUDIO_S",
    "Audio",
    "AudioInfo",
    "ScanResult",
    "StreamResampler",
    "load",
    "probe",
    "resample",
    "scan",
    "stream",
    "to_mono",
    "write",
]

AUDIO_EXTENSIONS = frozenset(
    {"wav", "wave", "flac", "ogg", "oga", "opus", "mp3", "aif", "aiff", "aifc", "m4a", "mp4", "aac",
     "alac", "webm", "mka", "mkv", "wma", "caf", "w64", "rf64", "au"}
)
"""File extensions picked up when a folder is imported."""

SILENCE_PEAK = 1e-7
"""Peak amplitude at or below which audio counts as digital silence (about -140 dBFS)."""

_SOUNDFILE_EXT = {"wav", "wave", "flac", "ogg", "oga", "opus", "mp3", "aif", "aiff", "aifc", "caf", "w64",
                  "rf64", "au"}
_LOSSLESS_FORMATS = {"WAV", "WAVEX", "FLAC", "AIFF", "W64", "RF64", "CAF", "AU"}
_LOSSY_FORMATS = {"MP3", "OGG", "OPUS"}
_DEFAULT_MAX_S = 4 * 3600.0
_UNKNOWN_FRAMES = 1 << 62

MIN_AUDIO_S = 0.05
"""Shortest usable audio, in seconds (50 ms): shorter files are refused at import (``too_short``), by
:func:`soundforge.analysis.analyze`, with the same number and wording."""

MAX_PEAK = 2.0
"""Largest absolute sample value accepted at import (+6 dBFS). Lossy decoders and hot float masters
overshoot full scale (1.0) a little: such files import with a warning; beyond this the file is
scaled wrongly (``out_of_range``)."""


def describe_s(seconds: float) -> str:
    """A duration for messages, precise enough that two different values never print alike near a limit.

    >>> describe_s(0.04998), describe_s(3.0), describe_s(14400.5)
    ('49.98 ms', '3 s', '240 min (14400.5 s)')
    """
    if seconds < 1.0:
        return f"{seconds * 1000:.4g} ms"
    if seconds < 120.0:
        return f"{seconds:.6g} s"
    return f"{seconds / 60:.4g} min ({seconds:.7g} s)"

ProcessHook = Callable[[subprocess.Popen[bytes]], None]
"""Called with each ffmpeg subprocess (started in its own session), e.g. ``ctx.register_process``,
so a runner can kill the decoder's whole process group on timeout or cancellation."""


@dataclass(frozen=True)
class AudioInfo:
    """What a file header says, without decoding the samples.

    Attributes
    ----------
    path : pathlib.Path
    format : str
        Container/codec name, lowercase (``"flac"``, ``"mp3"``, ``"m4a"``...).
    duration_s : float
        Duration in seconds.
    sample_rate : int
        Native sample rate in Hz.
    channels : int
    frames : int
        Samples per channel (estimated for some compressed formats).
    size_bytes : int
    decoder : str
        ``"soundfile"`` or ``"ffmpeg"``.
    """

    path: Path
    format: str
    duration_s: float
    sample_rate: int
    channels: int
    frames: int
    size_bytes: int
    decoder: str


@dataclass(frozen=True, eq=False)
class Audio:
    """Decoded audio.

    Attributes
    ----------
    samples : numpy.ndarray
        ``float32`` samples, shape ``(channels, frames)``, nominal range [-1, 1].
    sample_rate : int
        Sample rate in Hz.
    path : pathlib.Path or None
        Source file, if any.
    """

    samples: np.ndarray
    sample_rate: int
    path: Path | None = None

    @property
    def channels(self) -> int:
        """Number of channels."""
        return int(self.samples.shape[0])

    @property
    def frames(self) -> int:
        """Samples per channel."""
        return int(self.samples.shape[1])

    @property
    def duration_s(self) -> float:
        """Duration in seconds."""
        return self.frames / float(self.sample_rate)

    @property
    def peak(self) -> float:
        """Largest absolute sample value."""
        return float(np.max(np.abs(self.samples))) if self.samples.size else 0.0

    @property
    def is_silent(self) -> bool:
        """``True`` for digital silence (peak at or below :data:`SILENCE_PEAK`)."""
        return self.peak <= SILENCE_PEAK

    def mono(self) -> np.ndarray:
        """Channel average, shape ``(frames,)``."""
        return to_mono(self.samples)


@dataclass(frozen=True)
class ScanResult:
    """Outcome of :func:`scan`: a whole file decoded block by block and checked.

    Attributes
    ----------
    info : AudioInfo
    frames : int
        Frames actually decoded.
    peak : float
        Largest absolute sample value.
    is_silent : bool
        Digital silence (see :data:`SILENCE_PEAK`).
    """

    info: AudioInfo
    frames: int
    peak: float
    is_silent: bool

    @property
    def duration_s(self) -> float:
        """Decoded duration in seconds."""
        return self.frames / float(self.info.sample_rate)


def to_mono(samples: np.ndarray) -> np.ndarray:
    """Average channels: ``(channels, frames)`` or ``(frames,)`` -> ``(frames,)`` float32."""
    if samples.ndim == 1:
        return samples.astype(np.float32, copy=False)
    return samples.mean(axis=0, dtype=np.float32)


def _check_path(path: str | Path) -> Path:
    p = Path(path).expanduser()
    if not p.exists():
        raise AudioError(f"Audio file {p} does not exist. Check the path.", path=p, reason="missing")
    if not p.is_file():
        raise AudioError(f"{p} is not a regular file. Give the path of an audio file.", path=p, reason="not_audio")
    if p.stat().st_size == 0:
        raise AudioError(f"Audio file {p} is empty (0 bytes). Re-download or re-export it.", path=p, reason="empty")
    return p


def _ext(path: Path) -> str:
    return path.suffix.lower().lstrip(".")


def _soundfile_info(path: Path) -> AudioInfo | None:
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except (RuntimeError, sf.LibsndfileError, TypeError):
        return None
    fmt = {"WAVEX": "wav", "OGG": "opus" if info.subtype == "OPUS" else "ogg"}.get(info.format, info.format.lower())
    frames = int(info.frames)
    if frames >= _UNKNOWN_FRAMES:
        # libsndfile's "length unknown" (a FLAC written to a pipe has no total in its STREAMINFO): it cannot
        # decode such a file to its end either; ffmpeg can, and counts its frames
        return None
    if fmt == "mp3":
        # Without a Xing/Info/VBRI header libsndfile's length is a guess from the file size (tags included) and
        # the first frame's bitrate; the frames themselves say how long the stream is.
        walked = mpeg.scan(path)
        if walked is not None and walked.header_samples is None and walked.samples > 0:
            frames = walked.samples
    return AudioInfo(path=path, format=fmt, duration_s=frames / float(info.samplerate),
                     sample_rate=int(info.samplerate), channels=int(info.channels), frames=frames,
                     size_bytes=path.stat().st_size, decoder="soundfile")


def _ffmpeg_tool(ffmpeg: str, tool: str) -> str:
    exe = shutil.which(ffmpeg)
    if exe is None:
        raise DecoderNotFound(
            f"ffmpeg ({ffmpeg!r}) is needed to decode this format but was not found. Install it "
            "(Debian/Ubuntu: 'sudo apt-get install ffmpeg'; macOS: 'brew install ffmpeg'; conda: "
            "'conda install -c conda-forge ffmpeg') or set SOUNDFORGE_FFMPEG to its path.",
            reason="decoder")
    if tool == "ffmpeg":
        return exe
    sibling = Path(exe).with_name(tool)
    return str(sibling) if sibling.exists() else (shutil.which(tool) or tool)


def _ffprobe_info(path: Path, *, ffmpeg: str, timeout_s: float) -> AudioInfo:
    cmd = [_ffmpeg_tool(ffmpeg, "ffprobe"), "-v", "error", "-select_streams", "a:0", "-show_entries",
           "stream=codec_name,sample_rate,channels,duration:format=format_name,duration", "-of", "json",
           "--", str(path)]
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as exc:
        raise AudioError(f"Reading the header of {path} took over {timeout_s:.0f} s; the file may be damaged.",
                         path=path, reason="corrupt") from exc
    except OSError as exc:
        raise DecoderNotFound(f"Could not run ffprobe to read {path}: {exc}. Install ffmpeg (which includes "
                              "ffprobe).", path=path, reason="decoder") from exc
    try:
        meta = json.loads(proc.stdout or b"{}")
    except json.JSONDecodeError:
        meta = {}
    streams = meta.get("streams") or []
    if proc.returncode != 0 or not streams:
        detail = proc.stderr.decode(errors="replace").strip().splitlines()
        why = detail[-1] if detail else "no audio stream found"
        raise AudioError(f"{path} is not a readable audio file ({why}). Check it plays in a media player, "
                         "or re-export it as WAV/FLAC.", path=path, reason="not_audio")
    stream = streams[0]
    try:
        sr = int(stream["sample_rate"])
        channels = int(stream["channels"])
    except (KeyError, TypeError, ValueError) as exc:
        raise AudioError(f"{path} has an audio stream without sample rate or channel count.",
                         path=path, reason="not_audio") from exc
    duration = stream.get("duration") or (meta.get("format") or {}).get("duration") or 0.0
    try:
        duration_s = float(duration)
    except (TypeError, ValueError):
        duration_s = 0.0
    frames = round(duration_s * sr) if duration_s > 0 else _ffmpeg_count_frames(path, ffmpeg=ffmpeg, sr=sr,
                                                                                 timeout_s=timeout_s)
    fmt = _ext(path) or str(stream.get("codec_name", "unknown"))
    return AudioInfo(path=path, format=fmt, duration_s=frames / float(sr), sample_rate=sr, channels=channels,
                     frames=frames, size_bytes=path.stat().st_size, decoder="ffmpeg")


def _ffmpeg_count_frames(path: Path, *, ffmpeg: str, sr: int, timeout_s: float) -> int:
    """Frames of the first audio stream, counted by decoding it (for streams whose header gives no length:
    a FLAC written to a pipe, some raw streams). One byte per frame goes through the pipe."""
    cmd = [_ffmpeg_tool(ffmpeg, "ffmpeg"), "-nostdin", "-v", "error", "-i", str(path), "-map", "0:a:0", "-f", "u8",
           "-acodec", "pcm_u8", "-ac", "1", "-ar", str(sr), "-"]
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as exc:
        raise AudioError(f"Counting the samples of {path} (its header gives no length) took over {timeout_s:.0f} s; "
                         "the file may be damaged.", path=path, reason="corrupt") from exc
    except OSError as exc:
        raise DecoderNotFound(f"Could not run ffmpeg to read {path}: {exc}. Install ffmpeg.", path=path,
                              reason="decoder") from exc
    if proc.returncode != 0:
        detail = proc.stderr.decode(errors="replace").strip().splitlines()
        why = detail[-1] if detail else f"ffmpeg exited with {proc.returncode}"
        raise AudioError(f"{path} could not be decoded to count its samples ({why}). Re-export it as WAV/FLAC.",
                         path=path, reason="corrupt")
    return len(proc.stdout)


def probe(path: str | Path, *, max_duration_s: float | None = _DEFAULT_MAX_S, ffmpeg: str = "ffmpeg",
          timeout_s: float = 60.0) -> AudioInfo:
    """Read an audio file's header (format, duration, rate, channels) without decoding it.

    Parameters
    ----------
    path : str or pathlib.Path
        Audio file.
    max_duration_s : float or None
        Longest accepted duration in seconds; ``None`` for no limit.
    ffmpeg : str
        ffmpeg executable, used when soundfile cannot read the file.
    timeout_s : float
        Time limit for ffprobe, in seconds.

    Returns
    -------
    AudioInfo

    Raises
    ------
    AudioError
        Missing, empty, not audio, zero frames or longer than ``max_duration_s``.
    """
    p = _check_path(path)
    info = _soundfile_info(p) if _ext(p) in _SOUNDFILE_EXT or _ext(p) == "" else None
    if info is None:
        info = _ffprobe_info(p, ffmpeg=ffmpeg, timeout_s=timeout_s)
    if info.frames <= 0 and info.decoder == "soundfile" and info.format in ("ogg", "opus") \
            and not _ogg_complete(p):
        raise AudioError(f"Audio file {p} is truncated: it ends without its end-of-stream page and no length can be "
                         "read from it (0 frames decodable). Re-download or re-export it.", path=p, reason="corrupt")
    if info.frames <= 0 and info.decoder == "soundfile":
        raise AudioError(f"Audio file {p} has zero frames (no samples). Re-export it.", path=p, reason="empty")
    if info.decoder == "soundfile" and info.format in ("ogg", "opus"):
        _check_ogg_links(p, info)
    if max_duration_s is not None and info.duration_s > max_duration_s:
        raise too_long(p, info.duration_s, max_duration_s)
    return info


def too_long(path: Path, duration_s: float, max_duration_s: float) -> AudioError:
    """The ``too_long`` error, worded the same wherever a length limit is checked."""
    return AudioError(
        f"Audio file {path} lasts {describe_s(duration_s)}, over the limit of {describe_s(max_duration_s)}. "
        "Raise the limit (SOUNDFORGE_MAX_AUDIO_S or max_duration_s=) or split the file.",
        path=path, reason="too_long", duration_s=duration_s)


def too_short(what: str, duration_s: float, *, path: Path | None = None) -> AudioError:
    """The ``too_short`` error (under :data:`MIN_AUDIO_S`), worded the same at import and in analysis."""
    return AudioError(f"{what} is {describe_s(duration_s)} long; at least {describe_s(MIN_AUDIO_S)} are needed. "
                      "Use a longer recording.", path=path, reason="too_short", duration_s=duration_s)


def declared_frames(path: Path) -> int | None:
    """Frames a WAV or AIFF header declares (``None``: not such a file, or a streaming header with no length).

    libsndfile quietly shortens a WAV/AIFF whose data chunk runs past the end of the file; the
    header's own count is what the file was meant to hold.
    """
    import struct

    try:
        with open(path, "rb") as handle:
            head = handle.read(12)
            if len(head) < 12:
                return None
            if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
                block_align = fmt_tag = 0
                while True:
                    chunk = handle.read(8)
                    if len(chunk) < 8:
                        return None
                    cid, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
                    if cid == b"fmt ":
                        body = handle.read(size + (size & 1))
                        if len(body) < 16:
                            return None
                        fmt_tag, block_align = struct.unpack("<H", body[:2])[0], struct.unpack("<H", body[12:14])[0]
                    elif cid == b"data":
                        if fmt_tag not in (1, 3, 0xFFFE) or block_align == 0 or size in (0, 0xFFFFFFFF):
                            return None
                        return size // block_align
                    else:
                        handle.seek(size + (size & 1), 1)
            if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
                while True:
                    chunk = handle.read(8)
                    if len(chunk) < 8:
                        return None
                    cid, size = chunk[:4], struct.unpack(">I", chunk[4:])[0]
                    if cid == b"COMM":
                        body = handle.read(6)
                        return struct.unpack(">I", body[2:6])[0] if len(body) == 6 else None
                    handle.seek(size + (size & 1), 1)
    except (OSError, struct.error):
        return None
    return None


def _ogg_complete(path: Path) -> bool:
    """Whether an Ogg file ends with a whole end-of-stream page (a cut file loses it, or part of it)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(0, size - 65536))
            tail = handle.read()
    except OSError:
        return True
    at = tail.rfind(b"OggS")
    if at < 0 or at + 27 > len(tail) or not tail[at + 5] & 0x04:
        return False
    segments = tail[at + 26]
    table = tail[at + 27: at + 27 + segments]
    return len(table) == segments and at + 27 + segments + sum(table) <= len(tail)


def _ogg_links(path: Path, *, max_pages: int = 1_000_000) -> list[int]:
    """Last granule position of each link of an Ogg file, in order: one link for a normal file, several for a
    chained one (streams one after another, as stream recordings and some concatenation tools write them).

    A link starts at a beginning-of-stream page that follows other pages (the BOS pages of streams
    multiplexed side by side come together at the start of a link). Damaged stretches are skipped to
    the next ``OggS`` capture pattern.
    """
    import mmap

    links: list[int] = []
    try:
        with open(path, "rb") as handle:
            handle.seek(0, 2)
            if handle.tell() < 27:
                return links
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buf:
                at, in_header, pages = buf.find(b"OggS"), False, 0
                while at >= 0 and at + 27 <= len(buf) and pages < max_pages:
                    pages += 1
                    bos = bool(buf[at + 5] & 0x02)
                    if bos and not in_header:
                        links.append(0)
                    in_header = bos
                    granule = int.from_bytes(buf[at + 6:at + 14], "little", signed=True)
                    if links and granule >= 0:
                        links[-1] = max(links[-1], granule)
                    segments = buf[at + 26]
                    body = sum(buf[at + 27:at + 27 + segments])
                    nxt = at + 27 + segments + body
                    at = nxt if buf[nxt:nxt + 4] == b"OggS" else buf.find(b"OggS", at + 1)
    except (OSError, ValueError):
        return []
    return links


def _check_ogg_links(path: Path, info: AudioInfo) -> None:
    """Refuse a chained Ogg file: libsndfile reads only its first link and would silently drop the rest."""
    import shlex

    links = _ogg_links(path)
    if len(links) > 1:
        raise AudioError(f"Audio file {path} is a chained Ogg file: {len(links)} streams one after another (as stream "
                         f"recordings are); it would be read only up to the end of the first "
                         f"({describe_s(info.duration_s)}). Convert it to one stream first, e.g. "
                         f"{shlex.join(['ffmpeg', '-i', str(path), '-c:a', 'flac', str(path.with_suffix('.flac'))])}"
                         ", and use that file.", path=path,
                         reason="chained", links=len(links))


def _check_block(block: np.ndarray, path: Path) -> None:
    if not np.isfinite(block).all():
        raise AudioError(f"Audio file {path} contains NaN or infinite samples; it is damaged. Re-export it.",
                         path=path, reason="non_finite")


def _truncated(info: AudioInfo, decoded: int, declared: int) -> AudioError:
    sr = float(info.sample_rate)
    return AudioError(f"Audio file {info.path} is truncated: its header declares {describe_s(declared / sr)} "
                      f"({declared} frames) but only {describe_s(decoded / sr)} ({decoded} frames) decode. "
                      "Re-download or re-export it.", path=info.path, reason="corrupt", declared_frames=declared,
                      decoded_frames=decoded)


def _check_mpeg_end(path: Path) -> mpeg.MpegScan | None:
    """The frame walk of an MP3 without a length header (None when it has one, or is no MPEG stream), refusing
    one whose last frame is cut off: nothing else tells such a file from a shorter song (one with a Xing/Info
    header is checked against the length it declares)."""
    walked = mpeg.scan(path)
    if walked is None or walked.header_samples is not None:
        return None
    if walked.complete:
        return walked
    sr = float(walked.sample_rate)
    raise AudioError(f"Audio file {path} is truncated: it ends in the middle of an MPEG frame ({walked.missing_bytes} "
                     f"bytes of it are missing) after {describe_s(walked.samples / sr)} ({walked.samples} frames) of "
                     "audio; the end of the file was cut off. Re-download or re-export it.", path=path,
                     reason="corrupt", decoded_frames=walked.samples)


def _soundfile_blocks(info: AudioInfo, block_frames: int, *, ffmpeg: str = "ffmpeg", timeout_s: float = 600.0,
                      on_process: ProcessHook | None = None) -> Iterator[np.ndarray]:
    import soundfile as sf

    path = info.path
    fmt = info.format.upper()
    if (fmt == "OGG" or fmt == "OPUS") and not _ogg_complete(path):
        raise AudioError(f"Audio file {path} is truncated: it ends without its end-of-stream page (the last "
                         "part of the file is missing). Re-download or re-export it.", path=path, reason="corrupt")
    walked = _check_mpeg_end(path) if fmt == "MP3" else None
    declared = declared_frames(path) if fmt in _LOSSLESS_FORMATS else None
    expected = max(info.frames, declared or 0)
    total = 0
    failure: Exception | None = None
    try:
        with sf.SoundFile(str(path)) as handle:
            while True:
                data = handle.read(block_frames, dtype="float32", always_2d=True)
                if data.shape[0] == 0:
                    break
                total += data.shape[0]
                yield data.T
    except (RuntimeError, sf.LibsndfileError) as exc:
        failure = exc
    # libsndfile stops at its own size-based length estimate, short of the end of a variable-bitrate MP3
    # without a Xing header: ffmpeg decodes the rest
    stopped_short = failure is None and walked is not None and total < walked.samples - 1152
    if walked is not None and stopped_short and shutil.which(ffmpeg) is None:
        sr = float(info.sample_rate)
        raise AudioError(f"Audio file {path} holds {describe_s(walked.samples / sr)} of MPEG frames but libsndfile "
                         f"decodes only {describe_s(total / sr)} of it (a variable-bitrate MP3 without a Xing "
                         "header). Install ffmpeg so that SoundForge can decode all of it.", path=path,
                         reason="decoder", declared_frames=walked.samples, decoded_frames=total)
    if failure is not None or stopped_short:
        if fmt not in _LOSSY_FORMATS or shutil.which(ffmpeg) is None:
            hint = " Installing ffmpeg may let SoundForge decode it." if fmt in _LOSSY_FORMATS else ""
            sr = float(info.sample_rate)
            raise AudioError(f"Audio file {path} is corrupt or truncated ({failure}): {describe_s(total / sr)} "
                             f"({total} frames) decode of the {describe_s(expected / sr)} ({expected} frames) its "
                             f"header declares. Re-download or re-export it.{hint}", path=path, reason="corrupt",
                             declared_frames=expected, decoded_frames=total) from failure
        # libsndfile refuses (or stops short of the end of) some valid lossy files that ffmpeg decodes: go on
        # from the same frame
        skip = total
        ff_info = AudioInfo(path=path, format=info.format, duration_s=info.duration_s, sample_rate=info.sample_rate,
                            channels=info.channels, frames=info.frames, size_bytes=info.size_bytes, decoder="ffmpeg")
        for block in _ffmpeg_blocks(ff_info, block_frames, ffmpeg=ffmpeg, timeout_s=timeout_s,
                                    on_process=on_process):
            if skip >= block.shape[1]:
                skip -= block.shape[1]
                continue
            block = block[:, skip:]
            skip = 0
            total += block.shape[1]
            yield block
        return
    if fmt in _LOSSLESS_FORMATS and total < expected:
        raise _truncated(info, total, expected)
    if fmt == "MP3" and total < expected - max(1152, expected // 200):  # one MPEG-1 frame of decoder slack
        raise _truncated(info, total, expected)


def _ffmpeg_blocks(info: AudioInfo, block_frames: int, *, ffmpeg: str, timeout_s: float,
                   on_process: ProcessHook | None = None) -> Iterator[np.ndarray]:
    import threading

    path = info.path
    cmd = [_ffmpeg_tool(ffmpeg, "ffmpeg"), "-nostdin", "-v", "error", "-i", str(path), "-map", "0:a:0",
           "-f", "f32le", "-acodec", "pcm_f32le", "-ac", str(info.channels), "-ar", str(info.sample_rate), "-"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    if on_process is not None:
        on_process(proc)
    timed_out = threading.Event()

    def _kill() -> None:
        timed_out.set()
        proc.kill()

    timer = threading.Timer(timeout_s, _kill)
    timer.start()
    stderr_chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: stderr_chunks.append(proc.stderr.read() if proc.stderr else b""),
                              daemon=True)
    reader.start()
    bytes_per_block = block_frames * info.channels * 4
    produced = 0
    try:
        assert proc.stdout is not None
        while True:
            raw = proc.stdout.read(bytes_per_block)
            if not raw:
                break
            usable = len(raw) - len(raw) % (4 * info.channels)
            block = np.frombuffer(raw[:usable], dtype="<f4").reshape(-1, info.channels).T
            produced += block.shape[1]
            yield block
        proc.wait()
    finally:
        timer.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        reader.join(timeout=5)
    if proc.returncode != 0 or produced == 0:
        detail = b"".join(stderr_chunks).decode(errors="replace").strip().splitlines()
        if timed_out.is_set():
            why = f"decoding took over {timeout_s:.0f} s"
        else:
            why = detail[-1] if detail else "no samples decoded"
        raise AudioError(f"ffmpeg could not decode {path} ({why}). The file may be corrupt; re-download it.",
                         path=path, reason="corrupt" if produced or proc.returncode else "empty")


def stream(path: str | Path, *, block_s: float = 30.0, sr: int | None = None, mono: bool = False,
           max_duration_s: float | None = _DEFAULT_MAX_S, ffmpeg: str = "ffmpeg",
           timeout_s: float = 600.0, on_process: ProcessHook | None = None) -> Iterator[tuple[AudioInfo, np.ndarray]]:
    """Decode a file block by block, so long files never sit in memory whole.

    Parameters
    ----------
    path : str or pathlib.Path
        Audio file.
    block_s : float
        Block length in seconds (of the native rate; the last block is shorter).
    sr : int, optional
        Resample to this rate (soxr, streaming); default: native rate.
    mono : bool
        Average channels.
    max_duration_s : float or None
        See :func:`probe`.
    ffmpeg : str
        ffmpeg executable for formats soundfile cannot read.
    timeout_s : float
        Time limit of an ffmpeg decode, in seconds.
    on_process : callable, optional
        Called with the ffmpeg subprocess when one is started (see :data:`ProcessHook`).

    Yields
    ------
    (AudioInfo, numpy.ndarray)
        The file's info and a ``float32`` block shaped ``(channels, n)`` (``(1, n)`` when ``mono``).

    Raises
    ------
    AudioError
        As :func:`probe`, plus ``corrupt`` (decode error, truncation) and ``non_finite``.
    """
    info = probe(path, max_duration_s=max_duration_s, ffmpeg=ffmpeg, timeout_s=min(timeout_s, 60.0))
    if sr is not None and sr <= 0:
        raise AudioError(f"Target sample rate must be positive, got {sr}.", path=info.path, reason="invalid")
    block_frames = max(1, int(block_s * info.sample_rate))
    if info.decoder == "soundfile":
        blocks = _soundfile_blocks(info, block_frames, ffmpeg=ffmpeg, timeout_s=timeout_s, on_process=on_process)
    else:
        blocks = _ffmpeg_blocks(info, block_frames, ffmpeg=ffmpeg, timeout_s=timeout_s, on_process=on_process)
    resampler = None
    if sr is not None and sr != info.sample_rate:
        import soxr

        resampler = soxr.ResampleStream(info.sample_rate, sr, 1 if mono else info.channels, dtype="float32",
                                        quality="HQ")
    pending: np.ndarray | None = None
    for block in blocks:
        _check_block(block, info.path)
        out = to_mono(block)[None, :] if mono else block
        if resampler is not None:
            if pending is not None:
                yield info, pending
            pending = np.ascontiguousarray(resampler.resample_chunk(np.ascontiguousarray(out.T)).T)
        else:
            yield info, np.ascontiguousarray(out, dtype=np.float32)
    if resampler is not None:
        tail = resampler.resample_chunk(np.zeros((0, 1 if mono else info.channels), dtype=np.float32), last=True).T
        last = tail if pending is None else np.concatenate([pending, tail], axis=1)
        if last.shape[1]:
            yield info, np.ascontiguousarray(last)


def load(path: str | Path, *, sr: int | None = None, mono: bool = False,
         max_duration_s: float | None = _DEFAULT_MAX_S, ffmpeg: str = "ffmpeg", timeout_s: float = 600.0,
         on_process: ProcessHook | None = None) -> Audio:
    """Decode a whole file into memory.

    Parameters
    ----------
    path : str or pathlib.Path
        Audio file.
    sr : int, optional
        Resample to this rate in Hz (soxr); default: native rate.
    mono : bool
        Average channels (result shape ``(1, frames)``).
    max_duration_s : float or None
        Longest accepted duration in seconds (checked from the header, before decoding).
    ffmpeg : str
        ffmpeg executable for formats soundfile cannot read.
    timeout_s : float
        Time limit of an ffmpeg decode, in seconds.

    Returns
    -------
    Audio
        ``samples`` shaped ``(channels, frames)``, ``float32``.

    Raises
    ------
    AudioError
        Missing, empty, not audio, corrupt/truncated, NaN/Inf samples, zero frames, too long.
    """
    parts: list[np.ndarray] = []
    info: AudioInfo | None = None
    for block_info, block in stream(path, block_s=60.0, sr=sr, mono=mono, max_duration_s=max_duration_s,
                                    ffmpeg=ffmpeg, timeout_s=timeout_s, on_process=on_process):
        info = block_info
        parts.append(block)
    if info is None or not parts or sum(p.shape[1] for p in parts) == 0:
        p = Path(path)
        raise AudioError(f"Audio file {p} decodes to zero samples. Re-export it.", path=p, reason="empty")
    samples = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)
    return Audio(samples=np.ascontiguousarray(samples, dtype=np.float32), sample_rate=sr or info.sample_rate,
                 path=info.path)


def scan(path: str | Path, *, max_duration_s: float | None = _DEFAULT_MAX_S, ffmpeg: str = "ffmpeg",
         timeout_s: float = 600.0, on_process: ProcessHook | None = None) -> ScanResult:
    """Decode a whole file block by block (constant memory) and check every sample.

    Used to validate imports and downloads: catches truncation, decode errors
    and NaN/Inf anywhere in the file, and measures the peak for the silence flag.

    Returns
    -------
    ScanResult

    Raises
    ------
    AudioError
        As :func:`load`.
    """
    frames = 0
    peak = 0.0
    info: AudioInfo | None = None
    for block_info, block in stream(path, block_s=30.0, max_duration_s=max_duration_s, ffmpeg=ffmpeg,
                                    timeout_s=timeout_s, on_process=on_process):
        info = block_info
        frames += block.shape[1]
        if block.size:
            peak = max(peak, float(np.max(np.abs(block))))
    if info is None or frames == 0:
        p = Path(path)
        raise AudioError(f"Audio file {p} decodes to zero samples. Re-export it.", path=p, reason="empty")
    return ScanResult(info=info, frames=frames, peak=peak, is_silent=peak <= SILENCE_PEAK)


def resample(samples: np.ndarray, *, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample with soxr (high quality).

    Parameters
    ----------
    samples : numpy.ndarray
        ``(frames,)`` or ``(channels, frames)``.
    orig_sr, target_sr : int
        Sample rates in Hz.

    Returns
    -------
    numpy.ndarray
        Same layout, ``float32``.
    """
    if orig_sr <= 0 or target_sr <= 0:
        raise AudioError(f"Sample rates must be positive (got {orig_sr} -> {target_sr}).", reason="invalid")
    if orig_sr == target_sr:
        return samples.astype(np.float32, copy=False)
    import soxr

    if samples.ndim == 1:
        return soxr.resample(samples.astype(np.float32, copy=False), orig_sr, target_sr, quality="HQ")
    out = soxr.resample(np.ascontiguousarray(samples.T, dtype=np.float32), orig_sr, target_sr, quality="HQ")
    return np.ascontiguousarray(out.T)


class StreamResampler:
    """Resample a stream of blocks with soxr, keeping the filter state between blocks.

    The concatenated output equals (to soxr's precision) resampling the whole
    signal at once, so callers can process long files block by block.

    Parameters
    ----------
    orig_sr, target_sr : float
        Sample rates in Hz (non-integer rates are allowed, e.g. 5512.5).
    channels : int
        Channels of every block.

    Examples
    --------
    >>> rs = StreamResampler(orig_sr=44100, target_sr=22050, channels=1)
    >>> parts = [rs.push(np.zeros((1, 4410), np.float32)) for _ in range(3)] + [rs.flush()]
    >>> sum(p.shape[1] for p in parts)
    6615
    """

    def __init__(self, *, orig_sr: float, target_sr: float, channels: int = 1) -> None:
        if orig_sr <= 0 or target_sr <= 0 or channels < 1:
            raise AudioError(f"Cannot resample {channels} channel(s) from {orig_sr} Hz to {target_sr} Hz: "
                             "rates and channel count must be positive.", reason="invalid")
        import soxr

        self.orig_sr, self.target_sr, self.channels = orig_sr, target_sr, channels
        self._stream = soxr.ResampleStream(orig_sr, target_sr, channels, dtype="float32", quality="HQ")

    def push(self, block: np.ndarray) -> np.ndarray:
        """Resample one ``(channels, n)`` block; returns ``(channels, m)`` float32 (m may be 0)."""
        out = self._stream.resample_chunk(np.ascontiguousarray(block.T, dtype=np.float32))
        return np.ascontiguousarray(out.reshape(-1, self.channels).T)

    def flush(self) -> np.ndarray:
        """Return the samples still held in the filter, ``(channels, m)``; call once at the end."""
        out = self._stream.resample_chunk(np.zeros((0, self.channels), dtype=np.float32), last=True)
        return np.ascontiguousarray(out.reshape(-1, self.channels).T)


def write(path: str | Path, samples: np.ndarray, *, sample_rate: int, subtype: str | None = None) -> Path:
    """Write ``(channels, frames)`` or ``(frames,)`` samples with soundfile (format from the extension).

    Callers inside a workspace write to a temporary path from
    :meth:`soundforge.storage.Storage.atomic_path`, so partial files never appear.

    Parameters
    ----------
    path : str or pathlib.Path
        Destination; ``.flac`` defaults to 24-bit PCM, ``.wav`` to 32-bit float.
    samples : numpy.ndarray
        Audio samples.
    sample_rate : int
        Sample rate in Hz.
    subtype : str, optional
        soundfile subtype (``"PCM_16"``, ``"PCM_24"``, ``"FLOAT"``...).
    """
    import soundfile as sf

    p = Path(path)
    data = samples.T if samples.ndim == 2 else samples
    fmt = {".flac": "FLAC", ".wav": "WAV", ".ogg": "OGG"}.get(p.suffix.lower())
    if subtype is None:
        subtype = {".flac": "PCM_24", ".wav": "FLOAT", ".ogg": "VORBIS"}.get(p.suffix.lower())
    try:
        sf.write(str(p), data, sample_rate, subtype=subtype, format=fmt)
    except (RuntimeError, sf.LibsndfileError, TypeError, ValueError) as exc:
        raise AudioError(f"Could not write audio to {p}: {exc}.", path=p, reason="write") from exc
    return p
