"""Write any hotspot result to GeoParquet, GeoJSON or CSV, ready for QGIS or ArcGIS.

Grids become one square polygon per cell with each (y, x) variable as a
column (and ``x``, ``y``: the cell centre in the working CRS). A result with
only (time, y, x) variables, such as a space-time cube, becomes one row per
cell and time step. Polygon results (Gi* on districts) keep their polygons.
Knox results are tables (CSV only).

Formats, chosen by the file suffix:

``.parquet`` / ``.geoparquet``
    GeoParquet in the working CRS (the CRS is stored in the file).
``.geojson`` / ``.json``
    GeoJSON in EPSG:4326, as RFC 7946 requires.
``.csv``
    One row per feature with ``lon``, ``lat`` (centre, EPSG:4326) and
    ``wkt`` (the polygon in EPSG:4326): QGIS "Delimited text" and ArcGIS
    "XY Table To Point" / WKT import read it directly.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import xarray as xr

from workbench.errors import HotspotInputError
from workbench.hotspots.nearrepeat import KnoxResult

SUFFIXES = {".parquet": "parquet", ".geoparquet": "parquet", ".geojson": "geojson", ".json": "geojson",
            ".csv": "csv"}


def _cells(ds, names, crs):
    cell = float(ds.attrs.get("cell_size_m") or abs(float(ds.x[1] - ds.x[0])))
    yy, xx = np.meshgrid(ds.y.values, ds.x.values, indexing="ij")
    columns = {"x": xx.ravel(), "y": yy.ravel()}
    for name in names:
        columns[name] = np.asarray(ds[name].values).ravel()
    half = cell / 2
    geometry = shapely.box(xx.ravel() - half, yy.ravel() - half, xx.ravel() + half, yy.ravel() + half)
    return gpd.GeoDataFrame(columns, geometry=geometry, crs=crs)


def to_geodataframe(result, *, drop_empty=False) -> gpd.GeoDataFrame:
    """A GeoDataFrame of any hotspot result (cells as polygons).

    Parameters
    ----------
    result : xarray.DataArray, xarray.Dataset or GeoDataFrame
        From grid_counts, kde, gistar, emerging, space_time_cube, forecast or
        clusters.
    drop_empty : bool
        Leave out cells whose numeric values are all 0 or NaN (smaller files
        for sparse grids).

    Returns
    -------
    geopandas.GeoDataFrame

    Examples
    --------
    >>> import pandas as pd
    >>> from workbench.hotspots import grid_counts
    >>> g = grid_counts(pd.DataFrame({"x": [250.0, 260.0], "y": [250.0, 450.0]}), 100,
    ...                 crs="EPSG:32616", bounds=(0, 0, 500, 500))
    >>> cells = to_geodataframe(g, drop_empty=True)
    >>> len(cells), cells["counts"].sum(), round(cells.geometry.area.iloc[0])
    (2, np.float64(2.0), 10000)
    """
    if isinstance(result, gpd.GeoDataFrame):
        return result
    if isinstance(result, xr.DataArray):
        attrs = dict(result.attrs)
        result = result.to_dataset(name=result.name or "value")
        result.attrs.update(attrs)
    if not isinstance(result, xr.Dataset):
        raise HotspotInputError(f"cannot make map features from a {type(result).__name__}")
    crs = result.attrs.get("crs") or None
    if "geometry" in result.coords:
        dim = result["geometry"].dims[0]
        names = [n for n, v in result.data_vars.items() if v.dims == (dim,)]
        frame = pd.DataFrame({n: result[n].values for n in names}, index=result[dim].values)
        out = gpd.GeoDataFrame(frame, geometry=list(result["geometry"].values), crs=crs)
    else:
        flat = [n for n, v in result.data_vars.items() if v.dims == ("y", "x")]
        cube = [n for n, v in result.data_vars.items() if v.dims == ("time", "y", "x")]
        if flat:
            out = _cells(result, flat, crs)
        elif cube:
            parts = []
            for i, t in enumerate(result.time.values):
                part = _cells(result.isel(time=i), cube, crs)
                part.insert(0, "time", pd.Timestamp(t).tz_localize("UTC"))
                parts.append(part)
            out = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=crs)
        else:
            raise HotspotInputError("the result has no (y, x) or (time, y, x) variables to export")
    if drop_empty:
        numeric = out.drop(columns=["x", "y", "geometry"], errors="ignore").select_dtypes("number")
        if numeric.shape[1]:
            out = out[(numeric.fillna(0) != 0).any(axis=1)]
    return out


def to_frame(result) -> pd.DataFrame:
    """A plain table of a result: a Knox table, or features with lon/lat and WKT (EPSG:4326)."""
    if isinstance(result, KnoxResult):
        return result.table.copy()
    if isinstance(result, pd.DataFrame) and not isinstance(result, gpd.GeoDataFrame):
        return result.copy()
    features = to_geodataframe(result)
    if features.crs is None:
        raise HotspotInputError("the result has no CRS, so lon/lat cannot be written")
    wgs84 = features.to_crs("EPSG:4326")
    centres = features.geometry.centroid.to_crs("EPSG:4326")
    table = pd.DataFrame(wgs84.drop(columns="geometry"))
    table["lon"] = centres.x.to_numpy()
    table["lat"] = centres.y.to_numpy()
    table["wkt"] = shapely.to_wkt(wgs84.geometry.values, rounding_precision=7)
    return table


def export(result, path, *, drop_empty=False) -> Path:
    """Write a result to GeoParquet, GeoJSON or CSV (by suffix); see the module docstring.

    Parameters
    ----------
    result
        Any hotspot result (grid, Dataset, GeoDataFrame or KnoxResult).
    path : str or Path
        Ends in .parquet, .geoparquet, .geojson, .json or .csv.
    drop_empty : bool
        As for :func:`to_geodataframe`.

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> import pandas as pd, tempfile, os
    >>> from workbench.hotspots import kde
    >>> d = kde(pd.DataFrame({"lon": [-87.63, -87.62, -87.64], "lat": [41.88, 41.87, 41.89]}), 200, bandwidth=300)
    >>> out = export(d, os.path.join(tempfile.mkdtemp(), "density.geojson"))
    >>> out.suffix
    '.geojson'
    """
    path = Path(path)
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise HotspotInputError(f"cannot tell the format of {path.name!r}; use one of {sorted(SUFFIXES)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "csv":
        table = to_frame(result)
        if drop_empty and not isinstance(result, KnoxResult):
            table = to_frame(to_geodataframe(result, drop_empty=True))
        table.to_csv(path, index=False)
        return path
    if isinstance(result, KnoxResult):
        raise HotspotInputError("a Knox result is a table with no geometry: write it as .csv")
    features = to_geodataframe(result, drop_empty=drop_empty)
    for name in features.columns:
        if features[name].dtype == object and name != features.geometry.name:
            features[name] = features[name].astype(str)
    if kind == "parquet":
        features.to_parquet(path)
    else:
        if features.crs is None:
            raise HotspotInputError("the result has no CRS; GeoJSON must be written in lon/lat")
        if path.exists():
            path.unlink()
        features.to_crs("EPSG:4326").to_file(path, driver="GeoJSON")
    return path
