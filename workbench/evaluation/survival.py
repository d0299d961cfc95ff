"""Time to clearance: Kaplan-Meier curves by group and a Cox proportional hazards ratio.

Open cases are right-censored at ``as_of`` (default: the latest time in the data), so
slow-but-eventually-cleared cases are not mistaken for failures. A hazard ratio above 1
means treated cases clear sooner. Miami found RTCC help raised the odds of clearance but
did not change time to clearance; this is the test of the second half of that claim.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.duration.hazard_regression import PHReg
from statsmodels.duration.survfunc import SurvfuncRight, survdiff

from workbench.errors import EvaluationError
from workbench.evaluation.case_level import design_matrix, prepare_cases


@dataclass
class TimeToClearanceResult:
    """Kaplan-Meier curves, medians and the Cox hazard ratio of treatment.

    Attributes
    ----------
    km : DataFrame
        ``group`` (treated / control), ``days``, ``share_open`` (KM estimate of the share
        still uncleared), ``ci_low``, ``ci_high`` (pointwise, log-log).
    median_days : Series
        Median days to clearance by group (NaN when fewer than half ever clear).
    hazard_ratio, ci_low, ci_high, p : float
        Cox model hazard ratio of treatment, adjusted for the covariates (Breslow ties,
        robust SEs).
    logrank_p : float
        Log-rank test of equal curves (unadjusted).
    """

    km: pd.DataFrame
    median_days: pd.Series
    hazard_ratio: float
    ci_low: float
    ci_high: float
    p: float
    logrank_p: float
    n_events: int
    n_censored: int
    alpha: float = 0.05

    def summary(self) -> str:
        return (f"Time to clearance: Cox HR {self.hazard_ratio:.3f} ({100 * (1 - self.alpha):.0f}% CI "
                f"{self.ci_low:.3f} to {self.ci_high:.3f}, p = {self.p:.4f}; robust SEs); log-rank p = "
                f"{self.logrank_p:.4f}; median days {self.median_days.round(1).to_dict()}; "
                f"{self.n_events} cleared, {self.n_censored} censored (still open)")


def time_to_clearance(cases: pd.DataFrame, treatment: str = "rtcc_assisted", covariates=(),
                      incidents: pd.DataFrame | None = None, as_of=None, alpha: float = 0.05) -> TimeToClearanceResult:
    """Kaplan-Meier curves by treatment and a Cox hazard ratio for clearance.

    Parameters
    ----------
    cases : DataFrame
        Canonical cases with ``opened_at`` and ``cleared_at``.
    treatment : str
        0/1 column.
    covariates : list of str
        Adjustment columns for the Cox model (text columns become dummies).
    incidents : DataFrame, optional
        To join covariates on ``incident_id``.
    as_of : Timestamp, optional
        Censoring time for open cases; default the latest opened or cleared time.
    alpha : float

    Returns
    -------
    TimeToClearanceResult
    """
    covariates = list(covariates)
    frame, d, _ = prepare_cases(cases, treatment, covariates, incidents, outcome="_cleared_tmp", as_of=as_of)
    opened, cleared_at = frame["opened_at"], frame["cleared_at"]
    end = pd.Timestamp(as_of) if as_of is not None else max(opened.max(), cleared_at.max())
    event = (cleared_at.notna() & (cleared_at <= end)).to_numpy()
    stop = cleared_at.where(event, end)
    days = ((stop - opened).dt.total_seconds() / 86400).to_numpy(float)
    if (days < 0).any():
        raise EvaluationError(f"{int((days < 0).sum())} cases are cleared before they were opened "
                              "(or opened after as_of)")
    days = np.maximum(days, 1e-6)
    x = design_matrix(frame, covariates)
    x = x.loc[:, x.std() > 0]
    exog = np.column_stack([d, x.to_numpy(float)])
    fit = PHReg(days, exog, status=event.astype(int), ties="breslow").fit(groups=np.arange(len(days)))
    beta, se = float(fit.params[0]), float(fit.bse[0])
    z = stats.norm.ppf(1 - alpha / 2)
    frames, medians = [], {}
    for label, mask in (("treated", d == 1), ("control", d == 0)):
        sf = SurvfuncRight(days[mask], event[mask].astype(int))
        se_s = sf.surv_prob_se
        with np.errstate(divide="ignore", invalid="ignore"):
            # log-log interval, as in R survival's conf.type="log-log"
            theta = se_s / (sf.surv_prob * np.log(sf.surv_prob))
            lo = sf.surv_prob ** np.exp(-z * theta)
            hi = sf.surv_prob ** np.exp(z * theta)
        frames.append(pd.DataFrame({"group": label, "days": sf.surv_times, "share_open": sf.surv_prob,
                                    "ci_low": np.nan_to_num(lo, nan=0.0), "ci_high": np.nan_to_num(hi, nan=1.0)}))
        medians[label] = float(sf.quantile(0.5)) if sf.surv_prob.min() <= 0.5 else np.nan
    _, logrank_p = survdiff(days, event.astype(int), d)
    return TimeToClearanceResult(
        km=pd.concat(frames, ignore_index=True), median_days=pd.Series(medians),
        hazard_ratio=float(np.exp(beta)), ci_low=float(np.exp(beta - z * se)), ci_high=float(np.exp(beta + z * se)),
        p=float(2 * stats.norm.sf(abs(beta / se))), logrank_p=float(logrank_p), n_events=int(event.sum()),
        n_censored=int((~event).sum()), alpha=alpha,
    )
