"""Registered webhook endpoints: the rows of the ``webhooks`` table.

An endpoint has an id (``wh_<12 hex>``), a URL checked by
:func:`~soundforge.events.safety.check_url`, the event types it subscribes to
(``["*"]`` for all), whether it is active, whether private destinations are
allowed, and its delivery health (consecutive failed attempts, the last status,
why it was disabled). Its secret lives in a
:class:`~soundforge.events.secrets.SecretStore`, never in the catalog.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..catalog import Catalog, utcnow
from ..errors import ConfigError
from ..storage import validate_id

__all__ = ["Endpoint", "insert_endpoint", "load_endpoints", "new_webhook_id", "require", "set_active"]


def new_webhook_id() -> str:
    """A new endpoint id: ``wh_`` + 12 random hex digits."""
    return f"wh_{secrets.token_hex(6)}"


@dataclass(frozen=True)
class Endpoint:
    """One registered endpoint (no secret).

    Attributes
    ----------
    webhook_id, url : str
    events : tuple of str
        Subscribed types (``("*",)`` for all).
    active : bool
    allow_private : bool
    failures : int
        Consecutive failed attempts.
    disabled_reason : str or None
    """

    webhook_id: str
    url: str
    events: tuple[str, ...]
    active: bool
    allow_private: bool
    failures: int = 0
    disabled_reason: str | None = None


def insert_endpoint(catalog: Catalog, *, webhook_id: str, url: str, events: Sequence[str],
                    allow_private: bool) -> Endpoint:
    """Insert an endpoint row (the secret column holds nothing: see :mod:`soundforge.events.secrets`)."""
    with catalog.transaction() as conn:
        conn.execute("INSERT INTO webhooks (webhook_id, url, secret, event_types, active, created_at, allow_private) "
                     "VALUES (?, ?, '', ?, 1, ?, ?)",
                     (webhook_id, url, json.dumps(list(events)), utcnow(), int(bool(allow_private))))
    return Endpoint(webhook_id=webhook_id, url=url, events=tuple(events), active=True,
                    allow_private=bool(allow_private))


def load_endpoints(catalog: Catalog, *, webhook_ids: Iterable[str] | None = None) -> list[Endpoint]:
    """Endpoints, in creation order (only ``webhook_ids`` when given)."""
    sql = "SELECT webhook_id, url, event_types, active, allow_private, failures, disabled_reason FROM webhooks"
    params: list[str] = []
    if webhook_ids is not None:
        params = list(webhook_ids)
        sql += f" WHERE webhook_id IN ({', '.join('?' * len(params))})"
    return [Endpoint(webhook_id=r["webhook_id"], url=r["url"], events=tuple(json.loads(r["event_types"])),
                     active=bool(r["active"]), allow_private=bool(r["allow_private"]), failures=int(r["failures"]),
                     disabled_reason=r["disabled_reason"])
            for r in catalog.query(sql + " ORDER BY created_at, webhook_id", params)]


def require(catalog: Catalog, webhook_id: str) -> Endpoint:
    """The endpoint with this id.

    Raises
    ------
    ConfigError
        No such endpoint (the message lists the ones there are).
    """
    validate_id(webhook_id, kind="webhook id")
    found = load_endpoints(catalog, webhook_ids=[webhook_id])
    if not found:
        known = [e.webhook_id for e in load_endpoints(catalog)]
        raise ConfigError(f"No webhook {webhook_id!r} in this workspace; registered: {known or 'none'} "
                          "(see the webhooks list).", webhook_id=webhook_id)
    return found[0]


def set_active(catalog: Catalog, webhook_id: str, *, active: bool) -> Endpoint:
    """Enable (failure count and reason cleared) or disable an endpoint."""
    require(catalog, webhook_id)
    with catalog.transaction() as conn:
        if active:
            conn.execute("UPDATE webhooks SET active = 1, failures = 0, disabled_reason = NULL WHERE webhook_id = ?",
                         (webhook_id,))
        else:
            conn.execute("UPDATE webhooks SET active = 0, disabled_reason = ? WHERE webhook_id = ?",
                         (f"disabled by hand on {utcnow()[:19]}Z", webhook_id))
    return require(catalog, webhook_id)
