"""``model="auto"``: the best separator whose weights are on this machine, else ``dsp``.

The choice is a small pure decision over what :func:`~soundforge.separation.demucs_weights.locate`
finds on disk (no torch import, no network): pretrained demucs models in order of
published quality, then ``dsp``, which needs no weights at all.

>>> from soundforge.separation.auto import choose_model
>>> choose_model(repo=None).model            # doctest: +SKIP
'dsp'
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError, ModelNotAvailable

__all__ = ["AUTO", "PREFERENCE", "Choice", "check_model", "choose_model", "known_models"]

AUTO = "auto"
"""The model name that asks for :func:`choose_model`."""

PREFERENCE: tuple[str, ...] = ("htdemucs_ft", "htdemucs", "hdemucs_mmi")
"""Four-stem demucs models ``auto`` tries, best first (demucs's published SDR on MUSDB18-HQ);
``htdemucs_6s`` is never chosen for you (its six stems are a different result)."""


@dataclass(frozen=True)
class Choice:
    """What ``model="auto"`` resolved to.

    Attributes
    ----------
    model : str
        The model that will run (``"htdemucs_ft"``... or ``"dsp"``).
    reason : str
        Why, in one sentence (shown by the CLI and kept in ``result.attrs``).
    """

    model: str
    reason: str


def choose_model(*, repo: str | Path | None = None) -> Choice:
    """The best separation model usable offline on this machine.

    Parameters
    ----------
    repo : str or pathlib.Path, optional
        Local demucs repo folder (``$SOUNDFORGE_DEMUCS_REPO``) searched before the caches.

    Returns
    -------
    Choice
        The first model of :data:`PREFERENCE` whose weights are found, else ``dsp``.
    """
    from .demucs_weights import locate

    for name in PREFERENCE:
        try:
            locate(name, repo=Path(repo) if repo else None)
        except ModelNotAvailable:
            continue
        return Choice(name, f"model 'auto' chose {name!r}: its weights are on this machine")
    return Choice("dsp", "model 'auto' chose 'dsp': no demucs weights are on this machine "
                         "(docs/separation.md says how to add them)")


def known_models() -> list[str]:
    """Every model name a user can pass: ``auto``, then the registry's documented models."""
    from .base import REGISTRY

    return [AUTO, *sorted(REGISTRY.models())]


def check_model(name: str, *, repo: str | Path | None = None) -> None:
    """Refuse a model name nobody knows: neither documented nor a custom model in the local demucs repo.

    Raises
    ------
    ConfigError
        The name is unknown; the message lists the known ones.
    """
    if name in known_models():
        return
    if repo and (Path(repo).expanduser() / f"{name}.yaml").is_file():
        return
    import difflib

    close = difflib.get_close_matches(name, known_models(), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ConfigError(f"Unknown separation model {name!r}; known models: {', '.join(known_models())} (or a custom "
                      f"demucs model whose {name}.yaml is in the demucs repo, SOUNDFORGE_DEMUCS_REPO).{hint}",
                      model=name)
