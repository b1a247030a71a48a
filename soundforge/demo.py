"""The main job on built-in demo data: what ``soundforge demo`` (and ``make demo``) runs.

It needs no network and no credentials: the demo songs in ``data/demo/`` were
rendered by us (see ``data/demo/README.md``).
"""

from __future__ import annotations

from pathlib import Path

from .errors import ConfigError

__all__ = ["DEFAULT_DEMO_ROOT", "demo_dir", "run_demo"]

DEFAULT_DEMO_ROOT = Path("soundforge-demo")


def demo_dir() -> Path:
    """Folder holding the demo songs (``data/demo`` of the source tree)."""
    path = Path(__file__).resolve().parent.parent / "data" / "demo"
    if not any(path.glob("*.flac")):
        raise ConfigError(f"The demo songs were not found in {path}. Run the demo from a clone of the "
                          "SoundForge repository (pip install -e .).")
    return path


def run_demo(*, root: str | Path | None = None) -> int:
    """Import the demo songs into a workspace and print the catalog.

    Parameters
    ----------
    root : str or pathlib.Path, optional
        Workspace folder; default ``./soundforge-demo``.

    Returns
    -------
    int
        Exit code: 0 when every step succeeded.
    """
    import pandas as pd

    from .workspace import Workspace

    ws = Workspace(root or DEFAULT_DEMO_ROOT)
    print(f"SoundForge demo - workspace {ws.root}\n")
    print("1. Import the demo songs")
    imported = ws.import_audio(sorted(demo_dir().glob("*.flac")))
    with pd.option_context("display.width", 200, "display.max_colwidth", 40):
        shown = imported[["track_id", "status", "duration_s", "sample_rate", "channels", "format", "error"]]
        print(shown.to_string(index=False))
    failed = int((imported["status"] == "failed").sum())
    print("\nCatalog: tracks joined with audio")
    table = ws.tracks()[["track_id", "name"]].merge(
        ws.audio()[["track_id", "format", "duration_s", "sample_rate", "channels", "size_bytes"]], on="track_id")
    print(table.to_string(index=False))
    return 1 if failed else 0
