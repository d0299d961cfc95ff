"""Knox test: finds planted near repeats, nothing when times are shuffled, bands mean their labels."""

import numpy as np
import pandas as pd
import pytest

from workbench.errors import HotspotInputError
from workbench.hotspots import export, knox

START = pd.Timestamp("2024-01-01", tz="UTC")
SPACE = [0, 100, 200, 300, 400]
TIME = [0, 7, 14, 21, 28]


@pytest.fixture(scope="module")
def burglaries():
    """A year of burglaries over 5 km x 5 km; a fifth of them repeat within 100 m and 7 days."""
    rng = np.random.default_rng(8)
    n = 1500
    xy = rng.uniform(0, 5000, (n, 2))
    day = rng.uniform(0, 365, n)
    parents = rng.choice(n, 300, replace=False)
    angle = rng.uniform(0, 2 * np.pi, 300)
    radius = rng.uniform(5, 95, 300)
    child_xy = xy[parents] + np.column_stack([np.cos(angle), np.sin(angle)]) * radius[:, None]
    child_day = day[parents] + rng.uniform(0.2, 6.8, 300)
    xy = np.vstack([xy, child_xy])
    day = np.concatenate([day, child_day])
    return pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1], "occurred_at": START + pd.to_timedelta(day, "D")})


def test_knox_finds_the_planted_near_repeat_band(burglaries):
    res = knox(burglaries, SPACE, TIME, permutations=199, seed=1, crs="EPSG:32616")
    first = res.table.iloc[0]
    assert (first["space_band"], first["time_band"]) == ("0-100 m", "0-7 days")
    assert first["knox_ratio"] > 1.5 and first["p_value"] < 0.05 and first["significant"]
    assert first["p_value"] == pytest.approx(1 / 200)
    # expected counts are what shuffling predicts: all bands together hold every close pair
    assert np.isclose(res.table["expected"].sum(), res.table["observed"].sum(), rtol=0.05)
    assert "*" in res.summary() and res.pivot().shape == (4, 4)


def test_knox_finds_nothing_when_the_times_are_shuffled(burglaries):
    control = burglaries.assign(
        occurred_at=burglaries["occurred_at"].sample(frac=1, random_state=3).to_numpy())
    res = knox(control, SPACE, TIME, permutations=199, seed=2, crs="EPSG:32616")
    first = res.table.iloc[0]
    assert first["p_value"] >= 0.05 and 0.6 < first["knox_ratio"] < 1.4
    assert (res.table["p_value"] >= 0.01).all()


def test_band_edges_are_exactly_as_labelled():
    # pairs at exactly 100 m / 7 days belong to "0-100 m" / "0-7 days"; a hair more goes to the next band
    events = pd.DataFrame({
        "x": [1000.0, 1100.0, 5000.0, 5100.01],
        "y": [1000.0, 1000.0, 5000.0, 5000.0],
        "occurred_at": [START, START + pd.Timedelta("7D"), START, START + pd.Timedelta("7D") + pd.Timedelta("1s")],
    })
    res = knox(events, [0, 100, 200], [0, 7, 14], permutations=9, seed=0, crs="EPSG:32616")
    obs = res.pivot("observed")
    assert obs.loc["0-100 m", "0-7 days"] == 1
    assert obs.loc["100-200 m", "7-14 days"] == 1
    assert obs.to_numpy().sum() == 2


def test_knox_table_exports_to_csv_and_bad_bands_are_named(tmp_path, burglaries):
    res = knox(burglaries.head(200), [0, 200], [0, 14], permutations=9, seed=0, crs="EPSG:32616")
    path = export(res, tmp_path / "knox.csv")
    back = pd.read_csv(path)
    assert list(back["knox_ratio"].round(6)) == list(res.table["knox_ratio"].round(6))
    with pytest.raises(HotspotInputError, match="as .csv"):
        export(res, tmp_path / "knox.geojson")
    with pytest.raises(HotspotInputError, match="space_bands_m"):
        knox(burglaries, [100, 50], TIME, crs="EPSG:32616")
    with pytest.raises(HotspotInputError, match="time_bands_days"):
        knox(burglaries, SPACE, [7], crs="EPSG:32616")
    with pytest.raises(HotspotInputError, match="at least 2 events"):
        knox(burglaries.head(1), SPACE, TIME, crs="EPSG:32616")
