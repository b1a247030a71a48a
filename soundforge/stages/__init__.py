"""The stages: one module each, one stage object each (``STAGE``), and the registry of them.

Each module holds the stage's :class:`~soundforge.runner.spec.StageSpec`, its top-level
work function (``work(payload, ctx)``: calls the pure layer below, passes ``ctx.report``
as its progress callback), the ``record`` / ``existing`` hooks the runner calls in the
calling process, and a stage object whose ``plan(env, options, **request)`` turns a
request into work items (:mod:`soundforge.stages.base`). The layers below (``spotify``,
``download``, ``analysis``, ``separation``) never import this package, the runner or the
workspace; stages import the engine only from :mod:`soundforge.runner.spec`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .base import Stage

__all__ = ["STAGES", "get_stage"]

STAGES: dict[str, str] = {
    "import": "soundforge.stages.imports",
    "fetch": "soundforge.stages.fetch",
    "download": "soundforge.stages.download",
    "analyze": "soundforge.stages.analyze",
    "separate": "soundforge.stages.separate",
}
"""Stage name -> module holding its ``STAGE`` object (imported on first use)."""


def get_stage(name: str) -> Stage:
    """The stage object called ``name``.

    Raises
    ------
    ConfigError
        For an unknown name (the message lists the stages).
    """
    from ..errors import ConfigError

    if name not in STAGES:
        raise ConfigError(f"Unknown stage {name!r}; stages: {', '.join(STAGES)}.", stage=name)
    stage: Stage = importlib.import_module(STAGES[name]).STAGE
    return stage
