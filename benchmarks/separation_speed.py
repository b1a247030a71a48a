"""Separation speed and memory: our demucs path against raw ``apply_model``, bounded RSS, dsp x realtime.

Usage::

    python benchmarks/separation_speed.py [--seconds 60] [--repeat 1] [--device cpu]
        [--rss-short 120] [--rss-long 1200] [--rss-model small|full] [--skip speed,rss,plain,dsp]

Parts (each prints its numbers and a ratio against a baseline measured in the same run):

``speed``
    A full-size HTDemucs (htdemucs's published configuration, ~42 M parameters)
    with random weights (compute does not depend on the values) is saved as a
    local demucs repo. The same ``--seconds`` of stereo audio is separated (a)
    through :func:`soundforge.separation.separate` (decode, two passes,
    chunking, FLAC writing included) and (b) by ``demucs.apply.apply_model`` on
    a tensor already in memory, with the same shifts/overlap/random seed.
    Target: (a) / (b) <= 1.1.
``rss``
    Peak RSS of our path on a ``--rss-short`` and a ``--rss-long`` second input,
    each in a fresh subprocess. Target: long / short <= 1.2. ``--rss-model
    small`` (default) uses a narrower HTDemucs (same architecture, channels=16, no
    bottleneck layer: 3 M parameters, ~1/3 of the CPU time) so the long input
    finishes in minutes on a small CPU; ``full`` uses the full-size model. The dsp backend is measured the same way.
``plain``
    For contrast: peak RSS of plain demucs (whole track in one ``apply_model``
    call, as ``demucs.api`` does) on the same two inputs with the same model.
``dsp``
    The dsp backend's speed on ``--seconds`` of audio, as a multiple of realtime.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

SR = 44100
SOURCES = ["drums", "bass", "other", "vocals"]
ROOT = Path(__file__).resolve().parents[1]

# htdemucs's published configuration (demucs conf/variant htdemucs); everything else is HTDemucs's default.
FULL = {"channels": 48, "dconv_mode": 3, "bottom_channels": 512, "t_layers": 5, "segment": Fraction(39, 5)}
SMALL = {**FULL, "channels": 16, "bottom_channels": 0}


def build_repo(folder: Path, name: str, config: dict[str, Any]) -> int:
    """Save an HTDemucs with random weights as ``folder/<name>.th`` + ``<name>.yaml``; returns its parameter count."""
    import torch
    from demucs.htdemucs import HTDemucs

    torch.manual_seed(0)
    model = HTDemucs(sources=SOURCES, samplerate=SR, **config)
    args, kwargs = model._init_args_kwargs
    sig = f"{name}00"
    torch.save({"klass": HTDemucs, "args": args, "kwargs": kwargs, "state": model.state_dict()},
               folder / f"{sig}.th")
    (folder / f"{name}.yaml").write_text(f"models: ['{sig}']\n")
    return sum(p.numel() for p in model.parameters())


def write_music(path: Path, seconds: float) -> None:
    """Write ``seconds`` of a stereo test signal (chords, bass, noise hits) block by block, 16-bit FLAC."""
    rng = np.random.default_rng(0)
    with sf.SoundFile(str(path), "w", samplerate=SR, channels=2, format="FLAC", subtype="PCM_16") as out:
        block = 10 * SR
        for start in range(0, int(seconds * SR), block):
            n = min(block, int(seconds * SR) - start)
            t = (start + np.arange(n)) / SR
            x = 0.1 * np.sin(2 * np.pi * 55 * t) + 0.05 * np.sin(2 * np.pi * 220 * t) \
                + 0.05 * np.sin(2 * np.pi * 330 * t * (1 + 0.01 * np.sin(t)))
            hits = (np.mod(t, 0.5) < 0.05) * 0.1 * rng.standard_normal(n)
            out.write(np.stack([x + hits, 0.9 * x + hits], axis=1).astype(np.float32))


def time_ours(path: Path, repo: Path, name: str, device: str, out: Path) -> tuple[float, float]:
    """Wall and CPU seconds of :func:`soundforge.separation.separate` (model loading, decoding, writing included)."""
    from soundforge.separation import separate

    random.seed(1234)
    wall, cpu = time.perf_counter(), time.process_time()
    separate(path, model=name, out_dir=out, repo=repo, device=device, shifts=1, overlap=0.25)
    return time.perf_counter() - wall, time.process_time() - cpu


def time_raw(path: Path, repo: Path, name: str, device: str) -> tuple[float, float]:
    """Wall and CPU seconds of ``apply_model`` alone (model loaded and audio in memory beforehand)."""
    import torch
    from demucs.apply import apply_model
    from demucs.pretrained import get_model

    model = get_model(name, repo=repo)
    data, _ = sf.read(str(path), dtype="float32", always_2d=True)
    wav = torch.from_numpy(data.T.copy())
    ref = wav.mean(0)
    mix = ((wav - ref.mean()) / (ref.std() + 1e-8))[None]
    random.seed(1234)
    wall, cpu = time.perf_counter(), time.process_time()
    with torch.no_grad():
        apply_model(model, mix, shifts=1, split=True, overlap=0.25, device=device)
    return time.perf_counter() - wall, time.process_time() - cpu


CHILD = r"""
import json, resource, sys, time
mode, path, repo, name, out = sys.argv[1:6]
start = time.perf_counter()
if mode == "ours":
    from soundforge.separation import separate
    separate(path, model=name, out_dir=out, repo=repo, device="cpu", shifts=1)
elif mode == "dsp":
    from soundforge.separation import separate
    separate(path, model="dsp", out_dir=out)
else:
    import soundfile as sf, torch
    from demucs.apply import apply_model
    from demucs.pretrained import get_model
    model = get_model(name, repo=__import__("pathlib").Path(repo))
    data, _ = sf.read(path, dtype="float32", always_2d=True)
    wav = torch.from_numpy(data.T.copy()); ref = wav.mean(0)
    with torch.no_grad():
        est = apply_model(model, ((wav - ref.mean()) / (ref.std() + 1e-8))[None], shifts=1, split=True)
took = time.perf_counter() - start
print(json.dumps({"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "seconds": took}))
"""


def peak_rss(mode: str, path: Path, repo: Path, name: str, out: Path) -> dict[str, float]:
    """Run one separation in a fresh interpreter and return its peak RSS (MB) and time (s)."""
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.run([sys.executable, "-c", CHILD, mode, str(path), str(repo), name, str(out)],
                          capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{mode} on {path.name} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="input length for speed (s)")
    parser.add_argument("--repeat", type=int, default=1, help="speed measurements per path (min is kept)")
    parser.add_argument("--device", default="cpu", help="torch device for the speed part")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads for the speed part (default: torch's); 1 is steadier on a busy machine")
    parser.add_argument("--rss-short", type=float, default=120.0, help="short input for RSS (s)")
    parser.add_argument("--rss-long", type=float, default=1200.0, help="long input for RSS (s)")
    parser.add_argument("--rss-model", choices=["small", "full"], default="small")
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: speed,rss,plain,dsp")
    args = parser.parse_args(argv)
    skip = set(filter(None, args.skip.split(",")))
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    results: dict[str, Any] = {"machine": f"{os.cpu_count()} CPUs", "device": args.device,
                               "torch_threads": torch.get_num_threads()}
    with tempfile.TemporaryDirectory(prefix="sepspeed-") as tmp_name:
        tmp = Path(tmp_name)
        repo = tmp / "repo"
        repo.mkdir()
        params = build_repo(repo, "htfull", FULL)
        small = build_repo(repo, "htsmall", SMALL)
        print(f"full-size HTDemucs: {params / 1e6:.1f} M parameters; small: {small / 1e6:.1f} M")
        clip = tmp / "clip.flac"
        write_music(clip, args.seconds)
        if "speed" not in skip:
            ours: list[tuple[float, float]] = []
            raw: list[tuple[float, float]] = []
            for i in range(args.repeat):  # alternate the order so drifting load hits both alike
                pair = [lambda: raw.append(time_raw(clip, repo, "htfull", args.device)),
                        lambda: ours.append(time_ours(clip, repo, "htfull", args.device, tmp / "out"))]
                for run in pair if i % 2 == 0 else pair[::-1]:
                    run()
                print(f"  {args.seconds:.0f} s: ours {ours[-1][0]:.1f} s wall / {ours[-1][1]:.1f} s CPU, raw "
                      f"apply_model {raw[-1][0]:.1f} s wall / {raw[-1][1]:.1f} s CPU", flush=True)
            wall = min(o[0] for o in ours) / min(r[0] for r in raw)
            cpu = min(o[1] for o in ours) / min(r[1] for r in raw)
            results["speed"] = {"ours": ours, "raw": raw, "ratio_wall": wall, "ratio_cpu": cpu}
            print(f"speed: ours / raw apply_model = {wall:.3f} wall, {cpu:.3f} CPU time (target <= 1.1; best of "
                  f"{args.repeat}) on {args.seconds:.0f} s, device {args.device}, {torch.get_num_threads()} threads; "
                  f"{args.seconds / min(o[0] for o in ours):.2f}x realtime")
        if "dsp" not in skip:
            from soundforge.separation import separate

            start = time.perf_counter()
            separate(clip, model="dsp", out_dir=tmp / "dsp")
            took = time.perf_counter() - start
            results["dsp_x_realtime"] = args.seconds / took
            print(f"dsp: {args.seconds / took:.1f}x realtime ({args.seconds:.0f} s in {took:.1f} s)")
        name = "htsmall" if args.rss_model == "small" else "htfull"
        short, long_ = tmp / "short.flac", tmp / "long.flac"
        if not {"rss", "plain"} <= skip:
            write_music(short, args.rss_short)
            write_music(long_, args.rss_long)
        for mode, label in (("ours", "rss"), ("dsp", "rss"), ("plain", "plain")):
            if label in skip:
                continue
            a = peak_rss(mode, short, repo, name, tmp / f"{mode}-short")
            b = peak_rss(mode, long_, repo, name, tmp / f"{mode}-long")
            what = {"ours": f"our demucs path ({args.rss_model} model)", "dsp": "dsp backend",
                    "plain": f"plain apply_model on the whole track ({args.rss_model} model)"}[mode]
            print(f"peak RSS, {what}: {args.rss_short:.0f} s -> {a['peak_rss_mb']:.0f} MB ({a['seconds']:.0f} s), "
                  f"{args.rss_long:.0f} s -> {b['peak_rss_mb']:.0f} MB ({b['seconds']:.0f} s); "
                  f"ratio {b['peak_rss_mb'] / a['peak_rss_mb']:.2f}" + (" (target <= 1.2)" if mode != "plain" else ""),
                  flush=True)
            results[f"rss_{mode}"] = {"short": a, "long": b, "ratio": b["peak_rss_mb"] / a["peak_rss_mb"]}
    print(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
