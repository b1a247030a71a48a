"""Loudness: ITU-R BS.1770-4 integrated loudness, EBU Tech 3342 loudness range, sample peak.

Measured on the original-rate, original-channel signal, block by block, so a
60-minute file never sits in memory: :class:`LoudnessMeter` K-weights each
block with IIR filters whose state carries over, and keeps only the
K-weighted mean square of every 100 ms step (36,000 numbers per hour and
channel). The gating blocks of BS.1770 (400 ms, 75 % overlap) and the
short-term windows of Tech 3342 (3 s, 100 ms hop) are sums of consecutive
steps, so the result equals a whole-signal measurement.

The K-weighting filters are the two biquads of BS.1770 (a +4 dB high shelf at
1.5 kHz and the RLB high-pass at 38 Hz) designed for the file's own sample
rate with the same formulas as pyloudnorm, the reference we test against.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["LOUDNESS_FLOOR_LUFS", "PEAK_FLOOR_DBFS", "LoudnessMeter", "LoudnessResult", "k_weighting_sos"]

LOUDNESS_FLOOR_LUFS = -70.0
"""Loudness reported for signals below BS.1770's absolute gate (silence, near-silence, too short)."""

PEAK_FLOOR_DBFS = -140.0
"""Peak reported for digital silence (the :data:`soundforge.audio.SILENCE_PEAK` level)."""

_STEP_S = 0.1
_GATE_BLOCK_STEPS = 4     # 400 ms gating blocks, 75 % overlap
_SHORT_TERM_STEPS = 30    # 3 s short-term windows


@dataclass(frozen=True)
class LoudnessResult:
    """Loudness measurements of one signal.

    Attributes
    ----------
    loudness_lufs : float
        Integrated loudness (BS.1770-4, gated), LUFS; :data:`LOUDNESS_FLOOR_LUFS` when nothing
        passes the absolute gate.
    loudness_range_lu : float
        Loudness range (EBU Tech 3342), LU; 0 for signals shorter than 3 s or without gated windows.
    peak_dbfs : float
        Sample peak over all channels, dBFS (floored at :data:`PEAK_FLOOR_DBFS`).
    short_term_lufs : numpy.ndarray
        Short-term loudness every 100 ms (3 s windows), LUFS, shape ``(n,)``; empty below 3 s.
    """

    loudness_lufs: float
    loudness_range_lu: float
    peak_dbfs: float
    short_term_lufs: np.ndarray


def _biquad(kind: str, *, gain_db: float, q: float, fc: float, rate: float) -> np.ndarray:
    a_gain = 10.0 ** (gain_db / 40.0)
    w0 = 2.0 * np.pi * fc / rate
    alpha = np.sin(w0) / (2.0 * q)
    cos = np.cos(w0)
    if kind == "high_shelf":
        sq = 2.0 * np.sqrt(a_gain) * alpha
        b = [a_gain * ((a_gain + 1) + (a_gain - 1) * cos + sq), -2 * a_gain * ((a_gain - 1) + (a_gain + 1) * cos),
             a_gain * ((a_gain + 1) + (a_gain - 1) * cos - sq)]
        a = [(a_gain + 1) - (a_gain - 1) * cos + sq, 2 * ((a_gain - 1) - (a_gain + 1) * cos),
             (a_gain + 1) - (a_gain - 1) * cos - sq]
    else:  # high_pass
        b = [(1 + cos) / 2, -(1 + cos), (1 + cos) / 2]
        a = [1 + alpha, -2 * cos, 1 - alpha]
    return np.array([*(np.array(b) / a[0]), 1.0, a[1] / a[0], a[2] / a[0]])


def k_weighting_sos(rate: float) -> np.ndarray:
    """BS.1770 K-weighting as second-order sections for ``rate`` Hz, shape ``(2, 6)``."""
    return np.vstack([_biquad("high_shelf", gain_db=4.0, q=1 / np.sqrt(2.0), fc=1500.0, rate=rate),
                      _biquad("high_pass", gain_db=0.0, q=0.5, fc=38.0, rate=rate)])


def channel_weights(channels: int) -> np.ndarray:
    """BS.1770 channel weights: 1 for L, R, C; 1.41 for the surrounds; 0 for LFE (5.1 order L R C LFE Ls Rs)."""
    if channels == 6:
        return np.array([1.0, 1.0, 1.0, 0.0, 1.41, 1.41])
    return np.array([1.0 if i < 3 else 1.41 for i in range(channels)])


class LoudnessMeter:
    """Streaming BS.1770 / EBU R128 meter.

    Parameters
    ----------
    sample_rate : float
        Rate of the blocks, Hz.
    channels : int
        Channels of the blocks.

    Examples
    --------
    >>> meter = LoudnessMeter(sample_rate=48000, channels=2)
    >>> t = np.arange(48000 * 5) / 48000
    >>> x = np.tile(0.1 * np.sin(2 * np.pi * 1000 * t), (2, 1))
    >>> meter.push(x)
    >>> round(meter.result().loudness_lufs, 1)   # 1 kHz sine at -20 dBFS per channel
    -20.0
    """

    def __init__(self, *, sample_rate: float, channels: int) -> None:
        import scipy.signal

        self.sample_rate = float(sample_rate)
        self.channels = channels
        self._sos = k_weighting_sos(self.sample_rate)
        self._zi = np.zeros((2, channels, 2))
        self._sosfilt = scipy.signal.sosfilt
        self._weights = channel_weights(channels)
        self._n = 0                        # samples pushed
        self._step_sums: list[np.ndarray] = []   # (channels,) sum of squares per 100 ms step
        self._partial = np.zeros(channels)
        self._peak = 0.0

    def _boundary(self, step: int) -> int:
        return int(_STEP_S * step * self.sample_rate)

    def push(self, block: np.ndarray) -> None:
        """Add a ``(channels, n)`` block of samples."""
        if block.shape[1] == 0:
            return
        self._peak = max(self._peak, float(np.max(np.abs(block))))
        filtered, self._zi = self._sosfilt(self._sos, block.astype(np.float64, copy=False), axis=1, zi=self._zi)
        sq = filtered * filtered
        start, end = self._n, self._n + block.shape[1]
        bounds = []
        step = len(self._step_sums) + 1
        while (bound := self._boundary(step)) <= end:
            bounds.append(bound - start)
            step += 1
        edges = np.array([0, *bounds], dtype=np.int64)
        edges = edges[edges < sq.shape[1]]
        sums = np.add.reduceat(sq, edges, axis=1) if edges.size else np.zeros((self.channels, 0))
        # sums[:, k] covers [edges[k], edges[k + 1]) (the last one runs to the end of the block).
        for k in range(len(bounds)):
            part = sums[:, k] if k < sums.shape[1] else np.zeros(self.channels)
            self._step_sums.append(self._partial + part)
            self._partial = np.zeros(self.channels)
        last = bounds[-1] if bounds else 0
        tail = sums[:, len(bounds)] if len(bounds) < sums.shape[1] and last < sq.shape[1] else np.zeros(self.channels)
        self._partial = self._partial + tail
        self._n = end

    def _block_power(self, steps: np.ndarray, width: int) -> np.ndarray:
        """Channel-weighted mean square of windows of ``width`` consecutive steps, shape ``(n_windows,)``."""
        if steps.shape[0] < width:
            return np.zeros(0)
        csum = np.concatenate([np.zeros((1, steps.shape[1])), np.cumsum(steps, axis=0)])
        sums = csum[width:] - csum[:-width]
        n_samples = np.array([self._boundary(k + width) - self._boundary(k) for k in range(sums.shape[0])],
                             dtype=float)
        return (sums / n_samples[:, None]) @ self._weights

    def result(self) -> LoudnessResult:
        """Integrated loudness, loudness range and peak of everything pushed so far."""
        steps = np.array(self._step_sums) if self._step_sums else np.zeros((0, self.channels))
        power = self._block_power(steps, _GATE_BLOCK_STEPS)
        if power.size == 0 and self._n > 0:
            # Shorter than one gating block: measure the whole signal as a single block.
            total = (steps.sum(axis=0) + self._partial) / self._n
            power = np.array([float(total @ self._weights)])
        loudness = _gated_mean(power, relative_lu=-10.0)
        short = self._block_power(steps, _SHORT_TERM_STEPS)
        short_lufs = _to_lufs(short)
        lra = _loudness_range(short)
        peak = 20.0 * np.log10(max(self._peak, 10.0 ** (PEAK_FLOOR_DBFS / 20.0)))
        return LoudnessResult(loudness_lufs=loudness, loudness_range_lu=lra, peak_dbfs=float(peak),
                              short_term_lufs=np.maximum(short_lufs, LOUDNESS_FLOOR_LUFS).astype(np.float32))


def _to_lufs(power: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return -0.691 + 10.0 * np.log10(np.maximum(power, 1e-30))


def _gated_mean(power: np.ndarray, *, relative_lu: float) -> float:
    lufs = _to_lufs(power)
    above = power[lufs > LOUDNESS_FLOOR_LUFS]
    if above.size == 0:
        return LOUDNESS_FLOOR_LUFS
    gate = _to_lufs(np.array([above.mean()]))[0] + relative_lu
    kept = above[_to_lufs(above) > gate]
    return float(max(_to_lufs(np.array([kept.mean()]))[0], LOUDNESS_FLOOR_LUFS))


def _loudness_range(short_power: np.ndarray) -> float:
    lufs = _to_lufs(short_power)
    above = short_power[lufs > LOUDNESS_FLOOR_LUFS]
    if above.size < 2:
        return 0.0
    gate = _to_lufs(np.array([above.mean()]))[0] - 20.0
    kept = _to_lufs(above)
    kept = kept[kept > gate]
    if kept.size < 2:
        return 0.0
    low, high = np.percentile(kept, [10.0, 95.0])
    return float(high - low)
