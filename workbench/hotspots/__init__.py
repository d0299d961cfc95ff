"""The hotspot engine: where crime concentrates, what is new, what is emerging, how good a forecast is.

Every function takes points as a DataFrame with lon/lat (EPSG:4326; projected
to the local UTM zone, or to ``crs=``), a DataFrame with x/y in metres plus
``crs=``, or a point GeoDataFrame, and works in metres. Grids are
``xarray.DataArray`` / ``Dataset`` with ``x``, ``y`` cell-centre coordinates
and ``attrs["crs"]``.

- :func:`grid_counts`, :func:`kde`: counts and kernel density surfaces.
- :func:`gistar`: Getis-Ord Gi* on grids or polygons (equal to esda).
- :func:`emerging`: Esri's emerging hot spot patterns from a space-time cube.
"""

from workbench.hotspots._checks import HotspotWarning
from workbench.hotspots.emerging import emerging, emerging_from_cube, space_time_cube
from workbench.hotspots.gistar import gistar
from workbench.hotspots.grid import Grid, grid_counts
from workbench.hotspots.kde import kde

__all__ = ["Grid", "HotspotWarning", "emerging", "emerging_from_cube", "gistar", "grid_counts", "kde",
           "space_time_cube"]
