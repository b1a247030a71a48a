"""Build a real-audio evaluation set with human beat, downbeat, tempo and key labels.

    python benchmarks/real_corpus.py --sources DIR [--repo OWNER/NAME=GITDIR ...] [--deb DIR ...] [--out DIR]

Nothing here is downloaded and no third-party audio is committed: the script reads bare git
repositories that the user cloned (``git clone --bare https://github.com/OWNER/NAME``; see
``benchmarks/REAL_CORPUS_NOTES.md`` for the list) and, optionally, Debian packages unpacked with
``dpkg-deb -x``. Every file is read with ``git --git-dir=GITDIR show COMMIT:PATH`` at a pinned
commit, so a rebuild gives the same corpus.

Where the repositories are looked for, in this order:

* ``--repo OWNER/NAME=GITDIR`` (repeatable): that repository is that git directory;
* ``--sources DIR`` (repeatable) and ``$SOUNDFORGE_REAL_SOURCES`` (``os.pathsep``-separated):
  folders holding the clones, as ``OWNER+NAME/repo``, ``OWNER+NAME``, ``OWNER/NAME.git``,
  ``OWNER/NAME``, ``NAME.git`` or ``NAME``.

A repository or file that is missing is skipped with a message; what was built is printed.
The output (default ``benchmarks/data/real``, git-ignored) holds ``audio/`` (one file per clip,
in its original format), ``unannotated/`` (``--deb``: game music of Debian packages, no labels) and
``manifest.csv``::

    clip_id, file, source_repo, commit, source_path, licence, duration_s, tempo_bpm,
    beats, downbeats, beats_per_bar, key, collection, tempo_source, annotation_source

``beats`` and ``downbeats`` are ``;``-separated seconds; ``tempo_bpm`` is the dataset's own tempo
label where it has one (``tempo_source=label``), else the median inter-beat interval of the
annotation (``tempo_source=median_ibi``), else NaN. ``key`` is like ``A minor`` (sharps); some clips carry
only a key (recordings of works whose title states it, Beatles songs with an Isophonics key), and
``annotation_source`` says where every label comes from (``title-derived`` for keys read from a work's title).
Files of 4 MiB and more in git sources are skipped by default (``--max-audio-mib``), so that a
full clone and a size-capped mirror give the same corpus. Re-running rewrites only what changed.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import itertools
import json
import math
import os
import re
import shutil
import struct
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "benchmarks" / "data" / "real"
ENV_SOURCES = "SOUNDFORGE_REAL_SOURCES"
MIN_DURATION_S = 10.0
MIN_CHART_COVERAGE = 0.8  # rhythm-game charts must annotate this share of their audio (warps, early ends)
AUDIO_EXTS = (".wav", ".flac", ".ogg", ".mp3", ".au", ".aiff", ".aif")
FIELDS = ["clip_id", "file", "source_repo", "commit", "source_path", "licence", "duration_s", "tempo_bpm",
          "beats", "downbeats", "beats_per_bar", "key", "collection", "tempo_source", "annotation_source"]

# Pinned commits: the corpus is defined by these.
MIRDATA = ("mir-dataset-loaders/mirdata", "b95bf3893616ff16082beed7869f144bb711c163")
BEAT_THIS = ("CPJKU/beat_this_annotations", "c3c47fd37d3074d9f8119f18bbf460f909609f22")
GTZAN_KEY = ("alexanderlerch/gtzan_key", "9ef1591f81ee2f7821c7ce41e774ea7ac7f94cbe")
FMP = ("zachserviss/CSC475_Chord_Generator", "5460e614391bac581213bac2d9f23f8f8e7e22cb")
STEPMANIA = ("stepmania/stepmania", "d55acb1ba26f1c5b5e3048d6d6c0bd116625216f")
HODOBOX = ("Hodobox/stepmania-songs", "b4c7288f465e0d08925b8a5e14fd46c408fbae71")
FOF = ("skyostil/fretsonfire", "83bc0709bde4af29ca5313312a7d64fad4e29c62")
GTZAN_CUT = ("zenny126/py", "9845aa74f40f3ec3cc37e1ca40db48fa292d85c3")  # 100 GTZAN files cut to 15-19 s
GTZAN_FULL = ("palonso/pecmae-samples", "98c8665bc55416af2f75b1dad5f7be2c1c4f60b8")  # <genre>.00000, full 30 s
GTZAN_TEMPO = ("TempoBeatDownbeat/gtzan_tempo_beat", "fd9cafdebb6426fee41c3718791be61306323dd7")
MSAF = ("urinieto/msaf-data", "7d2b353f21e04ced65a9d9834e0358d242d3c5fe")  # Isophonics JAMS (key_mode)
PINNED = [MIRDATA, BEAT_THIS, GTZAN_KEY, FMP, STEPMANIA, HODOBOX, FOF, GTZAN_CUT, GTZAN_FULL, GTZAN_TEMPO, MSAF]

LIC_MIRDATA = ("mirdata test fixture (repo BSD-3-Clause); recording (c) its rights holders, "
               "distributed for research with the {dataset} dataset")
LIC_FMP = ("FMP notebooks data (M. Mueller, AudioLabs Erlangen; notebooks CC BY-NC-SA 4.0) copied in an "
           "unlicensed course repo; recording (c) its rights holders (SMD/RWC/commercial)")
LIC_STEPMANIA = "bundled with StepMania (repo MIT); song (c) its composer, redistributed with the game"
LIC_HODOBOX = "no licence (fan rhythm-game charts); song (c) its rights holders; local evaluation only"
LIC_FOF = "Frets on Fire data (GPL-2.0 per copying.txt); song by the game's authors/contributors"
LIC_MULDJORD = "CC BY-SA 3.0 (Debian fretsonfire-songs-muldjord)"
LIC_SECTOID = "Expat/MIT-style (Debian fretsonfire-songs-sectoid)"
LIC_WESNOTH = "GPL-2.0-or-later (Debian wesnoth-1.16-music)"
LIC_GTZAN = ("GTZAN excerpt (G. Tzanetakis, research dataset; recording (c) its rights holders) copied in an "
             "unlicensed repo; local evaluation only")
LIC_BEATLES = ("The Beatles recording (c) its rights holders, copied in the FMP data of an unlicensed course repo; "
               "local evaluation only")


@dataclass(frozen=True)
class DebianMusic:
    """Music of one Debian package, used unannotated (the beat-order and robustness check): where the
    package puts it (globs under the unpack root) and its licence as the package's ``copyright`` states it."""

    package: str
    globs: tuple[str, ...]
    licence: str
    prefix: str


# Real recordings without labels, beside Wesnoth's (130 tracks, about 8 h): game soundtracks in several
# styles, one package in Ogg Opus (a format the annotated set does not have).
UNANNOTATED_DEBIAN = (
    DebianMusic("supertux-data", ("usr/share/games/supertux2/music/**/*.ogg",),
                "GPL-2.0-or-later (Debian supertux-data, data/music/*)", "supertux"),
    DebianMusic("hedgewars-data", ("usr/share/games/hedgewars/Data/Music/*.ogg",),
                "GPL-2.0 (Debian hedgewars-data)", "hedgewars"),
    DebianMusic("frozen-bubble-data", ("usr/share/games/frozen-bubble/snd/*zik*.ogg",),
                "GPL-2.0 (Debian frozen-bubble-data)", "frozenbubble"),
    DebianMusic("lincity-ng-data", ("usr/share/games/lincity-ng/music/default/*.ogg",),
                "GPL-2.0-or-later (Debian lincity-ng-data)", "lincity"),
    DebianMusic("extremetuxracer-data", ("usr/share/games/etr/music/*.ogg",),
                "GPL-2.0-or-later (Debian extremetuxracer-data)", "etr"),
    DebianMusic("xmoto-data", ("usr/share/games/xmoto/Textures/Musics/*.ogg",),
                "GPL-2.0-or-later (Debian xmoto-data)", "xmoto"),
    DebianMusic("warzone2100-music", ("usr/share/games/warzone2100/music/**/*.opus",),
                "GPL-2.0-or-later (Debian warzone2100-music; the Aftermath album also CC BY-SA 3.0, its "
                "license.txt)", "warzone"),
)

NOTE_NAMES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]


@dataclass
class Clip:
    """One manifest row, before its audio is written."""

    clip_id: str
    ext: str
    load: Callable[[], bytes]
    source_repo: str
    commit: str
    source_path: str
    licence: str
    collection: str
    beats: list[float] = field(default_factory=list)
    downbeats: list[float] = field(default_factory=list)
    beats_per_bar: int = 0
    tempo_label: float = math.nan
    key: str = ""
    annotation_source: str = ""
    folder: str = "audio"
    finish: Callable[[Clip, float], str] | None = None
    """Called with the audio duration to fill labels that need it; returns a reason to drop the clip, or ''."""


class Repo:
    """A bare git directory read at a pinned commit.

    Parameters
    ----------
    name : str
        ``OWNER/NAME`` on GitHub.
    gitdir : Path
        The git directory (bare clone or ``.git``).
    commit : str
        The pinned commit.
    """

    def __init__(self, *, name: str, gitdir: Path, commit: str) -> None:
        self.name = name
        self.gitdir = gitdir
        self.commit = commit
        self._tree: dict[str, tuple[str, int]] | None = None

    def _git(self, *args: str) -> bytes:
        return subprocess.run(["git", f"--git-dir={self.gitdir}", *args], check=True,
                              capture_output=True).stdout

    def tree(self) -> dict[str, tuple[str, int]]:
        """Map of path to (blob id, size) at the commit; size -1 where the blob is absent."""
        if self._tree is None:
            out = self._git("ls-tree", "-r", "-l", "-z", self.commit).decode("utf-8", "surrogateescape")
            tree: dict[str, tuple[str, int]] = {}
            for entry in filter(None, out.split("\0")):
                meta, path = entry.split("\t", 1)
                _mode, kind, sha, size = meta.split()
                if kind == "blob":
                    tree[path] = (sha, int(size) if size.isdigit() else -1)
            self._tree = tree
        return self._tree

    def has(self, path: str, *, max_bytes: int = 0) -> bool:
        """Whether ``path`` is a readable blob at the commit (and smaller than ``max_bytes`` if given)."""
        item = self.tree().get(path)
        if item is None or item[1] < 0:
            return False
        if max_bytes and item[1] >= max_bytes:
            return False
        return subprocess.run(["git", f"--git-dir={self.gitdir}", "cat-file", "-e", item[0]],
                              capture_output=True).returncode == 0

    def read(self, path: str) -> bytes:
        """Bytes of ``path`` at the commit."""
        return self._git("show", f"{self.commit}:{path}")

    def text(self, path: str) -> str:
        """Text of ``path`` at the commit (UTF-8, undecodable bytes replaced)."""
        return self.read(path).decode("utf-8", "replace")


def find_gitdir(name: str, *, roots: Iterable[Path]) -> Path | None:
    """First git directory for ``OWNER/NAME`` under one of ``roots``.

    Parameters
    ----------
    name : str
        ``OWNER/NAME``.
    roots : iterable of Path
        Folders holding clones.

    Returns
    -------
    Path or None
        The git directory, or None when none is found.
    """
    owner, repo = name.split("/", 1)
    rel = [f"{owner}+{repo}/repo", f"{owner}+{repo}/repo/.git", f"{owner}+{repo}.git", f"{owner}+{repo}",
           f"{owner}/{repo}.git",
           f"{owner}/{repo}", f"{owner}/{repo}/.git", f"{repo}.git", repo, f"{repo}/.git"]
    for root in roots:
        for r in rel:
            cand = root / r
            if (cand / "HEAD").is_file() and (cand / "objects").is_dir():
                return cand
    return None


def open_repo(name: str, commit: str, *, roots: list[Path], explicit: dict[str, Path]) -> Repo | None:
    """The repository at its pinned commit, or None (with a message) when it or the commit is missing."""
    gitdir = explicit.get(name) or find_gitdir(name, roots=roots)
    if gitdir is None:
        print(f"  skip {name}: no clone found (git clone --bare https://github.com/{name})")
        return None
    ok = subprocess.run(["git", f"--git-dir={gitdir}", "cat-file", "-e", f"{commit}^{{commit}}"],
                        capture_output=True).returncode == 0
    if not ok:
        print(f"  skip {name}: commit {commit[:12]} not in {gitdir} (git --git-dir={gitdir} fetch origin)")
        return None
    return Repo(name=name, gitdir=gitdir, commit=commit)


# ---------------------------------------------------------------- annotation readers


def _numbers(line: str) -> list[float]:
    out = []
    for tok in re.split(r"[\s,;]+", line.strip()):
        try:
            out.append(float(tok.strip('"')))
        except ValueError:
            continue
    return out


def read_beat_positions(text: str) -> tuple[list[float], list[float], int]:
    """Beats, downbeats and beats per bar from ``time [position]`` lines (position 1 = downbeat).

    Parameters
    ----------
    text : str
        Annotation text: one beat per line, optionally followed by its position in the bar
        (``9.3`` style bar.beat positions are read as beat 3).

    Returns
    -------
    tuple
        Beat times, downbeat times (empty without positions) and the most common bar length (0 if none).
    """
    beats: list[float] = []
    positions: list[int] = []
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        try:
            beats.append(float(parts[0]))
        except ValueError:
            continue
        if len(parts) > 1:
            try:
                pos = parts[1]
                positions.append(int(pos.split(".")[1]) if "." in pos else int(float(pos)))
            except (ValueError, IndexError):
                positions.append(0)
    if len(positions) != len(beats) or not positions:
        return beats, [], 0
    downbeats = [t for t, p in zip(beats, positions, strict=True) if p == 1]
    bar_lengths = [max(positions[i:j]) for i, j in _bar_spans(positions)]
    return beats, downbeats, _mode(bar_lengths)


def _bar_spans(positions: list[int]) -> Iterator[tuple[int, int]]:
    starts = [i for i, p in enumerate(positions) if p == 1]
    yield from itertools.pairwise(starts)


def _mode(values: list[int]) -> int:
    """Most common value if it covers at least 80 % of ``values``, else 0."""
    if not values:
        return 0
    value, count = Counter(values).most_common(1)[0]
    return int(value) if count >= 0.8 * len(values) else 0


def bar_length_from(*, beats: list[float], downbeats: list[float]) -> int:
    """Most common number of beats between consecutive downbeats (0 when not consistent)."""
    if len(downbeats) < 2 or not beats:
        return 0
    b = np.asarray(beats)
    counts = [int(np.sum((b >= lo - 0.02) & (b < hi - 0.02))) for lo, hi in itertools.pairwise(downbeats)]
    return _mode(counts)


def first_number(text: str) -> float:
    """First number in ``text`` (NaN if none)."""
    for line in text.splitlines():
        nums = _numbers(line)
        if nums:
            return nums[0]
    return math.nan


def key_name(*, tonic: str, mode: str) -> str:
    """``A minor`` style key with sharps; empty if the tonic is not a note."""
    flats = {"Db": "C#", "Eb": "D#", "Gb": "F#", "Ab": "G#", "Bb": "A#"}
    t = tonic[:1].upper() + tonic[1:].replace("sharp", "#").replace("flat", "b")
    t = flats.get(t, t)
    return f"{t} {mode.lower()}" if t in NOTE_NAMES and mode.lower() in ("major", "minor") else ""


# ---------------------------------------------------------------- rhythm-game charts


def _sm_tags(text: str) -> dict[str, str]:
    """Song-level ``#TAG:value;`` pairs of a StepMania .sm/.ssc file (up to the first chart)."""
    text = re.sub(r"//[^\n]*", "", text)
    head = re.split(r"#NOTEDATA\s*:", text, maxsplit=1, flags=re.I)[0]
    tags: dict[str, str] = {}
    for m in re.finditer(r"#([A-Za-z0-9]+)\s*:([^;]*);", head, flags=re.S):
        tags.setdefault(m.group(1).upper(), m.group(2).strip())
    return tags


def _sm_pairs(value: str) -> list[tuple[float, float]]:
    pairs = []
    for item in value.replace("\n", "").split(","):
        if "=" in item:
            a, b = item.split("=", 2)[:2]
            try:
                pairs.append((float(a), float(b)))
            except ValueError:
                continue
    return sorted(pairs)


def _sm_last_note_beat(text: str) -> float:
    """Beat just after the last note of any chart (4 beats a measure), 0 if none."""
    last = 0.0
    for m in re.finditer(r"#NOTES\s*:([^;]*);", re.sub(r"//[^\n]*", "", text), flags=re.S):
        body = m.group(1).split(":")[-1]
        for i, measure in enumerate(body.split(",")):
            rows = [r.strip() for r in measure.split("\n") if r.strip()]
            for j, row in enumerate(rows):
                if any(c not in "0" for c in row):
                    last = max(last, 4.0 * (i + (j + 1) / len(rows)))
    return last


def stepmania_beats(text: str, *, duration: float) -> tuple[list[float], float, str]:
    """Beat times of a StepMania song from its timing tags.

    Parameters
    ----------
    text : str
        The .sm/.ssc file.
    duration : float
        Audio length in seconds; beats after it are dropped.

    Returns
    -------
    tuple
        Beat times (one per chart beat, from beat 0 to the last note and at most up to the first warp),
        the BPM if the song has a single one (else NaN), and a note on what was dropped.
    """
    tags = _sm_tags(text)
    bpms = _sm_pairs(tags.get("BPMS", ""))
    if not bpms or bpms[0][1] <= 0:
        return [], math.nan, "no BPMS"
    offset = float(tags.get("OFFSET", "0") or 0)
    stops = _sm_pairs(tags.get("STOPS", "") or tags.get("FREEZES", ""))
    delays = _sm_pairs(tags.get("DELAYS", ""))
    warps = [w for w in _sm_pairs(tags.get("WARPS", "")) if w[1] > 0]
    end_beat = _sm_last_note_beat(text) or 1e9
    note = ""
    if warps:
        end_beat = min(end_beat, warps[0][0])
        note = f"cut at warp beat {warps[0][0]:g}"
    if any(b <= 0 for _, b in bpms):
        end_beat = min(end_beat, next(beat for beat, b in bpms if b <= 0))
        note = "cut at non-positive BPM"

    def time_of(beat: float) -> float:
        t, prev, bpm = -offset, 0.0, bpms[0][1]
        for at, value in bpms[1:]:
            if at >= beat:
                break
            t += (at - prev) * 60.0 / bpm
            prev, bpm = at, value
        t += (beat - prev) * 60.0 / bpm
        t += sum(s for at, s in stops if at < beat)
        t += sum(d for at, d in delays if at <= beat)
        return t

    beats = []
    k = 0
    while k <= end_beat:
        t = time_of(float(k))
        if t > duration:
            break
        if t >= 0:
            beats.append(round(t, 4))
        k += 1
    single = bpms[0][1] if len({round(b, 3) for _, b in bpms}) == 1 and not stops and not delays else math.nan
    return beats, single, note


def _varlen(data: bytes, i: int) -> tuple[int, int]:
    """A MIDI variable-length quantity at ``data[i]``: ``(value, index after it)``."""
    value = 0
    while True:
        byte = data[i]
        i += 1
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, i


def midi_tempo_map(data: bytes) -> tuple[int, list[tuple[int, int]], list[tuple[int, int, int]], int]:
    """Division, tempo events, time-signature events and last tick of a standard MIDI file.

    Parameters
    ----------
    data : bytes
        The .mid file.

    Returns
    -------
    tuple
        Ticks per quarter note, ``(tick, microseconds per quarter)`` events, ``(tick, numerator,
        denominator)`` events and the last event tick over all tracks.

    Raises
    ------
    ValueError
        If the file is not a metrical-time SMF.
    """
    if data[:4] != b"MThd":
        raise ValueError("not a MIDI file")
    hlen = struct.unpack(">I", data[4:8])[0]
    _fmt, ntrks, division = struct.unpack(">HHH", data[8:14])
    if division & 0x8000:
        raise ValueError("SMPTE time division")
    pos = 8 + hlen
    tempos: list[tuple[int, int]] = []
    sigs: list[tuple[int, int, int]] = []
    last = 0
    for _ in range(ntrks):
        if data[pos:pos + 4] != b"MTrk":
            break
        tlen = struct.unpack(">I", data[pos + 4:pos + 8])[0]
        i, end, tick, status = pos + 8, pos + 8 + tlen, 0, 0
        while i < end:
            delta, i = _varlen(data, i)
            tick += delta
            if data[i] & 0x80:
                status = data[i]
                i += 1
            if status == 0xFF:
                mtype = data[i]
                i += 1
                length, i = _varlen(data, i)
                payload = data[i:i + length]
                i += length
                if mtype == 0x51 and length == 3:
                    tempos.append((tick, int.from_bytes(payload, "big")))
                elif mtype == 0x58 and length >= 2:
                    sigs.append((tick, payload[0], 2 ** payload[1]))
            elif status in (0xF0, 0xF7):
                length, i = _varlen(data, i)
                i += length
            else:
                i += 1 if status & 0xF0 in (0xC0, 0xD0) else 2
            last = max(last, tick)
        pos = end
    return division, sorted(tempos), sorted(sigs), last


def midi_beats(data: bytes, *, duration: float, delay_s: float = 0.0) -> tuple[list[float], list[float], int]:
    """Quarter-note beats (and bar starts when the file states a metre) of a MIDI chart.

    Parameters
    ----------
    data : bytes
        The .mid file.
    duration : float
        Audio length in seconds.
    delay_s : float, optional
        Chart-to-audio offset: audio time = MIDI time + ``delay_s``.

    Returns
    -------
    tuple
        Beat times, downbeat times (empty if no time-signature event) and beats per bar (0 if unknown or
        changing).
    """
    division, tempos, sigs, last = midi_tempo_map(data)
    if not tempos or tempos[0][0] > 0:
        tempos = [(0, 500000), *tempos]

    def seconds(tick: int) -> float:
        t, prev, us = 0.0, 0, tempos[0][1]
        for at, value in tempos[1:]:
            if at >= tick:
                break
            t += (at - prev) * us / 1e6 / division
            prev, us = at, value
        return t + (tick - prev) * us / 1e6 / division + delay_s

    beat_ticks = list(range(0, last + 1, division))
    beats = [round(seconds(k), 4) for k in beat_ticks]
    downbeats: list[float] = []
    bpb = 0
    if sigs:
        bar_ticks = []
        tick, idx = 0, 0
        lengths = set()
        while tick <= last:
            while idx + 1 < len(sigs) and sigs[idx + 1][0] <= tick:
                idx += 1
            num, den = sigs[idx][1], sigs[idx][2]
            bar_ticks.append(tick)
            step = num * division * 4 // den
            lengths.add(step)
            tick += max(step, 1)
        downbeats = [round(seconds(k), 4) for k in bar_ticks]
        if len(lengths) == 1 and next(iter(lengths)) % division == 0:
            bpb = next(iter(lengths)) // division
    keep = [b for b in beats if 0 <= b <= duration]
    return keep, [d for d in downbeats if 0 <= d <= duration], bpb


def read_ini(text: str) -> dict[str, str]:
    """``key = value`` pairs of an INI file, lower-case keys."""
    out = {}
    for line in text.splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            out[k.strip().lower()] = v.strip()
    return out


# ---------------------------------------------------------------- sources


def slug(text: str) -> str:
    """File-name-safe identifier."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:80]


def _ext(path: str) -> str:
    return os.path.splitext(path)[1].lower()


GTZAN_KEY_TONICS = ["A", "A#", "B", "C", "C#", "D", "D#", "E", "F", "F#", "G", "G#"]  # gtzan_key's KeyEnumeration


def gtzan_key(repo: Repo | None, *, genre: str, number: str) -> tuple[str, str]:
    """Key of a GTZAN file from ``alexanderlerch/gtzan_key`` (0-11 major from A, 12-23 minor, -1 unknown).

    Parameters
    ----------
    repo : Repo or None
        The gtzan_key repository.
    genre : str
        GTZAN genre folder, e.g. ``blues``.
    number : str
        Five-digit file number, e.g. ``00007``.

    Returns
    -------
    tuple of str
        The key (``A minor`` style; '' when unknown, modulating or missing) and its source note ('' if none).
    """
    path = f"gtzan_key/genres/{genre}/{genre}.{number}.lerch.txt"
    if repo is None or not repo.has(path):
        return "", ""
    value = first_number(repo.text(path))
    if math.isnan(value) or not 0 <= int(value) < 24:
        return "", ""
    idx = int(value)
    key = key_name(tonic=GTZAN_KEY_TONICS[idx % 12], mode="major" if idx < 12 else "minor")
    return key, f"key {repo.name}@{repo.commit[:12]}:{path} (MIT)"


def mirdata_clips(repos: dict[str, Repo]) -> Iterator[Clip]:
    """The five full-length mirdata fixtures with full annotations (mirdata's own are trimmed)."""
    md, bt, gk = repos.get(MIRDATA[0]), repos.get(BEAT_THIS[0]), repos.get(GTZAN_KEY[0])
    if md is None:
        return
    base = "tests/resources/mir_datasets/"
    items = [
        ("ballroom_Media-105901", "ballroom/B_1.0/audio/Waltz/Media-105901.wav",
         "ballroom/B_1.0/annotations/tempo/Media-105901.bpm", "ballroom/annotations/beats/ballroom_Media-105901.beats",
         "ballroom:waltz", "Ballroom"),
        ("gtzan_country.00000", "gtzan_genre/gtzan_genre/genres/country/country.00000.wav",
         "gtzan_genre/gtzan_tempo_beat-main/tempo/gtzan_country_00000.bpm",
         "gtzan/annotations/beats/gtzan_country_00000.beats", "gtzan:country", "GTZAN"),
        ("hainsworth_001", "hainsworth/H_1.0/audio/hains001.flac", "hainsworth/H_1.0/annotations/tempo/hains001.bpm",
         "hainsworth/annotations/beats/hainsworth_001.beats", "hainsworth", "Hainsworth"),
        ("simac_01_H_mikri_Rallou", "simac/S_1.0/audio/simac_01_H_mikri_Rallou.flac",
         "simac/S_1.0/annotations/tempo/simac_01_H_mikri_Rallou.bpm",
         "simac/annotations/beats/simac_greek_01_H_mikri_Rallou.beats", "simac:greek", "SIMAC"),
        ("cuidado_FallaCancion", "cuidado/C_1.0/audio/cuidado_FallaCancion.flac",
         "cuidado/C_1.0/annotations/tempo/cuidado_FallaCancion.bpm", "", "cuidado", "CUIDADO"),
    ]
    for cid, audio, tempo, beats, collection, dataset in items:
        if not md.has(base + audio):
            print(f"  skip mirdata {cid}: {audio} missing")
            continue
        clip = Clip(clip_id=f"mirdata_{cid}", ext=_ext(audio), load=partial(md.read, base + audio),
                    source_repo=md.name, commit=md.commit, source_path=base + audio,
                    licence=LIC_MIRDATA.format(dataset=dataset), collection=collection)
        sources = []
        if md.has(base + tempo):
            clip.tempo_label = first_number(md.text(base + tempo))
            sources.append(f"tempo {md.name}@{md.commit[:12]}:{base + tempo}")
        if beats and bt is not None and bt.has(beats):
            clip.beats, clip.downbeats, clip.beats_per_bar = read_beat_positions(bt.text(beats))
            sources.append(f"beats {bt.name}@{bt.commit[:12]}:{beats} (MIT)")
        if cid.startswith("gtzan_"):
            clip.key, source = gtzan_key(gk, genre="country", number="00000")
            if source:
                sources.append(source)
        clip.annotation_source = "; ".join(sources)
        yield clip


# (audio, beat csv, measure csv or "", collection); FMP = Mueller's "Fundamentals of Music Processing" data.
FMP_ITEMS = [
    ("C6/FMP_C6_Audio_Borodin-sec39_RWC.wav", "C6/FMP_C6_Audio_Borodin-sec39_RWC_quarter.csv",
     "C6/FMP_C6_Audio_Borodin-sec39_RWC_measure.csv", "fmp:classical"),
    ("C6/FMP_C6_Audio_Chopin.wav", "C6/FMP_C6_Audio_Chopin.csv", "", "fmp:classical-mazurka"),
    ("C6/FMP_C6_Audio_Debussy_SonataViolinPianoGMinor-02-sec135-SMD189.wav",
     "C6/FMP_C6_Audio_Debussy_SonataViolinPianoGMinor-02-sec135-SMD189_quarter.csv",
     "C6/FMP_C6_Audio_Debussy_SonataViolinPianoGMinor-02-sec135-SMD189_measure.csv", "fmp:classical"),
    ("C6/FMP_C6_Audio_Faure_Op015-01-sec0-12_SMD126.wav", "C6/FMP_C6_Audio_Faure_Op015-01-sec0-12_SMD126.csv", "",
     "fmp:classical"),
    ("C6/FMP_C6_Audio_HappyBirthday.wav", "C6/FMP_C6_Audio_HappyBirthday_tactus.csv",
     "C6/FMP_C6_Audio_HappyBirthday_measure.csv", "fmp:song"),
    ("C6/FMP_C6_Audio_PorUnaCabeza.wav", "C6/FMP_C6_Audio_PorUnaCabeza_quarter.csv", "", "fmp:tango"),
    ("C6/FMP_C6_Audio_Poulenc_Valse-sec0-15_SMD114.wav", "C6/FMP_C6_Audio_Poulenc_Valse-sec0-15_SMD114.csv", "",
     "fmp:classical-valse"),
    ("C6/FMP_C6_Audio_Shostakovich_Waltz-02-Theme_IncreasingTempo.wav",
     "C6/FMP_C6_Audio_Shostakovich_Waltz-02-Theme_IncreasingTempo_beat.csv",
     "C6/FMP_C6_Audio_Shostakovich_Waltz-02-Theme_IncreasingTempo_measure.csv", "fmp:waltz-time-stretched"),
    ("C6/FMP_C6_F19_Brahms_Ormandy_sec35-53.wav", "C6/FMP_C6_F19_Brahms_Ormandy_sec35-53.csv", "",
     "fmp:classical"),
]


def _csv_times(text: str) -> list[float]:
    times = []
    for line in text.splitlines():
        nums = _numbers(line)
        if nums and not line.lstrip().startswith('"'):
            times.append(nums[0])
    return times


def fmp_clips(repos: dict[str, Repo], *, max_bytes: int) -> Iterator[Clip]:
    """FMP (Fundamentals of Music Processing) excerpts with hand-made beat and measure annotations."""
    repo = repos.get(FMP[0])
    if repo is None:
        return
    for audio, beat_csv, measure_csv, collection in FMP_ITEMS:
        path = "data/" + audio
        if not repo.has(path, max_bytes=max_bytes) or not repo.has("data/" + beat_csv):
            print(f"  skip FMP {audio}: audio or annotation missing")
            continue
        beats = _csv_times(repo.text("data/" + beat_csv))
        downbeats = _csv_times(repo.text("data/" + measure_csv)) if measure_csv and repo.has(
            "data/" + measure_csv) else []
        name = os.path.splitext(os.path.basename(audio))[0].replace("FMP_C6_Audio_", "").replace("FMP_C6_", "")
        key_match = re.search(r"([A-G](?:sharp|flat|s|b)?)(Major|Minor)", name)
        key, key_note = "", ""
        if key_match:
            key, key_note = key_name(tonic=key_match.group(1), mode=key_match.group(2)), "the recording's title"
        elif audio in FMP_WORK_KEYS:
            key, title = FMP_WORK_KEYS[audio]
            key_note = f"the work's title: {title}"
        clip = Clip(clip_id=f"fmp_{slug(name)}", ext=_ext(audio), load=partial(repo.read, path),
                    source_repo=repo.name, commit=repo.commit, source_path=path, licence=LIC_FMP,
                    collection=collection, beats=beats, downbeats=downbeats,
                    beats_per_bar=bar_length_from(beats=beats, downbeats=downbeats), key=key,
                    annotation_source=f"{repo.name}@{repo.commit[:12]}:data/{beat_csv}"
                                      + (f", data/{measure_csv}" if downbeats else "")
                                      + (f"; key from {key_note} (title-derived)" if key else ""))
        yield clip


# Keys of FMP beat-annotated excerpts whose file name does not state it: (key, the work's title stating it).
FMP_WORK_KEYS = {
    "C6/FMP_C6_Audio_Faure_Op015-01-sec0-12_SMD126.wav": ("C minor", "Faure, Piano Quartet No. 1 in C minor, Op. 15"),
}

# Unannotated-rhythm FMP recordings of works whose title states the key, as excerpts that stay in that key
# (openings, whole short preludes): (audio under data/, key, the work's title, collection).
FMP_KEY_ITEMS = [
    ("C1/FMP_C1_F12_Bach_BWV846.mp3", "C major",
     "Bach, Prelude (and Fugue) in C major, BWV 846 (WTC I), prelude opening", "fmp-key:baroque"),
    ("C5/FMP_C5_F20_Bach_BWV846-mm1-4_Koopman.wav", "C major",
     "Bach, Prelude in C major, BWV 846, mm. 1-4 (Koopman, harpsichord)", "fmp-key:baroque"),
    ("C5/FMP_C5_F20_Bach_BWV846-mm1-4_Levin.wav", "C major",
     "Bach, Prelude in C major, BWV 846, mm. 1-4 (Levin)", "fmp-key:baroque"),
    ("C5/FMP_C5_F20_Bach_BWV846_mm1-4_Berben.wav", "C major",
     "Bach, Prelude in C major, BWV 846, mm. 1-4 (Berben)", "fmp-key:baroque"),
    ("C7/FMP_C7_Audio_Beethoven_Op067-01-001-021_Bernstein.wav", "C minor",
     "Beethoven, Symphony No. 5 in C minor, Op. 67, I, mm. 1-21 (Bernstein)", "fmp-key:classical"),
    ("C7/FMP_C7_Audio_Beethoven_Op067-01-001-021_Sawallisch.wav", "C minor",
     "Beethoven, Symphony No. 5 in C minor, Op. 67, I, mm. 1-21 (Sawallisch)", "fmp-key:classical"),
    ("C7/FMP_C7_Audio_Beethoven_Op067-01-001-021_Scherbakov.wav", "C minor",
     "Beethoven, Symphony No. 5 in C minor, Op. 67, I, mm. 1-21 (Liszt's piano transcription, Scherbakov)",
     "fmp-key:classical"),
    ("C7/FMP_C7_F01_Beethoven_Op055-01_Blomstedt.wav", "D# major",
     "Beethoven, Symphony No. 3 in E-flat major, Op. 55, I, opening (Blomstedt)", "fmp-key:classical"),
    ("C7/FMP_C7_F01_Beethoven_Op125-02_Bernstein.wav", "D minor",
     "Beethoven, Symphony No. 9 in D minor, Op. 125, II (scherzo in D minor), opening (Bernstein)",
     "fmp-key:classical"),
    ("C7/FMP_C7_F01_Haydn_H1-94-01.wav", "G major",
     "Haydn, Symphony No. 94 in G major, Hob. I:94, I, opening", "fmp-key:classical"),
    ("C4/FMP_C4_Audio_Chopin_Op028-11_003_20100611-SMD.wav", "B major",
     "Chopin, Prelude in B major, Op. 28 No. 11 (SMD)", "fmp-key:romantic"),
    ("C8/FMP_C8_Audio_Chopin_Op028-04_SMD.mp3", "E minor",
     "Chopin, Prelude in E minor, Op. 28 No. 4 (SMD)", "fmp-key:romantic"),
]

# The Beatles songs in the FMP data with a single Isophonics key (msaf-data's JAMS key_mode annotation).
# Left out: "Here Comes The Sun" (msaf-data says A:minor; the song and its Isophonics chords are in A major)
# and "Ob-La-Di, Ob-La-Da" (msaf-data says B; its Isophonics chords are in Bb, a flat lost in conversion).
# The Isophonics beat times do not fit these copies (they drift ~0.25 %: another master), so no beats.
BEATLES_KEY_ITEMS = [
    ("C5/FMP_C5_Audio_Beatles_LetItBe_Beatles_1970-LetItBe-06.mp3",
     "Isophonics/references/Isophonics_06_-_Let_It_Be.jams", "beatles_Let_It_Be"),
    ("C5/FMP_C5_Audio_Beatles_PennyLane_Beatles_1967-MagicalMysteryTour-09.mp3",
     "Isophonics/references/Isophonics_09_-_Penny_Lane.jams", "beatles_Penny_Lane"),
]


def fmp_key_clips(repos: dict[str, Repo], *, max_bytes: int) -> Iterator[Clip]:
    """FMP recordings of works whose title states their key (``FMP_KEY_ITEMS``): key label only."""
    repo = repos.get(FMP[0])
    if repo is None:
        return
    for audio, key, title, collection in FMP_KEY_ITEMS:
        path = "data/" + audio
        if not repo.has(path, max_bytes=max_bytes):
            print(f"  skip FMP {audio}: audio missing or over the size cap")
            continue
        name = re.sub(r"^FMP_C\d_(?:F\d+_|Audio_)?", "", os.path.splitext(os.path.basename(audio))[0])
        yield Clip(clip_id=f"fmp_{slug(name)}", ext=_ext(audio), load=partial(repo.read, path),
                   source_repo=repo.name, commit=repo.commit, source_path=path, licence=LIC_FMP,
                   collection=collection, key=key,
                   annotation_source=f"key from the work's title (title-derived): {title}")


def jams_single_key(text: str) -> str:
    """The key of a JAMS file's ``key_mode`` annotation if it has exactly one value ('' otherwise).

    Parameters
    ----------
    text : str
        The JAMS (JSON) text.

    Returns
    -------
    str
        ``C major`` style key; a bare tonic (``C``) is read as major, as in the Isophonics key labs.
    """
    try:
        jams = json.loads(text)
    except json.JSONDecodeError:
        return ""
    values = {str(obs.get("value", "")) for ann in jams.get("annotations", []) if ann.get("namespace") == "key_mode"
              for obs in ann.get("data", [])}
    if len(values) != 1:
        return ""
    tonic, _, mode = next(iter(values)).partition(":")
    return key_name(tonic=tonic, mode=mode or "major")


def beatles_key_clips(repos: dict[str, Repo], *, max_bytes: int) -> Iterator[Clip]:
    """The Beatles songs of the FMP data with their Isophonics key (``BEATLES_KEY_ITEMS``)."""
    repo, msaf = repos.get(FMP[0]), repos.get(MSAF[0])
    if repo is None or msaf is None:
        return
    for audio, jams, cid in BEATLES_KEY_ITEMS:
        path = "data/" + audio
        if not repo.has(path, max_bytes=max_bytes) or not msaf.has(jams):
            print(f"  skip {cid}: audio or key annotation missing")
            continue
        key = jams_single_key(msaf.text(jams))
        if not key:
            print(f"  skip {cid}: no single key in {jams}")
            continue
        yield Clip(clip_id=cid, ext=_ext(audio), load=partial(repo.read, path), source_repo=repo.name,
                   commit=repo.commit, source_path=path, licence=LIC_BEATLES, collection="isophonics:beatles",
                   key=key, annotation_source=f"key {msaf.name}@{msaf.commit[:12]}:{jams} (Isophonics key lab, "
                                              "C. Harte/M. Mauch; msaf-data MIT)")


def gtzan_clips(repos: dict[str, Repo], *, max_bytes: int, skip: Iterable[str] = ()) -> Iterator[Clip]:
    """GTZAN files committed in small repositories, with beats/downbeats, tempo and key labels.

    Parameters
    ----------
    repos : dict
        Open repositories; the audio comes from ``GTZAN_FULL`` (full 30 s, preferred) and ``GTZAN_CUT``
        (files cut to their first 15-19 s; checked sample-exact against the full copies where both exist).
    max_bytes : int
        Skip audio blobs of this size and more (0: no cap).
    skip : iterable of str
        GTZAN names (``country.00000``) already in the corpus from another source.

    Yields
    ------
    Clip
        One per GTZAN file with at least one label: beats and bar positions (``beat_this_annotations``,
        Böck ISMIR 2019), tempo (``gtzan_tempo_beat``, Marchand & Peeters) and key (``gtzan_key``, Lerch;
        not given for classical).
    """
    bt, gk, gt = repos.get(BEAT_THIS[0]), repos.get(GTZAN_KEY[0]), repos.get(GTZAN_TEMPO[0])
    found: dict[str, tuple[Repo, str, bool]] = {}
    for spec, pattern, cut in ((GTZAN_CUT, r"data/([a-z]+)\.(\d{5})\.wav", True),
                               (GTZAN_FULL, r"gtzan/samples/([a-z]+)\.(\d{5})\.wav", False)):
        source = repos.get(spec[0])
        if source is None:
            continue
        for path in sorted(source.tree()):
            m = re.fullmatch(pattern, path)
            if m and m.group(1) in GTZAN_GENRES:
                found[f"{m.group(1)}.{m.group(2)}"] = (source, path, cut)  # the full copy, read last, wins
    done = set(skip)
    for name, (repo, path, cut) in sorted(found.items()):
        if name in done:
            continue
        genre, number = name.split(".")
        if not repo.has(path, max_bytes=max_bytes):
            print(f"  skip gtzan {name}: audio absent or over the size cap")
            continue
        clip = Clip(clip_id=f"gtzan_{name}", ext=".wav", load=partial(repo.read, path), source_repo=repo.name,
                    commit=repo.commit, source_path=path, licence=LIC_GTZAN, collection=f"gtzan:{genre}")
        sources = []
        beats = f"gtzan/annotations/beats/gtzan_{genre}_{number}.beats"
        if bt is not None and bt.has(beats):
            clip.beats, clip.downbeats, clip.beats_per_bar = read_beat_positions(bt.text(beats))
            sources.append(f"beats {bt.name}@{bt.commit[:12]}:{beats} (MIT)")
        tempo = f"tempo/gtzan_{genre}_{number}.bpm"
        if gt is not None and gt.has(tempo):
            clip.tempo_label = round(first_number(gt.text(tempo)), 3)
            sources.append(f"tempo {gt.name}@{gt.commit[:12]}:{tempo}")
        clip.key, key_source = gtzan_key(gk, genre=genre, number=number)
        sources += [key_source] if key_source else []
        if not sources:
            print(f"  skip gtzan {name}: no annotation found")
            continue
        if cut:
            sources.append("audio: the GTZAN file cut to its first seconds (labels of the full file, "
                           "beats past the cut dropped)")
        clip.annotation_source = "; ".join(sources)
        yield clip


GTZAN_GENRES = ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock")


def _chart_finisher(text: str) -> Callable[[Clip, float], str]:
    def finish(clip: Clip, duration: float) -> str:
        beats, bpm, note = stepmania_beats(text, duration=duration)
        if len(beats) < 8:
            return f"chart gives {len(beats)} beats" + (f" ({note})" if note else "")
        if beats[-1] - beats[0] < MIN_CHART_COVERAGE * duration:
            return f"chart beats cover {(beats[-1] - beats[0]) / duration:.0%} of the audio" + (
                f" ({note})" if note else "")
        clip.beats, clip.tempo_label = beats, bpm
        if note:
            clip.annotation_source += f"; {note}"
        return ""
    return finish


def stepmania_clips(repo: Repo | None, *, tag: str, licence: str, max_bytes: int, prefix: str = "",
                    exclude: tuple[str, ...] = ()) -> Iterator[Clip]:
    """Songs of a StepMania song tree, beats from each song's chart timing (BPMs, offset, stops, delays).

    Parameters
    ----------
    repo : Repo or None
        The repository (None: nothing).
    tag : str
        Prefix of the clip ids and collections.
    licence : str
        Licence text for the manifest.
    max_bytes : int
        Skip audio blobs of this size and more (0: no cap).
    prefix : str, optional
        Only song folders under this path.
    exclude : tuple of str, optional
        Song folders (base names) left out: sound effects, jokes, time-stretched duplicates.

    Yields
    ------
    Clip
        One per song whose audio is present.
    """
    if repo is None:
        return
    tree = repo.tree()
    folders: dict[str, list[str]] = {}
    for path in tree:
        if path.startswith(prefix) and path.lower().endswith((".ssc", ".sm")):
            folders.setdefault(os.path.dirname(path), []).append(path)
    for folder, charts in sorted(folders.items()):
        if os.path.basename(folder) in exclude:
            continue
        chart = sorted(charts, key=lambda p: (not p.lower().endswith(".ssc"), p))[0]
        text = repo.text(chart)
        tags = _sm_tags(text)
        music = tags.get("MUSIC", "")
        candidates = [f"{folder}/{music}"] if music else []
        candidates += sorted(p for p in tree if os.path.dirname(p) == folder and p.lower().endswith(AUDIO_EXTS))
        audio = next((p for p in candidates if repo.has(p, max_bytes=max_bytes)), None)
        title = tags.get("TITLE") or os.path.basename(folder)
        if audio is None:
            print(f"  skip {tag} {os.path.basename(folder)}: audio absent or over the size cap")
            continue
        genre = slug(tags.get("GENRE", "")).lower()
        yield Clip(clip_id=f"{tag}_{slug(os.path.basename(folder))}", ext=_ext(audio),
                   load=partial(repo.read, audio), source_repo=repo.name, commit=repo.commit,
                   source_path=audio, licence=licence, collection=f"chart-{tag}" + (f":{genre}" if genre else ""),
                   annotation_source=f"{repo.name}@{repo.commit[:12]}:{chart} (rhythm-game chart timing; "
                                     f"{tags.get('ARTIST', '')} - {title})",
                   finish=_chart_finisher(text))


def _midi_finisher(mid: bytes, *, delay_s: float, source: str) -> Callable[[Clip, float], str]:
    def finish(clip: Clip, duration: float) -> str:
        try:
            beats, downbeats, bpb = midi_beats(mid, duration=duration, delay_s=delay_s)
        except (ValueError, IndexError) as exc:
            return f"notes.mid unreadable ({exc})"
        if len(beats) < 8:
            return "notes.mid gives too few beats"
        if beats[-1] - beats[0] < MIN_CHART_COVERAGE * duration:
            return f"notes.mid beats cover {(beats[-1] - beats[0]) / duration:.0%} of the audio"
        clip.beats, clip.downbeats, clip.beats_per_bar = beats, downbeats, bpb
        _div, tempos, _sigs, _last = midi_tempo_map(mid)
        if len({t for _, t in tempos}) == 1:
            clip.tempo_label = round(60e6 / tempos[0][1], 3)
        clip.annotation_source = source
        return ""
    return finish


def fof_git_clips(repo: Repo | None, *, max_bytes: int) -> Iterator[Clip]:
    """Frets on Fire songs in the game's repository: backing track ``song.ogg``, beats from ``notes.mid``."""
    if repo is None:
        return
    for song in sorted({os.path.dirname(p) for p in repo.tree() if p.endswith("/notes.mid")}):
        audio, mid = f"{song}/song.ogg", f"{song}/notes.mid"
        if not repo.has(audio, max_bytes=max_bytes):
            print(f"  skip fof {song}: song.ogg absent or over the size cap")
            continue
        ini = read_ini(repo.text(f"{song}/song.ini")) if repo.has(f"{song}/song.ini") else {}
        delay = float(ini.get("delay", "0") or 0) / 1000.0
        source = (f"{repo.name}@{repo.commit[:12]}:{mid} (rhythm-game chart tempo map; "
                  f"{ini.get('artist', '')} - {ini.get('name', os.path.basename(song))})")
        yield Clip(clip_id=f"fof_{slug(os.path.basename(song))}", ext=".ogg", load=partial(repo.read, audio),
                   source_repo=repo.name, commit=repo.commit, source_path=audio, licence=LIC_FOF,
                   collection="chart-fof", finish=_midi_finisher(repo.read(mid), delay_s=delay, source=source))


def debian_clips(root: Path) -> Iterator[Clip]:
    """Clips from Debian packages unpacked under ``root`` (``dpkg-deb -x PKG.deb root``).

    Frets on Fire song packs (``fretsonfire-songs-*``) give annotated clips (``song.ogg`` with its
    ``notes.mid`` tempo map); Wesnoth's music (``wesnoth-*-music``) and the packages of
    ``UNANNOTATED_DEBIAN`` give unannotated files.
    """
    songs = root / "usr/share/games/fretsonfire/data/songs"
    for mid in sorted(songs.glob("*/*/notes.mid")) if songs.is_dir() else []:
        song = mid.parent
        audio = song / "song.ogg"
        if not audio.is_file():
            continue
        pack = song.parent.name
        ini = read_ini((song / "song.ini").read_text("utf-8", "replace")) if (song / "song.ini").is_file() else {}
        delay = float(ini.get("delay", "0") or 0) / 1000.0
        package = f"debian:fretsonfire-songs-{pack}"
        source = (f"{package}:{mid.relative_to(root)} (rhythm-game chart tempo map; "
                  f"{ini.get('artist', '')} - {ini.get('name', song.name)})")
        yield Clip(clip_id=f"fof_{pack}_{slug(song.name)}", ext=".ogg", load=audio.read_bytes,
                   source_repo=package, commit=_deb_version(root, f"fretsonfire-songs-{pack}"),
                   source_path=str(audio.relative_to(root)),
                   licence=LIC_MULDJORD if pack == "muldjord" else LIC_SECTOID if pack == "sectoid" else "see package",
                   collection="chart-fof", finish=_midi_finisher(mid.read_bytes(), delay_s=delay, source=source))
    for music in sorted(root.glob("usr/share/games/wesnoth/*/data/core/music/*.ogg")):
        version = music.parts[music.parts.index("wesnoth") + 1]
        package = f"wesnoth-{version}-music"
        yield Clip(clip_id=f"wesnoth_{slug(music.stem)}", ext=".ogg", load=music.read_bytes,
                   source_repo=f"debian:{package}", commit=_deb_version(root, package),
                   source_path=str(music.relative_to(root)), licence=LIC_WESNOTH,
                   collection="unannotated:wesnoth", folder="unannotated")
    for music_pkg in UNANNOTATED_DEBIAN:
        found = sorted({f for pattern in music_pkg.globs for f in root.glob(pattern) if f.is_file()})
        for music in found:
            yield Clip(clip_id=f"{music_pkg.prefix}_{slug(music.parent.name)}_{slug(music.stem)}",
                       ext=music.suffix.lower(), load=music.read_bytes,
                       source_repo=f"debian:{music_pkg.package}", commit=_deb_version(root, music_pkg.package),
                       source_path=str(music.relative_to(root)), licence=music_pkg.licence,
                       collection=f"unannotated:{music_pkg.prefix}", folder="unannotated")


def _deb_version(root: Path, package: str) -> str:
    """Version from the package's ``changelog.Debian.gz`` under ``root`` ('' if not found)."""
    log = root / "usr/share/doc" / package / "changelog.Debian.gz"
    if not log.is_file():
        return ""
    first = gzip.decompress(log.read_bytes()).decode("utf-8", "replace").split("\n", 1)[0]
    m = re.search(r"\(([^)]+)\)", first)
    return m.group(1) if m else ""


# StepMania folders left out of the corpus: a sound effect, a 10000-BPM joke chart, a byte-identical copy
# (trickierdisco = trickydisco's audio) and a meme edit of another entry (kyoto_meme of Kyoto).
HODOBOX_EXCLUDE = ("Chainsaw at 0 NPS", "The Bomb Has Been Planted", "trickierdisco", "kyoto_meme")


# ---------------------------------------------------------------- writing


def _fmt_times(times: list[float]) -> str:
    return ";".join(f"{t:.4f}".rstrip("0").rstrip(".") if t else "0" for t in times)


def write_clip(clip: Clip, *, out: Path, min_duration: float) -> dict[str, str] | None:
    """Write the clip's audio (if changed) and return its manifest row, or None if it is dropped.

    Parameters
    ----------
    clip : Clip
        The clip.
    out : Path
        Output folder.
    min_duration : float
        Annotated clips shorter than this many seconds are dropped (unannotated ones are kept).

    Returns
    -------
    dict or None
        The manifest row.
    """
    rel = f"{clip.folder}/{clip.clip_id}{clip.ext}"
    target = out / rel
    try:
        data = clip.load()
    except (subprocess.CalledProcessError, OSError) as exc:
        print(f"  skip {clip.clip_id}: cannot read {clip.source_path} ({exc})")
        return None
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.is_file() or hashlib.sha1(target.read_bytes()).digest() != hashlib.sha1(data).digest():
        tmp = target.with_name(target.name + ".part")
        tmp.write_bytes(data)
        tmp.replace(target)
    try:
        duration = float(sf.info(str(target)).duration)
    except (sf.LibsndfileError, RuntimeError) as exc:
        print(f"  skip {clip.clip_id}: undecodable ({exc})")
        target.unlink(missing_ok=True)
        return None
    annotated = clip.folder == "audio"
    if annotated and duration < min_duration:
        print(f"  skip {clip.clip_id}: {duration:.1f} s < {min_duration:g} s")
        target.unlink(missing_ok=True)
        return None
    if clip.finish is not None:
        reason = clip.finish(clip, duration)
        if reason:
            print(f"  skip {clip.clip_id}: {reason}")
            target.unlink(missing_ok=True)
            return None
    beats = [b for b in clip.beats if 0 <= b <= duration + 0.05]
    downbeats = [b for b in clip.downbeats if 0 <= b <= duration + 0.05]
    tempo, tempo_source = clip.tempo_label, "label"
    if math.isnan(tempo):
        tempo_source = "none"
        if len(beats) >= 4:
            tempo, tempo_source = round(60.0 / float(np.median(np.diff(beats))), 3), "median_ibi"
    return {"clip_id": clip.clip_id, "file": rel, "source_repo": clip.source_repo, "commit": clip.commit,
            "source_path": clip.source_path, "licence": clip.licence, "duration_s": f"{duration:.3f}",
            "tempo_bpm": "nan" if math.isnan(tempo) else f"{tempo:g}", "beats": _fmt_times(beats),
            "downbeats": _fmt_times(downbeats), "beats_per_bar": str(clip.beats_per_bar if downbeats else 0),
            "key": clip.key, "collection": clip.collection, "tempo_source": tempo_source,
            "annotation_source": clip.annotation_source}


def summarise(rows: list[dict[str, str]]) -> dict[str, float]:
    """Counts over manifest rows: clips, hours, and how many carry each annotation."""
    ann = [r for r in rows if not r["collection"].startswith("unannotated")]
    return {"clips": len(ann), "minutes": sum(float(r["duration_s"]) for r in ann) / 60.0,
            "beats": sum(bool(r["beats"]) for r in ann), "downbeats": sum(bool(r["downbeats"]) for r in ann),
            "tempo_label": sum(r["tempo_source"] == "label" for r in ann),
            "tempo_any": sum(r["tempo_bpm"] != "nan" for r in ann), "key": sum(bool(r["key"]) for r in ann),
            "triple": sum(r["beats_per_bar"] in ("3", "6") for r in ann),
            "unannotated": len(rows) - len(ann),
            "unannotated_minutes": sum(float(r["duration_s"]) for r in rows if r not in ann) / 60.0}


def build(*, roots: list[Path], explicit: dict[str, Path], debs: list[Path], out: Path, min_duration: float,
          max_bytes: int) -> list[dict[str, str]]:
    """Build the corpus under ``out`` and return the manifest rows.

    Parameters
    ----------
    roots : list of Path
        Folders holding bare clones.
    explicit : dict
        ``OWNER/NAME`` to git directory, taking precedence over ``roots``.
    debs : list of Path
        Folders with unpacked Debian packages.
    out : Path
        Output folder.
    min_duration : float
        Shortest annotated clip kept, in seconds.
    max_bytes : int
        Skip git audio blobs of this size and more (0: no cap).

    Returns
    -------
    list of dict
        Manifest rows, also written to ``out/manifest.csv``.
    """
    print("sources:")
    repos: dict[str, Repo] = {}
    for name, commit in PINNED:
        repo = open_repo(name, commit, roots=roots, explicit=explicit)
        if repo is not None:
            repos[name] = repo
            print(f"  {name}@{commit[:12]} <- {repo.gitdir}")
    clips: list[Clip] = [*mirdata_clips(repos), *fmp_clips(repos, max_bytes=max_bytes),
                         *stepmania_clips(repos.get(STEPMANIA[0]), tag="stepmania", licence=LIC_STEPMANIA,
                                          max_bytes=max_bytes, prefix="Songs/"),
                         *stepmania_clips(repos.get(HODOBOX[0]), tag="hodobox", licence=LIC_HODOBOX,
                                          max_bytes=max_bytes, exclude=HODOBOX_EXCLUDE),
                         *fof_git_clips(repos.get(FOF[0]), max_bytes=max_bytes),
                         *gtzan_clips(repos, max_bytes=max_bytes,
                                      skip=("country.00000",) if MIRDATA[0] in repos else ()),
                         *fmp_key_clips(repos, max_bytes=max_bytes), *beatles_key_clips(repos, max_bytes=max_bytes)]
    for deb in debs:
        if not deb.is_dir():
            print(f"  skip --deb {deb}: not a folder")
            continue
        clips.extend(debian_clips(deb))
    print("clips:")
    rows: list[dict[str, str]] = []
    seen: set[str] = set()
    for clip in clips:
        if clip.clip_id in seen:
            print(f"  skip {clip.clip_id}: duplicate id")
            continue
        seen.add(clip.clip_id)
        row = write_clip(clip, out=out, min_duration=min_duration)
        if row is not None:
            rows.append(row)
            print(f"  {row['clip_id']:52} {float(row['duration_s']):7.1f} s  beats {len(_split(row['beats'])):4d}"
                  f"  downbeats {len(_split(row['downbeats'])):3d}  tempo {row['tempo_bpm']:>8}"
                  f" ({row['tempo_source']})  {row['key'] or '-'}")
    keep = {r["file"] for r in rows}
    for folder in ("audio", "unannotated"):
        for stale in sorted((out / folder).glob("*")) if (out / folder).is_dir() else []:
            if f"{folder}/{stale.name}" not in keep:
                stale.unlink()
                print(f"  removed stale {folder}/{stale.name}")
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "manifest.csv.part"
    with tmp.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(out / "manifest.csv")
    return rows


def _split(text: str) -> list[str]:
    return [x for x in text.split(";") if x]


def _parse_repo_option(value: str) -> tuple[str, Path]:
    name, sep, path = value.partition("=")
    if not sep or "/" not in name:
        raise argparse.ArgumentTypeError("expected OWNER/NAME=GITDIR")
    return name, Path(path).expanduser()


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sources", type=Path, action="append", default=[],
                        help=f"folder holding bare clones (repeatable; also ${ENV_SOURCES})")
    parser.add_argument("--repo", type=_parse_repo_option, action="append", default=[],
                        metavar="OWNER/NAME=GITDIR", help="git directory of one repository (repeatable)")
    parser.add_argument("--deb", type=Path, action="append", default=[],
                        help="folder where Debian packages were unpacked with dpkg-deb -x (repeatable)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: %(default)s)")
    parser.add_argument("--min-duration", type=float, default=MIN_DURATION_S,
                        help="shortest annotated clip kept, seconds (default: %(default)s)")
    parser.add_argument("--max-audio-mib", type=float, default=4.0,
                        help="skip git audio blobs of this many MiB and more; 0 keeps all (default: %(default)s)")
    parser.add_argument("--list-sources", action="store_true", help="print the git commands to clone the sources")
    args = parser.parse_args(argv)
    if args.list_sources:
        for name, commit in PINNED:
            print(f"git clone --bare https://github.com/{name} {name.replace('/', '+')}.git  # needs {commit}")
        return 0
    roots = list(args.sources)
    roots += [Path(p).expanduser() for p in os.environ.get(ENV_SOURCES, "").split(os.pathsep) if p]
    if not roots and not args.repo and not args.deb:
        parser.error(f"give --sources DIR, --repo OWNER/NAME=GITDIR, --deb DIR or ${ENV_SOURCES}")
    if shutil.which("git") is None:
        parser.error("git is needed")
    rows = build(roots=roots, explicit=dict(args.repo), debs=list(args.deb), out=args.out,
                 min_duration=args.min_duration, max_bytes=int(args.max_audio_mib * 2**20))
    s = summarise(rows)
    print(f"built {args.out / 'manifest.csv'}: {s['clips']} annotated clips ({s['minutes']:.1f} min): "
          f"beats {s['beats']}, downbeats {s['downbeats']}, tempo label {s['tempo_label']} "
          f"(any tempo {s['tempo_any']}), key {s['key']}, triple metre {s['triple']}; "
          f"unannotated {s['unannotated']} ({s['unannotated_minutes']:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
