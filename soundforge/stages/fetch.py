"""The ``fetch`` stage: Spotify links -> ``tracks`` rows and ``track_sources`` membership.

Items are parsed links (key: the canonical URL, e.g. ``https://open.spotify.com/playlist/<id>``).
Worker threads (4 by default) share one :class:`~soundforge.spotify.HttpSpotifyClient`:
one connection pool, one access token (cached per workspace under ``.cache/spotify/``),
and the run's ``spotify`` circuit breaker around every request. Each item calls
:func:`soundforge.spotify.fetch_ref`, reporting pages and tracks as it goes. The runner
then records, in the transaction that marks the item done, one upserted ``tracks`` row
per track (``created_at`` kept, everything else updated) and the link's ordered track
list in ``track_sources`` (replacing the previous list of that link).

A link fetched before with the same ``market`` and ``include_groups`` is ``skipped``
and its rows come from the catalog, so re-running a notebook cell costs no requests;
``force=True`` fetches again (playlists change).
"""

from __future__ import annotations

import functools
import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..catalog import Catalog, utcnow
from ..config import Settings
from ..events import outbox
from ..events.types import track_fetched
from ..runner.spec import ItemContext, StageSpec, WorkItem
from ..spotify import FetchProgress, FetchResult, HttpSpotifyClient, SpotifyClient, SpotifyRef, fetch_ref
from ..spotify.models import TRACK_COLUMNS
from .base import Plan, RunOptions, StageEnv

__all__ = ["FETCH", "FETCH_COLUMNS", "LINK_COLUMNS", "STAGE", "ClientHolder", "FetchJob", "FetchStage",
           "existing_fetch", "fetch_item", "fetch_items", "link_summary", "make_client", "record_fetch",
           "skipped_entries", "tracks_frame"]

LINK_COLUMNS = {"kind": "string", "n_tracks": "Int64", "n_skipped": "Int64", "pages": "Int64",
                "rows": "object", "skips": "object"}
"""Per-link result columns of the runner (``rows``/``skips``: lists of dicts, unpacked by :func:`tracks_frame`)."""

FETCH_COLUMNS: dict[str, str] = {"track_id": "string", "status": "string", "error": "string",
                                 **{k: v for k, v in TRACK_COLUMNS.items() if k != "track_id"}}
"""Columns and dtypes of :meth:`Workspace.fetch`'s DataFrame: one row per track (plus one per failed link)."""


class ClientHolder:
    """Creates the shared client on first use, so links already fetched need no credentials.

    Parameters
    ----------
    factory : callable
        ``factory() -> SpotifyClient``; called at most once (thread-safe).
    """

    def __init__(self, factory: Callable[[], SpotifyClient]) -> None:
        self._factory = factory
        self._lock = threading.Lock()
        self._client: SpotifyClient | None = None

    def __repr__(self) -> str:
        return f"ClientHolder(client={self._client!r})"

    def get(self) -> SpotifyClient:
        """The client (created now if needed; creation errors propagate, e.g. missing credentials)."""
        with self._lock:
            if self._client is None:
                self._client = self._factory()
            return self._client

    @property
    def created(self) -> SpotifyClient | None:
        """The client if it was created, else ``None``."""
        return self._client

    def __getstate__(self) -> dict[str, Any]:
        # Travels to other processes (Dask workers) as its factory only: each process builds its own
        # client (and lock) from settings; a live client never leaves the process that made it.
        return {"factory": self._factory}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["factory"])  # type: ignore[misc]


def make_client(settings: Settings, *, market: str, **options: Any) -> SpotifyClient:
    """A Spotify client for a workspace's settings (its token cache under ``<home>/.cache/spotify/``).

    Top-level, so a :class:`ClientHolder` built on it can be sent to other processes.
    """
    options.setdefault("token_cache", settings.home / ".cache" / "spotify")
    return HttpSpotifyClient(settings=settings, market=market, **options)


@dataclass(frozen=True)
class FetchJob:
    """The payload of one fetch item.

    Attributes
    ----------
    ref : SpotifyRef
        The link.
    client : ClientHolder
        The run's shared client.
    market : str or None
        Market passed to the API (``None``: the client's default).
    include_groups : tuple of str
        For artist links: the album groups to walk.
    """

    ref: SpotifyRef
    client: ClientHolder
    market: str | None = None
    include_groups: tuple[str, ...] = ("album", "single")


@dataclass(frozen=True)
class LinkResult:
    """What one link gave (the runner's result for the item)."""

    result: FetchResult
    kind: str
    rows: list[dict[str, Any]] = field(default_factory=list)

    def to_row(self) -> dict[str, Any]:
        """The stage's per-link columns (:data:`LINK_COLUMNS`)."""
        return {"kind": self.kind, "n_tracks": len(self.rows), "n_skipped": len(self.result.skipped),
                "pages": self.result.pages, "rows": self.rows,
                "skips": [s.to_row() for s in self.result.skipped]}


def fetch_item(job: FetchJob, ctx: ItemContext) -> LinkResult:
    """Work function: fetch every track of one link (runs in a worker thread)."""
    client = job.client.get()
    if isinstance(client, HttpSpotifyClient):  # every request through the run's spotify breaker
        client = client.with_breaker(ctx.breaker("spotify"))

    def on_page(p: FetchProgress) -> None:
        ctx.check()  # stop between pages when the run is cancelled or the item timed out
        seen = p.tracks + p.skipped
        percent = min(100.0, 100.0 * seen / p.total) if p.total else None
        of = f" of {p.total}" if p.total else ""
        ctx.report(percent=percent, message=f"{p.pages} page{'s' if p.pages != 1 else ''}, "
                                            f"{p.tracks} tracks{of}")

    result = fetch_ref(client, job.ref, market=job.market, on_page=on_page, include_groups=job.include_groups)
    return LinkResult(result, job.ref.kind, result.to_rows())


_TRACK_FIELDS = (*TRACK_COLUMNS, "source", "created_at", "updated_at")
_UPSERT_TRACK = (
    f"INSERT INTO tracks ({', '.join(_TRACK_FIELDS)}) VALUES ({', '.join('?' * len(_TRACK_FIELDS))}) "
    "ON CONFLICT (track_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _TRACK_FIELDS if c not in ("track_id", "created_at"))
    + " WHERE tracks.fetched_at IS NULL OR excluded.fetched_at >= tracks.fetched_at")
"""Insert a track, or update it unless the catalog already holds metadata fetched later (``created_at`` kept)."""


def record_fetch(conn: sqlite3.Connection, item: WorkItem, result: LinkResult) -> None:
    """Record hook: upsert the tracks, replace the link's ``track_sources`` list, and write one
    ``track.fetched`` event per track of the link.

    A track row is updated only by metadata fetched at the same time or later than
    what it holds, so two links finishing out of order never roll a track back.
    """
    now = utcnow()
    conn.executemany(_UPSERT_TRACK, [_track_values({**row, "source": "spotify", "created_at": now,
                                                    "updated_at": now}) for row in result.rows])
    conn.execute("DELETE FROM track_sources WHERE source_url = ?", (item.key,))
    conn.executemany("INSERT INTO track_sources (source_url, position, track_id, fetched_at) VALUES (?, ?, ?, ?)",
                     [(item.key, i, row["track_id"], row["fetched_at"]) for i, row in enumerate(result.rows)])
    outbox.emit_many(conn, "track.fetched", [
        track_fetched(track_id=row["track_id"], name=row.get("name"), artists=row.get("artists"),
                      album=row.get("album"), duration_ms=row.get("duration_ms"), spotify_url=row.get("spotify_url"),
                      source_url=item.key) for row in result.rows])


def existing_fetch(catalog: Catalog, item: WorkItem) -> dict[str, Any] | None:
    """Existing hook: the rows a link gave last time, from ``track_sources`` joined with ``tracks``."""
    found = catalog.query(
        "SELECT t.* FROM track_sources s JOIN tracks t ON t.track_id = s.track_id WHERE s.source_url = ? "
        "ORDER BY s.position", (item.key,))
    rows = []
    for r in found:
        row = {c: r.get(c) for c in TRACK_COLUMNS}
        row["artists"] = _json_list(r.get("artists"))
        row["artist_ids"] = _json_list(r.get("artist_ids"))
        row["explicit"] = None if r.get("explicit") is None else bool(r["explicit"])
        row["source_url"] = item.key
        rows.append(row)
    kind = item.payload.ref.kind if isinstance(item.payload, FetchJob) else None
    return {"kind": kind, "n_tracks": len(rows), "n_skipped": None, "pages": 0, "rows": rows, "skips": []}


def fetch_items(refs: Sequence[SpotifyRef], *, client: ClientHolder, market: str | None,
                include_groups: Sequence[str]) -> list[WorkItem]:
    """One :class:`WorkItem` per distinct link, sharing one client."""
    groups = tuple(include_groups)
    return [WorkItem(key=ref.url, payload=FetchJob(ref, client, market, groups)) for ref in refs]


def tracks_frame(links: Any) -> Any:
    """The per-track DataFrame (:data:`FETCH_COLUMNS`) from the runner's per-link result.

    Tracks of ``done`` and ``skipped`` links get their link's status; a ``failed`` link
    gives one row with its error and ``source_url`` (and no track). A track found
    through several links of the same call appears once per link.
    """
    from ..catalog import frame

    rows: list[dict[str, Any]] = []
    for link in links.to_dict("records"):
        status = link["status"]
        if status == "failed":  # every column given: missing keys would become NaN (and True in booleans)
            rows.append({**dict.fromkeys(FETCH_COLUMNS), "status": "failed", "error": link["error"],
                         "source_url": link["source_url"]})
            continue
        for row in link["rows"] if isinstance(link["rows"], list) else []:
            rows.append({**row, "status": status, "error": None})
    return frame(rows, FETCH_COLUMNS)


def _track_values(row: Mapping[str, Any]) -> tuple[Any, ...]:
    values = []
    for name in _TRACK_FIELDS:
        value = row.get(name)
        if isinstance(value, bool):
            value = int(value)
        elif isinstance(value, (list, tuple)):
            value = json.dumps(list(value))
        values.append(value)
    return tuple(values)


def _json_list(value: Any) -> list[Any]:
    if isinstance(value, str):
        try:
            decoded = json.loads(value)
        except ValueError:
            return []
        return decoded if isinstance(decoded, list) else []
    return list(value) if isinstance(value, (list, tuple)) else []


def link_summary(links: Any) -> list[dict[str, Any]]:
    """One plain dict per link: status, error, attempts, seconds_taken, kind, n_tracks, n_skipped, pages."""
    keep = ("source_url", "status", "error", "attempts", "seconds_taken", "kind", "n_tracks", "n_skipped", "pages")
    return [{k: _plain(link.get(k)) for k in keep} for link in links.to_dict("records")]


def _plain(value: Any) -> Any:
    try:
        import pandas as pd

        if value is pd.NA or (isinstance(value, float) and value != value):
            return None
    except ImportError:  # pragma: no cover
        pass
    return value.item() if hasattr(value, "item") and callable(value.item) else value


def skipped_entries(links: Any) -> list[dict[str, Any]]:
    """Entries that gave no track (null, local file, episode, duplicate...), one dict each."""
    out: list[dict[str, Any]] = []
    for link in links.to_dict("records"):
        skips = link.get("skips")
        if isinstance(skips, list):
            out.extend(dict(s) for s in skips if isinstance(s, Mapping))
    return out


FETCH = StageSpec(name="fetch", work=fetch_item, executor="thread", workers=4, max_attempts=3, service="spotify",
                  columns=LINK_COLUMNS, key="source_url", version="1")
"""The fetch stage: 4 threads, 3 attempts for transient errors, the ``spotify`` breaker per request."""


class FetchStage:
    """The fetch stage as one object: ``plan(env, options, urls=, market=, include_groups=, client=)``."""

    spec = FETCH

    def plan(self, env: StageEnv, options: RunOptions, /, *, urls: str | Iterable[str], market: str | None = None,
             include_groups: Iterable[str] = ("album", "single"), client: SpotifyClient | None = None) -> Plan:
        from ..spotify import parse_urls
        from ..spotify.client import market_code

        links = [urls] if isinstance(urls, str) else list(urls)
        refs = list(dict.fromkeys(parse_urls(links)))
        chosen = market_code(market if market is not None else env.settings.market)
        groups = tuple(include_groups)
        factory: Callable[[], SpotifyClient] = (
            (lambda: client) if client is not None else functools.partial(make_client, env.settings, market=chosen))
        holder = ClientHolder(factory)
        items = fetch_items(refs, client=holder, market=chosen, include_groups=groups)

        def finish(result: Any) -> Any:
            df = tracks_frame(result)
            df.attrs["links"] = link_summary(result)
            df.attrs["skipped_entries"] = skipped_entries(result)
            return df

        def close() -> None:
            done = getattr(holder.created, "close", None)
            if client is None and callable(done):
                done()

        return Plan(items=items, params={"market": chosen, "include_groups": list(groups)}, record=record_fetch,
                    existing=functools.partial(existing_fetch, env.catalog), finish=finish, close=close)


STAGE = FetchStage()
