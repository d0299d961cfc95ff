"""The vehicle trajectory engine: plates, search, trips, routes, next camera, convoys, hotlists.

- :func:`normalize_plate`, :func:`canonical_plate`, :data:`LOOKALIKE_CLASSES`: plates and look-alikes.
- :func:`search`, :class:`PlateIndex`: full / partial / look-alike plate search (audited).
- :func:`reconstruct` -> :class:`Trips`: trips, legs with routes, impossible travel, quarantine.
- :class:`CameraNetwork`: travel times, distances and routes between cameras.
"""

from workbench.trajectories.network import CameraNetwork
from workbench.trajectories.plates import (LOOKALIKE_CLASSES, canonical_plate, check_pattern, normalize_plate,
                                           normalize_state)
from workbench.trajectories.reconstruct import Trips, reconstruct
from workbench.trajectories.search import PlateIndex, search

__all__ = [
    "CameraNetwork", "LOOKALIKE_CLASSES", "PlateIndex", "Trips", "canonical_plate", "check_pattern",
    "normalize_plate", "normalize_state", "reconstruct", "search",
]
