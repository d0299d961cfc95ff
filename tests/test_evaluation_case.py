"""Clearance rates, case-level odds ratios and time to clearance on simulated cases with known truth."""

import numpy as np
import pandas as pd
import pytest

from workbench.errors import EvaluationError
from workbench.evaluation import case_effect, clearance_rates, time_to_clearance
from workbench.evaluation.clearance import wilson_interval

T0 = pd.Timestamp("2024-01-01", tz="UTC")


def simulate_cases(seed=0, n=6000, odds_ratio=1.66, hazard_ratio=1.0):
    """RTCC help goes to severe, camera-covered cases; severity lowers and cameras raise clearance.

    The planted conditional odds ratio of RTCC help is ``odds_ratio``; the naive estimate is
    biased towards 1 (severe cases are harder to clear).
    """
    rng = np.random.default_rng(seed)
    severity = rng.normal(size=n)
    camera = rng.uniform(size=n)
    category = rng.choice(["violent", "property"], size=n)
    rtcc = rng.uniform(size=n) < 1 / (1 + np.exp(-(-1.5 + 1.0 * severity + 2.0 * (camera - 0.5))))
    lin = -0.8 - 0.7 * severity + 1.2 * (camera - 0.5) + 0.3 * (category == "property") + np.log(odds_ratio) * rtcc
    cleared = rng.uniform(size=n) < 1 / (1 + np.exp(-lin))
    opened = T0 + pd.to_timedelta(rng.uniform(0, 365, n), unit="D")
    days = rng.exponential(20, n) / np.where(rtcc, hazard_ratio, 1.0)
    return pd.DataFrame({
        "case_id": np.arange(n).astype(str), "incident_id": np.arange(n).astype(str), "opened_at": opened,
        "cleared_at": opened.where(cleared) + pd.to_timedelta(days, unit="D"),
        "clearance_type": pd.Series(np.where(cleared, "arrest", None), dtype="string"),
        "rtcc_assisted": rtcc, "severity": severity, "camera_coverage": camera, "offense_category": category})


def test_cohort_rate_counts_arrests_and_exceptional_clearances_with_wilson_interval():
    opened = pd.to_datetime(["2024-01-05", "2024-01-20", "2024-02-03", "2024-02-10"], utc=True)
    cases = pd.DataFrame({"case_id": list("abcd"), "incident_id": list("abcd"), "opened_at": opened,
                          "cleared_at": pd.to_datetime(["2024-03-02", None, "2024-02-05", None], utc=True),
                          "clearance_type": ["arrest", None, "exceptional_B", None]})
    rates = clearance_rates(cases, freq="M", method="cohort")
    assert rates["cleared"].tolist() == [1, 1]
    assert rates["cleared_exceptional"].tolist() == [0, 1]
    assert rates["ci_low"].iloc[0] == pytest.approx(0.0945, abs=1e-4)  # Wilson 95% for 1/2
    assert rates["ci_high"].iloc[0] == pytest.approx(0.9055, abs=1e-4)
    within = clearance_rates(cases, freq="M", within="10D")
    assert within["cleared"].tolist() == [0, 1]  # the January arrest took 57 days


def test_fbi_period_rate_can_exceed_one_hundred_percent():
    old = pd.Timestamp("2023-06-01", tz="UTC")
    march = pd.Timestamp("2024-03-10", tz="UTC")
    cases = pd.DataFrame({"case_id": list("abcde"), "incident_id": list("abcde"),
                          "opened_at": [old, old, old, march, march],
                          "cleared_at": [march, march, march, march, pd.NaT],
                          "clearance_type": ["arrest", "arrest", "exceptional_A", "arrest", None]})
    period = clearance_rates(cases, freq="M", method="period").set_index("period")
    assert period.loc[pd.Period("2024-03", "M"), "rate"] == pytest.approx(4 / 2)
    cohort = clearance_rates(cases, freq="M", method="cohort").set_index("period")
    assert cohort.loc[pd.Period("2024-03", "M"), "rate"] == pytest.approx(1 / 2)
    assert (cohort["rate"] <= 1).all()


def test_clearance_rates_by_incident_column_and_unknown_type_rejected():
    cases = simulate_cases(n=500)
    incidents = cases[["incident_id", "offense_category"]]
    by_cat = clearance_rates(cases.drop(columns="offense_category"), by=["offense_category"], freq=None,
                             incidents=incidents)
    assert set(by_cat["offense_category"]) == {"violent", "property"}
    assert by_cat["cases"].sum() == 500
    one_name = clearance_rates(cases.drop(columns="offense_category"), by="offense_category", freq=None,
                               incidents=incidents)
    pd.testing.assert_frame_equal(one_name, by_cat)
    bad = cases.assign(clearance_type=cases["clearance_type"].fillna("solved"))
    with pytest.raises(EvaluationError, match="outside"):
        clearance_rates(bad)


def test_wilson_interval_matches_textbook_value():
    low, high = wilson_interval([81], [263])  # Newcombe (1998) example: 0.2553 to 0.3662
    assert low[0] == pytest.approx(0.2553, abs=1e-4) and high[0] == pytest.approx(0.3662, abs=1e-4)


@pytest.mark.parametrize("method", ["logit", "ipw", "matching"])
def test_adjusted_odds_ratio_beats_naive_and_balances_covariates(method):
    cases = simulate_cases(seed=1)
    res = case_effect(cases, "rtcc_assisted", ["severity", "camera_coverage", "offense_category"], method=method)
    assert res.naive_odds_ratio < 1.3  # selection on severity hides most of the effect
    if method == "logit":  # conditional OR is the planted parameter
        assert res.ci_low <= 1.66 <= res.ci_high
    else:  # marginal OR: attenuated towards 1 by non-collapsibility, still clearly above naive
        assert res.odds_ratio > res.naive_odds_ratio and res.ci_low > 1.1
    assert (res.balance["smd_before"].abs().max() > 0.5) and (res.balance["smd_after"].abs().max() < 0.1)
    assert res.overlap.loc["share_outside_support"].max() < 0.05
    assert "SEs" in res.inference


def test_case_effect_covers_planted_odds_ratio_in_most_seeds():
    covered = sum(
        (r := case_effect(simulate_cases(seed=s, n=3000), covariates=["severity", "camera_coverage"])).ci_low
        <= 1.66 <= r.ci_high for s in range(10))
    assert covered >= 8


def test_case_effect_rejects_constant_or_missing_treatment():
    cases = simulate_cases(n=200)
    with pytest.raises(EvaluationError, match="both values"):
        case_effect(cases.assign(rtcc_assisted=True), covariates=["severity"])
    with pytest.raises(EvaluationError, match="not in cases"):
        case_effect(cases, covariates=["district"])


def exponential_clearance(seed, hazard_ratio, n=3000):
    """Every case clears after an exponential time (rate x hazard_ratio if RTCC); open cases censored."""
    rng = np.random.default_rng(seed)
    severity = rng.normal(size=n)
    rtcc = rng.uniform(size=n) < 1 / (1 + np.exp(-severity))
    days = rng.exponential(30, n) / (np.where(rtcc, hazard_ratio, 1.0) * np.exp(-0.5 * severity))
    opened = T0 + pd.to_timedelta(rng.uniform(0, 200, n), unit="D")
    cleared_at = opened + pd.to_timedelta(days, unit="D")
    return pd.DataFrame({"case_id": np.arange(n).astype(str), "incident_id": np.arange(n).astype(str),
                         "opened_at": opened, "cleared_at": cleared_at, "clearance_type": "arrest",
                         "rtcc_assisted": rtcc, "severity": severity})


def test_time_to_clearance_recovers_planted_hazard_ratio_with_censoring():
    as_of = T0 + pd.Timedelta(days=220)
    faster = time_to_clearance(exponential_clearance(2, 1.5), covariates=["severity"], as_of=as_of)
    assert faster.ci_low <= 1.5 <= faster.ci_high and faster.ci_low > 1.2
    assert faster.n_censored > 0
    assert faster.median_days.notna().all()  # unadjusted; RTCC cases are the slower, severe ones
    null = time_to_clearance(exponential_clearance(3, 1.0), covariates=["severity"], as_of=as_of)
    assert null.ci_low <= 1.0 <= null.ci_high
    km = null.km
    assert set(km["group"]) == {"treated", "control"}
    assert km.groupby("group")["share_open"].apply(lambda s: s.is_monotonic_decreasing).all()
    assert (km["ci_low"] <= km["share_open"] + 1e-12).all() and (km["share_open"] <= km["ci_high"] + 1e-12).all()
    assert null.n_events + null.n_censored == 3000
    assert "Cox HR" in null.summary()
