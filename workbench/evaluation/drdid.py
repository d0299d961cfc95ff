"""Two-group, two-period panel DiD estimators with their influence functions.

These are the building blocks of :func:`workbench.evaluation.staggered_did`: for one
(group, time) cell the outcome change ``dy = y_t - y_base`` of the treated units is
compared with that of the control units, adjusting for covariates by

``"reg"``
    outcome regression (Heckman, Ichimura & Todd 1997): OLS of ``dy`` on the covariates
    among controls, predicted for the treated;
``"ipw"``
    inverse probability weighting with Hajek-normalised weights (Abadie 2005), the
    propensity score from a logit of treatment on the covariates;
``"dr"``
    doubly robust (Sant'Anna & Zhao 2020, locally efficient "traditional" form): both.

Each returns the ATT and its influence function (one value per unit in the cell,
mean zero, ``var(IF) / n`` is the estimator's variance). The influence functions include
the estimation effect of the nuisance regressions, as in the R package ``DRDID``.
With no covariates (a constant only) the three coincide with the difference in means.
"""

from __future__ import annotations

import numpy as np

from workbench.errors import EvaluationError


def fit_logit(x: np.ndarray, d: np.ndarray, max_iter: int = 50, tol: float = 1e-10):
    """Logit by Newton-Raphson. Returns fitted probabilities and the inverse Hessian (X'WX)^-1."""
    beta = np.zeros(x.shape[1])
    mean_d = d.mean()
    beta[0] = np.log(mean_d / (1 - mean_d)) if np.all(x[:, 0] == 1) else 0.0
    for _ in range(max_iter):
        p = 1.0 / (1.0 + np.exp(-(x @ beta)))
        w = p * (1 - p)
        hess = (x * w[:, None]).T @ x
        step = np.linalg.solve(hess, x.T @ (d - p))
        beta += step
        if np.max(np.abs(step)) < tol:
            break
    p = 1.0 / (1.0 + np.exp(-(x @ beta)))
    hess = (x * (p * (1 - p))[:, None]).T @ x
    return p, np.linalg.inv(hess)


def _ols_control(x, dy, d):
    """OLS of dy on x among controls; predictions for everyone and the OLS linear representation."""
    n = len(dy)
    w = 1.0 - d
    xtx = (x * w[:, None]).T @ x
    if np.linalg.matrix_rank(xtx) < x.shape[1]:
        raise EvaluationError("covariates are collinear among the control units of a cell")
    beta = np.linalg.solve(xtx, (x * w[:, None]).T @ dy)
    fitted = x @ beta
    lin_rep = (w * (dy - fitted))[:, None] * x @ np.linalg.inv(xtx / n)
    return fitted, lin_rep


def _pscore(x, d):
    n = len(d)
    p, inv_hess = fit_logit(x, d)
    p = np.minimum(p, 1 - 1e-6)
    lin_rep = ((d - p)[:, None] * x) @ (inv_hess * n)
    return p, lin_rep


def did_2x2(dy: np.ndarray, d: np.ndarray, x: np.ndarray | None = None, method: str = "dr"):
    """ATT and influence function for one two-period panel comparison.

    Parameters
    ----------
    dy : ndarray, shape (n,)
        Outcome change over the two periods for each unit.
    d : ndarray, shape (n,)
        1 for treated units, 0 for controls.
    x : ndarray, shape (n, k), optional
        Covariates (without a constant; one is added).
    method : {"dr", "ipw", "reg"}

    Returns
    -------
    att : float
    influence : ndarray, shape (n,)

    Examples
    --------
    >>> att, inf = did_2x2(np.array([1.0, 3.0, 0.0, 1.0]), np.array([1.0, 1.0, 0.0, 0.0]))
    >>> round(att, 6)
    1.5
    """
    dy = np.asarray(dy, float)
    d = np.asarray(d, float)
    n = len(dy)
    ones = np.ones((n, 1))
    x = ones if x is None or np.size(x) == 0 else np.column_stack([ones, np.asarray(x, float)])
    w_treat = d
    if method == "reg":
        fitted, lin_ols = _ols_control(x, dy, d)
        eta_treat = np.mean(w_treat * dy) / np.mean(w_treat)
        eta_cont = np.mean(w_treat * fitted) / np.mean(w_treat)
        inf_treat = (w_treat * dy - w_treat * eta_treat) / np.mean(w_treat)
        inf_cont = (w_treat * fitted - w_treat * eta_cont + lin_ols @ np.mean(w_treat[:, None] * x, axis=0))
        return float(eta_treat - eta_cont), inf_treat - inf_cont / np.mean(w_treat)
    if method not in ("ipw", "dr"):
        raise EvaluationError(f"method must be 'dr', 'ipw' or 'reg', got {method!r}")
    p, lin_ps = _pscore(x, d)
    w_cont = p * (1 - d) / (1 - p)
    if method == "ipw":
        resid = dy
        lin_ols = None
    else:
        fitted, lin_ols = _ols_control(x, dy, d)
        resid = dy - fitted
    eta_treat = np.mean(w_treat * resid) / np.mean(w_treat)
    eta_cont = np.mean(w_cont * resid) / np.mean(w_cont)
    inf_treat = w_treat * resid - w_treat * eta_treat
    inf_cont = (w_cont * resid - w_cont * eta_cont
                + lin_ps @ np.mean((w_cont * (resid - eta_cont))[:, None] * x, axis=0))
    if lin_ols is not None:
        inf_treat = inf_treat - lin_ols @ np.mean(w_treat[:, None] * x, axis=0)
        inf_cont = inf_cont - lin_ols @ np.mean(w_cont[:, None] * x, axis=0)
    return float(eta_treat - eta_cont), inf_treat / np.mean(w_treat) - inf_cont / np.mean(w_cont)
