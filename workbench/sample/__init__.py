"""The synthetic city and RTCC scenario with planted ground truth.

Real agency data cannot be shared, so the workbench's embedded default data,
and the oracle of most tests, is a synthetic city whose truths we planted:

- :mod:`workbench.sample.city` builds the street network, river, highway,
  land use, districts and beats (:func:`build_city`);
- :mod:`workbench.sample.crime` generates incidents (seasonality, hot spots,
  near-repeat burglary), CAD calls and gunshot alerts;
- :mod:`workbench.sample.cameras` places the camera registry;
- :mod:`workbench.sample.cases` opens a case per incident, rolls the RTCC out
  district by district and clears cases with known effects;
- :mod:`workbench.sample.vehicles` simulates vehicles and ALPR reads;
- :mod:`workbench.sample.scenario` ties them together: :func:`generate`,
  :class:`Scenario` (``save`` / ``load``) and :func:`load_sample`.

Names are imported lazily so that ``import workbench.sample.city`` stays cheap.
"""

_EXPORTS = {
    "City": "workbench.sample.city",
    "build_city": "workbench.sample.city",
    "DEFAULT_ORIGIN": "workbench.sample.city",
    "Scenario": "workbench.sample.scenario",
    "generate": "workbench.sample.scenario",
    "load_sample": "workbench.sample.scenario",
    "sample_path": "workbench.sample.scenario",
}

__all__ = list(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        import importlib

        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'workbench.sample' has no attribute {name!r}")
