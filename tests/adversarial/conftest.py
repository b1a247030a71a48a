"""Adversarial suite: bad inputs at every entry point, each checked for a clear refusal and a sound catalog.

Every test records the inputs it tries with ``tried(kind, n)``; the session prints the totals
(``adversarial: N bad inputs in K classes``), the figures quoted in docs/reliability.md.
"""

from __future__ import annotations

import re
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from soundforge import Workspace, audio
from soundforge.errors import SoundforgeError

TRIED: Counter[str] = Counter()
"""Bad inputs tried in this session, per class (``"arguments"``, ``"audio headers"``...)."""


def tried(kind: str, n: int = 1) -> None:
    """Count ``n`` bad inputs of class ``kind``."""
    TRIED[kind] += n


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if TRIED:
        terminalreporter.write_line(f"adversarial: {sum(TRIED.values())} bad inputs in {len(TRIED)} classes: "
                                    + ", ".join(f"{k} {v}" for k, v in sorted(TRIED.items())))


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    """A fresh workspace, checked for consistency after the test."""
    workspace = Workspace(tmp_path / "ws")
    yield workspace
    assert_consistent(workspace)


def refused(call: Callable[[], Any], *, names: str, kind: str,
            error: type[BaseException] = SoundforgeError) -> SoundforgeError:
    """Run ``call``; it must raise ``error`` (a SoundforgeError) whose message contains ``names``."""
    tried(kind)
    with pytest.raises(error) as info:
        call()
    assert isinstance(info.value, SoundforgeError), repr(info.value)
    assert names in str(info.value), f"{names!r} not in {str(info.value)!r}"
    return info.value


def failed_row(df: Any, *, key: str, value: str, names: str, kind: str) -> str:
    """The row of ``df`` whose ``key`` is ``value`` must be ``failed`` with an error naming ``names``."""
    tried(kind)
    rows = df[df[key] == value]
    assert len(rows) >= 1, f"no row for {value!r}"
    for status, error in zip(rows["status"], rows["error"], strict=True):
        assert status == "failed", f"{value!r}: {status} ({error})"
        assert names in str(error), f"{names!r} not in {error!r}"
    return str(rows["error"].iloc[0])


def assert_consistent(ws: Workspace) -> None:
    """The catalog passes SQLite's integrity and foreign-key checks, and no row points to a missing or
    partial file: every ``audio`` file exists with its recorded size and decodes completely; every stem
    and analysis file exists; no ``done`` separate/analyze job is left without its output row (an import
    job of a file whose bytes were already there is ``done`` pointing at the earlier row)."""
    conn = sqlite3.connect(ws.storage.catalog_path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        for path, size in conn.execute("SELECT path, size_bytes FROM audio"):
            file = ws.storage.resolve(path)
            assert file.is_file(), f"audio row points to a missing {file}"
            assert file.stat().st_size == size, f"audio row points to a partial {file}"
            audio.scan(file, max_duration_s=None)
        for (path,) in conn.execute("SELECT path FROM stems"):
            assert ws.storage.resolve(path).is_file(), f"stem row points to a missing {path}"
        for (path,) in conn.execute("SELECT json_path FROM analyses WHERE json_path IS NOT NULL"):
            assert ws.storage.resolve(path).is_file(), f"analysis row points to a missing {path}"
        outputs = {"separate": "SELECT 1 FROM stems WHERE track_id = ?",
                   "analyze": "SELECT 1 FROM analyses WHERE track_id = ?"}
        for stage, item in conn.execute("SELECT stage, item FROM jobs WHERE status = 'done'"):
            if stage in outputs:
                assert conn.execute(outputs[stage], (item,)).fetchone(), f"done {stage} job {item!r} has no row"
    finally:
        conn.close()
    leftovers = [p for p in ws.root.rglob("*.part") if "tmp" not in p.relative_to(ws.root).parts]
    assert not leftovers, f"partial files outside tmp/: {leftovers}"


def words(text: str) -> str:
    """``text`` with its regular-expression characters escaped (for ``pytest.raises(match=...)``)."""
    return re.escape(text)
