"""Staggered DiD: reproduce the R ``did`` package on mpdta; recover known effects; clear errors.

Published values and where they come from
-----------------------------------------
* Point estimates, 4 decimals: the ``did`` vignette "Getting Started with the did Package"
  (Callaway & Sant'Anna; CRAN vignette did-basics), ``att_gt(yname="lemp", tname="year",
  idname="countyreal", gname="first.treat", xformla=~1, data=mpdta)`` with the defaults
  est_method="dr", control_group="nevertreated"; ``aggte(..., type="simple")`` prints
  -0.0400. The vignette's SEs come from the multiplier bootstrap (random), so they are not
  compared.
* Full precision and *analytic* SEs: ``csdid/test_csdid/r_ref/ref_attgt.csv``,
  ``ref_aggte.csv`` and ``ref_pretest.csv`` in the d2cml-ai/csdid repository (MIT), written
  by its ``generate_reference.R``, which runs R ``did::att_gt(..., bstrap=FALSE,
  cband=FALSE)`` and ``aggte(..., bstrap=FALSE)`` on the same mpdta file. These are the
  influence-function SEs our estimator reports, so they are the right SEs to compare with.

Tolerances: ATT(g,t) and aggregates within 1e-4 of the full-precision R values (they agree
to ~1e-12), and within 1e-4 + 0.5e-4 rounding slack of the vignette's 4-decimal print;
analytic SEs within 2% of R's analytic SEs.
"""

import numpy as np
import pandas as pd
import pytest

from workbench.errors import EvaluationError
from workbench.evaluation import first_treated_from_indicator, staggered_did

# (group, time): (att, analytic se) -- R did, est_method="dr", control_group="nevertreated".
R_ATT_GT_NEVER_DR = {
    (2004, 2004): (-0.0105032462209624, 0.0232510363681664),
    (2004, 2005): (-0.0704231581031467, 0.0309847667572767),
    (2004, 2006): (-0.137258738889403, 0.0364356642876865),
    (2004, 2007): (-0.100811363085404, 0.0343592258346732),
    (2006, 2004): (0.00652011242423301, 0.0233268051418047),
    (2006, 2005): (-0.00275081875051882, 0.0195585610358817),
    (2006, 2006): (-0.00459460695286304, 0.0177551966592763),
    (2006, 2007): (-0.0412244715462175, 0.0202291807041068),
    (2007, 2004): (0.0305066555832928, 0.01503356028013),
    (2007, 2005): (-0.00272589288611625, 0.0163958328955344),
    (2007, 2006): (-0.0310871193896889, 0.0178775113133435),
    (2007, 2007): (-0.0260544107191966, 0.0166554353492522),
}
# As printed (4 decimals) in the did vignette, same cells in the same order.
VIGNETTE_ATT_GT = [-0.0105, -0.0704, -0.1373, -0.1008, 0.0065, -0.0028, -0.0046, -0.0412,
                   0.0305, -0.0027, -0.0311, -0.0261]
VIGNETTE_SIMPLE = -0.0400
R_SIMPLE = (-0.0399512751551763, 0.0120340127701854)
R_DYNAMIC = {  # event time: (att, analytic se)
    -3: (0.0305066555832928, 0.01503356028013),
    -2: (-0.000563084626385429, 0.01329164473655),
    -1: (-0.0244587449711696, 0.0142364022105193),
    0: (-0.0199318167892593, 0.0118263640580582),
    1: (-0.0509573670651939, 0.016893476268678),
    2: (-0.137258738889403, 0.0364356642876865),
    3: (-0.100811363085404, 0.0343592258346733),
}
R_DYNAMIC_OVERALL = (-0.0772398214573151, 0.0199649890618494)
R_GROUP_OVERALL = (-0.0310182822287484, 0.0124460593209979)
R_CALENDAR_OVERALL = (-0.0417004321312822, 0.01597185188456)
R_PRETEST_W = 7.79123662720035  # Wald chi2(5), p = 0.16812
# control_group="notyettreated" and est_method="reg" with xformla=~lpop (same source).
R_NOTYET_ATT = [-0.0193723636759221, -0.0783190990620607, -0.136274346328678, -0.100811363085404,
                -0.00256255094261098, -0.00193924609578875, 0.00466087631997615, -0.0412244715462175,
                0.0297593647610311, -0.0024106128000969, -0.0310871193896889, -0.0260544107191966]
R_REG_LPOP_ATT = [-0.014911237790361, -0.0769963229660512, -0.141080104628588, -0.107544274673046,
                  -0.0020660581184395, -0.00696828306727072, 0.000765525026395888, -0.0415356365293253,
                  0.0263658317469803, -0.00475983533866949, -0.028502106413859, -0.0287894881938243]

ATOL = 1e-4
SE_RTOL = 0.02


@pytest.fixture(scope="module")
def mpdta(mpdta_path):
    return pd.read_csv(mpdta_path)


@pytest.fixture(scope="module")
def mpdta_result(mpdta):
    return staggered_did(mpdta, "countyreal", "year", "lemp", "first.treat", control="never")


def test_mpdta_all_twelve_att_gt_match_published_r_did(mpdta_result):
    table = mpdta_result.att_gt.set_index(["group", "time"])
    assert len(table) == 12
    for cell, (att, se) in R_ATT_GT_NEVER_DR.items():
        assert table.loc[cell, "att"] == pytest.approx(att, abs=ATOL)
        assert table.loc[cell, "se"] == pytest.approx(se, rel=SE_RTOL)
    diffs = np.abs(table["att"].to_numpy() - np.array(VIGNETTE_ATT_GT))
    assert diffs.max() <= ATOL + 0.5e-4


def test_mpdta_simple_and_dynamic_aggregations_match_published(mpdta_result):
    simple = mpdta_result.aggregate("simple")
    assert simple.estimate == pytest.approx(R_SIMPLE[0], abs=ATOL)
    assert abs(simple.estimate - VIGNETTE_SIMPLE) <= ATOL + 0.5e-4
    assert simple.se == pytest.approx(R_SIMPLE[1], rel=SE_RTOL)
    dynamic = mpdta_result.aggregate("dynamic")
    assert dynamic.estimate == pytest.approx(R_DYNAMIC_OVERALL[0], abs=ATOL)
    assert dynamic.se == pytest.approx(R_DYNAMIC_OVERALL[1], rel=SE_RTOL)
    table = dynamic.table.set_index("event_time")
    assert list(table.index) == sorted(R_DYNAMIC)
    for e, (att, se) in R_DYNAMIC.items():
        assert table.loc[e, "att"] == pytest.approx(att, abs=ATOL)
        assert table.loc[e, "se"] == pytest.approx(se, rel=SE_RTOL)


def test_mpdta_group_and_calendar_aggregations_match_r(mpdta_result):
    for kind, (att, se) in [("group", R_GROUP_OVERALL), ("calendar", R_CALENDAR_OVERALL)]:
        agg = mpdta_result.aggregate(kind)
        assert agg.estimate == pytest.approx(att, abs=ATOL)
        assert agg.se == pytest.approx(se, rel=SE_RTOL)


def test_mpdta_pretrend_wald_test_matches_r(mpdta_result):
    assert mpdta_result.pretrend["df"] == 5
    assert mpdta_result.pretrend["stat"] == pytest.approx(R_PRETEST_W, rel=1e-3)
    assert mpdta_result.pretrend["p"] == pytest.approx(0.16812, abs=1e-4)


def test_mpdta_notyet_and_regression_with_covariate_match_r(mpdta):
    notyet = staggered_did(mpdta, "countyreal", "year", "lemp", "first.treat", control="notyet")
    np.testing.assert_allclose(notyet.att_gt["att"], R_NOTYET_ATT, atol=ATOL)
    reg = staggered_did(mpdta, "countyreal", "year", "lemp", "first.treat", covariates=["lpop"],
                        method="reg")
    np.testing.assert_allclose(reg.att_gt["att"], R_REG_LPOP_ATT, atol=ATOL)
    ipw = staggered_did(mpdta, "countyreal", "year", "lemp", "first.treat", method="ipw")
    np.testing.assert_allclose(ipw.att_gt["att"], [v[0] for v in R_ATT_GT_NEVER_DR.values()], atol=ATOL)


def test_bootstrap_uniform_bands_are_wider_than_pointwise(mpdta):
    res = staggered_did(mpdta, "countyreal", "year", "lemp", "first.treat", bootstrap=999, seed=1)
    crit = res.bootstrap_info["critical_value"]
    assert 1.96 < crit < 4.0
    np.testing.assert_allclose(res.att_gt["se_bootstrap"], res.att_gt["se"], rtol=0.15)
    dyn = res.aggregate("dynamic", bootstrap=999, seed=1)
    width = dyn.table["ci_high"] - dyn.table["ci_low"]
    assert (width > 2 * 1.96 * dyn.table["se"] * 0.9).all()
    assert dyn.critical_value > 1.96


def simulate_rollout(seed, n_units=60, n_periods=8, effect=2.0, never_share=0.3, noise=1.0):
    """Units adopt at periods 3, 5 or never; effect grows by 0.5 per period of exposure."""
    rng = np.random.default_rng(seed)
    cohort = rng.choice([3, 5, 0], size=n_units, p=[(1 - never_share) / 2] * 2 + [never_share])
    unit_fe = rng.normal(0, 2, n_units)
    t = np.arange(1, n_periods + 1)
    exposure = np.where((cohort[:, None] > 0) & (t[None, :] >= cohort[:, None]),
                        t[None, :] - cohort[:, None], -1)
    y = (unit_fe[:, None] + 0.3 * t[None, :] + np.where(exposure >= 0, effect + 0.5 * exposure, 0)
         + rng.normal(0, noise, (n_units, n_periods)))
    return pd.DataFrame({"unit": np.repeat(np.arange(n_units), n_periods), "period": np.tile(t, n_units),
                         "y": y.ravel(), "first": np.repeat(cohort, n_periods)})


def test_recovers_known_dynamic_effect_on_simulated_rollout():
    panel = simulate_rollout(seed=3, n_units=400)
    res = staggered_did(panel, "unit", "period", "y", "first", control="notyet")
    dyn = res.aggregate("dynamic").table.set_index("event_time")
    for e in range(0, 4):
        assert dyn.loc[e, "att"] == pytest.approx(2.0 + 0.5 * e, abs=4 * dyn.loc[e, "se"])
    pre = dyn.loc[dyn.index < 0]
    assert (np.abs(pre["att"]) < 4 * pre["se"]).all()
    assert res.pretrend["p"] > 0.001


def test_treated_indicator_gives_same_answer_as_first_treated_column():
    panel = simulate_rollout(seed=4)
    panel["on"] = ((panel["first"] > 0) & (panel["period"] >= panel["first"])).astype(int)
    a = staggered_did(panel, "unit", "period", "y", "first")
    b = staggered_did(panel, "unit", "period", "y", treated="on")
    np.testing.assert_allclose(a.att_gt["att"], b.att_gt["att"])


def test_monthly_timestamps_and_mid_month_launch_are_mapped_to_periods():
    panel = simulate_rollout(seed=5)
    months = pd.date_range("2022-01-01", periods=8, freq="MS", tz="UTC")
    panel["month"] = months[panel["period"] - 1]
    # launch on the 10th of the month before the first fully treated month
    panel["launch"] = pd.Series(pd.NaT, index=panel.index, dtype="datetime64[ns, UTC]")
    treated = panel["first"] > 0
    panel.loc[treated, "launch"] = months[panel.loc[treated, "first"] - 2] + pd.Timedelta(days=9)
    a = staggered_did(panel, "unit", "period", "y", "first")
    b = staggered_did(panel, "unit", "month", "y", "launch")
    np.testing.assert_allclose(a.att_gt["att"], b.att_gt["att"])


def test_unbalanced_panel_is_rejected_with_a_clear_message_or_dropped_on_request():
    panel = simulate_rollout(seed=6).drop(index=[5, 17])
    with pytest.raises(EvaluationError, match="unbalanced panel: 2 of 60 units"):
        staggered_did(panel, "unit", "period", "y", "first")
    with pytest.warns(UserWarning, match="dropped"):
        res = staggered_did(panel, "unit", "period", "y", "first", unbalanced="drop")
    assert res.n_units == 58 and sorted(res.dropped_units) == [0, 2]


def test_never_treated_control_without_never_treated_units_names_the_problem():
    panel = simulate_rollout(seed=7, never_share=0.0)
    with pytest.raises(EvaluationError, match="no unit is never treated"):
        staggered_did(panel, "unit", "period", "y", "first", control="never")
    res = staggered_did(panel, "unit", "period", "y", "first", control="notyet")
    assert res.skipped_cells  # cells after the last cohort adopts have no controls


def test_treatment_that_switches_off_is_rejected():
    panel = simulate_rollout(seed=8)
    panel["on"] = ((panel["first"] > 0) & (panel["period"] >= panel["first"])).astype(int)
    panel.loc[(panel["unit"] == panel.loc[panel["on"] == 1, "unit"].iloc[0]) & (panel["period"] == 8), "on"] = 0
    with pytest.raises(EvaluationError, match="switches off"):
        staggered_did(panel, "unit", "period", "y", treated="on")
    with pytest.raises(EvaluationError, match="switches off"):
        first_treated_from_indicator(panel, "unit", "period", "on")
    panel["first_varying"] = panel["first"]
    panel.loc[panel.index[0], "first_varying"] = 99
    with pytest.raises(EvaluationError, match="changes within unit"):
        staggered_did(panel, "unit", "period", "y", "first_varying")


def test_summary_states_the_inference_used(mpdta_result):
    text = mpdta_result.summary()
    assert "clustered by unit" in text and "Pre-trend Wald test" in text and "-0.0400" in text
