"""The evaluation engine against the synthetic scenario's planted truth, and placebo coverage.

The scenario (``workbench.sample.generate``) plants: case-level odds ratios of RTCC help on
clearance by crime group, confounded by severity and camera coverage (RTCC analysts pick
severe, camera-covered cases); per-district clearance IRRs; and crime reductions after each
district's launch, in a staggered rollout with two never-treated districts.
"""

import numpy as np
import pandas as pd
import pytest

from workbench.evaluation import case_effect, cleared_flags, poisson_did, staggered_did

sample = pytest.importorskip("workbench.sample", reason="workbench.sample (the scenario) is not available")


@pytest.fixture(scope="module")
def scenario():
    return sample.generate(seed=0, days=730, alpr_days=0)


@pytest.fixture(scope="module")
def cases(scenario):
    truth = scenario.truth["cases"][["case_id", "severity", "camera_coverage", "effect_group", "offense", "district"]]
    frame = scenario.cases.merge(truth, on="case_id")
    # clearances after the data are extracted are unknown: leave the newest cases out
    end = frame["opened_at"].max()
    return frame[frame["opened_at"] < end - pd.Timedelta(days=120)]


def _launch(scenario, districts):
    start = scenario.truth["rollout"].set_index("district")["rtcc_start"]
    return districts.map(start).dt.tz_convert(scenario.tz).dt.tz_localize(None)


@pytest.mark.parametrize("group", ["violent", "property"])
def test_planted_case_odds_ratio_inside_ci_and_naive_estimate_biased_upward(scenario, cases, group):
    effects = scenario.truth["effects"]
    planted = effects.query("level == 'case' and measure == 'odds_ratio' and offense_category == @group")["value"].item()
    res = case_effect(cases[cases["effect_group"] == group], "rtcc_assisted",
                      ["severity", "camera_coverage", "offense"], method="logit")
    print(f"{group}: planted OR {planted}, adjusted {res.odds_ratio:.3f} ({res.ci_low:.3f}-{res.ci_high:.3f}), "
          f"naive {res.naive_odds_ratio:.3f}")
    assert res.ci_low <= planted <= res.ci_high
    # selection of severe, camera-covered cases inflates the naive comparison
    assert res.naive_odds_ratio > planted and res.naive_odds_ratio > res.odds_ratio
    assert res.balance["smd_before"].abs().max() > res.balance["smd_after"].abs().max()


def test_planted_district_clearance_irr_inside_poisson_did_ci(scenario, cases):
    frame = cases.assign(cleared=cleared_flags(cases, within="90D")["cleared"].to_numpy(),
                         month=cases["opened_at"].dt.tz_convert(scenario.tz).dt.tz_localize(None)
                         .dt.to_period("M").dt.to_timestamp())
    panel = frame.groupby(["district", "month"]).agg(opened=("case_id", "size"), cleared=("cleared", "sum")).reset_index()
    panel["rtcc"] = (panel["month"] >= _launch(scenario, panel["district"])).astype(int)
    panel["log_opened"] = np.log(panel["opened"])
    res = poisson_did(panel, "district", "month", "cleared", "rtcc", offset="log_opened", cluster="district")
    planted = scenario.truth["effects"].query("level == 'district' and offense_category == 'all'")
    planted_irr = np.average(planted["value"], weights=planted["n_cases"].astype(float))
    print(f"district clearance IRR: planted {planted_irr:.3f}, estimated {res.irr:.3f} ({res.ci_low:.3f}-{res.ci_high:.3f})")
    assert res.ci_low <= planted_irr <= res.ci_high


def test_staggered_did_recovers_planted_crime_reduction(scenario):
    """Background incidents of the groups with a planted reduction (violent 10%, property 12%).

    Planted emerging / fading hot spots give some districts their own crime trends, which
    breaks district-level parallel trends by design of the scenario; the oracle filter to
    background incidents isolates the rollout so the estimator itself is tested.
    """
    sources = scenario.truth["incident_sources"][["incident_id", "source"]]
    groups = scenario.truth["cases"][["incident_id", "effect_group"]]
    inc = scenario.incidents.merge(sources, on="incident_id").merge(groups, on="incident_id")
    inc = inc[(inc["source"] == "background") & inc["effect_group"].isin(["violent", "property"])]
    inc = inc.assign(month=inc["occurred_at"].dt.tz_convert(scenario.tz).dt.tz_localize(None)
                     .dt.to_period("M").dt.to_timestamp())
    panel = inc.groupby(["district", "month"]).size().rename("incidents").reset_index()
    panel["log_incidents"] = np.log(panel["incidents"])
    panel["first"] = _launch(scenario, panel["district"])
    res = staggered_did(panel, "district", "month", "log_incidents", "first", control="never")
    simple = res.aggregate("simple")
    print(f"crime: planted log ratio {np.log(0.88):.3f}..{np.log(0.90):.3f}, ATT {simple.estimate:.3f} "
          f"({simple.ci_low:.3f}-{simple.ci_high:.3f}), pre-trend p {res.pretrend['p']:.3f}")
    assert simple.ci_low <= np.log(0.88) and np.log(0.90) <= simple.ci_high
    assert simple.estimate < 0
    panel["rtcc"] = (panel["month"] >= panel["first"]).astype(int)
    irr = poisson_did(panel, "district", "month", "incidents", "rtcc")
    assert irr.ci_low <= 0.89 <= irr.ci_high


def placebo_panel(seed, n_units=30, n_periods=12):
    """No effect anywhere: district trends, noise and a staggered fake launch."""
    rng = np.random.default_rng(seed)
    cohort = rng.choice([5, 8, 0], size=n_units, p=[0.35, 0.35, 0.3])
    t = np.arange(1, n_periods + 1)
    y = rng.normal(0, 1, n_units)[:, None] + 0.2 * t[None, :] + rng.normal(0, 1, (n_units, n_periods))
    return pd.DataFrame({"unit": np.repeat(np.arange(n_units), n_periods), "period": np.tile(t, n_units),
                         "y": y.ravel(), "first": np.repeat(cohort, n_periods)})


def test_placebo_ci_covers_zero_in_at_least_90_percent_of_50_seeds():
    covered = np.array([(a := staggered_did(placebo_panel(s), "unit", "period", "y", "first")
                         .aggregate("simple")).ci_low <= 0 <= a.ci_high for s in range(50)])
    print(f"placebo coverage of zero: {covered.mean():.2f} over 50 seeds")
    assert covered.mean() >= 0.90


def test_placebo_fake_launch_date_on_scenario_covers_zero(scenario):
    """Move every launch a year earlier and keep only the year before the real launches."""
    inc = scenario.incidents.assign(month=scenario.incidents["occurred_at"].dt.tz_convert(scenario.tz)
                                    .dt.tz_localize(None).dt.to_period("M").dt.to_timestamp())
    first_real = _launch(scenario, pd.Series(scenario.truth["rollout"]["district"])).min()
    inc = inc[inc["month"] < first_real - pd.DateOffset(months=1)]
    panel = inc.groupby(["district", "month"]).size().rename("incidents").reset_index()
    panel["fake_first"] = _launch(scenario, panel["district"]) - pd.DateOffset(years=1)
    panel["log_incidents"] = np.log(panel["incidents"])
    res = staggered_did(panel, "district", "month", "log_incidents", "fake_first", control="never")
    simple = res.aggregate("simple")
    assert simple.ci_low <= 0 <= simple.ci_high
