"""Accuracy of soundforge.analysis beside its peers, on real annotated recordings or a synthetic corpus.

    python benchmarks/analysis_accuracy.py CORPUS_DIR [--peers librosa,essentia,madmom] [--json out.json]

CORPUS_DIR is either

* a real-audio set built by ``benchmarks/real_corpus.py`` (``manifest.csv``: human beat,
  downbeat, tempo and key annotations, any of them possibly missing, plus unannotated files
  that only count for the "beats out of order" check), or
* a synthetic corpus rendered by ``benchmarks/corpus.py`` (``labels.csv``: MIDI ground truth).

Every system runs on the same files in the same run. Peers are optional, benchmark-only
installs (``benchmarks/peers.py``): missing ones are skipped, and their results are cached
under ``--cache`` (default ``benchmarks/data/cache``) by file content and peer version.

Metrics (each over the clips that carry the annotation; ``n`` says how many):

* tempo Acc1 (within 4 % of the label) and Acc2 (also x2, x3, /2, /3);
* beat F-measure (mir_eval, +-70 ms, beats before 5 s trimmed) and AMLt (any metrical level);
* key: exact and MIREX weighted score (mir_eval.key: fifth 0.5, relative 0.3, parallel 0.2);
* downbeat F-measure (+-70 ms) and bar length (beats per bar right), for systems that track bars;
* files whose beats are not strictly increasing inside the file (should be 0; unannotated files
  are analysed by soundforge only, for this check);
* seconds for all files (peers' time counts only when not read from the cache).

With ``--bootstrap N``, how far the means can be trusted: each metric's mean for us with a 95 %
interval, and for each peer the paired difference (ours minus the peer's, over the clips both were
scored on) with its 95 % interval and the share of resamples where we are at least as good, from N
resamples of the clips with replacement (percentile bootstrap, Efron & Tibshirani 1993; seed 0, so a
run repeats). A difference whose interval straddles 0 says that another set of the same size could
order the two systems either way.

Long recordings (the rhythm-game songs of the real set are whole songs) are cut to an excerpt
of ``--excerpt`` seconds (default 45, from ``--start``, default 15 s in, as the tempo and beat
data sets' 30-60 s excerpts are), written once under the cache folder; annotations are cropped
and shifted with them.

The real set's tempo label is the dataset's own where it has one, else the median
inter-beat interval of the annotation.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
for extra in (ROOT, ROOT / "benchmarks"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

import peers  # noqa: E402

from soundforge.analysis import analyze  # noqa: E402

METRICS = [("tempo Acc1 (4 %)", "acc1"), ("tempo Acc2 (4 %)", "acc2"), ("tempo 1 of 2 (4 %)", "acc_two"),
           ("tempo P-score", "p_score"), ("beat F-measure", "beat_f"),
           ("beat AMLt", "beat_amlt"), ("key exact", "key_exact"), ("key MIREX weighted", "key_mirex"),
           ("downbeat F-measure", "downbeat_f"), ("bar length right", "bar_len")]


def _floats(text: str | None) -> np.ndarray:
    return np.array([float(x) for x in (text or "").split(";") if x.strip()], dtype=float)


def read_synthetic(corpus: Path, *, mix: str) -> list[dict[str, Any]]:
    """Clips of a synthetic corpus (``labels.csv``)."""
    rows = []
    with (corpus / "labels.csv").open(newline="") as fh:
        for r in csv.DictReader(fh):
            sig = r["time_signature"]
            rows.append({"clip_id": r["song_id"], "path": corpus / r["song_id"] / mix, "collection": "synthetic",
                         "tempo": float(r["tempo_bpm"]), "key": f"{r['key_tonic']} {r['key_mode']}",
                         "beats": _floats(r["beat_times"]), "downbeats": _floats(r["downbeat_times"]),
                         "beats_per_bar": int(sig.split("/")[0]) if sig[:1].isdigit() else 0})
    return rows


def read_real(corpus: Path) -> list[dict[str, Any]]:
    """Clips of a real-audio set (``manifest.csv`` of ``benchmarks/real_corpus.py``); missing files are skipped."""
    rows = []
    with (corpus / "manifest.csv").open(newline="") as fh:
        for r in csv.DictReader(fh):
            path = corpus / r["file"]
            if not path.exists():
                continue
            beats = _floats(r.get("beats"))
            tempo = float(r.get("tempo_bpm") or "nan")
            if math.isnan(tempo) and beats.size >= 4:
                tempo = 60.0 / float(np.median(np.diff(beats)))
            rows.append({"clip_id": r["clip_id"], "path": path,
                         "collection": r.get("collection") or r.get("genre/collection") or "",
                         "tempo": tempo, "key": (r.get("key") or "").strip() or None,
                         "beats": beats, "downbeats": _floats(r.get("downbeats")),
                         "beats_per_bar": int(float(r.get("beats_per_bar") or 0))})
    return rows


def excerpt(clip: dict[str, Any], *, seconds: float, start: float, folder: Path) -> dict[str, Any]:
    """``clip`` cut to ``[start, start + seconds]`` (whole when shorter than ``start + seconds``), labels cropped."""
    import soundfile

    from soundforge import audio

    info = audio.probe(clip["path"])
    if seconds <= 0 or info.duration_s <= start + seconds:
        return clip
    target = folder / f"{clip['clip_id']}-{start:g}-{seconds:g}.flac"
    if not target.exists():
        decoded = audio.load(clip["path"], sr=None, mono=False)
        first, last = round(start * decoded.sample_rate), round((start + seconds) * decoded.sample_rate)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.stem + ".part.flac")
        soundfile.write(tmp, decoded.samples[:, first:last].T, decoded.sample_rate)
        tmp.replace(target)

    def crop(times: np.ndarray) -> np.ndarray:
        inside = times[(times >= start) & (times < start + seconds)]
        return inside - start

    return {**clip, "path": target, "beats": crop(clip["beats"]), "downbeats": crop(clip["downbeats"])}


def ours(path: Path) -> dict[str, Any]:
    """soundforge.analysis.analyze."""
    a = analyze(path, features=["rhythm", "tonal"])
    sig = str(a.time_signature)
    # no pulse (silence, a drone): tempo_bpm is None with a tempo_note; scored as no tempo, not as a failure
    return {"tempo": float(a.tempo_bpm or 0.0), "beats": a.beats.tolist(), "downbeats": a.downbeats.tolist(),
            "beats_per_bar": int(sig.split("/")[0]) if sig[:1].isdigit() else 0,
            "key": f"{a.key_tonic} {a.key_mode}" if a.key_mode else "", "tempo_confidence": a.tempo_confidence,
            "key_confidence": a.key_confidence, "downbeat_confidence": a.downbeat_confidence,
            "alt_tempo": float(a.tempo_alt_bpm or 0.0),
            "alt_probability": float(a.tempo_alt_probability)}


def ordered(beats: np.ndarray, duration: float | None) -> bool:
    """Beats strictly increasing, finite and inside ``[0, duration]``."""
    if beats.size == 0:
        return True
    ok = bool(np.all(np.isfinite(beats)) and np.all(np.diff(beats) > 0) and beats[0] >= 0)
    return ok and (duration is None or float(beats[-1]) <= duration + 1e-6)


def score(ref: dict[str, Any], est: dict[str, Any]) -> dict[str, float]:
    """Per-clip metrics for the annotations ``ref`` carries."""
    import mir_eval

    out: dict[str, float] = {}
    beats = np.asarray(est.get("beats", []), dtype=float)
    t, e = ref["tempo"], float(est.get("tempo") or 0.0)
    if not math.isnan(t):
        out["acc1"] = float(abs(e - t) <= 0.04 * t)
        out["acc2"] = float(any(abs(e - t * m) <= 0.04 * t * m for m in (1, 2, 3, 0.5, 1 / 3)))
        if "alt_tempo" in est:   # two tempi (MIREX): either within 4 %, and McKinney et al.'s P-score
            alt, weight = float(est["alt_tempo"] or 0.0), float(est.get("alt_probability") or 0.0)
            alt_ok = float(abs(alt - t) <= 0.04 * t)
            out["acc_two"] = max(out["acc1"], alt_ok)
            out["p_score"] = (1.0 - weight) * out["acc1"] + weight * alt_ok
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if ref["beats"].size >= 2:
            safe = np.unique(beats[np.isfinite(beats) & (beats >= 0)])
            rb, eb = mir_eval.beat.trim_beats(ref["beats"]), mir_eval.beat.trim_beats(safe)
            out["beat_f"] = float(mir_eval.beat.f_measure(rb, eb))
            out["beat_amlt"] = float(mir_eval.beat.continuity(rb, eb)[3]) if eb.size >= 2 and rb.size >= 2 else 0.0
        if ref["key"] and est.get("key"):
            out["key_exact"] = float(est["key"] == ref["key"])
            out["key_mirex"] = float(mir_eval.key.weighted_score(ref["key"], est["key"]))
        elif ref["key"]:
            out["key_exact"] = out["key_mirex"] = 0.0
        if ref["downbeats"].size >= 2 and "downbeats" in est:
            db = np.unique(np.asarray(est["downbeats"], dtype=float))
            out["downbeat_f"] = float(mir_eval.beat.f_measure(ref["downbeats"], db[np.isfinite(db) & (db >= 0)]))
        if ref["beats_per_bar"] and "beats_per_bar" in est:
            out["bar_len"] = float(est["beats_per_bar"] == ref["beats_per_bar"])
    return out


def _duration(path: Path) -> float | None:
    from soundforge import audio

    try:
        return float(audio.probe(path).duration_s)
    except Exception:
        return None


def _family(collection: str) -> str:
    """``"gtzan:blues"`` -> ``"gtzan"``, ``"chart-hodobox"`` -> ``"chart"``."""
    return collection.replace("-", ":").split(":")[0] or "-"


def _table(results: dict[str, list[dict[str, Any]]], systems: list[str]) -> dict[str, dict[str, float | None]]:
    """Print the mean of every metric per system (over the clips that carry it); return them."""
    print(f"{'metric':22} {'n':>4} " + " ".join(f"{s:>10}" for s in systems))
    summary: dict[str, dict[str, float | None]] = {}
    for label, key in METRICS:
        vals = {s: [r[key] for r in results[s] if key in r] for s in systems}
        n = max(len(v) for v in vals.values())
        if n == 0:
            continue
        mean = {s: float(np.mean(v)) if v else None for s, v in vals.items()}
        summary[key] = mean
        print(f"{label:22} {n:4d} " + " ".join(f"{mean[s]:10.3f}" if mean[s] is not None else f"{'-':>10}"
                                              for s in systems))
    return summary


CONFIDENCES = (("tempo_confidence", "acc1", "tempo Acc1"), ("key_confidence", "key_mirex", "key MIREX"),
               ("downbeat_confidence", "downbeat_f", "downbeat F"))
"""Our confidences, each with the metric it should sort right and that metric's label."""


def _confidence_table(rows: list[dict[str, Any]]) -> None:
    """Print how tempo Acc1, key MIREX and downbeat F rise when only results at or above each quartile
    of our ``tempo_confidence`` / ``key_confidence`` / ``downbeat_confidence`` are kept (what a user
    filtering on them gets)."""
    for conf, metric, label in CONFIDENCES:
        kept = [r for r in rows if metric in r and r.get(conf) is not None]
        if not kept:
            continue
        x = np.array([float(r[conf]) for r in kept])
        y = np.array([float(r[metric]) for r in kept])
        print(f"\n{'keep results with':28} {'clips':>5} {label:>10}")
        for q in (0, 25, 50, 75):
            floor = float(np.percentile(x, q))
            sel = x >= floor
            print(f"{conf + f' >= {floor:.2f}':28} {int(sel.sum()):5d} {float(y[sel].mean()):10.3f}")


def _resampled_means(x: np.ndarray, *, rng: np.random.Generator, resamples: int) -> np.ndarray:
    """Means of ``resamples`` draws of ``x`` ``(n,)`` with replacement, each of size ``n``, ``(resamples,)``."""
    return x[rng.integers(0, x.size, size=(resamples, x.size))].mean(axis=1)


def _bootstrap_table(results: dict[str, list[dict[str, Any]]], systems: list[str], *, resamples: int,
                     seed: int = 0) -> dict[str, dict[str, dict[str, float]]]:
    """Print and return, per metric, our mean and each peer's paired difference with 95 % bootstrap intervals.

    Parameters
    ----------
    results : dict
        Per system, one row per clip (``clip_id`` and the metrics it was scored on), as :func:`main` builds them.
    systems : list of str
        ``"soundforge"`` first, then the peers.
    resamples : int
        Bootstrap resamples of the clips (with replacement), > 0.
    seed : int
        Seed of the resampling, so that a run repeats.

    Returns
    -------
    dict
        ``{metric: {"soundforge": {"n", "mean", "low", "high"}, peer: {"n", "difference", "low", "high",
        "share_at_least"}, ...}}``: the interval is 2.5-97.5 % of the resampled means (differences);
        ``share_at_least`` is the share of resamples where we score at least as well as the peer.
    """
    rng = np.random.default_rng(seed)
    ours, others = systems[0], systems[1:]
    print(f"\n{'bootstrap, 95 % intervals':26} {'n':>4} {ours + ' mean':>24}"
          + "".join(f" {'minus ' + p:>36}" for p in others))
    out: dict[str, dict[str, dict[str, float]]] = {}
    for label, key in METRICS:
        mine = {r["clip_id"]: float(r[key]) for r in results[ours] if key in r}
        if len(mine) < 2:
            continue
        x = np.array(list(mine.values()))
        means = _resampled_means(x, rng=rng, resamples=resamples)
        row = {ours: {"n": x.size, "mean": float(x.mean()), "low": float(np.percentile(means, 2.5)),
                      "high": float(np.percentile(means, 97.5))}}
        cells = [f"{row[ours]['mean']:.3f} [{row[ours]['low']:.3f}, {row[ours]['high']:.3f}]"]
        for peer in others:
            theirs = {r["clip_id"]: float(r[key]) for r in results[peer] if key in r}
            d = np.array([mine[c] - theirs[c] for c in mine if c in theirs])
            if d.size < 2:
                cells.append("-")
                continue
            diffs = _resampled_means(d, rng=rng, resamples=resamples)
            row[peer] = {"n": d.size, "difference": float(d.mean()), "low": float(np.percentile(diffs, 2.5)),
                         "high": float(np.percentile(diffs, 97.5)), "share_at_least": float(np.mean(diffs >= 0))}
            cells.append(f"{row[peer]['difference']:+.3f} [{row[peer]['low']:+.3f}, {row[peer]['high']:+.3f}] "
                         f"P {row[peer]['share_at_least']:.2f}")
        out[key] = row
        print(f"{label:26} {x.size:4d} {cells[0]:>24}" + "".join(f" {c:>36}" for c in cells[1:]))
    print(f"(P: share of the {resamples} resamples of the clips where {ours} scores at least as well as the peer)")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path, help="real set (manifest.csv) or synthetic corpus (labels.csv)")
    parser.add_argument("--mix", default="mix.flac", help="synthetic corpus: file name of the mix in each song folder")
    parser.add_argument("--peers", default=",".join(peers.PEERS),
                        help="comma-separated peers to run when installed (default: all; '' for none)")
    parser.add_argument("--cache", default=str(ROOT / "benchmarks" / "data" / "cache"),
                        help="peer result cache folder ('' to disable)")
    parser.add_argument("--family", default="", help="only clips of this collection family (e.g. gtzan)")
    parser.add_argument("--limit", type=int, default=0, help="only the first N clips (0: all)")
    parser.add_argument("--excerpt", type=float, default=45.0, help="cut longer clips to this many seconds (0: whole)")
    parser.add_argument("--start", type=float, default=15.0, help="where excerpts start, seconds")
    parser.add_argument("--verbose", action="store_true", help="print one line per clip")
    parser.add_argument("--json", type=Path, help="also write per-clip results here")
    parser.add_argument("--by-family", action="store_true",
                        help="also print the table for each collection family (gtzan, chart, fmp, ...)")
    parser.add_argument("--confidence", action="store_true",
                        help="also print our tempo Acc1, key MIREX and downbeat F among results at or above each "
                             "quartile of tempo_confidence / key_confidence / downbeat_confidence")
    parser.add_argument("--bootstrap", type=int, default=0, metavar="N",
                        help="also print 95 %% bootstrap intervals of our means and of the paired differences "
                             "with each peer, from N resamples of the clips (0: off; 10000 is usual)")
    args = parser.parse_args(argv)
    if args.bootstrap < 0:
        parser.error(f"--bootstrap {args.bootstrap}: give a number of resamples >= 0 (0 turns it off)")
    real = (args.corpus / "manifest.csv").exists()
    clips = read_real(args.corpus) if real else read_synthetic(args.corpus, mix=args.mix)
    if args.family:
        clips = [c for c in clips if _family(c["collection"]) == args.family]
    if args.limit:
        clips = clips[:args.limit]
    if not clips:
        print(f"No clips found in {args.corpus}: build the set first (benchmarks/real_corpus.py).")
        return 0
    try:
        wanted = peers.requested(args.peers)
    except ValueError as exc:
        parser.error(str(exc))
    systems = ["soundforge", *peers.available(wanted)]
    missing = [p for p in wanted if p not in systems]
    cache = Path(args.cache) if args.cache else None
    results: dict[str, list[dict[str, Any]]] = {s: [] for s in systems}
    seconds = dict.fromkeys(systems, 0.0)
    unordered = dict.fromkeys(systems, 0)
    failed = dict.fromkeys(systems, 0)
    for clip in clips:
        if real and cache is not None:
            try:
                clip = excerpt(clip, seconds=args.excerpt, start=args.start, folder=cache / "excerpts")
            except Exception as exc:
                print(f"skipped {clip['clip_id']}: {exc}")
                continue
        duration = _duration(clip["path"])
        line = [f"{clip['clip_id'][:28]:28} ref {clip['tempo']:6.1f} {clip['key'] or '-':9}"]
        annotated = clip["beats"].size >= 2 or clip["key"] or not math.isnan(clip["tempo"])
        for name in systems:
            if name != "soundforge" and not annotated:
                continue          # unannotated files only check that our beats are in order
            t0 = time.perf_counter()
            try:
                est = ours(clip["path"]) if name == "soundforge" else peers.cached(name, clip["path"],
                                                                                     cache_dir=cache)
            except Exception as exc:
                est = {"tempo": 0.0, "beats": [], "key": "", "error": f"{type(exc).__name__}: {exc}"}
                failed[name] += 1   # scored as no tempo, no beats, no key; counted and named, never hidden
                print(f"{name} failed on {clip['clip_id']}: {est['error']}", flush=True)
            seconds[name] += time.perf_counter() - t0
            beats = np.asarray(est.get("beats", []), dtype=float)
            unordered[name] += not ordered(beats, duration)
            m = score(clip, est)
            results[name].append({"clip_id": clip["clip_id"], "collection": clip["collection"], **m,
                                  "tempo": est.get("tempo"), "key": est.get("key"),
                                  "beats_per_bar": est.get("beats_per_bar"),
                                  **{conf: est[conf] for conf, _, _ in CONFIDENCES if conf in est}})
            line.append(f"{name[:5]} {float(est.get('tempo') or 0):6.1f} {m.get('beat_f', float('nan')):.2f} "
                        f"{est.get('key') or '-':9}")
        if args.verbose:
            print(" | ".join(line), flush=True)
    kind = "real" if real else "synthetic"
    print(f"\n{kind} set {args.corpus}: {len(clips)} clips"
          + (f"; peers not installed: {', '.join(missing)}" if missing else ""))
    summary = _table(results, systems)
    print(f"{'beats out of order':22} {len(clips):4d} " + " ".join(f"{unordered[s]:10d}" for s in systems))
    print(f"{'failed to analyse':22} {len(clips):4d} " + " ".join(f"{failed[s]:10d}" for s in systems))
    print(f"{'seconds (all clips)':22} {len(clips):4d} " + " ".join(f"{seconds[s]:10.1f}" for s in systems))
    if cache is not None:
        print("(peer seconds cover only clips not read from the cache)")
    if args.confidence:
        _confidence_table(results["soundforge"])
    boot = _bootstrap_table(results, systems, resamples=args.bootstrap) if args.bootstrap else None
    if args.by_family:
        for family in sorted({_family(r["collection"]) for r in results["soundforge"]}):
            print(f"\n{family}:")
            _table({s: [r for r in rows if _family(r["collection"]) == family] for s, rows in results.items()},
                   systems)
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "clips": results, "seconds": seconds,
                                         "unordered": unordered, "failed": failed, "bootstrap": boot},
                                        indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
