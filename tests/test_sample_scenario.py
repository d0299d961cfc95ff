"""The scenario as a whole: canonical tables that validate, planted clearance effects and their
confounding, determinism, save / load, the committed sample and the CLI."""

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from workbench.data import validate
from workbench.data.schema import TABLES
from workbench.errors import ReadError, WorkbenchError
from workbench.sample import Scenario, generate, load_sample
from workbench.sample.cases import ODDS_RATIO

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def sample():
    return load_sample()


@pytest.fixture(scope="module")
def small():
    """Sixty days with two days of reads at a tenth of the volume."""
    return generate(seed=5, days=60, alpr_days=2, scale=0.3, alpr_scale=0.05)


def test_every_table_has_exactly_the_canonical_columns_and_dtypes(sample):
    for name, table in sample.tables.items():
        spec = TABLES[name]
        assert list(table.columns) == spec.column_names, name
        for col in spec.columns:
            assert str(table[col.name].dtype) == col.dtype, (name, col.name)


@pytest.mark.parametrize("which", ["sample", "small"])
def test_every_table_passes_validate_with_zero_rejected_rows(which, request):
    scenario = request.getfixturevalue(which)
    for name, table in scenario.tables.items():
        result = validate(table, name)
        assert len(result.rejected) == 0, (name, result.rejected["reason"].value_counts().head())
        assert len(result.valid) == len(table)
    assert len(scenario.alpr_reads) > 0


def test_every_incident_has_one_case_and_clearance_is_near_national_rates(sample):
    inc, cases = sample.incidents, sample.cases
    assert cases["incident_id"].is_unique
    assert set(cases["incident_id"]) == set(inc["incident_id"])
    truth = sample.truth["cases"]
    # Eventual clearance before the RTCC, by offence (planted national-like rates).
    before = truth[~truth["rtcc_live"]]
    rate = before.groupby("offense")["cleared"].mean()
    national = {"homicide": 0.50, "aggravated_assault": 0.45, "robbery": 0.25, "burglary": 0.13,
                "motor_vehicle_theft": 0.10, "larceny": 0.15}
    for offense, expected in national.items():
        tol = 0.2 if offense == "homicide" else 0.04  # a few dozen homicides a year
        assert abs(rate[offense] - expected) < tol, (offense, rate[offense])
    cleared = cases.dropna(subset=["cleared_at"])
    assert (cleared["cleared_at"] >= cleared["opened_at"]).all()
    types = cleared["clearance_type"].value_counts(normalize=True)
    assert 0.6 < types["arrest"] < 0.95
    assert types.index.str.startswith("exceptional_").sum() >= 3
    # arrests in incidents agree with the cases
    arrested = cases.set_index("incident_id").loc[inc["incident_id"], "clearance_type"].eq("arrest")
    assert (inc["arrest"].to_numpy() == arrested.fillna(False).to_numpy()).all()


def test_rollout_is_staggered_with_never_treated_districts(sample):
    roll = sample.truth["rollout"]
    assert set(roll["district"]) == set(sample.districts["district"])
    assert roll["rtcc_start"].dropna().nunique() >= 3
    assert roll["rtcc_start"].isna().sum() >= 2
    cases = sample.cases.merge(sample.incidents[["incident_id", "district"]], on="incident_id")
    launch = cases["district"].map(roll.set_index("district")["rtcc_start"])
    live = (cases["opened_at"] >= launch).fillna(False)
    assert not cases.loc[~live, "rtcc_assisted"].any()
    assert 0.15 < cases.loc[live, "rtcc_assisted"].mean() < 0.35


def _odds_ratio(cleared, assisted):
    a, n = cleared[assisted].mean(), cleared[~assisted].mean()
    return (a / (1 - a)) / (n / (1 - n))


def test_naive_clearance_odds_ratio_overstates_the_planted_one(sample):
    import statsmodels.formula.api as smf

    truth = sample.truth["cases"]
    live = truth[truth["rtcc_live"]]
    # assistance leans to serious, camera-covered cases
    assert live.loc[live["rtcc_assisted"], "severity"].mean() > live.loc[~live["rtcc_assisted"],
                                                                       "severity"].mean() + 0.3
    assert live.loc[live["rtcc_assisted"], "camera_coverage"].mean() > live.loc[
        ~live["rtcc_assisted"], "camera_coverage"].mean() + 0.2
    for group in ("violent", "property", "domestic_violence"):
        g = live[live["effect_group"] == group]
        naive = _odds_ratio(g["cleared"].to_numpy(), g["rtcc_assisted"].to_numpy())
        planted = ODDS_RATIO[group]
        assert naive > 1.2 * planted, (group, naive, planted)
        d = pd.DataFrame({"y": g["cleared"].astype(int), "a": g["rtcc_assisted"].astype(int),
                          "sev": g["severity"], "cam": g["camera_coverage"].astype(int),
                          "off": g["offense"]})
        adjusted = np.exp(smf.logit("y ~ a + sev + cam + C(off)", d).fit(disp=0).params["a"])
        assert abs(np.log(adjusted / planted)) < abs(np.log(naive / planted)), group
    effects = sample.truth["effects"]
    case_or = effects.query("level == 'case' and measure == 'odds_ratio'")
    assert dict(zip(case_or["offense_category"], case_or["value"])) == ODDS_RATIO


def test_effects_give_each_treated_district_a_clearance_irr_and_a_crime_change(sample):
    effects = sample.truth["effects"]
    assert {"level", "offense_category", "measure", "value"} <= set(effects.columns)
    irr = effects.query("level == 'district' and measure == 'irr' and offense_category == 'all'")
    treated = sample.truth["rollout"].dropna(subset=["rtcc_start"])["district"]
    assert set(irr["district"]) == set(treated)
    assert (irr["value"] > 1.02).all() and (irr["value"] < 1.5).all()
    crime = effects.query("level == 'crime' and measure == 'pct_change'").set_index(
        "offense_category")["value"]
    assert crime["violent"] < 0 and crime["property"] < 0 and crime["domestic_violence"] == 0
    # The realised reduction (observed vs observed + prevented) matches the planted percentage.
    prevented = sample.truth["prevented"]
    inc = sample.incidents
    launch = sample.truth["rollout"].set_index("district")["rtcc_start"]
    for group, pct in crime[crime < 0].items():
        offenses = sample.truth["incident_sources"]
        in_group = inc["offense"].isin(prevented.loc[prevented["effect_group"] == group, "offense"])
        post = (inc["occurred_at"] >= inc["district"].map(launch)).fillna(False)
        p_post = (prevented["effect_group"] == group).sum()
        is_nr = inc["incident_id"].isin(offenses.query("source == 'near_repeat'")["incident_id"])
        observed = (in_group & post & ~is_nr).sum()
        realised = -100 * p_post / (observed + p_post)
        assert abs(realised - pct) < 3, (group, realised, pct)


def test_truth_tables_keep_their_contract_columns(sample):
    t = sample.truth
    assert {"hotspot_id", "kind", "lon", "lat", "radius_m", "offense_category", "start",
            "end"} <= set(t["hotspots"].columns)
    assert {"incident_id", "parent_incident_id"} <= set(t["near_repeat"].columns)
    assert {"district", "rtcc_start"} <= set(t["rollout"].columns)
    assert {"severity", "camera_coverage", "rtcc_assisted", "cleared"} <= set(t["cases"].columns)
    for name in ("trips", "read_trips", "misreads", "convoys", "cloned_plates", "incident_vehicles"):
        assert name in t, name
    assert str(t["hotspots"]["start"].dtype) == "datetime64[us, UTC]"


def test_same_seed_same_scenario_different_seed_different(small):
    again = generate(seed=5, days=60, alpr_days=2, scale=0.3, alpr_scale=0.05)
    for name in small.tables:
        pd.testing.assert_frame_equal(small.tables[name], again.tables[name])
    for name in small.truth:
        pd.testing.assert_frame_equal(small.truth[name], again.truth[name])
    other = generate(seed=6, days=60, alpr_days=0, scale=0.3)
    assert not small.incidents["occurred_at"].equals(other.incidents["occurred_at"])
    assert not small.roads["length_m"].equals(other.roads["length_m"])


def test_save_and_load_round_trip_every_table_and_truth(small, tmp_path):
    small.save(tmp_path / "s")
    back = Scenario.load(tmp_path / "s")
    for name in small.tables:
        pd.testing.assert_frame_equal(small.tables[name], back.tables[name])
    for name in small.truth:
        pd.testing.assert_frame_equal(small.truth[name], back.truth[name], check_dtype=False)
    assert back.tz == small.tz and back.crs == small.crs and back.params == small.params
    assert back.roads.geometry.geom_equals(small.roads.geometry).all()
    assert back.districts.crs == small.districts.crs
    assert back.city.graph.number_of_edges() > 0


def test_committed_sample_is_small_and_loads_from_env_or_default(sample, monkeypatch, tmp_path):
    size = sum(f.stat().st_size for f in (ROOT / "data" / "sample").rglob("*") if f.is_file())
    assert size <= 25 * 2**20
    assert (ROOT / "data" / "sample" / "README.md").is_file()
    assert sample.params["days"] == 365 and sample.params["alpr_days"] == 14
    monkeypatch.setenv("WORKBENCH_SAMPLE", str(tmp_path))
    with pytest.raises(ReadError, match="WORKBENCH_SAMPLE"):
        load_sample()
    import workbench

    monkeypatch.delenv("WORKBENCH_SAMPLE")
    assert len(workbench.load_sample().incidents) == len(sample.incidents)


def test_alpr_reads_cover_the_last_days_when_the_rtcc_is_live(sample):
    reads = sample.alpr_reads
    assert reads["camera_id"].isin(sample.cameras["camera_id"]).all()
    end = sample.incidents["occurred_at"].max()
    assert (reads["read_at"] >= end - pd.Timedelta(days=15)).all()


def test_cli_writes_a_scenario(tmp_path, capsys):
    from workbench.sample import cli

    parser = argparse.ArgumentParser()
    cli.add_parser(parser.add_subparsers())
    args = parser.parse_args(["sample", "--out", str(tmp_path / "cli"), "--seed", "2", "--days",
                              "14", "--alpr-days", "0", "--scale", "0.1"])
    assert args.func(args) == 0
    assert len(Scenario.load(tmp_path / "cli").incidents) > 0
    assert "incidents" in capsys.readouterr().out
    from workbench.cli import main

    assert main(["sample", "--out", str(tmp_path / "x"), "--days", "3"]) == 1
    assert "days must be at least 7" in capsys.readouterr().err


def test_bad_arguments_raise_plain_errors():
    with pytest.raises(WorkbenchError, match="alpr_days"):
        generate(days=10, alpr_days=20)
