"""Analysis result: attribute access, rows, saving and loading."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from soundforge.analysis import FEATURES, SERIES, Analysis, analyze
from soundforge.errors import AnalysisError

from .synth import cadence, click_track


@pytest.fixture(scope="module")
def analysis() -> Analysis:
    y, _ = click_track(bpm=96, seconds=6.4)
    return analyze(y + cadence(9, "minor")[: y.shape[1]], sr=22050)


def test_scalars_are_attributes(analysis: Analysis) -> None:
    assert analysis.tempo_bpm == analysis.features["tempo_bpm"]
    with pytest.raises(AttributeError, match="no attribute or feature"):
        _ = analysis.not_a_feature
    assert "tempo_bpm" in repr(analysis)


def test_to_row_is_flat_and_ordered(analysis: Analysis) -> None:
    row = analysis.to_row()
    assert list(row) == [k for k in FEATURES if k in row]
    assert all(isinstance(v, (int, float, str)) for v in row.values())
    df = analysis.to_dataframe()
    assert df.shape == (1, len(row))


def test_series_are_documented(analysis: Analysis) -> None:
    assert set(analysis.series) <= set(SERIES)
    n = analysis.series["frame_times"].size
    assert analysis.series["onset_env"].shape == (n,)
    assert analysis.series["mfcc"].shape == (13, n)


def test_save_and_load_round_trip(tmp_path: Path, analysis: Analysis) -> None:
    analysis.save(tmp_path / "a.json", tmp_path / "a.npz")
    back = Analysis.load(tmp_path / "a.json", tmp_path / "a.npz")
    assert back.to_row() == analysis.to_row()
    assert back.version == analysis.version
    assert back.segments == analysis.segments
    np.testing.assert_array_equal(back.beats, analysis.beats)
    np.testing.assert_array_equal(back.series["chroma"], analysis.series["chroma"])
    meta = json.loads((tmp_path / "a.json").read_text())
    assert meta["features"]["key_tonic"] == analysis.key_tonic
    with np.load(tmp_path / "a.npz") as data:
        assert data["segment_label"].tolist() == [s.label for s in analysis.segments]


def test_segments_frame(analysis: Analysis) -> None:
    df = analysis.segments_frame()
    assert list(df.columns) == ["start_s", "end_s", "label"]
    assert len(df) == len(analysis.segments)


def test_load_reports_damaged_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(AnalysisError, match="Re-run the analysis"):
        Analysis.load(bad)


def test_analysis_pickles(analysis: Analysis) -> None:
    import pickle

    back = pickle.loads(pickle.dumps(analysis))
    assert back.to_row() == analysis.to_row()
    assert back.key_tonic == analysis.key_tonic
