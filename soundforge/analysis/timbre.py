"""Timbre and energy: MFCC, spectral shape, zero-crossing rate and RMS per STFT frame.

All series come from the one shared power spectrum (see
:mod:`soundforge.analysis.frontend`) and follow librosa's definitions at
22,050 Hz, 2048-sample frames, 512-sample hop, on the magnitude spectrum
``S = sqrt(power)`` with bin frequencies ``f``:

=====================  ====================================================================  ===========
series                 definition                                                            unit
=====================  ====================================================================  ===========
``rms``                ``sqrt(mean(frame ** 2))`` of the (centred) signal frame               full scale
``zcr``                sign changes within the frame / frame length                          0..1
``centroid``           ``sum(f * S) / sum(S)``                                               Hz
``bandwidth``          ``sqrt(sum(S * (f - centroid) ** 2) / sum(S))``                        Hz
``rolloff``            lowest ``f`` with ``cumsum(S) >= 0.85 * sum(S)``                      Hz
``flatness``           ``gmean(S**2) / mean(S**2)`` (power floored at 1e-10)                 0..1
``contrast``           per octave band (<200, 200-400, ... 6.4-11 kHz): dB of the mean of    dB
                       the top 2 % of bins minus dB of the bottom 2 % (every 2nd frame)
``mfcc``               DCT-II (orthonormal) of ``10 * log10(mel power)``, 128 Slaney mel     dB-like
                       bands 0-11,025 Hz (:func:`mel_filterbank`), first 13 coefficients
=====================  ====================================================================  ===========

Differences from librosa's defaults, for blockwise processing: the log-mel
spectrum is floored at 1e-10 (-100 dB) instead of 80 dB below the file's
maximum (``top_db``), which only changes frames of near-silence.
"""

from __future__ import annotations

import numpy as np

__all__ = ["N_MELS", "N_MFCC", "TimbreFrames", "contrast_bands", "mel_filterbank", "mel_frequencies"]

N_MELS = 128
"""Mel bands of the shared mel spectrogram."""
N_MFCC = 13
"""MFCC coefficients kept."""
_CONTRAST_FMIN = 200.0
_CONTRAST_BANDS = 6
_QUANTILE = 0.02
_ROLL_PERCENT = 0.85
_AMIN = 1e-10


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: ``f / (200 / 3)`` below 1 kHz, logarithmic (step ln(6.4) / 27) above."""
    f = np.asarray(f, dtype=float)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-12) / min_log_hz) / logstep, f / f_sp)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=float)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


def mel_filterbank(*, sr: float, n_fft: int, n_mels: int = N_MELS, fmax: float | None = None) -> np.ndarray:
    """Slaney-style mel filterbank, ``(n_mels, n_fft // 2 + 1)`` float32.

    Triangular filters on Slaney's mel scale from 0 Hz to ``fmax`` (default ``sr / 2``), each
    normalised to unit area (``2 / bandwidth``): the same matrix as librosa's default
    ``librosa.filters.mel(sr=, n_fft=, n_mels=)`` (tested), computed here so the analysis does
    not depend on librosa's API.
    """
    fmax = sr / 2.0 if fmax is None else fmax
    fft_freqs = np.linspace(0.0, sr / 2.0, n_fft // 2 + 1)
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(np.array(0.0)), _hz_to_mel(np.array(fmax)), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2:n_mels + 2] - mel_f[:n_mels]))[:, None]
    return weights.astype(np.float32)


def mel_frequencies(*, n_mels: int, fmax: float) -> np.ndarray:
    """Centre frequencies (Hz) of the ``n_mels`` bands of :func:`mel_filterbank`."""
    return _mel_to_hz(np.linspace(_hz_to_mel(np.array(0.0)), _hz_to_mel(np.array(fmax)), n_mels + 2))[1:-1]


def contrast_bands(freqs: np.ndarray) -> list[np.ndarray]:
    """Bin indices of the spectral-contrast octave bands (librosa's layout, ``fmin=200``, 6 bands + 1)."""
    edges = np.zeros(_CONTRAST_BANDS + 2)
    edges[1:] = _CONTRAST_FMIN * 2.0 ** np.arange(_CONTRAST_BANDS + 1)
    bands = []
    for k in range(_CONTRAST_BANDS + 1):
        current = (freqs >= edges[k]) & (freqs <= edges[k + 1])
        idx = np.flatnonzero(current)
        if k > 0 and idx.size:
            current[idx[0] - 1] = True
        if k == _CONTRAST_BANDS and idx.size:
            current[idx[-1] + 1:] = True
        idx = np.flatnonzero(current)
        if k < _CONTRAST_BANDS:
            idx = idx[:-1]
        bands.append(idx)
    return bands


def _rolloff_bins(mag: np.ndarray, total: np.ndarray, *, block: int = 32) -> np.ndarray:
    """Index of the first bin where the cumulative magnitude reaches :data:`_ROLL_PERCENT` of ``total``.

    Two-level search (block sums, then bins within the block): the same answer as
    ``argmax(cumsum(mag) >= 0.85 * total)`` with a short cumulative sum per frame.
    """
    n, bins = mag.shape
    pad = (-bins) % block
    padded = np.pad(mag, ((0, 0), (0, pad))) if pad else mag
    blocks = padded.reshape(n, -1, block).sum(axis=2, dtype=np.float64)
    target = _ROLL_PERCENT * total.astype(np.float64)
    cum_blocks = np.cumsum(blocks, axis=1)
    k = np.minimum(np.argmax(cum_blocks >= target[:, None] * (1 - 1e-7), axis=1), blocks.shape[1] - 1)
    before = np.where(k > 0, cum_blocks[np.arange(n), k - 1], 0.0)
    inner = np.take_along_axis(padded.reshape(n, -1, block), k[:, None, None], axis=1)[:, 0, :]
    cum_inner = before[:, None] + np.cumsum(inner, axis=1, dtype=np.float64)
    j = np.argmax(cum_inner >= target[:, None] * (1 - 1e-7), axis=1)
    return np.minimum(k * block + j, bins - 1)


class TimbreFrames:
    """Per-frame timbre series, accumulated block by block.

    Parameters
    ----------
    sr : int
        Sample rate of the frames, Hz.
    n_fft : int
        Frame length, samples.
    """

    def __init__(self, *, sr: int, n_fft: int) -> None:
        import scipy.fft

        self._dct = scipy.fft.dct
        self.freqs = np.linspace(0.0, sr / 2.0, n_fft // 2 + 1).astype(np.float32)
        self.mel_bands = mel_filterbank(sr=sr, n_fft=n_fft)
        self._mel_t = np.ascontiguousarray(self.mel_bands.T)
        self._bands = contrast_bands(self.freqs)
        self._n_frames = 0
        self._parts: dict[str, list[np.ndarray]] = {k: [] for k in
                                                    ("rms", "zcr", "centroid", "bandwidth", "rolloff",
                                                     "flatness", "contrast", "mfcc")}

    def push(self, frames: np.ndarray, power: np.ndarray, *, full: bool = True) -> np.ndarray:
        """Add frames ``(n, n_fft)`` and their power spectrum ``(n, bins)``; returns mel power ``(n, n_mels)``.

        With ``full=False`` only the mel power is computed (nothing is stored).
        """
        if not full:
            return power @ self._mel_t
        parts = self._parts
        parts["rms"].append(np.sqrt(np.mean(np.square(frames, dtype=np.float32), axis=1)))
        signs = np.signbit(frames)
        parts["zcr"].append(np.count_nonzero(signs[:, 1:] != signs[:, :-1], axis=1).astype(np.float32)
                            / frames.shape[1])
        mag = np.sqrt(power)
        total = mag.sum(axis=1)
        safe = np.where(total > 0, total, 1.0)
        centroid = (mag @ self.freqs) / safe
        spread = (mag @ (self.freqs ** 2)) / safe - centroid ** 2
        parts["centroid"].append(np.where(total > 0, centroid, 0.0).astype(np.float32))
        parts["bandwidth"].append(np.sqrt(np.maximum(spread, 0.0)).astype(np.float32))
        parts["rolloff"].append(np.where(total > 0, self.freqs[_rolloff_bins(mag, total)], 0.0).astype(np.float32))
        floored = np.maximum(power, _AMIN)
        flat = np.exp(np.mean(np.log(floored), axis=1)) / np.mean(floored, axis=1)
        parts["flatness"].append(flat.astype(np.float32))
        # Contrast only feeds a mean: every second frame (frames overlap by 75 %) gives the same mean at half
        # the cost of its partial sorts. Odd/even is counted over the whole stream, not per block.
        first = self._n_frames % 2
        parts["contrast"].append(self._contrast(mag[first::2]))
        self._n_frames += mag.shape[0]
        mel = power @ self._mel_t
        log_mel = 10.0 * np.log10(np.maximum(mel, _AMIN))
        parts["mfcc"].append(self._dct(log_mel, type=2, norm="ortho", axis=1)[:, :N_MFCC].astype(np.float32))
        return mel

    def _contrast(self, mag: np.ndarray) -> np.ndarray:
        out = np.empty((mag.shape[0], len(self._bands)), dtype=np.float32)
        for k, idx in enumerate(self._bands):
            sub = mag[:, idx]
            q = max(1, round(_QUANTILE * idx.size))
            if q == 1:
                valley, peak = sub.min(axis=1), sub.max(axis=1)
            else:
                part = np.partition(sub, (q - 1, idx.size - q), axis=1)
                valley = part[:, :q].mean(axis=1)
                peak = part[:, idx.size - q:].mean(axis=1)
            out[:, k] = 10.0 * (np.log10(np.maximum(peak, _AMIN)) - np.log10(np.maximum(valley, _AMIN)))
        return out

    def result(self) -> dict[str, np.ndarray]:
        """Concatenated series: 1-D ``(n_frames,)`` arrays; ``contrast`` ``(n, 7)``; ``mfcc`` ``(n_frames, 13)``."""
        out = {}
        for key, parts in self._parts.items():
            width = {"contrast": _CONTRAST_BANDS + 1, "mfcc": N_MFCC}.get(key)
            empty = np.zeros((0, width) if width else 0, dtype=np.float32)
            out[key] = np.concatenate(parts) if parts else empty
        return out
