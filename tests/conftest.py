"""Shared fixtures: synthesised audio files and fresh workspaces under tmp_path."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

SR = 44100


def tone(*, seconds: float = 1.0, sr: int = SR, freq: float = 440.0, channels: int = 2,
         amplitude: float = 0.3) -> np.ndarray:
    """A sine tone shaped ``(frames, channels)`` (soundfile's layout)."""
    t = np.arange(int(seconds * sr)) / sr
    mono = (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.repeat(mono[:, None], channels, axis=1)


@pytest.fixture
def make_audio(tmp_path: Path) -> Callable[..., Path]:
    """Factory writing a synthesised tone: ``make_audio("a.flac", seconds=1.0, freq=440, sr=44100)``.

    ``.m4a`` files are encoded with ffmpeg (AAC); everything else with soundfile.
    """

    def _make(name: str, *, seconds: float = 1.0, freq: float = 440.0, sr: int = SR, channels: int = 2,
              folder: Path | None = None) -> Path:
        path = (folder or tmp_path) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        data = tone(seconds=seconds, sr=sr, freq=freq, channels=channels)
        if path.suffix == ".m4a":
            wav = path.with_suffix(".src.wav")
            sf.write(wav, data, sr)
            ffmpeg = shutil.which("ffmpeg")
            assert ffmpeg, "ffmpeg is needed for m4a fixtures (scripts/install-system.sh ffmpeg)"
            subprocess.run([ffmpeg, "-nostdin", "-v", "error", "-y", "-i", str(wav), "-c:a", "aac", "-b:a", "96k",
                            str(path)], check=True, timeout=60)
            wav.unlink()
        else:
            sf.write(path, data, sr)
        return path

    return _make


@pytest.fixture
def bad_files(tmp_path: Path, make_audio: Callable[..., Path]) -> dict[str, Path]:
    """One file per kind of bad audio, in ``tmp_path/bad``."""
    bad = tmp_path / "bad"
    bad.mkdir()
    empty = bad / "empty.wav"
    empty.write_bytes(b"")
    good = make_audio("whole.flac", seconds=3.0, folder=tmp_path / "src")
    truncated = bad / "truncated.flac"
    raw = good.read_bytes()
    truncated.write_bytes(raw[: len(raw) // 2])
    text = bad / "notes.mp3"
    text.write_text("This is not audio, just text renamed to .mp3\n" * 20)
    nan = bad / "nan.wav"
    data = tone(seconds=0.5)
    data[1000:1010] = np.nan
    sf.write(nan, data, SR, subtype="FLOAT")
    zero = bad / "zero.wav"
    sf.write(zero, np.zeros((0, 2), dtype=np.float32), SR)
    return {"empty": empty, "truncated": truncated, "text": text, "nan": nan, "zero": zero}


# -- separation (tests/separation, tests/stages/test_separate.py) ----------------------------------
def two_sources(*, seconds: float, sr: int = SR, channels: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """A bass line (sustained low notes) and a drum track (decaying noise bursts), ``(channels, frames)`` each."""
    rng = np.random.default_rng(7)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    notes = np.array([55.0, 73.4, 61.7, 82.4])
    f0 = notes[(t // 1.0).astype(int) % len(notes)]
    phase = 2 * np.pi * np.cumsum(f0) / sr
    bass = 0.25 * (np.sin(phase) + 0.4 * np.sin(2 * phase) + 0.2 * np.sin(3 * phase))
    drums = np.zeros(n)
    hit = int(0.12 * sr)
    env = np.exp(-np.arange(hit) / (0.02 * sr))
    for start in range(0, n - hit, int(0.25 * sr)):
        drums[start:start + hit] += 0.15 * rng.standard_normal(hit) * env
    bass_ch = np.repeat(bass[None, :], channels, axis=0).astype(np.float32)
    drums_ch = np.repeat(drums[None, :], channels, axis=0).astype(np.float32)
    return bass_ch, drums_ch


@pytest.fixture
def write_mix(tmp_path: Path) -> Callable[..., tuple[Path, np.ndarray, np.ndarray]]:
    """Factory: ``write_mix("mix.wav", seconds=4, sr=44100, channels=2)`` -> (path, bass, drums)."""

    def _write(name: str = "mix.wav", *, seconds: float = 4.0, sr: int = SR,
               channels: int = 2) -> tuple[Path, np.ndarray, np.ndarray]:
        bass, drums = two_sources(seconds=seconds, sr=sr, channels=channels)
        path = tmp_path / name
        sf.write(path, (bass + drums).T, sr, subtype="FLOAT" if path.suffix == ".wav" else "PCM_24")
        return path, bass, drums

    return _write


@pytest.fixture(scope="session")
def tiny_demucs_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local demucs repo holding a real (untrained) HTDemucs of ~200 k parameters as bag ``tiny``.

    Layout as demucs's ``--repo`` expects: ``t1ny0001.th`` (a serialized model package:
    class, init arguments, state) and ``tiny.yaml`` (``models: ['t1ny0001']``).
    """
    import torch
    from demucs.htdemucs import HTDemucs

    repo = tmp_path_factory.mktemp("demucs-repo")
    torch.manual_seed(0)
    model = HTDemucs(sources=["drums", "bass", "other", "vocals"], audio_channels=2, channels=12, depth=3,
                     nfft=1024, t_layers=1, t_heads=2, bottom_channels=0, dconv_comp=4, segment=2,
                     samplerate=SR)
    assert 100_000 < sum(p.numel() for p in model.parameters()) < 1_000_000
    args, kwargs = model._init_args_kwargs
    torch.save({"klass": HTDemucs, "args": args, "kwargs": kwargs, "state": model.state_dict()},
               repo / "t1ny0001.th")
    (repo / "tiny.yaml").write_text("models: ['t1ny0001']\n")
    return repo


@pytest.fixture
def empty_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the Hugging Face and torch hub caches at empty folders and clear SOUNDFORGE_DEMUCS_REPO."""
    cache = tmp_path / "caches"
    (cache / "hf").mkdir(parents=True)
    (cache / "torch").mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(cache / "torch"))
    monkeypatch.delenv("SOUNDFORGE_DEMUCS_REPO", raising=False)
    return cache
