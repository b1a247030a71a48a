from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from soundforge import audio
from soundforge.errors import AudioError, DecoderNotFound

from .conftest import SR, tone


@pytest.mark.parametrize("name", ["a.wav", "a.flac", "a.ogg", "a.mp3", "a.m4a"])
def test_load_formats_as_float32_channels_first(make_audio, name: str) -> None:
    path = make_audio(name, seconds=1.0)
    out = audio.load(path)
    assert out.samples.dtype == np.float32
    assert out.channels == 2
    assert out.sample_rate == SR
    assert out.duration_s == pytest.approx(1.0, abs=0.1)  # lossy codecs add padding
    assert 0.2 < out.peak < 0.4
    assert not out.is_silent


def test_probe_reads_header_without_decoding(make_audio) -> None:
    info = audio.probe(make_audio("a.flac", seconds=2.0, sr=48000, channels=1))
    assert (info.format, info.sample_rate, info.channels, info.frames) == ("flac", 48000, 1, 96000)
    assert info.decoder == "soundfile"


def test_probe_uses_ffprobe_for_m4a(make_audio) -> None:
    info = audio.probe(make_audio("a.m4a", seconds=2.0))
    assert info.decoder == "ffmpeg"
    assert info.format == "m4a"
    assert info.duration_s == pytest.approx(2.0, abs=0.1)


def test_load_resamples_and_downmixes(make_audio) -> None:
    out = audio.load(make_audio("a.wav", seconds=1.0), sr=22050, mono=True)
    assert out.samples.shape[0] == 1
    assert out.sample_rate == 22050
    assert abs(out.frames - 22050) <= 2


def test_stream_yields_bounded_blocks(make_audio) -> None:
    path = make_audio("long.flac", seconds=5.0, channels=2)
    blocks = [b for _, b in audio.stream(path, block_s=1.0)]
    assert len(blocks) == 5
    assert max(b.shape[1] for b in blocks) == SR
    assert sum(b.shape[1] for b in blocks) == 5 * SR


def test_stream_with_resampling_keeps_total_length(make_audio) -> None:
    path = make_audio("long.wav", seconds=3.0)
    total = sum(b.shape[1] for _, b in audio.stream(path, block_s=0.7, sr=16000))
    assert abs(total - 48000) <= 2


def test_silence_is_a_flag_not_an_error(tmp_path: Path) -> None:
    path = tmp_path / "silence.wav"
    sf.write(path, np.zeros((SR, 2), dtype=np.float32), SR)
    result = audio.scan(path)
    assert result.is_silent
    assert audio.load(path).is_silent


@pytest.mark.parametrize(
    ("kind", "reason", "message"),
    [
        ("empty", "empty", "is empty"),
        ("truncated", "corrupt", "corrupt or truncated|truncated"),
        ("text", "not_audio", "not a readable audio file"),
        ("nan", "non_finite", "NaN or infinite"),
        ("zero", "empty", "zero frames"),
    ],
)
def test_bad_audio_raises_audio_error(bad_files: dict[str, Path], kind: str, reason: str, message: str) -> None:
    with pytest.raises(AudioError, match=message) as info:
        audio.scan(bad_files[kind])
    assert info.value.reason == reason
    assert info.value.path == bad_files[kind]
    assert str(bad_files[kind]) in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="does not exist") as info:
        audio.load(tmp_path / "nope.flac")
    assert info.value.reason == "missing"


def test_too_long_is_refused_from_the_header(make_audio) -> None:
    path = make_audio("a.flac", seconds=2.0)
    with pytest.raises(AudioError, match="over the limit") as info:
        audio.probe(path, max_duration_s=1.0)
    assert info.value.reason == "too_long"


def test_missing_ffmpeg_says_how_to_install(make_audio) -> None:
    path = make_audio("a.m4a", seconds=0.5)
    with pytest.raises(DecoderNotFound, match="apt-get install ffmpeg"):
        audio.load(path, ffmpeg="/nonexistent/ffmpeg")


def test_resample_shapes() -> None:
    stereo = tone(seconds=1.0).T
    out = audio.resample(stereo, orig_sr=SR, target_sr=22050)
    assert out.shape == (2, 22050)
    mono = audio.resample(stereo[0], orig_sr=SR, target_sr=8000)
    assert mono.shape == (8000,)
    with pytest.raises(AudioError, match="must be positive"):
        audio.resample(mono, orig_sr=0, target_sr=8000)


def test_write_round_trip(tmp_path: Path) -> None:
    data = tone(seconds=0.5).T
    path = audio.write(tmp_path / "x.flac", data, sample_rate=SR)
    back = audio.load(path)
    assert back.samples.shape == data.shape
    assert np.max(np.abs(back.samples - data)) < 1e-4


def test_ffmpeg_decoder_is_handed_to_the_process_hook(make_audio) -> None:
    seen = []
    audio.scan(make_audio("a.m4a", seconds=0.5), on_process=seen.append)
    assert len(seen) == 1
    assert seen[0].args[0].endswith("ffmpeg")
    assert seen[0].poll() is not None  # finished and reaped
    audio.scan(make_audio("a.flac", seconds=0.5), on_process=seen.append)
    assert len(seen) == 1  # soundfile formats start no subprocess


def _chained_ogg(folder: Path, name: str = "chained.ogg") -> Path:
    """Two Ogg Vorbis streams one after another (a chained file, as stream recordings are): 1 s + 2 s."""
    parts = []
    for i, seconds in enumerate((1.0, 2.0)):
        part = folder / f"part{i}.ogg"
        sf.write(part, tone(seconds=seconds, freq=440.0 * (i + 1)), SR, format="OGG", subtype="VORBIS")
        parts.append(part.read_bytes())
    path = folder / name
    path.write_bytes(b"".join(parts))
    return path


def test_ogg_links_of_plain_and_chained_files(make_audio, tmp_path: Path) -> None:
    assert len(audio._ogg_links(make_audio("a.ogg", seconds=1.0))) == 1
    assert audio._ogg_links(_chained_ogg(tmp_path)) == [SR, 2 * SR]
    assert audio._ogg_links(make_audio("a.wav", seconds=0.5)) == []


def test_chained_ogg_is_refused_with_a_command_that_converts_it(tmp_path: Path) -> None:
    folder = tmp_path / "my music"
    folder.mkdir()
    path = _chained_ogg(folder)
    with pytest.raises(AudioError, match=r"chained\.ogg is a chained Ogg file: 2 streams one after another .* only up "
                                         r"to the end of the first \(1 s\)\. Convert it .*ffmpeg -i") as caught:
        audio.load(path)
    assert caught.value.reason == "chained"
    if shutil.which("ffmpeg") is None:
        return
    command = shlex.split(str(caught.value).split("e.g. ", 1)[1].rsplit(", and use", 1)[0])
    subprocess.run([*command[:1], "-v", "error", *command[1:]], check=True, timeout=60)
    converted = audio.load(folder / "chained.flac")
    assert converted.samples.shape[1] == pytest.approx(3 * SR, abs=2048)  # both streams


def _streamed_flac(make_audio, name: str = "piped.flac") -> Path:
    """A FLAC whose STREAMINFO gives no total length (0), as an encoder writing to a pipe leaves it."""
    path = make_audio(name, seconds=1.5, channels=1)
    data = bytearray(path.read_bytes())
    assert data[:4] == b"fLaC"
    assert data[4] & 0x7F == 0
    info = 8  # after "fLaC" and the block header
    data[info + 13] &= 0xF0  # total samples: 36 bits from the low nibble of byte 13
    data[info + 14:info + 18] = b"\x00\x00\x00\x00"
    path.write_bytes(bytes(data))
    return path


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")
def test_flac_without_total_length_is_counted_and_decoded_to_its_end(make_audio) -> None:
    path = _streamed_flac(make_audio)
    assert sf.info(str(path)).frames > 1 << 62  # libsndfile: length unknown
    info = audio.probe(path)
    assert (info.frames, info.decoder) == (int(1.5 * SR), "ffmpeg")
    assert info.duration_s == pytest.approx(1.5)
    assert audio.load(path).samples.shape == (1, int(1.5 * SR))


def test_flac_without_total_length_and_without_ffmpeg_says_what_to_install(make_audio) -> None:
    path = _streamed_flac(make_audio)
    with pytest.raises(DecoderNotFound, match=r"ffmpeg .* is needed to decode this format but was not found"):
        audio.probe(path, ffmpeg="no-such-ffmpeg-here")
