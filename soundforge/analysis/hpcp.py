"""Harmonic pitch class profiles (HPCP) and key profiles, after Gómez (2006) and Essentia's ``KeyExtractor``.

A numpy port of the key pipeline that Essentia's ``KeyExtractor`` runs with its
default parameters (read from Essentia's sources: ``keyextractor.cpp``,
``spectralpeaks.cpp``/``peakdetection.cpp``, ``spectralwhitening.cpp``,
``hpcp.cpp``, ``key.cpp``), so that no Essentia install is needed:

1. *Frames*: Hann-windowed frames of 93 ms with a 93 ms hop (4096 samples at
   44.1 kHz; here 2048 samples at 22.05 kHz, every fourth frame of the shared
   STFT of :mod:`soundforge.analysis.frontend`: the same frequency grid,
   10.8 Hz bins). Magnitudes are scaled as for a window normalised to an area
   of 2, so a full-scale sinusoid reads 1.
2. *Spectral peaks* (:func:`spectral_peaks`): local maxima of the linear
   magnitude spectrum between 25 and 3500 Hz above 1e-4 (-80 dBFS),
   parabolically interpolated, the 60 strongest per frame.
3. *Spectral whitening* (:func:`whiten_peaks`): each peak is re-levelled
   against a smoothed spectral envelope (peaks at or above it count 0 dB,
   those down to 30 dB below it count their distance, weaker ones nothing)
   with a tilt of -5 dB/kHz, so loud low notes do not drown the rest.
4. *HPCP* (:func:`hpcp`): every peak adds its squared whitened magnitude to
   the pitch class it falls in, with a cosine weight across a one-semitone
   window, and (``harmonics=4``) to the pitch classes of the fundamentals it
   could be a harmonic of: a fifth below (3rd harmonic) and a major third below
   (5th harmonic), with Essentia's harmonic weights. 12 bins, referenced to
   the tuning frequency.
5. *Key* (:func:`key_correlations`): the HPCP averaged over frames is scaled to
   max 1, bins below 0.2 are zeroed, and the result is correlated (Pearson)
   with the 12 rotations of a major and a minor profile; the default profile
   set is ``"bgate"`` (Faraldo, Jordà & Herrera 2017), Essentia's default.

Two differences with Essentia: the reference frequency is not one number
(``KeyExtractor`` takes it as a parameter, 440 Hz by default) but five
references across the semitone, over which :mod:`soundforge.analysis.tonal`
averages the key correlations weighted by the measured tuning histogram and a
prior over concert pitch (one :func:`mean_hpcp` on a 60-bin grid reads all
five; each is unwrapped to within half a semitone of the measured tuning); and
pitch class 0 is C rather than A.

References
----------
E. Gómez, "Tonal description of polyphonic audio for music content processing",
INFORMS Journal on Computing 18(3), 294-304, 2006.
Á. Faraldo, S. Jordà, P. Herrera, "A multi-profile method for key estimation in
EDM", AES Conference on Semantic Audio, 2017.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

__all__ = ["FRAME_STEP", "MAX_HZ", "MAX_PEAKS", "MIN_HZ", "PEAK_THRESHOLD", "PROFILES", "PcpPeaks", "hpcp",
           "key_correlations", "mean_hpcp", "spectral_peaks", "whiten_peaks"]

FRAME_STEP = 4
"""HPCP frames are every ``FRAME_STEP``-th frame of the shared STFT (hop 2048 samples at 22.05 kHz = 92.9 ms)."""
MIN_HZ = 25.0
"""Lowest spectral peak used, Hz (``KeyExtractor`` minFrequency)."""
MAX_HZ = 3500.0
"""Highest spectral peak used, Hz (``KeyExtractor`` maxFrequency)."""
PEAK_THRESHOLD = 1e-4
"""Smallest peak magnitude (full-scale sinusoid = 1), ``KeyExtractor`` spectralPeaksThreshold."""
MAX_PEAKS = 60
"""Peaks kept per frame, strongest first (``KeyExtractor`` maximumSpectralPeaks)."""
PCP_THRESHOLD = 0.2
"""Bins of the peak-normalised mean HPCP below this are zeroed before the key fit (``KeyExtractor`` pcpThreshold)."""

# Essentia key.cpp, profile tables (pitch class 0 = tonic). "bgate", "braw" and "edma" also carry an "other"
# profile used only with useMajMin, which KeyExtractor leaves off.
PROFILES: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "bgate": ((1.00, 0.00, 0.42, 0.00, 0.53, 0.37, 0.00, 0.77, 0.00, 0.38, 0.21, 0.30),
              (1.00, 0.00, 0.36, 0.39, 0.00, 0.38, 0.00, 0.74, 0.27, 0.00, 0.42, 0.23)),
    "braw": ((1.0000, 0.1573, 0.4200, 0.1570, 0.5296, 0.3669, 0.1632, 0.7711, 0.1676, 0.3827, 0.2113, 0.2965),
             (1.0000, 0.2330, 0.3615, 0.3905, 0.2925, 0.3777, 0.1961, 0.7425, 0.2701, 0.2161, 0.4228, 0.2272)),
    "edma": ((1.00, 0.29, 0.50, 0.40, 0.60, 0.56, 0.32, 0.80, 0.31, 0.45, 0.42, 0.39),
             (1.00, 0.31, 0.44, 0.58, 0.33, 0.49, 0.29, 0.78, 0.43, 0.29, 0.53, 0.32)),
    "krumhansl": ((6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88),
                  (6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17)),
    "temperley": ((5.0, 2.0, 3.5, 2.0, 4.5, 4.0, 2.0, 4.5, 2.0, 3.5, 1.5, 4.0),
                  (5.0, 2.0, 3.5, 4.5, 2.0, 4.0, 2.0, 4.5, 3.5, 2.0, 1.5, 4.0)),
    "shaath": ((6.6, 2.0, 3.5, 2.3, 4.6, 4.0, 2.5, 5.2, 2.4, 3.7, 2.3, 3.4),
               (6.5, 2.7, 3.5, 5.4, 2.6, 3.5, 2.5, 5.2, 4.0, 2.7, 4.3, 3.2)),
    "gomez": ((0.82, 0.00, 0.55, 0.00, 0.53, 0.30, 0.08, 1.00, 0.00, 0.38, 0.00, 0.47),
              (0.81, 0.00, 0.53, 0.54, 0.00, 0.27, 0.07, 1.00, 0.27, 0.07, 0.10, 0.36)),
}
"""Major and minor key profiles by name, as tabulated in Essentia's ``key.cpp``."""

_SILENCE_CUTOFF = 1e-10
_CHUNK_FRAMES = 2048
_WHITEN_STEP_HZ = 100.0


class PcpPeaks:
    """Collects the whitened spectral peaks of HPCP frames while the audio streams through.

    Feed it the power spectra of the shared STFT (Hann window of ``n_fft`` samples); it keeps every
    :data:`FRAME_STEP`-th frame's peaks (frequency, whitened magnitude), which :func:`hpcp` turns into
    pitch class profiles once the tuning is known. Memory: 480 bytes per HPCP frame (~19 MB per hour).

    Parameters
    ----------
    sr : float
        Sample rate of the frames, Hz.
    n_fft : int
        Frame length, samples.
    """

    def __init__(self, *, sr: float, n_fft: int) -> None:
        self.sr, self.n_fft = sr, n_fft
        # |rfft(x * hann)| * 2 / sum(hann): Essentia's Windowing(normalized=True) + Spectrum scale.
        self._scale = 2.0 / (n_fft / 2.0)
        self._seen = 0
        self._freqs: list[np.ndarray] = []
        self._mags: list[np.ndarray] = []

    def push(self, power: np.ndarray) -> None:
        """Add the power spectra of ``n`` consecutive STFT frames, ``(n, n_fft // 2 + 1)``."""
        first = (-self._seen) % FRAME_STEP
        self._seen += power.shape[0]
        take = power[first::FRAME_STEP]
        if take.shape[0] == 0:
            return
        mag = np.sqrt(np.asarray(take, dtype=np.float64)) * self._scale
        freqs, mags = spectral_peaks(mag, sr=self.sr)
        white = whiten_peaks(mag, freqs, mags, sr=self.sr)
        self._freqs.append(freqs.astype(np.float32))
        self._mags.append(white.astype(np.float32))

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """``(frequencies_hz, whitened_magnitudes)``, each ``(n_hpcp_frames, MAX_PEAKS)`` float32 (0-padded)."""
        if not self._freqs:
            return np.zeros((0, MAX_PEAKS), dtype=np.float32), np.zeros((0, MAX_PEAKS), dtype=np.float32)
        return np.concatenate(self._freqs), np.concatenate(self._mags)


def spectral_peaks(magnitude: np.ndarray, *, sr: float, min_hz: float = MIN_HZ, max_hz: float = MAX_HZ,
                   threshold: float = PEAK_THRESHOLD, max_peaks: int = MAX_PEAKS) -> tuple[np.ndarray, np.ndarray]:
    """Strongest local maxima of magnitude spectra, parabolically interpolated (Essentia's ``SpectralPeaks``).

    Parameters
    ----------
    magnitude : numpy.ndarray
        Linear magnitude spectra ``(n_frames, n_bins)``, bin ``k`` at ``k * sr / (2 * (n_bins - 1))`` Hz.
    sr : float
        Sample rate, Hz.
    min_hz, max_hz : float
        Frequency range of the peaks, Hz (interpolated positions above ``max_hz`` are dropped).
    threshold : float
        Smallest peak magnitude kept (same units as ``magnitude``).
    max_peaks : int
        Peaks kept per frame, by decreasing magnitude.

    Returns
    -------
    frequencies, magnitudes : numpy.ndarray
        ``(n_frames, max_peaks)`` each, Hz and interpolated linear magnitude; unused slots are 0.
    """
    mag = np.asarray(magnitude, dtype=np.float64)
    n, size = mag.shape
    step = (sr / 2.0) / (size - 1)
    lo = max(1, math.ceil(min_hz / step))
    hi = min(size - 2, math.floor(max_hz / step) + 1)
    freqs = np.zeros((n, max_peaks))
    mags = np.zeros((n, max_peaks))
    if n == 0 or hi < lo:
        return freqs, mags
    left, mid, right = mag[:, lo - 1:hi], mag[:, lo:hi + 1], mag[:, lo + 1:hi + 2]
    is_peak = (mid > left) & (mid > right) & (mid > threshold)
    # The first bin of the range counts as a peak when the spectrum falls after it (not interpolated).
    edge = (mid[:, 0] > right[:, 0]) & (mid[:, 0] > threshold)
    denom = left - 2.0 * mid + right
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = np.where(is_peak & (denom != 0), 0.5 * (left - right) / np.where(denom != 0, denom, 1.0), 0.0)
    delta[:, 0] = np.where(edge, 0.0, delta[:, 0])
    is_peak[:, 0] |= edge
    value = mid - 0.25 * (left - right) * delta
    pos = (np.arange(lo, hi + 1)[None, :] + delta) * step
    is_peak &= pos <= max_hz
    value = np.where(is_peak, value, -np.inf)
    k = min(max_peaks, value.shape[1])
    top = np.argpartition(-value, k - 1, axis=1)[:, :k] if k < value.shape[1] else np.argsort(-value, axis=1)
    rows = np.arange(n)[:, None]
    top_val = value[rows, top]
    ok = np.isfinite(top_val)
    freqs[:, :k] = np.where(ok, pos[rows, top], 0.0)
    mags[:, :k] = np.where(ok, top_val, 0.0)
    return freqs, mags


@lru_cache(maxsize=8)
def _envelope_weights(size: int, sr: float, max_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """Grid (Hz) and ``(n_used_bins, n_grid)`` bin weights of Essentia's ``SpectralWhitening`` envelope
    (transposed, C-contiguous; bins above the last one any grid point reaches are left out)."""
    spectral_range = sr / 2.0
    grid = np.arange(0.0, min(max_hz * 1.2, spectral_range) + 1e-6, _WHITEN_STEP_HZ)
    weights = np.zeros((grid.size, size))
    for g, f in enumerate(grid):
        b = int(float(f - max(50.0, f * 0.34)) / spectral_range * (size - 1.0) + 0.5)
        e = int(float(f + max(50.0, f * 0.58)) / spectral_range * (size - 1.0) + 0.5)
        b = min(size - 1, max(b, 0))
        e = min(size, max(e, b + 1))
        c = b / 2.0 + e / 2.0
        half = e - c
        i = np.arange(b, e)
        weights[g, b:e] = (1.0 - np.abs(i - c) / half) ** 4
    used = int(np.flatnonzero(weights.any(axis=0))[-1]) + 1
    return grid, np.ascontiguousarray(weights[:, :used].T)


def _lin2db(x: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.where(x < _SILENCE_CUTOFF, -100.0, 10.0 * np.log10(np.maximum(x, _SILENCE_CUTOFF)))


def whiten_peaks(magnitude: np.ndarray, frequencies: np.ndarray, magnitudes: np.ndarray, *, sr: float,
                 max_hz: float = MAX_HZ) -> np.ndarray:
    """Peak magnitudes relative to the spectral envelope (Essentia's ``SpectralWhitening``).

    Parameters
    ----------
    magnitude : numpy.ndarray
        Linear magnitude spectra ``(n_frames, n_bins)``.
    frequencies, magnitudes : numpy.ndarray
        Peaks of each frame from :func:`spectral_peaks`, ``(n_frames, n_peaks)`` (Hz, linear; 0 = no peak).
    sr : float
        Sample rate, Hz.
    max_hz : float
        Upper frequency of the analysis, Hz (the envelope is measured up to 1.2 times this).

    Returns
    -------
    numpy.ndarray
        Whitened linear magnitudes ``(n_frames, n_peaks)``: 1 for a peak at the envelope at 0 Hz, less for
        weaker or higher peaks, 0 where there is no peak.
    """
    mag = np.asarray(magnitude, dtype=np.float64)
    grid, weights = _envelope_weights(mag.shape[1], float(sr), float(max_hz))
    energy = np.square(mag[:, :weights.shape[0]])
    num = np.square(energy) @ weights
    den = energy @ weights
    wavg = np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)
    if wavg.shape[1] >= 2:
        wavg[:, -1] = wavg[:, -2]
    env_db = 2.0 * _lin2db(np.sqrt(wavg))
    amp_db = 2.0 * _lin2db(np.asarray(magnitudes, dtype=np.float64))
    freqs = np.asarray(frequencies, dtype=np.float64)
    # Linear interpolation on the uniform envelope grid (Essentia's BPF).
    at = np.clip(freqs / _WHITEN_STEP_HZ, 0.0, grid.size - 1.0)
    j = np.minimum(at.astype(np.int64), grid.size - 2)
    frac = at - j
    rows = np.arange(freqs.shape[0])[:, None]
    env = env_db[rows, j] * (1.0 - frac) + env_db[rows, j + 1] * frac
    white = np.where(amp_db > env, 0.0, np.where(amp_db > env - 30.0, amp_db - env, -200.0)) - 20.0 * freqs / 4000.0
    white = np.where(freqs > max_hz * 1.2 - _WHITEN_STEP_HZ, amp_db, white)
    out = 10.0 ** (white / 20.0)
    return np.where(np.asarray(magnitudes) > 0, out, 0.0)


@lru_cache(maxsize=8)
def _harmonic_table(harmonics: int) -> tuple[tuple[float, float], ...]:
    """``(semitones above the fundamental, folded to an octave; weight)`` per harmonic class (Essentia's HPCP)."""
    table: list[list[float]] = []
    for i in range(harmonics + 1):
        semitone = 12.0 * math.log2(i + 1.0)
        weight = 1.0 / max(1.0, semitone / 12.0 * 0.5)
        while semitone >= 12.0 - 1e-5:
            semitone -= 12.0
        for entry in table:
            if abs(entry[0] - semitone) < 1e-5:
                entry[1] += weight
                break
        else:
            table.append([semitone, weight])
    return tuple((s, w) for s, w in table)


def hpcp(frequencies: np.ndarray, magnitudes: np.ndarray, *, reference_hz: float, size: int = 12,
         window_semitones: float = 1.0, weight: str = "cosine", harmonics: int = 4, min_hz: float = MIN_HZ,
         max_hz: float = MAX_HZ, band_split_hz: float | None = None, normalize: str = "none",
         non_linear: bool = False) -> np.ndarray:
    """Harmonic pitch class profile of each frame (Essentia's ``HPCP``).

    Parameters
    ----------
    frequencies, magnitudes : numpy.ndarray
        Spectral peaks ``(n_frames, n_peaks)``, Hz and linear magnitude (0 = no peak).
    reference_hz : float
        Frequency at the centre of bin 0, Hz (e.g. the tuned C: ``440 * 2 ** ((tuning - 9) / 12)``).
    size : int
        Bins per octave, a multiple of 12.
    window_semitones : float
        Width of the weighting window, semitones (Gómez: 4/3).
    weight : {"cosine", "squaredCosine", "none"}
        Window shape ("none": nearest bin only).
    harmonics : int
        Harmonics above the fundamental each peak is credited to (0: none).
    min_hz, max_hz : float
        Peaks outside this range are ignored, Hz.
    band_split_hz : float, optional
        When set, peaks below and above it make two profiles, each normalised as ``normalize`` says, then summed.
    normalize : {"none", "unitMax", "unitSum"}
        Per-frame normalisation.
    non_linear : bool
        Gómez's non-linear mapping ``sin(x * pi / 2) ** 2``, values below 0.6 shrunk further (needs unitMax).

    Returns
    -------
    numpy.ndarray
        ``(n_frames, size)``; bin ``i`` is ``i * 12 / size`` semitones above ``reference_hz``.
    """
    freqs = np.asarray(frequencies, dtype=np.float64)
    mags = np.asarray(magnitudes, dtype=np.float64)
    n = freqs.shape[0]
    if n > _CHUNK_FRAMES:          # frames are independent: bound the temporaries on hour-long files
        return np.concatenate([
            hpcp(freqs[i:i + _CHUNK_FRAMES], mags[i:i + _CHUNK_FRAMES], reference_hz=reference_hz, size=size,
                 window_semitones=window_semitones, weight=weight, harmonics=harmonics, min_hz=min_hz,
                 max_hz=max_hz, band_split_hz=band_split_hz, normalize=normalize, non_linear=non_linear)
            for i in range(0, n, _CHUNK_FRAMES)])
    res = size / 12
    valid = (freqs >= min_hz) & (freqs <= max_hz) & (mags > 0)
    bands = [valid] if band_split_hz is None else [valid & (freqs < band_split_hz), valid & (freqs >= band_split_hz)]
    half = res * window_semitones / 2.0
    span = math.floor(2 * half) + 1          # most bins a window can cover
    rows = np.broadcast_to(np.arange(n)[:, None], freqs.shape)
    outs = []
    for band in bands:
        out = np.zeros(n * size)
        f, m2, r = freqs[band], mags[band] ** 2, rows[band]
        base = np.log2(f / reference_hz) * size
        for semitone, strength in _harmonic_table(harmonics):
            pos = base - semitone * res
            contrib = m2 * strength * strength
            if weight == "none":
                idx = np.round(pos).astype(np.int64) % size
                out += np.bincount(r * size + idx, weights=contrib, minlength=n * size)
                continue
            left = np.ceil(pos - half)
            right = np.floor(pos + half)
            for k in range(span):
                i = left + k
                inside = i <= right
                d = np.abs(pos - i) / res / window_semitones
                w = np.cos(np.pi * d)
                if weight == "squaredCosine":
                    w = w * w
                idx = i.astype(np.int64) % size
                out += np.bincount(r * size + idx, weights=np.where(inside, w * contrib, 0.0), minlength=n * size)
        outs.append(_normalise(out.reshape(n, size), normalize))
    result = outs[0] if len(outs) == 1 else _normalise(outs[0] + outs[1], normalize)
    if non_linear:
        result = np.sin(result * np.pi / 2) ** 2
        result = np.where(result < 0.6, result * (result / 0.6) ** 2, result)
    return result


def mean_hpcp(frequencies: np.ndarray, magnitudes: np.ndarray, *, reference_hz: float, size: int = 12) -> np.ndarray:
    """Frame mean of the unnormalised :func:`hpcp` (default window, weights and harmonics), ``(size,)``.

    The same numbers as ``hpcp(...).mean(axis=0)``, computed chunk by chunk without the per-frame
    array (with no per-frame normalisation, every peak adds to the mean independently), so that a
    fine grid (``size = 12 * k``) costs no ``(n_frames, size)`` memory on an hour-long file.

    Parameters
    ----------
    frequencies, magnitudes : numpy.ndarray
        Spectral peaks ``(n_frames, n_peaks)``, Hz and linear magnitude (0 = no peak).
    reference_hz : float
        Frequency at the centre of bin 0, Hz.
    size : int
        Bins per octave, a multiple of 12.

    Returns
    -------
    numpy.ndarray
        ``(size,)``; zeros when there are no frames.
    """
    freqs = np.asarray(frequencies, dtype=np.float64)
    mags = np.asarray(magnitudes, dtype=np.float64)
    n = freqs.shape[0]
    total = np.zeros(size)
    for i in range(0, n, _CHUNK_FRAMES):     # a chunk's peaks as one frame: its row of hpcp is their sum
        total += hpcp(freqs[i:i + _CHUNK_FRAMES].reshape(1, -1), mags[i:i + _CHUNK_FRAMES].reshape(1, -1),
                      reference_hz=reference_hz, size=size)[0]
    return total / n if n else total


def _normalise(x: np.ndarray, how: str) -> np.ndarray:
    if how == "unitMax":
        top = x.max(axis=-1, keepdims=True)
        return np.where(top > 0, x / np.where(top > 0, top, 1.0), x)
    if how == "unitSum":
        total = x.sum(axis=-1, keepdims=True)
        return np.where(total > 0, x / np.where(total > 0, total, 1.0), x)
    return x


def _profile_bins(profile: tuple[float, ...], size: int) -> np.ndarray:
    """A 12-value profile linearly interpolated to ``size`` bins (Essentia ``Key::resize``)."""
    p = np.asarray(profile, dtype=float)
    n = size // 12
    out = np.empty(size)
    for i in range(12):
        incr = (p[i] - p[(i + 1) % 12]) / n
        out[i * n:(i + 1) * n] = p[i] - np.arange(n) * incr
    return out


def key_correlations(pcp: np.ndarray, *, profile: str = "bgate", threshold: float = PCP_THRESHOLD) -> np.ndarray:
    """Correlation of a mean HPCP with the 24 keys (Essentia's ``Key`` as ``KeyExtractor`` configures it).

    The profile is scaled to max 1, bins below ``threshold`` are zeroed; a profile of more than 12 bins is
    rotated so its strongest bin sits on a tempered pitch (averageDetuningCorrection). Each key's score is
    the Pearson correlation with the rotated major or minor profile (for more than 12 bins, the best of the
    rotations that round down to that key, as Essentia's key index does).

    Parameters
    ----------
    pcp : numpy.ndarray
        ``(size,)`` mean HPCP, bin 0 = C, ``size`` a multiple of 12.
    profile : str
        A key of :data:`PROFILES`.
    threshold : float
        Gate applied after scaling to max 1.

    Returns
    -------
    numpy.ndarray
        ``(24,)`` correlations in :data:`soundforge.analysis.tonal.KEY_NAMES` order; zeros for a flat profile.
    """
    x = np.asarray(pcp, dtype=float).copy()
    size = x.size
    top = x.max() if size else 0.0
    if size == 0 or top <= 0:
        return np.zeros(24)
    x /= top
    if threshold > 0:
        x[x < threshold] = 0.0
    res = size // 12
    if res > 1:
        peak = int(np.argmax(x)) % res
        x = np.roll(x, -(peak - res if peak > res // 2 else peak))
    xc = x - x.mean()
    sx = math.sqrt(float(xc @ xc))
    out = np.zeros(24)
    if sx == 0:
        return out
    for mode, prof in enumerate(PROFILES[profile]):
        p = _profile_bins(prof, size)
        pc = p - p.mean()
        sp = math.sqrt(float(pc @ pc))
        corr = np.array([float(xc @ np.roll(pc, s)) for s in range(size)]) / (sx * sp)
        out[12 * mode:12 * mode + 12] = corr.reshape(12, res).max(axis=1)
    return out
