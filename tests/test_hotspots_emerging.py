"""Emerging hot spots: planted patterns come out with Esri's names; the trend test is right."""

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy.stats import kendalltau

from workbench.errors import HotspotInputError
from workbench.hotspots import emerging, space_time_cube
from workbench.hotspots.emerging import PATTERNS, classify, mann_kendall

START = pd.Timestamp("2024-01-01", tz="UTC")
WEEKS = 20


def _cluster(rng, centre, n, weeks, sd=40.0):
    """n events around centre, spread uniformly over the given weeks."""
    week = rng.choice(np.asarray(weeks), size=n)
    t = START + pd.to_timedelta((week + rng.uniform(0.02, 0.98, n)) * 7, unit="D")
    return pd.DataFrame({"x": rng.normal(centre[0], sd, n), "y": rng.normal(centre[1], sd, n), "occurred_at": t})


@pytest.fixture(scope="module")
def planted():
    """Uniform background over 4 km x 4 km for 20 weeks, plus four planted hot spots."""
    rng = np.random.default_rng(42)
    n_bg = 12_000
    background = pd.DataFrame({
        "x": rng.uniform(0, 4000, n_bg), "y": rng.uniform(0, 4000, n_bg),
        "occurred_at": START + pd.to_timedelta(rng.uniform(0.01, WEEKS * 7 - 0.01, n_bg), unit="D"),
    })
    all_weeks = np.arange(WEEKS)
    parts = [
        background,
        _cluster(rng, (1000, 1000), 40 * WEEKS, all_weeks),  # persistent
        _cluster(rng, (3000, 3000), 40 * 5, np.arange(WEEKS - 5, WEEKS)),  # emerging: the last 5 weeks
        _cluster(rng, (1000, 3000), 60, [WEEKS - 1]),  # new: the final week only
    ]
    # intensifying: always there, growing from 20 to 80 events a week
    for w in all_weeks:
        parts.append(_cluster(rng, (3000, 1000), int(20 + 60 * w / (WEEKS - 1)), [w]))
    events = pd.concat(parts, ignore_index=True)
    centres = {"persistent": (1000, 1000), "emerging": (3000, 3000), "new": (1000, 3000),
               "intensifying": (3000, 1000)}
    return events, centres


def _pattern_at(res, xy):
    return str(res["pattern"].sel(x=xy[0], y=xy[1], method="nearest").item())


def test_planted_hot_spots_get_their_esri_pattern(planted):
    events, centres = planted
    res = emerging(events, 200, "7D", crs="EPSG:32616", bounds=(0, 0, 4000, 4000),
                   end=START + pd.Timedelta(weeks=WEEKS), n_steps=WEEKS)
    assert res.sizes["time"] == WEEKS and int(res["counts"].sum()) == len(events)
    assert _pattern_at(res, centres["persistent"]) in {"persistent hot spot", "intensifying hot spot",
                                                       "diminishing hot spot"}
    assert _pattern_at(res, centres["emerging"]) in {"new hot spot", "consecutive hot spot",
                                                     "intensifying hot spot"}
    assert _pattern_at(res, centres["new"]) == "new hot spot"
    assert _pattern_at(res, centres["intensifying"]) == "intensifying hot spot"
    # background far from every planted spot has no hot-spot pattern
    far = res["pattern_code"].sel(x=slice(1700, 2300), y=slice(1700, 2300)).values
    assert (far <= 0).mean() >= 0.9


def test_every_pattern_follows_its_definition():
    steps = 10

    def series(hot_steps=(), cold_steps=()):
        hot = np.zeros(steps, bool)
        cold = np.zeros(steps, bool)
        hot[list(hot_steps)] = True
        cold[list(cold_steps)] = True
        return hot, cold

    cases = {  # (hot steps, cold steps, trend) -> Esri pattern
        (tuple(range(10)), (), 1): "intensifying hot spot",
        (tuple(range(10)), (), 0): "persistent hot spot",
        (tuple(range(1, 10)), (), -1): "diminishing hot spot",
        ((9,), (), 0): "new hot spot",
        ((7, 8, 9), (), 0): "consecutive hot spot",
        ((2, 8, 9), (), 0): "sporadic hot spot",
        ((8, 9), (1,), 0): "consecutive hot spot",
        ((5, 7, 9), (1,), 0): "oscillating hot spot",
        (tuple(range(9)), (), 0): "historical hot spot",
        ((), tuple(range(10)), -1): "intensifying cold spot",
        ((), tuple(range(10)), 0): "persistent cold spot",
        ((), tuple(range(10)), 1): "diminishing cold spot",
        ((), (9,), 0): "new cold spot",
        ((), (6, 7, 8, 9), 0): "consecutive cold spot",
        ((), (3, 9), 0): "sporadic cold spot",
        ((2, 5), (0, 8, 9), 0): "oscillating cold spot",
        ((0, 1, 2, 3, 4, 5, 6, 7, 8), (9,), 0): "new cold spot",  # new is judged before oscillating
        ((), tuple(range(9)), 0): "historical cold spot",
        ((3,), (), 0): "no pattern detected",
    }
    hot = np.stack([series(h, c)[0] for (h, c, _t) in cases], axis=1)
    cold = np.stack([series(h, c)[1] for (h, c, _t) in cases], axis=1)
    trend = np.array([t for (_h, _c, t) in cases])
    got = [PATTERNS[c] for c in classify(hot, cold, trend)]
    assert got == list(cases.values())
    assert len(set(PATTERNS.values())) == 17 and set(got) == set(PATTERNS.values())


def test_mann_kendall_equals_the_pairwise_definition_with_ties():
    rng = np.random.default_rng(0)
    series = np.round(rng.normal(size=(12, 50)), 1)  # rounding makes ties
    series[:, 0] = 3.0  # all tied
    s, z, p = mann_kendall(series)
    n = series.shape[0]
    for j in range(series.shape[1]):
        x = series[:, j]
        s_j = sum(np.sign(x[b] - x[a]) for a, b in itertools.combinations(range(n), 2))
        _, counts = np.unique(x, return_counts=True)
        var = (n * (n - 1) * (2 * n + 5) - (counts * (counts - 1) * (2 * counts + 5)).sum()) / 18
        assert s[j] == s_j
        if var > 0:
            assert np.isclose(z[j], (s_j - np.sign(s_j)) / np.sqrt(var))
            if np.all(counts == 1):  # scipy's Kendall tau test against time, without continuity
                assert np.isclose(kendalltau(np.arange(n), x).statistic, s_j / (n * (n - 1) / 2))
        else:
            assert z[j] == 0 and p[j] == 1


def test_space_time_cube_aligns_steps_to_end_and_counts_what_it_leaves_out():
    t = pd.to_datetime(["2024-01-01 10:00", "2024-01-08 09:00", "2024-01-14 23:00", "2023-12-01 00:00"], utc=True)
    pts = pd.DataFrame({"x": [500.0, 500, 500, 500], "y": [500.0, 500, 500, 500], "occurred_at": t})
    cube = space_time_cube(pts, 100, "7D", crs="EPSG:32616", end="2024-01-15", n_steps=2)
    assert cube.sizes["time"] == 2
    assert pd.Timestamp(cube.time.values[-1]) == pd.Timestamp("2024-01-08")
    assert cube.sum("y").sum("x").values.tolist() == [1.0, 2.0]
    assert cube.attrs["n_before"] == 1


def test_emerging_bad_input_is_named():
    pts = pd.DataFrame({"x": [500.0, 600.0], "y": [500.0, 900.0],
                        "occurred_at": pd.to_datetime(["2024-01-01", "2024-01-02"], utc=True)})
    with pytest.raises(HotspotInputError, match="time_step"):
        emerging(pts, 100, "weekly", crs="EPSG:32616")
    with pytest.raises(HotspotInputError, match="at least 2 time steps"):
        emerging(pts, 100, "30D", crs="EPSG:32616")
    with pytest.raises(HotspotInputError, match="time column"):
        emerging(pts.drop(columns="occurred_at"), 100, crs="EPSG:32616")
    with pytest.raises(HotspotInputError, match="unparseable"):
        emerging(pts.assign(occurred_at=["soon", "later"]), 100, crs="EPSG:32616")
