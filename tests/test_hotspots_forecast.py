"""Forecasts and their scores: ProMap beats last week's map on a process with moving risk."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from workbench.errors import HotspotInputError
from workbench.hotspots import forecast, score

START = pd.Timestamp("2024-01-01", tz="UTC")
WEEKS = 30
BOUNDS = (0, 0, 4000, 4000)


def _events(rng, centre, n, first_day, last_day, sd=50.0):
    return pd.DataFrame({
        "x": rng.normal(centre[0], sd, n), "y": rng.normal(centre[1], sd, n),
        "occurred_at": START + pd.to_timedelta(rng.uniform(first_day, last_day, n), "D"),
    })


@pytest.fixture(scope="module")
def city():
    """Background, three steady hot spots and short-lived flare-ups that come and go."""
    rng = np.random.default_rng(21)
    days = WEEKS * 7
    parts = [pd.DataFrame({"x": rng.uniform(0, 4000, 40 * WEEKS), "y": rng.uniform(0, 4000, 40 * WEEKS),
                           "occurred_at": START + pd.to_timedelta(rng.uniform(0, days, 40 * WEEKS), "D")})]
    for centre in [(800, 900), (2500, 3100), (3300, 1200)]:
        parts.append(_events(rng, centre, 3 * WEEKS, 0, days))
    for week in range(WEEKS):  # a new flare-up each week, lasting four weeks
        centre = rng.uniform(300, 3700, 2)
        parts.append(_events(rng, centre, 24, week * 7, min(days, week * 7 + 28)))
    return pd.concat(parts, ignore_index=True)


def _week(events, as_of):
    t = events["occurred_at"]
    return events[(t >= as_of) & (t < as_of + pd.Timedelta("7D"))]


def test_prospective_forecast_beats_naive_on_pai_at_five_percent(city):
    pai = {"prospective": [], "naive": [], "kde": []}
    for week in range(WEEKS - 6, WEEKS):
        as_of = START + pd.Timedelta(weeks=week)
        actual = _week(city, as_of)
        for method in pai:
            f = forecast(city, method, as_of=as_of, horizon="7D", cell_size=100, bounds=BOUNDS, crs="EPSG:32616")
            pai[method].append(score(f, actual, coverage=0.05, crs="EPSG:32616")["pai"])
    mean = {m: float(np.mean(v)) for m, v in pai.items()}
    assert mean["prospective"] > mean["naive"]
    assert mean["prospective"] > 1.0 and all(v > 0 for v in pai["prospective"])


def test_forecast_uses_only_the_past_and_is_in_expected_events(city):
    as_of = START + pd.Timedelta(weeks=20)
    f = forecast(city, "naive", as_of=as_of, horizon="7D", cell_size=100, bounds=BOUNDS, crs="EPSG:32616")
    last_week = city[(city["occurred_at"] >= as_of - pd.Timedelta("7D")) & (city["occurred_at"] < as_of)]
    assert f.attrs["n_events_used"] == len(last_week)
    assert np.isclose(float(f.sum()), len(last_week))
    future = city.assign(occurred_at=city["occurred_at"] + pd.Timedelta(weeks=60))
    with pytest.raises(HotspotInputError, match="nothing to forecast from"):
        forecast(future, "kde", as_of=as_of, cell_size=100, bounds=BOUNDS, crs="EPSG:32616")
    p = forecast(city, "prospective", as_of=as_of, horizon="14D", cell_size=100, bounds=BOUNDS, crs="EPSG:32616")
    in_window = ((city["occurred_at"] >= as_of - pd.Timedelta("56D")) & (city["occurred_at"] < as_of)).sum()
    assert np.isclose(float(p.sum()), in_window / 56 * 14)
    assert p.attrs["units"] == "expected events per cell over 14D"


def test_score_equals_its_definition_on_random_grids():
    rng = np.random.default_rng(0)
    values = rng.gamma(1.0, size=(20, 30))
    values[0, :5] = np.nan  # outside the study area
    f = xr.DataArray(values, dims=("y", "x"),
                     coords={"y": np.arange(20) * 50 + 25.0, "x": np.arange(30) * 50 + 25.0},
                     attrs={"crs": "EPSG:32616", "cell_size_m": 50.0})
    xy = rng.uniform(250, 1000, (300, 2))
    res = score(f, pd.DataFrame(xy, columns=["x", "y"]), coverage=0.1)
    valid = np.isfinite(values).ravel()
    k = round(0.1 * valid.sum())
    ix, iy = (xy[:, 0] // 50).astype(int), (xy[:, 1] // 50).astype(int)
    counts = np.zeros((20, 30))
    np.add.at(counts, (iy, ix), 1)
    top = np.argsort(-np.where(valid, values.ravel(), -np.inf))[:k]
    n = counts.ravel()[top].sum()
    assert res["n"] == n and res["N"] == 300 and res["cells_flagged"] == k
    assert np.isclose(res["pai"], (n / 300) / (k / valid.sum()))
    assert res["n_star"] == np.sort(counts.ravel()[valid])[::-1][:k].sum()
    assert 0 <= res["pei"] <= 1 and np.isclose(res["pei"], n / res["n_star"])
    # the actual counts themselves are the best possible forecast: PEI = 1
    best = f.copy(data=np.where(np.isfinite(values), counts, np.nan))
    assert score(best, pd.DataFrame(xy, columns=["x", "y"]), coverage=0.1)["pei"] == 1.0


def test_bad_forecast_requests_are_named(city):
    with pytest.raises(HotspotInputError, match="method"):
        forecast(city, "crystal ball", crs="EPSG:32616")
    with pytest.raises(HotspotInputError, match="horizon"):
        forecast(city, "naive", horizon="next week", crs="EPSG:32616")
    f = forecast(city, "naive", cell_size=200, bounds=BOUNDS, crs="EPSG:32616")
    with pytest.raises(HotspotInputError, match="coverage"):
        score(f, city, coverage=5, crs="EPSG:32616")
    with pytest.raises(HotspotInputError, match="nothing to score"):
        score(f, city.assign(x=city["x"] + 1e6), crs="EPSG:32616")
