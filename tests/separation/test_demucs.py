"""The demucs backend with a tiny real HTDemucs in a local repo: stems, progress, cancellation, errors."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from soundforge.errors import AudioError, ConfigError, ItemCancelled, ItemTimeout, ModelNotAvailable, SeparationError
from soundforge.separation import separate
from soundforge.separation.demucs import DemucsSeparator, load_model
from soundforge.separation.demucs_weights import locate

FAST = {"shifts": 0, "overlap": 0.25}


def test_tiny_model_separates_a_file(tiny_demucs_repo: Path, write_mix: Callable[..., tuple],
                                     tmp_path: Path) -> None:
    path, bass, _ = write_mix("mix.wav", seconds=3.0)
    progress: list[float] = []
    paths = separate(path, model="tiny", out_dir=tmp_path / "stems", repo=tiny_demucs_repo, progress=progress.append,
                     **FAST)
    assert list(paths) == ["drums", "bass", "other", "vocals"]
    for name, p in paths.items():
        data, sr = sf.read(p, always_2d=True)
        assert p == tmp_path / "stems" / f"{name}.flac"
        assert sr == 44100
        assert data.shape == (bass.shape[1], 2)
        assert np.isfinite(data).all()
    assert progress[0] == 0
    assert progress[-1] == 100
    assert progress == sorted(progress)
    assert any(0 < p < 100 for p in progress)  # per-segment progress from demucs's callback
    assert not list((tmp_path / "stems").glob(".*"))  # no partial files left


def test_mono_48k_input_keeps_its_format(tiny_demucs_repo: Path, write_mix: Callable[..., tuple],
                                         tmp_path: Path) -> None:
    path, _, _ = write_mix("mono.flac", seconds=2.0, sr=48000, channels=1)
    paths = DemucsSeparator().options("tiny", repo=str(tiny_demucs_repo), **FAST)
    assert paths["repo"] == str(tiny_demucs_repo)
    out = separate(path, model="demucs:tiny", out_dir=tmp_path / "o", repo=tiny_demucs_repo, **FAST)
    for p in out.values():
        data, sr = sf.read(p, always_2d=True)
        assert sr == 48000
        assert data.shape == (96000, 1)


def test_cancellation_stops_the_work_and_leaves_no_files(tiny_demucs_repo: Path, write_mix: Callable[..., tuple],
                                                         tmp_path: Path) -> None:
    path, _, _ = write_mix("mix.wav", seconds=6.0)
    calls: list[float] = []

    def cancel() -> bool:  # stop once demucs has done some segments
        return any(0 < p < 100 for p in calls)

    with pytest.raises(ItemCancelled, match="cancelled"):
        separate(path, model="tiny", out_dir=tmp_path / "c", repo=tiny_demucs_repo, progress=calls.append,
                 cancel=cancel, segment=1.0, **FAST)
    assert calls
    assert max(calls) < 100
    assert not (tmp_path / "c").exists() or not list((tmp_path / "c").iterdir())
    with pytest.raises(ItemTimeout, match="time limit"):
        separate(path, model="tiny", out_dir=tmp_path / "t", repo=tiny_demucs_repo, timeout_s=0.001, **FAST)


def test_missing_weights_fail_fast_with_instructions(empty_caches: Path, tmp_path: Path,
                                                     write_mix: Callable[..., tuple]) -> None:
    path, _, _ = write_mix("mix.wav", seconds=1.0)
    start = time.perf_counter()
    with pytest.raises(ModelNotAvailable, match=r"htdemucs.*SOUNDFORGE_DEMUCS_REPO") as info:
        separate(path, model="htdemucs", out_dir=tmp_path / "o")
    assert time.perf_counter() - start < 1.0
    assert "955717e8" in str(info.value)
    assert "dsp" in str(info.value)
    empty_repo = tmp_path / "repo"
    empty_repo.mkdir()
    with pytest.raises(ModelNotAvailable, match="local repo"):
        locate("htdemucs_ft", repo=empty_repo)
    with pytest.raises(ModelNotAvailable, match="not a folder"):
        locate("htdemucs", repo=tmp_path / "nope")
    (empty_repo / "955717e8-8726e21a.th").write_bytes(b"x")  # the weights alone: demucs's own bag file is used
    found = locate("htdemucs", repo=empty_repo)
    assert (found.kind, list(found.files), found.checksums) == ("repo", ["955717e8"], {"955717e8": "8726e21a"})
    (empty_repo / "955717e8-8726e21a.th").unlink()
    (empty_repo / "htdemucs.yaml").write_text("models: ['955717e8']\n")
    with pytest.raises(ModelNotAvailable, match="955717e8"):
        locate("htdemucs", repo=empty_repo)
    with pytest.raises(ModelNotAvailable, match=r"offline|not on this machine"):
        load_model("htdemucs", offline=True, allow_download=True)


def test_weights_in_caches_are_found(empty_caches: Path, tiny_demucs_repo: Path) -> None:
    # torch hub layout: <TORCH_HOME>/hub/checkpoints/<sig>-<checksum>.th, bag yaml from demucs's remote/
    import hashlib

    checkpoints = empty_caches / "torch" / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    data = (tiny_demucs_repo / "t1ny0001.th").read_bytes()
    # htdemucs's signature with the real file name; content is our tiny model (its checksum will not match)
    (checkpoints / "955717e8-8726e21a.th").write_bytes(data)
    found = locate("htdemucs")
    assert found.kind == "torch_hub"
    assert found.files["955717e8"].parent == checkpoints
    with pytest.raises(SeparationError, match="cannot be loaded"):
        load_model("htdemucs")  # the checksum check catches the wrong file
    assert hashlib.sha256(data).hexdigest()[:8] != "8726e21a"
    # Hugging Face layout: models--adefossez--HTDemucs/{refs/main, snapshots/<rev>/...}
    snap = empty_caches / "hf" / "models--adefossez--HTDemucs-ft" / "snapshots" / "abc123"
    snap.mkdir(parents=True)
    (snap.parent.parent / "refs").mkdir()
    (snap.parent.parent / "refs" / "main").write_text("abc123")
    (snap / "htdemucs_ft.yaml").write_text("models: ['aaaa', 'bbbb']\n")
    (snap / "aaaa.safetensors").write_bytes(b"x")
    with pytest.raises(ModelNotAvailable):  # one member missing: not usable
        locate("htdemucs_ft")
    (snap / "bbbb.safetensors").write_bytes(b"x")
    assert locate("htdemucs_ft").kind == "huggingface"


def test_demucs_exit_is_not_a_system_exit(tmp_path: Path, empty_caches: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "broken.th").write_bytes(b"not a torch file")
    with pytest.raises(SeparationError, match="cannot be loaded"):
        load_model("broken", repo=repo)


def test_bad_options_and_bad_audio(tiny_demucs_repo: Path, bad_files: dict[str, Path], tmp_path: Path,
                                   write_mix: Callable[..., tuple]) -> None:
    for opts in ({"shifts": -1}, {"overlap": 1.0}, {"device": "tpu"}, {"segment": 0.1}, {"jobz": 2}):
        with pytest.raises(ConfigError):
            separate(tmp_path / "x.wav", model="tiny", out_dir=tmp_path, repo=tiny_demucs_repo, **opts)
    path, _, _ = write_mix("mix.wav", seconds=1.0)
    with pytest.raises(ConfigError, match="longer than model"):
        separate(path, model="tiny", out_dir=tmp_path / "s", repo=tiny_demucs_repo, segment=5.0, **FAST)
    with pytest.raises(AudioError):
        separate(bad_files["truncated"], model="tiny", out_dir=tmp_path / "b", repo=tiny_demucs_repo, **FAST)
    with pytest.raises(AudioError):
        separate(bad_files["text"], model="tiny", out_dir=tmp_path / "b", repo=tiny_demucs_repo, **FAST)
