"""Papermill batch runs: execute a parameterised notebook per track (or chunk of tracks), in parallel.

>>> import soundforge as sf
>>> ws = sf.Workspace("~/music-lab")                                          # doctest: +SKIP
>>> summary = sf.batch.run("notebooks/templates/track_report.ipynb", ws.tracks(),
...                        workspace=ws, workers=2, chunk_size=5)            # doctest: +SKIP
>>> summary[summary.status == "failed"][["item", "error", "output_notebook"]]  # doctest: +SKIP

How a run goes:

1. Everything is checked before any kernel starts: the notebook exists and
   declares the item parameter (``tracks``) in its cell tagged ``parameters``;
   every given parameter is declared there; no parameter name looks like a
   secret (:class:`~soundforge.errors.SecretParameterError`: notebooks read
   credentials from environment variables, which the kernels inherit, because
   parameters are written into every output notebook).
2. Items already done by an earlier run of the same notebook (same cell sources)
   with the same parameters are skipped (``status == "skipped"``, pointing at the
   earlier output notebook), unless ``force=True``. Bookkeeping lives in the
   catalog's ``jobs`` table under the stage ``"batch"``.
3. The other items are cut into chunks of ``chunk_size``; each chunk is one
   papermill execution (one kernel start) with the chunk's item list as the
   item parameter. ``workers`` long-lived worker processes execute chunks in
   parallel (each imports papermill once; papermill starts each kernel as a
   subprocess of its worker).
4. A failing chunk of several items is re-run item by item, so one bad track
   fails alone. A failed output notebook is always kept; the summary names the
   failing cell and the error.
5. The summary (:data:`SUMMARY_COLUMNS`) is returned and written, after every
   finished chunk, to ``runs/<run_id>/summary.parquet`` in the workspace.
   Output notebooks go to ``runs/<run_id>/`` (or ``out_dir``); worker logs to
   ``runs/<run_id>/logs/``.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import hashlib
import json
import os
import queue
import re
import secrets
import site
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from .catalog import utcnow
from .errors import BatchError, ConfigError, SecretParameterError, SoundforgeError
from .storage import validate_id

if TYPE_CHECKING:
    from .workspace import Workspace

__all__ = [
    "STAGE",
    "SUMMARY_COLUMNS",
    "Chunk",
    "ChunkResult",
    "check_parameters",
    "looks_secret",
    "notebook_fingerprint",
    "read_summary",
    "run",
]

STAGE = "batch"
"""Stage name of batch items in the catalog's ``jobs`` table."""

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
items). ``error`` names the failing cell (its index in the output notebook, its
``In [n]`` counter and first line) and the exception; ``error_type`` is the
exception's class name; ``failed_cell`` the cell index. ``duration_s`` is the
wall time of the execution that processed the item, in seconds, shared equally
among the items of its chunk (so the column sums to the total notebook time).
"""

_STRONG_SECRET = ("token", "secret", "passw", "credential", "apikey", "accesskey", "privatekey", "cookie")
_SECRET_WORDS = {"key", "keys", "pwd", "auth", "pass", "pin", "private", "session", "bearer"}
_MIN_SECRET_VALUE = 8

ProgressCallback = Callable[[int, int, Mapping[str, Any]], None]


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
    else:
        values = list(items)
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


def _params_hash(fingerprint: str, parameters: Mapping[str, Any], item_parameter: str) -> str:
    blob = json.dumps({"notebook": fingerprint, "parameters": dict(parameters), "item_parameter": item_parameter},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _new_run_id() -> str:
    return f"batch-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(3)}"


# -- chunks and their results -------------------------------------------------------------------------
@dataclass(frozen=True)
class Chunk:
    """One papermill execution: a few items and the output notebook it writes.

    Attributes
    ----------
    index : int
        1-based number of the chunk in its run.
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


def _chunks(items: Sequence[str], *, chunk_size: int, out_dir: Path) -> list[Chunk]:
    groups = [tuple(items[i:i + chunk_size]) for i in range(0, len(items), chunk_size)]
    return [Chunk(index=n, items=g, output=out_dir / _output_name(g, n)) for n, g in enumerate(groups, start=1)]


# -- worker processes ---------------------------------------------------------------------------------
def _worker_env() -> dict[str, str]:
    """The environment of worker processes (and so of kernels): ours, plus where this soundforge lives."""
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parent.parent)
    installed = {str(Path(p).resolve()) for p in [*site.getsitepackages(), site.getusersitepackages()]}
    if package_root not in installed:
        parts = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        if package_root not in parts:
            env["PYTHONPATH"] = os.pathsep.join([package_root, *parts])
    env["PYTHONUNBUFFERED"] = "1"
    return env


class _Worker:
    """A long-lived ``python -m soundforge.batch_worker`` process, restarted when it dies or times out."""

    def __init__(self, *, name: str, log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        self._proc: subprocess.Popen[str] | None = None
        self._answers: queue.Queue[str | None] = queue.Queue()
        self._log: IO[str] | None = None

    def _start(self) -> subprocess.Popen[str]:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        if self._log is None:
            self._log = open(self.log_path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self._answers = queue.Queue()
        proc = subprocess.Popen([sys.executable, "-m", "soundforge.batch_worker"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=self._log, text=True, encoding="utf-8",
                                env=_worker_env(), start_new_session=True)
        threading.Thread(target=self._read, args=(proc, self._answers), daemon=True,
                         name=f"{self.name}-reader").start()
        self._proc = proc
        return proc

    @staticmethod
    def _read(proc: subprocess.Popen[str], answers: queue.Queue[str | None]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            answers.put(line)
        answers.put(None)

    def execute(self, request: Mapping[str, Any], *, timeout_s: float | None) -> dict[str, Any]:
        """Send one request; wait at most ``timeout_s`` seconds for the answer (the worker is stopped after)."""
        proc = self._proc if self._proc is not None and self._proc.poll() is None else self._start()
        assert proc.stdin is not None
        started = time.perf_counter()
        try:
            proc.stdin.write(json.dumps(dict(request)) + "\n")
            proc.stdin.flush()
            line = self._answers.get(timeout=timeout_s)
        except queue.Empty:
            cell, where = _running_cell(request["output"])  # read before stopping: stopping finishes the file
            self.stop()
            return {"ok": False, "error_type": "ItemTimeout", "failed_cell": cell,
                    "duration_s": time.perf_counter() - started,
                    "error": f"ItemTimeout: the notebook ran past its time limit of {timeout_s:g} s and was "
                             f"stopped{where}"}
        except (BrokenPipeError, OSError):
            line = None
        if line is None:
            cell, where = _running_cell(request["output"])
            code = self.stop()
            return {"ok": False, "error_type": "WorkerDied", "failed_cell": cell,
                    "duration_s": time.perf_counter() - started,
                    "error": f"WorkerDied: the papermill worker exited (code {code}){where}; see {self.log_path}"}
        answer: dict[str, Any] = json.loads(line)
        return answer

    def stop(self, *, grace_s: float = 10.0) -> int | None:
        """Stop the worker process: SIGTERM (papermill shuts its kernel down), then SIGKILL after ``grace_s``."""
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=grace_s)
        return proc.returncode

    def close(self, *, grace_s: float = 10.0) -> None:
        """Let the worker finish (close its stdin), else stop it; close the log."""
        proc = self._proc
        if proc is not None and proc.poll() is None and proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=grace_s)
        self.stop(grace_s=grace_s)
        if self._log is not None:
            self._log.close()
            self._log = None


def _running_cell(output: str) -> tuple[int | None, str]:
    """The cell papermill marked ``running`` in a partly executed notebook: ``(index, " in cell N (...)")``."""
    import nbformat

    from .batch_worker import first_line

    try:
        nb = nbformat.read(output, as_version=4)
    except Exception:
        return None, ""
    for index, cell in enumerate(nb.cells):
        if cell.get("metadata", {}).get("papermill", {}).get("status") == "running":
            line = first_line(cell.get("source", ""))
            return index, f" in cell {index}" + (f" ({line})" if line else "")
    return None, ""


class _WorkerPool:
    """``size`` workers handed out to threads one at a time."""

    def __init__(self, *, size: int, log_dir: Path) -> None:
        self._all = [_Worker(name=f"worker-{n}", log_path=log_dir / f"worker-{n}.log") for n in range(1, size + 1)]
        self._free: queue.Queue[_Worker] = queue.Queue()
        for worker in self._all:
            self._free.put(worker)

    @contextlib.contextmanager
    def worker(self) -> Any:
        worker = self._free.get()
        try:
            yield worker
        finally:
            self._free.put(worker)

    def stop_all(self) -> None:
        for worker in self._all:
            worker.stop(grace_s=5.0)

    def close(self) -> None:
        for worker in self._all:
            worker.close()


# -- bookkeeping in the catalog -----------------------------------------------------------------------
@dataclass
class _Book:
    """Job rows of one batch run in the catalog (``jobs`` table, stage :data:`STAGE`)."""

    ws: Workspace
    run_id: str
    params_hash: str
    input_hash: str
    _summaries: dict[str, Any] = field(default_factory=dict)

    def previous_outputs(self, items: Sequence[str]) -> dict[str, str]:
        """Items already done with these parameters whose output notebook still exists -> that notebook."""
        found: dict[str, str] = {}
        rows = self.ws.catalog.query(
            "SELECT item, run_id FROM jobs WHERE stage = ? AND params_hash = ? AND status = 'done' "
            "ORDER BY job_id DESC", (STAGE, self.params_hash))
        wanted = set(items)
        for row in rows:
            item = row["item"]
            if item not in wanted or item in found:
                continue
            notebook = self._output_of(row["run_id"], item)
            if notebook is not None:
                found[item] = notebook
        return found

    def _output_of(self, run_id: str, item: str) -> str | None:
        if run_id not in self._summaries:
            try:
                self._summaries[run_id] = read_summary(self.ws, run_id)
            except BatchError:
                self._summaries[run_id] = None
        summary = self._summaries[run_id]
        if summary is None:
            return None
        hit = summary[(summary["item"] == item) & (summary["status"].isin(["done", "skipped"]))]
        for path in hit["output_notebook"].dropna():
            if Path(path).is_file():
                return str(path)
        return None

    def start(self, chunk: Chunk) -> list[int]:
        ids: list[int] = []
        now = utcnow()
        with self.ws.catalog.transaction() as conn:
            for item in chunk.items:
                cur = conn.execute(
                    "INSERT INTO jobs (run_id, stage, item, params_hash, input_hash, status, attempts, started_at) "
                    "VALUES (?, ?, ?, ?, ?, 'running', ?, ?)",
                    (self.run_id, STAGE, item, self.params_hash, self.input_hash, chunk.attempt, now))
                ids.append(int(cur.lastrowid or 0))
        return ids

    def finish(self, job_ids: Sequence[int], result: ChunkResult) -> None:
        share = result.duration_s / max(len(job_ids), 1)
        with self.ws.catalog.transaction() as conn:
            conn.executemany(
                "UPDATE jobs SET status = ?, error = ?, error_type = ?, finished_at = ?, duration_s = ? "
                "WHERE job_id = ?",
                [("done" if result.ok else "failed", result.error, result.error_type, utcnow(), share, job_id)
                 for job_id in job_ids])


# -- progress -----------------------------------------------------------------------------------------
def _reporter(progress: Any) -> ProgressCallback:
    """A callback ``(done, total, row)`` from the ``progress`` argument of :func:`run`."""
    if callable(progress):
        return progress
    if progress in (None, False, "silent"):
        return lambda done, total, row: None
    if progress in (True, "auto", "text", "log"):
        def _print(done: int, total: int, row: Mapping[str, Any]) -> None:
            extra = f": {row['error']}" if row.get("error") else ""
            print(f"[batch {done}/{total}] {row['item']} {row['status']}{extra}", file=sys.stderr, flush=True)

        return _print
    raise ConfigError(f"Unknown progress={progress!r}; use 'auto', 'text', None or a callable(done, total, row).")


# -- the run ------------------------------------------------------------------------------------------
def _summary_frame(rows: list[dict[str, Any]]) -> Any:
    import pandas as pd

    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS)).astype(SUMMARY_COLUMNS)


def _write_summary(ws: Workspace, run_dir: Path, rows: list[dict[str, Any]]) -> Path:
    target = run_dir / "summary.parquet"
    with ws.storage.atomic_path(target) as tmp:
        _summary_frame(rows).to_parquet(tmp, index=False)
    return target


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
        When the run has no summary.
    """
    import pandas as pd

    ws = _open_workspace(workspace)
    path = ws.root / "runs" / validate_id(run_id, kind="run id") / "summary.parquet"
    try:
        return pd.read_parquet(path).astype(SUMMARY_COLUMNS)
    except (OSError, ValueError) as exc:
        raise BatchError(f"No readable batch summary at {path}: {exc}.", run_id=run_id) from exc


def _open_workspace(workspace: Workspace | str | os.PathLike[str] | None) -> Workspace:
    from .workspace import Workspace

    if isinstance(workspace, Workspace):
        return workspace
    return Workspace(workspace)


def _resolve_notebook(notebook: str | os.PathLike[str]) -> Path:
    path = Path(notebook).expanduser().resolve()
    if path.suffix != ".ipynb":
        raise BatchError(f"{path} is not a notebook: batch runs execute .ipynb files.", notebook=str(path))
    if not path.is_file():
        raise BatchError(f"The notebook {path} does not exist.", notebook=str(path))
    return path


def _validate_options(*, workers: int, chunk_size: int, timeout: float | None) -> None:
    if not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"workers must be an integer >= 1, got {workers!r}.")
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise ConfigError(f"chunk_size must be an integer >= 1, got {chunk_size!r}.")
    if timeout is not None and not timeout > 0:
        raise ConfigError(f"timeout must be a number of seconds > 0 (or None), got {timeout!r}.")


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


def run(notebook: str | os.PathLike[str], items: Any, *, parameters: Mapping[str, Any] | None = None,
        workers: int = 2, chunk_size: int = 1, out_dir: str | os.PathLike[str] | None = None,
        timeout: float | None = None, force: bool = False, progress: Any = "auto",
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
        past it is stopped and its item(s) fail with ``ItemTimeout``.
    force : bool
        Re-run items already done with the same notebook and parameters.
    progress : {"auto", "text", None} or callable
        ``"auto"``/``"text"`` print one line per finished item to stderr; ``None`` is silent;
        a callable gets ``(done, total, row)`` after each item.
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
        One row per item, columns :data:`SUMMARY_COLUMNS`; also written to
        ``runs/<run_id>/summary.parquet`` (``df.attrs["summary_path"]``, ``df.attrs["run_dir"]``).

    Raises
    ------
    BatchError
        When the notebook or the parameters cannot be used (before any kernel starts).
    SecretParameterError
        When a parameter looks like a secret.
    ConfigError
        For bad ``workers``/``chunk_size``/``timeout``/``progress`` values.
    """
    _validate_options(workers=workers, chunk_size=chunk_size, timeout=timeout)
    path = _resolve_notebook(notebook)
    params = dict(parameters or {})
    check_parameters(params)
    item_list = _item_list(items)
    report = _reporter(progress)
    ws = _open_workspace(workspace)
    fixed = _notebook_parameters(path, params, item_parameter=item_parameter,
                                 workspace_parameter=workspace_parameter, ws=ws)
    fingerprint = notebook_fingerprint(path)
    run_id = _new_run_id()
    run_dir = ws.storage.run_dir(run_id)
    target = Path(out_dir).expanduser().resolve() if out_dir is not None else run_dir
    target.mkdir(parents=True, exist_ok=True)

    book = _Book(ws=ws, run_id=run_id, params_hash=_params_hash(fingerprint, params, item_parameter),
                 input_hash=fingerprint)
    previous = {} if force else book.previous_outputs(item_list)
    rows: list[dict[str, Any]] = [
        {"run_id": run_id, "item": item, "chunk": None, "status": "skipped", "error": None, "error_type": None,
         "failed_cell": None, "output_notebook": previous[item], "duration_s": 0.0}
        for item in item_list if item in previous]
    for done, row in enumerate(rows, start=1):
        report(done, len(item_list), row)
    todo = [item for item in item_list if item not in previous]
    chunks = _chunks(todo, chunk_size=chunk_size, out_dir=target)
    _write_summary(ws, run_dir, rows)

    def request(chunk: Chunk) -> dict[str, Any]:
        return {"input": str(path), "output": str(chunk.output), "kernel_name": kernel_name, "cwd": str(path.parent),
                "start_timeout_s": start_timeout, "parameters": {**fixed, item_parameter: list(chunk.items)}}

    pool = _WorkerPool(size=workers, log_dir=run_dir / "logs")  # processes start on first use

    def execute(chunk: Chunk) -> ChunkResult:
        job_ids = book.start(chunk)
        limit = None if timeout is None else timeout * len(chunk.items)
        with pool.worker() as worker:
            answer = worker.execute(request(chunk), timeout_s=limit)
        result = ChunkResult(chunk=chunk, ok=bool(answer["ok"]), error=answer.get("error"),
                             error_type=answer.get("error_type"), failed_cell=answer.get("failed_cell"),
                             duration_s=float(answer.get("duration_s") or 0.0))
        book.finish(job_ids, result)
        return result

    next_index = len(chunks) + 1
    try:
        with cf.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="batch") as executor:
            pending = {executor.submit(execute, chunk) for chunk in chunks}
            while pending:
                finished, pending = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
                for future in finished:
                    result = future.result()
                    if not result.ok and len(result.chunk.items) > 1:
                        # Isolate the failure: each item of the failed chunk runs alone.
                        for item in result.chunk.items:
                            alone = Chunk(index=next_index, items=(item,), attempt=result.chunk.attempt + 1,
                                          output=target / _output_name((item,), next_index))
                            next_index += 1
                            pending.add(executor.submit(execute, alone))
                        continue
                    for row in result.to_rows(run_id):
                        rows.append(row)
                        report(len(rows), len(item_list), row)
                    _write_summary(ws, run_dir, rows)
    except BaseException:
        pool.stop_all()
        raise
    finally:
        pool.close()
    order = {item: n for n, item in enumerate(item_list)}
    rows.sort(key=lambda r: order[r["item"]])
    summary_path = _write_summary(ws, run_dir, rows)
    summary = _summary_frame(rows)
    summary.attrs["run_dir"] = str(run_dir)
    summary.attrs["summary_path"] = str(summary_path)
    return summary
