"""The shared front end: decode once, frame once, transform once, block by block.

One pass over the audio feeds every feature:

* the original-rate, original-channel blocks go to the loudness meter;
* the mono mix, resampled to :data:`ANALYSIS_SR` (22,050 Hz), is cut into
  centred frames (:data:`N_FFT` = 2048 samples, 93 ms; hop :data:`HOP` = 512,
  23.2 ms, the layout of ``librosa.stft(center=True)``) whose power spectrum
  is computed once and shared by the mel bands (MFCC, onset envelope), the
  spectral shape features, RMS and zero-crossing rate;
* the same signal, resampled again to :data:`TONAL_SR` (5,512.5 Hz), is cut
  into long frames (:data:`TONAL_N_FFT` = 4096 samples, 743 ms; hop 512 =
  92.9 ms, exactly four analysis hops) whose 1.35 Hz bins resolve semitones
  down to the bass register: the tonal analysis reads pitch from them;
* every fourth STFT frame (hop 2048 samples, 93 ms) also gives the 60
  strongest whitened spectral peaks from which the key's harmonic pitch class
  profile is built (:mod:`soundforge.analysis.hpcp`).

Only compact per-frame series are kept (about 40 numbers per 23 ms frame,
a pitch salience vector and 120 peak values per 93 ms frame), so memory grows
by ~45 MB per hour of audio whatever the block size, and results do not depend on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import audio
from ..errors import AudioError
from . import hpcp as _hpcp
from . import loudness as _loudness
from . import rhythm as _rhythm
from . import timbre as _timbre
from . import tonal as _tonal

__all__ = ["ANALYSIS_SR", "HOP", "N_FFT", "TONAL_HOP", "TONAL_N_FFT", "TONAL_SR", "Framer", "FrontEnd",
           "FrontEndResult", "Source", "blocks_from"]

ANALYSIS_SR = 22050
"""Sample rate of the analysis signal (mono), Hz."""
N_FFT = 2048
"""STFT frame length at :data:`ANALYSIS_SR`, samples."""
HOP = 512
"""STFT hop at :data:`ANALYSIS_SR`, samples (frame rate 43.07 Hz)."""
TONAL_SR = ANALYSIS_SR / 4
"""Sample rate of the tonal signal, Hz (5,512.5 Hz: pitches up to 2.7 kHz)."""
TONAL_N_FFT = 4096
"""Tonal frame length, samples (743 ms)."""
TONAL_HOP = 512
"""Tonal hop, samples (92.9 ms = 4 analysis hops)."""
BLOCK_S = 30.0
"""Length of the decoded blocks, seconds of audio."""


class Framer:
    """Cut a stream of samples into centred, overlapping frames.

    Equivalent to ``librosa.util.frame`` on the signal zero-padded by
    ``n_fft // 2`` at both ends (``librosa.stft(center=True, pad_mode="constant")``):
    a signal of ``n`` samples gives ``1 + n // hop`` frames, frame ``i`` centred
    on sample ``i * hop``.

    Parameters
    ----------
    n_fft : int
        Frame length, samples (even).
    hop : int
        Hop, samples.
    """

    def __init__(self, *, n_fft: int, hop: int) -> None:
        self.n_fft, self.hop = n_fft, hop
        self._buf = np.zeros(n_fft // 2, dtype=np.float32)
        self.n_in = 0
        self.n_out = 0

    def _take(self, buf: np.ndarray, limit: int | None = None) -> np.ndarray:
        n = (buf.size - self.n_fft) // self.hop + 1 if buf.size >= self.n_fft else 0
        if limit is not None:
            n = min(n, limit)
        if n <= 0:
            self._buf = buf                   # keep the samples: they start the next frame
            return np.zeros((0, self.n_fft), dtype=np.float32)
        frames = np.lib.stride_tricks.sliding_window_view(buf, self.n_fft)[:: self.hop][:n]
        self._buf = buf[n * self.hop:].copy()
        self.n_out += n
        return frames

    def push(self, samples: np.ndarray) -> np.ndarray:
        """Add samples ``(n,)``; returns the frames now complete, ``(frames, n_fft)`` (a read-only view)."""
        self.n_in += samples.size
        return self._take(np.concatenate([self._buf, samples.astype(np.float32, copy=False)]))

    def finish(self) -> np.ndarray:
        """Pad the end and return the last frames."""
        total = 1 + self.n_in // self.hop
        buf = np.concatenate([self._buf, np.zeros(self.n_fft // 2, dtype=np.float32)])
        return self._take(buf, limit=total - self.n_out)


def _window(n: int) -> np.ndarray:
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)).astype(np.float32)   # periodic Hann


def power_spectrum(frames: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Power spectrum ``|rfft(frame * window)|**2`` of each frame, ``(frames, n_fft // 2 + 1)`` float32."""
    import scipy.fft

    if frames.shape[0] == 0:
        return np.zeros((0, window.size // 2 + 1), dtype=np.float32)
    spec = scipy.fft.rfft(frames * window, axis=1)
    return (spec.real * spec.real + spec.imag * spec.imag).astype(np.float32, copy=False)


@dataclass
class FrontEndResult:
    """What one pass over the audio produced (frame-level series and global measurements).

    Attributes
    ----------
    duration_s : float
        Duration of the input, seconds.
    sample_rate : int
        Original sample rate, Hz.
    channels : int
        Original channel count.
    loudness : LoudnessResult
    timbre : dict of numpy.ndarray
        Per-frame timbre series from :class:`soundforge.analysis.timbre.TimbreFrames`.
    onset : numpy.ndarray
        Onset strength per analysis frame ``(3, n_frames)``: low/mid/high band spectral flux.
    pitch : numpy.ndarray
        Fine pitch salience per tonal frame, ``(n_tonal_frames, n_fine_bins)``.
    tuning_hist : numpy.ndarray
        Magnitude-weighted histogram of spectral-peak deviations from the 440 Hz grid.
    tonal_prominence : numpy.ndarray
        Per tonal frame, how far the strongest spectral peaks stand above the median level, dB
        (noise ~10 dB, notes 25-50 dB), ``(n_tonal_frames,)``.
    level_db : numpy.ndarray
        Level of the mono mix per analysis frame, dBFS (RMS over the frame; -200 for digital silence),
        ``(n_frames,)``: what the rhythm and key estimators use to tell music from silence.
    pcp_peaks : tuple of numpy.ndarray
        ``(frequencies_hz, whitened_magnitudes)`` of the HPCP frames (every fourth STFT frame), each
        ``(n_hpcp_frames, 60)``, from :class:`soundforge.analysis.hpcp.PcpPeaks`; empty without tonal analysis.
    audible_onset : numpy.ndarray
        Per analysis frame, the largest onset band's mean rise above its simultaneous masking threshold, dB
        ``(n_frames,)`` (:attr:`soundforge.analysis.rhythm.OnsetFlux.audible`): whether anything audibly starts.
    loudest_channel_db : float
        Level of the loudest channel over the loudest block (RMS, dBFS; -200 for digital silence): with
        ``level_db`` it tells a silent file from one whose channels cancel in the mono mix.
    """

    duration_s: float
    sample_rate: int
    channels: int
    loudness: _loudness.LoudnessResult
    timbre: dict[str, np.ndarray]
    onset: np.ndarray
    pitch: np.ndarray
    tuning_hist: np.ndarray
    level_db: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))
    tonal_prominence: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))
    audible_onset: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))
    loudest_channel_db: float = -200.0
    pcp_peaks: tuple[np.ndarray, np.ndarray] = field(
        default_factory=lambda: (np.zeros((0, _hpcp.MAX_PEAKS), dtype=np.float32),
                                 np.zeros((0, _hpcp.MAX_PEAKS), dtype=np.float32)))


class FrontEnd:
    """Accumulates every frame-level series from blocks of decoded audio.

    Parameters
    ----------
    sample_rate : int
        Rate of the blocks pushed, Hz.
    channels : int
        Channels of the blocks pushed.
    """

    def __init__(self, *, sample_rate: int, channels: int, tonal: bool = True, timbre: bool = True,
                 loudness: bool = True) -> None:
        self.sample_rate, self.channels = sample_rate, channels
        self.do_tonal, self.do_timbre, self.do_loudness = tonal, timbre, loudness
        self.meter = _loudness.LoudnessMeter(sample_rate=sample_rate, channels=channels)
        self._to_analysis = (audio.StreamResampler(orig_sr=sample_rate, target_sr=ANALYSIS_SR, channels=1)
                             if sample_rate != ANALYSIS_SR else None)
        self._to_tonal = audio.StreamResampler(orig_sr=ANALYSIS_SR, target_sr=TONAL_SR, channels=1)
        self._framer = Framer(n_fft=N_FFT, hop=HOP)
        self._tonal_framer = Framer(n_fft=TONAL_N_FFT, hop=TONAL_HOP)
        self._window = _window(N_FFT)
        self._tonal_window = _window(TONAL_N_FFT)
        self.timbre = _timbre.TimbreFrames(sr=ANALYSIS_SR, n_fft=N_FFT)
        self.onset = _rhythm.OnsetFlux(mel_bands=self.timbre.mel_bands, sr=ANALYSIS_SR)
        self.pitch = _tonal.PitchSalience(sr=TONAL_SR, n_fft=TONAL_N_FFT)
        self.pcp_peaks = _hpcp.PcpPeaks(sr=ANALYSIS_SR, n_fft=N_FFT)
        self.frames_in = 0
        self._levels: list[np.ndarray] = []
        self._loudest_channel = 0.0

    def push(self, block: np.ndarray) -> None:
        """Add a ``(channels, n)`` float32 block at the original rate."""
        self.frames_in += block.shape[1]
        if block.size:   # mean square of each channel, without a squared copy of the block
            self._loudest_channel = max(self._loudest_channel,
                                        float(np.einsum("ij,ij->i", block, block).max()) / block.shape[1])
        if self.do_loudness:
            self.meter.push(block)
        mono = audio.to_mono(block)[None, :]
        if self._to_analysis is not None:
            mono = self._to_analysis.push(mono)
        self._analyse(mono[0])

    def _analyse(self, y: np.ndarray, *, last: bool = False) -> None:
        frames = self._framer.finish() if last else self._framer.push(y)
        if frames.shape[0]:
            power = power_spectrum(frames, self._window)
            mel = self.timbre.push(frames, power, full=self.do_timbre)
            self.onset.push(mel)
            if self.do_tonal:
                self.pcp_peaks.push(power)
            ms = np.mean(np.square(frames, dtype=np.float32), axis=1)
            self._levels.append((10.0 * np.log10(np.maximum(ms, 1e-20))).astype(np.float32))
        if not self.do_tonal:
            return
        tonal_y = self._to_tonal.flush()[0] if last else self._to_tonal.push(y[None, :])[0]
        tframes = self._tonal_framer.push(tonal_y)
        if last:
            tframes = np.concatenate([tframes, self._tonal_framer.finish()])
        if tframes.shape[0]:
            self.pitch.push(power_spectrum(tframes, self._tonal_window))

    def finish(self) -> FrontEndResult:
        """Flush the resamplers and framers; return the series."""
        if self._to_analysis is not None:
            tail = self._to_analysis.flush()[0]
            if tail.size:
                self._analyse(tail)
        self._analyse(np.zeros(0, dtype=np.float32), last=True)
        return FrontEndResult(duration_s=self.frames_in / float(self.sample_rate), sample_rate=self.sample_rate,
                              channels=self.channels, loudness=self.meter.result(), timbre=self.timbre.result(),
                              onset=self.onset.result(), pitch=self.pitch.result(),
                              tuning_hist=self.pitch.tuning_hist.copy(),
                              level_db=np.concatenate(self._levels) if self._levels
                              else np.zeros(0, dtype=np.float32),
                              tonal_prominence=self.pitch.prominence(), pcp_peaks=self.pcp_peaks.result(),
                              audible_onset=self.onset.audible,
                              loudest_channel_db=10.0 * float(np.log10(max(self._loudest_channel, 1e-20))))


@dataclass(frozen=True)
class Source:
    """Decoded audio as a stream of blocks.

    Attributes
    ----------
    sample_rate : int
        Hz.
    channels : int
    frames : int
        Expected samples per channel (from the header for files; may be an estimate for compressed formats).
    blocks : Iterator[numpy.ndarray]
        ``(channels, n)`` float32 blocks of up to :data:`BLOCK_S` seconds.
    path : pathlib.Path or None
        The file, if any.
    """

    sample_rate: int
    channels: int
    frames: int
    blocks: Iterator[np.ndarray]
    path: Path | None = None


def blocks_from(source: str | Path | np.ndarray, *, sr: int | None, max_duration_s: float | None = None) -> Source:
    """Open ``source`` as a stream of ``(channels, n)`` float32 blocks.

    Parameters
    ----------
    source : path-like or numpy.ndarray
        An audio file (decoded by :func:`soundforge.audio.stream`) or samples shaped
        ``(n,)`` or ``(channels, n)``.
    sr : int, optional
        Sample rate of an array source (required for arrays, not allowed for files).
    max_duration_s : float, optional
        Longest accepted file, seconds (default: :func:`soundforge.audio.probe`'s).

    Returns
    -------
    Source
    """
    if isinstance(source, np.ndarray):
        return _array_blocks(source, sr=sr)
    path = Path(source).expanduser()
    if sr is not None:
        raise AudioError(f"sr= is only for arrays; the sample rate of {path} is read from the file.",
                         path=path, reason="invalid")
    if max_duration_s is None:
        info = audio.probe(path)
        stream = audio.stream(path, block_s=BLOCK_S)
    else:
        info = audio.probe(path, max_duration_s=max_duration_s)
        stream = audio.stream(path, block_s=BLOCK_S, max_duration_s=max_duration_s)

    def _blocks() -> Iterator[np.ndarray]:
        for _, block in stream:
            yield block

    return Source(sample_rate=info.sample_rate, channels=info.channels, frames=info.frames, blocks=_blocks(), path=path)


def _array_blocks(samples: np.ndarray, *, sr: int | None) -> Source:
    if sr is None or sr <= 0:
        raise AudioError("Give the sample rate of an audio array: analyze(samples, sr=44100).", reason="invalid")
    if samples.ndim not in (1, 2) or samples.size == 0:
        raise AudioError(f"Audio arrays must be shaped (n,) or (channels, n) and non-empty, got {samples.shape}.",
                         reason="empty" if samples.size == 0 else "invalid")
    data = samples[None, :] if samples.ndim == 1 else samples
    if data.shape[0] > 64:
        raise AudioError(f"Audio array shaped {samples.shape} has {data.shape[0]} channels; arrays are "
                         "(channels, n), so transpose a (n, channels) array.", reason="invalid")
    if not np.issubdtype(data.dtype, np.number):
        raise AudioError(f"Audio arrays must hold numbers, got dtype {data.dtype}.", reason="invalid")
    if not np.isfinite(data).all():
        raise AudioError("The audio array contains NaN or infinite samples.", reason="non_finite")
    step = int(BLOCK_S * sr)

    def _blocks() -> Iterable[np.ndarray]:
        for i in range(0, data.shape[1], step):
            yield np.ascontiguousarray(data[:, i:i + step], dtype=np.float32)

    return Source(sample_rate=int(sr), channels=int(data.shape[0]), frames=int(data.shape[1]), blocks=iter(_blocks()))
