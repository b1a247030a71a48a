"""The first hour of a newcomer, scripted: a fresh copy of the clone, real subprocesses, no network.

README's demo command (after a first ``make`` with a too-old Python), then the commands a researcher
types next: ``status`` (with and without ``--root``), ``separate`` with its defaults, a mistyped
command and model, ``analyze`` of an unknown id, and the demo again. Each output is checked for the
right advice.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

REPO = Path(__file__).resolve().parents[1]
VENV = Path(sys.prefix)

# Answers make's Python checks as a Python 3.10 would (scripts/check-python.sh).
FAKE_PY310 = """#!/bin/sh
case "$2" in
  *"version_info >="*) exit 1 ;;
  *) echo "3.10 /opt/python3.10" ;;
esac
"""


def _fresh_copy(target: Path) -> Path:
    """What a clone holds: tracked files and new, not ignored ones (modification times kept)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, check=True, timeout=60).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def _run(args: list[str], *, cwd: Path, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def newcomer(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A fresh copy of the project and the environment of someone who never used SoundForge (own HOME,
    empty model caches, offline)."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    clone = _fresh_copy(tmp_path / "clone")
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOUNDFORGE_", "MAKE", "MFLAGS"))}
    env.update(HOME=str(home), SOUNDFORGE_OFFLINE="1", HF_HUB_CACHE=str(home / "hf"),
               TORCH_HOME=str(home / "torch"), PYTHONPATH="")
    return clone, env


def test_wrong_python_creates_nothing_and_a_foreign_venv_is_rebuilt(newcomer: tuple[Path, dict[str, str]],
                                                                    tmp_path: Path) -> None:
    clone, env = newcomer
    fake = tmp_path / "python3.10"
    fake.write_text(FAKE_PY310)
    fake.chmod(0o755)
    proc = _run(["make", "demo", f"PYTHON={fake}"], cwd=clone, env=env)
    assert proc.returncode != 0
    assert "is Python 3.10; SoundForge needs Python >= 3.11. Run: make PYTHON=python3.11" in proc.stderr
    assert not (clone / ".venv").exists()
    # A .venv left by another Python is removed before make uses it.
    (clone / ".venv" / "bin").mkdir(parents=True)
    (clone / ".venv" / "bin" / "python").symlink_to(fake)
    proc = _run(["make", "python-check", f"PYTHON={sys.executable}"], cwd=clone, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "was made by another Python (3.10 /opt/python3.10)" in proc.stderr
    assert "rebuilding it" in proc.stderr
    assert not (clone / ".venv").exists()


def test_first_hour(newcomer: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    clone, env = newcomer
    stamp = VENV / ".installed"
    if not stamp.is_file() or any(stamp.stat().st_mtime < (clone / f).stat().st_mtime
                                  for f in ("pyproject.toml", "constraints.txt")):
        pytest.skip(f"{VENV} was not set up by make (no fresh .installed stamp): run `make setup` first")
    fake = tmp_path / "python3.10"
    fake.write_text(FAKE_PY310)
    fake.chmod(0o755)
    assert _run(["make", "demo", f"PYTHON={fake}"], cwd=clone, env=env).returncode != 0

    # README: `make demo` (here with the project's environment already built: VENV points at it).
    demo = _run(["make", "demo", f"VENV={VENV}", f"PYTHON={sys.executable}"], cwd=clone, env=env, timeout=900)
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    out = demo.stdout
    assert "soundforge --root soundforge-demo status" in out
    assert "sf.Workspace(" in out
    assert "01_quickstart.ipynb" in out
    notebooks = Path(out.split("executed notebooks: ")[1].split()[0])
    assert len(list(notebooks.glob("*.ipynb"))) == 3
    assert "separate: " in demo.stderr  # progress as log lines, since the output is not a terminal

    sf = [str(VENV / "bin" / "python"), "-m", "soundforge"]
    status = _run([*sf, "status"], cwd=clone, env=env)
    assert status.returncode == 1
    assert "No workspace at" in status.stderr
    assert "add --root soundforge-demo" in status.stderr
    assert not (tmp_path / "home" / "soundforge").exists()

    status = _run([*sf, "--root", "soundforge-demo", "status"], cwd=clone, env=env)
    assert status.returncode == 0, status.stderr
    assert "title" in status.stdout
    assert status.stdout.count("demo_00") >= 3

    separate = _run([*sf, "--root", "soundforge-demo", "separate"], cwd=clone, env=env, timeout=600)
    assert separate.returncode == 0, separate.stderr
    assert "model 'auto' chose 'dsp': no demucs weights are on this machine" in separate.stdout
    assert "with --model dsp" in separate.stdout

    typo = _run([*sf, "--root", "soundforge-demo", "separat"], cwd=clone, env=env)
    assert typo.returncode == 2
    assert "did you mean 'separate'?" in typo.stderr

    bogus = _run([*sf, "--root", "soundforge-demo", "separate", "--model", "bogus"], cwd=clone, env=env)
    assert bogus.returncode == 1
    assert "Unknown separation model 'bogus'; known models: auto, dsp, hdemucs_mmi, htdemucs" in bogus.stderr

    weights = _run([*sf, "--root", "soundforge-demo", "separate", "--model", "htdemucs"], cwd=clone, env=env)
    assert weights.returncode == 1
    assert "--allow-download" in weights.stderr
    assert "--model dsp needs no weights" in weights.stderr
    assert "model=" not in weights.stderr

    unknown = _run([*sf, "--root", "soundforge-demo", "analyze", "local-deadbeef"], cwd=clone, env=env)
    assert unknown.returncode == 1
    assert "Unknown track id(s) in the workspace" in unknown.stderr
    assert "soundforge status lists the track ids" in unknown.stderr

    # A rerun skips everything and points to the notebooks of the first run, not to its own empty folder.
    again = _run([*sf, "demo"], cwd=clone, env=env, timeout=600)
    assert again.returncode == 0, again.stderr
    assert Path(again.stdout.split("executed notebooks: ")[1].split()[0]) == notebooks
