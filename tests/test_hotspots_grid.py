"""Grids and kernel density: counts in metres, strays kept out, mass kept, bad input named."""

import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from workbench.data.crs import project
from workbench.errors import HotspotInputError
from workbench.hotspots import HotspotWarning, grid_counts, kde

CHICAGO = (-87.65, 41.85)


def _city_points(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    lon = CHICAGO[0] + rng.normal(0, 0.02, n)
    lat = CHICAGO[1] + rng.normal(0, 0.015, n)
    return pd.DataFrame({"lon": lon, "lat": lat})


def test_grid_counts_projects_lon_lat_to_local_utm_and_counts_every_point():
    pts = _city_points()
    g = grid_counts(pts, 250)
    assert g.attrs["crs"] == "EPSG:32616"
    assert g.dims == ("y", "x") and g.attrs["cell_size_m"] == 250
    assert float(g.sum()) == len(pts) and g.attrs["n_outside"] == 0
    x, y, _ = project(pts["lon"], pts["lat"], "EPSG:32616")
    # the cell holding the first point counted it
    cell = g.sel(x=x[0], y=y[0], method="nearest")
    assert abs(float(cell.x) - x[0]) <= 125 and abs(float(cell.y) - y[0]) <= 125 and float(cell) >= 1


def test_geocoding_failures_at_null_island_and_far_strays_do_not_blow_up_the_grid():
    pts = _city_points(n=1000)
    strays = pd.DataFrame({"lon": [0.0, -80.0, np.nan], "lat": [0.0, 30.0, 41.8]})
    with pytest.warns(HotspotWarning, match="1 of 1001 points lie outside"):
        g = grid_counts(pd.concat([pts, strays], ignore_index=True), 250)
    clean = grid_counts(pts, 250)
    # the extent is the city's, not the city's plus Florida's
    assert g.shape[0] <= 1.5 * clean.shape[0] and g.shape[1] <= 1.5 * clean.shape[1]
    assert g.attrs["n_missing"] == 2  # 0,0 and NaN are missing locations
    assert g.attrs["n_outside"] == 1  # Florida is a stray, reported
    assert float(g.sum()) == 1000


def test_grid_counts_accepts_xy_with_crs_and_a_geodataframe_alike():
    pts = _city_points(n=500)
    x, y, crs = project(pts["lon"], pts["lat"])
    bounds = (x.min(), y.min(), x.max(), y.max())
    a = grid_counts(pd.DataFrame({"x": x, "y": y}), 200, crs=crs, bounds=bounds)
    b = grid_counts(gpd.GeoDataFrame(geometry=gpd.points_from_xy(pts.lon, pts.lat), crs="EPSG:4326"), 200,
                    bounds=bounds)
    c = grid_counts(gpd.GeoDataFrame(geometry=gpd.points_from_xy(x, y), crs=crs), 200, bounds=bounds)
    assert np.array_equal(a.values, b.values) and np.array_equal(a.values, c.values)
    w = grid_counts(pd.DataFrame({"x": x, "y": y, "w": 2.0}), 200, crs=crs, bounds=bounds, weights="w")
    assert np.allclose(w.values, 2 * a.values)


def test_kde_surface_integrates_to_the_number_of_events_in_both_units():
    rng = np.random.default_rng(1)
    pts = pd.DataFrame({"x": rng.normal(10_000, 400, 3000), "y": rng.normal(20_000, 250, 3000)})
    per_km2 = kde(pts, 50, bandwidth=120, crs="EPSG:32616")
    per_cell = kde(pts, 50, bandwidth=120, crs="EPSG:32616", units="per_cell")
    assert per_km2.attrs["units"].startswith("expected events per km2")
    assert np.isclose(float(per_km2.sum()) * 0.05**2, 3000, rtol=1e-3)
    assert np.isclose(float(per_cell.sum()), 3000, rtol=1e-3)
    assert (per_km2.values >= 0).all()


def test_kde_matches_an_exact_gaussian_kde_away_from_binning_error():
    rng = np.random.default_rng(4)
    xy = rng.normal(0, 500, size=(4000, 2)) + 50_000
    h = 150.0
    d = kde(pd.DataFrame(xy, columns=["x", "y"]), 10, bandwidth=h, crs="EPSG:32616", units="per_km2")
    # the exact isotropic Gaussian sum at a few cell centres
    probes = [(50_000, 50_000), (50_400, 49_700), (49_300, 50_200)]
    for px, py in probes:
        cell = d.sel(x=px, y=py, method="nearest")
        cx, cy = float(cell.x), float(cell.y)
        dens = np.exp(-0.5 * ((xy[:, 0] - cx) ** 2 + (xy[:, 1] - cy) ** 2) / h**2).sum() / (2 * np.pi * h**2)
        assert np.isclose(float(cell), dens * 1e6, rtol=0.02)


def test_quartic_kernel_has_compact_support_of_its_radius():
    pts = pd.DataFrame({"x": [5000.0], "y": [5000.0]})
    d = kde(pts, 10, bandwidth=200, kernel="quartic", crs="EPSG:32616", units="per_cell",
            bounds=(4000, 4000, 6000, 6000))
    yy, xx = np.meshgrid(d.y.values, d.x.values, indexing="ij")
    r = np.hypot(xx - 5005, yy - 5005)  # the point's cell centre
    assert (d.values[r > 200] == 0).all() and d.values[r < 150].min() > 0
    assert np.isclose(float(d.sum()), 1.0)


def test_nrd_bandwidth_follows_silverman_and_fails_clearly_on_identical_points():
    rng = np.random.default_rng(9)
    xy = rng.normal(0, 300, size=(5000, 2)) + 1e5
    d = kde(pd.DataFrame(xy, columns=["x", "y"]), 25, crs="EPSG:32616")
    expected = 1.06 * 300 * 5000 ** -0.2
    assert d.attrs["bandwidth_rule"] == "nrd" and np.isclose(d.attrs["bandwidth_m"], expected, rtol=0.05)
    same = pd.DataFrame({"x": [1e5] * 10, "y": [2e5] * 10})
    with pytest.raises(HotspotInputError, match="give bandwidth in metres"):
        kde(same, 25, crs="EPSG:32616")
    one = kde(same.iloc[:1], 25, bandwidth=50, crs="EPSG:32616", units="per_cell")
    assert np.isclose(float(one.sum()), 1.0)  # one point with a bandwidth: a documented bump


@pytest.mark.parametrize("points, crs, match", [
    (pd.DataFrame({"lon": [], "lat": []}), None, "empty"),
    (pd.DataFrame({"lon": [np.nan, np.nan], "lat": [np.nan, 1.0]}), None, "usable location"),
    (pd.DataFrame({"lon": [450_000.0, 451_000.0], "lat": [4_600_000.0, 4_601_000.0]}), None, "not degrees"),
    (pd.DataFrame({"x": [-87.6, -87.7, -87.65], "y": [41.8, 41.9, 41.85]}), "EPSG:32616", "look like lon/lat"),
    (pd.DataFrame({"x": [1.0, 2.0], "y": [1.0, 2.0]}), None, "crs="),
    (pd.DataFrame({"a": [1.0]}), None, "lon/lat columns"),
    ("not points", None, "DataFrame"),
])
def test_bad_points_get_a_clear_error_not_a_traceback(points, crs, match):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(HotspotInputError, match=match):
            grid_counts(points, 100, crs=crs)
        with pytest.raises(HotspotInputError, match=match):
            kde(points, 100, bandwidth=200, crs=crs)


def test_bad_parameters_are_named():
    pts = _city_points(50)
    with pytest.raises(HotspotInputError, match="cell_size"):
        grid_counts(pts, 0)
    with pytest.raises(HotspotInputError, match="bandwidth"):
        kde(pts, 100, bandwidth=-5)
    with pytest.raises(HotspotInputError, match="kernel"):
        kde(pts, 100, kernel="epanechnikov")
    with pytest.raises(HotspotInputError, match="too large"):
        grid_counts(pts, 0.001)


def test_checks_left_to_the_binning_pass_still_count_and_refuse_the_same_input():
    # with bounds, x/y input is checked while binning (one pass over the points, not two)
    bounds = (0, 0, 1000, 1000)
    pts = pd.DataFrame({"x": [10.0, np.nan, 500.0, 5000.0, 990.0], "y": [10.0, 3.0, np.nan, 500.0, 990.0]})
    for result in (grid_counts(pts.iloc[[0, 1, 2, 4]], 100, crs="EPSG:32616", bounds=bounds),
                   kde(pts.iloc[[0, 1, 2, 4]], 100, bandwidth=50, crs="EPSG:32616", bounds=bounds)):
        assert result.attrs["n_missing"] == 2 and result.attrs["n_outside"] == 0 and result.attrs["n_points"] == 2
    with pytest.warns(HotspotWarning, match="1 of 3 points lie outside the bounds"):
        g = grid_counts(pts, 100, crs="EPSG:32616", bounds=bounds)
    assert float(g.sum()) == 2 and g.attrs["n_outside"] == 1
    with pytest.raises(HotspotInputError, match="look like lon/lat"):
        kde(pd.DataFrame({"x": [-87.6, -87.7], "y": [41.8, 41.9]}), 100, bandwidth=50, crs="EPSG:32616",
            bounds=bounds)
    with pytest.raises(HotspotInputError, match="usable location"):
        grid_counts(pd.DataFrame({"x": [np.nan], "y": [np.nan]}), 100, crs="EPSG:32616", bounds=bounds)
