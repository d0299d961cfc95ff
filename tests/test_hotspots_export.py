"""Cluster polygons, and every result written to GeoParquet / GeoJSON / CSV that GIS tools can read."""

import geopandas as gpd
import libpysal
import numpy as np
import pandas as pd
import pytest

from workbench.errors import HotspotInputError
from workbench.hotspots import (cluster_labels, clusters, emerging, export, forecast, gistar, grid_counts, kde,
                                to_geodataframe)

CRS = "EPSG:32616"


@pytest.fixture(scope="module")
def events():
    rng = np.random.default_rng(13)
    hot_a = rng.normal((1000, 1000), 40, (150, 2))
    hot_b = rng.normal((3000, 2500), 60, (200, 2))
    noise = rng.uniform(0, 4000, (600, 2))
    xy = np.vstack([hot_a, hot_b, noise])
    days = rng.uniform(0, 56, len(xy))
    return pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1],
                         "occurred_at": pd.Timestamp("2024-03-01", tz="UTC") + pd.to_timedelta(days, "D")})


@pytest.mark.parametrize("method, kw", [("hdbscan", {"min_cluster_size": 40}),
                                        ("dbscan", {"eps_m": 45, "min_cluster_size": 12})])
def test_clusters_outline_the_planted_hot_spots(events, method, kw):
    hs = clusters(events, method, crs=CRS, **kw)
    assert hs.crs.to_epsg() == 32616 and list(hs["cluster_id"][:2]) == [1, 2]
    top2 = hs.head(2)
    for centre in [(1000, 1000), (3000, 2500)]:
        holds = top2.contains(gpd.points_from_xy([centre[0]], [centre[1]], crs=CRS)[0])
        assert holds.any()
    assert (top2["n_events"] >= 100).all()
    assert np.allclose(hs["density_per_km2"], hs["n_events"] / hs["area_km2"])
    labels, crs, _ = cluster_labels(events, method, crs=CRS, **kw)
    assert len(labels) == len(events) and hs.attrs["n_noise"] == int((labels < 0).sum())


def test_clusters_of_nothing_is_an_empty_layer(events):
    hs = clusters(events.sample(5, random_state=0), "hdbscan", min_cluster_size=15, crs=CRS)
    assert len(hs) == 0 and hs.attrs["n_noise"] == 5 and "density_per_km2" in hs.columns


def test_grid_results_become_cell_polygons_in_every_format(tmp_path, events):
    g = gistar(events, cell_size=200, crs=CRS, bounds=(0, 0, 4000, 4000))
    cells = to_geodataframe(g)
    assert len(cells) == g.sizes["x"] * g.sizes["y"]
    assert np.allclose(cells.geometry.area, 200 * 200)
    assert {"z", "p", "bin", "significant"} <= set(cells.columns)
    hot = cells.loc[cells["bin"].idxmax()]
    assert hot.geometry.contains(gpd.points_from_xy([hot["x"]], [hot["y"]])[0])

    parquet = export(g, tmp_path / "gistar.parquet")
    back = gpd.read_parquet(parquet)
    assert back.crs.to_epsg() == 32616 and np.allclose(back["z"], cells["z"], equal_nan=True)

    geojson = export(g, tmp_path / "gistar.geojson", drop_empty=True)
    back = gpd.read_file(geojson)
    assert back.crs.to_epsg() == 4326 and len(back) <= len(cells)
    assert back["value"].sum() == cells["value"].sum() == len(events)

    csv = pd.read_csv(export(g, tmp_path / "gistar.csv"))
    assert {"lon", "lat", "wkt", "z"} <= set(csv.columns) and len(csv) == len(cells)
    assert csv["wkt"].str.startswith("POLYGON").all() and csv["lat"].between(-90, 90).all()


def test_emerging_cube_kde_forecast_and_clusters_export(tmp_path, events):
    res = emerging(events, 250, "7D", crs=CRS, bounds=(0, 0, 4000, 4000))
    cells = to_geodataframe(res)
    assert "pattern" in cells.columns and "z" not in cells.columns  # per-cell variables only
    back = gpd.read_parquet(export(res, tmp_path / "emerging.parquet"))
    assert list(back["pattern"]) == list(cells["pattern"])
    cube = to_geodataframe(res[["counts", "z"]])
    assert {"time", "counts", "z"} <= set(cube.columns) and len(cube) == res["z"].size
    assert cube["counts"].sum() == len(events) - res.attrs["n_before"] and res.attrs["n_before"] > 0
    for result in (kde(events, 100, bandwidth=150, crs=CRS), forecast(events, "kde", cell_size=200, crs=CRS),
                   grid_counts(events, 200, crs=CRS), clusters(events, "hdbscan", min_cluster_size=40, crs=CRS)):
        out = export(result, tmp_path / "layer.geojson")
        assert len(gpd.read_file(out)) > 0


def test_polygon_gistar_exports_with_its_polygons(tmp_path):
    example = libpysal.examples.load_example("columbus")
    columbus = gpd.read_file(example.get_path("columbus.shp")).set_crs("EPSG:26917", allow_override=True)
    res = gistar(columbus, value="CRIME")
    layer = gpd.read_parquet(export(res, tmp_path / "columbus.parquet"))
    assert len(layer) == 49 and layer.geometry.geom_type.isin(["Polygon", "MultiPolygon"]).all()
    assert np.allclose(layer["z"], res["z"].values)
    with pytest.raises(HotspotInputError, match="format"):
        export(res, tmp_path / "columbus.shp")
