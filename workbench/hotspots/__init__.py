"""The hotspot engine: where crime concentrates, what is new, what is emerging, how good a forecast is.

Every function takes points as a DataFrame with lon/lat (EPSG:4326; projected
to the local UTM zone, or to ``crs=``), a DataFrame with x/y in metres plus
``crs=``, or a point GeoDataFrame, and works in metres. Grids are
``xarray.DataArray`` / ``Dataset`` with ``x``, ``y`` cell-centre coordinates
and ``attrs["crs"]``.

- :func:`grid_counts`, :func:`kde`: counts and kernel density surfaces.
- :func:`gistar`: Getis-Ord Gi* on grids or polygons (equal to esda).
- :func:`emerging`: Esri's emerging hot spot patterns from a space-time cube.
- :func:`clusters`: HDBSCAN / DBSCAN hot spot polygons.
- :func:`knox`: near-repeat Knox test by space and time bands.
- :func:`forecast`, :func:`score`: next-period hot spots (naive, KDE, ProMap) and hit rate / PAI / PEI.
- :func:`export`: GeoParquet, GeoJSON or CSV of any result.
"""

from workbench.hotspots._checks import HotspotWarning
from workbench.hotspots.clusters import cluster_labels, clusters
from workbench.hotspots.emerging import PATTERNS, emerging, emerging_from_cube, space_time_cube
from workbench.hotspots.export import export, to_frame, to_geodataframe
from workbench.hotspots.forecast import forecast, score
from workbench.hotspots.gistar import gistar
from workbench.hotspots.grid import Grid, grid_counts
from workbench.hotspots.kde import kde
from workbench.hotspots.nearrepeat import KnoxResult, knox

__all__ = [
    "PATTERNS", "Grid", "HotspotWarning", "KnoxResult", "cluster_labels", "clusters", "emerging",
    "emerging_from_cube", "export", "forecast", "gistar", "grid_counts", "kde", "knox", "score",
    "space_time_cube", "to_frame", "to_geodataframe",
]
