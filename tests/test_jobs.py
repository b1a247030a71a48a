from __future__ import annotations

import os
import re
from pathlib import Path

from soundforge.catalog import Catalog
from soundforge.runner.jobs import JobStore, new_run_id, params_hash
from soundforge.storage import validate_id


def test_params_hash_is_stable_and_order_insensitive() -> None:
    a = params_hash({"sr": 22050, "hop": 512}, version="1")
    assert a == params_hash({"hop": 512, "sr": 22050}, version="1")
    assert re.fullmatch(r"[0-9a-f]{16}", a)
    assert a != params_hash({"sr": 44100, "hop": 512}, version="1")
    assert a != params_hash({"sr": 22050, "hop": 512}, version="2")


def test_run_ids_are_safe_unique_and_name_the_process() -> None:
    ids = {new_run_id("analyze") for _ in range(50)}
    assert len(ids) == 50
    run_id = ids.pop()
    assert validate_id(run_id, kind="run id") == run_id
    assert run_id.startswith("analyze-")
    assert run_id.split("-")[-2] == str(os.getpid())


def test_attempt_rows_and_done_index(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "c.sqlite")
    with JobStore(catalog, stage="s", params_hash="p", run_id=new_run_id("s")) as store:
        a = store.start("t1", input_hash="h1", attempt=1)
        store.finish(a, status="failed", duration_s=0.5, error="X: boom", error_type="X")
        b = store.start("t1", input_hash="h1", attempt=2)
        store.finish(b, status="done", duration_s=0.25)
        store.add_failed("t2", input_hash=None, attempt=1, error="CircuitOpen: open", error_type="CircuitOpen")
        assert store.done_inputs() == {"t1": {"h1"}}
    rows = catalog.table("jobs")
    assert rows["status"].tolist() == ["failed", "done", "failed"]
    assert rows["attempts"].tolist() == [1, 2, 1]
    assert rows["duration_s"].tolist() == [0.5, 0.25, 0.0]
    assert rows["finished_at"].notna().all()
