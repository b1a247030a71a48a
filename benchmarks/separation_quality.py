"""Separation quality of the ``dsp`` backend against baselines and an oracle, on a corpus with true stems.

Usage::

    python benchmarks/corpus.py --n 12 --out /tmp/corpus-dev
    python benchmarks/separation_quality.py /tmp/corpus-dev [--limit N] [--set repetition=0]

For every song (``<song>/mix.flac`` plus ``vocals|drums|bass|other.flac``) it
computes the global SDR of each stem, ``10*log10(sum(s**2) / sum((s - s_hat)**2))``
over all samples and channels, for four methods in the same run:

``dsp``
    :func:`soundforge.separation.separate` with ``model="dsp"`` (the real path: files
    decoded, separated in chunks, written as FLAC and read back).
``mixture/4``
    every stem estimated as a quarter of the mix.
``hpss-naive``
    librosa's default HPSS of the mix: drums = percussive part, vocals = bass =
    other = a third of the harmonic part.
``irm-oracle``
    ideal ratio masks from the true stems (power ratios, 4096-point STFT): the
    upper bound of a masking separator at this resolution.

It prints the median over songs per stem and method, the average of those
medians, the target (``dsp`` >= ``hpss-naive`` + 2 dB) and the distance to the
oracle, and how fast ``dsp`` ran (x realtime).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

STEMS = ("vocals", "drums", "bass", "other")
METHODS = ("dsp", "mixture/4", "hpss-naive", "irm-oracle")


def sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Global SDR in dB over all samples and channels (``(channels, frames)`` arrays)."""
    n = min(reference.shape[-1], estimate.shape[-1])
    ref = reference[..., :n].astype(np.float64)
    err = ref - estimate[..., :n].astype(np.float64)
    return float(10 * np.log10((np.sum(ref ** 2) + 1e-12) / (np.sum(err ** 2) + 1e-12)))


def read(path: Path) -> tuple[np.ndarray, int]:
    data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    return data.T, int(sr)


def hpss_naive(mix: np.ndarray) -> dict[str, np.ndarray]:
    import librosa

    spec = librosa.stft(mix, n_fft=2048, hop_length=512)
    harmonic, percussive = librosa.decompose.hpss(spec)
    h = librosa.istft(harmonic, hop_length=512, length=mix.shape[-1])
    p = librosa.istft(percussive, hop_length=512, length=mix.shape[-1])
    return {"vocals": h / 3, "drums": p, "bass": h / 3, "other": h / 3}


def irm_oracle(mix: np.ndarray, refs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    import librosa

    spec = librosa.stft(mix, n_fft=4096, hop_length=1024)
    power = {s: np.abs(librosa.stft(refs[s], n_fft=4096, hop_length=1024)) ** 2 for s in STEMS}
    total = sum(power.values()) + 1e-12
    return {s: librosa.istft(spec * power[s] / total, hop_length=1024, length=mix.shape[-1]) for s in STEMS}


def run_dsp(mix_path: Path, options: dict[str, float]) -> tuple[dict[str, np.ndarray], float]:
    from soundforge.separation import separate

    with tempfile.TemporaryDirectory(prefix="sepq-") as tmp:
        start = time.perf_counter()
        paths = separate(mix_path, model="dsp", out_dir=tmp, **options)
        took = time.perf_counter() - start
        return {s: read(paths[s])[0] for s in STEMS}, took


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path, help="folder of songs rendered by benchmarks/corpus.py")
    parser.add_argument("--limit", type=int, default=None, help="only the first N songs")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="dsp option (e.g. repetition=0); repeatable")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    options = {k: float(v) for k, v in (item.split("=", 1) for item in args.set)}
    songs = sorted(p for p in args.corpus.iterdir() if (p / "mix.flac").is_file())[: args.limit]
    if not songs:
        print(f"no songs (<song>/mix.flac) in {args.corpus}", file=sys.stderr)
        return 2
    scores: dict[str, dict[str, list[float]]] = {m: {s: [] for s in STEMS} for m in METHODS}
    audio_s = dsp_s = 0.0
    for song in songs:
        mix, sr = read(song / "mix.flac")
        refs = {s: read(song / f"{s}.flac")[0] for s in STEMS}
        estimates, took = run_dsp(song / "mix.flac", options)
        audio_s += mix.shape[1] / sr
        dsp_s += took
        per_method = {"dsp": estimates, "mixture/4": {s: mix / 4 for s in STEMS}, "hpss-naive": hpss_naive(mix),
                      "irm-oracle": irm_oracle(mix, refs)}
        for method, est in per_method.items():
            for s in STEMS:
                scores[method][s].append(sdr(refs[s], est[s]))
        print(f"{song.name}: dsp " + " ".join(f"{s}={scores['dsp'][s][-1]:5.2f}" for s in STEMS)
              + f"  ({took:.1f} s)", flush=True)
    medians = {m: {s: float(np.median(scores[m][s])) for s in STEMS} for m in METHODS}
    average = {m: float(np.mean(list(medians[m].values()))) for m in METHODS}
    print(f"\n{len(songs)} songs from {args.corpus}; global SDR in dB, median over songs\n")
    print(f"{'method':12s} " + " ".join(f"{s:>7s}" for s in STEMS) + "   average")
    for m in METHODS:
        print(f"{m:12s} " + " ".join(f"{medians[m][s]:7.2f}" for s in STEMS) + f"   {average[m]:7.2f}")
    gain = average["dsp"] - average["hpss-naive"]
    gap = average["irm-oracle"] - average["dsp"]
    print(f"\ndsp - hpss-naive: {gain:+.2f} dB (target >= +2.00: {'met' if gain >= 2.0 else 'NOT met'})")
    print(f"dsp - mixture/4:  {average['dsp'] - average['mixture/4']:+.2f} dB")
    print(f"irm-oracle - dsp: {gap:.2f} dB (distance to the masking upper bound)")
    print(f"dsp speed: {audio_s / dsp_s:.1f}x realtime ({audio_s:.0f} s of audio in {dsp_s:.1f} s)")
    if args.json:
        args.json.write_text(json.dumps({"songs": [s.name for s in songs], "scores": scores, "medians": medians,
                                         "average": average, "dsp_x_realtime": audio_s / dsp_s,
                                         "options": options}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
