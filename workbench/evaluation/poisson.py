"""Poisson difference-in-differences for counts (the Chicago SDSC design).

Crime and clearance counts per district and month are modelled as Poisson with district
and month fixed effects and a treatment indicator (district has an RTCC / SDSC that
month). ``exp(beta)`` is the incidence rate ratio (IRR): the multiplicative change in the
count when treated. Poisson fixed-effects estimates are consistent whenever the mean is
correctly specified, even for overdispersed counts, because inference uses cluster-robust
standard errors (by district unless told otherwise), which also absorb serial correlation.

The engine is ``pyfixest.fepois`` (fixed effects absorbed, fast for many units); the
``"statsmodels"`` engine fits the same model as a GLM with explicit dummies, as a check.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from workbench.errors import EvaluationError
from workbench.evaluation.panel import check_columns, first_treated_from_indicator


@dataclass
class PoissonDiDResult:
    """IRR from a two-way fixed-effects Poisson model.

    Attributes
    ----------
    coefficient, se : float
        Log rate ratio of ``treated`` and its cluster-robust (CRV1) standard error.
    irr, ci_low, ci_high : float
        ``exp(coefficient)`` and its ``1 - alpha`` confidence interval (exponentiated
        Wald interval on the log scale).
    p : float
        Two-sided p-value for IRR = 1.
    cluster : str
        Column the standard errors are clustered by; ``n_clusters`` of them.
    coefficients : Series
        All non-fixed-effect coefficients (treated and covariates).
    """

    coefficient: float
    se: float
    irr: float
    ci_low: float
    ci_high: float
    p: float
    alpha: float
    cluster: str
    n_clusters: int
    n_obs: int
    engine: str
    coefficients: pd.Series = field(default_factory=pd.Series)

    def summary(self) -> str:
        return (f"Poisson DiD ({self.engine}; unit and time fixed effects): IRR {self.irr:.3f} "
                f"({100 * (1 - self.alpha):.0f}% CI {self.ci_low:.3f} to {self.ci_high:.3f}, "
                f"p = {self.p:.4f}); SEs cluster-robust (CRV1) by {self.cluster}, "
                f"{self.n_clusters} clusters, {self.n_obs} observations")


def _check_poisson_panel(panel, unit, time, outcome, treated, offset, cluster, covariates):
    check_columns(panel, [unit, time, outcome, treated, offset, cluster, *covariates])
    if panel.duplicated([unit, time]).any():
        raise EvaluationError(f"panel has more than one row per {unit!r} and {time!r}")
    y = pd.to_numeric(panel[outcome], errors="coerce")
    if y.isna().any():
        raise EvaluationError(f"outcome {outcome!r} has missing or non-numeric values")
    if (y < 0).any():
        raise EvaluationError(f"outcome {outcome!r} is a count and cannot be negative")
    first_treated_from_indicator(panel, unit, time, treated)  # raises if treatment switches off
    if panel[treated].astype(float).nunique() < 2:
        raise EvaluationError(f"treatment column {treated!r} never varies: nothing to compare")


def poisson_did(panel: pd.DataFrame, unit: str, time: str, outcome: str, treated: str,
                offset: str | None = None, cluster: str | None = None, covariates=None,
                alpha: float = 0.05, engine: str = "pyfixest") -> PoissonDiDResult:
    """Incidence rate ratio of treatment from a Poisson model with unit and time fixed effects.

    Parameters
    ----------
    panel : DataFrame
        One row per unit and period; unbalanced panels are fine (fixed effects absorb
        missing periods) but each (unit, time) must appear once.
    unit, time, outcome : str
        Column names; ``outcome`` is a non-negative count.
    treated : str
        0/1 column: the unit is treated in that period. Staggered adoption is assumed and a
        treatment that switches off raises an error.
    offset : str, optional
        Column with log exposure (e.g. log population or log cases opened), entered with
        coefficient 1 so the model is for the rate.
    cluster : str, optional
        Column to cluster standard errors by; default ``unit``.
    covariates : list of str, optional
    alpha : float
    engine : {"pyfixest", "statsmodels"}

    Returns
    -------
    PoissonDiDResult

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> p = pd.DataFrame({"d": np.repeat(np.arange(30), 12), "m": np.tile(np.arange(12), 30)})
    >>> p["on"] = ((p["d"] < 15) & (p["m"] >= 6)).astype(int)
    >>> p["n"] = rng.poisson(20 * np.exp(np.log(0.8) * p["on"]))
    >>> res = poisson_did(p, "d", "m", "n", "on")
    >>> bool(0.7 < res.irr < 0.9)
    True
    """
    covariates = list(covariates or [])
    cluster = cluster or unit
    _check_poisson_panel(panel, unit, time, outcome, treated, offset, cluster, covariates)
    cols = list(dict.fromkeys([unit, time, outcome, treated, cluster, *covariates] + ([offset] if offset else [])))
    d = panel[cols].copy()
    d[treated] = d[treated].astype(float)
    d[outcome] = d[outcome].astype(float)
    if engine == "pyfixest":
        import pyfixest as pf

        rhs = " + ".join([treated, *covariates])
        d["_unit"], d["_time"] = d[unit].astype(str), d[time].astype(str)
        fit = pf.fepois(f"{outcome} ~ {rhs} | _unit + _time", data=d, vcov={"CRV1": cluster},
                        offset=offset, iwls_tol=1e-12, iwls_maxiter=100, fixef_tol=1e-12)
        coefs = fit.coef()
        se = float(fit.se()[treated])
        n_obs = int(fit._N)
    elif engine == "statsmodels":
        import statsmodels.api as sm

        x = pd.concat([d[[treated, *covariates]],
                       pd.get_dummies(d[unit].astype(str), prefix="u", drop_first=True, dtype=float),
                       pd.get_dummies(d[time].astype(str), prefix="t", drop_first=True, dtype=float)], axis=1)
        x = sm.add_constant(x)
        groups = pd.factorize(d[cluster])[0]
        fit = sm.GLM(d[outcome], x, family=sm.families.Poisson(),
                     offset=d[offset] if offset else None).fit(
            cov_type="cluster", cov_kwds={"groups": groups}, tol=1e-13, maxiter=200)
        coefs = fit.params[[treated, *covariates]]
        se = float(fit.bse[treated])
        n_obs = int(fit.nobs)
    else:
        raise EvaluationError(f"engine must be 'pyfixest' or 'statsmodels', got {engine!r}")
    beta = float(coefs[treated])
    z = stats.norm.ppf(1 - alpha / 2)
    return PoissonDiDResult(
        coefficient=beta, se=se, irr=float(np.exp(beta)), ci_low=float(np.exp(beta - z * se)),
        ci_high=float(np.exp(beta + z * se)), p=float(2 * stats.norm.sf(abs(beta / se))), alpha=alpha,
        cluster=cluster, n_clusters=int(d[cluster].nunique()), n_obs=n_obs, engine=engine,
        coefficients=pd.Series(coefs, dtype=float),
    )
