"""The :class:`Separator` protocol, the registry of backends, and :func:`separate`.

A *backend* (``"dsp"``, ``"demucs"``, or one you register) knows one or more
*models* (``"dsp"``; ``"htdemucs"``, ``"htdemucs_ft"``, ``"htdemucs_6s"``,
``"hdemucs_mmi"``...). :func:`separate` finds the backend that claims a model
name (or takes an explicit ``"backend:model"``), validates the options before
any work, and lets the backend stream the stems to ``out_dir/<stem>.flac``.

>>> from soundforge.separation import separate
>>> paths = separate("song.flac", model="dsp", out_dir="stems/")   # doctest: +SKIP
>>> sorted(paths)                                                  # doctest: +SKIP
['bass', 'drums', 'other', 'vocals']
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ..errors import ConfigError
from ..storage import validate_id
from .streaming import AudioSource, CancelCallback, Control, ProgressCallback

__all__ = ["EXECUTION_OPTIONS", "REGISTRY", "Registry", "Separator", "resolve", "result_params", "separate"]

EXECUTION_OPTIONS = frozenset({"device", "jobs", "repo", "offline", "allow_download"})
"""Options that change where or how fast a separation runs, not what it produces."""


@runtime_checkable
class Separator(Protocol):
    """What a separation backend provides.

    Backends are stateless between calls (a model is loaded inside
    :meth:`separate`), so one instance can serve any number of tracks and can be
    rebuilt cheaply in worker processes.

    Attributes
    ----------
    name : str
        Backend name in the registry (``"dsp"``, ``"demucs"``).
    """

    name: str

    def models(self) -> tuple[str, ...]:
        """Model names this backend documents (it may accept others, see :meth:`claims`)."""
        ...

    def claims(self, model: str) -> bool:
        """Whether ``model`` (without a ``backend:`` prefix) is this backend's."""
        ...

    def stems(self, model: str) -> tuple[str, ...]:
        """Stem names ``model`` produces, in output order."""
        ...

    def options(self, model: str, **opts: Any) -> dict[str, Any]:
        """Validate options and return them complete and canonical (defaults filled in).

        The result is JSON-serialisable and is what identifies a separation for
        resumability (see :func:`params_hash`). Raises
        :class:`~soundforge.errors.ConfigError` for unknown or bad options.
        """
        ...

    def separate(self, source: AudioSource, *, model: str, out_dir: Path, options: Mapping[str, Any],
                 control: Control, tmp_dir: Path | None = None) -> dict[str, Path]:
        """Separate ``source`` into ``out_dir/<stem>.flac`` files (same rate, channels, length as the mix).

        Call ``control.check()`` between chunks and ``control.report(percent)`` as work advances.
        """
        ...


class Registry:
    """Backends by name, created lazily from ``"module:attribute"`` factories.

    Lookups import the backend module only when it is first needed, so
    ``import soundforge.separation`` never imports torch or demucs.
    """

    def __init__(self, factories: Mapping[str, str | Callable[[], Separator]] | None = None) -> None:
        self._factories: dict[str, str | Callable[[], Separator]] = dict(factories or {})

    def register(self, name: str, factory: str | Callable[[], Separator]) -> None:
        """Add or replace a backend: ``factory`` is a callable returning a :class:`Separator` or ``"module:attr"``."""
        validate_id(name, kind="backend name")
        self._factories[name] = factory

    def names(self) -> tuple[str, ...]:
        """Registered backend names, in registration order."""
        return tuple(self._factories)

    def get(self, name: str) -> Separator:
        """The backend called ``name``."""
        try:
            factory = self._factories[name]
        except KeyError:
            raise ConfigError(f"Unknown separation backend {name!r}; registered backends are "
                              f"{list(self._factories)}.") from None
        if isinstance(factory, str):
            module, _, attr = factory.partition(":")
            factory = getattr(importlib.import_module(module), attr)
        backend = factory()
        if not isinstance(backend, Separator):
            raise ConfigError(f"Separation backend {name!r} does not implement the Separator protocol.")
        return backend

    def models(self) -> dict[str, str]:
        """Documented model name -> backend name."""
        return {m: name for name in self._factories for m in self.get(name).models()}


REGISTRY = Registry({"dsp": "soundforge.separation.dsp:DspSeparator",
                     "demucs": "soundforge.separation.demucs:DemucsSeparator"})
"""The default registry: ``dsp`` first (it claims only ``"dsp"``), then ``demucs`` (any other name)."""


def resolve(model: str, *, registry: Registry = REGISTRY) -> tuple[Separator, str]:
    """Find the backend of ``model``; returns ``(backend, model name without prefix)``.

    ``"backend:model"`` names the backend explicitly; otherwise the first
    registered backend that claims the name wins.
    """
    if not isinstance(model, str) or not model:
        raise ConfigError(f"model must be a non-empty string such as 'dsp' or 'htdemucs', got {model!r}.")
    if ":" in model:
        backend_name, _, name = model.partition(":")
        backend = registry.get(backend_name)
    else:
        name = model
        for backend_name in registry.names():
            backend = registry.get(backend_name)
            if backend.claims(name):
                break
        else:
            raise ConfigError(f"No separation backend handles model {model!r}; known models: "
                              f"{sorted(registry.models())}.")
    validate_id(name, kind="model name")
    return backend, name


def result_params(model: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters that shape a separation's result: the model and its options minus :data:`EXECUTION_OPTIONS`.

    Two separations with equal result parameters give the same stems (up to
    float rounding and demucs's random shifts), so one can stand for the other.
    """
    return {"model": model, **{k: v for k, v in sorted(options.items()) if k not in EXECUTION_OPTIONS}}


def separate(path: str | os.PathLike[str], *, model: str = "dsp", out_dir: str | os.PathLike[str],
             progress: ProgressCallback | None = None, cancel: CancelCallback | None = None,
             timeout_s: float | None = None, tmp_dir: str | os.PathLike[str] | None = None,
             max_duration_s: float | None = 4 * 3600.0, ffmpeg: str = "ffmpeg", registry: Registry = REGISTRY,
             on_warning: Callable[[str], None] | None = None, **opts: Any) -> dict[str, Path]:
    """Separate one audio file into stems written as ``out_dir/<stem>.flac``.

    Memory stays bounded whatever the track length: the audio is decoded,
    separated and written in overlapping chunks. Each stem file has the mix's
    sample rate, channel count and length (24-bit FLAC); files appear only when
    all of them are complete.

    Parameters
    ----------
    path : str or os.PathLike
        The mix (any format :mod:`soundforge.audio` decodes).
    model : str
        ``"auto"`` (the best demucs model whose weights are here, else ``"dsp"``; see
        :mod:`soundforge.separation.auto`), ``"dsp"`` (signal processing, no weights) or a demucs model: ``"htdemucs"``,
        ``"htdemucs_ft"``, ``"htdemucs_6s"``, ``"hdemucs_mmi"``, or any name in your
        local demucs repo; ``"backend:model"`` picks a backend explicitly.
    out_dir : str or os.PathLike
        Folder receiving ``<stem>.flac`` (created; existing stems are replaced).
    progress : callable, optional
        ``progress(percent)``, percent in [0, 100] for this file; reaches 100 on success.
    cancel : callable, optional
        ``cancel() -> bool`` polled between chunks; ``True`` stops the work with
        :class:`~soundforge.errors.ItemCancelled` and leaves no stem file behind.
    timeout_s : float, optional
        Seconds allowed; past it the work stops with :class:`~soundforge.errors.ItemTimeout`.
    tmp_dir : str or os.PathLike, optional
        Folder for partial files (default ``out_dir``; must be on the same file system).
    max_duration_s : float or None
        Longest accepted input, in seconds (``None``: no limit).
    ffmpeg : str
        ffmpeg executable for formats soundfile cannot decode.
    registry : Registry
        Where backends are looked up.
    on_warning : callable, optional
        ``on_warning(message)`` for what the user should know about the stems (samples above full
        scale that had to be clipped: stems never clip silently).
    **opts
        Backend options. ``dsp``: ``chunk_s``. demucs: ``device`` (``"auto"``, ``"cpu"``,
        ``"cuda"``, ``"cuda:1"``, ``"mps"``), ``segment``, ``overlap``, ``shifts``, ``jobs``,
        ``repo``, ``offline``, ``allow_download``, ``chunk_s``.

    Returns
    -------
    dict[str, pathlib.Path]
        Stem name -> written file, in the model's stem order.

    Raises
    ------
    ConfigError
        Unknown model or bad options (before any work).
    AudioError
        Unreadable, empty, corrupt, NaN or too long input.
    ModelNotAvailable
        demucs weights not found locally (says how to provide them).
    ItemCancelled, ItemTimeout
        Stopped by ``cancel`` or ``timeout_s``.
    SeparationError
        The backend failed.
    """
    if model == "auto":
        from .auto import choose_model

        model = choose_model(repo=opts.get("repo")).model
    elif isinstance(model, str) and ":" not in model and registry is REGISTRY:
        from .auto import check_model

        check_model(model, repo=opts.get("repo"))
    backend, name = resolve(model, registry=registry)
    options = backend.options(name, **opts)
    if timeout_s is not None and not timeout_s > 0:
        raise ConfigError(f"timeout_s must be a positive number of seconds, got {timeout_s!r}.")
    from .. import audio

    info = audio.probe(Path(path), max_duration_s=max_duration_s, ffmpeg=ffmpeg)
    control = Control(progress=progress, cancel=cancel, timeout_s=timeout_s, what=str(info.path),
                      on_warning=on_warning)
    control.report(0.0)
    result = backend.separate(AudioSource(info, ffmpeg=ffmpeg), model=name, out_dir=Path(out_dir), options=options,
                              control=control, tmp_dir=Path(tmp_dir) if tmp_dir is not None else None)
    control.report(100.0)
    return result
