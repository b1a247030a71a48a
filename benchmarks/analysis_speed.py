"""Speed and memory of soundforge.analysis against a naive librosa baseline.

    python benchmarks/analysis_speed.py [--file PATH] [--repeat 3] [--long-minutes 60] [--skip-long]

Speed: the full default feature set on a 5-minute stereo 44.1 kHz FLAC
(synthesised: drums, bass and chords at 120 BPM; or ``--file``), decode
included, in this process, after one warm-up call of each system on a short
file (imports, filter banks). The baseline computes the same features the
way a notebook would with librosa, each call on its own: decode (mono,
22,050 Hz) plus a stereo decode for loudness, ``beat_track``,
``onset_detect``, ``chroma_stft``, ``mfcc``, five spectral features, zero
crossings, RMS, pyloudnorm integrated loudness and peak, and an
agglomerative segmentation. The two run alternately ``--repeat`` times; the
medians and their ratio are reported, so machine load affects both.

Memory: peak RSS of a fresh process that analyses a ``--long-minutes`` file
(written block by block: the 5-minute signal repeated).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from soundforge import audio  # noqa: E402
from soundforge.analysis import analyze  # noqa: E402

SR = 44100


def synth_song(seconds: float, *, sr: int = SR, bpm: float = 120.0, seed: int = 0) -> np.ndarray:
    """A stereo test song ``(2, n)``: kick, snare, hats, bass and triads in C major (I-V-vi-IV)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    out = np.zeros(n, dtype=np.float32)
    beat = 60.0 / bpm
    t_hit = np.arange(int(0.3 * sr)) / sr
    kick = (np.sin(2 * np.pi * 55 * t_hit) * np.exp(-t_hit * 12)).astype(np.float32)
    snare = (rng.standard_normal(t_hit.size) * np.exp(-t_hit * 25)).astype(np.float32) * 0.5
    hat = (np.diff(rng.standard_normal(t_hit.size + 1)) * np.exp(-t_hit * 60)).astype(np.float32) * 0.2
    chords = [(60, 64, 67), (67, 71, 74), (69, 72, 76), (65, 69, 72)]
    bar = 4 * beat
    t_bar = np.arange(int(bar * sr)) / sr
    env = np.exp(-t_bar * 0.8).astype(np.float32)

    def tone(midi: int) -> np.ndarray:
        f = 440.0 * 2 ** ((midi - 69) / 12)
        return sum(np.sin(2 * np.pi * f * h * t_bar) / h for h in (1, 2, 3)).astype(np.float32)

    pads = [sum(tone(m) for m in c) * env * 0.08 + tone(c[0] - 24) * env * 0.15 for c in chords]
    for k, start in enumerate(np.arange(0.0, seconds, bar)):
        i = int(start * sr)
        seg = pads[k % 4][: n - i]
        out[i:i + seg.size] += seg
    for k, start in enumerate(np.arange(0.0, seconds, beat / 2)):
        i = int(start * sr)
        for sample, on in ((kick, k % 4 == 0), (snare, k % 4 == 2), (hat, True)):
            if on:
                seg = sample[: n - i]
                out[i:i + seg.size] += seg
    out /= max(1e-9, float(np.abs(out).max()) / 0.8)
    return np.stack([out, np.roll(out, 32)])


def naive_baseline(path: Path) -> dict:
    """The same features, each computed separately with librosa / pyloudnorm."""
    import librosa
    import pyloudnorm

    y = audio.load(path, sr=22050, mono=True).samples[0]
    stereo = audio.load(path)
    sr = 22050
    out: dict = {}
    out["loudness"] = pyloudnorm.Meter(stereo.sample_rate).integrated_loudness(stereo.samples.T.astype(np.float64))
    out["peak"] = float(np.abs(stereo.samples).max())
    tempo, _beats = librosa.beat.beat_track(y=y, sr=sr)
    out["tempo"] = float(np.atleast_1d(tempo)[0])
    out["onset_rate"] = len(librosa.onset.onset_detect(y=y, sr=sr)) / (y.size / sr)
    chroma = librosa.feature.chroma_stft(y=y, sr=sr)
    out["chroma"] = chroma.mean(axis=1)
    mfcc = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=13)
    out["mfcc"] = (mfcc.mean(axis=1), mfcc.var(axis=1))
    for name, fn in (("centroid", librosa.feature.spectral_centroid), ("bandwidth", librosa.feature.spectral_bandwidth),
                     ("rolloff", librosa.feature.spectral_rolloff), ("flatness", librosa.feature.spectral_flatness),
                     ("contrast", librosa.feature.spectral_contrast)):
        out[name] = float(fn(y=y, sr=sr).mean()) if name != "flatness" else float(fn(y=y).mean())
    out["zcr"] = float(librosa.feature.zero_crossing_rate(y=y).mean())
    out["rms"] = float(librosa.feature.rms(y=y).mean())
    out["segments"] = librosa.segment.agglomerative(chroma, k=8)
    return out


def timed(fn, path: Path) -> float:
    t0 = time.perf_counter()
    fn(path)
    return time.perf_counter() - t0


def peak_rss_child(path: Path) -> tuple[float, float]:
    """Peak RSS (MB) and wall time (s) of a fresh process analysing ``path``."""
    # VmHWM is this process's own high-water mark (ru_maxrss would include the parent's, inherited at fork).
    code = (f"import sys, time; sys.path.insert(0, {str(ROOT)!r}); from soundforge.analysis import analyze; "
            f"t = time.perf_counter(); analyze({str(path)!r}); dt = time.perf_counter() - t; "
            "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]; "
            "print(int(hwm) / 1024, dt)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    rss, dt = proc.stdout.split()
    return float(rss), float(dt)


def write_long(path: Path, minutes: float, block: np.ndarray) -> None:
    import soundfile as sf

    total = int(minutes * 60 * SR)
    with sf.SoundFile(str(path), "w", samplerate=SR, channels=2, subtype="PCM_16", format="FLAC") as fh:
        done = 0
        while done < total:
            part = block[:, : total - done]
            fh.write(part.T)
            done += part.shape[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--file", type=Path, help="analyse this file instead of the synthesised 5-minute song")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--long-minutes", type=float, default=60.0)
    parser.add_argument("--skip-long", action="store_true", help="skip the peak-RSS measurement")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sf-bench-") as tmp:
        song = synth_song(300.0)
        path = args.file or Path(tmp) / "five_minutes.flac"
        if args.file is None:
            audio.write(path, song, sample_rate=SR, subtype="PCM_16")
        duration = audio.probe(path).duration_s
        warm = Path(tmp) / "warm.flac"
        audio.write(warm, song[:, : 10 * SR], sample_rate=SR, subtype="PCM_16")
        analyze(warm)
        naive_baseline(warm)
        ours, base = [], []
        for _ in range(args.repeat):
            ours.append(timed(analyze, path))
            base.append(timed(naive_baseline, path))
        mo, mb = statistics.median(ours), statistics.median(base)
        load = os.getloadavg()
        print(f"file: {path.name}, {duration:.0f} s; {os.cpu_count()} CPUs, load average {load[0]:.2f} "
              f"{load[1]:.2f} {load[2]:.2f}")
        print(f"soundforge.analysis : {' '.join(f'{x:.2f}' for x in ours)} s  median {mo:.2f} s = "
              f"{duration / mo:.0f}x realtime")
        print(f"naive librosa       : {' '.join(f'{x:.2f}' for x in base)} s  median {mb:.2f} s = "
              f"{duration / mb:.0f}x realtime")
        print(f"speed ratio (baseline / ours): {mb / mo:.2f}x   (target >= 2x, issue #12; 1.5x in issue #6)")
        if not args.skip_long:
            long_path = Path(tmp) / "long.flac"
            write_long(long_path, args.long_minutes, song)
            rss, dt = peak_rss_child(long_path)
            print(f"{args.long_minutes:.0f}-minute file: peak RSS {rss:.0f} MB (target <= 1536 MB), "
                  f"{dt:.1f} s = {args.long_minutes * 60 / dt:.0f}x realtime")
    return 0


if __name__ == "__main__":
    sys.exit(main())
