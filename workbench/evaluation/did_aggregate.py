"""Aggregations of ATT(g,t) and the multiplier bootstrap (as in R ``did::aggte``).

Weights are cohort shares ``P(G = g)`` among all units. Because those shares are
estimated, their influence function ("wif") is added to the aggregate's influence
function, so the standard errors account for them, as in Callaway & Sant'Anna (2021).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from workbench.errors import EvaluationError

MAMMEN_LOW = (1 - np.sqrt(5)) / 2
MAMMEN_HIGH = (1 + np.sqrt(5)) / 2
MAMMEN_P_LOW = (np.sqrt(5) + 1) / (2 * np.sqrt(5))


@dataclass
class Aggregate:
    """One aggregation of ATT(g,t).

    Attributes
    ----------
    kind : str
        simple, dynamic, group or calendar.
    estimate, se : float
        Overall estimate and its analytic standard error (influence function, clustered
        by unit).
    ci_low, ci_high : float
        Pointwise confidence interval at level ``1 - alpha``.
    table : DataFrame or None
        Per event time (``event_time``), cohort (``group``) or period (``time``): ``att``,
        ``se``, ``ci_low``, ``ci_high`` (uniform over the table's rows when bootstrapped,
        with ``se`` then the bootstrap SE).
    influence : ndarray
        Influence function of the overall estimate, one value per unit.
    """

    kind: str
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    alpha: float
    influence: np.ndarray
    table: pd.DataFrame | None = None
    critical_value: float | None = None

    def summary(self) -> str:
        head = (f"ATT ({self.kind}): {self.estimate:.4f} (se {self.se:.4f}; "
                f"{100 * (1 - self.alpha):.0f}% CI {self.ci_low:.4f} to {self.ci_high:.4f})")
        if self.table is None:
            return head
        return head + "\n" + self.table.to_string(index=False, float_format=lambda v: f"{v:.4f}")


def multiplier_bootstrap(influence: np.ndarray, n_boot: int, seed=None, alpha: float = 0.05):
    """Multiplier bootstrap with Mammen weights, one weight per unit.

    Parameters
    ----------
    influence : ndarray, shape (n_units, k)
    n_boot : int
    seed : int, optional
    alpha : float

    Returns
    -------
    se : ndarray, shape (k,)
        Bootstrap standard errors (interquartile range / 1.349, divided by sqrt(n)).
    critical_value : float
        The ``1 - alpha`` quantile of the largest studentised deviation across the ``k``
        estimates: ``estimate +/- critical_value * se`` is a uniform band.
    """
    rng = np.random.default_rng(seed)
    influence = np.atleast_2d(np.asarray(influence, float).T).T
    n = influence.shape[0]
    draws = np.empty((n_boot, influence.shape[1]))
    for start in range(0, n_boot, 256):  # chunks keep the weight matrix small
        b = min(256, n_boot - start)
        v = np.where(rng.random((b, n)) < MAMMEN_P_LOW, MAMMEN_LOW, MAMMEN_HIGH)
        draws[start:start + b] = v @ influence / np.sqrt(n)
    q75, q25 = np.quantile(draws, [0.75, 0.25], axis=0)
    sigma = (q75 - q25) / (stats.norm.ppf(0.75) - stats.norm.ppf(0.25))
    ok = sigma > np.sqrt(np.finfo(float).eps)
    t_max = np.max(np.abs(draws[:, ok]) / sigma[ok], axis=1) if ok.any() else np.zeros(n_boot)
    crit = float(np.quantile(t_max, 1 - alpha))
    return sigma / np.sqrt(n), crit


def _combine(att, inf, cohorts, unit_cohort, with_wif):
    """Cohort-share-weighted average of estimates and its influence function."""
    pg = np.array([np.mean(unit_cohort == c) for c in cohorts])
    w = pg / pg.sum()
    infl = inf @ w
    if with_wif:
        member = (unit_cohort[:, None] == np.asarray(cohorts)[None, :]).astype(float) - pg[None, :]
        wif = member / pg.sum() - member.sum(axis=1)[:, None] * (pg / pg.sum() ** 2)[None, :]
        infl = infl + wif @ att
    return float(att @ w), infl


def aggregate_att_gt(result, kind: str, bootstrap=None, seed=None) -> Aggregate:
    """See :meth:`StaggeredDiDResult.aggregate`."""
    kinds = ("simple", "dynamic", "group", "calendar")
    if kind not in kinds:
        raise EvaluationError(f"kind must be one of {kinds}, got {kind!r}")
    att = result.att_gt["att"].to_numpy()
    inf = result.influence
    n = result.n_units
    cg, ct = result.cell_g, result.cell_t
    unit_cohort = result.unit_group
    post = ct >= cg
    if not post.any():
        raise EvaluationError("no post-treatment cells to aggregate")
    rows, row_inf = [], []
    if kind == "simple":
        est, infl = _combine(att[post], inf[:, post], cg[post], unit_cohort, True)
    elif kind == "dynamic":
        event = ct - cg
        for e in np.unique(event):
            m = event == e
            rows.append(e)
            row_inf.append(_combine(att[m], inf[:, m], cg[m], unit_cohort, True))
        keep = np.array(rows) >= 0
        est = float(np.mean([r[0] for r, k in zip(row_inf, keep) if k]))
        infl = np.mean([r[1] for r, k in zip(row_inf, keep) if k], axis=0)
    elif kind == "group":
        cohorts = np.unique(cg)
        for g in cohorts:
            m = (cg == g) & post
            rows.append(result.times[g])
            row_inf.append(_combine(att[m], inf[:, m], cg[m], unit_cohort, False))
        est, infl = _combine(np.array([r[0] for r in row_inf]), np.column_stack([r[1] for r in row_inf]),
                             cohorts, unit_cohort, True)
    else:
        for t in np.unique(ct[ct >= cg.min()]):
            m = (ct == t) & (cg <= t)
            rows.append(result.times[t])
            row_inf.append(_combine(att[m], inf[:, m], cg[m], unit_cohort, True))
        est = float(np.mean([r[0] for r in row_inf]))
        infl = np.mean([r[1] for r in row_inf], axis=0)
    se = float(np.sqrt(np.mean(infl ** 2) / n))
    z = stats.norm.ppf(1 - result.alpha / 2)
    table, crit = None, None
    if rows:
        label = {"dynamic": "event_time", "group": "group", "calendar": "time"}[kind]
        est_rows = np.array([r[0] for r in row_inf])
        inf_rows = np.column_stack([r[1] for r in row_inf])
        se_rows = np.sqrt(np.mean(inf_rows ** 2, axis=0) / n)
        table = pd.DataFrame({label: rows, "att": est_rows, "se": se_rows})
        if bootstrap:
            se_b, crit = multiplier_bootstrap(inf_rows, bootstrap, seed, result.alpha)
            table["se_bootstrap"] = se_b
            half = crit * se_b
        else:
            half = z * se_rows
        table["ci_low"] = est_rows - half
        table["ci_high"] = est_rows + half
    return Aggregate(kind=kind, estimate=est, se=se, ci_low=est - z * se, ci_high=est + z * se,
                     alpha=result.alpha, influence=infl, table=table, critical_value=crit)
