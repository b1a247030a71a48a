"""Papermill batch runs: execute a parameterised notebook per track (or chunk of tracks), in parallel.

>>> import soundforge as sf
>>> ws = sf.Workspace("~/music-lab")                                          # doctest: +SKIP
>>> summary = sf.batch.run("notebooks/templates/track_report.ipynb", ws.tracks(),
...                        workspace=ws, workers=2, chunk_size=5)            # doctest: +SKIP
>>> summary[summary.status == "failed"][["item", "error", "output_notebook"]]  # doctest: +SKIP

How a run goes:

1. Everything is checked before any kernel starts: the notebook exists and
   declares the item parameter (``tracks``) in its cell tagged ``parameters``;
   every given parameter is declared there; no parameter looks like a secret
   (:func:`check_parameters`: parameters are written into every output notebook,
   so notebooks read credentials from environment variables, which kernels inherit).
2. Items already done by an earlier run of the same notebook (same cell sources)
   with the same parameters, whose output notebook still exists, are skipped
   (``status == "skipped"``, pointing at that notebook) unless ``force=True``.
   Bookkeeping is the runner's: ``jobs`` rows of the stage ``"batch"``, one per
   item and attempt (:class:`soundforge.jobs.JobStore`); a track's input hash is
   its audio's SHA-256, so new audio is reported on again.
3. The other items are cut into chunks of ``chunk_size``; each chunk is one
   papermill execution (one kernel start) with the chunk's list of items as the
   item parameter. ``workers`` long-lived worker processes
   (:mod:`soundforge.batch.worker`) execute chunks in parallel; papermill starts
   each kernel as a subprocess of its worker.
4. A failing chunk of several items is re-run item by item, so one bad track
   fails alone. A failed output notebook is always kept; the summary names the
   failing cell and the error.
5. Progress is shown like any stage's (:mod:`soundforge.progress`: a live widget in
   a notebook that ends as the summary table in plain HTML, a text bar on a
   terminal, log lines otherwise). The summary (:data:`SUMMARY_COLUMNS`) is
   returned and written after every finished chunk to
   ``runs/<run_id>/summary.parquet`` in the workspace; output notebooks go to
   ``runs/<run_id>/`` (or ``out_dir``), worker logs to ``runs/<run_id>/logs/``.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import hashlib
import json
import os
import queue
import re
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import BatchError, ConfigError, SecretParameterError, SoundforgeError
from ..storage import validate_id

if TYPE_CHECKING:
    from ..runner.jobs import JobStore
    from ..workspace import Workspace
    from .worker import WorkerPool

__all__ = [
    "STAGE",
    "SUMMARY_COLUMNS",
    "Chunk",
    "ChunkResult",
    "check_parameters",
    "looks_secret",
    "notebook_fingerprint",
    "notebook_folders",
    "read_summary",
    "run",
]

STAGE = "batch"
"""Stage name of batch items in the catalog's ``jobs`` table."""

VERSION = "1"
"""Version of the batch bookkeeping, hashed with the parameters (bump to redo every item)."""

SUMMARY_COLUMNS: dict[str, str] = {
    "run_id": "string",
    "item": "string",
    "chunk": "Int64",
    "status": "string",
    "error": "string",
    "error_type": "string",
    "failed_cell": "Int64",
    "output_notebook": "string",
    "duration_s": "float64",
}
"""Columns and dtypes of the summary returned by :func:`run`.

``status`` is ``done``, ``failed`` or ``skipped`` (done by an earlier run).
``chunk`` numbers the papermill executions of this run (missing for skipped
items and items never run). ``error`` names the failing cell (its index in the
output notebook, its ``In [n]`` counter and first line) and the exception;
``error_type`` is the exception's class name; ``failed_cell`` the cell index.
``duration_s`` is the wall time of the execution that processed the item, in
seconds, shared equally among the items of its chunk (the column sums to the
total notebook time).
"""

_STRONG_SECRET = ("token", "secret", "passw", "credential", "apikey", "accesskey", "privatekey", "cookie")
_SECRET_WORDS = {"key", "keys", "pwd", "auth", "pass", "pin", "private", "session", "bearer"}
_MIN_SECRET_VALUE = 8


# -- validation --------------------------------------------------------------------------------------
def looks_secret(name: str) -> bool:
    """Tell whether a parameter name looks like it holds a secret.

    Parameters
    ----------
    name : str
        A parameter name such as ``"spotify_token"``, ``"apiKey"`` or ``"model"``.

    Returns
    -------
    bool
        ``True`` when the name contains ``token``, ``secret``, ``passw``,
        ``credential``, ``apikey``, ``accesskey``, ``privatekey`` or ``cookie``
        anywhere, or has a word (split on ``_``, ``-``, digits and camelCase) such
        as ``key``, ``pwd``, ``auth``, ``pass``, ``pin``, ``private``, ``session``.
    """
    flat = re.sub(r"[^a-z]", "", name.lower())
    if any(word in flat for word in _STRONG_SECRET):
        return True
    words = re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])", name)
    return any(w.lower() in _SECRET_WORDS for w in words)


def check_parameters(parameters: Mapping[str, Any], *, environ: Mapping[str, str] | None = None) -> None:
    """Refuse parameters that would store a secret in the output notebooks.

    Parameters
    ----------
    parameters : Mapping[str, Any]
        Notebook parameters (JSON-serialisable values).
    environ : Mapping[str, str], optional
        Environment to compare values against (default ``os.environ``).

    Raises
    ------
    SecretParameterError
        When a name looks like a secret (:func:`looks_secret`), or a value
        contains the value of a secret-looking environment variable.
    BatchError
        When a value cannot be serialised as JSON.
    """
    for name in parameters:
        if looks_secret(str(name)):
            raise SecretParameterError(
                f"Refusing notebook parameter {name!r}: its name looks like a secret, and parameters are written "
                "into every output notebook. Put the secret in an environment variable (for example "
                "SPOTIFY_CLIENT_SECRET) and read it in the notebook with os.environ; kernels inherit the "
                "environment of the batch run.", parameter=str(name))
    try:
        text = json.dumps(dict(parameters), sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise BatchError(f"Notebook parameters must be JSON values (str, numbers, bools, None, lists, dicts): "
                         f"{exc}.") from exc
    env = os.environ if environ is None else environ
    for var, value in env.items():
        if looks_secret(var) and len(value) >= _MIN_SECRET_VALUE and value in text:
            holder = next((k for k, v in parameters.items() if value in json.dumps(v)), "?")
            raise SecretParameterError(
                f"Refusing notebook parameter {holder!r}: its value contains the value of the environment "
                f"variable ${var}, which would be written into every output notebook. Let the notebook read "
                f"os.environ[{var!r}] itself.", parameter=holder, variable=var)


def _item_list(items: Any) -> list[str]:
    """Items as a list of unique strings, in order (a DataFrame contributes its ``track_id`` column)."""
    if isinstance(items, str):
        values: Iterable[Any] = [items]
    elif hasattr(items, "columns"):
        if "track_id" not in items.columns:
            raise BatchError("The items DataFrame has no 'track_id' column; pass a list of track ids or a "
                             "table from ws.tracks()/ws.audio()/ws.analyze().")
        values = items["track_id"].dropna().tolist()
    elif isinstance(items, (Iterable)) and not isinstance(items, (bytes, bytearray, Mapping)):
        values = list(items)
    else:
        raise BatchError(f"soundforge.batch.run: items={items!r:.60} is not usable; give a track id, a list of "
                         "track ids, or a DataFrame with a 'track_id' column such as ws.tracks().")
    out: list[str] = []
    seen: set[str] = set()
    for value in values:
        if not isinstance(value, str) or not value.strip():
            raise BatchError(f"Batch items must be non-empty strings (track ids), got {value!r}.")
        if value not in seen:
            seen.add(value)
            out.append(value)
    return out


def notebook_fingerprint(notebook: str | os.PathLike[str]) -> str:
    """SHA-256 of a notebook's cell types and sources (outputs and metadata ignored).

    Saving a notebook with outputs keeps its fingerprint; editing any cell changes it,
    so a batch rerun after an edit redoes every item.
    """
    import nbformat

    nb = nbformat.read(os.fspath(notebook), as_version=4)
    cells = [[c.get("cell_type"), c.get("source", "")] for c in nb.cells]
    return hashlib.sha256(json.dumps(cells).encode()).hexdigest()


def _declared_parameters(notebook: Path) -> dict[str, dict[str, Any]]:
    import papermill

    try:
        return dict(papermill.inspect_notebook(str(notebook)))
    except Exception as exc:
        raise BatchError(f"Cannot read the parameters of {notebook}: {type(exc).__name__}: {exc}. "
                         "Is it a valid .ipynb file?", notebook=str(notebook)) from exc


def _resolve_notebook(notebook: str | os.PathLike[str]) -> Path:
    path = Path(notebook).expanduser().resolve()
    if path.suffix != ".ipynb":
        raise BatchError(f"{path} is not a notebook: batch runs execute .ipynb files.", notebook=str(path))
    if not path.is_file():
        raise BatchError(f"The notebook {path} does not exist.", notebook=str(path))
    return path


def _validate_options(*, workers: int, chunk_size: int, timeout: float | None, errors: str) -> None:
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise ConfigError(f"workers must be an integer >= 1, got {workers!r}.")
    if not isinstance(chunk_size, int) or isinstance(chunk_size, bool) or chunk_size < 1:
        raise ConfigError(f"chunk_size must be an integer >= 1, got {chunk_size!r}.")
    if timeout is not None and not (isinstance(timeout, (int, float)) and not isinstance(timeout, bool)
                                    and 0 < timeout < float("inf")):
        raise ConfigError(f"timeout must be a number of seconds > 0 (or None), got {timeout!r}.")
    if not isinstance(errors, str) or errors not in ("record", "raise"):
        raise ConfigError(f"errors must be 'record' or 'raise', got {errors!r}.")


def _notebook_parameters(path: Path, parameters: Mapping[str, Any], *, item_parameter: str,
                         workspace_parameter: str, ws: Workspace) -> dict[str, Any]:
    """The parameters every chunk gets (all but the item list), checked against the notebook's own."""
    declared = _declared_parameters(path)
    if item_parameter not in declared:
        raise BatchError(
            f"The notebook {path.name} declares no parameter {item_parameter!r}: add `{item_parameter} = []` "
            "(the list of track ids a chunk works on) to its cell tagged 'parameters'. Declared: "
            f"{sorted(declared) or 'none (no cell tagged parameters?)'}.", notebook=str(path))
    unknown = sorted(set(parameters) - set(declared))
    if unknown:
        raise BatchError(f"The notebook {path.name} declares no parameter(s) {unknown}; its parameters are "
                         f"{sorted(declared)}.", notebook=str(path))
    if item_parameter in parameters:
        raise BatchError(f"Pass the items as the `items` argument, not as parameters[{item_parameter!r}].")
    fixed = dict(parameters)
    if workspace_parameter in declared and workspace_parameter not in fixed:
        fixed[workspace_parameter] = str(ws.root)
    return fixed


# -- chunks and their results -------------------------------------------------------------------------
@dataclass(frozen=True)
class Chunk:
    """One papermill execution: a few items and the output notebook it writes.

    Attributes
    ----------
    index : int
        1-based number of the execution in its run.
    items : tuple[str, ...]
        Items passed as the notebook's item parameter.
    output : pathlib.Path
        Where the executed notebook is written.
    attempt : int
        1 for the first execution, 2 when an item is re-run alone after its chunk failed.
    """

    index: int
    items: tuple[str, ...]
    output: Path
    attempt: int = 1


@dataclass(frozen=True)
class ChunkResult:
    """What one execution of a :class:`Chunk` gave.

    Attributes
    ----------
    chunk : Chunk
    ok : bool
        The notebook ran to its end without an error.
    error, error_type : str or None
        The failure (see :data:`SUMMARY_COLUMNS`).
    failed_cell : int or None
        Index of the failing cell in the output notebook.
    duration_s : float
        Wall time of the execution, in seconds.
    """

    chunk: Chunk
    ok: bool
    error: str | None = None
    error_type: str | None = None
    failed_cell: int | None = None
    duration_s: float = 0.0

    @classmethod
    def from_answer(cls, chunk: Chunk, answer: Mapping[str, Any]) -> ChunkResult:
        """From a worker's answer (see :mod:`soundforge.batch.worker`)."""
        return cls(chunk=chunk, ok=bool(answer.get("ok")), error=answer.get("error"),
                   error_type=answer.get("error_type"), failed_cell=answer.get("failed_cell"),
                   duration_s=float(answer.get("duration_s") or 0.0))

    def to_rows(self, run_id: str) -> list[dict[str, Any]]:
        """One summary row per item of the chunk."""
        share = self.duration_s / max(len(self.chunk.items), 1)
        return [{"run_id": run_id, "item": item, "chunk": self.chunk.index,
                 "status": "done" if self.ok else "failed", "error": self.error, "error_type": self.error_type,
                 "failed_cell": self.failed_cell, "output_notebook": str(self.chunk.output), "duration_s": share}
                for item in self.chunk.items]


def _output_name(items: Sequence[str], index: int) -> str:
    if len(items) == 1:
        with contextlib.suppress(SoundforgeError):
            return f"{validate_id(items[0])}.ipynb"
    return f"chunk-{index:04d}.ipynb"


# -- summaries ----------------------------------------------------------------------------------------
def _summary_frame(rows: list[dict[str, Any]]) -> Any:
    import pandas as pd

    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS)).astype(SUMMARY_COLUMNS)


def _open_workspace(workspace: Workspace | str | os.PathLike[str] | None) -> Workspace:
    from ..workspace import Workspace

    if isinstance(workspace, Workspace):
        return workspace
    return Workspace(workspace)


def read_summary(workspace: Workspace | str | os.PathLike[str], run_id: str) -> Any:
    """Read the summary of an earlier batch run (``runs/<run_id>/summary.parquet``).

    Parameters
    ----------
    workspace : Workspace or path-like
        The workspace the run belongs to.
    run_id : str
        The run's id (the ``run_id`` column of a summary, or the folder name under ``runs/``).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`SUMMARY_COLUMNS`.

    Raises
    ------
    BatchError
        When the run has no readable summary.
    """
    import pandas as pd

    ws = _open_workspace(workspace)
    path = ws.root / "runs" / validate_id(run_id, kind="run id") / "summary.parquet"
    try:
        return pd.read_parquet(path).astype(SUMMARY_COLUMNS)
    except (OSError, ValueError) as exc:
        raise BatchError(f"No readable batch summary at {path}: {exc}.", run_id=run_id) from exc


# -- the run ------------------------------------------------------------------------------------------
class _BatchRun:
    """State of one :func:`run` call; everything here runs in the caller's thread except the executions."""

    def __init__(self, *, ws: Workspace, store: JobStore, pool: WorkerPool, request: dict[str, Any],
                 item_parameter: str, items: list[str], input_hashes: Mapping[str, str], out_dir: Path,
                 run_dir: Path, workers: int, chunk_size: int, timeout: float | None, force: bool,
                 reporter: Any, errors: str) -> None:
        self.ws, self.store, self.pool, self.request = ws, store, pool, request
        self.item_parameter, self.items, self.input_hashes = item_parameter, items, input_hashes
        self.out_dir, self.run_dir, self.workers, self.chunk_size = out_dir, run_dir, workers, chunk_size
        self.timeout, self.force, self.reporter, self.errors = timeout, force, reporter, errors
        self.rows: dict[str, dict[str, Any]] = {}
        self.todo: deque[Chunk] = deque()
        self.running: dict[cf.Future[ChunkResult], tuple[Chunk, list[int]]] = {}
        self.inbox: queue.Queue[tuple[Chunk, float, str]] = queue.Queue()
        self.executions = 0
        self.failure: ChunkResult | None = None
        self.last_event = time.monotonic()

    @property
    def run_id(self) -> str:
        return self.store.run_id

    def emit(self, kind: str, **fields: Any) -> None:
        from ..progress import ProgressEvent

        event = ProgressEvent(kind=kind, stage=STAGE, **fields)
        self.last_event = event.time
        self.reporter(event)

    # -- plan --------------------------------------------------------------------------------------
    def plan(self) -> None:
        """Skip what is done; cut the rest into chunks."""
        previous = {} if self.force else self._previous_outputs()
        todo = []
        for item in self.items:
            if item in previous:
                self._final({"item": item, "chunk": None, "status": "skipped", "error": None, "error_type": None,
                             "failed_cell": None, "output_notebook": previous[item], "duration_s": 0.0}, attempt=0)
            else:
                todo.append(item)
        for start in range(0, len(todo), self.chunk_size):
            self.todo.append(self._chunk(tuple(todo[start:start + self.chunk_size]), attempt=1))

    def _chunk(self, items: tuple[str, ...], *, attempt: int) -> Chunk:
        self.executions += 1
        return Chunk(index=self.executions, items=items, attempt=attempt,
                     output=self.out_dir / _output_name(items, self.executions))

    def _previous_outputs(self) -> dict[str, str]:
        """Items done before with these parameters and the same input, whose output notebook still exists."""
        wanted = set(self.items)
        found: dict[str, str] = {}
        summaries: dict[str, Any] = {}
        for item, run_id, input_hash in self.store.conn.execute(
                "SELECT item, run_id, input_hash FROM jobs WHERE stage = ? AND params_hash = ? AND status = 'done' "
                "ORDER BY job_id DESC", (STAGE, self.store.params_hash)):
            if item not in wanted or item in found or input_hash != self.input_hashes.get(item):
                continue
            if run_id not in summaries:
                try:
                    summaries[run_id] = read_summary(self.ws, run_id)
                except (BatchError, SoundforgeError):
                    summaries[run_id] = None
            summary = summaries[run_id]
            if summary is None:
                continue
            hit = summary[(summary["item"] == item) & summary["status"].isin(["done", "skipped"])]
            notebook = next((p for p in hit["output_notebook"].dropna() if Path(p).is_file()), None)
            if notebook is not None:
                found[item] = str(notebook)
        return found

    # -- loop --------------------------------------------------------------------------------------
    def loop(self, executor: cf.ThreadPoolExecutor) -> None:
        while (self.todo or self.running) and self.failure is None:
            while self.todo and len(self.running) < self.workers:
                self._dispatch(executor, self.todo.popleft())
            finished, _ = cf.wait(list(self.running), timeout=0.5, return_when=cf.FIRST_COMPLETED)
            self._drain_progress()
            for future in finished:
                _chunk, job_ids = self.running.pop(future)
                self._on_result(future.result(), job_ids)
            if time.monotonic() - self.last_event >= 0.5:
                self.emit("tick")

    def _dispatch(self, executor: cf.ThreadPoolExecutor, chunk: Chunk) -> None:
        job_ids = [self.store.start(item, input_hash=self.input_hashes.get(item), attempt=chunk.attempt)
                   for item in chunk.items]
        future = executor.submit(self._execute, chunk)
        self.running[future] = (chunk, job_ids)
        for item in chunk.items:
            self.emit("item_start", item=item, attempt=chunk.attempt)

    def _execute(self, chunk: Chunk) -> ChunkResult:
        """In a pool thread: one papermill execution on a borrowed worker process."""
        request = {**self.request, "output": str(chunk.output),
                   "parameters": {**self.request["parameters"], self.item_parameter: list(chunk.items)}}
        limit = None if self.timeout is None else self.timeout * len(chunk.items)
        with self.pool.worker() as worker:
            answer = worker.execute(request, timeout_s=limit,
                                    on_progress=lambda pct, msg: self.inbox.put((chunk, pct, msg)))
        return ChunkResult.from_answer(chunk, answer)

    def _drain_progress(self) -> None:
        while True:
            try:
                chunk, percent, message = self.inbox.get_nowait()
            except queue.Empty:
                return
            for item in chunk.items:
                self.emit("item_progress", item=item, attempt=chunk.attempt, percent=percent, message=message)

    def _on_result(self, result: ChunkResult, job_ids: Sequence[int]) -> None:
        share = result.duration_s / max(len(job_ids), 1)
        chunk = result.chunk
        for job_id in job_ids:  # a failed chunk of several items is re-run item by item: no job.failed yet
            self.store.finish(job_id, status="done" if result.ok else "failed", duration_s=share,
                              error=result.error, error_type=result.error_type,
                              retrying=not result.ok and len(chunk.items) > 1)
        if not result.ok and len(chunk.items) > 1:
            # Isolate the failure: each item of the failed chunk runs alone, first in line.
            alone = [self._chunk((item,), attempt=chunk.attempt + 1) for item in chunk.items]
            self.todo.extendleft(reversed(alone))
            for item in chunk.items:
                self.emit("item_retry", item=item, attempt=chunk.attempt, error=result.error, delay_s=0.0)
            return
        for row in result.to_rows(self.run_id):
            self._final(row, attempt=chunk.attempt)
        self.write_summary()
        if not result.ok and self.errors == "raise":
            self.failure = result

    def _final(self, row: dict[str, Any], *, attempt: int) -> None:
        row = {**row, "run_id": self.run_id}
        self.rows[row["item"]] = row
        self.emit("item_end", item=row["item"], attempt=attempt, status=row["status"], error=row["error"],
                  seconds_taken=row["duration_s"])

    def abort(self, why: str) -> None:
        """Stop what runs; record it and everything not run as failed."""
        self.pool.stop_all()
        for future, (chunk, job_ids) in list(self.running.items()):
            with contextlib.suppress(Exception):
                future.result(timeout=30)
            text = f"ItemCancelled: stopped because {why}."
            for job_id in job_ids:
                with contextlib.suppress(Exception):
                    self.store.finish(job_id, status="failed", duration_s=0.0, error=text, error_type="ItemCancelled")
            for item in chunk.items:
                self._final({"item": item, "chunk": chunk.index, "status": "failed", "error": text,
                             "error_type": "ItemCancelled", "failed_cell": None,
                             "output_notebook": str(chunk.output), "duration_s": 0.0}, attempt=chunk.attempt)
        self.running.clear()
        for chunk in self.todo:
            for item in chunk.items:
                self._final({"item": item, "chunk": None, "status": "failed",
                             "error": f"ItemCancelled: not run because {why}.", "error_type": "ItemCancelled",
                             "failed_cell": None, "output_notebook": None, "duration_s": 0.0}, attempt=0)
        self.todo.clear()

    # -- results -----------------------------------------------------------------------------------
    def frame(self) -> Any:
        rows = [self.rows[i] for i in self.items if i in self.rows]
        summary = _summary_frame(rows)
        summary.attrs["run_dir"] = str(self.run_dir)
        summary.attrs["summary_path"] = str(self.run_dir / "summary.parquet")
        return summary

    def finished_event(self, *, notebook: str, seconds: float) -> None:
        """Write the ``batch.finished`` event (counts of the summary) to the outbox."""
        from ..events import outbox
        from ..events.types import batch_finished

        counts = self.frame()["status"].value_counts()
        with self.store.transaction() as conn:
            outbox.emit(conn, "batch.finished", batch_finished(
                run_id=self.run_id, notebook=notebook, total=len(self.items), done=int(counts.get("done", 0)),
                skipped=int(counts.get("skipped", 0)), failed=int(counts.get("failed", 0)), seconds=seconds,
                summary_path=self.ws.storage.relative(self.run_dir / "summary.parquet")))

    def write_summary(self) -> Path:
        target = self.run_dir / "summary.parquet"
        with self.ws.storage.atomic_path(target) as tmp:
            self.frame().to_parquet(tmp, index=False)
        return target


def run(notebook: str | os.PathLike[str], items: Any, *, parameters: Mapping[str, Any] | None = None,
        workers: int = 2, chunk_size: int = 1, out_dir: str | os.PathLike[str] | None = None,
        timeout: float | None = None, force: bool = False, progress: Any = "auto", errors: str = "record",
        kernel_name: str | None = None, workspace: Workspace | str | os.PathLike[str] | None = None,
        item_parameter: str = "tracks", workspace_parameter: str = "workspace",
        start_timeout: float = 120.0) -> Any:
    """Execute a parameterised notebook with papermill for each item or chunk of items.

    Parameters
    ----------
    notebook : path-like
        The ``.ipynb`` file; its cell tagged ``parameters`` must declare ``item_parameter``.
    items : list of str, pandas.Series or pandas.DataFrame
        Track ids (a DataFrame contributes its ``track_id`` column); duplicates are dropped.
    parameters : Mapping[str, Any], optional
        Other notebook parameters, the same for every chunk (JSON values; never secrets,
        see :func:`check_parameters`).
    workers : int
        Notebooks executed at the same time (each in its own kernel).
    chunk_size : int
        Items per execution. Larger chunks pay fewer kernel starts and imports; a failing
        chunk is re-run item by item so only the bad item fails.
    out_dir : path-like, optional
        Folder of the output notebooks; default ``runs/<run_id>/`` in the workspace.
    timeout : float, optional
        Time limit per item in seconds (a chunk gets ``timeout * len(chunk)``); a notebook
        past it is stopped (its kernel too) and its item(s) fail with ``ItemTimeout``.
    force : bool
        Re-run items already done with the same notebook, parameters and audio.
    progress : {"auto", "widget", "text", "log", None} or callable
        How to show progress (see :mod:`soundforge.progress`); a callable receives
        :class:`soundforge.progress.ProgressEvent` objects.
    errors : {"record", "raise"}
        ``"record"``: failures are rows of the summary. ``"raise"``: stop at the first item
        that fails (running notebooks are stopped) and raise :class:`BatchError`.
    kernel_name : str, optional
        Jupyter kernel to use; default the notebook's own (``python3``: the Python running this).
    workspace : Workspace or path-like, optional
        Where jobs are recorded and runs stored; default ``$SOUNDFORGE_HOME``. When the
        notebook declares ``workspace_parameter``, it receives the workspace folder.
    item_parameter : str
        Name of the notebook parameter receiving each chunk's list of items.
    workspace_parameter : str
        Name of the notebook parameter receiving the workspace folder.
    start_timeout : float
        Seconds a kernel may take to start.

    Returns
    -------
    pandas.DataFrame
        One row per item in input order, columns :data:`SUMMARY_COLUMNS`; also written to
        ``runs/<run_id>/summary.parquet`` (``df.attrs["summary_path"]``, ``df.attrs["run_dir"]``).

    Raises
    ------
    BatchError
        When the notebook or the parameters cannot be used (before any kernel starts), and
        with ``errors="raise"`` when an item fails.
    SecretParameterError
        When a parameter looks like a secret.
    ConfigError
        For bad ``workers``/``chunk_size``/``timeout``/``progress``/``errors`` values.
    """
    from .. import validate as check
    from ..progress import make_reporter
    from ..runner.jobs import JobStore, new_run_id, params_hash
    from .worker import WorkerPool

    call = "soundforge.batch.run"
    check.path_like(notebook, name="notebook", call=call, what="the path of a .ipynb file")
    params = check.mapping(parameters, name="parameters", call=call)
    if out_dir is not None:
        check.path_like(out_dir, name="out_dir", call=call, what="a folder path, or None for runs/<run_id>/")
    check.optional_string(kernel_name, name="kernel_name", call=call, what="a Jupyter kernel name such as 'python3'")
    check.string(item_parameter, name="item_parameter", call=call, what="a notebook parameter name")
    check.string(workspace_parameter, name="workspace_parameter", call=call, what="a notebook parameter name")
    check.seconds(start_timeout, name="start_timeout", call=call, allow_none=False)
    check.boolean(force, name="force", call=call)
    check.progress(progress, call=call)
    if workspace is not None and not hasattr(workspace, "catalog"):
        check.path_like(workspace, name="workspace", call=call, what="a Workspace, a folder path, or None")
    _validate_options(workers=workers, chunk_size=chunk_size, timeout=timeout, errors=errors)
    item_list = _item_list(items)
    path = _resolve_notebook(notebook)
    check_parameters(params)
    reporter = make_reporter(progress)
    ws = _open_workspace(workspace)
    fixed = _notebook_parameters(path, params, item_parameter=item_parameter,
                                 workspace_parameter=workspace_parameter, ws=ws)
    hashed = {"notebook": notebook_fingerprint(path), "parameters": params, "item_parameter": item_parameter}
    run_id = new_run_id(STAGE)
    run_dir = ws.storage.run_dir(run_id)
    target = Path(out_dir).expanduser().resolve() if out_dir is not None else run_dir
    target.mkdir(parents=True, exist_ok=True)
    input_hashes = {r["track_id"]: r["sha256"] for r in ws.catalog.query("SELECT track_id, sha256 FROM audio")}
    request = {"input": str(path), "kernel_name": kernel_name, "cwd": str(path.parent),
               "start_timeout_s": start_timeout, "parameters": fixed}
    pool = WorkerPool(size=workers, log_dir=run_dir / "logs")  # processes start on first use
    with JobStore(ws.catalog, stage=STAGE, params_hash=params_hash(hashed, version=VERSION), run_id=run_id) as store:
        state = _BatchRun(ws=ws, store=store, pool=pool, request=request, item_parameter=item_parameter,
                          items=item_list, input_hashes=input_hashes, out_dir=target, run_dir=run_dir,
                          workers=workers, chunk_size=chunk_size, timeout=timeout, force=force,
                          reporter=reporter, errors=errors)
        started = time.monotonic()
        with ws.webhooks.delivering():
            store.mark_interrupted()
            state.emit("start", total=len(item_list), workers=workers)
            state.plan()
            state.write_summary()
            try:
                with cf.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="batch") as executor:
                    try:
                        state.loop(executor)
                        if state.failure is not None:
                            state.abort("another item failed and errors='raise'")
                    except BaseException as exc:
                        state.abort(f"the run was interrupted ({type(exc).__name__})")
                        raise
            finally:
                pool.close()
                state.write_summary()
                summary = state.frame()
                state.emit("end", result=summary)
                try:
                    state.finished_event(notebook=path.name, seconds=time.monotonic() - started)
                except Exception as exc:  # never hide the run's own outcome behind a notification
                    from ..progress import logger

                    logger.warning("batch %s: the batch.finished event could not be written (%s: %s)", run_id,
                                   type(exc).__name__, exc)
    if state.failure is not None:
        first = state.failure
        raise BatchError(f"Batch item(s) {list(first.chunk.items)} failed: {first.error}. The output notebook is "
                         f"kept at {first.chunk.output}; summary at {summary.attrs['summary_path']}.",
                         run_id=run_id)
    return summary


def notebook_folders(summary: Any) -> list[str]:
    """Folders holding the executed notebooks a summary points at, in order (skipped items point at earlier runs).

    Parameters
    ----------
    summary : pandas.DataFrame
        The result of :func:`run` (``output_notebook`` column).

    Returns
    -------
    list of str
        Each folder once; a rerun that skipped everything lists the earlier runs' folders, not its own
        (which holds only its ``summary.parquet``).
    """
    folders = [str(Path(p).parent) for p in summary["output_notebook"].dropna() if Path(p).is_file()]
    return list(dict.fromkeys(folders))
