"""Circuit breakers that remember: their state lives in the catalog's ``breakers`` table.

Every stage run loads the state of each service's breaker (closed, or open until a time, with its
count of failures in a row) and writes it back whenever it changes, so a service that is down stays
"open" across calls, notebook loops and processes sharing the workspace: the next ``ws.fetch`` fails
fast with :class:`~soundforge.errors.CircuitOpen` until the recovery time, then lets one probe through.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime

from ..catalog import Catalog, utcnow
from ..errors import CatalogError
from .resilience import BreakerBoard, CircuitBreaker

__all__ = ["load_board", "remembered_board"]

logger = logging.getLogger("soundforge.runner")


def _save(catalog: Catalog, breaker: CircuitBreaker) -> None:
    wait = breaker.retry_in()
    state = "closed" if breaker.state == "closed" else "open"
    open_until = utcnow(after_s=wait) if state == "open" else None
    try:
        with catalog.transaction() as conn:
            conn.execute(
                "INSERT INTO breakers (service, state, failures, open_until, last_error, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (service) DO UPDATE SET state = excluded.state, "
                "failures = excluded.failures, open_until = excluded.open_until, last_error = excluded.last_error, "
                "updated_at = excluded.updated_at",
                (breaker.service, state, breaker.failures, open_until, breaker._last_error, utcnow()))
    except CatalogError as exc:  # the breaker still protects this run; only the memory is lost
        logger.warning("could not keep the %s breaker's state in the catalog: %s", breaker.service, exc)


def load_board(catalog: Catalog, board: BreakerBoard) -> BreakerBoard:
    """Seed ``board`` with the remembered state of every service; returns it."""
    now = datetime.fromisoformat(utcnow())
    with contextlib.suppress(CatalogError):
        for row in catalog.query("SELECT service, state, failures, open_until, last_error FROM breakers"):
            open_for = None
            if row["state"] == "open" and row["open_until"]:
                open_for = (datetime.fromisoformat(row["open_until"]) - now).total_seconds()
            if row["failures"] or open_for is not None:
                board.seed(row["service"], failures=row["failures"], open_for_s=open_for,
                           last_error=row["last_error"])
    return board


def remembered_board(catalog: Catalog, **options: object) -> BreakerBoard:
    """A :class:`BreakerBoard` loaded from the catalog that writes every change back."""
    board = BreakerBoard(on_change=lambda breaker: _save(catalog, breaker), **options)  # type: ignore[arg-type]
    return load_board(catalog, board)
