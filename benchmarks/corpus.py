#!/usr/bin/env python3
"""Deterministic generator of a synthetic multitrack song corpus with known ground truth.

Each song is composed as General MIDI (pretty_midi), and every stem (drums, bass,
other, vocals) is rendered on its own through FluidSynth with the same SoundFont
and the same master gain.  The mix is the exact sum of the (16-bit) stems; all
stems of one song are scaled by one common factor so that nothing clips.

    python benchmarks/corpus.py --split dev     --n 12 --out DIR    # public dev set
    python benchmarks/corpus.py --verify DIR                        # check a rendered corpus

Requirements (Debian): fluidsynth, fluid-soundfont-gm, ffmpeg;
(PyPI): pretty_midi, mido, numpy, soundfile.  See README.md.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from concurrent.futures import ProcessPoolExecutor
from importlib import metadata

import mido
import numpy as np
import pretty_midi
import soundfile as sf

GENERATOR_VERSION = "1.0"
SR = 44100
PPQ = 960                      # MIDI ticks per quarter note
SF2_DEFAULT = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
FS_GAIN = 0.4                  # FluidSynth master gain, identical for every stem
PEAK_DBFS = -1.0               # common normalisation target (peak of mix and of every stem)
FADE_S = 0.05                  # short fade-out at the cut, identical for every stem
STEMS = ("drums", "bass", "other", "vocals")

NOTE_NAMES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]
SCALES = {"major": [0, 2, 4, 5, 7, 9, 11], "minor": [0, 2, 3, 5, 7, 8, 10]}
HARMONIC_MINOR = [0, 2, 3, 5, 7, 8, 11]

GM_NAMES = {
    0: "Acoustic Grand Piano", 1: "Bright Acoustic Piano", 4: "Electric Piano 1",
    6: "Harpsichord", 11: "Vibraphone", 16: "Drawbar Organ", 19: "Church Organ",
    24: "Acoustic Guitar (nylon)", 25: "Acoustic Guitar (steel)", 27: "Electric Guitar (clean)",
    32: "Acoustic Bass", 33: "Electric Bass (finger)", 34: "Electric Bass (pick)",
    35: "Fretless Bass", 38: "Synth Bass 1", 39: "Synth Bass 2",
    48: "String Ensemble 1", 49: "String Ensemble 2", 52: "Choir Aahs", 53: "Voice Oohs",
    54: "Synth Voice", 85: "Lead 6 (voice)", 89: "Pad 2 (warm)",
}
KIT_NAMES = {0: "Standard", 8: "Room", 16: "Power"}

# progression name -> (major degrees, minor degrees, minor uses harmonic (major) V, 7th chords)
# degrees are 0-based scale degrees (0 = I/i, 4 = V/v ...); one entry per chord slot.
PROGRESSIONS = {
    "pop_axis":     ([0, 4, 5, 3], [0, 5, 2, 6], False, False),   # I-V-vi-IV    / i-VI-III-VII
    "doo_wop":      ([0, 5, 3, 4], [0, 5, 3, 4], True, False),    # I-vi-IV-V    / i-VI-iv-V
    "cadential":    ([0, 3, 4, 0], [0, 3, 4, 0], True, False),    # I-IV-V-I     / i-iv-V-i
    "two_five_one": ([1, 4, 0, 0], [1, 4, 0, 0], True, True),     # ii7-V7-Imaj7 / iiø7-V7-i7
}

DEV_POOL = {
    "progression": ["pop_axis", "doo_wop", "cadential", "two_five_one"],
    "bass_program": [32, 33, 34],
    "other_program": [0, 4, 24, 25, 48, 16],
    "vocals_program": [52, 53, 54],
    "drum_kit": [0, 8, 16],
}
HOLDOUT_ONLY_POOL = {k: [] for k in ("progression", "bass_program", "other_program", "vocals_program", "drum_kit")}
# Per-program CC7 (channel volume).  Chosen once by rendering reference patterns of every
# program with this SoundFont and levelling them to one target RMS per role (drums -32,
# bass -29, other -31, vocals -29.5 dBFS before normalisation); each song then varies
# every stem's level by up to +-2 dB.  CC7 is part of the MIDI, so every stem is still
# rendered by the same synthesizer with the same master gain.
CC7 = {
    "drums": {0: 116, 8: 101, 16: 84},
    "bass": {32: 101, 33: 106, 34: 110},
    "other": {0: 107, 4: 86, 16: 66, 24: 88, 25: 98, 48: 78},
    "vocals": {52: 112, 53: 96, 54: 103},
}
LEVEL_JITTER_DB = 2.0
REVERB_SEND = {"drums": 30, "bass": 10, "other": 50, "vocals": 64}
CHORUS_SEND = {"drums": 0, "bass": 0, "other": 20, "vocals": 24}

KEYS_FAMILY = {0, 1, 4, 6, 11}
GUITAR_FAMILY = {24, 25, 27}
SUSTAIN_FAMILY = {16, 19, 48, 49, 89}

# GM percussion keys
KICK, SIDESTICK, SNARE, CLAP, HH_CLOSED, HH_PEDAL, HH_OPEN, CRASH, RIDE = 36, 37, 38, 39, 42, 44, 46, 49, 51
TOMS = [50, 48, 47, 45]


def song_seed(split: str, index: int, salt: str) -> int:
    return zlib.crc32(f"{salt}:{split}:{index}".encode()) & 0x7FFFFFFF


# --------------------------------------------------------------------------- harmony
def chord_tones(tonic: int, mode: str, degree: int, harmonic_v: bool, seventh: bool):
    scale = SCALES[mode]
    if mode == "minor" and harmonic_v and degree == 4:
        scale = HARMONIC_MINOR
    idx = [degree, degree + 2, degree + 4] + ([degree + 6] if seventh else [])
    pcs = [(tonic + scale[i % 7]) % 12 for i in idx]
    root = pcs[0]
    iv = tuple((p - root) % 12 for p in pcs[1:])
    quality = {
        (4, 7): "maj", (3, 7): "min", (3, 6): "dim", (4, 8): "aug",
        (4, 7, 11): "maj7", (3, 7, 10): "min7", (4, 7, 10): "7", (3, 6, 10): "hdim7",
        (3, 6, 9): "dim7", (3, 7, 11): "minmaj7", (4, 8, 11): "aug",
    }[iv]
    return pcs, f"{NOTE_NAMES[root]}:{quality}"


def melody_scale(tonic: int, mode: str, harmonic_chord: bool):
    scale = HARMONIC_MINOR if (mode == "minor" and harmonic_chord) else SCALES[mode]
    return [(tonic + s) % 12 for s in scale]


# --------------------------------------------------------------------------- song plan
def plan_song(split: str, index: int, salt: str):
    """Stratified, deterministic key / tempo / metre of one song.

    Songs come in blocks of 12: each block has all 12 tonics (6 major, 6 minor, and the
    next block the complementary modes, so every 24 songs cover all 24 keys once), one
    tempo from each of 12 equal strata of 70..180 BPM, and two songs in 3/4.  A song
    depends only on (salt, split, index), so a corpus of n songs is a prefix of a larger one.
    """
    block, pos = divmod(index, 12)
    pair = block // 2
    rng_k = np.random.default_rng(zlib.crc32(f"{salt}:{split}:keys:{pair}".encode()))
    tonics = rng_k.permutation(12)
    modes = rng_k.permutation(["major"] * 6 + ["minor"] * 6)
    if block % 2:
        order = rng_k.permutation(12)
        tonics, modes = tonics[order], np.array(["minor" if m == "major" else "major" for m in modes])[order]
    rng_b = np.random.default_rng(zlib.crc32(f"{salt}:{split}:block:{block}".encode()))
    strata = rng_b.permutation(12)
    offsets = rng_b.uniform(size=12)
    waltz = set(int(i) for i in rng_b.choice(12, size=2, replace=False))
    return dict(tonic=int(tonics[pos]), mode=str(modes[pos]),
                tempo_raw=70.0 + 110.0 * (strata[pos] + offsets[pos]) / 12,
                beats_per_bar=3 if pos in waltz else 4)


def pick_balanced(split: str, index: int, salt: str, name: str, options: list):
    """Round-robin over a per-block random permutation: every len(options) consecutive
    songs use each option once (deterministic in salt, split, index)."""
    m = len(options)
    rng = np.random.default_rng(zlib.crc32(f"{salt}:{split}:{name}:{index // m}".encode()))
    return options[int(rng.permutation(m)[index % m])]


def pick_category(split: str, index: int, salt: str, category: str):
    return pick_balanced(split, index, salt, category, DEV_POOL[category])


class Song:
    """Composition of one song in beat units; converted to seconds at the end."""

    def __init__(self, split, index, plan, duration, salt):
        self.split, self.index, self.duration = split, index, duration
        self.song_id = f"{split}_{index:03d}"
        self.seed = song_seed(split, index, salt)
        rng = self.rng = np.random.default_rng(self.seed)
        self.tonic, self.mode, self.bpb = plan["tonic"], plan["mode"], plan["beats_per_bar"]
        # tempo: exact integer microseconds per quarter note so MIDI and labels agree
        self.mpqn = round(6e7 / plan["tempo_raw"])
        self.bpm = 6e7 / self.mpqn
        self.beat_s = self.mpqn / 1e6
        tick_s = self.beat_s / PPQ
        self.t0 = round(rng.uniform(0.05, 0.8) / tick_s) * tick_s     # first beat, on a MIDI tick
        self.n_beats = math.floor((duration - 1e-6 - self.t0) / self.beat_s) + 1
        self.n_bars = math.ceil(self.n_beats / self.bpb) + 1
        self.new_features = []

        for cat in ("progression", "bass_program", "other_program", "vocals_program", "drum_kit"):
            val = pick_category(split, index, salt, cat)
            setattr(self, cat, val)
            if val in HOLDOUT_ONLY_POOL[cat]:
                self.new_features.append(cat)
        if self.bpb == 3:
            self.drum_style = "waltz"
        else:
            self.drum_style = pick_balanced(split, index, salt, "drum_style",
                                            ["rock", "four_on_the_floor", "half_time"])

        # harmonic rhythm
        if self.bpm >= 140 and rng.uniform() < 0.7:
            self.slot_beats = 2 * self.bpb
        elif self.bpm < 95 and self.bpb == 4 and rng.uniform() < 0.5:
            self.slot_beats = 2
        else:
            self.slot_beats = self.bpb
        # arrangement: optional intro without drums / vocals
        self.drums_start_bar = int(rng.choice([0, 0, 0, 1, 2]))
        self.bass_start_bar = int(rng.choice([0, self.drums_start_bar]))
        self.vocals_start_bar = self.drums_start_bar + int(rng.choice([0, 1]))
        self.cc7 = {}
        for stem in STEMS:
            db = rng.uniform(-LEVEL_JITTER_DB, LEVEL_JITTER_DB)
            self.cc7[stem] = int(min(127, round(CC7[stem][self.program(stem)] * 10 ** (db / 40))))
        self.pan = {"drums": 64, "bass": 64, "vocals": 64, "other": int(rng.choice([44, 54, 74, 84]))}
        self.tracks = {s: [] for s in STEMS}     # (pitch, start_beat, dur_beats, velocity)
        self._make_chords()
        self._drums()
        self._bass()
        self._other()
        self._vocals()

    # -- harmony -----------------------------------------------------------------
    def _make_chords(self):
        maj, minr, harm, sev = PROGRESSIONS[self.progression]
        degrees = maj if self.mode == "major" else minr
        self.chords = []
        pos, k = 0.0, 0
        total = self.n_bars * self.bpb
        while pos < total:
            deg = degrees[k % len(degrees)]
            harmonic = harm and self.mode == "minor" and deg == 4
            pcs, label = chord_tones(self.tonic, self.mode, deg, harm, sev)
            self.chords.append(dict(start=pos, end=pos + self.slot_beats, pcs=pcs, root=pcs[0],
                                    label=label, degree=deg, harmonic=harmonic))
            pos += self.slot_beats
            k += 1

    def chord_at(self, beat):
        for c in self.chords:
            if c["start"] <= beat + 1e-9 < c["end"]:
                return c
        return self.chords[-1]

    def vel(self, base, spread=8):
        return int(np.clip(base + self.rng.integers(-spread, spread + 1), 1, 127))

    # -- drums ---------------------------------------------------------------------
    def _drums(self):
        rng, bpb, out = self.rng, self.bpb, self.tracks["drums"]
        style = self.drum_style
        kick_var = int(rng.integers(3))
        hat16 = self.bpm < 100 and rng.uniform() < 0.5
        hat = HH_CLOSED if rng.uniform() < 0.8 else RIDE
        use_toms = rng.uniform() < 0.5
        for bar in range(self.drums_start_bar, self.n_bars):
            b0 = bar * bpb
            rel = bar - self.drums_start_bar
            fill = rel % 8 == 7
            hits = []
            if style == "rock":
                kicks = [0, 2] + ([2.5] if kick_var == 1 else []) + ([1.5, 2.5] if kick_var == 2 else [])
                hits += [(KICK, p, 108) for p in kicks] + [(SNARE, p, 102) for p in (1, 3)]
                step = 0.5 if self.bpm < 150 else 1.0
                hits += [(hat, p, 84 if p == int(p) else 64) for p in np.arange(0, 4, step)]
            elif style == "four_on_the_floor":
                hits += [(KICK, p, 112) for p in range(4)]
                hits += [(CLAP if kick_var != 0 else SNARE, p, 96) for p in (1, 3)]
                hits += [(HH_OPEN, p + 0.5, 72) for p in range(4)]
                hits += [(HH_CLOSED, p, 56) for p in range(4)]
            elif style == "half_time":
                kicks = [0] + ([1.5] if kick_var >= 1 else []) + ([3.5] if kick_var == 2 else [])
                hits += [(KICK, p, 110) for p in kicks] + [(SNARE, 2, 108)]
                step = 0.25 if hat16 else 0.5
                hits += [(hat, p, 80 if p == int(p) else 60) for p in np.arange(0, 4, step)]
            else:  # waltz
                hits += [(KICK, 0, 108)]
                hits += [((SIDESTICK if kick_var == 0 else SNARE), p, 80) for p in (1, 2)]
                hits += [(hat, p, 78 if p == 0 else 62) for p in range(3)]
            if rel % 8 == 0:
                hits.append((CRASH, 0, 100))
            if fill:
                last = bpb - 1
                hits = [h for h in hits if h[1] < last]
                n_f = 4 if self.bpm < 125 else 2
                for j in range(n_f):
                    pitch = TOMS[j * len(TOMS) // n_f] if use_toms else SNARE
                    hits.append((pitch, last + j / n_f, 80 + 8 * j))
                hits.append((KICK, last, 100))
            for pitch, p, v in hits:
                out.append((pitch, b0 + float(p), 0.25, self.vel(v)))

    # -- bass --------------------------------------------------------------------------
    def _bass_note(self, pc):
        return 28 + ((pc - 4) % 12)            # E1 .. D#2

    def _bass(self):
        rng, bpb, out = self.rng, self.bpb, self.tracks["bass"]
        options = {"rock": ["quarter_roots", "eighth_roots", "root_fifth"],
                   "four_on_the_floor": ["offbeat_octave", "eighth_roots"],
                   "half_time": ["half_notes", "root_fifth_synco"],
                   "waltz": ["waltz"]}[self.drum_style]
        self.bass_pattern = options[int(rng.integers(len(options)))]
        for bar in range(self.bass_start_bar, self.n_bars):
            b0 = bar * bpb
            if self.bass_pattern == "quarter_roots":
                ev = [(p, 0, 0.9) for p in range(bpb)]
            elif self.bass_pattern == "eighth_roots":
                ev = [(p / 2, 0, 0.45) for p in range(2 * bpb)]
            elif self.bass_pattern == "root_fifth":
                ev = [(0, 0, 1.8), (2, 7, 0.9), (3, 0, 0.9)]
            elif self.bass_pattern == "offbeat_octave":
                ev = [(0, 0, 0.45)] + [(p + 0.5, 12, 0.4) for p in range(bpb)]
            elif self.bass_pattern == "half_notes":
                ev = [(0, 0, 1.9), (2, 0, 1.9)]
            elif self.bass_pattern == "root_fifth_synco":
                ev = [(0, 0, 1.4), (1.5, 0, 0.45), (2, 7, 0.9), (3.5, 0, 0.45)]
            else:  # waltz
                ev = ([(0, 0, 0.9), (1, 7, 0.4), (2, 12, 0.4)] if bar % 2 == 0
                      else [(0, 7, 0.9), (1, 12, 0.4), (2, 0, 0.4)])
            for p, interval, d in ev:
                c = self.chord_at(b0 + p)
                pitch = self._bass_note(c["root"]) + interval
                nxt = self.chord_at(b0 + p + d + 0.01)
                # occasional approach note into the next chord
                if interval == 0 and p == bpb - 1 and nxt is not c and rng.uniform() < 0.3:
                    pitch = self._bass_note(nxt["root"]) + (2 if rng.uniform() < 0.5 else -1)
                out.append((pitch, b0 + p, d, self.vel(100 if p == 0 else 90)))

    # -- other (comping) -------------------------------------------------------------
    def _voicing(self, pcs, prev):
        cands = []
        for low in range(50, 66):
            if low % 12 not in pcs:
                continue
            v = [low]
            for pc in pcs:
                if pc == low % 12:
                    continue
                nxt = v[-1] + 1
                while nxt % 12 != pc:
                    nxt += 1
                v.append(nxt)
            v = sorted(v)
            if len(pcs) == 3:
                v.append(v[0] + 12)         # double the lowest tone
            cands.append(v)
        if prev is None:
            return min(cands, key=lambda v: abs(np.mean(v) - 62))
        return min(cands, key=lambda v: sum(abs(a - b) for a, b in zip(v, prev, strict=False))
                   + abs(np.mean(v) - 62) * 0.3)

    def _other(self):
        rng, bpb, out = self.rng, self.bpb, self.tracks["other"]
        prog = self.other_program
        if prog in KEYS_FAMILY:
            options = ["block_beats", "arpeggio", "offbeat_stabs", "half_bar"]
        elif prog in GUITAR_FAMILY:
            options = ["strum_beats", "arpeggio", "strum_pattern"]
        else:
            options = ["sustained", "half_bar"]
        if bpb == 3:
            options = [o for o in options if o not in ("strum_pattern", "offbeat_stabs")] or ["sustained"]
        self.other_pattern = options[int(rng.integers(len(options)))]
        prev = None
        for bar in range(self.n_bars):
            b0 = bar * bpb
            pat = self.other_pattern
            if pat in ("block_beats", "strum_beats"):
                ev = [(p, 0.85, None) for p in range(bpb)]
            elif pat == "arpeggio":
                ev = [(p / 2, 0.5, j) for j, p in enumerate(range(2 * bpb))]
            elif pat == "offbeat_stabs":
                ev = [(0, 0.4, None)] + [(p + 0.5, 0.3, None) for p in range(bpb)]
            elif pat == "strum_pattern":
                ev = [(0, 0.9, None), (1, 0.45, None), (1.5, 0.9, None), (2.5, 0.45, None),
                      (3, 0.45, None), (3.5, 0.45, None)]
            elif pat == "half_bar":
                ev = [(0, 1.9, None), (2, 1.9, None)] if bpb == 4 else [(0, 2.9, None)]
            else:  # sustained: one attack per chord slot or per bar
                ev = [(0, min(self.slot_beats, bpb) - 0.05, None)]
                if self.slot_beats == 2 and bpb == 4:
                    ev.append((2, 1.95, None))
            for p, d, arp in ev:
                c = self.chord_at(b0 + p)
                # never let a note ring past a chord change
                d = min(d, c["end"] - (b0 + p) - 0.02)
                voicing = self._voicing(c["pcs"], prev)
                prev = voicing
                strong = 90 if p == 0 else 78
                if arp is not None:
                    order = [0, 1, 2, 3, 2, 1, 0, 3][arp % 8] % len(voicing)
                    out.append((voicing[order], b0 + p, d, self.vel(strong - 6)))
                    continue
                strum = pat.startswith("strum")
                down = not (strum and (p % 1) == 0.5)
                notes = voicing if down else list(reversed(voicing))
                for j, pitch in enumerate(notes):
                    # strums spread the strings by 12 ms, always starting on the beat
                    off = (j * 0.012 / self.beat_s) if strum else 0.0
                    out.append((pitch, b0 + p + off, max(0.05, d - off), self.vel(strong)))

    # -- vocals ---------------------------------------------------------------------------
    def _vocals(self):
        rng, bpb, out = self.rng, self.bpb, self.tracks["vocals"]
        if bpb == 4:
            cells = [[1, 1, 1, 1], [2, 1, 1], [1.5, 0.5, 2], [0.5, 0.5, 1, 2], [1, 0.5, 0.5, 2],
                     [1, 1, 2], [0.5, 0.5, 0.5, 0.5, 2], [1.5, 0.5, 1, 1]]
            ends = [[2, 2], [3, 1], [4]]
        else:
            cells = [[1, 1, 1], [2, 1], [1.5, 0.5, 1], [1, 0.5, 0.5, 1]]
            ends = [[3], [2, 1]]
        tonic, dom = self.tonic, (self.tonic + 7) % 12
        lo, hi = 57, 77
        prev = 60 + ((tonic - 0) % 12)
        if prev > 69:
            prev -= 12
        phrase_rhythm = None
        self.vocal_phrases = 0
        for bar in range(self.vocals_start_bar, self.n_bars):
            b0 = bar * bpb
            pos_in_phrase = (bar - self.vocals_start_bar) % 4
            if pos_in_phrase == 0:
                self.vocal_phrases += 1
                if phrase_rhythm is None or rng.uniform() < 0.4:
                    phrase_rhythm = [cells[int(rng.integers(len(cells)))] for _ in range(3)] + \
                                    [ends[int(rng.integers(len(ends)))]]
            cell = phrase_rhythm[pos_in_phrase]
            phrase_end = pos_in_phrase == 3
            pos = 0.0
            for j, dur in enumerate(cell):
                beat = b0 + pos
                c = self.chord_at(beat)
                last_note = phrase_end and j == len(cell) - 1
                if last_note and len(cell) > 1 and rng.uniform() < 0.35:
                    pos += dur                # breath: rest on the final beat(s)
                    continue
                strong = (pos % 1 == 0) and (pos == 0 or pos == bpb / 2 or dur >= 1)
                if last_note or (phrase_end and j == 0):
                    # phrase ends on the tonic (odd phrases may end on the dominant)
                    target = [tonic] if (self.vocal_phrases % 2 == 0 or dom not in c["pcs"]) else [dom]
                    if tonic not in c["pcs"] and dom in c["pcs"]:
                        target = [dom]
                    weights = {pc: 1.0 for pc in target}
                elif strong:
                    weights = {pc: 1.0 for pc in c["pcs"]}
                else:
                    weights = {pc: 0.6 for pc in melody_scale(tonic, self.mode, c["harmonic"])}
                    for pc in c["pcs"]:
                        weights[pc] = 1.0
                if tonic in weights:
                    weights[tonic] *= 2.0
                if dom in weights:
                    weights[dom] *= 1.7
                cand, w = [], []
                for pitch in range(lo, hi + 1):
                    if pitch % 12 in weights:
                        step = abs(pitch - prev)
                        cand.append(pitch)
                        w.append(weights[pitch % 12] * math.exp(-step / 2.5) * (0.3 if step == 0 else 1.0))
                w = np.array(w) / np.sum(w)
                pitch = int(cand[int(rng.choice(len(cand), p=w))])
                # singers are a little loose: up to +-8 ms, never before the bar's first beat
                jitter = 0.0 if (bar == self.vocals_start_bar and j == 0) else rng.normal(0, 0.004)
                start = beat + jitter / self.beat_s
                d = dur * (0.95 if not last_note else 0.9)
                out.append((pitch, start, d, self.vel(96 if strong else 86)))
                prev = pitch
                pos += dur

    # -- output -------------------------------------------------------------------------
    def sec(self, beat):
        return self.t0 + beat * self.beat_s

    def beat_times(self):
        return [self.t0 + k * self.beat_s for k in range(self.n_beats)]

    def downbeat_times(self):
        return [t for k, t in enumerate(self.beat_times()) if k % self.bpb == 0]

    def chord_segments(self):
        segs = []
        for c in self.chords:
            s, e = self.sec(c["start"]), min(self.sec(c["end"]), self.duration)
            if s >= self.duration:
                break
            segs.append((s, e, c["label"]))
        return segs

    def program(self, stem):
        return {"drums": self.drum_kit, "bass": self.bass_program, "other": self.other_program,
                "vocals": self.vocals_program}[stem]

    def instrument(self, stem, pad_event=True):
        prog = self.program(stem)
        inst = pretty_midi.Instrument(program=prog, is_drum=(stem == "drums"), name=stem)
        for num, val in ((7, self.cc7[stem]), (10, self.pan[stem]), (91, REVERB_SEND[stem]),
                         (93, CHORUS_SEND[stem])):
            inst.control_changes.append(pretty_midi.ControlChange(num, val, 0.0))
        for pitch, start_b, dur_b, v in self.tracks[stem]:
            s = self.sec(start_b)
            if s >= self.duration - 0.05:
                continue
            e = min(self.sec(start_b + dur_b), self.duration)
            inst.notes.append(pretty_midi.Note(velocity=v, pitch=int(pitch), start=s, end=e))
        if pad_event:   # keeps FluidSynth rendering until past the end of the excerpt
            inst.control_changes.append(pretty_midi.ControlChange(7, self.cc7[stem], self.duration + 0.5))
        return inst

    def midi(self, stems, meta=False, pad_event=True):
        pm = pretty_midi.PrettyMIDI(resolution=PPQ, initial_tempo=self.bpm)
        if meta:
            pm.time_signature_changes.append(pretty_midi.TimeSignature(self.bpb, 4, 0.0))
            pm.key_signature_changes.append(
                pretty_midi.KeySignature(pretty_midi.key_name_to_key_number(
                    f"{NOTE_NAMES[self.tonic]} {'Major' if self.mode == 'major' else 'minor'}"), 0.0))
        for s in stems:
            pm.instruments.append(self.instrument(s, pad_event))
        return pm


def write_midi(pm: pretty_midi.PrettyMIDI, path: str, mpqn: int):
    """Write with pretty_midi, then pin the tempo to the exact integer microseconds."""
    pm.write(path)
    mf = mido.MidiFile(path)
    for tr in mf.tracks:
        for msg in tr:
            if msg.type == "set_tempo":
                msg.tempo = mpqn
    mf.save(path)


# --------------------------------------------------------------------------- rendering
def fluidsynth_render(mid_path, wav_path, sf2):
    cmd = ["fluidsynth", "-n", "-i", "-q", "-g", str(FS_GAIN), "-r", str(SR),
           "-O", "float", "-T", "wav", "-o", "synth.cpu-cores=1",
           "-F", wav_path, sf2, mid_path]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    x, sr = sf.read(wav_path, dtype="float64", always_2d=True)
    assert sr == SR, (sr, x.shape)
    assert x.shape[1] == 2, (sr, x.shape)
    return x


def render_song(job):
    split, index, plan, duration, out_dir, sf2, salt = job
    t_start = time.time()
    song = Song(split, index, plan, duration, salt)
    sdir = os.path.join(out_dir, song.song_id)
    os.makedirs(sdir, exist_ok=True)
    n = round(duration * SR)
    stems = {}
    with tempfile.TemporaryDirectory(prefix="bench_") as tmp:
        for stem in STEMS:
            mid = os.path.join(tmp, f"{stem}.mid")
            write_midi(song.midi([stem]), mid, song.mpqn)
            x = fluidsynth_render(mid, os.path.join(tmp, f"{stem}.wav"), sf2)
            y = np.zeros((n, 2))
            y[:min(n, len(x))] = x[:n]
            stems[stem] = y
    fade = np.ones(n)
    nf = int(FADE_S * SR)
    fade[n - nf:] = np.linspace(1.0, 0.0, nf)
    for s in STEMS:
        stems[s] *= fade[:, None]
    mix = sum(stems[s] for s in STEMS)
    peak = max(np.max(np.abs(mix)), max(np.max(np.abs(stems[s])) for s in STEMS))
    scale = 10 ** (PEAK_DBFS / 20) / peak
    ints = {s: np.round(stems[s] * scale * 32767).astype(np.int32) for s in STEMS}
    mix_i = sum(ints[s] for s in STEMS)
    assert np.max(np.abs(mix_i)) <= 32767
    for s in STEMS:
        sf.write(os.path.join(sdir, f"{s}.flac"), ints[s].astype(np.int16), SR,
                 format="FLAC", subtype="PCM_16", compression_level=1.0)
    sf.write(os.path.join(sdir, "mix.flac"), mix_i.astype(np.int16), SR,
             format="FLAC", subtype="PCM_16", compression_level=1.0)
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i",
                    os.path.join(sdir, "mix.flac"), "-map_metadata", "-1", "-fflags", "+bitexact",
                    "-flags:a", "+bitexact", "-c:a", "libmp3lame", "-b:a", "320k",
                    os.path.join(sdir, "mix.mp3")], check=True)
    write_midi(song.midi(STEMS, meta=True, pad_event=False), os.path.join(sdir, "song.mid"), song.mpqn)
    beats = song.beat_times()
    with open(os.path.join(sdir, "beats.txt"), "w") as f:      # madmom/mir_eval style
        for k, t in enumerate(beats):
            f.write(f"{t:.6f}\t{k % song.bpb + 1}\n")
    segs = song.chord_segments()
    with open(os.path.join(sdir, "chords.lab"), "w") as f:
        for s, e, lab in segs:
            f.write(f"{s:.6f}\t{e:.6f}\t{lab}\n")
    stem_rms = {s: float(20 * np.log10(np.sqrt(np.mean((ints[s] / 32768.0) ** 2)) + 1e-12)) for s in STEMS}
    row = {
        "song_id": song.song_id, "split": split, "seed": song.seed,
        "tempo_bpm": f"{song.bpm:.6f}",
        "key_tonic": NOTE_NAMES[song.tonic], "key_mode": song.mode,
        "time_signature": f"{song.bpb}/4",
        "beat_times": ";".join(f"{t:.6f}" for t in beats),
        "duration_s": f"{duration:.3f}",
        "downbeat_times": ";".join(f"{t:.6f}" for t in song.downbeat_times()),
        "first_beat_s": f"{song.t0:.6f}", "n_beats": len(beats),
        "progression_style": song.progression,
        "chords": ";".join(f"{s:.4f}|{e:.4f}|{lab}" for s, e, lab in segs),
        "drum_style": song.drum_style,
        "drum_kit": f"{song.drum_kit}:{KIT_NAMES[song.drum_kit]}",
        "bass_program": f"{song.bass_program}:{GM_NAMES[song.bass_program]}",
        "bass_pattern": song.bass_pattern,
        "other_program": f"{song.other_program}:{GM_NAMES[song.other_program]}",
        "other_pattern": song.other_pattern,
        "vocals_program": f"{song.vocals_program}:{GM_NAMES[song.vocals_program]}",
        "holdout_only_features": ";".join(song.new_features),
        "drums_start_s": f"{song.sec(song.drums_start_bar * song.bpb):.6f}",
        "vocals_start_s": f"{song.sec(song.vocals_start_bar * song.bpb):.6f}",
        "stem_rms_dbfs": ";".join(f"{s}={stem_rms[s]:.1f}" for s in STEMS),
    }
    return row, time.time() - t_start


LABEL_FIELDS = ["song_id", "split", "seed", "tempo_bpm", "key_tonic", "key_mode", "time_signature",
                "beat_times", "duration_s", "downbeat_times", "first_beat_s", "n_beats",
                "progression_style", "chords", "drum_style", "drum_kit", "bass_program",
                "bass_pattern", "other_program", "other_pattern", "vocals_program",
                "holdout_only_features", "drums_start_s", "vocals_start_s", "stem_rms_dbfs"]


def tool_versions(sf2):
    def first_line(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True).stdout.splitlines()[0]
        except Exception as e:
            return f"unavailable ({e})"
    with open(sf2, "rb") as f:
        sf2_md5 = hashlib.md5(f.read()).hexdigest()
    return {"fluidsynth": first_line(["fluidsynth", "--version"]),
            "ffmpeg": first_line(["ffmpeg", "-version"]),
            "soundfont": sf2, "soundfont_md5": sf2_md5,
            **{pkg: metadata.version(pkg) for pkg in ("pretty_midi", "mido", "numpy", "soundfile")},
            "libsndfile": sf.__libsndfile_version__, "python": platform.python_version()}


def generate(args):
    t_start = time.time()
    for tool in ("fluidsynth", "ffmpeg"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} not found: apt-get install fluidsynth fluid-soundfont-gm ffmpeg")
    if not os.path.exists(args.soundfont):
        sys.exit(f"SoundFont {args.soundfont} not found: apt-get install fluid-soundfont-gm")
    os.makedirs(args.out, exist_ok=True)
    jobs = [(args.split, i, plan_song(args.split, i, args.salt), args.duration, args.out,
             args.soundfont, args.salt) for i in range(args.n)]
    rows, song_times = [], []
    with ProcessPoolExecutor(max_workers=args.jobs) as ex:
        for row, dt in ex.map(render_song, jobs):
            rows.append(row)
            song_times.append(dt)
            print(f"{row['song_id']}: {float(row['tempo_bpm']):6.1f} BPM {row['key_tonic']:>2} "
                  f"{row['key_mode']:5} {row['time_signature']} {row['drum_style']:17} "
                  f"{row['progression_style']:12} {dt:5.1f}s", flush=True)
    with open(os.path.join(args.out, "labels.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=LABEL_FIELDS)
        w.writeheader()
        for r in rows:
            w.writerow(r)
    # checksums of everything deterministic (audio, MIDI, labels)
    sums = []
    for root, _, files in sorted(os.walk(args.out)):
        for fn in sorted(files):
            p = os.path.join(root, fn)
            rel = os.path.relpath(p, args.out)
            if rel in ("SHA256SUMS", "manifest.json"):
                continue
            with open(p, "rb") as fh:
                sums.append(f"{hashlib.sha256(fh.read()).hexdigest()}  {rel}")
    with open(os.path.join(args.out, "SHA256SUMS"), "w") as f:
        f.write("\n".join(sorted(sums, key=lambda s: s[66:])) + "\n")
    total = sum(os.path.getsize(os.path.join(r, fn)) for r, _, fs in os.walk(args.out) for fn in fs)
    manifest = {"generator_version": GENERATOR_VERSION, "split": args.split, "n": args.n,
                "duration_s": args.duration, "sample_rate": SR, "fluidsynth_gain": FS_GAIN,
                "peak_dbfs": PEAK_DBFS, "salt_is_default": args.salt == "dev-public",
                "tools": tool_versions(args.soundfont),
                "run": {"jobs": args.jobs, "wall_s": round(time.time() - t_start, 1),
                        "song_cpu_s_mean": round(float(np.mean(song_times)), 2),
                        "bytes": total}}
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
    print(f"wrote {args.n} songs to {args.out}: {total / 1e6:.1f} MB in {time.time() - t_start:.1f} s")


# --------------------------------------------------------------------------- verification
def decode_mp3(path):
    p = subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-i", path, "-f", "f32le",
                        "-ac", "2", "-ar", str(SR), "-"], capture_output=True, check=True)
    return np.frombuffer(p.stdout, dtype=np.float32).reshape(-1, 2)


def verify(out_dir, sf2=SF2_DEFAULT, rerender=0):
    with open(os.path.join(out_dir, "labels.csv")) as f:
        rows = list(csv.DictReader(f))
    problems, onset_errs, mix_onset_errs, vocal_td = [], [], [], []
    for k, r in enumerate(rows):
        sid = r["song_id"]
        sdir = os.path.join(out_dir, sid)
        dur = float(r["duration_s"])
        data = {}
        for s in ("mix", *STEMS):
            x, sr = sf.read(os.path.join(sdir, f"{s}.flac"), dtype="float64", always_2d=True)
            data[s] = x
            if sr != SR or x.shape != (round(dur * SR), 2):
                problems.append(f"{sid}/{s}: sr={sr} shape={x.shape}")
            rms = 20 * np.log10(np.sqrt(np.mean(x ** 2)) + 1e-12)
            if rms < -50:
                problems.append(f"{sid}/{s}: near-silent ({rms:.1f} dBFS)")
            # non-silent in most 5-second windows after the stem's entry
            if np.max(np.abs(x)) >= 1.0:
                problems.append(f"{sid}/{s}: clipped")
        err = np.max(np.abs(data["mix"] - sum(data[s] for s in STEMS)))
        if err > 1e-9:
            problems.append(f"{sid}: mix != sum(stems), max err {err:.2e}")
        mp3 = decode_mp3(os.path.join(sdir, "mix.mp3"))
        if abs(len(mp3) - len(data["mix"])) > SR * 0.06:
            problems.append(f"{sid}: mp3 length {len(mp3) / SR:.3f}s")
        # MIDI consistency: tempo, first note == first beat, beat grid spacing
        pm = pretty_midi.PrettyMIDI(os.path.join(sdir, "song.mid"))
        _tc_t, tc = pm.get_tempo_changes()
        bpm = float(r["tempo_bpm"])
        mf = mido.MidiFile(os.path.join(sdir, "song.mid"))
        mpqn = [m.tempo for tr in mf.tracks for m in tr if m.type == "set_tempo"]
        if len(tc) != 1 or abs(tc[0] - bpm) > 1e-6 or abs(6e7 / mpqn[0] - bpm) > 1e-6:
            problems.append(f"{sid}: MIDI tempo {tc} vs label {bpm}")
        beats = np.array([float(t) for t in r["beat_times"].split(";")])
        if np.max(np.abs(np.diff(beats) - 60.0 / bpm)) > 2e-6:
            problems.append(f"{sid}: beat grid spacing != 60/tempo")
        first_note = min(n.start for inst in pm.instruments for n in inst.notes)
        if abs(first_note - beats[0]) > 1e-3:
            problems.append(f"{sid}: first MIDI note {first_note:.4f} != first beat {beats[0]:.4f}")
        # every beat in the grid falls on an integer MIDI beat offset from the first beat
        ticks_per_s = mf.ticks_per_beat * bpm / 60.0
        grid = (beats - beats[0]) * ticks_per_s
        if np.max(np.abs(grid - np.round(grid / mf.ticks_per_beat) * mf.ticks_per_beat)) > 0.01:
            problems.append(f"{sid}: beat grid not on MIDI beats")
        drum_onsets = sorted(n.start for inst in pm.instruments if inst.is_drum for n in inst.notes)
        if abs(drum_onsets[0] - float(r["drums_start_s"])) > 1e-3:
            problems.append(f"{sid}: drums_start mismatch")
        # audio onset vs MIDI onset: first sample above -40 dB of the stem's peak.  Drums are
        # percussive, so this measures FluidSynth's scheduling latency; the mix starts with
        # whatever plays the first beat (pads/strings/organ have slow attacks).
        for s, t_midi, errs in (("drums", drum_onsets[0], onset_errs), ("mix", first_note, mix_onset_errs)):
            env = np.max(np.abs(data[s]), axis=1)
            idx = np.argmax(env > env.max() * 0.01)
            errs.append((idx / SR) - t_midi)
        # vocals emphasise tonic and dominant
        tonic = NOTE_NAMES.index(r["key_tonic"])
        voc = [n for inst in pm.instruments if inst.name == "vocals" for n in inst.notes]
        tot = sum(n.end - n.start for n in voc)
        td = sum(n.end - n.start for n in voc if (n.pitch - tonic) % 12 in (0, 7))
        vocal_td.append(td / tot)
        if k < rerender:
            # the mix equals a FluidSynth rendering of the whole song.mid (linearity check)
            with tempfile.TemporaryDirectory() as tmp:
                pm2 = pretty_midi.PrettyMIDI(os.path.join(sdir, "song.mid"))
                for inst in pm2.instruments:     # same end-padding event as the stem renders
                    cc7 = next(c.value for c in inst.control_changes if c.number == 7)
                    inst.control_changes.append(pretty_midi.ControlChange(7, cc7, dur + 0.5))
                mid = os.path.join(tmp, "all.mid")
                write_midi(pm2, mid, mpqn[0])
                full = fluidsynth_render(mid, os.path.join(tmp, "all.wav"), sf2)
                n_ = len(data["mix"])
                full = np.pad(full[:n_], ((0, max(0, n_ - len(full))), (0, 0)))
                nf = int(FADE_S * SR)
                full[n_ - nf:] *= np.linspace(1.0, 0.0, nf)[:, None]
                ref = data["mix"]
                g = np.dot(full.ravel(), ref.ravel()) / np.dot(full.ravel(), full.ravel())
                snr = 10 * np.log10(np.sum(ref ** 2) / np.sum((ref - g * full) ** 2))
                print(f"{sid}: one FluidSynth render of song.mid vs sum of stems: SNR {snr:.1f} dB")
                if snr < 40:
                    problems.append(f"{sid}: whole-song render differs from stem sum (SNR {snr:.1f} dB)")
    oe = np.array(onset_errs) * 1000
    me = np.array(mix_onset_errs) * 1000
    print(f"verified {len(rows)} songs in {out_dir}")
    print(f"drums: audio onset - MIDI onset (ms): mean {oe.mean():.2f}, min {oe.min():.2f}, max {oe.max():.2f}")
    print(f"mix: first audio onset - first beat (ms): mean {me.mean():.2f}, min {me.min():.2f}, max {me.max():.2f}")
    print(f"vocal time on tonic/dominant: mean {np.mean(vocal_td) * 100:.0f}% "
          f"(min {np.min(vocal_td) * 100:.0f}%)")
    if np.max(np.abs(oe)) > 8 or oe.min() < 0:
        problems.append(f"drum audio onsets deviate from MIDI by up to {np.max(np.abs(oe)):.1f} ms")
    if np.max(np.abs(me)) > 80 or me.min() < 0:
        problems.append(f"first mix onset deviates from first beat by up to {np.max(np.abs(me)):.1f} ms")
    for p in problems:
        print("PROBLEM:", p)
    print("OK" if not problems else f"{len(problems)} problem(s)")
    return not problems


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", choices=["dev"], default="dev")
    ap.add_argument("--n", type=int, default=12)
    ap.add_argument("--out")
    ap.add_argument("--duration", type=float, default=30.0)
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--soundfont", default=SF2_DEFAULT)
    ap.add_argument("--salt", default="dev-public",
                    help="seed salt; keep a non-default salt secret for a truly private hold-out")
    ap.add_argument("--verify", metavar="DIR", help="verify a rendered corpus instead of generating")
    ap.add_argument("--rerender", type=int, default=0,
                    help="with --verify: also render the whole song.mid of the first N songs "
                         "and compare with the sum of stems")
    args = ap.parse_args()
    if args.verify:
        sys.exit(0 if verify(args.verify, args.soundfont, args.rerender) else 1)
    if not args.split or not args.out:
        ap.error("--split and --out are required (or use --verify DIR)")
    generate(args)


if __name__ == "__main__":
    main()
