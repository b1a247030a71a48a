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
