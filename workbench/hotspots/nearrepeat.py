"""Near repeat: the Knox test over space and time bands, like Ratcliffe's Near Repeat Calculator.

Every pair of events is placed in a space band by the distance between them
and a time band by the days between them. The observed count per band pair is
compared with the counts when the event times are shuffled among the
locations (Monte Carlo permutations), which keeps where and when crime happens
but breaks any link between the two.

Bands are given by their edges and mean exactly what their labels say:
``space_bands_m=[0, 100, 200]`` gives ``0-100 m`` = [0, 100] and
``100-200 m`` = (100, 200]; a pair 100 m apart is in the first band and one
100.01 m apart in the second. Time bands are read the same way in days
(fractional days: 7.5 days apart is in "7-14 days"). The Near Repeat
Calculator's labels are known to be off by one from the bands it counts; here
the label is computed from the edges that are counted. Pairs beyond the last
edge in space or time are not counted.

The Knox ratio is observed / expected, with expected the mean over
permutations. The p-value is one-sided for an excess:
``(1 + #{permuted >= observed}) / (1 + permutations)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from workbench.errors import HotspotInputError
from workbench.hotspots._checks import as_points

NS_PER_DAY = 86_400 * 10**9


@dataclass
class KnoxResult:
    """The Knox test per (space band, time band).

    Attributes
    ----------
    table : pandas.DataFrame
        One row per band pair: ``space_band``, ``time_band`` (labels),
        ``space_from_m``, ``space_to_m``, ``time_from_days``, ``time_to_days``,
        ``observed``, ``expected`` (mean of permutations), ``knox_ratio``,
        ``p_value`` (one-sided, Monte Carlo) and ``significant`` (p < alpha).
    n_events, n_pairs : int
        Events used and pairs within the largest space band.
    permutations : int
    seed : int or None
    """

    table: pd.DataFrame
    n_events: int
    n_pairs: int
    permutations: int
    seed: int | None
    alpha: float = 0.05
    notes: list = field(default_factory=list)

    def pivot(self, column="knox_ratio") -> pd.DataFrame:
        """A space band x time band table of one column (as the NRC prints it)."""
        out = self.table.pivot(index="space_band", columns="time_band", values=column)
        return out.loc[self.table["space_band"].unique(), self.table["time_band"].unique()]

    def summary(self) -> str:
        """Plain-text report: Knox ratios with significant cells marked *."""
        ratio = self.pivot("knox_ratio").round(2).astype(str)
        star = self.pivot("significant")
        ratio = ratio.where(~star, ratio + "*")
        return (f"Knox test: {self.n_events} events, {self.n_pairs} pairs, {self.permutations} permutations; "
                f"* = p < {self.alpha}\n{ratio.to_string()}")


def _edges(values, name, unit):
    edges = np.asarray(values, dtype=float).ravel()
    if edges.size < 2 or not np.isfinite(edges).all() or edges[0] < 0 or (np.diff(edges) <= 0).any():
        raise HotspotInputError(
            f"{name} must be at least two increasing edges >= 0 in {unit} (e.g. [0, 100, 200]); got {values!r}"
        )
    return edges


def _band(values, edges):
    """Band index per value: first band [e0, e1], then (e_k, e_k+1]; -1 outside."""
    idx = np.searchsorted(edges, values, side="left") - 1
    idx[values == edges[0]] = 0
    idx[(idx < 0) | (idx >= edges.size - 1)] = -1
    return idx


def _label(lo, hi, unit):
    return f"{lo:g}-{hi:g} {unit}"


def knox(points, space_bands_m, time_bands_days, permutations=999, seed=None, *, time="occurred_at",
         crs=None, alpha=0.05) -> KnoxResult:
    """Knox test for near repeats with Monte Carlo p-values per space and time band.

    Parameters
    ----------
    points : DataFrame or GeoDataFrame
        Events with a location (see :func:`grid_counts`) and a time column.
    space_bands_m : sequence of float
        Band edges in metres, e.g. ``[0, 100, 200, 300, 400]``.
    time_bands_days : sequence of float
        Band edges in days, e.g. ``[0, 7, 14, 21, 28]``.
    permutations : int
        Shuffles of the times among the events.
    seed : int, optional
        For a reproducible result.
    time : str
        Time column.
    crs : str, optional
        Working projected CRS (for x/y input, their CRS).
    alpha : float
        Level for the ``significant`` column.

    Returns
    -------
    KnoxResult

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> xy = rng.uniform(0, 3000, (400, 2))
    >>> days = rng.uniform(0, 365, 400)
    >>> events = pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1],
    ...     "occurred_at": pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(days, "D")})
    >>> res = knox(events, [0, 200, 400], [0, 14, 28], permutations=99, seed=1, crs="EPSG:32616")
    >>> res.table["space_band"].tolist()[:2], res.table["time_band"].tolist()[:2]
    (['0-200 m', '0-200 m'], ['0-14 days', '14-28 days'])
    """
    s_edges = _edges(space_bands_m, "space_bands_m", "metres")
    t_edges = _edges(time_bands_days, "time_bands_days", "days")
    permutations = int(permutations)
    if permutations < 1:
        raise HotspotInputError(f"permutations must be >= 1; got {permutations}")
    pts = as_points(points, crs, time=time)
    n = pts.x.size
    if n < 2:
        raise HotspotInputError(f"the Knox test needs at least 2 events with a location and time; got {n}")
    tree = cKDTree(np.column_stack([pts.x, pts.y]))
    pairs = tree.query_pairs(r=float(s_edges[-1]), output_type="ndarray")
    i, j = pairs[:, 0], pairs[:, 1]
    dist = np.hypot(pts.x[i] - pts.x[j], pts.y[i] - pts.y[j])
    s_band = _band(dist, s_edges)
    keep = s_band >= 0
    i, j, s_band = i[keep], j[keep], s_band[keep]
    n_s, n_t = s_edges.size - 1, t_edges.size - 1
    n_cells = n_s * n_t
    days = (pts.times.astype("int64") - pts.times.astype("int64").min()) / NS_PER_DAY

    def counts(day_values):
        """Band-pair counts for one or more rows of event times (rows x events)."""
        dt = np.abs(day_values[:, i] - day_values[:, j])
        t_band = _band(dt.ravel(), t_edges).reshape(dt.shape)
        ok = t_band >= 0
        cell = s_band[None, :] * n_t + t_band
        rows = np.broadcast_to(np.arange(day_values.shape[0])[:, None], dt.shape)
        flat = rows[ok] * n_cells + cell[ok]
        return np.bincount(flat, minlength=day_values.shape[0] * n_cells).reshape(-1, n_cells)

    observed = counts(days[None, :])[0]
    rng = np.random.default_rng(seed)
    chunk = max(1, min(permutations, 4_000_000 // max(1, i.size)))  # ~150 MB of temporaries
    sims = []
    done = 0
    while done < permutations:
        m = min(chunk, permutations - done)
        shuffled = rng.permuted(np.broadcast_to(days, (m, n)), axis=1)
        sims.append(counts(shuffled))
        done += m
    sims = np.concatenate(sims, axis=0)
    expected = sims.mean(axis=0)
    p_value = (1 + (sims >= observed[None, :]).sum(axis=0)) / (1 + permutations)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(expected > 0, observed / expected, np.nan)
    s_idx, t_idx = np.divmod(np.arange(n_cells), n_t)
    table = pd.DataFrame({
        "space_band": [_label(s_edges[a], s_edges[a + 1], "m") for a in s_idx],
        "time_band": [_label(t_edges[b], t_edges[b + 1], "days") for b in t_idx],
        "space_from_m": s_edges[s_idx], "space_to_m": s_edges[s_idx + 1],
        "time_from_days": t_edges[t_idx], "time_to_days": t_edges[t_idx + 1],
        "observed": observed, "expected": expected, "knox_ratio": ratio, "p_value": p_value,
    })
    table["significant"] = table["p_value"] < alpha
    notes = [] if pts.n_missing == 0 else [f"{pts.n_missing} events without a location were left out"]
    return KnoxResult(table, n, int(i.size), permutations, seed, alpha, notes)
