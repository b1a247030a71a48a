"""nbval runs every notebook in this folder as part of ``pytest`` (see pyproject.toml's addopts).

Each notebook gets a fresh, empty workspace (``$SOUNDFORGE_HOME`` in a temporary folder,
removed at exit) and offline mode, so every notebook proves it runs top to bottom on the
demo data alone, with no network, no credentials and nothing left behind.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

_HOMES: dict[str, str] = {}


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before a notebook's first cell starts its kernel, point the environment at a fresh workspace."""
    notebook = str(item.path)
    if Path(notebook).suffix != ".ipynb" or notebook in _HOMES:
        return
    home = tempfile.mkdtemp(prefix=f"soundforge-nbval-{Path(notebook).stem}-")
    atexit.register(shutil.rmtree, home, True)
    _HOMES[notebook] = home
    os.environ["SOUNDFORGE_HOME"] = home
    os.environ["SOUNDFORGE_OFFLINE"] = "1"
