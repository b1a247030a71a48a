"""Glue between the workspace and the stage modules: one module per stage.

Each module holds the stage's :class:`~soundforge.runner.StageSpec`, its
top-level work function (``work(payload, ctx)``: calls the pure stage module,
passes ``ctx.report`` as its progress callback), and the ``record`` /
``existing`` hooks the runner calls in the main process. Stage modules
(``spotify``, ``download``, ``analysis``, ``separation``) never import this
package, the runner or the workspace.
"""
