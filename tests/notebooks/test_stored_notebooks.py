"""The notebooks as stored in the repository: clean (no outputs), runnable kernel, documented parameters."""

from __future__ import annotations

from pathlib import Path

import nbformat
import papermill
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
ALL = sorted(NOTEBOOKS.rglob("*.ipynb"))
TEMPLATE = NOTEBOOKS / "templates" / "track_report.ipynb"


def test_the_notebooks_exist() -> None:
    names = {p.relative_to(NOTEBOOKS).as_posix() for p in ALL}
    assert {"01_quickstart.ipynb", "02_features.ipynb", "03_stems.ipynb", "04_batch.ipynb",
            "templates/track_report.ipynb"} <= names


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.relative_to(NOTEBOOKS).as_posix())
def test_stored_without_outputs(path: Path) -> None:
    nb = nbformat.read(str(path), as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    for n, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"cell {n} of {path.name} is stored with outputs"
            assert cell.execution_count is None, f"cell {n} of {path.name} is stored with an execution count"
    assert "widgets" not in nb.metadata, f"{path.name} is stored with widget state"


def test_template_parameters_are_typed_and_documented() -> None:
    params = papermill.inspect_notebook(str(TEMPLATE))
    assert {"workspace", "tracks"} <= set(params)  # what soundforge.batch fills in
    for name, p in params.items():
        assert p["inferred_type_name"] not in ("None", ""), f"parameter {name} has no type annotation"
        assert p["help"].strip(), f"parameter {name} has no comment (papermill --help-notebook shows it)"
    nb = nbformat.read(str(TEMPLATE), as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
