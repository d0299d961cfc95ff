"""RTCC Workbench: analysis engines and dashboards for real-time crime centers.

The package is layered (data flows one way): ``workbench.data`` (canonical
tables, validation, readers, the store) -> ``workbench.sample`` (the synthetic
city) -> the engines (``hotspots``, ``trajectories``, ``evaluation``) -> ``ui``.
"""

__version__ = "0.1.0"


def load_sample(path=None):
    """Load the committed sample scenario (``data/sample``); see ``workbench.sample``."""
    from workbench.sample import load_sample as _load_sample

    return _load_sample(path)


__all__ = ["__version__", "load_sample"]
