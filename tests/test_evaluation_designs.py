"""Interrupted time series, effects by crime type and pre-launch power, on simulated data with known truth."""

import numpy as np
import pandas as pd
import pytest

from workbench.errors import EvaluationError
from workbench.evaluation import (effect_by_crime_type, interrupted_time_series, minimum_detectable_effect,
                                  poisson_did)
from workbench.evaluation.crime_types import crime_type
from workbench.evaluation.power import fe_poisson_batch, simulate_district_counts

MONTHS = pd.date_range("2019-01-01", periods=60, freq="MS", tz="UTC")
LAUNCH = pd.Timestamp("2022-01-01", tz="UTC")


def monthly_counts(seed, ratio=0.88):
    rng = np.random.default_rng(seed)
    t = np.arange(60)
    mu = np.exp(np.log(200) + 0.002 * t + 0.15 * np.sin(2 * np.pi * t / 12) + np.log(ratio) * (t >= 36))
    return pd.Series(rng.negative_binomial(50, 50 / (50 + mu)), index=MONTHS)


def test_its_counterfactual_covers_planted_reduction_in_most_seeds():
    covered = sum((r := interrupted_time_series(monthly_counts(s), LAUNCH)).effect_ci[0] <= 0.88 <= r.effect_ci[1]
                  for s in range(20))
    assert covered >= 16
    series = r.series
    assert series["post"].sum() == 24
    # before launch the counterfactual is the fit; after, the fit sits below it
    np.testing.assert_allclose(series.loc[~series["post"], "fitted"], series.loc[~series["post"], "counterfactual"])
    assert "HAC" in r.summary()


def test_its_accepts_periods_and_poisson_and_rejects_gaps():
    counts = monthly_counts(1)
    res = interrupted_time_series(counts.set_axis(MONTHS.tz_localize(None).to_period("M")), pd.Period("2022-01", "M"),
                                  family="poisson", seasonality=2)
    assert res.family == "poisson" and 0.7 < res.level_change < 1.1
    with pytest.raises(EvaluationError, match="no missing periods"):
        interrupted_time_series(counts.where(counts.index != MONTHS[5]), LAUNCH)
    with pytest.raises(EvaluationError, match="pre-launch"):
        interrupted_time_series(counts, MONTHS[1])


def test_crime_type_separates_sexual_assault_and_domestic_violence_from_violent():
    inc = pd.DataFrame({"incident_id": list("abcde"),
                        "offense": ["larceny", "sexual_assault", "aggravated_assault", "robbery", "vandalism"],
                        "offense_category": ["property", "violent", "violent", "violent", "other"],
                        "domestic": [False, False, True, False, False]})
    assert crime_type(inc).tolist() == ["property", "sexual_assault", "domestic_violence", "violent", "other"]


def test_effect_by_crime_type_table_recovers_differing_effects():
    rng = np.random.default_rng(4)
    n = 16000
    kinds = rng.choice(["property", "violent", "sexual_assault", "domestic_violence"], n)
    planted = pd.Series({"property": 2.0, "violent": 1.66, "sexual_assault": 1.0, "domestic_violence": 1.0})
    severity = rng.normal(size=n)
    rtcc = rng.uniform(size=n) < 1 / (1 + np.exp(-(-1 + severity)))
    lin = -0.5 - 0.6 * severity + np.log(planted[kinds].to_numpy()) * rtcc
    cleared = rng.uniform(size=n) < 1 / (1 + np.exp(-lin))
    cases = pd.DataFrame({"case_id": np.arange(n).astype(str), "incident_id": np.arange(n).astype(str),
                          "opened_at": pd.Timestamp("2024-01-01", tz="UTC"), "cleared_at": pd.NaT,
                          "clearance_type": pd.Series(np.where(cleared, "arrest", None), dtype="string"),
                          "rtcc_assisted": rtcc, "severity": severity, "kind": kinds})
    table = effect_by_crime_type(cases, covariates=["severity"], type_column="kind").set_index("crime_type")
    assert list(table.index) == ["property", "violent", "sexual_assault", "domestic_violence"]
    for kind, value in planted.items():
        assert table.loc[kind, "ci_low"] <= value <= table.loc[kind, "ci_high"]
    assert table.loc["property", "odds_ratio"] > table.loc["domestic_violence", "odds_ratio"]


def test_vectorised_fe_poisson_equals_poisson_did():
    y, d, _ = simulate_district_counts(np.random.default_rng(0), 2, 12, 36, 20, 0.9)
    beta, se = fe_poisson_batch(y, d)
    for s in range(2):
        panel = pd.DataFrame({"u": np.repeat(np.arange(12), 36), "t": np.tile(np.arange(36), 12),
                              "y": y[s].ravel(), "d": d[s].ravel().astype(int)})
        res = poisson_did(panel, "u", "t", "y", "d")
        assert beta[s] == pytest.approx(res.coefficient, abs=1e-8)
        assert se[s] == pytest.approx(res.se, rel=0.06)  # pyfixest adds (N-1)/(N-K)


def test_power_rises_with_effect_size_and_false_positive_rate_is_near_alpha():
    res = minimum_detectable_effect(20, 36, base_rate=30, effects=(1.0, 0.95, 0.9, 0.8), n_sims=200, seed=2)
    power = res.curve.set_index("irr")["power"]
    assert power[0.8] > power[0.9] > power[0.95]
    assert res.type_one_error < 0.12
    assert 0.8 < res.mde_irr < 0.95
    small = minimum_detectable_effect(6, 12, base_rate=3, effects=(1.0, 0.95, 0.9), n_sims=100, seed=2)
    assert np.isnan(small.mde_irr)  # too small a design to see a 10% change
    assert "no effect in the grid" in small.summary()


def test_evaluation_report_holds_methods_assumptions_plots_and_tables(tmp_path):
    from workbench.evaluation import EvaluationReport, staggered_did

    from tests.test_evaluation_case import simulate_cases
    from tests.test_evaluation_did import simulate_rollout
    from workbench.evaluation import case_effect, time_to_clearance

    did = staggered_did(simulate_rollout(seed=1), "unit", "period", "y", "first")
    its = interrupted_time_series(monthly_counts(0), LAUNCH)
    power = minimum_detectable_effect(10, 24, base_rate=20, effects=(1.0, 0.8), n_sims=30, seed=0)
    table = pd.DataFrame({"crime_type": ["property", "violent"], "odds_ratio": [1.9, 1.6]})
    path = EvaluationReport("RTCC evaluation", agency="Example PD").add(did).add(its).add(power) \
        .add(case_effect(cases := simulate_cases(n=800), covariates=["severity"])) \
        .add(time_to_clearance(cases)).add(table, title="Effects by crime type").save(tmp_path / "report.html")
    text = path.read_text()
    assert text.count("<img") == 5
    assert "Parallel trends" in text and "Pre-trend Wald test" in text and "HAC" in text
    assert "Effects by crime type" in text and "property" in text
    assert "clustered by unit" in text
