"""Where things happen in the synthetic city: points along streets, addresses, beats and times.

Shared by the crime, call, gunshot and camera generators. Coordinates are
metres in ``City.crs``; times are drawn in local time and returned in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from workbench.sample.offenses import OFFENSES, day_weights, hour_profile

RIVER_CLEARANCE_M = 60.0


@dataclass
class Streets:
    """Surface street segments (local and arterial) as arrays, for sampling places."""

    ux: np.ndarray
    uy: np.ndarray
    vx: np.ndarray
    vy: np.ndarray
    name: np.ndarray
    length: np.ndarray
    pop: np.ndarray
    job: np.ndarray
    deprivation: np.ndarray
    land_use: np.ndarray  # of the u end
    bounds: tuple  # xmin, ymin, xmax, ymax

    def weights(self, pop_w: float, job_w: float, dep_power: float) -> np.ndarray:
        """Sampling weight of each segment: length x (pop and job mix) x deprivation^power."""
        w = self.length * (pop_w * self.pop + job_w * self.job) * (0.25 + self.deprivation) ** dep_power
        return w / w.sum()


def streets(city) -> Streets:
    """The surface streets of ``city`` with residential, activity and deprivation weights."""
    roads = city.roads
    surf = roads[roads["road_class"].isin(["local", "arterial"])]
    nodes = city.nodes.set_index("node_id")
    beat_dep = city.beats.set_index("beat")["deprivation"]
    u = nodes.loc[surf["u"]]
    v = nodes.loc[surf["v"]]
    pop = (u["pop_weight"].to_numpy() + v["pop_weight"].to_numpy()) / 2
    job = (u["job_weight"].to_numpy() + v["job_weight"].to_numpy()) / 2
    dep = beat_dep.reindex(u["beat"]).fillna(0.5).to_numpy()
    return Streets(
        ux=u["x"].to_numpy(), uy=u["y"].to_numpy(), vx=v["x"].to_numpy(), vy=v["y"].to_numpy(),
        name=surf["name"].to_numpy(dtype=object), length=surf["length_m"].to_numpy(),
        pop=pop / pop.sum(), job=job / job.sum(), deprivation=dep,
        land_use=u["land_use"].to_numpy(dtype=object),
        bounds=(nodes["x"].min(), nodes["y"].min(), nodes["x"].max(), nodes["y"].max()),
    )


def on_streets(s: Streets, weights: np.ndarray, n: int, rng, offset_m=(8.0, 30.0)):
    """``n`` points on segments drawn with ``weights``, set back from the kerb by ``offset_m``.

    Returns
    -------
    x, y : numpy.ndarray
    segment : numpy.ndarray of int
    """
    seg = rng.choice(len(weights), size=n, p=weights)
    t = rng.uniform(0.05, 0.95, n)
    dx, dy = s.vx[seg] - s.ux[seg], s.vy[seg] - s.uy[seg]
    norm = np.hypot(dx, dy) + 1e-9
    side = rng.choice([-1.0, 1.0], n) * rng.uniform(*offset_m, n)
    x = s.ux[seg] + t * dx - dy / norm * side
    y = s.uy[seg] + t * dy + dx / norm * side
    return x, y, seg


def inside(s: Streets, x, y, fallback_x, fallback_y, river_xy):
    """Move points that fell outside the city or into the river back to a fallback place."""
    import shapely

    xmin, ymin, xmax, ymax = s.bounds
    bad = (x < xmin) | (x > xmax) | (y < ymin) | (y > ymax)
    bad |= shapely.distance(shapely.points(x, y), river_xy) < RIVER_CLEARANCE_M
    return np.where(bad, fallback_x, x), np.where(bad, fallback_y, y)


def river_line(city):
    """The river centre line in metres (``City.crs``)."""
    return city.river.to_crs(city.crs).iloc[0]


def addresses(s: Streets, x, y) -> np.ndarray:
    """Block addresses ("2300 block of Oak Ave") from the nearest street segment."""
    from scipy.spatial import cKDTree

    t = np.linspace(0.1, 0.9, 5)
    px = (s.ux[:, None] + t * (s.vx - s.ux)[:, None]).ravel()
    py = (s.uy[:, None] + t * (s.vy - s.uy)[:, None]).ravel()
    _, idx = cKDTree(np.column_stack([px, py])).query(np.column_stack([x, y]))
    seg = idx // t.size
    xmin, ymin = s.bounds[0], s.bounds[1]
    east_west = np.abs(s.vx - s.ux) > np.abs(s.vy - s.uy)
    along = np.where(east_west[seg], np.asarray(x) - xmin, np.asarray(y) - ymin)
    block = (np.maximum(along, 0) // 250 * 100 + 100).astype(int)
    return np.char.add(np.char.add(block.astype(str), " block of "), s.name[seg].astype(str))


def locate(city, x, y):
    """District and beat of each point (nearest beat centroid for points on no beat)."""
    import shapely

    beats = city.beats.to_crs(city.crs)
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    beat = np.full(x.size, None, dtype=object)
    for name, poly in zip(beats["beat"], beats.geometry):  # loop over beats (tens)
        hit = (beat == None) & shapely.contains_xy(poly, x, y)  # noqa: E711
        beat[hit] = name
    missing = beat == None  # noqa: E711
    if missing.any():
        c = beats.geometry.centroid
        d = np.hypot(x[missing, None] - c.x.to_numpy(), y[missing, None] - c.y.to_numpy())
        beat[missing] = beats["beat"].to_numpy()[np.argmin(d, axis=1)]
    district = beats.set_index("beat")["district"].reindex(beat).to_numpy(dtype=object)
    return district, beat


def period_dates(start, days: int) -> pd.DatetimeIndex:
    """The local calendar dates of the period."""
    return pd.date_range(pd.Timestamp(start).tz_localize(None).normalize(), periods=days, freq="D")


def local_to_utc(local_naive: pd.DatetimeIndex, tz: str) -> pd.Series:
    """Local wall-clock times to UTC microseconds (DST gaps shift forward, overlaps take DST)."""
    n = len(local_naive)
    aware = local_naive.tz_localize(tz, ambiguous=np.ones(n, dtype=bool),
                                    nonexistent="shift_forward")
    return pd.Series(aware.tz_convert("UTC").as_unit("us"))


def draw_days(offense: str, n: int, dates: pd.DatetimeIndex, rng) -> np.ndarray:
    """Day indices for ``n`` events of ``offense``, following its weekday and seasonal profile."""
    w = day_weights(offense, dates)
    return rng.choice(len(dates), size=n, p=w / w.sum())


def draw_times(day_idx, offense, dates: pd.DatetimeIndex, tz: str, rng) -> pd.Series:
    """UTC timestamps on the given local days, with each offence's hour-of-day profile."""
    day_idx = np.asarray(day_idx)
    offense = np.asarray(offense, dtype=object)
    hour = np.zeros(day_idx.size, dtype=float)
    for name in np.unique(offense):  # loop over offence types (a dozen)
        m = offense == name
        row = OFFENSES.loc[name]
        p = hour_profile(row["hour_base"], row["hour_peaks"])
        hour[m] = rng.choice(24, size=m.sum(), p=p)
    seconds = hour * 3600 + rng.integers(0, 3600, day_idx.size)
    local = dates[day_idx] + pd.to_timedelta(seconds, unit="s")
    return local_to_utc(pd.DatetimeIndex(local), tz)
