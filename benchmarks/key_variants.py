"""Key estimators side by side on the key-annotated clips of the real set (MIREX weighted score).

    python benchmarks/key_variants.py benchmarks/data/real [--cache benchmarks/data/cache] [--family gtzan]
    python benchmarks/key_variants.py benchmarks/data/real --detune -35      # the same clips 35 cents flat

Each clip (cut as ``analysis_accuracy.py`` cuts it: 45 s from 15 s in, excerpts read from the cache)
goes once through the shared front end; every variant is scored from that pass:

* ``chroma``: analyzer v2's treble-chroma estimator (``estimate_key(method="chroma")``);
* ``hpcp``: the default (``method="hpcp"``, analyzer v12): the Essentia KeyExtractor port with its defaults
  and bgate profiles, its key correlations averaged over five tuning references weighted by the tuning
  histogram times the concert-pitch prior (``tonal.concert_pitch_prior``);
* ``hpcp-noprior``: the same weighted by the tuning histogram alone (analyzer v11);
* ``hpcp-tuned``: the same read on the one measured tuning (analyzer v3-v10);
* ``hpcp440``: the same referenced to A = 440 Hz, as KeyExtractor runs by default;
* ``hpcp36``: 36-bin HPCP (KeyExtractor hpcpSize=36, with its average detuning correction);
* ``gomez``: Gómez (2006) HPCP options: 36 bins, 4/3-semitone window, band split at 500 Hz (each band
  scaled to max 1), non-linear mapping; bgate profiles;
* ``hpcp+tonic``: the ``hpcp-tuned`` correlations plus 0.1 x the chord-based tonic evidence of v2.

No parameter here is fitted to the clips; the variants are documented settings.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
for extra in (ROOT, ROOT / "benchmarks"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from analysis_accuracy import _family, excerpt, read_real  # noqa: E402

from soundforge.analysis import frontend, hpcp, tonal  # noqa: E402

VARIANTS = ("chroma", "hpcp", "hpcp-noprior", "hpcp-tuned", "hpcp440", "hpcp36", "gomez", "hpcp+tonic")


def _front(path: Path, *, detune_cents: float = 0.0) -> frontend.FrontEndResult:
    if detune_cents:
        # play it 2 ** (cents / 1200) faster: resample to a lower rate and read it at the original one
        import soxr

        from soundforge import audio

        decoded = audio.load(path, sr=None, mono=True)
        rate = decoded.sample_rate
        y = soxr.resample(decoded.samples.reshape(-1), rate, rate / 2 ** (detune_cents / 1200)).astype(np.float32)
        src = frontend.blocks_from(y, sr=rate)
    else:
        src = frontend.blocks_from(path, sr=None)
    front = frontend.FrontEnd(sample_rate=src.sample_rate, channels=src.channels, timbre=False, loudness=False)
    for block in src.blocks:
        front.push(block)
    return front.finish()


def keys(path: Path, *, detune_cents: float = 0.0) -> dict[str, str]:
    """Key label per variant for one file, optionally detuned by ``detune_cents`` (pitch and tempo)."""
    fe = _front(path, detune_cents=detune_cents)
    tonal_s = frontend.TONAL_HOP / frontend.TONAL_SR
    tf = tonal.tonal_features(fe.pitch, fe.tuning_hist, frame_s=tonal_s, pcp_peaks=fe.pcp_peaks)
    freqs, mags = fe.pcp_peaks
    c_ref = float(tonal.midi_to_hz(60.0 + tf.tuning))
    out: dict[str, str] = {}

    def name(scores: np.ndarray) -> str:
        major, minor = int(np.argmax(scores[:12])), 12 + int(np.argmax(scores[12:]))
        return tonal.KEY_NAMES[major if scores[major] > scores[minor] else minor]

    out["chroma"] = tonal.KEY_NAMES[tonal.estimate_key(tf, method="chroma").index]
    out["hpcp"] = tonal.KEY_NAMES[tonal.estimate_key(tf, method="hpcp").index]
    plain = tonal.tonal_features(fe.pitch, fe.tuning_hist, frame_s=tonal_s, pcp_peaks=fe.pcp_peaks,
                                 concert_pitch_hz=None)
    out["hpcp-noprior"] = tonal.KEY_NAMES[tonal.estimate_key(plain, method="hpcp").index]
    base = hpcp.key_correlations(hpcp.mean_hpcp(freqs, mags, reference_hz=c_ref))
    out["hpcp-tuned"] = name(base)
    p440 = hpcp.hpcp(freqs, mags, reference_hz=float(tonal.midi_to_hz(60.0)))
    out["hpcp440"] = name(hpcp.key_correlations(p440.mean(axis=0)))
    p36 = hpcp.hpcp(freqs, mags, reference_hz=c_ref, size=36)
    out["hpcp36"] = name(hpcp.key_correlations(p36.mean(axis=0)))
    pg = hpcp.hpcp(freqs, mags, reference_hz=c_ref, size=36, window_semitones=4 / 3, band_split_hz=500.0,
                   normalize="unitMax", non_linear=True)
    out["gomez"] = name(hpcp.key_correlations(pg.mean(axis=0)))
    evidence = tonal.tonic_evidence(tonal.chords(tf))
    out["hpcp+tonic"] = name(base + 0.1 * evidence)
    return out


def main(argv: list[str] | None = None) -> int:
    import mir_eval

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--cache", type=Path, default=ROOT / "benchmarks" / "data" / "cache")
    parser.add_argument("--family", default="")
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--detune", type=float, default=0.0,
                        help="play every clip this many cents sharp (negative: flat) by resampling; clips whose "
                             "measured tuning would cross half a semitone are scored too (their label then names "
                             "a key a semitone from what is played)")
    args = parser.parse_args(argv)
    clips = [c for c in read_real(args.corpus) if c["key"]]
    if args.family:
        clips = [c for c in clips if _family(c["collection"]) == args.family]
    if args.limit:
        clips = clips[:args.limit]
    scores: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for clip in clips:
        clip = excerpt(clip, seconds=45.0, start=15.0, folder=args.cache / "excerpts")
        est = keys(clip["path"], detune_cents=args.detune)
        fam = _family(clip["collection"])
        for v in VARIANTS:
            s = float(mir_eval.key.weighted_score(clip["key"], est[v]))
            scores["all"][v].append(s)
            scores[fam][v].append(s)
        if args.verbose:
            print(f"{clip['clip_id'][:30]:30} {clip['key']:9} " + " ".join(f"{est[v]:9}" for v in VARIANTS),
                  flush=True)
    print(f"{'family':10} {'n':>4} " + " ".join(f"{v:>10}" for v in VARIANTS))
    for fam in ["all", *sorted(k for k in scores if k != "all")]:
        n = len(scores[fam][VARIANTS[0]])
        print(f"{fam:10} {n:4d} " + " ".join(f"{np.mean(scores[fam][v]):10.3f}" for v in VARIANTS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
