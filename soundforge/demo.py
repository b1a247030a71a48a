"""The main job on built-in demo data: what ``soundforge demo`` (and ``make demo``) runs.

It needs no network and no credentials: the demo songs in ``data/demo/`` were
rendered by us (see ``data/demo/README.md``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import ConfigError

__all__ = ["DEFAULT_DEMO_ROOT", "demo_dir", "hand_over", "report_template", "run_demo"]

DEFAULT_DEMO_ROOT = Path("soundforge-demo")


def demo_dir() -> Path:
    """Folder holding the demo songs (``data/demo`` of the source tree)."""
    path = Path(__file__).resolve().parent.parent / "data" / "demo"
    if not any(path.glob("*.flac")):
        raise ConfigError(f"The demo songs were not found in {path}. Run the demo from a clone of the "
                          "SoundForge repository (pip install -e .).")
    return path


def demo_truth() -> dict[str, tuple[float, str, str]]:
    """Ground truth of the demo songs: file name -> (tempo BPM, key, time signature), from ``labels.csv``."""
    import csv

    with (demo_dir() / "labels.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    return {f"demo_{r['song_id'].split('_')[-1]}.flac": (float(r["tempo_bpm"]), f"{r['key_tonic']} {r['key_mode']}",
                                                         r["time_signature"]) for r in rows}


def report_template() -> Path:
    """The parameterised notebook ``notebooks/templates/track_report.ipynb`` of the source tree."""
    path = Path(__file__).resolve().parent.parent / "notebooks" / "templates" / "track_report.ipynb"
    if not path.is_file():
        raise ConfigError(f"The report notebook {path} was not found. Run the demo from a clone of the "
                          "SoundForge repository (pip install -e .).")
    return path


def batch_report(ws: Any, track_ids: list[str], *, step: int) -> int:
    """Last step of the demo: the track report notebook on every demo song, through ``soundforge.batch``.

    Returns the number of failed tracks.
    """
    import pandas as pd

    from . import batch

    template = report_template()
    print(f"\n{step}. Batch run: {template.relative_to(template.parents[2])} on each song "
          "(papermill, 2 workers; done songs are skipped on a rerun)")
    summary = batch.run(template, track_ids, workspace=ws, workers=2)
    with pd.option_context("display.width", 200, "display.max_colwidth", 60):
        print(summary[["item", "status", "duration_s", "error"]].to_string(index=False))
    for folder in batch.notebook_folders(summary) or ["(none)"]:
        print(f"executed notebooks: {folder}")
    print(f"summary table:      {summary.attrs['summary_path']}")
    return int((summary["status"] == "failed").sum())


def hand_over(ws: Any) -> None:
    """Last words of the demo: how to open the same workspace from the shell, Python and the quickstart."""
    import shlex

    root = ws.root
    try:
        shown = str(root.relative_to(Path.cwd()))
    except ValueError:
        shown = str(root)
    quickstart = Path(__file__).resolve().parent.parent / "notebooks" / "01_quickstart.ipynb"
    print(f"""
Open this workspace ({root}) yourself:
  shell:    soundforge --root {shlex.quote(shown)} status
            soundforge --root {shlex.quote(shown)} separate --model dsp
  Python:   import soundforge as sf; ws = sf.Workspace({str(root)!r}); ws.browse()
  notebook: SOUNDFORGE_HOME={shlex.quote(str(root))} jupyter lab {quickstart}
Your own music: soundforge --root ~/music-lab import ~/Music/album/  (then analyze, separate, status)""")


def run_demo(*, root: str | Path | None = None) -> int:
    """Import the demo songs, analyse them (tempo and key next to the truth), separate them into stems and
    run the track report notebook on each through :mod:`soundforge.batch`.

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
    print("\n2. Analyse the demo songs (tempo, key, loudness, timbre, structure)")
    analysed = ws.analyze(imported)
    failed += int((analysed["status"] == "failed").sum())
    names = dict(zip(imported["track_id"], imported["source_path"].map(lambda p: Path(str(p)).name), strict=True))
    truth = demo_truth()
    rows = []
    for r in analysed.itertuples():
        name = names.get(r.track_id, r.track_id)
        true_tempo, true_key, true_meter = truth.get(name, (float("nan"), "?", "?"))
        rows.append({"song": name, "status": r.status, "tempo_bpm": r.tempo_bpm, "true_tempo": true_tempo,
                     "key": f"{r.key_tonic} {r.key_mode}", "true_key": true_key, "metre": r.time_signature,
                     "true_metre": true_meter, "loudness_lufs": r.loudness_lufs, "error": r.error})
    with pd.option_context("display.width", 200, "display.precision", 2):
        print(pd.DataFrame(rows).sort_values("song").to_string(index=False))
    print(f"\nAll features: ws.features() ({len(ws.features().columns)} columns); plots: soundforge.plot.track(ws, "
          "track_id) and soundforge.plot.library(ws).")
    separated, next_step = _separate_step(ws, first_step=3)
    failed += separated
    failed += batch_report(ws, table["track_id"].tolist(), step=next_step)
    hand_over(ws)
    return 1 if failed else 0


def _separate_step(ws: Any, *, first_step: int) -> tuple[int, int]:
    """Separate the demo songs with ``dsp``, and with demucs when its weights are on this machine.

    Returns the number of failed stems and the number of the next step.
    """
    from .errors import ModelNotAvailable
    from .separation.demucs_weights import locate

    models = ["dsp"]
    try:
        locate("htdemucs", repo=ws.settings.demucs_repo)
        models.append("htdemucs")
    except ModelNotAvailable:
        print("\n(demucs weights not found: set SOUNDFORGE_DEMUCS_REPO to also separate with htdemucs)")
    failed = 0
    for number, model in enumerate(models, start=first_step):
        print(f"\n{number}. Separate the demo songs into stems with {model!r}")
        stems = ws.separate(ws.audio(), model=model)
        shown = stems[["track_id", "stem", "status", "seconds_taken", "path", "error"]].copy()
        shown["path"] = shown["path"].map(lambda p: str(Path(p).relative_to(ws.root)), na_action="ignore")
        print(shown.to_string(index=False))
        failed += int((stems["status"] == "failed").sum())
    return failed, first_step + len(models)
