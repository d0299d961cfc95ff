"""CAD calls for service and acoustic gunshot alerts of the synthetic city.

Calls: most incidents come in as a call (``incident_id`` links them; larceny and
drug offences less often, being reported online or found by officers), plus
about ``NONCRIME_PER_INCIDENT`` non-crime calls per incident (crashes,
disturbances, alarms, welfare checks ...). Dispatch, travel and on-scene times
depend on priority.

Gunshot alerts: sensors cover the ``GUNSHOT_DISTRICTS`` most deprived districts
(``truth["gunshot_coverage"]``). Inside coverage they detect ``DETECTION_RATE``
of shootings, plus gunfire nobody reported as a crime and false alerts
(fireworks around July 4 and New Year, backfires). ``truth["gunshots"]`` says
which alert is which.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from workbench.sample import places
from workbench.sample.offenses import CALL_TYPES, OFFENSES

NONCRIME_PER_INCIDENT = 2.5
CALL_SHARE = {"larceny": 0.6, "theft_from_vehicle": 0.7, "vandalism": 0.7, "drug_violation": 0.3,
              "weapons_violation": 0.6, "burglary": 0.92, "motor_vehicle_theft": 0.92}
PRIORITY = {"homicide": 1, "sexual_assault": 1, "robbery": 1, "aggravated_assault": 1,
            "domestic_assault": 1, "burglary": 2, "motor_vehicle_theft": 2}
# call type, share, priority, vehicle involved
NONCRIME = [("traffic_accident", 0.18, 2, True), ("disturbance", 0.16, 2, False),
            ("alarm", 0.12, 2, False), ("suspicious_person", 0.10, 2, False),
            ("welfare_check", 0.10, 2, False), ("noise_complaint", 0.09, 3, False),
            ("suspicious_vehicle", 0.08, 3, True), ("traffic_hazard", 0.05, 3, True),
            ("trespass", 0.05, 3, False), ("mental_health", 0.05, 2, False)]
DISPATCH_MEDIAN_MIN = {1: 2.0, 2: 6.0, 3: 18.0}
TRAVEL_MEDIAN_MIN = {1: 5.0, 2: 7.5, 3: 10.0}
ON_SCENE_MEDIAN_MIN = {1: 60.0, 2: 35.0, 3: 25.0}

GUNSHOT_DISTRICTS = 5
DETECTION_RATE = 0.92
UNREPORTED_GUNFIRE_PER_SHOOTING = 2.5
FALSE_ALERT_SHARE = 0.12
SHOTS_FIRED_CALL_SHARE = 0.3


def _minutes(rng, medians, priority, sigma):
    return pd.Series(priority).map(medians).to_numpy(dtype=float) * rng.lognormal(0, sigma,
                                                                                   len(priority))


def generate_calls(city, incidents, streets, dates, tz, rng, *, scale=1.0, extra=None):
    """CAD calls: incident calls, non-crime calls and ``extra`` (shots-fired calls).

    Returns
    -------
    DataFrame
        Canonical calls columns.
    """
    off = incidents["offense"].to_numpy(dtype=object)
    has_call = rng.random(len(off)) < pd.Series(off).map(CALL_SHARE).fillna(0.97).to_numpy()
    inc = incidents[has_call]
    off = off[has_call]
    crime = pd.DataFrame({
        "received_at": inc["reported_at"].to_numpy(), "call_type": pd.Series(off).map(CALL_TYPES),
        "x": inc["x"].to_numpy(), "y": inc["y"].to_numpy(),
        "priority": pd.Series(off).map(PRIORITY).fillna(3).astype(int).to_numpy(),
        "incident_id": inc["incident_id"].to_numpy(), "disposition": "report_taken",
        "vehicle_involved": np.isin(off, ["motor_vehicle_theft", "theft_from_vehicle"])
        | ((off == "robbery") & (rng.random(len(off)) < 0.15)),
    })

    n_other = rng.poisson(NONCRIME_PER_INCIDENT * OFFENSES["annual_count"].sum()
                          * len(dates) / 365.0 * scale)
    share = np.array([k[1] for k in NONCRIME])
    kinds = rng.choice(len(NONCRIME), n_other, p=share / share.sum())
    x, y, _ = places.on_streets(streets, streets.weights(1.0, 0.8, 0.8), n_other, rng)
    days = places.draw_days("larceny", n_other, dates, rng)
    # non-crime calls peak in the afternoon and evening: borrow the vandalism/larceny profiles
    received = places.draw_times(days, np.where(rng.random(n_other) < 0.5, "larceny", "vandalism"),
                                 dates, tz, rng)
    other = pd.DataFrame({
        "received_at": received.to_numpy(),
        "call_type": np.array([k[0] for k in NONCRIME], dtype=object)[kinds], "x": x, "y": y,
        "priority": np.array([k[2] for k in NONCRIME])[kinds], "incident_id": None,
        "disposition": rng.choice(["advised", "assisted", "gone_on_arrival", "unfounded",
                                   "report_taken"], n_other, p=[0.35, 0.25, 0.15, 0.1, 0.15]),
        "vehicle_involved": np.array([k[3] for k in NONCRIME])[kinds],
    })
    calls = pd.concat([crime, other] + ([extra] if extra is not None else []), ignore_index=True)
    calls["received_at"] = pd.to_datetime(calls["received_at"], utc=True).astype(
        "datetime64[us, UTC]")
    calls = calls.sort_values("received_at", kind="stable").reset_index(drop=True)

    n = len(calls)
    pr = calls["priority"].to_numpy()
    dispatch = _minutes(rng, DISPATCH_MEDIAN_MIN, pr, 0.7)
    travel = _minutes(rng, TRAVEL_MEDIAN_MIN, pr, 0.45)
    on_scene = _minutes(rng, ON_SCENE_MEDIAN_MIN, pr, 0.6)
    cancelled = (pr == 3) & (rng.random(n) < 0.05) & calls["incident_id"].isna().to_numpy()
    rec = calls["received_at"]

    def after(minutes):
        return rec + pd.to_timedelta(np.round(minutes * 60e6), unit="us")

    calls["dispatched_at"] = after(dispatch).where(~cancelled)
    calls["arrived_at"] = after(dispatch + travel).where(~cancelled)
    calls["closed_at"] = after(np.where(cancelled, dispatch, dispatch + travel + on_scene))
    calls.loc[cancelled, "disposition"] = "cancelled"
    calls["district"], calls["beat"] = places.locate(city, calls["x"], calls["y"])
    calls["address"] = places.addresses(streets, calls["x"].to_numpy(), calls["y"].to_numpy())
    calls["lon"], calls["lat"] = city.to_lonlat(calls["x"], calls["y"])
    years = rec.dt.tz_convert(tz).dt.year.to_numpy() % 100
    calls["call_id"] = [f"CAD{y:02d}-{k:07d}" for y, k in zip(years, range(1, n + 1))]
    calls["updated_at"] = calls["closed_at"]
    return calls


def generate_gunshots(city, incidents, streets, dates, tz, rng, *, scale=1.0):
    """Gunshot alerts, their truth, and the shots-fired calls some unreported gunfire produces.

    Returns
    -------
    alerts : DataFrame
        Canonical gunshots columns.
    truth : dict of DataFrame
        ``gunshots`` (alert_id, cause, incident_id, in_coverage) and ``gunshot_coverage``.
    shots_fired_calls : DataFrame
        Partial call rows for :func:`generate_calls` (``extra``).
    """
    d = city.districts.sort_values(["deprivation", "district"], ascending=[False, True])
    covered_districts = set(d["district"].iloc[:GUNSHOT_DISTRICTS])
    coverage = pd.DataFrame({"district": city.districts["district"],
                             "covered": city.districts["district"].isin(covered_districts)})

    shootings = incidents[incidents["shooting"] & incidents["district"].isin(covered_districts)]
    detected = shootings[rng.random(len(shootings)) < DETECTION_RATE]

    # Unreported gunfire: where violence is, inside coverage.
    n_gun = rng.poisson(UNREPORTED_GUNFIRE_PER_SHOOTING * max(len(shootings), 1) * 1.0)
    gx, gy, _ = places.on_streets(streets, streets.weights(1.0, 0.2, 3.0), 3 * n_gun + 10, rng)
    gd, _ = places.locate(city, gx, gy)
    keep = np.flatnonzero(np.isin(gd, list(covered_districts)))[:n_gun]
    gx, gy = gx[keep], gy[keep]
    n_gun = keep.size
    g_time = places.draw_times(places.draw_days("aggravated_assault", n_gun, dates, rng),
                               np.full(n_gun, "aggravated_assault", dtype=object), dates, tz, rng)

    # False alerts: fireworks cluster around July 4 and New Year.
    n_false = rng.poisson(FALSE_ALERT_SHARE / (1 - FALSE_ALERT_SHARE) * (len(detected) + n_gun))
    holiday = ((dates.month == 7) & (dates.day.isin([3, 4, 5]))) | (
        (dates.month == 12) & (dates.day == 31)) | ((dates.month == 1) & (dates.day == 1))
    w = np.where(holiday, 25.0, 1.0)
    f_days = rng.choice(len(dates), n_false, p=w / w.sum())
    f_time = places.draw_times(f_days, np.full(n_false, "vandalism", dtype=object), dates, tz, rng)
    fx, fy, _ = places.on_streets(streets, streets.weights(1.0, 0.3, 1.0), 3 * n_false + 10, rng)
    fd, _ = places.locate(city, fx, fy)
    fk = np.flatnonzero(np.isin(fd, list(covered_districts)))[:n_false]
    fx, fy = fx[fk], fy[fk]
    n_false = fk.size
    f_time = f_time.iloc[:n_false]

    parts = pd.DataFrame({
        "t": pd.concat([detected["occurred_at"], g_time, f_time], ignore_index=True),
        "x": np.concatenate([detected["x"], gx, fx]), "y": np.concatenate([detected["y"], gy, fy]),
        "cause": np.repeat(["shooting", "unreported_gunfire", "false_alert"],
                           [len(detected), n_gun, n_false]),
        "incident_id": np.concatenate([detected["incident_id"].to_numpy(dtype=object),
                                       np.full(n_gun + n_false, None, dtype=object)]),
    })
    n = len(parts)
    true_alert = parts["cause"].to_numpy() != "false_alert"
    parts["detected_at"] = parts["t"] + pd.to_timedelta(rng.integers(2_000_000, 40_000_000, n),
                                                        unit="us")
    parts["ax"] = parts["x"] + rng.normal(0, 20, n)
    parts["ay"] = parts["y"] + rng.normal(0, 20, n)
    parts["rounds"] = 1 + np.where(parts["cause"] == "shooting", rng.poisson(4, n),
                                   np.where(true_alert, rng.poisson(2.5, n), rng.poisson(5, n)))
    parts["confidence"] = np.round(np.where(true_alert, rng.beta(9, 2, n), rng.beta(4, 4, n)), 3)
    parts = parts.sort_values("detected_at", kind="stable").reset_index(drop=True)
    parts["alert_id"] = [f"GS{k:06d}" for k in range(1, n + 1)]
    parts["lon"], parts["lat"] = city.to_lonlat(parts["ax"], parts["ay"])
    alerts = parts[["alert_id", "detected_at", "lon", "lat", "rounds", "confidence", "incident_id"]]
    truth = parts[["alert_id", "cause", "incident_id"]].copy()
    truth["true_lon"], truth["true_lat"] = city.to_lonlat(parts["x"], parts["y"])

    g = parts[parts["cause"] == "unreported_gunfire"]
    g = g[rng.random(len(g)) < SHOTS_FIRED_CALL_SHARE]
    calls = pd.DataFrame({
        "received_at": (g["t"] + pd.to_timedelta(rng.integers(30, 600, len(g)), unit="s")).to_numpy(),
        "call_type": "shots_fired", "x": g["x"].to_numpy(), "y": g["y"].to_numpy(), "priority": 1,
        "incident_id": None, "disposition": rng.choice(["unfounded", "gone_on_arrival", "advised"],
                                                       len(g)),
        "vehicle_involved": False})
    return alerts, {"gunshots": truth, "gunshot_coverage": coverage}, calls
