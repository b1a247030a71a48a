"""Tonal analysis: tuning, chroma, bass chroma, chords and key.

Pitch comes from the long tonal frames of the front end (743 ms, 1.35 Hz
bins; see :mod:`soundforge.analysis.frontend`): spectral peaks are located to
a fraction of a bin, so tuning is measured rather than assumed, and the
semitone salience is read on the tuned grid.

Key
---
The default estimator (``estimate_key(method="hpcp")``, analyzer v3) is the
harmonic pitch class profile pipeline of Gómez (2006) as Essentia's
``KeyExtractor`` runs it by default, ported to numpy in
:mod:`soundforge.analysis.hpcp`: whitened spectral peaks of 93 ms frames, a
12-bin HPCP on the measured tuning (harmonics credited to their
fundamentals), averaged over the file, correlated with the ``bgate`` key
profiles. On the real-recordings benchmark it scores MIREX 0.621 against
0.549 for the estimator below (docs/benchmarks.md).

The tuning is a nuisance parameter of that pipeline, and a point estimate of
it is fragile: where the tuning histogram is broad or has two peaks (old tape
transfers, voices and guitars that bend, instruments tuned apart), moving the
reference by 5-10 cents flips near-tie keys between a key and its parallel,
relative or fifth. Since analyzer v11 the key fit is therefore averaged over
:data:`TUNING_REFERENCES` references spread over the semitone, each weighted by
the share of the tonal peaks' magnitude played nearest to it
(:func:`tuning_references`) and unwrapped to within half a semitone of the
measured tuning so that all name the pitch classes alike: model averaging over
the tuning rather than a choice of one. Where the histogram is sharp (most
recordings, every synthetic song) nearly all the weight falls on the one or two
references nearest the measured tuning.

Since analyzer v12 the histogram's shares are multiplied by a prior over
concert pitch (:func:`concert_pitch_prior`): uniform over 435-450 Hz, the range
of A4 in music recorded since about 1950 (Briner, quoted by Lerch 2006). A broad
histogram (voices, bent guitar strings, inharmonic drum partials) then no longer
moves the reading to references that recorded music is rarely tuned to, while a
recording played wholly outside the range (tape transfers 45 cents flat) keeps
the histogram's own weights: a reference up to 30 cents from the music still
names its pitch classes. Nothing here is fitted to any data of this project.

Analyzer v2's estimator stays available as ``method="chroma"``:

1. *Treble chroma*: pitches C3-B6 (log-compressed salience folded to 12 pitch
   classes). The bass register is kept apart: kicks and bass harmonics blur it.
2. *Global fit*: correlation of the mean treble chroma with the Albrecht &
   Shanahan (2013) major/minor profiles, which were derived from a broad
   corpus and suit pop better than Krumhansl's probe-tone ratings.
3. *Local-key voting*: the same fit on 8-second windows; each window votes
   for its best key with its correlation, so a song that modulates or has a
   long off-key bridge is judged by most of its duration.
4. *Tonic evidence from harmony*: chords are recognised per tonal frame
   (major/minor triads, Viterbi-smoothed), and two cues common to pop point at
   the home chord: the chord the music opens with, and authentic cadences (a
   major chord resolving to the chord a fifth below).

The key is the best weighted sum of the three. Relative major and minor keys
share their scale, so their profile fits are close and not trustworthy (a
minor loop i-VI-III-VII has the relative major's tonic as its most frequent
pitch): when the relative key is within 0.45 of the winner's fit and the
harmonic evidence clearly favours it, the relative key is chosen. Likewise the
key a fifth below, within 0.15, when the cadences point at its tonic (a tonic
major-seventh chord puts the dominant key's leading tone in the statistics).
``key_confidence`` is the winner's profile correlation scaled by its margin
over the runner-up.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from . import hpcp as _hpcp

__all__ = ["FINE", "KEY_METHOD", "KEY_METHODS", "KEY_NAMES", "MIDI_HI", "MIDI_LO", "PITCH_CLASSES", "TONAL_LIFT_DB",
           "CONCERT_PITCH_HZ", "KeyEstimate", "PitchSalience", "TUNING_REFERENCES", "TonalFeatures", "chords",
           "chroma_change", "concert_pitch_prior", "estimate_key", "estimate_tuning", "harmonic_change",
           "tonal_features", "tuning_references"]

PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
"""Pitch-class names used for keys and chroma (sharps, as in the issue's key_tonic list)."""
KEY_NAMES = tuple(f"{pc} {mode}" for mode in ("major", "minor") for pc in PITCH_CLASSES)
"""The 24 keys in score order: C major ... B major, C minor ... B minor."""

MIDI_LO = 24
"""Lowest pitch of the salience grid (C1, 32.7 Hz)."""
MIDI_HI = 96
"""Upper end (exclusive) of the salience grid (C7, 2093 Hz)."""
FINE = 5
"""Salience bins per semitone (20 cents)."""
_N_FINE = (MIDI_HI - MIDI_LO + 1) * FINE
_TUNING_BINS = 100
_PEAK_RANGE_DB = 60.0
TONAL_LIFT_DB = 15.0
"""How far a spectral peak must stand above its local level (mean dB over ~88 Hz) to count for the
tuning, dB. The peaks of a noise periodogram stay under it: white noise through the same frames,
99.9th percentile of its peaks' lift 12.0 dB, 99.99th 14.2 dB; notes stand 20-40 dB above."""


class PitchSalience:
    """Spectral peaks of long frames mapped to a 20-cent pitch grid, plus a tuning histogram.

    Every local maximum of a frame's power spectrum within 60 dB of the frame's
    strongest peak is located to a fraction of a bin (parabolic interpolation
    on the dB spectrum), converted to a MIDI pitch (A4 = 440 Hz) and added,
    with its magnitude, to the two nearest bins of a grid of
    :data:`FINE` bins per semitone spanning :data:`MIDI_LO` - 0.5 to
    :data:`MIDI_HI` + 0.5. The deviation from the nearest equal-tempered pitch
    of each peak that stands :data:`TONAL_LIFT_DB` above its local level (a
    partial, not a ripple of noise, a drum or distortion) goes to
    :attr:`tuning_hist`, from which the tuning is read once the whole file has
    been seen.

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
        self._prominence: list[np.ndarray] = []

    def push(self, power: np.ndarray) -> None:
        """Add the power spectra of ``n`` frames, ``(n, n_fft // 2 + 1)``."""
        n = power.shape[0]
        db = 10.0 * np.log10(np.maximum(power[:, self.k_lo - 1:self.k_hi + 2], 1e-20))
        mid = db[:, 1:-1]
        # Tonal prominence: how far the 8 strongest bins stand above their local level (the mean dB of the
        # surrounding 65 bins, ~88 Hz): a periodogram of noise of any colour peaks ~6-9 dB above it, notes 20-40 dB.
        width = 65
        csum = np.cumsum(np.pad(mid, ((0, 0), (width // 2 + 1, width // 2)), mode="edge"), axis=1)
        local = (csum[:, width:] - csum[:, :-width]) / width
        lift = mid - local
        top = np.sort(lift, axis=1)[:, -8:]
        self._prominence.append(top.mean(axis=1).astype(np.float32))
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
            partial = lift[rows, cols] >= TONAL_LIFT_DB
            self.tuning_hist += np.bincount(hbin[partial], weights=mag[partial], minlength=_TUNING_BINS)
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

    def prominence(self) -> np.ndarray:
        """Per frame, how far the strongest spectral peaks stand above the median level, dB, ``(n_frames,)``."""
        return np.concatenate(self._prominence) if self._prominence else np.zeros(0, dtype=np.float32)


def midi_to_hz(midi: float | np.ndarray) -> np.ndarray:
    """Frequency in Hz of a MIDI pitch (A4 = 69 = 440 Hz)."""
    return 440.0 * 2.0 ** ((np.asarray(midi, dtype=float) - 69.0) / 12.0)


# Albrecht & Shanahan (2013), "The use of large corpora to train a new type of key-finding algorithm".
_PROFILE_MAJOR = np.array([0.238, 0.006, 0.111, 0.006, 0.137, 0.094, 0.016, 0.214, 0.009, 0.080, 0.008, 0.081])
_PROFILE_MINOR = np.array([0.220, 0.006, 0.104, 0.123, 0.019, 0.103, 0.012, 0.214, 0.062, 0.022, 0.061, 0.052])
_TREBLE_LO = 48          # C3
_BASS_LO, _BASS_HI = 33, 52
_LOCAL_WINDOW_S = 8.0
_TONIC_WEIGHT = 0.1
_RELATIVE_MARGIN = 0.45
_FIFTH_MARGIN = 0.15


def estimate_tuning(hist: np.ndarray) -> float:
    """Tuning offset in semitones (-0.5..0.5) from a peak-deviation histogram (circular mean)."""
    if hist.sum() <= 0:
        return 0.0
    centres = (np.arange(hist.size) + 0.5) / hist.size - 0.5
    z = np.sum(hist * np.exp(2j * np.pi * centres))
    return float(np.angle(z) / (2 * np.pi)) if abs(z) > 1e-12 else 0.0


TUNING_REFERENCES = 5
"""Tuning references the key is read on: the centres of five equal slices of the semitone, 20 cents apart
(the resolution of the pitch salience grid, :data:`FINE`)."""


def tuning_references(hist: np.ndarray, *, k: int = TUNING_REFERENCES) -> tuple[np.ndarray, np.ndarray]:
    """Tuning references and how likely each is, from a peak-deviation histogram.

    Parameters
    ----------
    hist : numpy.ndarray
        ``(n_bins,)`` magnitude of the tonal peaks by deviation from the equal-tempered grid, -0.5..0.5
        semitone (:attr:`PitchSalience.tuning_hist`); ``n_bins`` a multiple of ``k``.
    k : int
        Number of references.

    Returns
    -------
    references : numpy.ndarray
        ``(k,)`` centres of ``k`` equal slices of -0.5..0.5, semitones from A4 = 440 Hz.
    weights : numpy.ndarray
        ``(k,)`` share of the histogram in each slice (sums to 1); all on the slice holding 440 Hz when
        the histogram is empty.
    """
    refs = -0.5 + (np.arange(k) + 0.5) / k
    h = np.asarray(hist, dtype=float)
    if h.size % k:
        raise ValueError(f"hist has {h.size} bins: not a multiple of k={k}")
    mass = h.reshape(k, -1).sum(axis=1)
    if mass.sum() <= 0:
        mass = (np.abs(refs) == np.abs(refs).min()).astype(float)
    return refs, mass / mass.sum()


CONCERT_PITCH_HZ = (435.0, 450.0)
"""Range of concert pitch (A4) in music recorded since about 1950, Hz: 440 Hz -5 / +10 Hz, i.e. -19.7 to
+39.1 cents (Briner, as quoted in Lerch 2006, "On the requirement of automatic tuning frequency
estimation", ISMIR). The prior of :func:`concert_pitch_prior`; not fitted to any data of this project."""


def _semitones_from_440(range_hz: tuple[float, float]) -> tuple[float, float]:
    """``range_hz`` (lowest, highest A4, Hz) as semitones from 440 Hz, after checking it."""
    lo_hz, hi_hz = range_hz
    if not 0 < lo_hz < hi_hz:
        raise ValueError(f"range_hz={range_hz!r}: need 0 < low < high (Hz)")
    return 12 * float(np.log2(lo_hz / 440.0)), 12 * float(np.log2(hi_hz / 440.0))


def concert_pitch_prior(references: np.ndarray, *, width: float,
                        range_hz: tuple[float, float] = CONCERT_PITCH_HZ) -> np.ndarray:
    """How plausible each tuning reference is a priori: the share of its slice inside ``range_hz``.

    A uniform prior over the published range of concert pitch (:data:`CONCERT_PITCH_HZ`), integrated over
    each reference's slice of the semitone.

    Parameters
    ----------
    references : numpy.ndarray
        ``(k,)`` slice centres, semitones from A4 = 440 Hz (after unwrapping they may lie outside -0.5..0.5).
    width : float
        Width of each slice, semitones (``1 / k`` for :func:`tuning_references`).
    range_hz : tuple of float
        Lowest and highest plausible A4, Hz.

    Returns
    -------
    numpy.ndarray
        ``(k,)`` values in [0, 1].
    """
    if width <= 0:
        raise ValueError(f"width={width!r}: need width > 0 (semitones)")
    lo, hi = _semitones_from_440(range_hz)
    refs = np.asarray(references, dtype=float)
    inside = np.minimum(refs + width / 2, hi) - np.maximum(refs - width / 2, lo)
    return np.clip(inside / width, 0.0, 1.0)


def semitone_salience(fine: np.ndarray, tuning: float) -> np.ndarray:
    """Salience of the semitones MIDI_LO..MIDI_HI-1 on the tuned grid, ``(n_frames, 72)``.

    Each semitone collects the fine bins within one semitone of its tuned centre with triangular weights.
    """
    centres = MIDI_LO - 0.5 + (np.arange(fine.shape[1]) + 0.5) / FINE
    mids = np.arange(MIDI_LO, MIDI_HI)
    weights = np.maximum(0.0, 1.0 - np.abs(centres[None, :] - (mids[:, None] + tuning)))
    return (fine @ weights.T.astype(np.float32)).astype(np.float32)


@dataclass(frozen=True)
class TonalFeatures:
    """Chroma series of a track.

    Attributes
    ----------
    tuning : float
        Deviation from A4 = 440 Hz, semitones (-0.5..0.5).
    chroma : numpy.ndarray
        ``(n_frames, 12)`` full-range chroma, each frame scaled to max 1 (0 in silence).
    treble : numpy.ndarray
        ``(n_frames, 12)`` treble chroma (C3 and up), log-compressed, unnormalised.
    bass : numpy.ndarray
        ``(n_frames, 12)`` bass chroma (A1-E3) with its stationary part (kick drums, drones) removed.
    frame_s : float
        Hop between frames, seconds.
    hpcp : numpy.ndarray
        ``(TUNING_REFERENCES, 12)`` frame-mean harmonic pitch class profile (:mod:`soundforge.analysis.hpcp`,
        unnormalised) read on each tuning reference of ``hpcp_tunings`` (bin 0 = C); ``(0, 12)`` when no
        peaks were collected.
    hpcp_tunings : numpy.ndarray
        ``(TUNING_REFERENCES,)`` the references, semitones from A4 = 440 Hz: centres of equal slices of
        the semitone (-0.4, -0.2, 0, 0.2, 0.4), each moved by a semitone where that brings it within half
        a semitone of ``tuning`` (so that all of them name the pitch classes alike).
    hpcp_weights : numpy.ndarray
        ``(TUNING_REFERENCES,)`` how likely each reference is to be the one the music was played to, summing
        to 1: the share of the tonal peaks' magnitude whose deviation from the equal-tempered grid falls in
        its slice (the tuning histogram, :func:`tuning_references`) times the concert-pitch prior
        (:func:`concert_pitch_prior`), renormalised; the shares alone where no reference with any share
        lies in the prior's range.
    """

    tuning: float
    chroma: np.ndarray
    treble: np.ndarray
    bass: np.ndarray
    frame_s: float
    hpcp: np.ndarray = field(default_factory=lambda: np.zeros((0, 12)))
    hpcp_tunings: np.ndarray = field(default_factory=lambda: np.zeros(0))
    hpcp_weights: np.ndarray = field(default_factory=lambda: np.zeros(0))


def tonal_features(fine: np.ndarray, tuning_hist: np.ndarray, *, frame_s: float,
                   pcp_peaks: tuple[np.ndarray, np.ndarray] | None = None,
                   concert_pitch_hz: tuple[float, float] | None = CONCERT_PITCH_HZ) -> TonalFeatures:
    """Tuning and chroma from the front end's pitch salience (see :class:`PitchSalience`).

    Parameters
    ----------
    fine : numpy.ndarray
        Fine pitch salience per tonal frame, ``(n_frames, n_fine_bins)`` (:meth:`PitchSalience.result`).
    tuning_hist : numpy.ndarray
        Peak-deviation histogram, ``(100,)`` (:attr:`PitchSalience.tuning_hist`).
    frame_s : float
        Hop between tonal frames, seconds.
    pcp_peaks : tuple of numpy.ndarray, optional
        ``(frequencies_hz, whitened_magnitudes)``, each ``(n_hpcp_frames, n_peaks)``
        (:meth:`soundforge.analysis.hpcp.PcpPeaks.result`): when given, the mean HPCP is computed on each
        of the :data:`TUNING_REFERENCES` tuning references, weighted by the tuning histogram and the
        concert-pitch prior.
    concert_pitch_hz : tuple of float or None
        Range of A4 the prior allows, Hz (:func:`concert_pitch_prior`); ``None`` weighs the references by the
        tuning histogram alone (analyzer v11), e.g. for recordings known to be played far from 440 Hz.

    Returns
    -------
    TonalFeatures
    """
    if concert_pitch_hz is not None:
        _semitones_from_440(concert_pitch_hz)                                        # fail before any work
    tuning = estimate_tuning(tuning_hist)
    pcp, refs, weights = np.zeros((0, 12)), np.zeros(0), np.zeros(0)
    if pcp_peaks is not None and pcp_peaks[0].shape[0]:
        refs, weights = tuning_references(tuning_hist)
        # one grid of 12 * k bins from the lowest reference: bin k * pc + g is pitch class pc on reference g
        # (the weighting window stays one semitone wide on any grid)
        k = refs.size
        grid = _hpcp.mean_hpcp(pcp_peaks[0], pcp_peaks[1], reference_hz=float(midi_to_hz(60.0 + refs[0])), size=12 * k)
        pcp = grid.reshape(12, k).T
        # Unwrap around the measured tuning: a reference more than half a semitone from it names every pitch
        # class one semitone off (music 45 cents flat, read on the +40 cents reference, is a semitone low), so
        # it is moved by a semitone to the same physical grid with continuous names: HPCP_{r-1}[pc] = HPCP_r[pc-1].
        shift = np.round(refs - tuning).astype(int)
        pcp = np.stack([np.roll(row, int(n)) for row, n in zip(pcp, shift, strict=True)])
        refs = refs - shift
        # Where the histogram is broad its spread says little about the reference (partials of voices, bent
        # guitars, inharmonic drums): weigh it against how concert pitch is set in recorded music.
        if concert_pitch_hz is not None:
            posterior = weights * concert_pitch_prior(refs, width=1.0 / k, range_hz=concert_pitch_hz)
            if float(posterior.sum()) > 0:
                weights = posterior / posterior.sum()
    semis = semitone_salience(fine, tuning)
    top = float(semis.max()) if semis.size else 0.0
    comp = np.log1p(100.0 * semis / top) if top > 0 else np.zeros_like(semis)
    mids = np.arange(MIDI_LO, MIDI_HI)
    fold = np.zeros((mids.size, 12), dtype=np.float32)
    fold[np.arange(mids.size), mids % 12] = 1.0
    full = comp @ fold
    treble = comp[:, mids >= _TREBLE_LO] @ fold[mids >= _TREBLE_LO]
    sel = (mids >= _BASS_LO) & (mids < _BASS_HI)
    bass = comp[:, sel] @ fold[sel]
    if bass.shape[0]:
        bass = np.maximum(bass - np.percentile(bass, 40, axis=0), 0.0)
    peak = full.max(axis=1, keepdims=True) if full.size else np.zeros((0, 1))
    chroma = np.where(peak > 1e-6, full / np.maximum(peak, 1e-6), 0.0).astype(np.float32)
    return TonalFeatures(tuning=tuning, chroma=chroma, treble=treble.astype(np.float32), bass=bass.astype(np.float32),
                         frame_s=frame_s, hpcp=pcp, hpcp_tunings=refs, hpcp_weights=weights)


def chroma_change(chroma: np.ndarray, *, context: int) -> np.ndarray:
    """Distance between the mean unit-norm chroma of the ``context`` rows after and before each row
    (0 where the context does not fit), ``(n_rows,)``; ``chroma`` is ``(n_rows, 12)`` (frames or beats)."""
    c = chroma / np.maximum(np.linalg.norm(chroma, axis=1, keepdims=True), 1e-9)
    n = c.shape[0]
    out = np.zeros(n)
    if n < 2 * context:
        return out
    csum = np.concatenate([np.zeros((1, c.shape[1])), np.cumsum(c, axis=0)])
    t = np.arange(context, n - context + 1)
    before = (csum[t] - csum[t - context]) / context
    after = (csum[t + context] - csum[t]) / context
    out[t] = np.linalg.norm(after - before, axis=1)
    return out


def harmonic_change(tonal: TonalFeatures, *, context: int = 3) -> np.ndarray:
    """Harmonic novelty per tonal frame: :func:`chroma_change` of the treble chroma over ``context``
    frames (0 at the edges), ``(n_frames,)``."""
    return chroma_change(tonal.treble, context=context)


def _zscore(x: np.ndarray) -> np.ndarray:
    x = x - x.mean(axis=-1, keepdims=True)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


_KEY_TEMPLATES = _zscore(np.array([np.roll(_PROFILE_MAJOR, t) for t in range(12)]
                                  + [np.roll(_PROFILE_MINOR, t) for t in range(12)]))


def key_scores(chroma_mean: np.ndarray) -> np.ndarray:
    """Pearson correlation of 12-bin chroma vector(s) ``(..., 12)`` with the 24 key profiles ``(..., 24)``
    (order of :data:`KEY_NAMES`); 0 for a flat chroma."""
    z = _zscore(np.asarray(chroma_mean, dtype=float))
    return z @ _KEY_TEMPLATES.T


@dataclass(frozen=True)
class KeyEstimate:
    """A key and the evidence for it.

    Attributes
    ----------
    index : int
        0-23 in :data:`KEY_NAMES` order (0-11 major, 12-23 minor), or -1 when undetermined.
    tonic : str
        Pitch class of the tonic (``"C"`` ... ``"B"``); ``"C"`` when undetermined.
    mode : str
        ``"major"`` or ``"minor"``.
    confidence : float
        0..1.
    scores : numpy.ndarray
        ``(24,)`` combined score per key.
    note : str
        Why there is no key (``index == -1``), else ``""``.
    """

    index: int
    tonic: str
    mode: str
    confidence: float
    scores: np.ndarray
    note: str = ""


TONAL_PROMINENCE_DB = 14.0
"""Below this 90th percentile of the frames' tonal prominence (dB; :meth:`PitchSalience.prominence`), the
audio has no sustained pitches and gets no key: noise of any colour measures ~11 dB, music 17-40 dB."""


def tonal_centre_note(prominence: np.ndarray, *, quiet: np.ndarray | None = None) -> str:
    """``""`` when the frames' tonal prominence (dB) shows sustained pitches, else why there is no key.

    Parameters
    ----------
    prominence : numpy.ndarray
        ``(n_frames,)`` tonal prominence per pitch frame, dB (:meth:`PitchSalience.prominence`).
    quiet : numpy.ndarray, optional
        ``(n_frames,)`` bool, frames of silence to leave out (silence around the music must not
        decide whether the music has a key).
    """
    if quiet is not None and quiet.size == prominence.size and np.count_nonzero(~quiet):
        prominence = prominence[~quiet]
    if prominence.size == 0:
        return "no tonal centre (too short)"
    level = float(np.percentile(prominence, 90))
    if level < TONAL_PROMINENCE_DB:
        return "no tonal centre"
    return ""


NO_KEY = KeyEstimate(index=-1, tonic="C", mode="major", confidence=0.0, scores=np.zeros(24), note="silent")
"""The estimate for audio with nothing to hear."""


_CHORD_SWITCH_PENALTY = 2.0
_MIN_CHORD_S = 0.35


def _chord_templates() -> np.ndarray:
    """24 triad templates (C major ... B major, C minor ... B minor), unit norm, ``(24, 12)``."""
    out = np.zeros((24, 12))
    for root in range(12):
        out[root, [root, (root + 4) % 12, (root + 7) % 12]] = 1.0
        out[12 + root, [root, (root + 3) % 12, (root + 7) % 12]] = 1.0
    return out / np.sqrt(3.0)


@dataclass(frozen=True)
class ChordSegment:
    """A stretch of one chord: ``index`` 0-11 major triads on C..B, 12-23 minor triads."""

    start_s: float
    end_s: float
    index: int

    @property
    def root(self) -> int:
        """Pitch class of the root (0 = C)."""
        return self.index % 12

    @property
    def is_major(self) -> bool:
        """True for major triads."""
        return self.index < 12

    @property
    def label(self) -> str:
        """``"C:maj"``-style label."""
        return f"{PITCH_CLASSES[self.root]}:{'maj' if self.is_major else 'min'}"


def chords(tonal: TonalFeatures) -> list[ChordSegment]:
    """Major/minor triads over time: template fit per frame (treble chroma, bass root bonus), Viterbi-smoothed."""
    treble, bass = tonal.treble, tonal.bass
    n = treble.shape[0]
    if n == 0:
        return []
    norm = treble / np.maximum(np.linalg.norm(treble, axis=1, keepdims=True), 1e-9)
    bass_n = bass / np.maximum(bass.sum(axis=1, keepdims=True), 1e-9)
    roots = np.arange(24) % 12
    fit = norm @ _chord_templates().T + 0.3 * bass_n[:, roots]
    # Viterbi: staying is free, switching costs a fixed penalty (in units of the frame fit's spread).
    spread = float(np.std(fit)) or 1.0
    obs = fit / spread
    score = obs[0].copy()
    back = np.zeros((n, 24), dtype=np.int64)
    for t in range(1, n):
        best_prev = int(np.argmax(score))
        switch = score[best_prev] - _CHORD_SWITCH_PENALTY
        stay = score >= switch
        back[t] = np.where(stay, np.arange(24), best_prev)
        score = np.where(stay, score, switch) + obs[t]
    path = np.empty(n, dtype=np.int64)
    path[-1] = int(np.argmax(score))
    for t in range(n - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    energy = treble.sum(axis=1)
    active = energy > 0.05 * (np.percentile(energy, 90) if n else 0.0)
    segments: list[ChordSegment] = []
    start = 0
    for t in range(1, n + 1):
        if t == n or path[t] != path[start]:
            if active[start:t].mean() > 0.5 and (t - start) * tonal.frame_s >= _MIN_CHORD_S:
                segments.append(ChordSegment(start * tonal.frame_s, t * tonal.frame_s, int(path[start])))
            start = t
    return segments


def tonic_evidence(segments: list[ChordSegment]) -> np.ndarray:
    """Per-key evidence (24,) that the key's tonic chord is the home chord: opening chord and cadences.

    * ``opening``: 1 for the key whose tonic triad is the first chord (0.5 for the other mode on the same root);
    * ``cadence``: the share of authentic cadences (a major chord followed by the chord a fifth below)
      that land on the key's tonic, weighted by the shorter of the two chords.
    """
    out = np.zeros(24)
    if not segments:
        return out
    first = segments[0]
    out[first.index] += 1.0
    out[(first.index + 12) % 24] += 0.5
    weights = np.zeros(12)
    for a, b in itertools.pairwise(segments):
        if a.is_major and (b.root - a.root) % 12 == 5 and b.start_s - a.end_s < 0.5:
            weights[b.root] += min(a.end_s - a.start_s, b.end_s - b.start_s)
    if weights.sum() > 0:
        share = weights / weights.sum()
        out[:12] += share
        out[12:] += share
    return out


def relative_key(index: int) -> int:
    """Index of the relative minor of a major key (and vice versa), :data:`KEY_NAMES` order."""
    return (index + 9) % 12 + 12 if index < 12 else (index - 12 + 3) % 12


KEY_METHODS = ("hpcp", "chroma")
"""Key estimators of :func:`estimate_key`: ``"hpcp"`` (Essentia's KeyExtractor pipeline, :mod:`.hpcp`) and
``"chroma"`` (analyzer v2's treble-chroma fit with harmonic tonic evidence)."""
KEY_METHOD = "hpcp"
"""The estimator :func:`soundforge.analysis.analyze` uses."""


def _confidence(fit: float, margin: float) -> float:
    return float(np.clip(fit, 0.0, 1.0) * np.clip(margin / 0.1, 0.0, 1.0) ** 0.5)


def estimate_key(tonal: TonalFeatures, *, method: str = KEY_METHOD, profile: str = "bgate") -> KeyEstimate:
    """Key of a track.

    Parameters
    ----------
    tonal : TonalFeatures
        From :func:`tonal_features` (with ``pcp_peaks`` for ``method="hpcp"``).
    method : {"hpcp", "chroma"}
        ``"hpcp"``: correlation of the frame-averaged HPCP with key profiles (:func:`.hpcp.key_correlations`);
        ``"chroma"``: the treble-chroma estimator of the module docstring (steps 1-4).
    profile : str
        Key profiles for ``method="hpcp"`` (a key of :data:`soundforge.analysis.hpcp.PROFILES`).

    Returns
    -------
    KeyEstimate
        :data:`NO_KEY` when there is nothing to go on; ``confidence`` is the winner's correlation scaled
        by its margin over the runner-up.
    """
    if method not in KEY_METHODS:
        raise ValueError(f"method={method!r}: choose from {KEY_METHODS}")
    if method == "hpcp":
        return _estimate_key_hpcp(tonal, profile=profile)
    return _estimate_key_chroma(tonal)


def _estimate_key_hpcp(tonal: TonalFeatures, *, profile: str) -> KeyEstimate:
    pcp, weights = tonal.hpcp, tonal.hpcp_weights
    if pcp.shape[0] == 0 or float(pcp.sum()) <= 0:
        return NO_KEY
    # the tuning is a nuisance parameter: average the key fit over the references, each weighted by how
    # much of the music was played to it, rather than trusting one point estimate (a broad or two-peaked
    # tuning histogram makes the key a near-tie between neighbouring references)
    if weights.size != pcp.shape[0] or float(weights.sum()) <= 0:
        weights = np.ones(pcp.shape[0])
    weights = weights / weights.sum()
    scores = np.zeros(24)
    for w, row in zip(weights, pcp, strict=True):
        if w > 0:
            scores += w * _hpcp.key_correlations(row, profile=profile)
    major, minor = int(np.argmax(scores[:12])), 12 + int(np.argmax(scores[12:]))
    best = major if scores[major] > scores[minor] else minor      # Essentia: minor wins ties
    second = float(np.max(np.delete(scores, best)))
    return KeyEstimate(index=best, tonic=PITCH_CLASSES[best % 12], mode="major" if best < 12 else "minor",
                       confidence=_confidence(float(scores[best]), float(scores[best]) - second), scores=scores)


def _estimate_key_chroma(tonal: TonalFeatures) -> KeyEstimate:
    treble = tonal.treble
    if treble.shape[0] == 0 or float(treble.sum()) <= 0:
        return NO_KEY
    global_fit = key_scores(treble.mean(axis=0))
    votes = np.zeros(24)
    win = max(1, round(_LOCAL_WINDOW_S / tonal.frame_s))
    for start in range(0, max(1, treble.shape[0] - win // 2), max(1, win // 2)):
        seg = treble[start:start + win]
        if float(seg.sum()) <= 0:
            continue
        local = key_scores(seg.mean(axis=0))
        best = int(np.argmax(local))
        votes[best] += max(local[best], 0.0)
    votes = votes / votes.sum() if votes.sum() > 0 else votes
    evidence = tonic_evidence(chords(tonal))
    scores = global_fit + 0.2 * votes + _TONIC_WEIGHT * evidence
    order = np.argsort(scores)[::-1]
    best = int(order[0])
    # Relative keys share their scale, so pitch statistics hardly separate them (a minor-key loop
    # i-VI-III-VII has the relative major's tonic as its most frequent pitch): harmony decides.
    rel = relative_key(best)
    if global_fit[best] - global_fit[rel] < _RELATIVE_MARGIN and evidence[rel] > evidence[best] + 0.25:
        scores = scores.copy()
        scores[rel] = scores[best] + 1e-3
        order = np.argsort(scores)[::-1]
        best = rel
    # Keys a fifth apart differ by one pitch class, and a tonic major-seventh chord or a dominant
    # seventh leans the statistics towards the dominant's key; the V -> I cadence names the tonic.
    below = (best % 12 + 5) % 12 + (best // 12) * 12
    if global_fit[best] - global_fit[below] < _FIFTH_MARGIN and evidence[below] > evidence[best]:
        scores = scores.copy()
        scores[below] = scores[best] + 1e-3
        order = np.argsort(scores)[::-1]
        best = below
    margin = float(scores[best] - scores[order[1]])
    return KeyEstimate(index=best, tonic=PITCH_CLASSES[best % 12], mode="major" if best < 12 else "minor",
                       confidence=_confidence(float(global_fit[best]), margin), scores=scores)
