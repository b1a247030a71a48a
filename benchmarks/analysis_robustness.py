"""Does the analysis give the same answer for the same music? Invariance beside the peers.

    python benchmarks/analysis_robustness.py CORPUS_DIR [--limit 24] [--peers librosa,essentia]

A researcher's files differ from the excerpts of annotated data sets in ways that do not change the
music: a second of digital silence before the song, a fade-in, a recording 20 or 40 dB quieter, another
sample rate, an MP3 round trip; or that degrade the recording as real ones are degraded: a clipped
master, a telephone band, background noise, a reverberant hall.

Each clip of CORPUS_DIR (a real-audio set of ``benchmarks/real_corpus.py`` or a synthetic
corpus of ``benchmarks/corpus.py``; no annotations are needed) is cut to ``--excerpt`` seconds and
analysed as it is and after each transform of :data:`TRANSFORMS`; a system is robust when its tempo
(within 4 %), key and beats (F-measure against its own beats on the original, +-70 ms, after undoing
the shift) stay the same.

The ``trim`` transform (drop the first 0.37 s) is the baseline: it moves the frame grid against the
music and removes a beat, which no analysis is invariant to, so it says how often an answer changes
for reasons that are not robustness. Every system runs on the same files in the same run; peers
(``benchmarks/peers.py``) are optional and cached by file content, so a second run costs little.
Transformed files are written once under ``--cache``/robustness.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
for extra in (ROOT, ROOT / "benchmarks"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

import peers  # noqa: E402
from analysis_accuracy import excerpt, ours, read_real, read_synthetic  # noqa: E402

Transform = Callable[[np.ndarray, int], tuple[np.ndarray, int, float]]
"""``(samples (n,), sr) -> (samples, sr, shift_s)``: ``shift_s`` is added to every time in the original."""


def _silence_before(seconds: float) -> Transform:
    def fn(y: np.ndarray, sr: int) -> tuple[np.ndarray, int, float]:
        return np.concatenate([np.zeros(round(seconds * sr), dtype=y.dtype), y]), sr, seconds
    return fn


def _fade_in(seconds: float) -> Transform:
    def fn(y: np.ndarray, sr: int) -> tuple[np.ndarray, int, float]:
        ramp = np.minimum(1.0, np.arange(y.size) / (seconds * sr)).astype(y.dtype)
        return y * ramp, sr, 0.0
    return fn


def _gain(db: float) -> Transform:
    def fn(y: np.ndarray, sr: int) -> tuple[np.ndarray, int, float]:
        return (y * 10 ** (db / 20)).astype(y.dtype), sr, 0.0
    return fn


def _dc_offset(level: float) -> Transform:
    def fn(y: np.ndarray, sr: int) -> tuple[np.ndarray, int, float]:
        return (y * (1.0 - level) + level).astype(np.float32), sr, 0.0
    return fn


def _resample(target: int) -> Transform:
    def fn(y: np.ndarray, sr: int) -> tuple[np.ndarray, int, float]:
        import librosa

        return librosa.resample(y, orig_sr=sr, target_sr=target).astype(y.dtype), target, 0.0
    return fn


def _mp3() -> Transform:
    def fn(y: np.ndarray, sr: int) -> tuple[np.ndarray, int, float]:
        import io

        import soundfile

        buf = io.BytesIO()
        soundfile.write(buf, y, sr, format="MP3", subtype="MPEG_LAYER_III")
        buf.seek(0)
        decoded, rate = soundfile.read(buf, dtype="float32")
        decoded = decoded if decoded.ndim == 1 else decoded.mean(axis=1)
        # the codec's delay (encoder and decoder padding, ~1-3k samples): where the decoded signal
        # lines up with the original, so that beat times are compared at the same place in the music
        n = min(y.size, decoded.size, 10 * sr)
        size = 1 << int(np.ceil(np.log2(2 * n)))
        xcorr = np.fft.irfft(np.fft.rfft(decoded[:n], size) * np.conj(np.fft.rfft(y[:n], size)), size)
        delay = int(np.argmax(xcorr[: sr // 4]))
        return decoded.astype(y.dtype), rate, delay / sr
    return fn


def _clip(db: float) -> Transform:
    def fn(y: np.ndarray, sr: int) -> tuple[np.ndarray, int, float]:
        peak = float(np.max(np.abs(y))) or 1.0
        return np.clip(y / peak * 10 ** (db / 20), -1.0, 1.0).astype(y.dtype), sr, 0.0
    return fn


def _telephone() -> Transform:
    def fn(y: np.ndarray, sr: int) -> tuple[np.ndarray, int, float]:
        from scipy.signal import butter, sosfiltfilt

        narrow, rate, _ = _resample(8000)(y, sr)
        sos = butter(4, [300.0, 3400.0], btype="bandpass", fs=rate, output="sos")
        return sosfiltfilt(sos, narrow).astype(y.dtype), rate, 0.0
    return fn


def _pink_noise(snr_db: float) -> Transform:
    def fn(y: np.ndarray, sr: int) -> tuple[np.ndarray, int, float]:
        rng = np.random.default_rng(0)
        spectrum = np.fft.rfft(rng.standard_normal(y.size))
        spectrum /= np.sqrt(np.maximum(np.arange(spectrum.size), 1.0))   # 1/f power
        noise = np.fft.irfft(spectrum, y.size)
        gain = np.sqrt(np.mean(y.astype(float) ** 2) / np.mean(noise ** 2)) * 10 ** (-snr_db / 20)
        return (y + gain * noise).astype(y.dtype), sr, 0.0
    return fn


def _reverb(rt60_s: float) -> Transform:
    def fn(y: np.ndarray, sr: int) -> tuple[np.ndarray, int, float]:
        from scipy.signal import fftconvolve

        rng = np.random.default_rng(0)
        t = np.arange(round(rt60_s * sr)) / sr
        tail = rng.standard_normal(t.size) * 10 ** (-3 * t / rt60_s)   # -60 dB at rt60_s
        tail[0] = 0.0
        ir = np.r_[1.0, np.zeros(round(0.01 * sr)), 0.3 * tail / np.sqrt(np.sum(tail ** 2))]
        wet = fftconvolve(y.astype(float), ir)[: y.size]
        return (wet / max(float(np.max(np.abs(wet))), 1e-9) * float(np.max(np.abs(y)))).astype(y.dtype), sr, 0.0
    return fn


def _trim(seconds: float) -> Transform:
    def fn(y: np.ndarray, sr: int) -> tuple[np.ndarray, int, float]:
        return y[round(seconds * sr):], sr, -seconds
    return fn


TRANSFORMS: dict[str, tuple[str, Transform]] = {
    "trim": ("baseline: first 0.37 s cut off (moves the frame grid, one beat less)", _trim(0.37)),
    "silence_1s": ("1 s of digital silence before the music", _silence_before(1.0)),
    "silence_10s": ("10 s of digital silence before the music", _silence_before(10.0)),
    "fade_in_5s": ("a 5 s linear fade-in", _fade_in(5.0)),
    "gain_-20dB": ("20 dB quieter", _gain(-20.0)),
    "gain_-40dB": ("40 dB quieter", _gain(-40.0)),
    "dc_1%": ("a DC offset of 1 % of full scale (a sound card's offset; the music scaled by 0.99)", _dc_offset(0.01)),
    "sr_16k": ("resampled to 16 kHz", _resample(16000)),
    "sr_48k": ("resampled to 48 kHz", _resample(48000)),
    "mp3": ("MP3 round trip (libsndfile's LAME encoder at its default quality)", _mp3()),
    "clip_+12dB": ("peak raised 12 dB and clipped at full scale (a loudness-war master)", _clip(12.0)),
    "phone_8k": ("8 kHz, band-limited to 300-3400 Hz (a telephone or an old radio recording)", _telephone()),
    "noise_20dB": ("pink noise 20 dB under the music (a live or field recording)", _pink_noise(20.0)),
    "reverb_2s": ("a 2 s reverberant tail (a hall), the music's peak kept", _reverb(2.0)),
}
"""Name -> (what it does, transform). Registry: add a transform here and it is measured."""


def _beat_agreement(base: np.ndarray, other: np.ndarray, *, shift: float, start: float) -> float:
    """F-measure (+-70 ms) of ``other`` against ``base`` moved by ``shift``, both from ``start`` s of the music."""
    import mir_eval

    ref = base + shift
    lo = max(0.0, shift) + start
    ref, est = ref[ref >= lo], other[other >= lo]
    if ref.size == 0 and est.size == 0:
        return 1.0
    return float(mir_eval.beat.f_measure(ref, est, f_measure_threshold=0.07)) if ref.size and est.size else 0.0


def _run(system: str, path: Path, cache: Path) -> dict[str, Any]:
    try:
        return ours(path) if system == "soundforge" else peers.cached(system, path, cache_dir=cache)
    except Exception as exc:
        return {"tempo": 0.0, "beats": [], "key": "", "error": f"{type(exc).__name__}: {exc}"}


def _same_tempo(a: Any, b: Any) -> bool:
    a, b = float(a or 0.0), float(b or 0.0)
    return (a <= 0 and b <= 0) or (a > 0 and b > 0 and abs(b / a - 1.0) <= 0.04)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path, help="real set (manifest.csv) or synthetic corpus (labels.csv)")
    parser.add_argument("--mix", default="mix.flac", help="synthetic corpus: file name of the mix in each song folder")
    parser.add_argument("--peers", default="librosa,essentia",
                        help="comma-separated peers to run when installed "
                             "('' for none; madmom costs ~10 s a file on 2 CPUs)")
    parser.add_argument("--cache", type=Path, default=ROOT / "benchmarks" / "data" / "cache",
                        help="folder for excerpts, transformed files and peer results")
    parser.add_argument("--limit", type=int, default=24, help="clips, drawn at random with --seed (0: all)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the clip draw")
    parser.add_argument("--excerpt", type=float, default=30.0, help="seconds of each clip analysed")
    parser.add_argument("--start", type=float, default=15.0, help="where excerpts start, seconds")
    parser.add_argument("--transforms", default=",".join(TRANSFORMS),
                        # argparse %-formats help: the per cent sign of dc_1% must be doubled
                        help=f"comma-separated, of {', '.join(TRANSFORMS)}".replace("%", "%%"))
    parser.add_argument("--verbose", action="store_true", help="print each clip whose tempo or key changed")
    args = parser.parse_args(argv)
    names = [t for t in args.transforms.split(",") if t]
    unknown = [t for t in names if t not in TRANSFORMS]
    if unknown:
        parser.error(f"unknown --transforms {unknown}; choose from {list(TRANSFORMS)}")
    try:
        wanted = peers.requested(args.peers)
    except ValueError as exc:
        parser.error(str(exc))
    real = (args.corpus / "manifest.csv").exists()
    if not real and not (args.corpus / "labels.csv").exists():
        print(f"No clips found in {args.corpus}: build a real set (benchmarks/real_corpus.py) "
              "or a synthetic corpus (benchmarks/corpus.py) first.")
        return 0
    clips = read_real(args.corpus) if real else read_synthetic(args.corpus, mix=args.mix)
    if not clips:
        print(f"No clips found in {args.corpus}: its audio files are not built yet (benchmarks/real_corpus.py).")
        return 0
    if args.limit and len(clips) > args.limit:
        pick = np.random.default_rng(args.seed).choice(len(clips), args.limit, replace=False)
        clips = [clips[i] for i in sorted(pick)]
    systems = ["soundforge", *peers.available(wanted)]
    import soundfile

    from soundforge import audio

    folder = args.cache / "robustness"
    folder.mkdir(parents=True, exist_ok=True)
    # per system and transform: kept tempo, kept key, beat agreement (one entry per clip)
    kept: dict[str, dict[str, dict[str, list[float]]]] = {
        s: {t: {"tempo": [], "key": [], "beats": []} for t in names} for s in systems}
    for clip in clips:
        clip = excerpt(clip, seconds=args.excerpt, start=args.start, folder=args.cache / "excerpts")
        decoded = audio.load(clip["path"], sr=None, mono=True)
        y, sr = np.asarray(decoded.samples, dtype=np.float32).reshape(-1), decoded.sample_rate
        variants: dict[str, tuple[Path, float]] = {}
        for name in ["original", *names]:
            target = folder / f"{clip['clip_id']}-{args.start:g}-{args.excerpt:g}-{name}.flac"
            shift = 0.0
            yy, ss = y, sr
            if name != "original":
                yy, ss, shift = TRANSFORMS[name][1](y, sr)
            if not target.exists():
                tmp = target.with_name(target.stem + ".part.flac")
                soundfile.write(tmp, yy, ss, subtype="PCM_24")
                tmp.replace(target)
            variants[name] = (target, shift)
        for system in systems:
            base = _run(system, variants["original"][0], args.cache)
            base_beats = np.asarray(base.get("beats", []), dtype=float)
            for name in names:
                path, shift = variants[name]
                est = _run(system, path, args.cache)
                same_tempo = _same_tempo(base.get("tempo"), est.get("tempo"))
                same_key = (base.get("key") or "") == (est.get("key") or "")
                kept[system][name]["tempo"].append(float(same_tempo))
                kept[system][name]["key"].append(float(same_key))
                if args.verbose and not (same_tempo and same_key):
                    was, now = float(base.get("tempo") or 0), float(est.get("tempo") or 0)
                    print(f"{system:10} {name:12} {clip['clip_id'][:32]:32} tempo {was:6.1f} -> {now:6.1f}  "
                          f"key {base.get('key') or '-'} -> {est.get('key') or '-'}")
                kept[system][name]["beats"].append(_beat_agreement(
                    base_beats, np.asarray(est.get("beats", []), dtype=float), shift=shift, start=5.0))
    kind = "real" if real else "synthetic"
    print(f"\n{kind} set {args.corpus}: {len(clips)} clips of {args.excerpt:g} s; share of clips whose answer "
          "is unchanged (tempo within 4 %, key) and mean beat agreement (F, +-70 ms)")
    header = f"{'transform':14}" + "".join(f"{s:>26}" for s in systems)
    print(header)
    print(f"{'':14}" + "".join(f"{'tempo   key  beats':>26}" for _ in systems))
    for name in names:
        row = f"{name:14}"
        for s in systems:
            k = kept[s][name]
            row += f"{np.mean(k['tempo']):>14.3f}{np.mean(k['key']):>6.3f}{np.mean(k['beats']):>6.3f}"
        print(row)
    rest = [t for t in names if t != "trim"]
    if rest:
        row = f"{'mean (no trim)':14}"
        for s in systems:
            row += "".join(f"{np.mean([np.mean(kept[s][t][m]) for t in rest]):>{w}.3f}"
                           for m, w in (("tempo", 14), ("key", 6), ("beats", 6)))
        print(row)
    for name in names:
        print(f"  {name}: {TRANSFORMS[name][0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
