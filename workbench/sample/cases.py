"""Cases, clearance, the RTCC's staggered rollout and the planted effects.

Every incident opens a case. Whether it clears follows a logistic model:

``logit P(clear) = a_offense + BETA_SEVERITY * (severity - mean) + BETA_CAMERA * (camera_coverage - mean)
+ log(ODDS_RATIO[group]) * rtcc_assisted``

where ``a_offense`` is calibrated so that, without the RTCC, each offence clears at
its national-like rate (``OFFENSES.clearance_rate``). ``severity`` (1-4) and
``camera_coverage`` (a camera within ``COVERAGE_M`` metres, installed before the
incident) are the planted confounders: after its district's launch, a case is
RTCC-assisted with a probability that also rises with severity and camera coverage,
so a naive comparison of assisted and unassisted cases overstates the effect.
Both confounders are columns of ``truth["cases"]``, so an evaluator can adjust.

The planted effects are in ``truth["effects"]``:

- level ``case``, measure ``odds_ratio``: the per-group odds multiplier of assistance;
  measure ``time_ratio``: assisted cases clear this much faster;
- level ``district``, measure ``irr``: for each treated district, expected clearances
  of its post-launch cases over the expected clearances of the same cases had the
  RTCC not existed (clearance effect only), overall (``offense_category="all"``)
  and per group;
- level ``crime``, measure ``pct_change``: the percentage change of incidents in a
  treated district after its launch (negative: prevented), per group.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from workbench.sample import places
from workbench.sample.crime import CRIME_REDUCTION
from workbench.sample.offenses import OFFENSES

#: Planted odds multipliers of RTCC assistance on clearance, by effect group.
ODDS_RATIO = {"violent": 1.66, "property": 2.0, "sexual_assault": 1.0,
              "domestic_violence": 1.0, "other": 1.3}
#: Assisted cases clear in this fraction of the time.
TIME_RATIO = 0.7
BETA_SEVERITY = 0.45
BETA_CAMERA = 0.7
COVERAGE_M = 150.0
#: Target share of post-launch cases the RTCC assists, and how selection leans.
ASSIST_SHARE = 0.25
ASSIST_SEVERITY = 0.8
ASSIST_CAMERA = 1.6
ASSIST_GROUP = {"violent": 0.6, "property": 0.0, "sexual_assault": -0.2,
                "domestic_violence": -0.6, "other": -1.2}
COHORT_FRACTIONS = (0.25, 0.45, 0.65)
NEVER_TREATED = 2


def _expit(z):
    return 1.0 / (1.0 + np.exp(-z))


def _calibrate(z, target, lo=-15.0, hi=15.0, iters=60):
    """The shift ``a`` with mean(expit(a + z)) == target (bisection)."""
    for _ in range(iters):
        mid = (lo + hi) / 2
        if _expit(mid + z).mean() < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def plan_rollout(city, *, start, days, tz, rng) -> pd.DataFrame:
    """Assign districts to launch cohorts (at least 3) and leave ``NEVER_TREATED`` untreated.

    Returns
    -------
    DataFrame
        ``district``, ``rtcc_start`` (UTC; NaT for never treated), ``cohort`` (1..3, or 0).
    """
    names = city.districts["district"].to_numpy(dtype=object)
    order = rng.permutation(names.size)
    treated = order[: names.size - NEVER_TREATED]
    cohort = np.zeros(names.size, dtype=int)
    for c, group in enumerate(np.array_split(treated, len(COHORT_FRACTIONS))):
        cohort[group] = c + 1
    dates = places.period_dates(start, days)
    launch_local = pd.DatetimeIndex([dates[int(f * days)] for f in COHORT_FRACTIONS])
    launch = places.local_to_utc(launch_local, tz)
    rtcc_start = pd.Series(pd.NaT, index=range(names.size), dtype="datetime64[us, UTC]")
    for c in range(1, len(COHORT_FRACTIONS) + 1):
        rtcc_start[cohort == c] = launch.iloc[c - 1]
    return pd.DataFrame({"district": names, "rtcc_start": rtcc_start, "cohort": cohort})


def camera_coverage(incidents, cameras, radius_m=COVERAGE_M):
    """Number of cameras within ``radius_m`` of each incident, installed before it occurred."""
    from scipy.spatial import cKDTree

    tree = cKDTree(cameras[["x", "y"]].to_numpy())
    hits = tree.query_ball_point(incidents[["x", "y"]].to_numpy(), r=radius_m)
    lengths = np.fromiter((len(h) for h in hits), dtype=np.int64, count=len(hits))
    if lengths.sum() == 0:
        return np.zeros(len(incidents), dtype=np.int64)
    inc_idx = np.repeat(np.arange(len(hits)), lengths)
    cam_idx = np.concatenate([np.asarray(h, dtype=np.int64) for h in hits if len(h)])
    installed = cameras["installed_at"].to_numpy()[cam_idx]
    live = installed <= incidents["occurred_at"].to_numpy()[inc_idx]
    return np.bincount(inc_idx[live], minlength=len(incidents))


def open_cases(incidents, cameras, rollout, *, end_utc, seed):
    """Open a case per incident, decide RTCC assistance and clearance.

    Parameters
    ----------
    incidents : DataFrame
        From :func:`workbench.sample.crime.generate_incidents` (with ``x``, ``y``, ``firearm``).
    cameras : DataFrame
        The registry with working ``x``, ``y`` columns.
    rollout : DataFrame
        From :func:`plan_rollout`.
    end_utc : Timestamp
        End of the period: the data are extracted then, so later clearances are not yet known.
    seed : int

    Returns
    -------
    cases : DataFrame
        Canonical cases.
    truth : dict of DataFrame
        ``cases`` (confounders, probabilities, eventual clearance) and ``effects``.
    """
    rng = np.random.default_rng([seed, 303])
    n = len(incidents)
    off = incidents["offense"].to_numpy(dtype=object)
    rows = OFFENSES.loc[off]
    group = rows["effect_group"].to_numpy(dtype=object)

    opened = incidents["reported_at"] + pd.to_timedelta(rng.integers(5 * 60, 2 * 3600, n), unit="s")
    probs = np.stack(rows["severity_probs"].to_numpy())
    severity = 1 + (rng.random(n)[:, None] > np.cumsum(probs, axis=1)).sum(axis=1)
    severity = np.minimum(severity + incidents["firearm"].to_numpy().astype(int), 4)
    n_cams = camera_coverage(incidents, cameras)
    covered = n_cams > 0

    launch = incidents["district"].map(rollout.set_index("district")["rtcc_start"])
    treated = (launch.notna() & (opened >= launch).fillna(False)).to_numpy()
    z_assist = (ASSIST_SEVERITY * (severity - 2) + ASSIST_CAMERA * covered
                + pd.Series(group).map(ASSIST_GROUP).to_numpy(dtype=float))
    a = _calibrate(z_assist[treated], ASSIST_SHARE) if treated.any() else 0.0
    p_assist = np.where(treated, _expit(a + z_assist), 0.0)
    assisted = rng.random(n) < p_assist

    log_or = np.log(pd.Series(group).map(ODDS_RATIO).to_numpy(dtype=float))
    z_clear = np.zeros(n)
    for name in np.unique(off):  # calibrate each offence's intercept (a dozen)
        m = off == name
        zc = (BETA_SEVERITY * (severity[m] - severity[m].mean())
              + BETA_CAMERA * (covered[m] - covered[m].mean()))
        z_clear[m] = _calibrate(zc, OFFENSES.loc[name, "clearance_rate"]) + zc
    p0 = _expit(z_clear)
    p1 = _expit(z_clear + log_or)
    p = np.where(assisted, p1, p0)
    cleared = rng.random(n) < p

    exceptional = rng.random(n) < rows["exceptional_share"].to_numpy()
    codes = rows["exceptional_codes"].to_numpy(dtype=object)
    pick = (rng.random(n) * pd.Series(codes).str.len().to_numpy()).astype(int)
    code = np.array([c[i] for c, i in zip(codes, pick)], dtype=object)
    ctype = np.where(exceptional, "exceptional_" + code, "arrest")
    median_days = rows["arrest_median_days"].to_numpy() * np.where(exceptional, 1.5, 1.0)
    days_to_clear = np.where(median_days > 0, median_days * rng.lognormal(0, 1.0, n),
                             rng.uniform(0, 0.1, n))
    days_to_clear = days_to_clear * np.where(assisted, TIME_RATIO, 1.0)
    cleared_at = opened + pd.to_timedelta(np.round(days_to_clear * 86400e6), unit="us")
    known = cleared & (cleared_at <= end_utc).to_numpy()

    age_days = ((end_utc - opened) / pd.Timedelta(days=1)).to_numpy()
    status = np.where(known, np.where(ctype == "arrest", "cleared_arrest", "cleared_exceptional"),
                      np.where(age_days > 90, "inactive", "open"))
    case_id = "CASE" + incidents["incident_id"].str.removeprefix("INC")
    cases = pd.DataFrame({
        "case_id": case_id.to_numpy(),
        "incident_id": incidents["incident_id"].to_numpy(),
        "opened_at": opened.to_numpy(),
        "cleared_at": cleared_at.where(known).to_numpy(),
        "clearance_type": np.where(known, ctype, None),
        "rtcc_assisted": assisted,
        "unit": rows["unit"].to_numpy(),
        "status": status,
        "updated_at": cleared_at.where(known, opened).to_numpy(),
    })
    truth_cases = pd.DataFrame({
        "case_id": cases["case_id"], "incident_id": cases["incident_id"], "offense": off,
        "effect_group": group, "district": incidents["district"].to_numpy(),
        "severity": severity.astype(np.int64), "camera_coverage": covered,
        "cameras_nearby": n_cams.astype(np.int64), "firearm": incidents["firearm"].to_numpy(),
        "rtcc_live": treated, "p_assist": p_assist, "rtcc_assisted": assisted,
        "p_clear_without_rtcc": p0, "p_clear": p, "cleared": cleared,
        "cleared_at": cleared_at.where(cleared).to_numpy(),
        "clearance_type": np.where(cleared, ctype, None), "censored": cleared & ~known,
    })
    effects = planted_effects(truth_cases, rollout, p0, p1, p_assist)
    return cases, {"cases": truth_cases, "effects": effects}


def planted_effects(truth_cases, rollout, p0, p1, p_assist) -> pd.DataFrame:
    """The effects table: case odds ratios, district clearance IRRs, crime changes."""
    rows = []
    for g, value in ODDS_RATIO.items():
        rows.append(dict(level="case", offense_category=g, measure="odds_ratio", value=value))
    rows.append(dict(level="case", offense_category="all", measure="time_ratio", value=TIME_RATIO))
    for g, value in CRIME_REDUCTION.items():
        rows.append(dict(level="crime", offense_category=g, measure="pct_change",
                         value=-100.0 * value + 0.0))
    # Expected clearances with the RTCC (assistance drawn with p_assist) over without it.
    expected_with = p_assist * p1 + (1 - p_assist) * p0
    live = truth_cases["rtcc_live"].to_numpy()
    frame = pd.DataFrame({"district": truth_cases["district"], "group": truth_cases["effect_group"],
                          "with": expected_with, "without": p0})[live]
    launch = rollout.set_index("district")["rtcc_start"]
    for d, part in frame.groupby("district", sort=True):
        base = dict(level="district", district=d, rtcc_start=launch[d], n_cases=len(part))
        rows.append(dict(base, offense_category="all", measure="irr",
                         value=part["with"].sum() / part["without"].sum()))
        for g, sub in part.groupby("group", sort=True):
            rows.append(dict(base, offense_category=g, measure="irr", n_cases=len(sub),
                             value=sub["with"].sum() / sub["without"].sum()))
    out = pd.DataFrame(rows)
    out["district"] = out["district"].astype("str").where(out["district"].notna(), None) \
        if "district" in out else None
    out["n_cases"] = out["n_cases"].astype("Int64")
    out["rtcc_start"] = pd.to_datetime(out["rtcc_start"], utc=True).astype("datetime64[us, UTC]")
    return out
