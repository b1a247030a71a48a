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
