"""Engine results and geography as HoloViews elements in Web Mercator (drawing only).

Nothing here computes a statistic: grids and polygons come from the engines
(:func:`workbench.hotspots.to_geodataframe`, :func:`workbench.hotspots.clusters`,
:func:`workbench.trajectories.reachable`) and are reprojected for the map.
"""

from __future__ import annotations

import holoviews as hv
import numpy as np
import pandas as pd
import shapely

WEB_MERCATOR = "EPSG:3857"


def to_mercator_frame(gdf, value: str | None = None, keep=()) -> pd.DataFrame:
    """Polygons of a GeoDataFrame as a drawing table: one row per ring, ``xs`` / ``ys`` in Web Mercator.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        Polygons in any CRS (hot spot cells, clusters, reachable areas).
    value : str, optional
        The column that colours them.
    keep : sequence of str
        Extra columns for hover.

    Returns
    -------
    pandas.DataFrame
        ``xs``, ``ys`` (arrays) plus the value and kept columns.
    """
    if gdf is None or not len(gdf):
        return pd.DataFrame({"xs": [], "ys": []})
    projected = gdf.to_crs(WEB_MERCATOR).explode(index_parts=False)
    rings = shapely.get_exterior_ring(projected.geometry.to_numpy())
    coords = [shapely.get_coordinates(r) for r in rings]
    out = pd.DataFrame({"xs": [c[:, 0] for c in coords], "ys": [c[:, 1] for c in coords]})
    for column in ([value] if value else []) + list(keep):
        if column in projected.columns:
            values = projected[column]
            out[column] = values.astype(object).to_numpy() if values.dtype.kind not in "fiub" else values.to_numpy()
    return out


def polygons_element(frame: pd.DataFrame | None, value: str | None) -> hv.Polygons:
    """Filled polygons from :func:`to_mercator_frame` output, coloured by ``value``."""
    if frame is None or not len(frame):
        return hv.Polygons([], vdims=[value] if value else [])
    extra = [c for c in frame.columns if c not in ("xs", "ys")]
    data = [{("x", "y"): np.column_stack([xs, ys]), **{c: frame[c].iat[i] for c in extra}}
            for i, (xs, ys) in enumerate(zip(frame["xs"], frame["ys"]))]
    element = hv.Polygons(data, vdims=extra)
    opts = dict(line_width=0.3, line_color="#555555", fill_alpha=0.55, tools=["hover"])
    if value and value in extra:
        numeric = pd.api.types.is_numeric_dtype(frame[value])
        opts.update(color=value, cmap="YlOrRd" if numeric else "Category10", colorbar=numeric)
    return element.opts(**opts)


def points_element(frame: pd.DataFrame | None, *, marker: str, color: str, size: int) -> hv.Points:
    """A small point overlay (cameras, gunshot alerts) with its other columns on hover."""
    if frame is None or not len(frame):
        return hv.Points([], ["x", "y"])
    hover = [c for c in frame.columns if c not in ("x", "y")][:6]
    data = frame[["x", "y", *hover]].copy()
    for column in hover:
        if not pd.api.types.is_numeric_dtype(data[column]):
            data[column] = data[column].astype(str)
    return hv.Points(data, ["x", "y"], hover).opts(marker=marker, color=color, size=size, tools=["hover"],
                                                  line_color="white")


def paths_element(frame: pd.DataFrame | None) -> hv.Path:
    """Vehicle tracks: one line per ``path`` value (a trip), in time order."""
    if frame is None or not len(frame):
        return hv.Path([])
    paths = [{("x", "y"): group[["x", "y"]].to_numpy(), "path": str(name)}
             for name, group in frame.groupby("path", sort=False)]
    return hv.Path(paths, vdims=["path"]).opts(color="#7b2cbf", line_width=4, alpha=0.85, tools=["hover"])


def _lines(gdf) -> np.ndarray:
    """All line work of a GeoDataFrame as one NaN-separated Web Mercator array (one glyph)."""
    geoms = gdf.to_crs(WEB_MERCATOR).geometry
    if geoms.geom_type.isin(["Polygon", "MultiPolygon"]).any():
        geoms = geoms.boundary
    parts = shapely.get_parts(geoms.to_numpy())
    pieces = []
    for part in parts:
        pieces.append(shapely.get_coordinates(part))
        pieces.append(np.full((1, 2), np.nan))
    return np.vstack(pieces) if pieces else np.empty((0, 2))


def extent(workspace):
    """Web Mercator (xmin, ymin, xmax, ymax) of the city (districts, roads or incidents), for the map's view."""
    for name in ("districts", "roads"):
        gdf = getattr(workspace, name, None)
        if gdf is not None and len(gdf):
            return tuple(gdf.to_crs(WEB_MERCATOR).total_bounds)
    incidents = workspace.tables.get("incidents")
    if incidents is not None and len(incidents) and "web_x" in incidents:
        return (incidents["web_x"].min(), incidents["web_y"].min(), incidents["web_x"].max(), incidents["web_y"].max())
    return None


_BASEMAPS: dict = {}


def basemap(workspace, tiles: str = ""):
    """The base layer: the city's own streets and district lines, or named XYZ tiles.

    The street basemap makes no network request, so a dashboard works off-line;
    a tile layer is added only when the user names a ``tiles`` URL.
    """
    key = (id(workspace), tiles)
    if key in _BASEMAPS:
        return _BASEMAPS[key]
    elements = []
    if tiles:
        elements.append(hv.Tiles(tiles).opts(alpha=0.8))
    roads = getattr(workspace, "roads", None)
    if roads is not None and len(roads) and not tiles:
        major = roads[roads["road_class"].isin(["highway", "arterial", "bridge", "ramp"])] \
            if "road_class" in roads else roads.iloc[:0]
        minor = roads.drop(major.index)
        elements.append(hv.Path([_lines(minor)]).opts(color="#c9ced6", line_width=0.8))
        elements.append(hv.Path([_lines(major)]).opts(color="#8c96a3", line_width=2))
    districts = getattr(workspace, "districts", None)
    if districts is not None and len(districts):
        elements.append(hv.Path([_lines(districts)]).opts(color="#4b5563", line_width=1.5, line_dash="dashed"))
        centres = districts.to_crs(WEB_MERCATOR).representative_point()
        labels = pd.DataFrame({"x": centres.x, "y": centres.y, "district": districts["district"].astype(str)})
        elements.append(hv.Labels(labels, ["x", "y"], "district").opts(text_color="#374151", text_font_size="11pt",
                                                                       text_alpha=0.7))
    if not elements:
        elements.append(hv.Points([], ["x", "y"]))
    overlay = hv.Overlay(elements)
    _BASEMAPS[key] = overlay
    return overlay
