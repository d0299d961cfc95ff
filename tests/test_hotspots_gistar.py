"""Gi* equals esda's G_Local(star=True, transform="B"), computed here in the same run."""

import warnings

import geopandas as gpd
import libpysal
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from esda.getisord import G_Local

from workbench.errors import HotspotInputError
from workbench.hotspots import HotspotWarning, gistar
from workbench.hotspots.gistar import bh_adjust


def _esda_z(y, w):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return G_Local(np.asarray(y, dtype=float), w, transform="B", star=True, permutations=0).Zs


@pytest.fixture(scope="module")
def columbus():
    example = libpysal.examples.load_example("columbus")  # shipped with libpysal, no download
    return gpd.read_file(example.get_path("columbus.shp"))


def _grid(values, cell=100.0):
    ny, nx = values.shape
    return xr.DataArray(values, dims=("y", "x"),
                        coords={"y": (np.arange(ny) + 0.5) * cell, "x": (np.arange(nx) + 0.5) * cell},
                        attrs={"cell_size_m": cell, "crs": "EPSG:32616"})


def test_gistar_on_columbus_crime_equals_esda_queen_binary_star(columbus):
    res = gistar(columbus, value="CRIME", neighbours="queen", fdr=False)
    w = libpysal.weights.Queen.from_dataframe(columbus, use_index=False, silence_warnings=True)
    expected = _esda_z(columbus["CRIME"], w)
    assert np.max(np.abs(res["z"].values - expected)) <= 1e-9
    # two-sided p: twice esda's one-sided normal p
    esda_p = G_Local(columbus["CRIME"].to_numpy(float), w, transform="B", star=True, permutations=0).p_norm
    assert np.max(np.abs(res["p"].values - 2 * esda_p)) <= 1e-12
    assert "geometry" in res.coords and res.sizes[res["z"].dims[0]] == 49


def test_gistar_on_polygons_accepts_a_libpysal_weights_object(columbus):
    w = libpysal.weights.Rook.from_dataframe(columbus, use_index=False, silence_warnings=True)
    res = gistar(columbus, value="CRIME", neighbours=w)
    assert np.max(np.abs(res["z"].values - _esda_z(columbus["CRIME"], w))) <= 1e-9


def test_gistar_on_a_lattice_equals_esda_for_queen_and_rook():
    rng = np.random.default_rng(7)
    counts = rng.poisson(2.0, size=(17, 23)).astype(float)
    counts[5:9, 10:14] += rng.poisson(6.0, size=(4, 4))
    for rook in (False, True):
        res = gistar(_grid(counts), neighbours="rook" if rook else "queen", fdr=False)
        w = libpysal.weights.lat2W(17, 23, rook=rook)  # ids row-major, as our (y, x) ravel
        expected = _esda_z(counts.ravel(), w)
        assert np.max(np.abs(res["z"].values.ravel() - expected)) <= 1e-9


def test_gistar_radius_neighbourhood_equals_esda_distance_band():
    rng = np.random.default_rng(3)
    counts = rng.poisson(3.0, size=(15, 12)).astype(float)
    grid = _grid(counts, cell=50.0)
    res = gistar(grid, radius_m=130.0, fdr=False)  # 2.6 cells: no centre sits on the circle
    yy, xx = np.meshgrid(grid.y.values, grid.x.values, indexing="ij")
    w = libpysal.weights.DistanceBand(np.column_stack([xx.ravel(), yy.ravel()]), threshold=130.0,
                                      binary=True, silence_warnings=True)
    assert np.max(np.abs(res["z"].values.ravel() - _esda_z(counts.ravel(), w))) <= 1e-9


def test_cells_outside_the_study_area_are_neither_locations_nor_neighbours():
    rng = np.random.default_rng(11)
    counts = rng.poisson(2.0, size=(10, 10)).astype(float)
    counts[:3, :4] = np.nan  # e.g. the lake
    res = gistar(_grid(counts), fdr=False)
    valid = np.isfinite(counts).ravel()
    full = libpysal.weights.lat2W(10, 10, rook=False)
    ids = np.flatnonzero(valid)
    keep = set(ids.tolist())
    neigh = {i: [j for j in full.neighbors[i] if j in keep] for i in ids}
    w = libpysal.weights.W(neigh, silence_warnings=True)
    expected = _esda_z(counts.ravel()[ids], w)
    got = res["z"].values.ravel()
    assert np.isnan(got[~valid]).all()
    assert np.max(np.abs(got[valid] - expected)) <= 1e-9


def test_bins_follow_fdr_adjusted_levels():
    rng = np.random.default_rng(5)
    counts = rng.poisson(1.0, size=(30, 30)).astype(float)
    counts[10:13, 10:13] += 8
    res = gistar(_grid(counts), fdr=True, alpha=0.05)
    q = res["q"].values
    assert np.allclose(q.ravel(), bh_adjust(res["p"].values.ravel()))
    assert (q >= res["p"].values - 1e-15).all()
    hot3 = (res["bin"].values == 3)
    assert hot3[11, 11] and (q[hot3] <= 0.01).all() and (res["z"].values[hot3] > 0).all()
    assert ((res["bin"].values != 0) == (q <= 0.10)).all()
    assert (res["significant"].values == (q <= 0.05)).all()
    unadjusted = gistar(_grid(counts), fdr=False)
    assert (np.abs(unadjusted["bin"].values) >= np.abs(res["bin"].values)).all()


def test_bh_adjust_matches_statsmodels():
    from statsmodels.stats.multitest import multipletests

    p = np.random.default_rng(1).uniform(size=200) ** 3
    assert np.allclose(bh_adjust(p), multipletests(p, method="fdr_bh")[1], atol=1e-14)


def test_zero_variance_grid_is_a_documented_result_not_a_numpy_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.warns(HotspotWarning, match="zero variance"):
            res = gistar(_grid(np.full((6, 6), 4.0)))
    assert res.attrs["zero_variance"] and (res["z"].values == 0).all() and (res["bin"].values == 0).all()
    assert (res["p"].values == 1).all()


def test_gistar_counts_points_on_a_grid_and_finds_the_planted_cluster():
    rng = np.random.default_rng(2)
    background = rng.uniform(0, 3000, size=(3000, 2))
    cluster = rng.normal(1500, 60, size=(300, 2))
    pts = pd.DataFrame(np.vstack([background, cluster]), columns=["x", "y"])
    res = gistar(pts, cell_size=100, crs="EPSG:32616", bounds=(0, 0, 3000, 3000))
    assert res.attrs["n_points"] == 3300
    hot = res["bin"].sel(x=1500, y=1500, method="nearest")
    assert int(hot) == 3


def test_gistar_bad_inputs_give_clear_errors(columbus):
    with pytest.raises(HotspotInputError, match="cell_size"):
        gistar(pd.DataFrame({"lon": [-87.6, -87.7], "lat": [41.8, 41.9]}))
    with pytest.raises(HotspotInputError, match="value="):
        gistar(columbus)
    with pytest.raises(HotspotInputError, match="neighbours"):
        gistar(_grid(np.ones((3, 3))), neighbours="bishop")
    with pytest.raises(HotspotInputError, match="all NaN"):
        gistar(_grid(np.full((3, 3), np.nan)))
    with pytest.raises(HotspotInputError, match="alpha"):
        gistar(_grid(np.eye(3)), alpha=5)


@pytest.mark.parametrize("points", [
    pd.DataFrame({"x": [5000.0], "y": [5000.0]}),
    pd.DataFrame({"x": [5000.0] * 20, "y": [7000.0] * 20}),
])
def test_one_point_or_identical_points_give_the_documented_flat_result(points):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.warns(HotspotWarning, match="zero variance"):
            res = gistar(points, cell_size=100, crs="EPSG:32616")
    assert res.attrs["zero_variance"] and (res["bin"].values == 0).all()
    assert res.attrs["n_points"] == len(points)


def test_gistar_on_polygons_with_a_distance_band_equals_esda(columbus):
    centres = columbus.geometry.centroid
    coords = np.column_stack([centres.x, centres.y])
    w = libpysal.weights.DistanceBand(coords, threshold=0.8, binary=True, silence_warnings=True)
    res = gistar(columbus, value="CRIME", radius_m=0.8)  # Columbus is in unprojected units
    assert np.max(np.abs(res["z"].values - _esda_z(columbus["CRIME"], w))) <= 1e-9
