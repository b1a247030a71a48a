"""Wrong argument types and values at every public entry point: InvalidArgument naming the argument, before any work."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import soundforge as sf
from soundforge import Workspace, batch
from soundforge.analysis import analyze
from soundforge.cli import main
from soundforge.errors import ConfigError, InvalidArgument

from .conftest import assert_consistent, refused, tried

FAST = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

NOT_TEXT = st.one_of(st.none(), st.integers(), st.floats(allow_nan=True), st.binary(min_size=1),
                     st.dictionaries(st.text(max_size=3), st.integers(), max_size=2), st.builds(object),
                     st.just(""), st.just("   "))
NOT_PATHS = st.one_of(st.none(), st.integers(), st.floats(), st.binary(min_size=1), st.builds(object),
                      st.just(""), st.just({"a": 1}), st.lists(st.integers(), min_size=1, max_size=3))
NOT_COUNTS = st.one_of(st.integers(max_value=0), st.floats(), st.text(max_size=4), st.just(True), st.just(2.5))
NOT_SECONDS = st.one_of(st.floats(max_value=0), st.just(float("nan")), st.just(float("inf")), st.text(max_size=4),
                        st.just(True), st.just([1]))


@FAST
@given(bad=NOT_TEXT.filter(lambda v: not isinstance(v, (list, tuple)) or True))
def test_fetch_refuses_non_links(ws: Workspace, bad: Any) -> None:
    refused(lambda: ws.fetch(bad), names="url_or_urls=", kind="arguments", error=InvalidArgument)


@FAST
@given(bad=NOT_PATHS)
def test_import_refuses_non_paths(ws: Workspace, bad: Any) -> None:
    refused(lambda: ws.import_audio(bad), names="paths", kind="arguments", error=InvalidArgument)


@FAST
@given(bad=NOT_COUNTS)
def test_workers_must_be_whole_numbers(ws: Workspace, bad: Any) -> None:
    refused(lambda: ws.import_audio([], workers=bad), names="workers=", kind="arguments", error=InvalidArgument)


@FAST
@given(bad=NOT_SECONDS)
def test_timeouts_must_be_positive_seconds(ws: Workspace, bad: Any) -> None:
    refused(lambda: ws.analyze([], timeout=bad), names="timeout=", kind="arguments", error=InvalidArgument)


@pytest.mark.parametrize(("call", "names"), [
    (lambda ws: ws.fetch("spotify:track:" + "a" * 22, market=5), "market=5"),
    (lambda ws: ws.fetch("spotify:track:" + "a" * 22, include_groups=[1]), "include_groups"),
    (lambda ws: ws.fetch("spotify:track:" + "a" * 22, force="yes"), "force='yes'"),
    (lambda ws: ws.fetch("spotify:track:" + "a" * 22, errors="ignore"), "errors='ignore'"),
    (lambda ws: ws.fetch("spotify:track:" + "a" * 22, progress="fancy"), "progress='fancy'"),
    (lambda ws: ws.download(5), "tracks=5"),
    (lambda ws: ws.download(["a", None]), "None"),
    (lambda ws: ws.download(format=None), "format=None"),
    (lambda ws: ws.download(bitrate=320), "bitrate=320"),
    (lambda ws: ws.analyze(3.5), "tracks=3.5"),
    (lambda ws: ws.analyze(features=[1, 2]), "features"),
    (lambda ws: ws.analyze(features=b"rhythm"), "features=b'rhythm'"),
    (lambda ws: ws.separate(model=None), "model=None"),
    (lambda ws: ws.separate(model=3), "model=3"),
    (lambda ws: ws.separate(device=0), "device=0"),
    (lambda ws: ws.separate(workers=0), "workers=0"),
    (lambda ws: ws.play(None), "track_id=None"),
    (lambda ws: ws.play(7), "track_id=7"),
    (lambda ws: ws.play("local-0", stem=1), "stem=1"),
    (lambda ws: ws.play("local-0", start_s=-1), "start_s=-1"),
    (lambda ws: ws.play("local-0", duration_s=float("nan")), "duration_s=nan"),
    (lambda ws: ws.stems(5), "track_id=5"),
    (lambda ws: ws.stems(model=["dsp"]), "model=['dsp']"),
    (lambda ws: ws.analysis(None), "track_id=None"),
    (lambda ws: ws.analysis(b"local-0"), "track_id=b'local-0'"),
    (lambda ws: ws.export(None), "path=None"),
    (lambda ws: ws.export(42), "path=42"),
    (lambda ws: ws.import_audio("x.wav", max_duration_s=-1), "max_duration_s=-1"),
    (lambda ws: ws.import_audio("x.wav", force=1), "force=1"),
    (lambda ws: ws.import_audio(["ok.wav", 3]), "3"),
    (lambda ws: ws.import_audio("a\x00b.wav"), "paths="),
])
def test_workspace_methods_name_the_bad_argument(ws: Workspace, call: Any, names: str) -> None:
    err = refused(lambda: call(ws), names=names, kind="arguments", error=InvalidArgument)
    assert isinstance(err, TypeError)
    assert isinstance(err, ConfigError)


@pytest.mark.parametrize(("root", "names"), [(5, "root=5"), (b"/tmp/x", "root=b'/tmp/x'"), ("", "root=''"),
                                              (["/tmp"], "root=['/tmp']")])
def test_workspace_root(root: Any, names: str) -> None:
    refused(lambda: Workspace(root), names=names, kind="arguments", error=InvalidArgument)


@pytest.mark.parametrize(("kwargs", "names"), [
    ({"path_or_array": None}, "path_or_array=None"),
    ({"path_or_array": 5}, "path_or_array=5"),
    ({"path_or_array": np.zeros(4000), "sr": 0}, "sr=0"),
    ({"path_or_array": np.zeros(4000), "sr": "22050"}, "sr='22050'"),
    ({"path_or_array": np.zeros(4000), "sr": 22050, "features": 3}, "features=3"),
    ({"path_or_array": np.zeros(4000), "sr": 22050, "max_duration_s": 0}, "max_duration_s=0"),
    ({"path_or_array": np.zeros(4000), "sr": 22050, "on_progress": "print"}, "on_progress='print'"),
])
def test_analyze_function(kwargs: dict[str, Any], names: str) -> None:
    refused(lambda: analyze(**kwargs), names=names, kind="arguments", error=InvalidArgument)


def test_short_audio_is_refused_with_exact_numbers() -> None:
    err = refused(lambda: analyze(np.zeros(int(0.04998 * 22050)), sr=22050), names="49.98 ms", kind="audio values")
    assert "at least 50 ms" in str(err)


@pytest.mark.parametrize(("kwargs", "names", "error"), [
    ({"notebook": None, "items": ["a"]}, "notebook=None", InvalidArgument),
    ({"notebook": 3, "items": ["a"]}, "notebook=3", InvalidArgument),
    ({"notebook": "n.ipynb", "items": None}, "items=None", sf.errors.BatchError),
    ({"notebook": "n.ipynb", "items": 5}, "items=5", sf.errors.BatchError),
    ({"notebook": "n.ipynb", "items": ["a", 3]}, "3", sf.errors.BatchError),
    ({"notebook": "n.ipynb", "items": ["a"], "parameters": ["x"]}, "parameters=['x']", InvalidArgument),
    ({"notebook": "n.ipynb", "items": ["a"], "parameters": {1: "x"}}, "key 1", InvalidArgument),
    ({"notebook": "n.ipynb", "items": ["a"], "workers": "2"}, "workers", ConfigError),
    ({"notebook": "n.ipynb", "items": ["a"], "timeout": "10"}, "timeout", ConfigError),
    ({"notebook": "n.ipynb", "items": ["a"], "errors": None}, "errors", ConfigError),
    ({"notebook": "n.ipynb", "items": ["a"], "item_parameter": ""}, "item_parameter=''", InvalidArgument),
    ({"notebook": "n.ipynb", "items": ["a"], "start_timeout": -5}, "start_timeout=-5", InvalidArgument),
    ({"notebook": "n.ipynb", "items": ["a"], "workspace": 12}, "workspace=12", InvalidArgument),
])
def test_batch_run_arguments(tmp_path: Path, kwargs: dict[str, Any], names: str, error: type[Exception]) -> None:
    kwargs.setdefault("workspace", tmp_path / "ws")
    if isinstance(kwargs["notebook"], str):
        kwargs["notebook"] = str(tmp_path / kwargs["notebook"])
    refused(lambda: batch.run(**kwargs), names=names, kind="arguments", error=error)


@pytest.mark.parametrize("argv", [
    ["import", "x.wav", "--workers", "0"], ["import", "x.wav", "--workers", "two"],
    ["analyze", "--timeout", "nan"], ["analyze", "--timeout", "-3"], ["separate", "--shifts", "0"],
    ["separate", "--segment", "inf"], ["batch", "n.ipynb", "--all", "--chunk-size", "0"],
    ["download", "--format", "wma"], ["separate", "--jobs", "-1"], ["frobnicate"],
])
def test_cli_bad_flag_values_are_one_line_exit_2(tmp_path: Path, argv: list[str],
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    tried("cli flags")
    with pytest.raises(SystemExit) as info:
        main(["--root", str(tmp_path / "ws"), *argv])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "error:" in err
    assert err.strip().splitlines()[-1].startswith("soundforge")


def test_cli_invalid_argument_from_the_library_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tried("cli flags")
    ws = Workspace(tmp_path / "ws")
    code = main(["--root", str(ws.root), "separate", "--device", " "])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1, err
    assert "--device" in err, err
    assert_consistent(ws)
