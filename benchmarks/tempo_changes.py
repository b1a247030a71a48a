"""Beats when the tempo moves: real annotated clips joined at another tempo, or played faster and faster.

    python benchmarks/tempo_changes.py CORPUS_DIR [--pairs 8] [--ramps 8] [--peers librosa,essentia,madmom]

Annotated excerpts hold one steady tempo; a researcher's files do not always: a medley, a DJ mix, a
song whose bridge is slower, a live band or an orchestra that speeds up. Two kinds of music with a
moving tempo are made from the beat-annotated clips of CORPUS_DIR (a real-audio set of
``benchmarks/real_corpus.py``), so that their beats are known exactly:

* **pair**: 15 s of one clip, then 15 s of another whose annotated tempo is 15-45 % faster (levels
  matched, no crossfade); the beats are each clip's annotations, the second shifted;
* **ramp**: 30 s of one clip time-stretched piece by piece (1.5 s pieces, phase vocoder of
  ``librosa.effects.time_stretch``) from its own speed to 1.35 times it, an accelerando; the beats
  are the annotations mapped through the same time warp.

Every system analyses the same files in the same run; the beat F-measure (+-70 ms, mir_eval) against
the mapped annotations is printed per kind, beside each peer (``benchmarks/peers.py``, optional,
cached by file content). The derived files are written once under ``--cache``/tempo_changes (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
for extra in (ROOT, ROOT / "benchmarks"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

import peers  # noqa: E402
from analysis_accuracy import ours, read_real  # noqa: E402

SR = 22050
PAIR_S = 15.0
RAMP_S, RAMP_PIECE_S, RAMP_END = 30.0, 1.5, 1.35
PAIR_RATIO = (1.15, 1.45)


def _load(path: Path, *, offset: float, duration: float) -> np.ndarray:
    import librosa

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        y, _ = librosa.load(str(path), sr=SR, mono=True, offset=offset, duration=duration)
    return y.astype(np.float32)


def make_pair(a: dict[str, Any], b: dict[str, Any], *, folder: Path) -> tuple[Path, np.ndarray]:
    """``PAIR_S`` s of ``a`` then ``PAIR_S`` s of ``b`` (from 2 s in); (file, reference beats in seconds)."""
    import soundfile

    target = folder / f"pair_{a['clip_id']}+{b['clip_id']}.wav"
    lead = 2.0
    ya, yb = _load(a["path"], offset=0.0, duration=PAIR_S), _load(b["path"], offset=lead, duration=PAIR_S)
    ref = np.concatenate([a["beats"][a["beats"] < ya.size / SR],
                          b["beats"][(b["beats"] >= lead) & (b["beats"] < lead + yb.size / SR)] - lead + ya.size / SR])
    if not target.exists():
        gain = np.sqrt(np.mean(ya ** 2) / max(float(np.mean(yb ** 2)), 1e-12))
        y = np.concatenate([ya, yb * gain])
        soundfile.write(target, y / max(1.0, float(np.abs(y).max())), SR)
    return target, ref


def make_ramp(clip: dict[str, Any], *, folder: Path) -> tuple[Path, np.ndarray]:
    """``clip`` sped up piece by piece from 1 to ``RAMP_END`` times; (file, reference beats in seconds)."""
    import librosa
    import soundfile

    target = folder / f"ramp_{clip['clip_id']}.wav"
    y = _load(clip["path"], offset=0.0, duration=RAMP_S)
    piece = int(RAMP_PIECE_S * SR)
    count = y.size // piece
    rates = 1.0 + (RAMP_END - 1.0) * np.arange(count) / max(count - 1, 1)
    out_len = np.array([round(piece / r) for r in rates])     # time_stretch's output length
    t_in = np.arange(count + 1) * RAMP_PIECE_S
    t_out = np.concatenate([[0.0], np.cumsum(out_len) / SR])
    beats = clip["beats"][clip["beats"] < count * RAMP_PIECE_S]
    if not target.exists():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parts = [librosa.effects.time_stretch(y[k * piece:(k + 1) * piece], rate=float(r))
                     for k, r in enumerate(rates)]
        z = np.concatenate([p[:n] if p.size >= n else np.pad(p, (0, n - p.size)) for p, n in zip(parts, out_len,
                                                                                                 strict=True)])
        soundfile.write(target, z / max(1.0, float(np.abs(z).max())), SR)
    return target, np.interp(beats, t_in, t_out)


def choose(clips: list[dict[str, Any]], *, pairs: int, ramps: int, seed: int
           ) -> tuple[list[tuple[dict[str, Any], dict[str, Any]]], list[dict[str, Any]]]:
    """A seeded draw of ``pairs`` clip pairs (second 15-45 % faster, each clip used once per side) and
    ``ramps`` clips, among clips with beats and a tempo."""
    usable = [c for c in clips if c["beats"].size >= 8 and np.isfinite(c["tempo"]) and c["tempo"] > 0]
    rng = np.random.default_rng(seed)
    order = [usable[i] for i in rng.permutation(len(usable))]
    chosen: list[tuple[dict[str, Any], dict[str, Any]]] = []
    first: set[str] = set()
    second: set[str] = set()
    for a in order:
        if len(chosen) >= pairs:
            break
        if a["clip_id"] in first:
            continue
        for b in order:
            ratio = b["tempo"] / a["tempo"]
            if b is not a and b["clip_id"] not in second and PAIR_RATIO[0] < ratio < PAIR_RATIO[1]:
                chosen.append((a, b))
                first.add(a["clip_id"])
                second.add(b["clip_id"])
                break
    return chosen, [order[i] for i in rng.permutation(len(order))[:ramps]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path, help="real set (manifest.csv of benchmarks/real_corpus.py)")
    parser.add_argument("--family", default="gtzan", help="clips whose collection starts with this ('' for all)")
    parser.add_argument("--pairs", type=int, default=8, help="clip pairs at two tempi")
    parser.add_argument("--ramps", type=int, default=8, help="clips sped up from 1x to 1.35x")
    parser.add_argument("--seed", type=int, default=1, help="seed of the clip draw")
    parser.add_argument("--peers", default=",".join(peers.PEERS),
                        help="comma-separated peers to run when installed (default: all; '' for none)")
    parser.add_argument("--cache", type=Path, default=ROOT / "benchmarks" / "data" / "cache",
                        help="where the derived files and the peers' results are kept")
    parser.add_argument("--json", type=Path, help="also write the per-file results here")
    args = parser.parse_args(argv)
    try:
        wanted = peers.requested(args.peers)
    except ValueError as exc:
        parser.error(str(exc))
    if not (args.corpus / "manifest.csv").exists():
        print(f"No real-audio set in {args.corpus}: build it first (benchmarks/real_corpus.py).")
        return 0
    clips = [c for c in read_real(args.corpus) if c["collection"].startswith(args.family)
             or c["clip_id"].startswith(args.family)]
    pairs, ramps = choose(clips, pairs=args.pairs, ramps=args.ramps, seed=args.seed)
    if not pairs and not ramps:
        print(f"No beat-annotated clips in {args.corpus} (family {args.family!r}).")
        return 0
    systems = ["soundforge", *peers.available(wanted)]
    folder = args.cache / "tempo_changes"
    folder.mkdir(parents=True, exist_ok=True)
    items = [("pair", *make_pair(a, b, folder=folder)) for a, b in pairs]
    items += [("ramp", *make_ramp(c, folder=folder)) for c in ramps]

    import mir_eval

    rows: list[dict[str, Any]] = []
    for kind, path, ref in items:
        row: dict[str, Any] = {"kind": kind, "file": path.name}
        for name in systems:
            try:
                est = ours(path) if name == "soundforge" else peers.cached(name, path, cache_dir=args.cache)
                beats = np.unique(np.asarray(est.get("beats", []), dtype=float))
            except Exception as exc:   # counted as no beats, and named
                print(f"{name} failed on {path.name}: {type(exc).__name__}: {exc}")
                beats = np.zeros(0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                row[name] = float(mir_eval.beat.f_measure(mir_eval.beat.trim_beats(ref),
                                                          mir_eval.beat.trim_beats(beats)))
        rows.append(row)
        print(f"{kind:5} {path.stem[:48]:48} " + " ".join(f"{s[:9]} {row[s]:.2f}" for s in systems), flush=True)
    print(f"\nbeat F-measure (+-70 ms) {'files':>6} " + " ".join(f"{s:>10}" for s in systems))
    summary: dict[str, dict[str, float]] = {}
    for kind, label in (("pair", "two tempi back to back"), ("ramp", "accelerando 1x -> 1.35x")):
        sel = [r for r in rows if r["kind"] == kind]
        if sel:
            summary[kind] = {s: float(np.mean([r[s] for r in sel])) for s in systems}
            print(f"{label:24} {len(sel):6d} " + " ".join(f"{summary[kind][s]:10.3f}" for s in systems))
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "files": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
