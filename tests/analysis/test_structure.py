"""Sections and repetition labels."""

from __future__ import annotations

import numpy as np

from soundforge.analysis import structure


def _song(pattern: str, bars_per_section: int = 8, bar_s: float = 2.0):
    rng = np.random.default_rng(0)
    chroma_of = {"A": np.eye(12)[[0, 4, 7]].sum(0), "B": np.eye(12)[[2, 5, 9]].sum(0)}
    timbre_of = {"A": rng.normal(0, 1, 13), "B": rng.normal(0, 1, 13)}
    fps_c, fps_m = 10.0, 40.0
    duration = len(pattern) * bars_per_section * bar_s
    ct = np.arange(0, duration, 1 / fps_c)
    mt = np.arange(0, duration, 1 / fps_m)
    sec = lambda t: pattern[min(int(t // (bars_per_section * bar_s)), len(pattern) - 1)]  # noqa: E731
    chroma = np.array([chroma_of[sec(t)] + 0.05 * rng.random(12) for t in ct])
    mfcc = np.array([timbre_of[sec(t)] + 0.1 * rng.normal(0, 1, 13) for t in mt])
    downbeats = np.arange(0, duration, bar_s)
    return dict(duration_s=duration, downbeats=downbeats, beats=np.arange(0, duration, bar_s / 4), chroma=chroma,
                chroma_times=ct, mfcc=mfcc, mfcc_times=mt)


def test_repetitions_share_a_label() -> None:
    segs = structure.segment(**_song("ABAB"))
    assert [s.label for s in segs] == ["A", "B", "A", "B"]
    assert [round(s.start_s) for s in segs] == [0, 16, 32, 48]
    assert segs[-1].end_s == 64.0


def test_short_or_uniform_audio_is_one_section() -> None:
    segs = structure.segment(**_song("A", bars_per_section=3))
    assert [(s.start_s, s.label) for s in segs] == [(0.0, "A")]
    assert structure.segment(duration_s=0.0, downbeats=np.zeros(0), beats=np.zeros(0), chroma=np.zeros((0, 12)),
                             chroma_times=np.zeros(0), mfcc=np.zeros((0, 13)), mfcc_times=np.zeros(0)) == []
