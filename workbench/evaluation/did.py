"""Staggered difference-in-differences (Callaway & Sant'Anna 2021).

Districts adopt the RTCC at different times. A two-way fixed-effects regression on such a
rollout compares late adopters with early adopters already treated and can give the wrong
sign when effects grow over time. Callaway & Sant'Anna instead estimate one clean 2x2
comparison per adoption cohort ``g`` and period ``t`` -- ATT(g,t) -- against units not
(yet) treated, and then average them in ways that answer policy questions.

Conventions follow the R package ``did`` (``att_gt`` / ``aggte``) so results can be checked
against it: a "varying" base period (post-treatment cells compare with period ``g-1``,
pre-treatment cells with the period before ``t``), no anticipation, analytic standard
errors from the influence function (clustered by unit, i.e. ``se = sd(IF) / sqrt(n)`` over
units), and weights for the aggregations from cohort sizes with the estimation effect of
those weights in the standard errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from workbench.errors import EvaluationError
from workbench.evaluation.did_aggregate import Aggregate, aggregate_att_gt, multiplier_bootstrap
from workbench.evaluation.drdid import did_2x2
from workbench.evaluation.panel import prepare_panel


@dataclass
class StaggeredDiDResult:
    """Group-time average treatment effects and what is needed to aggregate them.

    Attributes
    ----------
    att_gt : DataFrame
        One row per cell: ``group`` (first treated period), ``time``, ``att``, ``se``
        (analytic, from the influence function), ``ci_low``, ``ci_high`` (pointwise, or
        uniform over cells when a bootstrap was run), ``post`` (time >= group),
        ``n_treated``, ``n_control``.
    influence : ndarray, shape (n_units, n_cells)
        Influence function of each ATT(g,t), rescaled to all ``n_units``.
    pretrend : dict
        Wald test that all pre-treatment ATT(g,t) are zero: ``stat``, ``df``, ``p``.
    """

    att_gt: pd.DataFrame
    influence: np.ndarray
    unit_group: np.ndarray           # per unit: index of first treated period in times, -1 never
    times: np.ndarray
    cell_g: np.ndarray               # per cell: index of its group in times
    cell_t: np.ndarray               # per cell: index of its period in times
    method: str
    control: str
    alpha: float
    n_units: int
    dropped_units: list = field(default_factory=list)
    skipped_cells: list = field(default_factory=list)
    pretrend: dict = field(default_factory=dict)
    bootstrap_info: dict = field(default_factory=dict)

    def aggregate(self, kind: str = "simple", bootstrap: int | None = None, seed=None) -> Aggregate:
        """Average the ATT(g,t) into one summary (R ``aggte``).

        Parameters
        ----------
        kind : {"simple", "dynamic", "group", "calendar"}
            ``simple``: post-treatment cells weighted by cohort size. ``dynamic``: by event
            time ``e = t - g`` (an event study; the overall estimate averages ``e >= 0``).
            ``group``: by cohort, then across cohorts by size. ``calendar``: by period, then
            across periods.
        bootstrap : int, optional
            Multiplier bootstrap draws for uniform confidence bands over the table.
        seed : int, optional

        Returns
        -------
        Aggregate
            ``.estimate``, ``.se``, ``.ci_low``, ``.ci_high`` and, except for ``simple``,
            ``.table`` with one row per event time / cohort / period.
        """
        return aggregate_att_gt(self, kind, bootstrap=bootstrap, seed=seed)

    def summary(self) -> str:
        """Plain-text summary: the cells, the overall ATT and the pre-trend test."""
        agg = self.aggregate("simple")
        lines = [
            f"Staggered DiD (Callaway & Sant'Anna), method={self.method}, control={self.control}"
            f"-treated, {self.n_units} units",
            "SEs: analytic, influence function, clustered by unit"
            + (f"; bands: uniform, multiplier bootstrap ({self.bootstrap_info['n_boot']} draws)"
               if self.bootstrap_info else "; intervals: pointwise"),
            self.att_gt.to_string(index=False, float_format=lambda v: f"{v:.4f}"),
            f"Overall ATT (simple): {agg.estimate:.4f} (se {agg.se:.4f}, "
            f"{100 * (1 - self.alpha):.0f}% CI {agg.ci_low:.4f} to {agg.ci_high:.4f})",
        ]
        if self.pretrend:
            lines.append(f"Pre-trend Wald test: chi2({self.pretrend['df']}) = "
                         f"{self.pretrend['stat']:.3f}, p = {self.pretrend['p']:.4f}")
        return "\n".join(lines)


def _pretrend_test(att, influence, pre_mask, n):
    """Wald test of all pre-treatment ATT(g,t) = 0 (as R ``did``'s ``W``).

    With more pre-treatment cells than units the covariance is singular; the test then
    uses its pseudo-inverse with degrees of freedom equal to its rank, and says so.
    """
    if not pre_mask.any():
        return {}
    v = influence[:, pre_mask].T @ influence[:, pre_mask] / n
    a = att[pre_mask]
    rank = int(np.linalg.matrix_rank(v))
    if rank == 0:
        return {"stat": np.nan, "df": 0, "p": np.nan, "note": "no variation in the pre-treatment cells"}
    if rank < len(a):
        stat = float(n * a @ np.linalg.pinv(v) @ a)
        return {"stat": stat, "df": rank, "p": float(stats.chi2.sf(stat, rank)),
                "note": f"{len(a)} pre-treatment cells but covariance rank {rank} (few units): pseudo-inverse"}
    stat = float(n * a @ np.linalg.solve(v, a))
    return {"stat": stat, "df": len(a), "p": float(stats.chi2.sf(stat, len(a)))}


def staggered_did(panel: pd.DataFrame, unit: str, time: str, outcome: str, first_treated: str | None = None,
                  control: str = "never", covariates=None, method: str = "dr", *, treated: str | None = None,
                  unbalanced: str = "error", alpha: float = 0.05, bootstrap: int | None = None,
                  seed=None) -> StaggeredDiDResult:
    """Estimate ATT(g,t) for a staggered rollout (Callaway & Sant'Anna 2021).

    Parameters
    ----------
    panel : DataFrame
        Long panel, one row per unit and period (e.g. district-month crime counts).
    unit, time, outcome : str
        Column names. ``time`` values must be orderable (years, month starts, Periods).
    first_treated : str
        Column with the first treated period of each unit (constant within unit); 0 or
        missing for never-treated units. A value between period labels counts from the
        first period at or after it; a value after the last period means never treated.
    control : {"never", "notyet"}
        Comparison units: never treated, or never plus not yet treated by period ``t``.
    covariates : list of str, optional
        Columns conditioned on (their base-period values are used).
    method : {"dr", "ipw", "reg"}
        Doubly robust, inverse probability weighting or outcome regression.
    treated : str, optional
        A 0/1 treatment column, instead of ``first_treated``; treatment must not switch off.
    unbalanced : {"error", "drop"}
        What to do with units missing some periods.
    alpha : float
        1 - confidence level.
    bootstrap : int, optional
        If given, the number of multiplier bootstrap draws (Mammen weights, clustered by
        unit); the reported ``ci_low``/``ci_high`` become uniform bands over all cells.
    seed : int, optional
        Seed for the bootstrap.

    Returns
    -------
    StaggeredDiDResult

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> panel = pd.DataFrame({"unit": np.repeat(np.arange(40), 4), "t": np.tile(np.arange(4), 40)})
    >>> panel["g"] = np.where(panel["unit"] < 20, 2, 0)
    >>> panel["y"] = rng.normal(0, 0.2, size=160) + 1.0 * ((panel["g"] > 0) & (panel["t"] >= 2))
    >>> res = staggered_did(panel, "unit", "t", "y", "g")
    >>> bool(abs(res.aggregate("simple").estimate - 1.0) < 0.3)
    True
    """
    if control not in ("never", "notyet"):
        raise EvaluationError(f"control must be 'never' or 'notyet', got {control!r}")
    if method not in ("dr", "ipw", "reg"):
        raise EvaluationError(f"method must be 'dr', 'ipw' or 'reg', got {method!r}")
    data = prepare_panel(panel, unit, time, outcome, first_treated=first_treated, treated=treated,
                         covariates=covariates, unbalanced=unbalanced)
    g_idx, n, n_times = data.group, data.n, len(data.times)
    never = g_idx < 0
    if control == "never" and not never.any():
        raise EvaluationError(
            "control='never' but no unit is never treated: every unit adopts within the panel. "
            "Use control='notyet' to compare with units not yet treated.")
    cohorts = np.unique(g_idx[~never])
    cov_names = list(data.covariates)
    rows, infs, skipped, cells = [], [], [], []
    for g in cohorts:
        for t in range(1, n_times):
            base = g - 1 if t >= g else t - 1
            treat = g_idx == g
            if control == "never":
                cont = never.copy()
            else:
                cont = never | ((g_idx > max(t, base)) & (g_idx != g))
            if not cont.any():
                skipped.append((data.times[g], data.times[t], "no control units"))
                continue
            keep = treat | cont
            dy = data.y[keep, t] - data.y[keep, base]
            x = (np.column_stack([data.covariates[c][keep, base] for c in cov_names])
                 if cov_names else None)
            att, inf = did_2x2(dy, treat[keep].astype(float), x, method)
            full = np.zeros(n)
            full[keep] = inf * n / keep.sum()
            rows.append((data.times[g], data.times[t], att, t >= g, int(treat.sum()), int(cont.sum())))
            cells.append((g, t))
            infs.append(full)
    att_gt = pd.DataFrame(rows, columns=["group", "time", "att", "post", "n_treated", "n_control"])
    influence = np.column_stack(infs)
    att_gt.insert(3, "se", np.sqrt(np.mean(influence ** 2, axis=0) / n))
    z = stats.norm.ppf(1 - alpha / 2)
    boot = {}
    if bootstrap:
        se_b, crit = multiplier_bootstrap(influence, bootstrap, seed, alpha)
        boot = {"n_boot": int(bootstrap), "critical_value": crit, "se_bootstrap": se_b}
        att_gt.insert(4, "se_bootstrap", se_b)
        half = crit * se_b
    else:
        half = z * att_gt["se"].to_numpy()
    att_gt.insert(5 if bootstrap else 4, "ci_low", att_gt["att"] - half)
    att_gt.insert(6 if bootstrap else 5, "ci_high", att_gt["att"] + half)
    cells = np.array(cells, dtype=int)
    result = StaggeredDiDResult(
        att_gt=att_gt, influence=influence, unit_group=g_idx, times=data.times,
        cell_g=cells[:, 0], cell_t=cells[:, 1], method=method,
        control=control, alpha=alpha, n_units=n, dropped_units=data.dropped_units,
        skipped_cells=skipped, bootstrap_info=boot,
    )
    result.pretrend = _pretrend_test(att_gt["att"].to_numpy(), influence, ~att_gt["post"].to_numpy(), n)
    return result
