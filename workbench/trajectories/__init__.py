"""The vehicle trajectory engine: plates, search, trips, routes, next camera, convoys, hotlists.

- :func:`normalize_plate`, :func:`canonical_plate`, :data:`LOOKALIKE_CLASSES`: plates and look-alikes.
- :func:`search`, :class:`PlateIndex`: full / partial / look-alike plate search (audited).
- :func:`reconstruct` -> :class:`Trips`: trips, legs with routes, impossible travel, quarantine.
- :class:`CameraNetwork`: travel times, distances and routes between cameras.
- :class:`NextCameraModel`: direction-aware next camera with arrival windows.
- :func:`reachable`: the area and cameras a vehicle can reach in N minutes.
- :func:`convoys`: plates travelling together, with the shared sightings.
- :func:`vehicles_near`, :func:`common_vehicles`: stakeout and series linking (audited).
- :class:`Hotlist`, :func:`hits`: plates of interest, live and past hits (audited).
"""

from workbench.trajectories.convoys import convoys
from workbench.trajectories.hotlists import Hotlist, hits
from workbench.trajectories.near import common_vehicles, vehicles_near
from workbench.trajectories.network import CameraNetwork
from workbench.trajectories.nextcamera import NextCameraModel
from workbench.trajectories.plates import (LOOKALIKE_CLASSES, canonical_plate, check_pattern, normalize_plate,
                                           normalize_state)
from workbench.trajectories.reachable import Reachable, reachable
from workbench.trajectories.reconstruct import Trips, reconstruct
from workbench.trajectories.search import PlateIndex, search

__all__ = [
    "CameraNetwork", "Hotlist", "LOOKALIKE_CLASSES", "NextCameraModel", "PlateIndex", "Reachable", "Trips",
    "canonical_plate", "check_pattern", "common_vehicles", "convoys", "hits", "normalize_plate",
    "normalize_state", "reachable", "reconstruct", "search", "vehicles_near",
]
