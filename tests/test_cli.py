from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from soundforge.cli import build_parser, main

REPO = Path(__file__).resolve().parents[1]


def test_every_command_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name in sub.choices:  # type: ignore[union-attr]
        with pytest.raises(SystemExit) as info:
            main([name, "--help"])
        assert info.value.code == 0
        assert "usage: soundforge" in capsys.readouterr().out


def test_import_then_status(tmp_path: Path, make_audio, bad_files, capsys: pytest.CaptureFixture[str]) -> None:
    good = make_audio("good.flac")
    code = main(["--root", str(tmp_path / "ws"), "import", str(good), str(bad_files["text"])])
    out = capsys.readouterr().out
    assert code == 1  # one file failed
    assert "1 imported or already present, 1 failed" in out
    assert "not a readable audio file" in out
    assert main(["--root", str(tmp_path / "ws"), "status"]) == 0
    out = capsys.readouterr().out
    assert "good" in out
    assert "downloads" in out


def test_errors_are_one_line_and_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["--root", str(blocker / "ws"), "status"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: Cannot create the workspace")


def test_python_dash_m_and_demo(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "soundforge", "--root", str(tmp_path / "demo"), "demo"],
                          capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("demo_00") >= 3
    assert (tmp_path / "demo" / "catalog.sqlite").exists()
