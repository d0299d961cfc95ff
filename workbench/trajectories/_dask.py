"""Hand dask DataFrames of reads to :mod:`workbench.scale.trajectories`, so user code keeps its shape.

``reconstruct(reads, ...)``, ``search``, ``convoys`` and ``vehicles_near`` take a
pandas DataFrame; given a dask DataFrame they call the scale version of the same
name with the same arguments (which partitions the work and calls back into the
in-memory engine per partition). Arguments the scale version does not take are
refused with a plain error rather than ignored.
"""

from __future__ import annotations

import functools
import inspect

from workbench.errors import TrajectoryError


def _is_dask(obj) -> bool:
    return type(obj).__module__.split(".")[0] in ("dask", "dask_expr") and hasattr(obj, "to_delayed")


def dask_aware(name: str):
    """Decorate an engine function whose first argument is ``reads``."""

    def wrap(func):
        signature = inspect.signature(func)

        @functools.wraps(func)
        def dispatch(*args, **kwargs):
            if not args or not _is_dask(args[0]):
                return func(*args, **kwargs)
            from workbench.scale import trajectories as scale

            target = getattr(scale, name)
            bound = signature.bind(*args, **kwargs)
            given = {k: v for k, v in bound.arguments.items() if k != "reads"}
            accepted = inspect.signature(target).parameters
            takes_any = any(p.kind is p.VAR_KEYWORD for p in accepted.values())
            unsupported = [k for k, v in given.items()
                           if k not in accepted and not takes_any and v != signature.parameters[k].default]
            if unsupported:
                raise TrajectoryError(f"{name} on a dask DataFrame does not take {', '.join(unsupported)}; "
                                      "filter the reads first or compute them to pandas")
            given = {k: v for k, v in given.items() if k in accepted or takes_any}
            return target(args[0], **given)

        return dispatch

    return wrap
