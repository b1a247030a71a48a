"""Bad audio entering the workspace: each file a ``failed`` row naming it (or ``skipped`` as documented),
never a ``done`` row with wrong numbers; stems never clip silently."""

from __future__ import annotations

import os
import shutil
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from soundforge import Workspace, mpeg
from soundforge.errors import AudioError

from .conftest import assert_consistent, failed_row, refused, tried

SR = 8000
FAST = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def noise(seconds: float, *, peak: float = 0.5, channels: int = 1) -> np.ndarray:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((round(seconds * SR), channels)).astype(np.float32)
    return (x / np.abs(x).max() * peak).astype(np.float32)


def write(path: Path, data: np.ndarray, **kwargs: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, data, SR, **kwargs)
    return path


def cut(path: Path, fraction: float = 1 / 3) -> Path:
    os.truncate(path, int(path.stat().st_size * fraction))
    return path


@pytest.mark.parametrize(("ext", "kwargs"), [
    ("wav", {"subtype": "PCM_16"}), ("wav", {"subtype": "FLOAT"}), ("aiff", {"subtype": "PCM_16"}),
    ("flac", {}), ("ogg", {"subtype": "VORBIS"}), ("mp3", {"format": "MP3", "subtype": "MPEG_LAYER_III"}),
])
@pytest.mark.parametrize("fraction", [1 / 3, 0.9])
def test_truncated_files_fail_with_both_lengths(ws: Workspace, tmp_path: Path, ext: str, kwargs: dict[str, Any],
                                                fraction: float) -> None:
    src = cut(write(tmp_path / "in" / f"cut.{ext}", noise(3.0), **kwargs), fraction)
    df = ws.import_audio(src, progress=None)
    error = failed_row(df, key="source_path", value=str(src), names=str(src), kind="audio headers")
    assert "truncated" in error or "corrupt" in error
    if ext in ("wav", "aiff", "mp3"):
        assert "3 s" in error, error  # the declared length...
        assert "frames" in error, error  # ... and the decodable one


def test_chained_ogg_is_refused_not_cut_to_its_first_stream(ws: Workspace, tmp_path: Path) -> None:
    first = write(tmp_path / "parts" / "a.ogg", noise(1.0), subtype="VORBIS")
    second = write(tmp_path / "parts" / "b.ogg", noise(2.0), subtype="VORBIS")
    src = tmp_path / "in" / "radio.ogg"
    src.parent.mkdir(parents=True)
    src.write_bytes(first.read_bytes() + second.read_bytes())
    df = ws.import_audio(src, progress=None)
    error = failed_row(df, key="source_path", value=str(src), names=str(src), kind="audio headers")
    assert "chained Ogg file: 2 streams" in error
    assert "ffmpeg -i" in error
    assert_consistent(ws)


def test_mp3_without_length_header_cut_mid_frame_is_refused(ws: Workspace, tmp_path: Path) -> None:
    good = write(tmp_path / "parts" / "a.mp3", noise(3.0), format="MP3", subtype="MPEG_LAYER_III").read_bytes()
    xing = mpeg._frame(good, 0)  # libsndfile's first frame holds the Xing header: without it no length is declared
    assert xing is not None
    src = tmp_path / "in" / "cut.mp3"
    src.parent.mkdir(parents=True)
    body = good[xing.length:]
    src.write_bytes(body[: len(body) * 2 // 3 + 7])
    df = ws.import_audio(src, progress=None)
    error = failed_row(df, key="source_path", value=str(src), names=str(src), kind="audio headers")
    assert "ends in the middle of an MPEG frame" in error
    assert_consistent(ws)


@FAST
@given(data=st.binary(min_size=1, max_size=400), keep_header=st.booleans())
def test_garbage_behind_audio_headers(ws: Workspace, tmp_path_factory: pytest.TempPathFactory, data: bytes,
                                      keep_header: bool) -> None:
    folder = tmp_path_factory.mktemp("garbage")
    good = write(folder / "good.wav", noise(0.5))
    head = good.read_bytes()[:44] if keep_header else b""
    src = folder / "bad.wav"
    src.write_bytes(head + data)
    df = ws.import_audio(src, progress=None)
    tried("audio headers")
    status = df["status"].iloc[0]
    if status == "done":  # some byte strings are valid PCM: then the numbers must be the file's own
        info = sf.info(str(src))
        assert abs(df["duration_s"].iloc[0] - info.frames / info.samplerate) < 1e-6
        assert df["duration_s"].iloc[0] >= 0.05
    else:
        assert status == "failed"
        assert str(src) in df["error"].iloc[0]


@FAST
@given(frames=st.integers(min_value=1, max_value=2_000_000), size=st.integers(min_value=0, max_value=5000))
def test_wav_header_declaring_more_than_it_holds(ws: Workspace, tmp_path_factory: pytest.TempPathFactory,
                                                 frames: int, size: int) -> None:
    folder = tmp_path_factory.mktemp("hdr")
    body = noise(size / SR + 1 / SR)[: size].astype("<f4").tobytes() if size else b""
    declared = frames * 4
    header = (b"RIFF" + struct.pack("<I", 36 + declared) + b"WAVE" + b"fmt " + struct.pack("<IHHIIHH", 16, 3, 1, SR,
              SR * 4, 4, 32) + b"data" + struct.pack("<I", declared))
    src = folder / "lies.wav"
    src.write_bytes(header + body)
    df = ws.import_audio(src, progress=None)
    tried("audio headers")
    if frames * 4 <= len(body) and frames / SR >= 0.05:
        assert df["status"].iloc[0] == "done"
    else:
        assert df["status"].iloc[0] == "failed", df.to_dict("records")
        assert str(src) in df["error"].iloc[0]


@pytest.mark.parametrize(("seconds", "names"), [(399 / SR, "49.88 ms"), (0.01, "10 ms"), (1 / SR, "0.125 ms")])
def test_too_short_is_refused_at_import_with_the_numbers_analysis_uses(ws: Workspace, tmp_path: Path,
                                                                        seconds: float, names: str) -> None:
    src = write(tmp_path / "in" / "short.wav", noise(seconds))
    df = ws.import_audio(src, progress=None)
    error = failed_row(df, key="source_path", value=str(src), names=names, kind="audio values")
    assert "at least 50 ms" in error


def test_too_long_is_refused_with_both_numbers(ws: Workspace, tmp_path: Path) -> None:
    src = write(tmp_path / "in" / "long.wav", noise(2.0))
    df = ws.import_audio(src, max_duration_s=1.5, progress=None)
    error = failed_row(df, key="source_path", value=str(src), names="2 s", kind="audio values")
    assert "1.5 s" in error


@pytest.mark.parametrize("peak", [3e5, 1e3, 2.5, float("inf"), float("nan")])
def test_out_of_range_float_samples_are_refused(ws: Workspace, tmp_path: Path, peak: float) -> None:
    data = noise(1.0)
    if np.isfinite(peak):
        data = data / np.abs(data).max() * peak
    else:
        data[100] = peak
    src = write(tmp_path / "in" / "loud.wav", data, subtype="FLOAT")
    df = ws.import_audio(src, progress=None)
    error = failed_row(df, key="source_path", value=str(src), names=str(src), kind="audio values")
    assert "NaN or infinite" in error if not np.isfinite(peak) else "far outside" in error


def test_slight_overshoot_imports_with_a_warning(ws: Workspace, tmp_path: Path) -> None:
    src = write(tmp_path / "in" / "hot.wav", noise(1.0, peak=1.25), subtype="FLOAT")
    df = ws.import_audio(src, progress=None)
    tried("audio values")
    assert df["status"].iloc[0] == "done"
    assert "above full scale" in df["warning"].iloc[0]


def test_same_bytes_under_two_names_in_one_call(ws: Workspace, tmp_path: Path) -> None:
    a = write(tmp_path / "in" / "a.wav", noise(1.0))
    b = tmp_path / "in" / "b.wav"
    shutil.copy(a, b)
    c = tmp_path / "in" / "sub" / "c.WAV"
    c.parent.mkdir()
    shutil.copy(a, c)
    df = ws.import_audio([a, b, c], workers=3, progress=None)
    tried("duplicates", 2)
    assert sorted(df["status"]) == ["done", "skipped", "skipped"], df[["source_path", "status", "error"]]
    assert df["track_id"].nunique() == 1
    assert len(ws.audio()) == 1


def test_missing_paths_and_folders(ws: Workspace, tmp_path: Path) -> None:
    folder = tmp_path / "folder.wav"
    folder.mkdir()
    missing = tmp_path / "nope.wav"
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    text = tmp_path / "text.flac"
    text.write_text("not audio\n" * 50)
    df = ws.import_audio([missing, folder, empty, text], progress=None)
    for p in (missing, empty, text):
        failed_row(df, key="source_path", value=str(p), names=str(p), kind="paths")
    assert_consistent(ws)


def test_stems_never_clip_silently(tmp_path: Path) -> None:
    from soundforge.separation.streaming import Control, StemWriter

    warnings: list[str] = []
    control = Control(what="mix.wav", on_warning=warnings.append)
    with StemWriter(tmp_path / "out", ["a", "b"], sample_rate=SR, channels=1, frames=None) as writer:
        writer.write({"a": np.full((1, 100), 1.5, np.float32), "b": np.zeros((1, 100), np.float32)})
        writer.commit()
    control.clipping(writer)
    tried("separation output")
    assert warnings
    assert "100 stem samples" in warnings[0]
    assert "clipped" in warnings[0]


def test_unknown_model_lists_the_known_ones(ws: Workspace, tmp_path: Path) -> None:
    refused(lambda: ws.separate(model="spleeter9000"), names="'spleeter9000'", kind="arguments")
    err = refused(lambda: ws.separate(model="htdemux"), names="known models", kind="arguments")
    assert "htdemucs" in str(err)
    from soundforge.separation import separate

    src = write(tmp_path / "mix.wav", noise(0.5))
    refused(lambda: separate(src, model="spleeter9000", out_dir=tmp_path / "o"), names="known models",
            kind="arguments")


def test_analysis_and_import_agree_on_the_limit(tmp_path: Path) -> None:
    from soundforge.analysis import analyze

    src = write(tmp_path / "short.wav", noise(399 / SR))
    err = refused(lambda: analyze(src), names="49.88 ms", kind="audio values", error=AudioError)
    assert "at least 50 ms" in str(err)
