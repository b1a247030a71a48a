"""Fixtures of the webhook tests: a real receiver on 127.0.0.1, workspaces with fast delivery settings."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from soundforge.catalog import Catalog
from soundforge.events import outbox
from soundforge.workspace import Workspace

from .receiver import Receiver

FAST: dict[str, Any] = {"webhook_timeout_s": 2.0, "webhook_backoff_s": 0.05, "webhook_drain_s": 5.0}
"""Workspace settings for tests: short attempt limit, backoff and drain."""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver(hang_limit_s=20.0) as rx:
        yield rx


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path / "ws", **FAST)


def emit(catalog: Catalog, n: int = 1, *, type: str = "track.downloaded") -> list[str]:
    """Write ``n`` events in one transaction, as a stage's record hook does; returns their ids."""
    with catalog.transaction() as conn:
        return outbox.emit_many(conn, type, [{"track_id": f"t{i}", "path": f"downloads/t{i}.wav"} for i in range(n)])


@pytest.fixture
def emitter() -> Callable[..., list[str]]:
    return emit
