"""From what a caller asks (``model="auto"``, a device, options) to a separation that can run on every track.

Everything backend-specific that must happen once, before any track is touched, lives
here: resolving ``"auto"``, checking the name, filling a backend's defaults from the
workspace's settings (demucs: the weights folder and offline mode) and checking that
weights are on the machine (:class:`~soundforge.errors.ModelNotAvailable` now, not per track).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .auto import AUTO, check_model, choose_model
from .base import resolve, result_params

__all__ = ["Prepared", "prepare"]


@dataclass(frozen=True)
class Prepared:
    """A separation ready to run.

    Attributes
    ----------
    model : str
        The model that will run (``"auto"`` resolved).
    reason : str or None
        Why ``"auto"`` chose it (``None`` when the caller named the model).
    options : Mapping[str, Any]
        The backend's complete, canonical options.
    params : Mapping[str, Any]
        The parameters that shape the result (hashed for resumability).
    stems : tuple[str, ...]
        Stem names in output order.
    """

    model: str
    reason: str | None
    options: Mapping[str, Any]
    params: Mapping[str, Any]
    stems: tuple[str, ...]


def prepare(model: str, *, device: str = "auto", repo: Path | None = None, offline: bool = False,
            **options: Any) -> Prepared:
    """Resolve and check a separation request before any work.

    Parameters
    ----------
    model : str
        ``"auto"``, a model name (``"dsp"``, ``"htdemucs"``...) or ``"backend:model"``.
    device : str
        Where the model runs (``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"``).
    repo : pathlib.Path, optional
        Folder holding demucs weights (the workspace's ``demucs_repo`` setting).
    offline : bool
        Never reach a model hub.
    **options
        Backend options (see :meth:`Separator.options`).

    Raises
    ------
    ConfigError
        Unknown model (listing the known ones) or bad options.
    ModelNotAvailable
        demucs weights are not on this machine (and downloads are not allowed), with instructions.
    """
    reason = None
    if model == AUTO:
        choice = choose_model(repo=repo)
        model, reason = choice.model, choice.reason
    elif isinstance(model, str) and ":" not in model:
        check_model(model, repo=repo)
    backend, name = resolve(model)
    defaults = {"repo": repo, "offline": offline or None} if backend.name == "demucs" else {}
    opts = backend.options(name, **{k: v for k, v in defaults.items() if v is not None}, **options, device=device)
    if backend.name == "demucs" and not opts["allow_download"]:
        from .demucs_weights import locate

        locate(name, repo=Path(opts["repo"]) if opts["repo"] else None)
    return Prepared(model=name, reason=reason, options=opts, params=result_params(name, opts),
                    stems=backend.stems(name))
