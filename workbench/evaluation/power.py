"""Power before launch: can the planned evaluation see the effect the agency hopes for?

:func:`minimum_detectable_effect` simulates the planned district-by-month design many
times -- districts with their own base rates, seasonality, overdispersed counts, a
staggered rollout -- applies the same analysis the evaluation will use (two-way
fixed-effects Poisson, cluster-robust SEs by district, as :func:`poisson_did`) and counts
how often a true effect of each size is detected. The fixed-effects Poisson fit is
vectorised over simulations (fixed effects concentrated out by iterative proportional
fitting), so a few hundred simulations per effect size take seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from workbench.errors import EvaluationError


def fe_poisson_batch(y: np.ndarray, d: np.ndarray, newton_steps: int = 25, inner: int = 100):
    """Two-way fixed-effects Poisson slope for a batch of unit x period panels.

    Parameters
    ----------
    y, d : ndarray, shape (n_sims, n_units, n_periods)
        Counts and the 0/1 treatment indicator.

    Returns
    -------
    beta, se : ndarray, shape (n_sims,)
        Log rate ratio and its cluster-robust (by unit, CRV1 with G/(G-1)) standard error.
    """
    y = np.asarray(y, float)
    d = np.asarray(d, float)
    n_sims, n_units, _ = y.shape
    beta = np.zeros(n_sims)
    g = np.ones(y.shape[:1] + (1, y.shape[2]))
    row_y, col_y = y.sum(2, keepdims=True), y.sum(1, keepdims=True)
    for _ in range(newton_steps):
        e = np.exp(beta[:, None, None] * d)
        for _ in range(inner):  # margins of mu match those of y
            a = row_y / np.maximum((e * g).sum(2, keepdims=True), 1e-300)
            g_new = col_y / np.maximum((e * a).sum(1, keepdims=True), 1e-300)
            done = np.max(np.abs(g_new - g)) < 1e-12 * max(1.0, np.max(g))
            g = g_new
            if done:
                break
        mu = e * a * g
        d_tilde = _weighted_demean(d, mu)
        hess = (d_tilde ** 2 * mu).sum((1, 2))
        step = (d * (y - mu)).sum((1, 2)) / np.maximum(hess, 1e-300)
        beta = beta + np.clip(step, -1, 1)
        if np.max(np.abs(step)) < 1e-10:
            break
    scores = (d_tilde * (y - mu)).sum(2)  # per unit
    se = np.sqrt(n_units / (n_units - 1) * (scores ** 2).sum(1)) / hess
    return beta, se


def _weighted_demean(x, w, iters=200):
    """Residual of x after weighted projection on unit and period effects (alternating projections)."""
    r = x.copy()
    for _ in range(iters):
        r_prev = r
        r = r - (w * r).sum(2, keepdims=True) / np.maximum(w.sum(2, keepdims=True), 1e-300)
        r = r - (w * r).sum(1, keepdims=True) / np.maximum(w.sum(1, keepdims=True), 1e-300)
        if np.max(np.abs(r - r_prev)) < 1e-12:
            break
    return r


@dataclass
class PowerResult:
    """Simulated power of a planned design.

    Attributes
    ----------
    curve : DataFrame
        Per true IRR: ``power`` (share of simulations with p < alpha in the right
        direction... two-sided test), ``mean_irr`` (average estimate), ``coverage`` of the
        95% interval.
    mde_irr : float
        The IRR at which power reaches ``power`` (interpolated on the log scale); NaN if
        no effect in the grid reaches it.
    type_one_error : float
        Rejection rate when the true IRR is 1.
    design : dict
    """

    curve: pd.DataFrame
    mde_irr: float
    type_one_error: float
    design: dict
    target_power: float

    def summary(self) -> str:
        d = self.design
        head = (f"Planned design: {d['n_districts']} districts ({d['n_treated']} treated, staggered), "
                f"{d['n_months']} months, base rate {d['base_rate']:g} per district-month; "
                f"{d['n_sims']} simulations per effect; alpha {d['alpha']}")
        mde = ("no effect in the grid reaches the target power" if np.isnan(self.mde_irr)
               else f"minimum detectable IRR {self.mde_irr:.3f} ({100 * (1 - self.mde_irr):.1f}% change)")
        return (f"{head}\nAt {100 * self.target_power:.0f}% power: {mde}; false-positive rate at no "
                f"effect {self.type_one_error:.3f}\n" + self.curve.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


def simulate_district_counts(rng, n_sims, n_districts, n_months, base_rate, irr, treated_share=0.7,
                             district_sd=0.3, dispersion=10.0, seasonality=0.15):
    """Counts (n_sims, n_districts, n_months) and the staggered treatment indicator."""
    n_treated = int(round(treated_share * n_districts))
    u = rng.normal(0, district_sd, (n_sims, n_districts, 1))
    t = np.arange(n_months)
    season = seasonality * np.sin(2 * np.pi * t / 12)
    # staggered launches spread over the middle third of the study
    launches = np.linspace(n_months // 3, 2 * n_months // 3, max(n_treated, 1)).round().astype(int)
    start = np.full(n_districts, n_months + 1)
    start[:n_treated] = launches[:n_treated]
    d = np.broadcast_to((t[None, :] >= start[:, None]).astype(float), (n_sims, n_districts, n_months))
    mu = base_rate * np.exp(u + season[None, None, :] + np.log(irr) * d)
    lam = rng.gamma(dispersion, mu / dispersion) if np.isfinite(dispersion) else mu
    return rng.poisson(lam), np.array(d), n_treated


def minimum_detectable_effect(n_districts: int, n_months: int, base_rate: float, treated_share: float = 0.7,
                              effects=(1.0, 0.97, 0.95, 0.92, 0.9, 0.85, 0.8, 0.7), n_sims: int = 200,
                              alpha: float = 0.05, power: float = 0.8, district_sd: float = 0.3,
                              dispersion: float = 10.0, seed=None) -> PowerResult:
    """Simulation-based power and minimum detectable effect of a planned RTCC evaluation.

    Parameters
    ----------
    n_districts, n_months : int
        Planned panel: districts (some never treated) and months of data.
    base_rate : float
        Mean count per district-month without the RTCC (e.g. robberies, or clearances).
    treated_share : float
        Share of districts that get the RTCC (the rest are the comparison).
    effects : sequence of float
        True incidence rate ratios to try; include 1.0 for the false-positive rate.
    n_sims : int
        Simulated evaluations per effect size.
    alpha, power : float
        Test level (two-sided) and target power.
    district_sd : float
        SD of log base rates between districts.
    dispersion : float
        Gamma shape of month-to-month overdispersion (variance mu + mu^2/dispersion);
        ``np.inf`` for pure Poisson.
    seed : int, optional

    Returns
    -------
    PowerResult

    Examples
    --------
    >>> res = minimum_detectable_effect(20, 36, base_rate=30, n_sims=50, seed=1)
    >>> bool(res.mde_irr < 1)
    True
    """
    if n_districts < 4 or n_months < 6:
        raise EvaluationError("a district panel needs at least 4 districts and 6 months to evaluate")
    if not 0 < treated_share < 1:
        raise EvaluationError(f"treated_share must be between 0 and 1 (some districts untreated), got {treated_share}")
    rng = np.random.default_rng(seed)
    z = stats.norm.ppf(1 - alpha / 2)
    rows = []
    for irr in effects:
        y, d, n_treated = simulate_district_counts(rng, n_sims, n_districts, n_months, base_rate, irr,
                                                   treated_share, district_sd, dispersion)
        beta, se = fe_poisson_batch(y, d)
        reject = np.abs(beta / se) > z
        covered = np.abs(beta - np.log(irr)) <= z * se
        rows.append({"irr": irr, "power": reject.mean(), "mean_irr": float(np.exp(beta).mean()),
                     "coverage": covered.mean()})
    curve = pd.DataFrame(rows)
    type_one = float(curve.loc[np.isclose(curve["irr"], 1.0), "power"].mean()) if np.isclose(curve["irr"], 1.0).any() else np.nan
    mde = np.nan
    eff = curve[~np.isclose(curve["irr"], 1.0)].assign(dist=lambda c: np.abs(np.log(c["irr"]))).sort_values("dist")
    prev_dist, prev_pow = 0.0, type_one if np.isfinite(type_one) else alpha
    for dist, pw in zip(eff["dist"], eff["power"]):
        if pw >= power:
            frac = (power - prev_pow) / (pw - prev_pow) if pw > prev_pow else 1.0
            log_mde = prev_dist + frac * (dist - prev_dist)
            sign = np.sign(np.log(eff["irr"].iloc[0]))
            mde = float(np.exp(sign * log_mde))
            break
        prev_dist, prev_pow = dist, pw
    design = dict(n_districts=n_districts, n_treated=n_treated, n_months=n_months, base_rate=base_rate,
                  treated_share=treated_share, n_sims=n_sims, alpha=alpha, district_sd=district_sd,
                  dispersion=dispersion)
    return PowerResult(curve=curve, mde_irr=mde, type_one_error=type_one, design=design, target_power=power)
