"""MP3 length from the MPEG frames (soundforge.mpeg), and what audio.probe/load make of it.

The files are written by libsndfile (LAME), which puts a Xing header in the first frame; the header is
then taken out, and ID3 tags put around the stream, to make the MP3s that many encoders and taggers
write (CBR without a length header, cover art in a large ID3v2 tag).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from soundforge import audio, mpeg
from soundforge.errors import AudioError

SR = 44100
SECONDS = 3.0


def _music(seconds: float = SECONDS) -> np.ndarray:
    t = np.arange(int(SR * seconds)) / SR
    x = 0.3 * np.sin(2 * np.pi * 440 * t) * (1 + np.sin(2 * np.pi * 3 * t))
    noisy = slice(SR // 2, SR + SR // 2)  # a noisy second makes a variable-bitrate encoder change bitrate
    x[noisy] += 0.3 * np.random.default_rng(0).standard_normal(SR)
    return (0.9 * x / np.abs(x).max()).astype(np.float32)


def _mp3(path: Path, *, bitrate_mode: str = "CONSTANT") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, _music(), SR, format="MP3", subtype="MPEG_LAYER_III", bitrate_mode=bitrate_mode)
    return path


def _id3v2(size: int) -> bytes:
    """An ID3v2.3 tag of ``size`` bytes of body (one padded comment frame), as taggers write cover art."""
    body = b"COMM" + (size - 10).to_bytes(4, "big") + b"\x00\x00" + b"\x00eng\x00" + b"x" * (size - 15)
    syncsafe = bytes((size >> shift) & 0x7F for shift in (21, 14, 7, 0))
    return b"ID3\x03\x00\x00" + syncsafe + body


def _without_header(src: Path, dst: Path, *, tag_bytes: int = 0) -> Path:
    """``src`` with its first (Xing) frame taken out, an ID3v2 tag of ``tag_bytes`` before and an ID3v1 tag after."""
    data = src.read_bytes()
    assert data[21:25] == b"Xing"
    first = mpeg._frame(data, 0)
    assert first is not None
    id3v1 = b"TAG" + b"t" * 125
    dst.write_bytes((_id3v2(tag_bytes) if tag_bytes else b"") + data[first.length:] + id3v1)
    return dst


def test_scan_reads_the_xing_header_and_the_frames(tmp_path: Path) -> None:
    s = mpeg.scan(_mp3(tmp_path / "a.mp3"))
    assert s is not None
    assert s.complete
    assert s.missing_bytes == 0
    assert s.sample_rate == SR
    assert s.samples == s.frames * 1152
    assert s.header_samples == s.samples
    assert SECONDS * SR <= s.samples < SECONDS * SR + 3 * 1152  # encoder delay and padding


def test_scan_walks_a_stream_without_header_behind_a_large_tag(tmp_path: Path) -> None:
    with_header = mpeg.scan(_mp3(tmp_path / "a.mp3"))
    bare = mpeg.scan(_without_header(tmp_path / "a.mp3", tmp_path / "b.mp3", tag_bytes=300_000))
    assert with_header is not None
    assert bare is not None
    assert bare.header_samples is None
    assert bare.complete
    assert bare.samples == with_header.samples


def test_scan_finds_a_cut_in_the_middle_of_a_frame(tmp_path: Path) -> None:
    path = _without_header(_mp3(tmp_path / "a.mp3"), tmp_path / "b.mp3")
    os.truncate(path, int(path.stat().st_size * 0.6))
    s = mpeg.scan(path)
    assert s is not None
    assert not s.complete
    assert s.missing_bytes > 0
    assert s.samples < 0.7 * SECONDS * SR


@pytest.mark.parametrize("content", [b"", b"RIFF0000WAVE", b"\xff\xfb" * 3, b"ID3\x03\x00\x00\x00\x00\x00\x05abcde"])
def test_scan_is_none_without_an_mpeg_stream(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "x.mp3").write_bytes(content)
    assert mpeg.scan(tmp_path / "x.mp3") is None
    assert mpeg.scan(tmp_path / "missing.mp3") is None


@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=3000), cut=st.integers(min_value=0, max_value=4000))
def test_scan_never_fails_on_damaged_bytes(tmp_path_factory: pytest.TempPathFactory, data: bytes, cut: int) -> None:
    folder = tmp_path_factory.mktemp("mp3")
    good = _mp3(folder / "good.mp3").read_bytes()
    path = folder / "bad.mp3"
    path.write_bytes(good[:cut] + data + good[cut:cut + 2000])
    s = mpeg.scan(path)
    assert s is None or (s.samples >= 0 and s.frames >= 0 and s.sample_rate > 0)


def test_probe_and_load_agree_on_a_tagged_mp3_without_header(tmp_path: Path) -> None:
    # libsndfile guesses this file's length from its size, tag included: 2.3 s too long
    path = _without_header(_mp3(tmp_path / "a.mp3"), tmp_path / "tagged.mp3", tag_bytes=100_000)
    walked = mpeg.scan(path)
    assert walked is not None
    assert sf.info(str(path)).frames > walked.samples + SR
    info = audio.probe(path)
    assert info.frames == walked.samples
    assert info.duration_s == pytest.approx(walked.samples / SR)
    loaded = audio.load(path)
    assert loaded.samples.shape[1] == walked.samples
    assert audio.scan(path).info.frames == walked.samples


def test_cut_mp3_without_header_is_truncated_with_its_length(tmp_path: Path) -> None:
    path = _without_header(_mp3(tmp_path / "a.mp3"), tmp_path / "cut.mp3")
    os.truncate(path, int(path.stat().st_size * 0.6))
    with pytest.raises(AudioError, match=r"cut\.mp3 is truncated: it ends in the middle of an MPEG frame \(\d+ bytes "
                                         r"of it are missing\) after 1\.\d+ s \(\d+ frames\)") as caught:
        audio.load(path)
    assert caught.value.reason == "corrupt"


def _vbr_without_header(tmp_path: Path) -> tuple[Path, int]:
    path = _without_header(_mp3(tmp_path / "v.mp3", bitrate_mode="VARIABLE"), tmp_path / "vbr.mp3")
    data, at, rates = path.read_bytes(), 0, set()
    while (frame := mpeg._frame(data, at)) is not None:
        rates.add(data[at + 2] >> 4)
        at += frame.length
    walked = mpeg.scan(path)
    assert walked is not None
    assert len(rates) > 1
    return path, walked.samples


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")
def test_vbr_mp3_without_header_decodes_to_its_end(tmp_path: Path) -> None:
    path, samples = _vbr_without_header(tmp_path)
    assert audio.load(path).samples.shape[1] >= samples - 1152


def test_vbr_mp3_without_header_and_without_ffmpeg_says_what_to_install(tmp_path: Path) -> None:
    path, samples = _vbr_without_header(tmp_path)
    with sf.SoundFile(str(path)) as handle:
        if handle.frames >= samples - 1152:
            pytest.skip("this libsndfile decodes variable-bitrate MP3s without a Xing header to their end")
    with pytest.raises(AudioError, match=r"vbr\.mp3 holds .* of MPEG frames but libsndfile decodes only .* Install "
                                         r"ffmpeg"):
        audio.load(path, ffmpeg="no-such-ffmpeg-here")


@pytest.mark.parametrize("tag", [b"TAG" + b"t" * 125, b"APETAGEX" + b"\x00" * 24, b"APETAGEX" + b"\x00" * 24
                                 + b"TAG" + b"t" * 125])
def test_a_partial_frame_before_a_trailing_tag_is_a_finished_file(tmp_path: Path, tag: bytes) -> None:
    # as some editors leave it (one of the rhythm-game songs of the real set): the tag was written after
    # the stream ended, so the file is whole as written and decoders drop the partial frame
    path = _without_header(_mp3(tmp_path / "a.mp3"), tmp_path / "b.mp3")
    body = path.read_bytes()[:-128]  # without _without_header's ID3v1 tag
    whole = mpeg.scan(path)
    assert whole is not None
    partial = body[: len(body) - 200]
    path.write_bytes(partial + tag)
    s = mpeg.scan(path)
    assert s is not None
    assert s.complete
    assert s.samples < whole.samples
    assert audio.load(path).samples.shape[1] >= s.samples - 1152
