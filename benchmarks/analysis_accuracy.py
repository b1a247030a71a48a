"""Accuracy of soundforge.analysis against a naive librosa baseline, on a rendered corpus.

    python benchmarks/analysis_accuracy.py CORPUS_DIR [--mix mix.flac] [--json out.json]

CORPUS_DIR is a folder written by the shared corpus generator
(``make_corpus.py --n 12 --out CORPUS_DIR``): one sub-folder per song with
``mix.flac``, and ``labels.csv`` with tempo, beat and downbeat times, key and
time signature (MIDI ground truth).

Both systems decode through soundforge.audio. Metrics, per system:

* tempo Acc1 (within 4 % of the label) and Acc2 (4 %, octave errors x2, x3, /2, /3 allowed);
* beat F-measure (mir_eval, +-70 ms, beats before 5 s trimmed as mir_eval's evaluate does);
* key: exact accuracy and the MIREX weighted score (mir_eval.key: fifth 0.5, relative 0.3,
  parallel 0.2);
* ours only: downbeat F-measure (+-70 ms) and time-signature accuracy.

The baseline is what a notebook would do with librosa out of the box:
``librosa.beat.beat_track`` (tempo and beats) and the Krumhansl-Kessler
profiles correlated with the mean of ``librosa.feature.chroma_stft``.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from soundforge import audio  # noqa: E402
from soundforge.analysis import analyze  # noqa: E402

NAMES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]
KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


def read_labels(corpus: Path) -> list[dict]:
    """Rows of ``labels.csv`` with parsed numbers."""
    rows = []
    with (corpus / "labels.csv").open(newline="") as fh:
        for r in csv.DictReader(fh):
            rows.append({
                "song_id": r["song_id"], "tempo": float(r["tempo_bpm"]),
                "key": f"{r['key_tonic']} {r['key_mode']}", "time_signature": r["time_signature"],
                "beats": np.array([float(x) for x in r["beat_times"].split(";") if x]),
                "downbeats": np.array([float(x) for x in r["downbeat_times"].split(";") if x]),
            })
    return rows


def baseline(path: Path) -> dict:
    """Naive librosa: beat_track + Krumhansl profiles on chroma_stft."""
    import librosa

    y = audio.load(path, sr=22050, mono=True).samples[0]
    tempo, frames = librosa.beat.beat_track(y=y, sr=22050)
    beats = librosa.frames_to_time(frames, sr=22050)
    chroma = librosa.feature.chroma_stft(y=y, sr=22050).mean(axis=1)
    best, key = -2.0, "C major"
    for tonic in range(12):
        for mode, prof in (("major", KK_MAJOR), ("minor", KK_MINOR)):
            r = float(np.corrcoef(chroma, np.roll(prof, tonic))[0, 1])
            if r > best:
                best, key = r, f"{NAMES[tonic]} {mode}"
    return {"tempo": float(np.atleast_1d(tempo)[0]), "beats": beats, "key": key}


def ours(path: Path) -> dict:
    """soundforge.analysis.analyze."""
    a = analyze(path)
    return {"tempo": a.tempo_bpm, "beats": a.beats, "downbeats": a.downbeats,
            "key": f"{a.key_tonic} {a.key_mode}", "time_signature": a.time_signature}


def score(ref: dict, est: dict) -> dict:
    """Per-song metrics."""
    import mir_eval

    t, e = ref["tempo"], est["tempo"]
    acc1 = abs(e - t) <= 0.04 * t
    acc2 = any(abs(e - t * m) <= 0.04 * t * m for m in (1, 2, 3, 0.5, 1 / 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        beat_f = mir_eval.beat.f_measure(mir_eval.beat.trim_beats(ref["beats"]),
                                         mir_eval.beat.trim_beats(np.asarray(est["beats"], dtype=float)))
        out = {"acc1": float(acc1), "acc2": float(acc2), "beat_f": float(beat_f),
               "key_exact": float(est["key"] == ref["key"]),
               "key_mirex": float(mir_eval.key.weighted_score(ref["key"], est["key"]))}
        if "downbeats" in est:
            out["downbeat_f"] = float(mir_eval.beat.f_measure(ref["downbeats"], np.asarray(est["downbeats"], float)))
            out["meter"] = float(est["time_signature"] == ref["time_signature"])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path, help="folder written by make_corpus.py")
    parser.add_argument("--mix", default="mix.flac", help="file name of the mix in each song folder")
    parser.add_argument("--json", type=Path, help="also write per-song results here")
    args = parser.parse_args(argv)
    labels = read_labels(args.corpus)
    results: dict[str, list[dict]] = {"ours": [], "baseline": []}
    seconds = {"ours": 0.0, "baseline": 0.0}
    print(f"{'song':8} {'ref tempo':>9} {'ours':>7} {'base':>7}  {'ref key':9} {'ours':9} {'base':9} "
          f"{'beatF ours':>10} {'base':>5}")
    for ref in labels:
        path = args.corpus / ref["song_id"] / args.mix
        row = {}
        for name, fn in (("ours", ours), ("baseline", baseline)):
            t0 = time.perf_counter()
            est = fn(path)
            seconds[name] += time.perf_counter() - t0
            m = score(ref, est)
            results[name].append({"song_id": ref["song_id"], **m, "tempo": est["tempo"], "key": est["key"]})
            row[name] = (est, m)
        (o, mo), (b, mb) = row["ours"], row["baseline"]
        print(f"{ref['song_id']:8} {ref['tempo']:9.2f} {o['tempo']:7.2f} {b['tempo']:7.2f}  {ref['key']:9} "
              f"{o['key']:9} {b['key']:9} {mo['beat_f']:10.3f} {mb['beat_f']:5.3f}")
    print(f"\nCorpus {args.corpus} ({len(labels)} songs, {args.mix})\n")
    metrics = [("tempo Acc1 (4 %)", "acc1"), ("tempo Acc2 (4 %)", "acc2"), ("beat F-measure", "beat_f"),
               ("key exact", "key_exact"), ("key MIREX weighted", "key_mirex"),
               ("downbeat F-measure", "downbeat_f"), ("time signature", "meter")]
    print(f"{'metric':22} {'ours':>8} {'baseline':>9}")
    summary = {}
    for label, key in metrics:
        vals = {n: [r[key] for r in results[n] if key in r] for n in results}
        mean = {n: float(np.mean(v)) if v else None for n, v in vals.items()}
        summary[key] = mean
        fmt = {n: f"{mean[n]:.3f}" if mean[n] is not None else "-" for n in mean}
        print(f"{label:22} {fmt['ours']:>8} {fmt['baseline']:>9}")
    print(f"{'seconds (all songs)':22} {seconds['ours']:8.1f} {seconds['baseline']:9.1f}")
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "songs": results, "seconds": seconds}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
