"""Synthetic test signals with known answers (click tracks, cadences, tones)."""

from __future__ import annotations

import numpy as np

NAMES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]


def click_track(*, bpm: float, seconds: float, sr: int = 22050, offset_s: float = 0.25,
                accent_every: int = 0, channels: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Short noise clicks on every beat; returns ``(samples (channels, n), click_times)``.

    With ``accent_every=k`` every k-th click is louder and starts a bass note lasting one bar
    (alternating C2 and G2), as a bass player marks the downbeats.
    """
    rng = np.random.default_rng(int(bpm * 10))
    n = int(seconds * sr)
    out = np.zeros(n, dtype=np.float32)
    t = np.arange(int(0.03 * sr)) / sr
    click = (rng.standard_normal(t.size) * np.exp(-t * 300)).astype(np.float32)
    times = np.arange(offset_s, seconds - 0.05, 60.0 / bpm)
    bar_s = accent_every * 60.0 / bpm
    for k, start in enumerate(times):
        i = round(start * sr)
        seg = 0.5 * click
        if accent_every and k % accent_every == 0:
            seg = seg * 2
            midi = 36 if (k // accent_every) % 2 == 0 else 43
            bass = 0.3 * harmonic_tone(midi, bar_s, sr=sr, decay=2.0)[: n - i]
            out[i:i + bass.size] += bass
        seg = seg[: n - i]
        out[i:i + seg.size] += seg
    return np.tile(out, (channels, 1)), times


def harmonic_tone(midi: float, seconds: float, *, sr: int, harmonics: int = 6, decay: float = 1.5) -> np.ndarray:
    """A decaying tone with ``harmonics`` partials (amplitude 1/h)."""
    t = np.arange(int(seconds * sr)) / sr
    f0 = 440.0 * 2 ** ((midi - 69) / 12)
    parts = [np.sin(2 * np.pi * f0 * h * t) / h for h in range(1, harmonics + 1) if f0 * h < sr / 2]
    attack = np.minimum(1.0, t / 0.01)
    return (np.sum(parts, axis=0) * np.exp(-t * decay) * attack).astype(np.float32)


def cadence(tonic: int, mode: str, *, sr: int = 22050, chord_s: float = 0.8, repeats: int = 2,
            cents: float = 0.0) -> np.ndarray:
    """I-IV-V-I (major) or i-iv-V-i (minor, harmonic V) as triads over a bass root, mono, ``cents`` off A440."""
    third = 4 if mode == "major" else 3
    degrees = [(0, third), (5, third), (7, 4), (0, third)]
    chords = []
    for root, q in degrees * repeats:
        r = 60 + (tonic + root) % 12
        notes = [r, r + q, r + 7, r - 24]
        chords.append(sum(harmonic_tone(m + cents / 100, chord_s, sr=sr) * (1.3 if m < 48 else 1.0) for m in notes))
    out = np.concatenate(chords)
    return (0.2 * out / np.abs(out).max()).astype(np.float32)
