"""ws.separate / ws.stems / ws.play and `soundforge separate`: the separate stage through the runner."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from soundforge.cli import main
from soundforge.errors import ConfigError, ModelNotAvailable, TrackNotFound
from soundforge.progress import ProgressEvent
from soundforge.stages.separate import STEM_COLUMNS
from soundforge.workspace import Workspace
from tests.conftest import two_sources

DSP_STEMS = ["vocals", "drums", "bass", "other"]


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    """A workspace with two imported synthetic songs (3 s stereo 44.1 kHz, 2 s mono 22.05 kHz)."""
    src = tmp_path / "src"
    src.mkdir()
    for name, seconds, sr, channels in (("a.flac", 3.0, 44100, 2), ("b.wav", 2.0, 22050, 1)):
        bass, drums = two_sources(seconds=seconds, sr=sr, channels=channels)
        sf.write(src / name, (bass + drums).T, sr)
    workspace = Workspace(tmp_path / "ws")
    imported = workspace.import_audio(sorted(src.iterdir()), progress=None)
    assert imported["status"].tolist() == ["done", "done"]
    return workspace


def test_dsp_stems_rows_files_and_skip(ws: Workspace) -> None:
    events: list[ProgressEvent] = []
    df = ws.separate(model="dsp", progress=events.append)
    assert list(df.columns) == list(STEM_COLUMNS)
    assert len(df) == 8
    assert df["status"].tolist() == ["done"] * 8
    assert sorted(set(df["stem"])) == sorted(DSP_STEMS)
    audio = ws.audio().set_index("track_id")
    for row in df.itertuples():
        path = Path(row.path)
        assert path == ws.root / "stems" / row.track_id / "dsp" / f"{row.stem}.flac"
        info = sf.info(str(path))
        mix = sf.info(audio.loc[row.track_id, "path"])
        assert (info.samplerate, info.channels, info.frames) == (mix.samplerate, mix.channels, mix.frames)
        assert row.duration_s == pytest.approx(mix.frames / mix.samplerate)
        assert row.seconds_taken > 0
    assert any(e.kind == "item_progress" and e.percent == 100 for e in events)
    stems = ws.stems()
    assert len(stems) == 8
    assert stems["params_hash"].nunique() == 1
    assert set(stems["path"]) == set(df["path"])
    assert ws.stems(df["track_id"].iloc[0], model="dsp")["stem"].tolist() == DSP_STEMS  # the model's order
    # same parameters: skipped without work; other parameters: done again
    again = ws.separate(model="dsp", progress=None)
    assert again["status"].tolist() == ["skipped"] * 8
    assert again["path"].tolist() == df["path"].tolist()
    first = df["track_id"].iloc[0]
    changed = ws.separate(ws.audio().query("track_id == @first"), model="dsp", repetition=0.0, progress=None)
    assert changed["status"].tolist() == ["done"] * 4
    assert ws.stems()["params_hash"].nunique() == 2
    # back to the first parameters: the changed track is redone, and so is one whose stem file disappeared
    second = df["track_id"].iloc[-1]
    Path(df["path"].iloc[-1]).unlink()
    redo = ws.separate(model="dsp", progress=None)
    assert set(redo.loc[redo["track_id"] == first, "status"]) == {"done"}
    assert set(redo.loc[redo["track_id"] == second, "status"]) == {"done"}
    assert Path(df["path"].iloc[-1]).is_file()
    assert ws.separate(model="dsp", progress=None)["status"].tolist() == ["skipped"] * 8
    forced = ws.separate(model="dsp", force=True, progress=None, workers=2)
    assert forced["status"].tolist() == ["done"] * 8
    assert not list((ws.root / "tmp").iterdir())  # scratch folders are gone


def test_unknown_track_ids_are_named_before_any_work(ws: Workspace) -> None:
    with pytest.raises(TrackNotFound, match=r"Unknown track id\(s\) in the workspace .*: nosuchtrack\. ws\.tracks\(\)"):
        ws.separate(["nosuchtrack"], model="dsp", progress=None)
    assert not (ws.jobs()["stage"] == "separate").any()
    with pytest.raises(ConfigError, match="Unknown option"):
        ws.separate(model="dsp", shifts=3)


def test_missing_demucs_weights_fail_before_any_work(ws: Workspace, empty_caches: Path) -> None:
    start = time.perf_counter()
    with pytest.raises(ModelNotAvailable, match="SOUNDFORGE_DEMUCS_REPO"):
        ws.separate(model="htdemucs_ft", progress=None)
    assert time.perf_counter() - start < 1.0
    assert not (ws.jobs()["stage"] == "separate").any()


def test_demucs_model_in_a_worker_process(tmp_path: Path, ws: Workspace, tiny_demucs_repo: Path) -> None:
    local = Workspace(ws.root, demucs_repo=tiny_demucs_repo)
    events: list[ProgressEvent] = []
    df = local.separate(model="tiny", shifts=0, progress=events.append)
    assert df["status"].tolist() == ["done"] * 8, df["error"].tolist()
    assert sorted(set(df["stem"])) == ["bass", "drums", "other", "vocals"]
    percents = [e.percent for e in events if e.kind == "item_progress" and e.percent is not None]
    assert percents
    assert max(percents) == 100
    assert (local.root / "stems" / df["track_id"].iloc[0] / "tiny" / "vocals.flac").is_file()


def test_timeout_stops_the_worker(ws: Workspace, tmp_path: Path) -> None:
    long = tmp_path / "long.wav"
    rng = np.random.default_rng(0)
    sf.write(long, (0.1 * rng.standard_normal((44100 * 120, 2))).astype(np.float32), 44100)
    track = ws.import_audio([long], progress=None)["track_id"].item()
    start = time.perf_counter()
    df = ws.separate([track], model="dsp", timeout=3, progress=None)
    assert time.perf_counter() - start < 30
    assert df["status"].tolist() == ["failed"] * 4
    assert df["error"].str.startswith("ItemTimeout").all()
    assert not (ws.root / "stems" / track).exists()


def test_play_mix_stem_and_excerpt(ws: Workspace) -> None:
    row = ws.audio().iloc[0]
    track = row["track_id"]
    ws.separate([track], model="dsp", progress=None)
    mix = ws.play(track)
    assert mix.mimetype in ("audio/flac", "audio/x-wav", "audio/wav")
    assert len(mix.data) > 1000
    vocals = ws.play(track, stem="vocals", model="dsp")
    assert vocals.mimetype == "audio/flac"
    excerpt = ws.play(track, stem="drums", start_s=0.5, duration_s=1.0)
    assert excerpt.mimetype == "audio/wav"
    assert len(excerpt.data) == 44 + row["sample_rate"] * row["channels"] * 2  # 1 s of 16-bit WAV
    with pytest.raises(ConfigError, match=r"No stem 'guitar' of track .*; its stems are 'vocals', 'drums', 'bass', "
                                          r"'other' \(model='dsp'\)\."):
        ws.play(track, stem="guitar")
    other = ws.audio()["track_id"].iloc[1]
    with pytest.raises(ConfigError, match=rf"it has no stems yet: ws\.separate\('{other}'\) first"):
        ws.play(other, stem="vocals")
    with pytest.raises(TrackNotFound, match=r"Unknown track id.*local-deadbeef"):
        ws.play("local-deadbeef")


def test_auto_model_runs_dsp_without_weights_and_says_so(ws: Workspace, empty_caches: Path) -> None:
    track = ws.audio()["track_id"].iloc[0]
    df = ws.separate([track], progress=None)  # model="auto" is the default
    assert df["status"].tolist() == ["done"] * 4
    assert set(df["model"]) == {"dsp"}
    assert df.attrs["model"] == "dsp"
    assert "no demucs weights are on this machine" in df.attrs["model_reason"]
    assert (ws.root / "stems" / track / "dsp" / "vocals.flac").is_file()


def test_auto_model_prefers_demucs_weights_on_the_machine(tmp_path: Path, tiny_demucs_repo: Path,
                                                          empty_caches: Path) -> None:
    from soundforge.separation.auto import choose_model

    assert choose_model(repo=None).model == "dsp"
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "t1ny0001.th").symlink_to(tiny_demucs_repo / "t1ny0001.th")
    (repo / "htdemucs.yaml").write_text("models: ['t1ny0001']\n")
    choice = choose_model(repo=repo)
    assert choice.model == "htdemucs"
    assert "weights are on this machine" in choice.reason


def test_unknown_model_lists_the_known_ones(ws: Workspace, tiny_demucs_repo: Path) -> None:
    with pytest.raises(ConfigError, match=r"Unknown separation model 'bogus'; known models: auto, dsp, hdemucs_mmi, "
                                          r"htdemucs, htdemucs_6s, htdemucs_ft"):
        ws.separate(model="bogus", progress=None)
    with pytest.raises(ConfigError, match=r"Did you mean 'htdemucs'\?"):
        ws.separate(model="htdemucz", progress=None)
    local = Workspace(ws.root, demucs_repo=tiny_demucs_repo)  # a custom model in the local repo is known
    assert local.separate(model="tiny", shifts=0, progress=None, tracks=[]).empty


def test_cli_separate(ws: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    track = ws.audio()["track_id"].iloc[0]
    assert main(["--root", str(ws.root), "separate", track, "--model", "dsp"]) == 0
    out = capsys.readouterr().out
    assert "vocals" in out
    assert "4 stems done or already there" in out
    assert main(["--root", str(ws.root), "separate", "nosuchtrack", "--model", "dsp"]) == 1
    assert "error: Unknown track id(s)" in capsys.readouterr().err
    assert main(["--root", str(ws.root), "separate", "--model", "nope:x"]) == 1
    assert "error:" in capsys.readouterr().err


def test_cli_separate_speaks_flags(ws: Workspace, empty_caches: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--root", str(ws.root), "separate", "--model", "htdemucs"]) == 1
    err = capsys.readouterr().err
    assert "--allow-download" in err
    assert "--model dsp needs no weights" in err
    assert "model=" not in err
    assert "allow_download" not in err
    assert main(["--root", str(ws.root), "separate", "--model", "bogus"]) == 1
    assert "known models: auto, dsp," in capsys.readouterr().err
    track = ws.audio()["track_id"].iloc[0]
    assert main(["--root", str(ws.root), "separate", track]) == 0
    out = capsys.readouterr().out
    assert "model 'auto' chose 'dsp'" in out
    assert "4 stems done or already there with --model dsp" in out
