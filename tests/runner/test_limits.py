"""Limits on by default: an item's own limit (derived from its work) applies unless the caller gives one."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from soundforge.catalog import Catalog
from soundforge.runner import StageSpec, WorkItem, run_stage
from soundforge.stages import limits
from soundforge.stages.analyze import STAGE as ANALYZE
from soundforge.stages.base import RunOptions
from soundforge.stages.separate import STAGE as SEPARATE
from soundforge.workspace import Workspace
from tests import runner_work as work


def _spec(fn: object = work.cooperative_hang) -> StageSpec:
    return StageSpec(name="sleepy", work=fn, executor="thread", workers=1, key="item")  # type: ignore[arg-type]


def test_the_items_own_limit_applies_by_default(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "catalog.sqlite")
    df = run_stage(_spec(), [WorkItem(key="a", payload="hang", timeout_s=0.3)], catalog=catalog, progress=None)
    assert df["status"].item() == "failed"
    assert "ran past its 0.3 s time limit" in df["error"].item()


def test_an_explicit_timeout_wins_and_inf_means_none(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "catalog.sqlite")
    df = run_stage(_spec(work.timed), [WorkItem(key="a", payload=0.3, timeout_s=0.05)], catalog=catalog, progress=None,
                   timeout=math.inf)
    assert df["status"].item() == "done"
    df = run_stage(_spec(), [WorkItem(key="b", payload="hang", timeout_s=100.0)], catalog=catalog, progress=None,
                   timeout=0.2)
    assert "ran past its 0.2 s time limit" in df["error"].item()


def test_limits_grow_with_the_work() -> None:
    assert limits.analysis(180.0) == 120 + 2 * 180
    assert limits.analysis(None) is None
    assert limits.separation(180.0, model="dsp", device="auto") == 120 + 2 * 180
    assert limits.separation(180.0, model="htdemucs", device="cpu") == 300 + 8 * 180
    assert limits.separation(180.0, model="htdemucs", device="cuda") == 300 + 2 * 180
    assert limits.fetch("track") < limits.fetch("album") < limits.fetch("playlist")
    assert limits.imports(50_000_000) == pytest.approx(620.0)
    assert limits.batch(None) == 900.0


def test_stages_give_their_items_limits_from_the_tracks(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    path = tmp_path / "tone.wav"
    sf.write(path, 0.1 * np.sin(np.linspace(0, 2000, 22050 * 3)).astype("float32"), 22050)
    imported = ws.import_audio(path, progress=None)
    track = imported["track_id"].item()
    plan = ANALYZE.plan(ws.env, RunOptions(), tracks=track)
    assert plan.items[0].timeout_s == pytest.approx(120 + 2 * 3.0, abs=0.1)
    plan = SEPARATE.plan(ws.env, RunOptions(), tracks=track, model="dsp")
    assert plan.items[0].timeout_s == pytest.approx(120 + 2 * 3.0, abs=0.1)
