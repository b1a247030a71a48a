"""What every stage shares: the stage object protocol, one options object, one "tracks -> ids" helper.

A stage is one object (:class:`Stage`): its :class:`~soundforge.runner.spec.StageSpec`
(name, work function, defaults) and a ``plan(env, **request)`` method that turns the
caller's request into a :class:`Plan`: the work items, the parameters hashed into
``jobs.params_hash``, the ``record``/``existing`` hooks the runner calls in the calling
process, and how the runner's result table becomes the table the user gets. The
workspace only validates, plans and runs (:meth:`soundforge.workspace.Workspace.run`);
the runner does everything else. Stages import the engine from
:mod:`soundforge.runner.spec` only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import ConfigError, TrackNotFound
from ..runner.spec import Existing, Record, StageSpec, WorkItem
from ..storage import validate_id

if TYPE_CHECKING:
    from ..catalog import Catalog
    from ..config import Settings
    from ..storage import Storage

__all__ = ["ERRORS", "Plan", "RunOptions", "Stage", "StageEnv", "require_tracks", "track_ids"]

ERRORS = ("record", "raise")


@dataclass(frozen=True)
class StageEnv:
    """What a stage may use of the workspace: its catalog, storage and settings (never the workspace itself)."""

    catalog: Catalog
    storage: Storage
    settings: Settings


@dataclass(frozen=True)
class RunOptions:
    """How to run a stage; the same keywords on every stage method and on ``batch.run``.

    Attributes
    ----------
    workers : int or None
        Items at once (default: the stage's own: 4 threads for fetch/import, 3 for download,
        one process per CPU for analyse, 1 for separate).
    timeout : float or None
        Seconds per item and attempt (default: the stage's); ``math.inf`` for none. Work past it
        is stopped for real (its process group killed) on executors with ``hard_cancel``.
    force : bool
        Redo items already done with the same input and parameters.
    progress : {"auto", "widget", "text", "log", None} or callable
        How to show progress (see :mod:`soundforge.progress`).
    errors : {"record", "raise"}
        Record failures as ``failed`` rows (default), or stop at the first and raise it.
    executor : str, Executor, distributed.Client or None
        Where the work runs: ``"thread"``, ``"process"``, ``"dask"`` or any registered name
        (:data:`soundforge.runner.executors.EXECUTORS`), an executor object, or a Dask client.
        ``None``: the workspace's default (``executor=`` of the workspace, ``$SOUNDFORGE_EXECUTOR``),
        else the stage's own.
    """

    workers: int | None = None
    timeout: float | None = None
    force: bool = False
    progress: Any = "auto"
    errors: str = "record"
    executor: Any = None

    def __post_init__(self) -> None:
        if self.workers is not None and (not isinstance(self.workers, int) or isinstance(self.workers, bool)
                                         or self.workers < 1):
            raise ConfigError(f"workers must be an integer >= 1 (or None for the stage's default), got "
                              f"{self.workers!r}.")
        if self.timeout is not None and (isinstance(self.timeout, bool) or not isinstance(self.timeout, (int, float))
                                         or not self.timeout > 0):
            raise ConfigError(f"timeout must be a number of seconds > 0 (math.inf for no limit), got "
                              f"{self.timeout!r}.")
        if not isinstance(self.force, bool):
            raise ConfigError(f"force must be True or False, got {self.force!r}.")
        if self.errors not in ERRORS:
            raise ConfigError(f"errors must be 'record' or 'raise', got {self.errors!r}.")


def _identity(result: Any) -> Any:
    return result


@dataclass(frozen=True)
class Plan:
    """What a stage asks the runner to do, and how its result becomes the user's table.

    Attributes
    ----------
    items : list of WorkItem
        The work, in the caller's order.
    params : Mapping[str, Any]
        Parameters of the run (hashed with the stage version into ``jobs.params_hash``).
    record, existing : callable or None
        The runner's hooks (see :func:`soundforge.runner.run_stage`).
    finish : callable
        ``finish(result) -> table``: shapes the runner's result for the user (default: as is).
    close : callable or None
        Called once the run ended, whatever happened (e.g. closing a client the plan opened).
    """

    items: list[WorkItem]
    params: dict[str, Any] = field(default_factory=dict)
    record: Record | None = None
    existing: Existing | None = None
    finish: Callable[[Any], Any] = _identity
    close: Callable[[], None] | None = None


class Stage(Protocol):
    """A stage: its spec and how a request becomes a :class:`Plan`."""

    spec: StageSpec

    def plan(self, *args: Any, **kwargs: Any) -> Plan:
        """``plan(env, options, /, **request)``: validate ``request`` (the stage method's own keywords) and
        plan the work, before anything runs."""


def track_ids(tracks: Any, *, catalog: Catalog | None = None, default: Callable[[], list[str]] | None = None,
              what: str = "tracks") -> list[str]:
    """Track ids, validated, de-duplicated, in order, from whatever a user passes as ``tracks``.

    Parameters
    ----------
    tracks : None, str, iterable of str, pandas.Series or pandas.DataFrame
        ``None``: ``default()`` (every track with audio when no default is given); one id; ids; a
        Series of ids; a table with a ``track_id`` column (``ws.tracks()``, ``ws.audio()``, any
        stage's result), whose missing values are dropped.
    catalog : Catalog, optional
        Needed for the ``None`` default.
    default : callable, optional
        Ids for ``tracks=None``.
    what : str
        The keyword's name, for messages.

    Raises
    ------
    ConfigError
        A table without ``track_id``, or something that is not ids.
    InvalidIdError
        An id that cannot name a file.
    """
    if tracks is None:
        if default is not None:
            return list(default())
        if catalog is None:
            raise ConfigError(f"{what}=None needs a catalog to list the tracks with audio.")
        return [r["track_id"] for r in catalog.query("SELECT track_id FROM audio ORDER BY created_at, track_id")]
    if hasattr(tracks, "columns"):
        if "track_id" not in tracks.columns:
            raise ConfigError(f"The {what} table has no 'track_id' column; pass ws.tracks(), ws.audio(), the result "
                              "of a stage, or a list of track ids.")
        values: list[Any] = [v for v in tracks["track_id"].tolist() if isinstance(v, str)]
    elif isinstance(tracks, str):
        values = [tracks]
    elif isinstance(tracks, Iterable) and not isinstance(tracks, (bytes, dict)):
        values = list(tracks.tolist() if hasattr(tracks, "tolist") else tracks)
        bad = [v for v in values if not isinstance(v, str)]
        if bad:
            raise ConfigError(f"{what} must hold track ids (strings), got {bad[0]!r} "
                              f"({type(bad[0]).__name__}).")
    else:
        raise ConfigError(f"{what} must be a track id, a list of track ids or a table with a 'track_id' column "
                          f"(or None for every track with audio), got {type(tracks).__name__}.")
    return list(dict.fromkeys(validate_id(v) for v in values))


def require_tracks(catalog: Catalog, ids: Iterable[str], *, root: Any = None) -> None:
    """Check that every id names a track of the catalog.

    Raises
    ------
    TrackNotFound
        Some ids are unknown: the message lists them and says where the known ids are.
    """
    ids = list(ids)
    known: set[str] = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        known.update(r["track_id"] for r in catalog.query(
            f"SELECT track_id FROM tracks WHERE track_id IN ({', '.join('?' * len(chunk))})", chunk))
    unknown = [t for t in ids if t not in known]
    if unknown:
        shown = ", ".join(unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        where = f" in the workspace {root}" if root is not None else ""
        raise TrackNotFound(f"Unknown track id(s){where}: {shown}. ws.tracks() lists the track ids it holds; "
                            "ws.import_audio(...) or ws.fetch(...) adds tracks.", track_ids=unknown)
