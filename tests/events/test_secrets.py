"""Endpoint secrets: owner-only files outside the catalog."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from soundforge.errors import ConfigError
from soundforge.events.secrets import SecretStore


def test_secrets_are_owner_only_files(tmp_path: Path) -> None:
    store = SecretStore(tmp_path / "ws" / ".secrets" / "webhooks")
    path = store.write("wh_1", "whsec_abc")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.parent.parent.stat().st_mode) == 0o700
    assert store.read("wh_1") == "whsec_abc"
    store.delete("wh_1")
    store.delete("wh_1")  # idempotent
    with pytest.raises(ConfigError, match="secret of webhook wh_1 is missing"):
        store.read("wh_1")


def test_a_secret_readable_by_others_is_refused(tmp_path: Path) -> None:
    store = SecretStore(tmp_path / "s")
    path = store.write("wh_2", "whsec_abc")
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="readable by others") as info:
        store.read("wh_2")
    assert "whsec_abc" not in str(info.value)
