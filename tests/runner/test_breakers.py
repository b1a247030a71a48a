"""Circuit breakers remember their state in the catalog, across calls and processes."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from soundforge.catalog import Catalog
from soundforge.errors import CircuitOpen, SpotifyUnavailable
from soundforge.runner import StageSpec, run_stage
from soundforge.runner.breakers import remembered_board
from tests import runner_work as work


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    return Catalog(tmp_path / "catalog.sqlite")


def _spec() -> StageSpec:
    return StageSpec(name="svc-stage", work=work.use_breaker, executor="thread", workers=1,
                     columns={"value": "Int64"}, key="item")


def test_an_open_breaker_stays_open_for_the_next_call(catalog: Catalog) -> None:
    first = run_stage(_spec(), [f"down-{i}" for i in range(6)], catalog=catalog, progress=None)
    assert first["error"].str.startswith("SpotifyUnavailable").sum() == 5  # 5 failures in a row open it
    assert first["error"].iloc[5].startswith("CircuitOpen")
    row = catalog.query("SELECT * FROM breakers WHERE service = 'svc'")[0]
    assert row["state"] == "open"
    assert row["failures"] == 5
    assert "service down" in row["last_error"]
    assert row["open_until"] > row["updated_at"]

    # A new call (a notebook loop) starts with the remembered state: it fails fast, the service is not called.
    again = run_stage(_spec(), ["ok"], catalog=catalog, progress=None)
    assert again["status"].item() == "failed"
    assert again["error"].item().startswith("CircuitOpen: The svc circuit breaker is open after 5 failures in a row")


def test_another_process_sees_the_open_breaker(catalog: Catalog) -> None:
    run_stage(_spec(), [f"down-{i}" for i in range(5)], catalog=catalog, progress=None)
    code = ("import sys; from soundforge.catalog import Catalog; from soundforge.runner.breakers import "
            "remembered_board; b = remembered_board(Catalog(sys.argv[1]))['svc']; print(b.state, b.failures)")
    out = subprocess.run([sys.executable, "-c", code, str(catalog.path)], capture_output=True, text=True,
                         timeout=60, check=True)
    assert out.stdout.split() == ["open", "5"]


def test_recovery_lets_one_probe_through_and_a_success_closes_it(catalog: Catalog) -> None:
    board = remembered_board(catalog, recovery_s=0.3)
    for _ in range(5):
        board["svc"].failure(SpotifyUnavailable("down"))
    later = remembered_board(catalog, recovery_s=0.3)
    with pytest.raises(CircuitOpen, match="svc circuit breaker is open"):
        later["svc"].allow()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and later["svc"].state != "half_open":
        time.sleep(0.05)
    later["svc"].allow()  # the probe
    later["svc"].success()
    row = catalog.query("SELECT state, failures, open_until FROM breakers WHERE service = 'svc'")[0]
    assert (row["state"], row["failures"], row["open_until"]) == ("closed", 0, None)
    assert remembered_board(catalog)["svc"].state == "closed"


def test_failures_that_do_not_count_change_nothing(catalog: Catalog) -> None:
    board = remembered_board(catalog)
    board["svc"].failure(ValueError("a 404 is not the service's fault"))
    assert catalog.query("SELECT * FROM breakers") == []


