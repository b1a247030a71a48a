"""Figures build on analysed demo songs, without pyplot, and save as PNG."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from soundforge import plot
from soundforge.analysis import analyze
from soundforge.demo import demo_dir
from soundforge.errors import AnalysisError, ConfigError
from soundforge.workspace import Workspace


@pytest.fixture(scope="module")
def demo_ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    ws = Workspace(tmp_path_factory.mktemp("plot") / "ws")
    ws.import_audio(sorted(demo_dir().glob("*.flac")), progress=None)
    ws.analyze(workers=2, progress=None)
    return ws


def test_track_figure(demo_ws: Workspace, tmp_path: Path) -> None:
    track_id = demo_ws.features()["track_id"].iloc[0]
    fig = plot.track(demo_ws, track_id)
    assert len(fig.axes) >= 3
    assert "BPM" in fig.get_suptitle()
    out = tmp_path / "track.png"
    fig.savefig(out, dpi=50)
    assert out.stat().st_size > 10_000


def test_track_from_an_analysis_without_its_file(tmp_path: Path) -> None:
    song = tmp_path / "song.flac"
    shutil.copy(next(demo_dir().glob("*.flac")), song)
    a = analyze(song)
    song.unlink()                                        # falls back to RMS and MFCC
    fig = plot.track(a)
    fig.savefig(tmp_path / "a.png", dpi=40)
    assert fig.axes[0].get_ylabel() == "RMS"


def test_library_figure(demo_ws: Workspace, tmp_path: Path) -> None:
    fig = plot.library(demo_ws)
    assert "3 analysed tracks" in fig.get_suptitle()
    fig.savefig(tmp_path / "library.png", dpi=50)
    assert plot.library(demo_ws, x="tempo_bpm", y="loudness_lufs").axes[2].get_xlabel() == "tempo_bpm"
    with pytest.raises(ConfigError, match="not a numeric feature"):
        plot.library(demo_ws, x="key_tonic")


def test_errors(tmp_path: Path, demo_ws: Workspace) -> None:
    with pytest.raises(ConfigError, match="give the track id"):
        plot.track(demo_ws)
    with pytest.raises(AnalysisError, match="has not been analysed"):
        plot.track(demo_ws, "local-0000000000000000")
    with pytest.raises(AnalysisError, match="Nothing has been analysed"):
        plot.library(Workspace(tmp_path / "empty"))


def test_stems_figure(demo_ws: Workspace, tmp_path: Path) -> None:
    track_id = demo_ws.audio()["track_id"].iloc[0]
    with pytest.raises(ConfigError, match="has no stems"):
        plot.stems(demo_ws, track_id)
    demo_ws.separate(track_id, model="dsp", progress=None)
    fig = plot.stems(demo_ws, track_id)
    titles = [ax.get_title(loc="left") for ax in fig.axes[:5]]
    assert titles[0] == "mix"
    assert [t.split(" ")[0] for t in titles[1:]] == ["vocals", "drums", "bass", "other"]
    shares = [float(t.split("· ")[1].split(" %")[0]) for t in titles[1:]]
    assert 20 < sum(shares) <= 101                     # soft masks: stem energies sum to less than the mix
    assert "(dsp)" in fig.get_suptitle()
    fig.savefig(tmp_path / "stems.png", dpi=40)
    assert (tmp_path / "stems.png").stat().st_size > 5_000
    files = dict(zip(demo_ws.stems(track_id)["stem"], demo_ws.stems(track_id)["path"], strict=True))
    loose = plot.stems(files, title="loose files")     # a mapping such as separation.separate returns
    assert [ax.get_title(loc="left").split(" ")[0] for ax in loose.axes[:4]] == ["vocals", "drums", "bass", "other"]
    assert loose.get_suptitle() == "loose files"
    with pytest.raises(ConfigError, match="give the track id"):
        plot.stems(demo_ws)
    with pytest.raises(ConfigError, match="no stems with model 'htdemucs'"):
        plot.stems(demo_ws, track_id, model="htdemucs")
