"""Equity audit: overdispersion is detected and the Poisson standard error is not presented as the answer."""

import numpy as np
import pandas as pd
import pytest

import workbench
from workbench.governance.equity import (area_exposure, equity_audit, fit_exposure_models, spd_equity_audit,
                                         spd_zip_areas)


@pytest.fixture(scope="module")
def spd_report(spd_alpr_path):
    return spd_equity_audit(spd_alpr_path)


def test_spd_zip_areas_count_every_read_with_a_zip(spd_alpr_path):
    areas = spd_zip_areas(spd_alpr_path)
    raw = pd.read_csv(spd_alpr_path, sep="|", usecols=["zipcode"], dtype=str, na_values=["NA"])
    assert areas["alpr_reads"].sum() + areas.attrs["reads_without_zip"] == len(raw)
    assert len(areas) == raw["zipcode"].nunique()
    assert areas.loc["98134", "population"] == 808


def test_spd_income_coefficient_under_poisson_and_negative_binomial(spd_report):
    per_capita = spd_report.models["alpr_reads"]
    t = per_capita.table
    # per-capita reads (log population offset), income per $10k, 26 zip codes with income
    assert per_capita.n_areas == 26 and per_capita.offset
    assert t.loc["poisson", "coef"] == pytest.approx(-0.1350, abs=5e-4)
    assert t.loc["poisson", "se"] == pytest.approx(0.00173, abs=5e-5)
    assert t.loc["negative_binomial", "coef"] == pytest.approx(-0.403, abs=5e-3)
    assert t.loc["negative_binomial", "se"] == pytest.approx(0.098, abs=3e-3)
    assert per_capita.dispersion > 10_000 and per_capita.overdispersed
    # the Poisson SE is flagged, not offered as the answer
    assert per_capita.preferred == "negative_binomial"
    assert not t.loc["poisson", "valid"] and "NOT VALID" in t.loc["poisson", "note"]
    assert per_capita.estimate["se"] > 50 * t.loc["poisson", "se"]
    assert "must not be reported" in per_capita.explanation
    # one industrial zip code with 808 residents decides the per-capita significance
    assert list(per_capita.influence.loc[per_capita.influence["flips"], "area"]) == ["98134"]
    assert "98134" in per_capita.explanation


def test_spd_negative_income_coefficient_loses_significance_once_overdispersion_is_modelled(spd_report):
    counts = spd_report.models["alpr_reads (count, no offset)"]
    t = counts.table
    assert t.loc["poisson", "coef"] < 0 and t.loc["poisson", "p"] < 1e-6
    assert t.loc["negative_binomial", "coef"] < 0 and t.loc["negative_binomial", "p"] > 0.2
    assert "conclusion changes" in counts.explanation
    html = spd_report.to_html()
    assert "NOT VALID" in html and "negative binomial preferred" in html


def test_equidispersed_counts_keep_poisson():
    rng = np.random.default_rng(3)
    areas = pd.DataFrame({"population": rng.integers(5_000, 50_000, 60),
                          "median_income": rng.uniform(3e4, 1.5e5, 60)})
    rate = np.exp(-6 - 0.05 * areas["median_income"] / 1e4)
    areas["cameras"] = rng.poisson(rate * areas["population"])
    models = fit_exposure_models(areas, "cameras", influence=False)
    assert models.dispersion < 1.5 and models.preferred == "poisson" and models.table.loc["poisson", "valid"]
    assert models.table.loc["poisson", "coef"] == pytest.approx(-0.05, abs=0.04)


def test_sample_beats_exposure_counts_match_the_scenario(tmp_path):
    s = workbench.load_sample()
    areas = area_exposure(s.beats, area_col="beat", cameras=s.cameras, reads=s.alpr_reads,
                          hotspots=s.truth["hotspots"], cases=s.cases, incidents=s.incidents)
    outside = areas.attrs["outside"]
    assert areas["cameras"].sum() + outside["cameras"] == len(s.cameras)  # each counted once or reported
    assert areas["cameras"].sum() > 0.9 * len(s.cameras)
    assert areas["alpr_reads"].sum() + outside["alpr_reads"] == len(s.alpr_reads)
    assisted = s.cases.loc[s.cases["rtcc_assisted"].fillna(False).astype(bool), "incident_id"]
    assert areas["rtcc_cases"].sum() == s.incidents.set_index("incident_id").loc[assisted, "beat"].notna().sum()
    assert 0 < areas["hotspot_km2"].sum() < s.beats["area_km2"].sum()
    report = equity_audit(areas, ["cameras", "alpr_reads", "hotspot_km2", "rtcc_cases"], influence=False)
    assert set(report.models) == {"cameras", "alpr_reads", "rtcc_cases"}
    assert any("hotspot_km2 is not a count" in n for n in report.notes)
    q = report.quantiles
    assert set(q["variable"]) >= {"median_income", "share_black"} and (q["areas"] > 0).all()
    income = q[q["variable"] == "median_income"]
    assert income["population"].sum() == s.beats["population"].sum()
    path = report.save(tmp_path)
    assert path.exists() and (tmp_path / "equity_models.csv").exists()
