"""Interrupted time series for crime counts around one launch (one city or one district).

Segmented regression on the log scale:

``log E[y_t] = b0 + b1 t + b2 post_t + b3 (t - t0) post_t + season(t) [+ offset]``

``exp(b2)`` is the immediate level change (a rate ratio) and ``exp(b3)`` the change in
trend per period. The counterfactual is the fitted series with ``b2 = b3 = 0``; the
post-launch effect is observed over counterfactual counts, with an interval from the
parameter covariance (delta method on the log ratio). Poisson or negative binomial
(overdispersion estimated); HAC (Newey-West) standard errors absorb autocorrelation.
Without a comparison series this design cannot separate the launch from anything else
that changed at the same time -- prefer staggered DiD when there is a rollout.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from workbench.errors import EvaluationError


@dataclass
class ITSResult:
    """Segmented Poisson / NB fit with the counterfactual.

    Attributes
    ----------
    level_change, level_ci : float, tuple
        ``exp(b2)``: immediate multiplicative change at launch and its interval.
    trend_change, trend_ci : float, tuple
        ``exp(b3)``: change in the growth factor per 12 periods (a year of months).
    effect_ratio, effect_ci : float, tuple
        Observed / counterfactual total over the post-launch periods (model-based).
    series : DataFrame
        ``observed``, ``fitted``, ``counterfactual``, ``post`` per period.
    """

    family: str
    level_change: float
    level_ci: tuple
    trend_change: float
    trend_ci: tuple
    effect_ratio: float
    effect_ci: tuple
    series: pd.DataFrame
    alpha: float
    inference: str

    def summary(self) -> str:
        lvl = f"{100 * (1 - self.alpha):.0f}%"
        return (f"Interrupted time series ({self.family}; {self.inference}): level change "
                f"{self.level_change:.3f} ({lvl} CI {self.level_ci[0]:.3f} to {self.level_ci[1]:.3f}); "
                f"trend change {self.trend_change:.4f} per 12 periods; post-launch observed / counterfactual "
                f"{self.effect_ratio:.3f} ({lvl} CI {self.effect_ci[0]:.3f} to {self.effect_ci[1]:.3f})")


def interrupted_time_series(counts: pd.Series, launch, family: str = "negbin", seasonality: str | int | None = "month",
                            offset: pd.Series | None = None, maxlags: int | None = None,
                            alpha: float = 0.05) -> ITSResult:
    """Segmented Poisson / negative binomial regression around a launch, with the counterfactual.

    Parameters
    ----------
    counts : Series
        Counts per period, indexed by period (DatetimeIndex or PeriodIndex), regularly spaced.
    launch : Timestamp or Period
        First period with the RTCC live (a timestamp counts from the first period at or after it).
    family : {"negbin", "poisson"}
    seasonality : "month", int or None
        Month-of-year dummies, ``k`` Fourier pairs over a 12-period year, or none.
    offset : Series, optional
        Log exposure per period (e.g. log population), aligned to ``counts``.
    maxlags : int, optional
        HAC lag length; default ``floor(4 (n/100)^(2/9))`` (Newey & West).
    alpha : float

    Returns
    -------
    ITSResult
    """
    if not isinstance(counts, pd.Series) or len(counts) < 8:
        raise EvaluationError("counts must be a Series of at least 8 periods")
    y = counts.astype(float).sort_index()
    if y.isna().any() or (y < 0).any():
        raise EvaluationError("counts must be non-negative with no missing periods (a period with no crime is 0)")
    idx = y.index
    periods = idx if isinstance(idx, pd.PeriodIndex) else None
    stamps = idx.to_timestamp() if periods is not None else pd.DatetimeIndex(idx)
    launch_ts = pd.Timestamp(launch.start_time if isinstance(launch, pd.Period) else launch)
    if stamps.tz is not None and launch_ts.tz is None:
        launch_ts = launch_ts.tz_localize(stamps.tz)
    elif stamps.tz is None and launch_ts.tz is not None:
        launch_ts = launch_ts.tz_convert(None)
    t0 = int(np.sum(stamps < launch_ts))
    n = len(y)
    if t0 < 3 or t0 > n - 2:
        raise EvaluationError(f"launch {launch} leaves {t0} pre-launch and {n - t0} post-launch periods; "
                              "need at least 3 before and 2 after")
    t = np.arange(n, dtype=float)
    post = (t >= t0).astype(float)
    x = pd.DataFrame({"const": 1.0, "trend": t / 12, "post": post, "post_trend": (t - t0) * post / 12}, index=idx)
    if seasonality == "month":
        x = pd.concat([x, pd.get_dummies(pd.Categorical(stamps.month), prefix="m", drop_first=True,
                                         dtype=float).set_index(idx)], axis=1)
    elif isinstance(seasonality, int) and seasonality > 0:
        for k in range(1, seasonality + 1):
            x[f"sin{k}"] = np.sin(2 * np.pi * k * t / 12)
            x[f"cos{k}"] = np.cos(2 * np.pi * k * t / 12)
    off = None if offset is None else offset.reindex(idx).astype(float).to_numpy()
    lags = maxlags if maxlags is not None else int(np.floor(4 * (n / 100) ** (2 / 9)))
    cov = {"cov_type": "HAC", "cov_kwds": {"maxlags": max(lags, 1)}}
    if family == "poisson":
        fit = sm.GLM(y, x, family=sm.families.Poisson(), offset=off).fit(**cov)
    elif family == "negbin":
        nb = sm.NegativeBinomial(y, x, offset=off).fit(disp=0, maxiter=200)
        alpha_nb = float(np.clip(nb.params["alpha"], 1e-8, None))
        fit = sm.GLM(y, x, family=sm.families.NegativeBinomial(alpha=alpha_nb), offset=off).fit(**cov)
    else:
        raise EvaluationError(f"family must be 'negbin' or 'poisson', got {family!r}")
    params, vcov = fit.params, fit.cov_params()
    z = stats.norm.ppf(1 - alpha / 2)
    xm = x.to_numpy(float)
    eta = xm @ params.to_numpy() + (0 if off is None else off)
    xcf = x.copy()
    xcf[["post", "post_trend"]] = 0.0
    eta_cf = xcf.to_numpy(float) @ params.to_numpy() + (0 if off is None else off)
    fitted, counterfactual = np.exp(eta), np.exp(eta_cf)
    m = post == 1
    # log(sum fitted / sum cf) over post periods; gradient w.r.t. params
    grad = (fitted[m, None] * xm[m]).sum(0) / fitted[m].sum() - (counterfactual[m, None] * xcf.to_numpy(float)[m]).sum(0) / counterfactual[m].sum()
    log_ratio = np.log(fitted[m].sum() / counterfactual[m].sum())
    se_ratio = float(np.sqrt(grad @ vcov.to_numpy() @ grad))

    def ci(name):
        b, s = params[name], np.sqrt(vcov.loc[name, name])
        return float(np.exp(b)), (float(np.exp(b - z * s)), float(np.exp(b + z * s)))

    level, level_ci = ci("post")
    trend, trend_ci = ci("post_trend")
    series = pd.DataFrame({"observed": y.to_numpy(), "fitted": fitted, "counterfactual": counterfactual,
                           "post": post.astype(bool)}, index=idx)
    return ITSResult(family=family, level_change=level, level_ci=level_ci, trend_change=trend, trend_ci=trend_ci,
                     effect_ratio=float(np.exp(log_ratio)),
                     effect_ci=(float(np.exp(log_ratio - z * se_ratio)), float(np.exp(log_ratio + z * se_ratio))),
                     series=series, alpha=alpha, inference=f"HAC (Newey-West, {max(lags, 1)} lags) SEs")
