"""Tonal analysis: tuning, chroma, bass chroma and key.

(Work in progress: pitch salience front end.)
"""

from __future__ import annotations

import numpy as np

__all__ = ["FINE", "MIDI_HI", "MIDI_LO", "PitchSalience"]

MIDI_LO = 24
"""Lowest pitch of the salience grid (C1, 32.7 Hz)."""
MIDI_HI = 96
"""Upper end (exclusive) of the salience grid (C7, 2093 Hz)."""
FINE = 5
"""Salience bins per semitone (20 cents)."""
_N_FINE = (MIDI_HI - MIDI_LO + 1) * FINE
_TUNING_BINS = 100
_PEAK_RANGE_DB = 60.0


class PitchSalience:
    """Spectral peaks of long frames mapped to a 20-cent pitch grid, plus a tuning histogram.

    Every local maximum of a frame's power spectrum within 60 dB of the frame's
    strongest peak is located to a fraction of a bin (parabolic interpolation
    on the dB spectrum), converted to a MIDI pitch (A4 = 440 Hz) and added,
    with its magnitude, to the two nearest bins of a grid of
    :data:`FINE` bins per semitone spanning :data:`MIDI_LO` - 0.5 to
    :data:`MIDI_HI` + 0.5. The peak's deviation from the nearest equal-tempered
    pitch goes to :attr:`tuning_hist`, from which the tuning is read once the
    whole file has been seen.

    Parameters
    ----------
    sr : float
        Sample rate of the frames, Hz.
    n_fft : int
        Frame length, samples.
    """

    def __init__(self, *, sr: float, n_fft: int) -> None:
        self.bin_hz = sr / n_fft
        self.k_lo = max(2, int(np.floor(midi_to_hz(MIDI_LO - 1.0) / self.bin_hz)))
        self.k_hi = min(n_fft // 2 - 1, int(np.ceil(midi_to_hz(MIDI_HI + 1.0) / self.bin_hz)))
        self.tuning_hist = np.zeros(_TUNING_BINS)
        self._parts: list[np.ndarray] = []

    def push(self, power: np.ndarray) -> None:
        """Add the power spectra of ``n`` frames, ``(n, n_fft // 2 + 1)``."""
        n = power.shape[0]
        db = 10.0 * np.log10(np.maximum(power[:, self.k_lo - 1:self.k_hi + 2], 1e-20))
        mid = db[:, 1:-1]
        is_peak = (mid > db[:, :-2]) & (mid >= db[:, 2:])
        is_peak &= mid > (mid.max(axis=1, keepdims=True) - _PEAK_RANGE_DB)
        rows, cols = np.nonzero(is_peak)
        out = np.zeros((n, _N_FINE), dtype=np.float32)
        if rows.size:
            alpha, beta, gamma = db[rows, cols], db[rows, cols + 1], db[rows, cols + 2]
            denom = alpha - 2.0 * beta + gamma
            delta = np.where(denom < 0, 0.5 * (alpha - gamma) / np.where(denom < 0, denom, -1.0), 0.0)
            peak_db = beta - 0.25 * (alpha - gamma) * delta
            freq = (cols + self.k_lo + delta) * self.bin_hz
            midi = 69.0 + 12.0 * np.log2(freq / 440.0)
            mag = 10.0 ** (peak_db / 20.0)
            dev = midi - np.round(midi)
            hbin = np.clip(((dev + 0.5) * _TUNING_BINS).astype(int), 0, _TUNING_BINS - 1)
            self.tuning_hist += np.bincount(hbin, weights=mag, minlength=_TUNING_BINS)
            pos = (midi - (MIDI_LO - 0.5)) * FINE - 0.5
            lo = np.floor(pos).astype(int)
            frac = pos - lo
            for idx, w in ((lo, 1.0 - frac), (lo + 1, frac)):
                ok = (idx >= 0) & (idx < _N_FINE)
                flat = rows[ok] * _N_FINE + idx[ok]
                out += np.bincount(flat, weights=(mag * w)[ok], minlength=n * _N_FINE).reshape(n, _N_FINE).astype(
                    np.float32)
        self._parts.append(out)

    def result(self) -> np.ndarray:
        """Fine salience of every frame, ``(n_frames, n_fine_bins)`` float32."""
        return np.concatenate(self._parts) if self._parts else np.zeros((0, _N_FINE), dtype=np.float32)


def midi_to_hz(midi: float | np.ndarray) -> np.ndarray:
    """Frequency in Hz of a MIDI pitch (A4 = 69 = 440 Hz)."""
    return 440.0 * 2.0 ** ((np.asarray(midi, dtype=float) - 69.0) / 12.0)
