"""Poisson DiD: pyfixest engine equals a statsmodels GLM with dummies; recovers a known IRR."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from workbench.errors import EvaluationError
from workbench.evaluation import poisson_did


def district_months(seed=1, n_districts=30, n_months=24, irr=0.8):
    rng = np.random.default_rng(seed)
    p = pd.DataFrame({"district": np.repeat([f"D{i:02d}" for i in range(n_districts)], n_months),
                      "month": np.tile(np.arange(n_months), n_districts)})
    idx = p.index // n_months
    start = np.where(np.arange(n_districts) < 2 * n_districts // 3, rng.integers(6, 18, n_districts), 999)
    p["rtcc"] = (p["month"] >= start[idx]).astype(int)
    p["log_population"] = np.log(rng.uniform(1e4, 5e4, n_districts))[idx]
    p["crimes"] = rng.poisson(np.exp(-7 + p["log_population"] + rng.normal(0, 0.3, n_districts)[idx]
                                     + 0.1 * np.sin(p["month"]) + np.log(irr) * p["rtcc"]))
    return p


def test_coefficient_equals_statsmodels_glm_with_unit_and_time_dummies():
    p = district_months()
    res = poisson_did(p, "district", "month", "crimes", "rtcc", offset="log_population")
    x = pd.concat([p[["rtcc"]].astype(float),
                   pd.get_dummies(p["district"], drop_first=True, dtype=float),
                   pd.get_dummies(p["month"].astype(str), prefix="m", drop_first=True, dtype=float)], axis=1)
    glm = sm.GLM(p["crimes"].astype(float), sm.add_constant(x), family=sm.families.Poisson(),
                 offset=p["log_population"]).fit(tol=1e-13, maxiter=200)
    assert res.coefficient == pytest.approx(glm.params["rtcc"], abs=1e-8)
    own_sm = poisson_did(p, "district", "month", "crimes", "rtcc", offset="log_population", engine="statsmodels")
    assert own_sm.coefficient == pytest.approx(glm.params["rtcc"], abs=1e-8)
    # CRV1 SEs differ only by the small-sample factor each package applies
    assert res.se == pytest.approx(own_sm.se, rel=0.05)
    assert res.cluster == "district" and res.n_clusters == 30


def test_recovers_planted_irr_inside_cluster_robust_ci():
    covered = 0
    for seed in range(10):
        res = poisson_did(district_months(seed=seed, irr=0.9), "district", "month", "crimes", "rtcc",
                          offset="log_population")
        covered += res.ci_low <= 0.9 <= res.ci_high
    assert covered >= 8
    assert "cluster-robust" in res.summary()


def test_switching_treatment_and_negative_counts_are_rejected():
    p = district_months()
    bad = p.copy()
    bad.loc[(bad["rtcc"] == 1).idxmax() + 1, "rtcc"] = 0
    with pytest.raises(EvaluationError, match="switches off"):
        poisson_did(bad, "district", "month", "crimes", "rtcc")
    bad = p.copy()
    bad.loc[0, "crimes"] = -1
    with pytest.raises(EvaluationError, match="cannot be negative"):
        poisson_did(bad, "district", "month", "crimes", "rtcc")
