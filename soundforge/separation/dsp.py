"""The ``dsp`` backend: vocals, drums, bass and other by signal processing, no weights.

A quick-look separator built from classic, well-understood pieces, applied
per chunk of a few tens of seconds:

1. **STFT** of every channel (window ~93 ms, hop 1/4 window). Masks are computed
   once from the channels' RMS magnitude and applied to every channel.
2. **Harmonic/percussive separation** (Fitzgerald 2010): a median along time
   (~0.4 s) keeps what is sustained (pitched notes), a median along frequency
   keeps what is broadband (drum hits). The frequency kernel is ~400 Hz wide
   in general but only ~60 Hz wide in the bass register (below ~200 Hz, blended
   smoothly), where bass harmonics are only tens of Hz apart and a wide kernel
   would call a kick drum "harmonic".
3. **Repetition** (REPET-SIM, Rafii & Pardo 2012): each frame of the pitched
   part is compared with the other frames; the element-wise median of its most
   similar frames models the repeating accompaniment. Where the pitched part
   rises above that model (non-repeating foreground, averaged over a few bins
   and ~0.2 s) the vocals get a larger share of the pitched power of the
   singing band, and where it is explained by it the accompaniment does. The
   shift is bounded (``repetition``, +-0.15 around an even split), so a song
   whose vocal line loops as much as its accompaniment is not torn apart.
4. **Frequency bands**: bass is the pitched energy of the low band (soft
   low-pass, ~250 Hz), vocals the pitched energy of the singing band
   (~150 Hz-6 kHz), "other" the pitched energy above ~80 Hz. The bass also
   claims its overtones above the band: a bin at 2-5 times the frequency of a
   strong pitched peak of the bass register (below ~120 Hz) gets a bass estimate
   of that peak's level, decaying by harmonic number (capped by the bin's own level).
5. **Wiener-style soft masks**: each stem's mask is its power estimate over the
   sum of all four, so the masks sum to one in every time-frequency bin.
   ``vocals``, ``drums`` and ``bass`` are resynthesised; ``other`` is the mix
   minus those three, so the stems add up to the mix exactly (to float rounding).

Quality and speed against baselines and an oracle are measured by
``benchmarks/separation_quality.py`` and recorded in ``docs/benchmarks.md``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from .streaming import (
    AudioSource,
    ChunkPlan,
    Control,
    Stems,
    StemWriter,
    check_finite,
    iter_windows,
    join_windows,
    release_memory,
)

__all__ = ["DSP_STEMS", "DspParams", "DspSeparator", "separate_array"]

DSP_STEMS = ("vocals", "drums", "bass", "other")


@dataclass(frozen=True)
class DspParams:
    """Parameters of the DSP separator (times in seconds, frequencies in Hz).

    Attributes
    ----------
    window_s : float
        STFT window length; rounded to a power of two in samples.
    harmonic_s : float
        Length of the median along time that keeps sustained (pitched) energy.
    percussive_hz, percussive_low_hz : float
        Width of the median along frequency that keeps broadband (drum) energy,
        in general and in the bass register.
    bass_register_hz : float
        Crossover between the two percussive kernels.
    bass_hz : float
        Corner of the bass band (soft low-pass).
    bass_core_hz : float
        Upper edge of the register whose peaks lend the bass their overtones.
    overtone_decay : float
        Level of the k-th overtone relative to the fundamental is ``overtone_decay ** (k - 1)``;
        0 switches the overtone extension off.
    vocal_low_hz, vocal_high_hz : float
        Corners of the singing band (soft band-pass).
    other_low_hz : float
        Corner below which pitched energy is not "other" (soft high-pass).
    repetition : float
        Weight of the repetition cue in [0, 0.5]: how far the vocal/other split
        may move away from an even split; 0 switches REPET-SIM off.
    similar_frames : int
        Frames REPET-SIM takes the median of.
    min_repeat_s : float
        Frames closer than this are not counted as repetitions.
    mask_power : float
        Exponent of the Wiener-style masks (2: power ratios).
    """

    window_s: float = 0.093
    harmonic_s: float = 0.4
    percussive_hz: float = 400.0
    percussive_low_hz: float = 60.0
    bass_register_hz: float = 200.0
    bass_hz: float = 250.0
    bass_core_hz: float = 120.0
    overtone_decay: float = 0.6
    vocal_low_hz: float = 150.0
    vocal_high_hz: float = 6000.0
    other_low_hz: float = 80.0
    repetition: float = 0.15
    similar_frames: int = 12
    min_repeat_s: float = 0.75
    mask_power: float = 2.0


def _n_fft(sample_rate: int, window_s: float) -> int:
    return int(2 ** max(8, round(math.log2(window_s * sample_rate))))


def _odd(n: float) -> int:
    return max(3, round(n) | 1)


def _low_pass(freqs: np.ndarray, corner: float, order: float) -> np.ndarray:
    return 1.0 / (1.0 + (freqs / corner) ** order)


def _high_pass(freqs: np.ndarray, corner: float, order: float) -> np.ndarray:
    return 1.0 / (1.0 + (corner / np.maximum(freqs, 1e-3)) ** order)


def _overtones(low: np.ndarray, *, decay: float, harmonics: tuple[int, ...] = (2, 3, 4, 5)) -> np.ndarray:
    """Per bin, the strongest ``decay ** (k - 1) * low[bin / k]`` over harmonic numbers ``k`` (``(freqs, frames)``)."""
    n = low.shape[0]
    index = np.arange(n)
    out = np.zeros_like(low)
    for k in harmonics:
        below = index // k
        above = np.minimum(below + 1, n - 1)
        np.maximum(out, decay ** (k - 1) * np.maximum(low[below], low[above]), out=out)
    return out


def _repeating(mag: np.ndarray, *, k: int, min_gap: int, block: int = 128) -> np.ndarray:
    """REPET-SIM model: per frame, the median of its ``k`` most similar frames (cosine), at most ``mag``.

    ``mag`` is ``(freqs, frames)``; frames closer than ``min_gap`` are not candidates.
    """
    frames = mag.shape[1]
    k = min(k, frames - 2 * min_gap - 1)
    if k < 3:
        return mag.copy()
    unit = mag / (np.linalg.norm(mag, axis=0, keepdims=True) + 1e-9)
    out = np.empty_like(mag)
    for start in range(0, frames, block):
        stop = min(frames, start + block)
        sim = unit[:, start:stop].T @ unit  # (block, frames)
        for i in range(stop - start):
            t = start + i
            sim[i, max(0, t - min_gap): t + min_gap + 1] = -np.inf
        nearest = np.argpartition(-sim, k, axis=1)[:, :k]
        out[:, start:stop] = np.median(mag[:, nearest], axis=2)
    return np.minimum(out, mag)


def _window(n_fft: int) -> np.ndarray:
    """Periodic Hann window of ``n_fft`` samples (what ``librosa.stft`` uses by default)."""
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)).astype(np.float32)


def stft(x: np.ndarray, *, n_fft: int, hop: int) -> np.ndarray:
    """Centred STFT with zero padding, as ``librosa.stft(x, n_fft=n_fft, hop_length=hop)`` computes it.

    Parameters
    ----------
    x : numpy.ndarray
        ``(channels, frames)`` float32 signal.
    n_fft, hop : int
        Window and hop lengths in samples.

    Returns
    -------
    numpy.ndarray
        ``(channels, n_fft // 2 + 1, n_frames)`` complex64 spectrum.

    Notes
    -----
    Plain numpy: no librosa (and its numba start-up) in separation worker processes.
    """
    pad = n_fft // 2
    padded = np.pad(x, ((0, 0), (pad, pad)))
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft, axis=1)[:, ::hop]  # (channels, frames, n_fft)
    return np.fft.rfft(frames * _window(n_fft), axis=-1).astype(np.complex64).transpose(0, 2, 1)


def istft(spec: np.ndarray, *, hop: int, length: int) -> np.ndarray:
    """Inverse of :func:`stft` (overlap-add with squared-window normalisation), like ``librosa.istft``.

    Parameters
    ----------
    spec : numpy.ndarray
        ``(channels, n_fft // 2 + 1, n_frames)`` complex spectrum.
    hop : int
        Hop length in samples.
    length : int
        Samples of the output.

    Returns
    -------
    numpy.ndarray
        ``(channels, length)`` float32 signal.
    """
    n_fft = 2 * (spec.shape[1] - 1)
    window = _window(n_fft)
    frames = np.fft.irfft(spec.transpose(0, 2, 1), n=n_fft, axis=-1) * window  # (channels, n_frames, n_fft)
    n_frames = frames.shape[1]
    total = n_fft + hop * (n_frames - 1)
    out = np.zeros((spec.shape[0], total), dtype=np.float64)
    norm = np.zeros(total, dtype=np.float64)
    square = window.astype(np.float64) ** 2
    for i in range(n_frames):
        start = i * hop
        out[:, start:start + n_fft] += frames[:, i]
        norm[start:start + n_fft] += square
    tiny = np.finfo(np.float32).tiny
    out /= np.where(norm > tiny, norm, 1.0)
    pad = n_fft // 2
    result = out[:, pad:pad + length]
    if result.shape[1] < length:
        result = np.pad(result, ((0, 0), (0, length - result.shape[1])))
    return result.astype(np.float32)


def separate_array(samples: np.ndarray, sample_rate: int, *, params: DspParams = DspParams()) -> Stems:
    """Separate an in-memory mix into vocals, drums, bass and other.

    Parameters
    ----------
    samples : numpy.ndarray
        ``(channels, frames)`` float mix.
    sample_rate : int
        Sample rate in Hz.
    params : DspParams
        Algorithm parameters.

    Returns
    -------
    dict[str, numpy.ndarray]
        ``vocals``, ``drums``, ``bass``, ``other``: ``float32`` ``(channels, frames)``;
        they sum to ``samples``.
    """
    from scipy import ndimage

    x = np.ascontiguousarray(samples, dtype=np.float32)
    frames = x.shape[1]
    n_fft = _n_fft(sample_rate, params.window_s)
    hop = n_fft // 4
    if frames < n_fft:  # too short to analyse: everything is "other"
        zeros = np.zeros_like(x)
        return {"vocals": zeros, "drums": zeros.copy(), "bass": zeros.copy(), "other": x.copy()}
    spec = stft(x, n_fft=n_fft, hop=hop)  # (channels, freqs, frames)
    mag = np.sqrt(np.mean(np.abs(spec) ** 2, axis=0)).astype(np.float32)
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)[:, None]
    bin_hz = sample_rate / n_fft

    harmonic = ndimage.median_filter(mag, size=(1, _odd(params.harmonic_s * sample_rate / hop)))
    perc_wide = ndimage.median_filter(mag, size=(_odd(params.percussive_hz / bin_hz), 1))
    perc_low = ndimage.median_filter(mag, size=(_odd(params.percussive_low_hz / bin_hz), 1))
    register = _low_pass(freqs, params.bass_register_hz, 4)
    percussive = register * perc_low + (1 - register) * perc_wide

    share = np.full_like(mag, 0.5)
    if params.repetition > 0:
        pitched = harmonic * _high_pass(freqs, params.vocal_low_hz, 6)
        background = _repeating(pitched, k=params.similar_frames,
                                min_gap=round(params.min_repeat_s * sample_rate / hop))
        # local average: a single bin's ratio is noisy, a note's worth of bins is not
        foreground = ndimage.uniform_filter(1.0 - background / (pitched + 1e-9),
                                            size=(3, _odd(params.harmonic_s / 2 * sample_rate / hop)))
        typical = np.average(foreground, weights=pitched ** 2 + 1e-12)
        share = np.clip(0.5 + 2 * params.repetition * (foreground - typical), 0.5 - params.repetition,
                        0.5 + params.repetition)

    bass = harmonic * _low_pass(freqs, params.bass_hz, 6)
    if params.overtone_decay > 0:
        core = harmonic * _low_pass(freqs, params.bass_core_hz, 8)
        overtones = np.minimum(harmonic, _overtones(core, decay=params.overtone_decay))
        bass = np.maximum(bass, overtones * _low_pass(freqs, 600.0, 6))
    # vocals and other share the pitched *power* of their common band (shares sum to one)
    estimates = {
        "vocals": harmonic * _high_pass(freqs, params.vocal_low_hz, 6) * _low_pass(freqs, params.vocal_high_hz, 4)
        * np.sqrt(share),
        "drums": percussive,
        "bass": bass,
        "other": harmonic * _high_pass(freqs, params.other_low_hz, 4) * np.sqrt(1 - share),
    }
    power = {name: e.astype(np.float64) ** params.mask_power for name, e in estimates.items()}
    total = sum(power.values()) + 1e-20
    out: Stems = {}
    for name in ("vocals", "drums", "bass"):
        mask = (power[name] / total).astype(np.float32)
        out[name] = istft(spec * mask[None], hop=hop, length=frames)
    out["other"] = x - out["vocals"] - out["drums"] - out["bass"]
    return {name: out[name] for name in DSP_STEMS}


class DspSeparator:
    """The ``dsp`` backend (see the module docstring). Model name: ``"dsp"``."""

    name = "dsp"

    def models(self) -> tuple[str, ...]:
        """``("dsp",)``."""
        return ("dsp",)

    def claims(self, model: str) -> bool:
        """Only ``"dsp"``."""
        return model == "dsp"

    def stems(self, model: str) -> tuple[str, ...]:
        """``vocals``, ``drums``, ``bass``, ``other``."""
        return DSP_STEMS

    def options(self, model: str, **opts: Any) -> dict[str, Any]:
        """Validate options: ``chunk_s`` (seconds per chunk, 10-600, default 30) and any :class:`DspParams` field.

        ``device`` may be given as ``"auto"`` or ``"cpu"`` (what ``ws.separate`` passes) and is ignored.
        """
        if model != "dsp":
            raise ConfigError(f"The dsp backend has one model, 'dsp', not {model!r}.")
        fields = set(DspParams.__dataclass_fields__)
        unknown = set(opts) - fields - {"chunk_s", "device"}
        if unknown:
            raise ConfigError(f"Unknown option(s) {sorted(unknown)} for model 'dsp'; it accepts 'chunk_s' and "
                              f"{sorted(fields)}.")
        if opts.get("device", "auto") not in ("auto", "cpu"):
            raise ConfigError(f"The dsp model runs on the CPU; device={opts['device']!r} does not apply.")
        chunk_s = opts.get("chunk_s", 30.0)
        if not isinstance(chunk_s, (int, float)) or not 10 <= chunk_s <= 600:
            raise ConfigError(f"chunk_s must be between 10 and 600 seconds, got {chunk_s!r}.")
        try:
            params = DspParams(**{k: v for k, v in opts.items() if k in fields})
        except TypeError as exc:
            raise ConfigError(f"Bad dsp parameters: {exc}.") from exc
        if not 0 <= params.repetition <= 0.5:
            raise ConfigError(f"repetition must be in [0, 0.5], got {params.repetition!r}.")
        return {"chunk_s": float(chunk_s), **asdict(params)}

    def separate(self, source: AudioSource, *, model: str, out_dir: Path, options: Mapping[str, Any],
                 control: Control, tmp_dir: Path | None = None) -> dict[str, Path]:
        """Separate chunk by chunk at the file's own sample rate, streaming the stems to ``out_dir``."""
        params = DspParams(**{k: v for k, v in options.items() if k in DspParams.__dataclass_fields__})
        info = source.info
        sr = info.sample_rate
        plan = ChunkPlan.from_seconds(chunk_s=float(options["chunk_s"]), crossfade_s=1.0, context_s=1.0,
                                      sample_rate=sr)
        expected = plan.windows(info.frames)
        what = str(source.path)

        def separated() -> Any:
            for window in iter_windows(source.blocks(block_s=10.0), plan):
                control.check()
                stems = separate_array(window.samples, sr, params=params)
                check_finite(stems, what=what)
                release_memory()
                control.report(99.0 * (window.index + 1) / max(expected, window.index + 1))
                yield window, stems

        # frames=None: the windows cover the decoded input exactly once, so the stems have its length
        with StemWriter(out_dir, DSP_STEMS, sample_rate=sr, channels=info.channels, frames=None,
                        tmp_dir=tmp_dir) as writer:
            for part in join_windows(separated(), plan):
                writer.write(part)
            control.check()
            paths = writer.commit()
            control.clipping(writer)
            return paths
