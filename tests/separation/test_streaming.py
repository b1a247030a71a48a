"""Chunked streaming: windows cover the track once, crossfades keep sums, stem files appear atomically."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from soundforge.errors import ItemCancelled, ItemTimeout
from soundforge.separation.streaming import ChunkPlan, Control, Resampler, StemWriter, iter_windows, join_windows


def _blocks(x: np.ndarray, size: int) -> list[np.ndarray]:
    return [x[:, i:i + size] for i in range(0, x.shape[1], size)]


@pytest.mark.parametrize(("total", "block"), [(1, 7), (95, 10), (100, 33), (101, 100), (1000, 64), (437, 1000)])
@pytest.mark.parametrize(("hop", "crossfade", "context"), [(40, 0, 0), (40, 10, 5), (25, 24, 30)])
def test_windows_rejoin_to_the_input(total: int, block: int, hop: int, crossfade: int, context: int) -> None:
    rng = np.random.default_rng(total)
    x = rng.standard_normal((2, total)).astype(np.float32)
    plan = ChunkPlan(hop=hop, crossfade=crossfade, context=context)
    windows = list(iter_windows(_blocks(x, block), plan))
    assert len(windows) == plan.windows(total)
    assert windows[-1].last
    assert not any(w.last for w in windows[:-1])
    for w in windows:  # each window holds exactly the input it claims, context included
        np.testing.assert_array_equal(w.samples, x[:, w.start:w.start + w.samples.shape[1]])
        assert w.start <= w.keep_start < w.keep_stop <= w.start + w.samples.shape[1]
    # identity "separation" into two stems that sum to the window: the joined stems must sum to the input
    pieces = list(join_windows(((w, {"a": 0.25 * w.samples, "b": 0.75 * w.samples}) for w in windows), plan))
    joined = {k: np.concatenate([p[k] for p in pieces], axis=1) for k in ("a", "b")}
    assert joined["a"].shape == x.shape
    np.testing.assert_allclose(joined["a"] + joined["b"], x, atol=1e-6)
    np.testing.assert_allclose(joined["a"], 0.25 * x, atol=1e-6)


def test_crossfade_blends_neighbouring_windows() -> None:
    plan = ChunkPlan(hop=100, crossfade=20, context=0)
    x = np.ones((1, 250), dtype=np.float32)
    windows = list(iter_windows([x], plan))
    # window k outputs the constant k: inside a crossfade the output must move from k-1 to k
    out = np.concatenate([p["s"] for p in join_windows(((w, {"s": np.full_like(w.samples, w.index)})
                                                         for w in windows), plan)], axis=1)[0]
    assert out.shape == (250,)
    assert out[:100].max() == 0
    assert out[120:200].min() == 1
    ramp = out[100:120]
    assert np.all(np.diff(ramp) > 0)
    assert 0 < ramp[0] < 0.1
    assert 0.9 < ramp[-1] < 1


def test_plan_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="hop > crossfade"):
        ChunkPlan(hop=10, crossfade=10)


def test_stem_writer_commits_all_files_with_exact_length(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with StemWriter(out, ["a", "b"], sample_rate=22050, channels=2, frames=1000) as writer:
        writer.write({"a": np.full((2, 600), 0.5, np.float32), "b": np.full((2, 600), 2.0, np.float32)})
        assert not list(out.glob("*.flac"))  # nothing visible before commit
        writer.write({"a": np.zeros((2, 600), np.float32), "b": np.zeros((2, 600), np.float32)})  # cut at 1000
        paths = writer.commit()
    assert set(paths) == {"a", "b"}
    assert writer.clipped == 1200
    for name, path in paths.items():
        data, sr = sf.read(path, always_2d=True)
        assert path == out / f"{name}.flac"
        assert sr == 22050
        assert data.shape == (1000, 2)
    assert sf.read(paths["b"])[0].max() == pytest.approx(1.0, abs=1e-6)  # clipped, not wrapped
    assert sorted(p.name for p in out.iterdir()) == ["a.flac", "b.flac"]


def test_stem_writer_pads_short_input_and_cleans_up_on_error(tmp_path: Path) -> None:
    with StemWriter(tmp_path, ["a"], sample_rate=8000, channels=1, frames=500) as writer:
        writer.write({"a": np.ones((1, 100), np.float32) * 0.1})
        path = writer.commit()["a"]
    data = sf.read(path)[0]
    assert data.shape == (500,)
    assert np.all(data[100:] == 0)
    with pytest.raises(RuntimeError, match="boom"), StemWriter(tmp_path / "x", ["a"], sample_rate=8000,
                                                              channels=1, frames=10):
        raise RuntimeError("boom")
    assert list((tmp_path / "x").iterdir()) == []


def test_control_cancel_timeout_and_monotonic_progress() -> None:
    seen: list[float] = []
    control = Control(progress=seen.append, what="song.flac")
    for value in (0, 10, 5, 50, 120):
        control.report(value)
    assert seen == [0, 10, 50, 100]
    stop = [False]
    control = Control(cancel=lambda: stop[0], what="song.flac")
    control.check()
    stop[0] = True
    with pytest.raises(ItemCancelled, match=r"song\.flac"):
        control.check()
    with pytest.raises(ItemTimeout, match="time limit"):
        Control(timeout_s=1e-9).check()


def test_resampler_streams_to_the_expected_length() -> None:
    resample = Resampler(["s"], channels=2, from_sr=44100, to_sr=48000)
    x = np.random.default_rng(0).standard_normal((2, 44100)).astype(np.float32)
    parts = [resample({"s": x[:, i:i + 4410]})["s"] for i in range(0, 44100, 4410)]
    parts.append(resample({"s": np.zeros((2, 0), np.float32)}, last=True)["s"])
    assert abs(sum(p.shape[1] for p in parts) - 48000) <= 2
