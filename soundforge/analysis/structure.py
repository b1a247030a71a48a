"""Structure: sections and their repetition groups.

1. Bars (from the downbeats; else beats; else 2-second windows) are described
   by their mean unit-norm treble chroma (harmony) and their mean MFCC 1-12,
   standardised over the track (timbre and texture).
2. A bar-by-bar self-similarity matrix averages the cosine similarities of the
   two descriptions.
3. Section boundaries are peaks of Foote's novelty (a Gaussian-tapered
   checkerboard kernel of 2 x 4 bars slid along the diagonal), at least 4 bars
   apart and above the novelty's mean plus half its standard deviation.
4. Sections are grouped: a section joins the first earlier group whose
   members it resembles as much as they resemble themselves (mean block
   similarity at least 90 % of the smaller self-similarity); groups are
   labelled ``A``, ``B``, ``C``... in order of first appearance, so ``A B A``
   means the first section returns after a different one.
"""

from __future__ import annotations

import itertools
import string
from dataclasses import dataclass

import numpy as np

__all__ = ["Segment", "segment"]

_KERNEL_BARS = 4
_MIN_BARS = 4
_SAME_GROUP = 0.9
_FALLBACK_S = 2.0


@dataclass(frozen=True)
class Segment:
    """A section of a track.

    Attributes
    ----------
    start_s, end_s : float
        Boundaries, seconds.
    label : str
        Repetition group (``"A"``, ``"B"``...): sections with the same label repeat one another.
    """

    start_s: float
    end_s: float
    label: str


def _group_label(k: int) -> str:
    letters = string.ascii_uppercase
    return letters[k] if k < 26 else letters[k // 26 - 1] + letters[k % 26]


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-9)


def _pool(values: np.ndarray, times: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Mean of the rows of ``values`` (sampled at ``times``) within each ``[edges[i], edges[i+1])``."""
    idx = np.searchsorted(edges, times, side="right") - 1
    ok = (idx >= 0) & (idx < edges.size - 1)
    out = np.zeros((edges.size - 1, values.shape[1]))
    counts = np.bincount(idx[ok], minlength=edges.size - 1).astype(float)
    for j in range(values.shape[1]):
        out[:, j] = np.bincount(idx[ok], weights=values[ok, j], minlength=edges.size - 1)
    return out / np.maximum(counts, 1.0)[:, None]


def _novelty(ssm: np.ndarray, half: int) -> np.ndarray:
    n = ssm.shape[0]
    x = np.arange(-half, half) + 0.5
    taper = np.exp(-0.5 * (x / (0.5 * half)) ** 2)
    kernel = np.outer(taper, taper) * np.sign(x)[:, None] * np.sign(x)[None, :]
    padded = np.pad(ssm, half, mode="edge")
    out = np.zeros(n)
    for i in range(n):
        block = padded[i:i + 2 * half, i:i + 2 * half]
        out[i] = float(np.sum(block * kernel))
    return out


def segment(*, duration_s: float, downbeats: np.ndarray, beats: np.ndarray, chroma: np.ndarray,
            chroma_times: np.ndarray, mfcc: np.ndarray, mfcc_times: np.ndarray) -> list[Segment]:
    """Sections with repetition labels (module docstring).

    Parameters
    ----------
    duration_s : float
        Track duration, seconds.
    downbeats, beats : numpy.ndarray
        Bar and beat times, seconds (either may be empty).
    chroma : numpy.ndarray
        ``(n_t, 12)`` treble chroma at ``chroma_times``.
    mfcc : numpy.ndarray
        ``(n, 13)`` MFCC at ``mfcc_times``.

    Returns
    -------
    list of Segment
        Covering ``[0, duration_s]`` without gaps; one section for short or uniform tracks.
    """
    if duration_s <= 0:
        return []
    grid = downbeats if downbeats.size >= 2 * _MIN_BARS else beats
    if grid.size < 2 * _MIN_BARS:
        grid = np.arange(0.0, duration_s, _FALLBACK_S)
    edges = np.unique(np.concatenate([[0.0], grid[(grid > 0) & (grid < duration_s)], [duration_s]]))
    if edges.size - 1 < 2 * _MIN_BARS or chroma.shape[0] == 0 or mfcc.shape[0] == 0:
        return [Segment(0.0, float(duration_s), "A")]
    timbre = mfcc[:, 1:]
    timbre = (timbre - timbre.mean(axis=0)) / np.maximum(timbre.std(axis=0), 1e-9)
    harm = _unit(_pool(_unit(chroma), chroma_times, edges))
    tex = _unit(_pool(timbre, mfcc_times, edges))
    ssm = 0.5 * (harm @ harm.T) + 0.5 * (tex @ tex.T)
    nov = _novelty(ssm, _KERNEL_BARS)
    thresh = nov.mean() + 0.5 * nov.std()
    bounds = [0]
    for i in np.argsort(nov)[::-1]:
        if nov[i] <= thresh or i < _MIN_BARS or i > ssm.shape[0] - _MIN_BARS:
            continue
        if all(abs(i - b) >= _MIN_BARS for b in bounds):
            bounds.append(int(i))
    bounds = [*sorted(bounds), ssm.shape[0]]
    spans = list(itertools.pairwise(bounds))
    groups: list[list[tuple[int, int]]] = []
    labels = []
    for a, b in spans:
        self_sim = float(ssm[a:b, a:b].mean())
        chosen = -1
        for g, members in enumerate(groups):
            ref = min(self_sim, min(float(ssm[c:d, c:d].mean()) for c, d in members))
            cross = float(np.mean([ssm[a:b, c:d].mean() for c, d in members]))
            if cross >= _SAME_GROUP * ref:
                chosen = g
                break
        if chosen < 0:
            groups.append([])
            chosen = len(groups) - 1
        groups[chosen].append((a, b))
        labels.append(_group_label(chosen))
    return [Segment(float(edges[a]), float(edges[b]), lab) for (a, b), lab in zip(spans, labels, strict=True)]
