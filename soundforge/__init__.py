"""SoundForge: a Jupyter-first research workbench for music.

>>> import soundforge as sf
>>> ws = sf.Workspace("~/music-lab")        # doctest: +SKIP

Submodules and the public names below are imported lazily, so ``import
soundforge`` stays fast and never pulls in torch, librosa or demucs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

_LAZY = {
    "Workspace": ("soundforge.workspace", "Workspace"),
    "Settings": ("soundforge.config", "Settings"),
    "SoundforgeError": ("soundforge.errors", "SoundforgeError"),
    "load_settings": ("soundforge.config", "load_settings"),
}
_SUBMODULES = {"audio", "batch", "catalog", "cli", "config", "errors", "plot", "storage", "workspace",
               "analysis", "separation", "spotify", "download", "runner", "progress", "events",
               "webhooks"}

__all__ = ["Settings", "SoundforgeError", "Workspace", "__version__", "load_settings", *sorted(_SUBMODULES)]

if TYPE_CHECKING:
    from .config import Settings, load_settings
    from .errors import SoundforgeError
    from .workspace import Workspace


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"soundforge.{name}")
    else:
        raise AttributeError(f"module 'soundforge' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
