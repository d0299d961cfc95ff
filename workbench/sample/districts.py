"""Police districts and beats of the synthetic city: Voronoi cells and their demographics."""

from __future__ import annotations

import numpy as np


def demographics(d, jitter):
    """Median income and race/ethnicity shares from deprivation ``d`` plus standard-normal ``jitter``.

    Returns
    -------
    income : numpy.ndarray
        USD, rounded to hundreds.
    shares : numpy.ndarray
        Rows white, black, hispanic, asian, other; columns sum to 1.
    """
    income = 98_000 - 62_000 * d + jitter[0] * 6_000
    black = np.clip(0.08 + 0.55 * d + jitter[1] * 0.05, 0.01, 0.9)
    hisp = np.clip(0.05 + 0.14 * d + jitter[2] * 0.04, 0.01, 0.5)
    asian = np.clip(0.07 - 0.05 * d + jitter[3] * 0.015, 0.005, 0.3)
    other = np.clip(0.035 + jitter[4] * 0.01, 0.005, 0.1)
    white = np.clip(1 - black - hisp - asian - other, 0.02, 1)
    shares = np.stack([white, black, hisp, asian, other])
    shares = shares / shares.sum(axis=0)
    return np.round(income, -2), np.round(shares, 4)


def voronoi(points, clip):
    """Voronoi cells of ``points`` (in the given order), clipped to ``clip``."""
    import shapely

    cells = shapely.voronoi_polygons(shapely.multipoints(points), extend_to=clip, ordered=True)
    return [shapely.intersection(c, clip) for c in shapely.get_parts(cells)]


def sample_in(poly, k, rng):
    """``k`` uniform points inside ``poly`` (rejection sampling on its bounds)."""
    import shapely

    x0, y0, x1, y1 = poly.bounds
    out = np.empty((0, 2))
    while len(out) < k:
        cand = np.column_stack([rng.uniform(x0, x1, 4 * k), rng.uniform(y0, y1, 4 * k)])
        out = np.vstack([out, cand[shapely.contains_xy(poly, cand[:, 0], cand[:, 1])]])
    return out[:k]


def lloyd(points, k, rng, iters=15):
    """k-means centres of ``points`` (a few Lloyd iterations), so beats have similar areas."""
    cents = points[rng.choice(len(points), k, replace=False)]
    for _ in range(iters):
        lab = np.argmin(((points[:, None, :] - cents[None]) ** 2).sum(-1), axis=1)
        cents = np.array([points[lab == c].mean(0) if (lab == c).any() else cents[c]
                          for c in range(k)])
    return cents
