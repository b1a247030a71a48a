"""Argument checks for the public entry points: the right type and a usable value, before any work.

Every public function (``Workspace`` methods, :func:`soundforge.analysis.analyze`,
:func:`soundforge.batch.run`) checks its arguments first with these helpers, so a
wrong type never surfaces as a raw ``TypeError`` deep inside pandas, sqlite or
numpy. Each check raises :class:`~soundforge.errors.InvalidArgument` (a
``ConfigError`` and a ``TypeError``) whose message names the call, the argument as
``name=value`` and what it expects, in the caller's words (Python keywords; the
command line rewrites ``workers=`` into ``--workers``...).

>>> from soundforge import validate
>>> validate.positive_int(2, name="workers", call="ws.analyze")
2
>>> try:
...     validate.positive_int(0, name="workers", call="ws.analyze")
... except validate.InvalidArgument as exc:
...     print(exc)
ws.analyze: workers=0 is not usable; give a whole number >= 1, or None for the default.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping
from numbers import Real
from pathlib import Path
from typing import Any

from .errors import InvalidArgument

__all__ = ["ERRORS_MODES", "PROGRESS_MODES", "InvalidArgument", "boolean", "callable_or_none", "choice", "items",
           "mapping", "optional_string", "path_like", "paths", "positive_int", "progress", "run_options",
           "seconds", "shown", "string", "strings", "tracks"]

PROGRESS_MODES = ("auto", "widget", "text", "log")
"""String values of ``progress=`` (besides ``None`` and a callable)."""

ERRORS_MODES = ("record", "raise")
"""Values of ``errors=``."""

_SHOWN = 60


def shown(value: Any) -> str:
    """``repr(value)`` cut to 60 characters, with its type unless the repr shows it (``b'x' (bytes)``)."""
    text = repr(value)
    if len(text) > _SHOWN:
        text = text[:_SHOWN - 3] + "..."
    kind = type(value).__name__
    plain = ("str", "NoneType", "int", "float", "bool", "list", "tuple", "dict")
    return text if kind in plain or text.startswith(kind) else f"{text} ({kind})"


def _fail(call: str, name: str, value: Any, expected: str) -> InvalidArgument:
    return InvalidArgument(f"{call}: {name}={shown(value)} is not usable; {expected}.", argument=name,
                           value=shown(value))


def _is_real(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def string(value: Any, *, name: str, call: str, what: str = "a non-empty string") -> str:
    """A non-empty ``str`` (not bytes, not blank).

    Parameters
    ----------
    value : Any
        The argument.
    name : str
        Its keyword, as the caller wrote it (``"track_id"``).
    call : str
        The entry point, as the caller wrote it (``"ws.play"``).
    what : str
        What a good value is, for the message (``"a track id such as 'local-0a1b...'"``).

    Returns
    -------
    str
    """
    if not isinstance(value, str) or not value.strip():
        raise _fail(call, name, value, f"give {what}")
    return value


def optional_string(value: Any, *, name: str, call: str, what: str = "a non-empty string") -> str | None:
    """``None`` or a non-empty ``str``."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise _fail(call, name, value, f"give {what}, or None")
    return value


def strings(value: Any, *, name: str, call: str, what: str = "a string or a list of strings") -> list[str]:
    """One non-empty ``str`` or an iterable of them (not a mapping, not bytes); returns a list."""
    if isinstance(value, str):
        return [string(value, name=name, call=call, what=what)]
    if value is None or isinstance(value, (bytes, bytearray, Mapping)) or not isinstance(value, Iterable):
        raise _fail(call, name, value, f"give {what}")
    out = list(value)
    for element in out:
        if not isinstance(element, str) or not element.strip():
            raise InvalidArgument(f"{call}: {name} holds {shown(element)}, which is not a non-empty string; "
                                  f"give {what}.", argument=name, value=shown(element))
    return out


def path_like(value: Any, *, name: str, call: str, what: str = "a path (str or pathlib.Path)") -> Path:
    """A ``str`` or ``os.PathLike`` naming a path (not bytes, not empty, no NUL byte); returns a ``Path``."""
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value.strip() or "\x00" in value:
        raise _fail(call, name, value, f"give {what}")
    return Path(value)


def paths(value: Any, *, name: str, call: str,
          what: str = "a path, a glob pattern or a list of them (str or pathlib.Path)") -> list[str | os.PathLike[str]]:
    """One path-like or an iterable of them; returns them as a list (each checked with :func:`path_like`)."""
    if isinstance(value, (str, os.PathLike)):
        path_like(value, name=name, call=call, what=what)
        return [value]
    if value is None or isinstance(value, (bytes, bytearray, Mapping)) or not isinstance(value, Iterable):
        raise _fail(call, name, value, f"give {what}")
    out = list(value)
    for element in out:
        if not isinstance(element, (str, os.PathLike)):
            raise InvalidArgument(f"{call}: {name} holds {shown(element)}, which is not a path; give {what}.",
                                  argument=name, value=shown(element))
        path_like(element, name=name, call=call, what=what)
    return out


def tracks(value: Any, *, name: str = "tracks", call: str, allow_none: bool = True) -> Any:
    """``None`` (when allowed), a track id, an iterable of ids, or a DataFrame/Series with track ids.

    A DataFrame must have a ``track_id`` column. Returns ``value`` unchanged (iterators are
    turned into a list so they can be read twice).
    """
    expected = ("a track id (str), a list of track ids, or a DataFrame with a 'track_id' column such as "
                "ws.tracks()" + (", or None for all" if allow_none else ""))
    if value is None:
        if allow_none:
            return None
        raise _fail(call, name, value, f"give {expected}")
    if isinstance(value, str):
        return string(value, name=name, call=call, what=expected)
    if hasattr(value, "columns"):
        if "track_id" not in value.columns:
            raise InvalidArgument(f"{call}: the {name} DataFrame has no 'track_id' column (columns: "
                                  f"{list(value.columns)[:8]}); give {expected}.", argument=name)
        return value
    if hasattr(value, "dtype") and hasattr(value, "tolist"):  # Series / array of ids
        value = value.tolist()
    if isinstance(value, (bytes, bytearray, Mapping)) or not isinstance(value, Iterable):
        raise _fail(call, name, value, f"give {expected}")
    out = list(value)
    for element in out:
        if not isinstance(element, str) or not element.strip():
            raise InvalidArgument(f"{call}: {name} holds {shown(element)}, which is not a track id; give "
                                  f"{expected}.", argument=name, value=shown(element))
    return out


def items(value: Any, *, name: str = "items", call: str) -> Any:
    """Batch items: a track id, an iterable of ids, or a DataFrame/Series of them (not ``None``)."""
    return tracks(value, name=name, call=call, allow_none=False)


def positive_int(value: Any, *, name: str, call: str, allow_none: bool = True) -> int | None:
    """A whole number >= 1 (``bool`` refused), or ``None`` when allowed."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _fail(call, name, value,
                    "give a whole number >= 1" + (", or None for the default" if allow_none else ""))
    return int(value)


def seconds(value: Any, *, name: str, call: str, allow_none: bool = True, allow_zero: bool = False) -> float | None:
    """A finite number of seconds > 0 (``>= 0`` with ``allow_zero``), or ``None`` when allowed."""
    if value is None and allow_none:
        return None
    ok = _is_real(value) and math.isfinite(float(value)) and (float(value) >= 0 if allow_zero else float(value) > 0)
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise _fail(call, name, value, f"give a finite number of seconds {bound}"
                    + (", or None for no limit" if allow_none else ""))
    return float(value)


def boolean(value: Any, *, name: str, call: str) -> bool:
    """``True`` or ``False`` (numpy booleans too; not ``"yes"``, not 1)."""
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return bool(value)
    raise _fail(call, name, value, "give True or False")


def choice(value: Any, choices: Iterable[Any], *, name: str, call: str) -> Any:
    """One of ``choices`` (compared with ``==``, strings only match strings)."""
    options = list(choices)
    if not any(type(value) is type(c) and value == c for c in options):
        raise _fail(call, name, value, f"choose one of {', '.join(map(repr, options))}")
    return value


def mapping(value: Any, *, name: str, call: str, allow_none: bool = True) -> dict[str, Any]:
    """A mapping with ``str`` keys (``None`` -> ``{}`` when allowed); returns a dict copy."""
    if value is None and allow_none:
        return {}
    if not isinstance(value, Mapping):
        raise _fail(call, name, value, "give a dict of name -> value" + (", or None" if allow_none else ""))
    bad = [k for k in value if not isinstance(k, str) or not k]
    if bad:
        raise InvalidArgument(f"{call}: {name} has key {shown(bad[0])}; every key must be a non-empty string.",
                              argument=name, value=shown(bad[0]))
    return dict(value)


def progress(value: Any, *, call: str, name: str = "progress") -> Any:
    """``"auto"``, ``"widget"``, ``"text"``, ``"log"``, ``None`` or a callable."""
    if value is None or callable(value) or (isinstance(value, str) and value in PROGRESS_MODES):
        return value
    raise _fail(call, name, value, f"choose one of {', '.join(map(repr, PROGRESS_MODES))}, None, or a callable "
                "taking a ProgressEvent")


def run_options(*, call: str, workers: Any = None, timeout: Any = None, force: Any = False,
                progress_: Any = "auto", errors: Any = "record") -> None:
    """Check the runner keywords every stage method shares: ``workers``, ``timeout``, ``force``,
    ``progress`` and ``errors``."""
    positive_int(workers, name="workers", call=call)
    seconds(timeout, name="timeout", call=call)
    boolean(force, name="force", call=call)
    progress(progress_, call=call)
    choice(errors, ERRORS_MODES, name="errors", call=call)


def callable_or_none(value: Any, *, name: str, call: str) -> Callable[..., Any] | None:
    """``None`` or a callable."""
    if value is None or callable(value):
        return value
    raise _fail(call, name, value, "give a function, or None")
