"""The hotspot engine recovers the truths planted in the committed sample scenario.

The sample (``workbench.load_sample()``: a year of incidents in a 10 x 10 km
city) plants ten hot spots (persistent, emerging, fading, oscillating) and
near-repeat burglary. Figures are printed (``pytest -s``) for the issue note.
"""

import numpy as np
import pandas as pd
import pytest
import scipy.ndimage as ndi

import workbench
from workbench.data.crs import project
from workbench.hotspots import emerging, forecast, gistar, knox, score

CRS = "EPSG:32617"


@pytest.fixture(scope="module")
def sample():
    return workbench.load_sample()


@pytest.fixture(scope="module")
def planted(sample):
    hotspots = sample.truth["hotspots"].reset_index(drop=True)
    x, y, _ = project(hotspots["lon"], hotspots["lat"], CRS)
    return hotspots.assign(x=x, y=y)


def _cell_of(ds, x, y):
    x0, y0 = ds.attrs["bounds"][:2]
    cell = ds.attrs["cell_size_m"]
    return (np.clip(((y - y0) // cell).astype(int), 0, ds.sizes["y"] - 1),
            np.clip(((x - x0) // cell).astype(int), 0, ds.sizes["x"] - 1))


def test_gistar_finds_the_planted_persistent_hot_spots(sample, planted):
    res = gistar(sample.incidents, cell_size=150, crs=CRS, alpha=0.05, fdr=True)
    hot = (res["significant"] & (res["z"] > 0)).values
    clusters, n_clusters = ndi.label(hot, structure=np.ones((3, 3)))
    iy, ix = _cell_of(res, planted["x"].to_numpy(), planted["y"].to_numpy())
    inside = clusters[iy, ix] > 0
    persistent = (planted["kind"] == "persistent").to_numpy()
    recall = inside[persistent].mean()
    # false positives: significant hot cells farther than radius + one cell from every planted centre
    yy, xx = np.meshgrid(res.y.values, res.x.values, indexing="ij")
    gap = np.min(np.hypot(xx[..., None] - planted["x"].to_numpy(), yy[..., None] - planted["y"].to_numpy())
                 - planted["radius_m"].to_numpy(), axis=-1)
    far = gap > res.attrs["cell_size_m"]
    fp_cells = (hot & far).sum() / hot.sum()
    with_planted = set(np.unique(clusters[hot & ~far]))
    fp_clusters = len(set(range(1, n_clusters + 1)) - with_planted) / n_clusters
    print(f"\nGi* 150 m, FDR 0.05: persistent recall {recall:.0%}, all kinds {inside.mean():.0%}; "
          f"{hot.sum()} hot cells in {n_clusters} clusters; false-positive share: cells {fp_cells:.0%}, "
          f"clusters {fp_clusters:.0%}")
    assert recall >= 0.9
    assert inside.mean() >= 0.8
    assert fp_clusters <= 0.25  # hot cells away from planted spots join their clusters (busy streets)


def test_emerging_hot_spots_are_classed_new_consecutive_or_intensifying(sample, planted):
    res = emerging(sample.incidents, 200, "14D", time_window=2, crs=CRS)
    iy, ix = _cell_of(res, planted["x"].to_numpy(), planted["y"].to_numpy())
    pattern = res["pattern"].values[iy, ix]
    got = dict(zip(planted["hotspot_id"] + " " + planted["kind"], pattern))
    print("\nemerging 200 m x 14 days:", got)
    for kind, pat in zip(planted["kind"], pattern):
        if kind == "emerging":
            assert pat in {"new hot spot", "consecutive hot spot", "intensifying hot spot"}
        if kind == "persistent":
            assert pat in {"persistent hot spot", "intensifying hot spot", "diminishing hot spot"}
        if kind == "fading":  # gone for the last 40 % of the year: no current hot spot
            assert pat in {"no pattern detected", "historical hot spot"}


def _burglaries(sample):
    incidents = sample.incidents
    return incidents[incidents["offense"] == "burglary"]


def test_knox_finds_the_planted_near_repeat_burglary_band(sample):
    burglaries = _burglaries(sample)
    truth = sample.truth["near_repeat"]
    assert truth["incident_id"].isin(burglaries["incident_id"]).all()
    res = knox(burglaries, [0, 100, 200, 300, 400], [0, 7, 14, 21, 28], permutations=499, seed=0)
    first = res.table.iloc[0]
    print("\n" + res.summary())
    assert (first["space_band"], first["time_band"]) == ("0-100 m", "0-7 days")
    assert first["knox_ratio"] > 1 and first["p_value"] < 0.05
    # the triggered burglaries lie within the planted reach (200 m, 14 days): beyond it, nothing
    beyond = res.table[(res.table["space_from_m"] >= 300) & (res.table["time_from_days"] >= 14)]
    assert not beyond["significant"].any()


def test_knox_finds_nothing_on_time_shuffled_burglaries(sample):
    burglaries = _burglaries(sample)
    control = burglaries.assign(
        occurred_at=burglaries["occurred_at"].sample(frac=1, random_state=0).to_numpy())
    res = knox(control, [0, 100, 200, 300, 400], [0, 7, 14, 21, 28], permutations=499, seed=0)
    print("\ncontrol:\n" + res.summary())
    assert res.table.iloc[0]["p_value"] >= 0.05
    assert (res.table["p_value"] >= 0.01).all()


@pytest.mark.parametrize("offense", ["all", "burglary"])
def test_prospective_forecast_beats_naive_on_pai_at_five_percent(sample, offense):
    events = sample.incidents if offense == "all" else _burglaries(sample)
    pai = {"prospective": [], "naive": []}
    for as_of in pd.date_range("2025-03-03", "2025-12-22", freq="28D", tz="UTC"):
        actual = events[(events["occurred_at"] >= as_of) & (events["occurred_at"] < as_of + pd.Timedelta("7D"))]
        for method in pai:
            f = forecast(events, method, as_of=as_of, horizon="7D", cell_size=150, crs=CRS)
            pai[method].append(score(f, actual, coverage=0.05)["pai"])
    mean = {m: float(np.mean(v)) for m, v in pai.items()}
    print(f"\nPAI at 5 % ({offense}, {len(pai['naive'])} weeks): prospective {mean['prospective']:.2f}, "
          f"naive {mean['naive']:.2f}")
    assert mean["prospective"] > mean["naive"]
