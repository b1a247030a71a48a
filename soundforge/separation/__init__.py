"""Source separation: split a mix into stems (DESIGN §6).

Backends behind one :class:`Separator` protocol, found through a registry:

``dsp``
    Signal processing, no weights: vocals, drums, bass, other
    (:mod:`soundforge.separation.dsp`).
``demucs``
    demucs 4 models (``htdemucs``, ``htdemucs_ft``, ``htdemucs_6s``, ``hdemucs_mmi``, or
    any model in a local demucs repo) with weights from a local folder or a
    pre-filled cache (:mod:`soundforge.separation.demucs`).

:func:`separate` streams any length of audio through a backend in chunks and
writes ``<stem>.flac`` files with the mix's sample rate, channels and length.
Importing this package is cheap: torch and demucs load only when a demucs model runs.
"""

from __future__ import annotations

from .base import EXECUTION_OPTIONS, REGISTRY, Registry, Separator, resolve, result_params, separate

__all__ = ["EXECUTION_OPTIONS", "REGISTRY", "Registry", "Separator", "resolve", "result_params", "separate",
           "stems_of"]


def stems_of(model: str) -> tuple[str, ...]:
    """Stem names ``model`` produces (e.g. ``("vocals", "drums", "bass", "other")`` for ``"dsp"``)."""
    backend, name = resolve(model)
    return backend.stems(name)
