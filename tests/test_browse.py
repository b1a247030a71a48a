"""ws.browse(): the library table, filtering and sorting, and players that point at the files."""

from __future__ import annotations

from pathlib import Path

import pytest

from soundforge.browse import COLUMNS, _detail_html, library_table
from soundforge.workspace import Workspace


def test_browser_filters_sorts_and_points_players_at_files(tmp_path: Path, make_audio,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    ws = Workspace("lab-ws")
    ws.import_audio([make_audio("Alpha.flac"), make_audio("Beta.wav")], progress=None)
    table = library_table(ws)
    assert list(table.columns) == list(COLUMNS)
    assert sorted(table["title"]) == ["Alpha", "Beta"]
    assert set(table["audio"]) == {"yes"}
    assert set(table["analysis"]) == {"no"}

    box = ws.browse()
    assert "2 track(s)" in box.table.value
    box.filter.value = "beta"
    assert "1 track(s)" in box.table.value
    assert "Alpha" not in box.table.value
    assert [label for label, _ in box.track.options] == [f"Beta ({box.track.value})"]
    box.filter.value = ""
    box.descending.value = True
    assert box.table.value.index("Beta") < box.table.value.index("Alpha")
    page = _detail_html(ws, box.track.value)  # what the detail area displays (an Output widget, in a kernel)
    assert 'src="lab-ws/downloads/' in page  # relative to the notebook's folder: served by Jupyter, not embedded
    assert "base64" not in page
