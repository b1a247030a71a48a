"""The registry, model resolution and the parameter hash."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from soundforge.errors import ConfigError, InvalidIdError
from soundforge.separation import REGISTRY, Registry, Separator, resolve, result_params, stems_of
from soundforge.separation.dsp import DspSeparator


def test_models_resolve_to_backends() -> None:
    assert resolve("dsp")[0].name == "dsp"
    backend, name = resolve("htdemucs_6s")
    assert (backend.name, name) == ("demucs", "htdemucs_6s")
    assert resolve("demucs:mymodel")[1] == "mymodel"
    assert stems_of("htdemucs_6s") == ("drums", "bass", "other", "vocals", "guitar", "piano")
    assert stems_of("dsp") == ("vocals", "drums", "bass", "other")
    assert set(REGISTRY.models()) >= {"dsp", "htdemucs", "htdemucs_ft", "htdemucs_6s", "hdemucs_mmi"}


def test_resolving_does_not_import_torch() -> None:
    import subprocess

    code = ("import sys; from soundforge.separation import resolve, stems_of; resolve('htdemucs'); "
            "stems_of('hdemucs_mmi'); print('torch' in sys.modules, 'demucs.apply' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         cwd=Path(__file__).resolve().parents[2], check=True).stdout.split()
    assert out == ["False", "False"]


def test_bad_names_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="Unknown separation backend"):
        resolve("nosuch:thing")
    with pytest.raises(InvalidIdError):
        resolve("../../etc")
    with pytest.raises(ConfigError, match="non-empty"):
        resolve("")


def test_custom_backend_registration() -> None:
    registry = Registry({"dsp": DspSeparator})
    assert isinstance(registry.get("dsp"), Separator)
    registry.register("dsp2", "soundforge.separation.dsp:DspSeparator")
    assert registry.names() == ("dsp", "dsp2")
    with pytest.raises(ConfigError, match="No separation backend handles"):
        resolve("htdemucs", registry=registry)


def test_result_params_leave_out_execution_options() -> None:
    opts = resolve("htdemucs")[0].options("htdemucs", device="cpu", jobs=2, shifts=2, repo="/x")
    params = result_params("htdemucs", opts)
    assert params["model"] == "htdemucs"
    assert params["shifts"] == 2
    assert not {"device", "jobs", "repo", "offline", "allow_download"} & set(params)
