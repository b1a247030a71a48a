from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipywidgets")
pytest.importorskip("ipykernel")


@pytest.mark.slow
def test_widget_runs_in_a_real_kernel_and_leaves_the_final_html_table(tmp_path: Path, make_audio) -> None:
    files = [str(make_audio(f"song{i}.wav", seconds=0.3, freq=300 + 50 * i)) for i in range(4)]
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio")
    source = f"""
import sys
sys.path.insert(0, {str(REPO)!r})
from soundforge.progress import in_notebook
from soundforge.workspace import Workspace
assert in_notebook()
ws = Workspace({str(tmp_path / "ws")!r})
result = ws.import_audio({[*files, str(bad)]!r}, progress="auto", workers=2)
print("statuses", sorted(result["status"].tolist()))
"""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source)]
    client = nbclient.NotebookClient(nb, timeout=120, kernel_name="python3", store_widget_state=True,
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    saved = tmp_path / "executed.ipynb"
    nbformat.write(nb, saved)

    outputs = nbformat.read(saved, as_version=4).cells[0].outputs
    assert not [o for o in outputs if o.output_type == "error"], outputs
    html = [o for o in outputs if o.output_type == "display_data" and "text/html" in o.data]
    assert len(html) == 1, outputs  # the widget's output slot, replaced by the final table
    table = html[0].data["text/html"]
    assert "soundforge-result" in table
    assert "<b>import</b> 5/5 · 4 done · 0 skipped · 1 failed" in table
    assert table.count(">done<") == 4
    assert "not a readable audio file" in table
    assert "&lt;NA&gt;" not in table
    assert "application/vnd.jupyter.widget-view+json" not in html[0].data
    assert html[0].data["text/plain"].startswith("import: 5/5 · 4 done · 0 skipped · 1 failed\n")
    assert any(o.output_type == "stream" and "statuses ['done', 'done', 'done', 'done', 'failed']" in o.text
               for o in outputs)

    # the widget really ran: its models were created and reached the final state
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    bars = [m["state"] for m in state.values() if m["model_name"] == "FloatProgressModel"]
    assert len(bars) == 1
    assert bars[0]["value"] == bars[0]["max"] == 5
    assert bars[0]["bar_style"] == "danger"  # one file failed
    headers = [m["state"]["value"] for m in state.values() if m["model_name"] == "HTMLModel"]
    assert any("5/5 · 4 done" in h for h in headers)
    assert json.dumps(state)  # serialisable, as saved in the .ipynb
