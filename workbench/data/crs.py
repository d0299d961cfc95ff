"""Coordinate reference systems: lon/lat in, a local metric CRS for engines, Web Mercator for views.

Engines measure in metres, so they project lon/lat (EPSG:4326) to the UTM zone
that holds the data unless the user names a CRS. Views draw in Web Mercator
(EPSG:3857), projected once.
"""

from __future__ import annotations

import numpy as np

from workbench.errors import WorkbenchError

WGS84 = "EPSG:4326"
WEB_MERCATOR = "EPSG:3857"


def utm_crs_for(lon, lat) -> str:
    """The UTM zone (as ``"EPSG:326NN"`` / ``"EPSG:327NN"``) holding the median of the points.

    Parameters
    ----------
    lon, lat : array-like of float
        Degrees, EPSG:4326. Missing values are ignored.

    Returns
    -------
    str

    Examples
    --------
    >>> utm_crs_for([-122.33], [47.61])   # Seattle
    'EPSG:32610'
    """
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    ok = np.isfinite(lon) & np.isfinite(lat)
    if not ok.any():
        raise WorkbenchError("cannot pick a UTM zone: no point has both lon and lat")
    lon0 = float(np.median(lon[ok]))
    lat0 = float(np.median(lat[ok]))
    if not (-180 <= lon0 <= 180 and -90 <= lat0 <= 90):
        raise WorkbenchError(
            f"cannot pick a UTM zone: median point ({lon0:.3f}, {lat0:.3f}) is not lon/lat degrees; "
            "are these coordinates already projected?"
        )
    zone = int((lon0 + 180) // 6) % 60 + 1
    return f"EPSG:{32600 + zone if lat0 >= 0 else 32700 + zone}"


def project(lon, lat, crs: str | None = None, *, source: str = WGS84):
    """Project lon/lat to ``crs`` (a UTM zone picked from the data if None).

    Returns
    -------
    x, y : numpy.ndarray
        Metres in ``crs``; NaN where the input was missing.
    crs : str
        The CRS used.
    """
    from pyproj import Transformer

    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    if crs is None:
        crs = utm_crs_for(lon, lat)
    transformer = Transformer.from_crs(source, crs, always_xy=True)
    x, y = transformer.transform(lon, lat)
    return np.asarray(x, dtype=float), np.asarray(y, dtype=float), crs


def unproject(x, y, crs: str):
    """Inverse of :func:`project`: metres in ``crs`` back to lon/lat."""
    from pyproj import Transformer

    transformer = Transformer.from_crs(crs, WGS84, always_xy=True)
    lon, lat = transformer.transform(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)


def to_web_mercator(lon, lat):
    """lon/lat to Web Mercator metres (EPSG:3857), vectorised without pyproj."""
    lon = np.asarray(lon, dtype=float)
    lat = np.clip(np.asarray(lat, dtype=float), -85.05112878, 85.05112878)
    radius = 6378137.0
    x = np.radians(lon) * radius
    y = np.log(np.tan(np.pi / 4 + np.radians(lat) / 2)) * radius
    return x, y
