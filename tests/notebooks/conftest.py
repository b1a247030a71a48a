"""Browser tests: list the artifacts they saved (screenshots) at the end of the pytest run."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from .lab import ARTIFACTS

_STARTED = time.time()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print where this run's test artifacts are (CI logs show the paths)."""
    if not ARTIFACTS.is_dir():
        return
    fresh = sorted(p for p in ARTIFACTS.rglob("*") if p.is_file() and p.stat().st_mtime >= _STARTED)
    if fresh:
        terminalreporter.section("test artifacts")
        for path in fresh:
            terminalreporter.write_line(str(path))
