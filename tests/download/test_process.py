"""run_process: live lines, exit status, time limit and cancellation that kill the whole process group."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from soundforge.download.process import ProcessOutcome, run_process

from .conftest import gone

PY = sys.executable


def run(code: str, tmp_path: Path, *, timeout_s: float = 30.0, **kwargs: Any) -> tuple[ProcessOutcome, list[str]]:
    lines: list[str] = []
    outcome = run_process([PY, "-c", code], cwd=tmp_path, env=dict(os.environ), on_line=lines.append,
                          timeout_s=timeout_s, **kwargs)
    return outcome, lines


def test_lines_in_order_from_stdout_and_stderr_and_the_exit_status(tmp_path: Path) -> None:
    outcome, lines = run("import sys\nprint('one')\nsys.stdout.flush()\nprint('two', file=sys.stderr)\n"
                         "sys.stderr.flush()\nsys.stdout.write('no newline at the end')\nsys.exit(3)", tmp_path)
    assert lines == ["one", "two", "no newline at the end"]
    assert (outcome.returncode, outcome.timed_out, outcome.cancelled) == (3, False, False)


def test_an_endless_line_is_cut_not_buffered_forever(tmp_path: Path) -> None:
    _, lines = run("import sys\nsys.stdout.write('x' * 200000)", tmp_path)
    assert "".join(lines) == "x" * 200000
    assert max(map(len, lines)) <= 65536


def test_timeout_kills_the_group_including_grandchildren(tmp_path: Path) -> None:
    pid_file = tmp_path / "pids"
    code = ("import os, signal, subprocess, sys, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
            f"open({str(pid_file)!r}, 'w').write(f'{{os.getpid()}} {{child.pid}}')\nprint('started', flush=True)\n"
            "time.sleep(600)")
    started = time.monotonic()
    outcome, lines = run(code, tmp_path, timeout_s=1.0, kill_grace_s=0.2)
    assert time.monotonic() - started < 10
    assert lines == ["started"]
    assert outcome.timed_out
    assert outcome.returncode == -9  # SIGTERM was ignored: SIGKILL did it
    for pid in map(int, pid_file.read_text().split()):
        assert gone(pid)


def test_leftover_children_die_when_the_program_exits(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    code = ("import subprocess, sys\n"
            "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'],"
            " stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
            f"open({str(pid_file)!r}, 'w').write(str(child.pid))")
    outcome, _ = run(code, tmp_path)
    assert outcome.returncode == 0
    assert gone(int(pid_file.read_text()))


def test_should_stop_and_on_process(tmp_path: Path) -> None:
    handed: list[subprocess.Popen[bytes]] = []
    stop_at = time.monotonic() + 0.5
    outcome, _ = run("import time\ntime.sleep(600)", tmp_path, should_stop=lambda: time.monotonic() > stop_at,
                     on_process=handed.append, kill_grace_s=0.5)
    assert outcome.cancelled
    assert not outcome.timed_out
    assert os.getpgid(os.getpid()) != handed[0].pid  # its own group


def test_a_missing_program_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        run_process([str(tmp_path / "nope")], cwd=tmp_path, env={}, timeout_s=5, on_line=print)
