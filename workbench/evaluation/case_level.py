"""Case-level effect of RTCC assistance on clearance (the Miami design).

Guerette & Przeszlowski (2023) compared RTCC-assisted cases with a random sample of other
cases and adjusted for neighbourhood, crime type and case characteristics. RTCC help is
not random: analysts take the serious, camera-covered cases, which clear at different
rates anyway. The naive odds ratio mixes that selection with the effect; these
estimators adjust for the measured part of it (no adjustment can fix unmeasured
confounding -- say so in the report).

``method="logit"``
    Logistic regression of clearance on treatment and covariates; the odds ratio is
    conditional on the covariates. Robust (HC1) or cluster-robust SEs.
``method="ipw"``
    Inverse probability weighting for the effect on the treated (treated weight 1, control
    weight p/(1-p)); a weighted logistic regression of clearance on treatment gives the
    marginal odds ratio. Robust sandwich SEs treat the weights as known (conservative).
``method="matching"``
    1:1 nearest-neighbour matching on the logit of the propensity score, with
    replacement and a caliper of 0.2 SD; marginal odds ratio in the matched sample,
    robust SEs with controls weighted by how often they are used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from workbench.errors import EvaluationError
from workbench.evaluation.clearance import cleared_flags
from workbench.evaluation.panel import check_columns


@dataclass
class CaseEffectResult:
    """Odds ratio of clearance for treated cases, with diagnostics.

    Attributes
    ----------
    odds_ratio, ci_low, ci_high, p : float
        Adjusted estimate, its ``1 - alpha`` interval and two-sided p-value.
    naive_odds_ratio, naive_ci_low, naive_ci_high : float
        Unadjusted 2x2 odds ratio (Woolf interval), to show what adjustment changed.
    balance : DataFrame
        Per covariate column: ``smd_before``, ``smd_after`` (standardised mean
        differences, pooled unweighted SD in the denominator; after weighting or matching).
    overlap : DataFrame
        Propensity score distribution by group and the share outside common support.
    propensity : ndarray
        Estimated propensity score for each case used.
    inference : str
        Which standard errors were used.
    """

    odds_ratio: float
    ci_low: float
    ci_high: float
    p: float
    se_log: float
    method: str
    naive_odds_ratio: float
    naive_ci_low: float
    naive_ci_high: float
    balance: pd.DataFrame
    overlap: pd.DataFrame
    propensity: np.ndarray
    treated_mask: np.ndarray
    n_treated: int
    n_control: int
    n_unmatched: int
    inference: str
    alpha: float = 0.05

    def summary(self) -> str:
        lvl = f"{100 * (1 - self.alpha):.0f}%"
        return "\n".join([
            f"Case-level effect ({self.method}): OR {self.odds_ratio:.3f} ({lvl} CI {self.ci_low:.3f} to "
            f"{self.ci_high:.3f}, p = {self.p:.4f}); {self.inference}",
            f"Unadjusted OR {self.naive_odds_ratio:.3f} ({lvl} CI {self.naive_ci_low:.3f} to {self.naive_ci_high:.3f})",
            f"{self.n_treated} treated, {self.n_control} control cases"
            + (f", {self.n_unmatched} treated unmatched (outside caliper)" if self.n_unmatched else ""),
            "Balance (standardised mean differences):",
            self.balance.to_string(float_format=lambda v: f"{v:.3f}"),
        ])


def design_matrix(frame: pd.DataFrame, covariates) -> pd.DataFrame:
    """Numeric covariate columns; text / categorical ones become dummies (first level dropped)."""
    parts = []
    for c in covariates:
        col = frame[c]
        if pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
            if col.isna().any():
                raise EvaluationError(f"covariate {c!r} has {int(col.isna().sum())} missing values")
            parts.append(col.astype(float).rename(c))
        else:
            parts.append(pd.get_dummies(col.astype("string").fillna("missing"), prefix=c,
                                        drop_first=True, dtype=float))
    return pd.concat(parts, axis=1) if parts else pd.DataFrame(index=frame.index)


def prepare_cases(cases, treatment, covariates, incidents=None, outcome="cleared", as_of=None, within=None):
    """Join incident columns, derive the cleared flag and check the treatment column."""
    check_columns(cases, [treatment], "cases")
    frame = cases
    missing = [c for c in covariates if c not in cases.columns]
    if missing:
        if incidents is None:
            raise EvaluationError(f"covariate(s) {missing} are not in cases; pass incidents= to join them")
        check_columns(incidents, ["incident_id", *missing], "incidents")
        frame = cases.merge(incidents[["incident_id", *missing]], on="incident_id", how="left")
    frame = frame.reset_index(drop=True)
    if outcome not in frame.columns:
        frame[outcome] = cleared_flags(frame, as_of=as_of, within=within)["cleared"].to_numpy()
    treat = frame[treatment]
    if treat.isna().any():
        raise EvaluationError(f"treatment {treatment!r} has {int(treat.isna().sum())} missing values")
    d = treat.astype(float).to_numpy()
    if not np.isin(d, (0.0, 1.0)).all() or d.min() == d.max():
        raise EvaluationError(f"treatment {treatment!r} must be 0/1 with both values present")
    return frame, d, frame[outcome].astype(float).to_numpy()


def smd(x: pd.DataFrame, d: np.ndarray, weights: np.ndarray | None = None) -> pd.Series:
    """Standardised mean differences (treated - control) / pooled unweighted SD."""
    xv, t = x.to_numpy(float), d == 1
    w = np.ones(len(d)) if weights is None else weights
    m1 = np.average(xv[t], axis=0, weights=w[t])
    m0 = np.average(xv[~t], axis=0, weights=w[~t])
    sd = np.sqrt((xv[t].var(axis=0, ddof=1) + xv[~t].var(axis=0, ddof=1)) / 2)
    return pd.Series((m1 - m0) / np.where(sd > 0, sd, np.nan), index=x.columns)


def _weighted_or(y, d, w, alpha):
    x = sm.add_constant(d)
    fit = sm.GLM(y, x, family=sm.families.Binomial(), var_weights=w).fit(cov_type="HC0")
    return float(fit.params[1]), float(fit.bse[1])


def _match(logit_ps, d, caliper_sd=0.2):
    """Nearest control (with replacement) for each treated case; weights and unmatched count."""
    treated, control = np.flatnonzero(d == 1), np.flatnonzero(d == 0)
    order = np.argsort(logit_ps[control])
    sorted_ps = logit_ps[control][order]
    pos = np.clip(np.searchsorted(sorted_ps, logit_ps[treated]), 1, len(sorted_ps) - 1)
    left, right = sorted_ps[pos - 1], sorted_ps[pos]
    use_left = np.abs(logit_ps[treated] - left) <= np.abs(right - logit_ps[treated])
    best = np.where(use_left, pos - 1, pos)
    dist = np.abs(sorted_ps[best] - logit_ps[treated])
    ok = dist <= caliper_sd * logit_ps.std()
    w = np.zeros(len(d))
    w[treated[ok]] = 1.0
    np.add.at(w, control[order[best[ok]]], 1.0)
    return w, int((~ok).sum())


def case_effect(cases: pd.DataFrame, treatment: str = "rtcc_assisted", covariates=(), method: str = "logit",
                incidents: pd.DataFrame | None = None, outcome: str = "cleared", cluster: str | None = None,
                as_of=None, within=None, alpha: float = 0.05) -> CaseEffectResult:
    """Odds ratio of clearance for treated (e.g. RTCC-assisted) cases, adjusted for covariates.

    Parameters
    ----------
    cases : DataFrame
        Canonical cases; ``outcome`` is derived from the clearance columns if absent.
    treatment : str
        0/1 column.
    covariates : list of str
        Adjustment columns (from cases, or joined from ``incidents`` on ``incident_id``);
        text columns become dummies.
    method : {"logit", "ipw", "matching"}
    incidents : DataFrame, optional
    outcome : str
        Binary outcome column (default: cleared, by arrest or exceptionally).
    cluster : str, optional
        For ``logit``: cluster-robust SEs by this column (e.g. district); default HC1.
    as_of, within : optional
        Passed to :func:`~workbench.evaluation.clearance.cleared_flags` when deriving.
    alpha : float

    Returns
    -------
    CaseEffectResult
    """
    covariates = list(covariates)
    if method not in ("logit", "ipw", "matching"):
        raise EvaluationError(f"method must be 'logit', 'ipw' or 'matching', got {method!r}")
    frame, d, y = prepare_cases(cases, treatment, covariates + ([cluster] if cluster else []),
                                incidents, outcome, as_of, within)
    x = design_matrix(frame, covariates)
    x = x.loc[:, x.std() > 0]
    z = stats.norm.ppf(1 - alpha / 2)
    xc = sm.add_constant(x.to_numpy(float), has_constant="add")
    ps = sm.Logit(d, xc).fit(disp=0, maxiter=200).predict(xc) if x.shape[1] else np.full(len(d), d.mean())
    ps = np.clip(ps, 1e-6, 1 - 1e-6)
    a, b = ((d == 1) & (y == 1)).sum(), ((d == 1) & (y == 0)).sum()
    c, e = ((d == 0) & (y == 1)).sum(), ((d == 0) & (y == 0)).sum()
    naive_log = np.log((a + 0.5) * (e + 0.5) / ((b + 0.5) * (c + 0.5))) if min(a, b, c, e) == 0 else np.log(a * e / (b * c))
    naive_se = np.sqrt(sum(1 / (v + 0.5 * (min(a, b, c, e) == 0)) for v in (a, b, c, e)))
    n_unmatched = 0
    if method == "logit":
        design = np.column_stack([np.ones(len(d)), d, x.to_numpy(float)])
        cov = ({"cov_type": "cluster", "cov_kwds": {"groups": pd.factorize(frame[cluster])[0]}}
               if cluster else {"cov_type": "HC1"})
        fit = sm.Logit(y, design).fit(disp=0, maxiter=200, **cov)
        beta, se = float(fit.params[1]), float(fit.bse[1])
        weights = np.where(d == 1, 1.0, ps / (1 - ps))
        inference = (f"cluster-robust SEs by {cluster}" if cluster else "robust (HC1) SEs") + \
            "; conditional odds ratio from logistic regression"
    elif method == "ipw":
        weights = np.where(d == 1, 1.0, ps / (1 - ps))
        beta, se = _weighted_or(y, d, weights, alpha)
        inference = "robust sandwich SEs treating the ATT weights as known; marginal odds ratio"
    else:
        weights, n_unmatched = _match(np.log(ps / (1 - ps)), d)
        keep = weights > 0
        beta, se = _weighted_or(y[keep], d[keep], weights[keep], alpha)
        inference = ("robust SEs with controls weighted by reuse; marginal odds ratio in the matched "
                     "sample (1:1 nearest neighbour with replacement, caliper 0.2 SD of logit PS)")
    balance = pd.DataFrame({"smd_before": smd(x, d), "smd_after": smd(x, d, weights)}) if x.shape[1] \
        else pd.DataFrame(columns=["smd_before", "smd_after"])
    t = d == 1
    q = [0, 0.05, 0.5, 0.95, 1]
    overlap = pd.DataFrame({"treated": np.quantile(ps[t], q), "control": np.quantile(ps[~t], q)},
                           index=["min", "p05", "median", "p95", "max"])
    overlap.loc["share_outside_support"] = [float(np.mean(ps[t] > ps[~t].max())), float(np.mean(ps[~t] < ps[t].min()))]
    return CaseEffectResult(
        odds_ratio=float(np.exp(beta)), ci_low=float(np.exp(beta - z * se)), ci_high=float(np.exp(beta + z * se)),
        p=float(2 * stats.norm.sf(abs(beta / se))), se_log=se, method=method,
        naive_odds_ratio=float(np.exp(naive_log)), naive_ci_low=float(np.exp(naive_log - z * naive_se)),
        naive_ci_high=float(np.exp(naive_log + z * naive_se)), balance=balance, overlap=overlap,
        propensity=ps, treated_mask=t, n_treated=int(t.sum()), n_control=int((~t).sum()),
        n_unmatched=n_unmatched, inference=inference, alpha=alpha,
    )
