"""The library browser: ``ws.browse()`` shows a workspace's catalog as an interactive table in a notebook.

A text box filters the rows (any column, case-insensitive), a menu and a toggle sort them by any
column, and a track menu shows the selected track's players (the mix and each stem of each model)
with links to its files, its analysis and its report notebook. Players and links point at the
files themselves through Jupyter's file serving (relative URLs that JupyterLab resolves to
``/files/...``), so nothing is embedded: the workspace must lie under the folder the Jupyter server
serves (e.g. ``sf.Workspace("music-lab")`` next to the notebook). A button draws
:func:`soundforge.plot.track` for the selected track on demand.

Only this module and :mod:`soundforge.progress.widget` import ipywidgets.
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any

__all__ = ["COLUMNS", "browse", "library_table"]

COLUMNS = ("track_id", "title", "artists", "duration_s", "tempo_bpm", "key", "loudness_lufs", "audio", "analysis",
           "stems")
"""Columns of the browser's table (and of :func:`library_table`)."""


def library_table(ws: Any) -> Any:
    """One row per track: title, artists, duration, tempo, key, loudness and the status of each stage.

    Columns :data:`COLUMNS`; ``audio`` and ``analysis`` are ``"yes"``/``"no"``, ``stems`` lists the
    models that separated the track (``""``: none).
    """
    import pandas as pd

    tracks = ws.tracks()
    audio = ws.audio()
    feats = ws.features()
    stems = ws.catalog.table("stems")
    df = pd.DataFrame({"track_id": tracks["track_id"], "title": tracks["name"],
                       "artists": tracks["artists"].map(lambda a: ", ".join(a) if isinstance(a, list | tuple)
                                                        else ("" if a is None else str(a)))})
    df["duration_s"] = df["track_id"].map(dict(zip(audio["track_id"], audio["duration_s"], strict=True)))
    by_feat = feats.set_index("track_id") if len(feats) else None
    for col in ("tempo_bpm", "loudness_lufs"):
        df[col] = df["track_id"].map(by_feat[col].to_dict()) if by_feat is not None else float("nan")
    keys = ({t: f"{r['key_tonic']} {r['key_mode']}" for t, r in by_feat.iterrows() if isinstance(r["key_tonic"], str)}
            if by_feat is not None else {})
    df["key"] = [keys.get(t, "") for t in df["track_id"]]
    df["audio"] = df["track_id"].isin(set(audio["track_id"])).map({True: "yes", False: "no"})
    df["analysis"] = df["track_id"].isin(set(feats["track_id"])).map({True: "yes", False: "no"})
    models: dict[str, str] = {}
    for tid, model in zip(stems["track_id"], stems["model"], strict=True):
        models[tid] = ", ".join(sorted({*filter(None, models.get(tid, "").split(", ")), str(model)}))
    df["stems"] = [models.get(t, "") for t in df["track_id"]]
    return df[list(COLUMNS)].reset_index(drop=True)


def _url(path: str | os.PathLike[str]) -> str:
    """A URL relative to the kernel's working folder (the notebook's): JupyterLab turns it into ``/files/...``."""
    from urllib.parse import quote

    return quote(os.path.relpath(Path(path), Path.cwd()).replace(os.sep, "/"))


def _table_html(df: Any) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in df.columns)
    rows = []
    for rec in df.itertuples(index=False):
        cells = []
        for value in rec:
            if isinstance(value, float):
                text = "" if value != value else f"{value:.1f}"
            else:
                text = "" if value is None else str(value)
            cells.append(f"<td>{html.escape(text)}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return (f'<table class="soundforge-library dataframe"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table><p class='soundforge-count'>{len(df)} track(s)</p>")


def _detail_html(ws: Any, track_id: str) -> str:
    """Players and links of one track, every source a relative URL to the file itself."""
    parts = [f"<h4>{html.escape(track_id)}</h4>"]
    audio = ws.audio()
    row = audio[audio["track_id"] == track_id]
    if len(row):
        mix = row["path"].iloc[0]
        parts.append(f'<p>mix <audio controls preload="none" class="soundforge-player" data-stem="mix" '
                     f'src="{_url(mix)}"></audio> <a href="{_url(mix)}" target="_blank">file</a></p>')
    for rec in ws.stems(track_id).itertuples():
        parts.append(f'<p>{html.escape(rec.model)} · {html.escape(rec.stem)} <audio controls preload="none" '
                     f'class="soundforge-player" data-stem="{html.escape(rec.stem)}" src="{_url(rec.path)}">'
                     f'</audio> <a href="{_url(rec.path)}" target="_blank">file</a></p>')
    links = []
    analyses = ws.catalog.query("SELECT json_path FROM analyses WHERE track_id = ? ORDER BY created_at DESC LIMIT 1",
                                (track_id,))
    if analyses:
        links.append(f'<a href="{_url(ws.storage.resolve(analyses[0]["json_path"]))}" target="_blank">analysis</a>')
    reports = sorted((ws.root / "runs").glob(f"*/{track_id}*.ipynb"), key=lambda p: p.stat().st_mtime)
    if reports:
        links.append(f'<a href="{_url(reports[-1])}" target="_blank">report notebook</a>')
    if links:
        parts.append(f"<p>{' · '.join(links)}</p>")
    return "".join(parts)


def browse(ws: Any) -> Any:
    """The library browser widget of a workspace (see the module docstring).

    Parameters
    ----------
    ws : Workspace
        The workspace to browse.

    Returns
    -------
    ipywidgets.VBox
        Displayed when it is the cell's last expression. Its children: the filter text box
        (``.filter``), the sort menu (``.sort``) and order toggle (``.descending``), the table
        (``.table``), the track menu (``.track``), the detail area (``.detail``), the plot button
        (``.plot``).
    """
    import ipywidgets as widgets
    from IPython.display import HTML, display

    from . import plot

    data = library_table(ws)
    filter_box = widgets.Text(placeholder="filter: any text in any column", description="Filter")
    sort = widgets.Dropdown(options=list(COLUMNS), value="title", description="Sort by")
    descending = widgets.ToggleButton(value=False, description="descending")
    table = widgets.HTML()
    track = widgets.Dropdown(description="Track")
    detail = widgets.Output()
    plot_button = widgets.Button(description="Plot this track")
    figure = widgets.Output()

    def shown() -> Any:
        df = data
        text = filter_box.value.strip().lower()
        if text:
            mask = df.astype(str).apply(lambda col: col.str.lower().str.contains(text, regex=False)).any(axis=1)
            df = df[mask]
        return df.sort_values(sort.value, ascending=not descending.value, na_position="last", kind="stable")

    def show_detail(*_: Any) -> None:
        detail.clear_output()
        figure.clear_output()
        if track.value:
            with detail:
                display(HTML(_detail_html(ws, track.value)))

    def refresh(*_: Any) -> None:
        df = shown()
        table.value = _table_html(df)
        options = [(f"{t or tid} ({tid})", tid) for tid, t in zip(df["track_id"], df["title"], strict=True)]
        current = track.value
        track.options = options
        track.value = current if current in dict(options).values() else (options[0][1] if options else None)

    def draw(*_: Any) -> None:
        figure.clear_output()
        if track.value:
            with figure:
                display(plot.track(ws, track.value))

    for control in (filter_box, sort, descending):
        control.observe(refresh, names="value")
    track.observe(show_detail, names="value")
    plot_button.on_click(draw)
    refresh()
    show_detail()
    box = widgets.VBox([widgets.HBox([filter_box, sort, descending]), table, widgets.HBox([track, plot_button]),
                        detail, figure])
    box.add_class("soundforge-browse")
    for name, child in (("filter", filter_box), ("sort", sort), ("descending", descending), ("table", table),
                        ("track", track), ("detail", detail), ("plot", plot_button)):
        setattr(box, name, child)
    return box
