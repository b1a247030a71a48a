"""Papermill batch runs: execute a parameterised notebook per track (or chunk of tracks), in parallel.

>>> import soundforge as sf
>>> ws = sf.Workspace("~/music-lab")                                          # doctest: +SKIP
>>> summary = sf.batch.run("notebooks/templates/track_report.ipynb", ws.tracks(),
...                        workspace=ws, workers=2, chunk_size=5)            # doctest: +SKIP
>>> summary[summary.status == "failed"][["item", "error", "output_notebook"]]  # doctest: +SKIP

How a run goes:

1. Everything is checked before any kernel starts: the notebook exists and
   declares the item parameter (``tracks``) in its cell tagged ``parameters``;
   every given parameter is declared there; no parameter and no item looks like a
   secret (:func:`check_parameters`: both are written into every output notebook,
   so notebooks read credentials from environment variables, which kernels inherit).
2. A batch run is a stage on the runner (:data:`soundforge.batch.notebook.BATCH`):
   one papermill execution of a chunk of ``chunk_size`` items is the stage's work
   function, run by the same engine as analysis and separation (``executor=``:
   worker processes by default, ``"dask"`` for a cluster). ``jobs`` rows (one per
   item and attempt), time limits that kill the kernel's process group, a failed
   chunk split so one bad track fails alone, resumability and progress all come
   from the runner. Items done before by the same notebook (same cell sources)
   with the same parameters and the same audio, whose output notebook still
   exists, are ``skipped`` unless ``force=True``.
3. Each worker keeps its kernel warm and resets it between notebooks (``reuse_kernel``,
   :mod:`soundforge.batch.kernels`). Inside a kernel, stages run in threads (a kernel is already a
   worker: no nested pool; ``stage_executor``).
4. An output notebook is written as ``.<name>.partial.ipynb`` and renamed when
   papermill is done, with ``metadata.soundforge.status`` (``completed``, ``failed``,
   or ``stopped`` for a timeout); a failed notebook is kept and the summary names
   the failing (or running) cell and the error.
5. Progress is shown like any stage's (:mod:`soundforge.progress`); the ``end``
   event carries the summary (:data:`SUMMARY_COLUMNS`), written to
   ``runs/<run_id>/summary.parquet``; ``runs/<run_id>/outputs.jsonl`` lists each
   item's output notebook as it finishes (what a rerun after a crash skips by).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import BatchError, ConfigError, InvalidIdError, SecretParameterError, SoundforgeError
from ..storage import validate_id

if TYPE_CHECKING:
    from ..runner.spec import WorkItem
    from ..workspace import Workspace

__all__ = [
    "STAGE",
    "SUMMARY_COLUMNS",
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

OUTPUTS = "outputs.jsonl"
"""File of a run folder listing, per done item, its output notebook (what a rerun skips by)."""

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
                                    and timeout > 0):
        raise ConfigError(f"timeout must be a number of seconds > 0 (math.inf: no limit; None: the default "
                          f"derived from the work), got {timeout!r}.")
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
def _check_items(items: list[str], *, item_parameter: str) -> None:
    """Items are written into output notebooks, their names, summaries and ``jobs``: same check as parameters."""
    try:
        check_parameters({item_parameter: items})
    except SecretParameterError as exc:
        var = exc.context.get("variable", "?")
        raise SecretParameterError(
            f"Refusing a batch item: it contains the value of the environment variable ${var}, and items are "
            "written into output notebooks, their file names, the summary and the jobs table. Pass track ids as "
            "items; let the notebook read secrets from os.environ.", variable=var) from None


def _previous_outputs(ws: Workspace) -> Any:
    """``existing(item)``: the output notebook of an earlier done execution of this item, if still there."""
    from .notebook import NotebookItem

    indexes: dict[str, dict[str, str]] = {}

    def index(run_id: str) -> dict[str, str]:
        if run_id not in indexes:
            found: dict[str, str] = {}
            with contextlib.suppress(OSError, InvalidIdError):
                lines = (ws.root / "runs" / validate_id(run_id, kind="run id") / OUTPUTS).read_text().splitlines()
                for line in lines:
                    with contextlib.suppress(ValueError, KeyError, TypeError):
                        entry = json.loads(line)
                        found[str(entry["item"])] = str(entry["output_notebook"])
            indexes[run_id] = found
        return indexes[run_id]

    def existing(item: WorkItem) -> dict[str, Any] | None:
        payload: NotebookItem = item.payload
        rows = ws.catalog.query("SELECT run_id FROM jobs WHERE stage = ? AND item = ? AND status = 'done' "
                                "ORDER BY job_id DESC", [STAGE, payload.item])
        for row in rows:
            notebook = index(row["run_id"]).get(payload.item)
            if notebook is not None and Path(notebook).is_file():
                return {"output_notebook": notebook, "duration_s": 0.0}
        return None

    return existing


def _recorder(run_dir: Path) -> Any:
    """``record``: append ``{item, output_notebook}`` to the run's ``outputs.jsonl`` (what reruns skip by)."""
    def record(conn: Any, item: WorkItem, value: Mapping[str, Any]) -> None:
        with open(run_dir / OUTPUTS, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"item": item.key, "output_notebook": value.get("output_notebook")}) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    return record


def _summary(result: Any, *, run_id: str, out_dir: Path, timeout: float | None) -> Any:
    """The runner's result -> :data:`SUMMARY_COLUMNS` (timeouts name the running cell; chunks numbered)."""
    from .notebook import output_name, settle_partial

    rows = []
    chunks: dict[str, int] = {}
    for rec in result.to_dict("records"):
        status, error = rec["status"], rec["error"]
        error = None if error is None or error is pd_na() else str(error)
        error_type = rec.get("error_type")
        error_type = None if error_type is None or error_type is pd_na() else str(error_type)
        failed_cell = rec.get("failed_cell")
        failed_cell = None if failed_cell is None or failed_cell is pd_na() else int(failed_cell)
        notebook = rec.get("output_notebook")
        notebook = None if notebook is None or notebook is pd_na() else str(notebook)
        if status == "failed" and error is not None:
            kind, _, text = error.partition(": ")
            if kind == "NotebookFailed":
                error = text
            else:
                error_type = kind
                if kind in ("ItemTimeout", "WorkerCrashed", "ItemCancelled"):
                    final = out_dir / output_name([rec["item"]])
                    cell, where = settle_partial(final, why=kind)
                    if cell is not None:
                        failed_cell, notebook = cell, str(final)
                    limit = re.search(r"past its ([0-9.]+) s time limit", error)
                    if kind == "ItemTimeout" and limit is not None:
                        error = (f"ItemTimeout: the notebook ran past its time limit of {float(limit.group(1)):g} s "
                                 f"and was stopped{where}")
                    elif where:
                        error = f"{error}{where}"
        chunk = None
        if status != "skipped" and notebook is not None:
            chunk = chunks.setdefault(notebook, len(chunks) + 1)
        duration = rec.get("duration_s")
        if duration is None or duration is pd_na() or status == "failed":
            duration = rec.get("seconds_taken") or 0.0
        rows.append({"run_id": run_id, "item": rec["item"], "chunk": chunk, "status": status, "error": error,
                     "error_type": error_type, "failed_cell": failed_cell, "output_notebook": notebook,
                     "duration_s": 0.0 if status == "skipped" else float(duration)})
    return _summary_frame(rows)


def pd_na() -> Any:
    import pandas as pd

    return pd.NA


def _write_summary(ws: Workspace, run_dir: Path, summary: Any) -> Path:
    target = run_dir / "summary.parquet"
    summary.attrs["run_dir"] = str(run_dir)
    summary.attrs["summary_path"] = str(target)
    with ws.storage.atomic_path(target) as tmp:
        summary.to_parquet(tmp, index=False)
    return target


def _finished_event(ws: Workspace, summary: Any, *, run_id: str, notebook: str, seconds: float,
                    run_dir: Path) -> None:
    """Write the ``batch.finished`` event (counts of the summary) to the outbox."""
    from ..events import outbox
    from ..events.types import batch_finished

    counts = summary["status"].value_counts()
    with ws.catalog.transaction() as conn:
        outbox.emit(conn, "batch.finished", batch_finished(
            run_id=run_id, notebook=notebook, total=len(summary), done=int(counts.get("done", 0)),
            skipped=int(counts.get("skipped", 0)), failed=int(counts.get("failed", 0)), seconds=seconds,
            summary_path=ws.storage.relative(run_dir / "summary.parquet")))


def run(notebook: str | os.PathLike[str], items: Any, *, parameters: Mapping[str, Any] | None = None,
        workers: int = 2, chunk_size: int = 1, out_dir: str | os.PathLike[str] | None = None,
        timeout: float | None = None, force: bool = False, progress: Any = "auto", errors: str = "record",
        kernel_name: str | None = None, workspace: Workspace | str | os.PathLike[str] | None = None,
        item_parameter: str = "tracks", workspace_parameter: str = "workspace",
        start_timeout: float = 120.0, executor: Any = None, stage_executor: str | None = "thread",
        reuse_kernel: bool = True) -> Any:
    """Execute a parameterised notebook with papermill for each item or chunk of items, on the runner.

    Parameters
    ----------
    notebook : path-like
        The ``.ipynb`` file; its cell tagged ``parameters`` must declare ``item_parameter``.
    items : list of str, pandas.Series or pandas.DataFrame
        Track ids (a DataFrame contributes its ``track_id`` column); duplicates are dropped.
    parameters : Mapping[str, Any], optional
        Other notebook parameters, the same for every chunk (JSON values; never secrets,
        see :func:`check_parameters`; items get the same check).
    workers : int
        Notebooks executed at the same time (each in its own kernel).
    chunk_size : int
        Items per execution. Larger chunks pay fewer kernel starts and imports; a failing
        chunk is re-run item by item so only the bad item fails.
    out_dir : path-like, optional
        Folder of the output notebooks; default ``runs/<run_id>/`` in the workspace.
    timeout : float, optional
        Time limit per item in seconds (default: 600 + 4 x the track's duration, 900 without audio;
        ``math.inf``: none; a chunk gets the sum over its items); a notebook
        past it is stopped with its kernel (their process groups killed) and its item(s) fail
        with ``ItemTimeout`` naming the running cell.
    force : bool
        Re-run items already done with the same notebook, parameters and audio.
    progress : {"auto", "widget", "text", "log", None} or callable
        How to show progress (see :mod:`soundforge.progress`); the ``end`` event carries the summary.
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
    executor : str, Executor or distributed.Client, optional
        Where executions run (default: worker processes; see :class:`soundforge.stages.base.RunOptions`).
    stage_executor : str or None
        Executor the stages inside each kernel use by default (``$SOUNDFORGE_EXECUTOR`` of the kernel).
        ``"thread"`` (default): in the kernel's process; a kernel is already a worker, so no nested
        worker pool is started (measured as fast as the stages' own processes for chunks of 10, and
        0.8 s per notebook faster for one track per notebook). ``None``: each stage's own.
    reuse_kernel : bool
        Each worker process keeps its kernel warm and resets it between notebooks (namespace cleared,
        folder restored, figures closed; imports stay loaded: :mod:`soundforge.batch.kernels`), so one
        track per notebook does not pay a kernel start and the notebook's imports every time. ``False``:
        a fresh kernel per notebook (papermill's isolation; use it for notebooks that change process-wide
        state). Only worker processes reuse kernels (not ``executor="thread"``).

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
        When a parameter or an item looks like a secret.
    ConfigError
        For bad ``workers``/``chunk_size``/``timeout``/``progress``/``errors``/``executor`` values.
    """
    import dataclasses

    from .. import validate as check
    from ..progress import ProgressEvent, make_reporter
    from ..runner import run_stage
    from ..runner.jobs import new_run_id
    from ..runner.spec import WorkItem
    from ..stages import limits
    from .notebook import BATCH, NotebookItem

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
    check.boolean(reuse_kernel, name="reuse_kernel", call=call)
    check.progress(progress, call=call)
    if workspace is not None and not hasattr(workspace, "catalog"):
        check.path_like(workspace, name="workspace", call=call, what="a Workspace, a folder path, or None")
    _validate_options(workers=workers, chunk_size=chunk_size, timeout=timeout, errors=errors)
    item_list = _item_list(items)
    path = _resolve_notebook(notebook)
    check_parameters(params)
    _check_items(item_list, item_parameter=item_parameter)
    reporter = make_reporter(progress)
    ws = _open_workspace(workspace)
    fixed = _notebook_parameters(path, params, item_parameter=item_parameter,
                                 workspace_parameter=workspace_parameter, ws=ws)
    hashed = {"notebook": notebook_fingerprint(path), "parameters": params, "item_parameter": item_parameter}
    run_id = new_run_id(STAGE)
    ws.storage.clean_stale()
    run_dir = ws.storage.run_dir(run_id)
    target = Path(out_dir).expanduser().resolve() if out_dir is not None else run_dir
    target.mkdir(parents=True, exist_ok=True)
    audio_rows = {r["track_id"]: r for r in ws.catalog.query("SELECT track_id, sha256, duration_s FROM audio")}
    input_hashes = {k: r["sha256"] for k, r in audio_rows.items()}
    kernel_env = {"SOUNDFORGE_EXECUTOR": stage_executor} if stage_executor else {}
    chosen = executor if executor is not None else ws.executor or BATCH.executor
    reusable = (chosen in ("process", "dask") or type(chosen).__name__ in ("ProcessExecutor", "DaskExecutor")
                or type(chosen).__module__.partition(".")[0] == "distributed")
    work = [WorkItem(key=item, input_hash=input_hashes.get(item),
                     timeout_s=limits.batch(audio_rows[item]["duration_s"] if item in audio_rows else None),
                     payload=NotebookItem(item=item, input=str(path), out_dir=str(target), parameters=fixed,
                                          item_parameter=item_parameter, kernel_name=kernel_name,
                                          start_timeout_s=start_timeout, kernel_env=kernel_env,
                                          log_dir=str(run_dir / "logs"),
                                          reuse_kernel=bool(reuse_kernel) and reusable))
            for item in item_list]
    captured: dict[str, Any] = {}

    def report(event: ProgressEvent) -> None:
        if event.kind == "end" and event.result is not None:
            captured["summary"] = _summary(event.result, run_id=run_id, out_dir=target, timeout=timeout)
            event = dataclasses.replace(event, result=captured["summary"])
        reporter(event)

    started = time.monotonic()
    failure: BaseException | None = None
    with ws.webhooks.delivering():
        try:
            run_stage(BATCH, work, catalog=ws.catalog, params=hashed, workers=workers, timeout=timeout, force=force,
                      progress=report, errors=errors, record=_recorder(run_dir), existing=_previous_outputs(ws),
                      executor=chosen,
                      run_id=run_id, chunk_size=chunk_size)
        except SoundforgeError as exc:
            if errors != "raise" or "summary" not in captured:
                raise
            failure = exc
        summary = captured["summary"]
        _write_summary(ws, run_dir, summary)
        try:
            _finished_event(ws, summary, run_id=run_id, notebook=path.name, seconds=time.monotonic() - started,
                            run_dir=run_dir)
        except Exception as exc:  # never hide the run's own outcome behind a notification
            from ..progress import logger

            logger.warning("batch %s: the batch.finished event could not be written (%s: %s)", run_id,
                           type(exc).__name__, exc)
    if failure is not None:
        bad = summary[summary["status"] == "failed"]
        first = bad.iloc[0] if len(bad) else None
        what = (f"[{first['item']!r}] failed: {first['error']}. The output notebook is kept at "
                f"{first['output_notebook']}" if first is not None else f"failed: {failure}")
        raise BatchError(f"Batch item(s) {what}; summary at {summary.attrs['summary_path']}.",
                         run_id=run_id) from failure
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
