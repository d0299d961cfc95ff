"""Crime incidents of the synthetic city, with their planted truths.

Incidents come from three sources, recorded per incident in
``truth["incident_sources"]``:

``background``
    Each offence's annual volume spread over the streets (residential,
    commercial and deprivation weights per offence) with its hour-of-day,
    day-of-week and seasonal profile (:mod:`workbench.sample.offenses`).
``hotspot``
    Planted hot spots (``truth["hotspots"]``): events around a centre, a 2-D
    Gaussian with ``sigma_m = radius_m / 2`` (so ~86% fall within ``radius_m``),
    whose daily rate follows the hot spot's kind: ``persistent`` (constant over
    the period), ``emerging`` (absent before ``start``, then intensifying to
    the end), ``fading`` (strong at first, gone by ``end``) and ``oscillating``
    (a sine wave with ``period_days``).
``near_repeat``
    Burglary contagion, a branching process: every burglary triggers a
    Poisson number (mean ``near_repeat_ratio``) of further burglaries within
    ``NEAR_REPEAT_MAX_M`` metres and ``NEAR_REPEAT_MAX_DAYS`` days, so about
    that share of all burglaries is triggered. ``truth["near_repeat"]`` lists
    each triggered burglary with its parent.

After a district's RTCC launch, background and hot-spot incidents of the
offence groups in ``CRIME_REDUCTION`` are thinned by that share (the planted
"crime" effect in ``truth["effects"]``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from workbench.sample import places
from workbench.sample.offenses import DESCRIPTIONS, OFFENSES

NEAR_REPEAT_RATIO = 0.2
NEAR_REPEAT_MAX_M = 200.0
NEAR_REPEAT_SCALE_M = 70.0
NEAR_REPEAT_MAX_DAYS = 14.0
NEAR_REPEAT_MEAN_DAYS = 3.5

#: Share of incidents the RTCC's launch prevents in a district, by effect group.
CRIME_REDUCTION = {"violent": 0.10, "property": 0.12, "sexual_assault": 0.0,
                   "domestic_violence": 0.0, "other": 0.0}

#: Hot spot recipes: kind, category, profile; peak events/day at scale 1.
HOTSPOT_PLAN = [
    ("persistent", "violent", 0.9), ("persistent", "violent", 0.7),
    ("persistent", "property", 1.1), ("persistent", "other", 0.8),
    ("emerging", "violent", 1.2), ("emerging", "property", 1.4),
    ("fading", "property", 1.2), ("fading", "other", 1.0),
    ("oscillating", "violent", 1.2), ("oscillating", "property", 1.4),
]

HOTSPOT_MIX = {
    "violent": {"aggravated_assault": 0.57, "robbery": 0.40, "homicide": 0.03},
    "property": {"larceny": 0.45, "theft_from_vehicle": 0.30, "motor_vehicle_theft": 0.15,
                 "burglary": 0.10},
    "other": {"drug_violation": 0.55, "vandalism": 0.35, "weapons_violation": 0.10},
}

FIREARM_SHARE = {"homicide": 0.75, "aggravated_assault": 0.35, "robbery": 0.40}
#: Of firearm homicides and aggravated assaults, the share where shots were fired.
SHOTS_FIRED_SHARE = {"homicide": 1.0, "aggravated_assault": 0.6}


def plant_hotspots(city, streets, dates, tz, rng, scale=1.0) -> pd.DataFrame:
    """Choose hot spot centres, radii and time profiles (the truth table, before counting events)."""
    days = len(dates)
    start_utc = places.local_to_utc(pd.DatetimeIndex([dates[0]]), tz).iloc[0]
    end_utc = places.local_to_utc(pd.DatetimeIndex([dates[-1] + pd.Timedelta(days=1)]), tz).iloc[0]
    xmin, ymin, xmax, ymax = streets.bounds
    rows, centres = [], []
    cat_weights = {
        "violent": streets.weights(0.8, 0.5, 2.5),
        "property": streets.weights(0.2, 1.0, 0.3),
        "other": streets.weights(0.6, 0.4, 2.0),
    }
    for k, (kind, category, peak) in enumerate(HOTSPOT_PLAN):  # ten hot spots
        for _ in range(200):
            x, y, _ = places.on_streets(streets, cat_weights[category], 1, rng, offset_m=(0, 1))
            x, y = float(x[0]), float(y[0])
            far = all(np.hypot(x - cx, y - cy) > 1500 for cx, cy in centres)
            if far and xmin + 700 < x < xmax - 700 and ymin + 700 < y < ymax - 700:
                break
        centres.append((x, y))
        radius = float(np.round(rng.uniform(150, 350), -1))
        first, last = start_utc, end_utc
        period = np.nan
        if kind == "emerging":
            first = places.local_to_utc(pd.DatetimeIndex([dates[int(0.4 * days)]]), tz).iloc[0]
        elif kind == "fading":
            last = places.local_to_utc(pd.DatetimeIndex([dates[int(0.6 * days)]]), tz).iloc[0]
        elif kind == "oscillating":
            period = float(rng.choice([42, 56, 70]))
        rows.append(dict(hotspot_id=f"H{k + 1:02d}", kind=kind, x=x, y=y, radius_m=radius,
                         sigma_m=radius / 2, offense_category=category,
                         offenses=",".join(HOTSPOT_MIX[category]), start=first, end=last,
                         peak_per_day=peak * scale, period_days=period,
                         phase=float(rng.uniform(0, 2 * np.pi))))
    hs = pd.DataFrame(rows)
    hs["lon"], hs["lat"] = city.to_lonlat(hs["x"], hs["y"])
    return hs


def hotspot_rates(hotspots: pd.DataFrame, days: int) -> np.ndarray:
    """Expected events per day of each hot spot (rows) on each day of the period (columns)."""
    d = np.arange(days, dtype=float)
    out = np.zeros((len(hotspots), days))
    for k, h in enumerate(hotspots.itertuples()):
        if h.kind == "persistent":
            out[k] = h.peak_per_day
        elif h.kind == "emerging":
            s = int(0.4 * days)
            ramp = (d - s) / max(days - s, 1)
            out[k] = np.where(d >= s, h.peak_per_day * (0.3 + 0.7 * ramp), 0.0)
        elif h.kind == "fading":
            e = int(0.6 * days)
            out[k] = np.where(d < e, h.peak_per_day * (1 - d / e), 0.0)
        else:
            out[k] = h.peak_per_day * (0.5 + 0.5 * np.sin(2 * np.pi * d / h.period_days + h.phase))
    return out


def _hotspot_events(hotspots, dates, rng):
    counts = rng.poisson(hotspot_rates(hotspots, len(dates)))
    hs_idx, day_idx = np.nonzero(counts)
    reps = counts[hs_idx, day_idx]
    hs_idx, day_idx = np.repeat(hs_idx, reps), np.repeat(day_idx, reps)
    offense = np.empty(hs_idx.size, dtype=object)
    for k, h in enumerate(hotspots.itertuples()):
        m = hs_idx == k
        mix = HOTSPOT_MIX[h.offense_category]
        offense[m] = rng.choice(list(mix), size=m.sum(), p=list(mix.values()))
    sigma = hotspots["sigma_m"].to_numpy()[hs_idx]
    x = hotspots["x"].to_numpy()[hs_idx] + rng.normal(0, 1, hs_idx.size) * sigma
    y = hotspots["y"].to_numpy()[hs_idx] + rng.normal(0, 1, hs_idx.size) * sigma
    return pd.DataFrame({"x": x, "y": y, "day": day_idx, "offense": offense, "source": "hotspot",
                         "hotspot_id": hotspots["hotspot_id"].to_numpy()[hs_idx],
                         "fx": hotspots["x"].to_numpy()[hs_idx],
                         "fy": hotspots["y"].to_numpy()[hs_idx]})


def _background_events(streets, dates, rng, scale, near_repeat_ratio):
    frames = []
    for row in OFFENSES.itertuples():  # a dozen offence types
        expected = row.annual_count * len(dates) / 365.0 * scale
        if row.offense == "burglary":
            expected *= 1 - near_repeat_ratio  # immigrants; triggered ones make up the rest
        n = rng.poisson(expected)
        w = streets.weights(row.pop_weight, row.job_weight, row.deprivation_power)
        x, y, seg = places.on_streets(streets, w, n, rng)
        frames.append(pd.DataFrame({
            "x": x, "y": y, "day": places.draw_days(row.offense, n, dates, rng),
            "offense": row.offense, "source": "background", "hotspot_id": None,
            "fx": (streets.ux[seg] + streets.vx[seg]) / 2,
            "fy": (streets.uy[seg] + streets.vy[seg]) / 2}))
    return pd.concat(frames, ignore_index=True)


def _thin_after_launch(events, rollout, rng):
    """Drop the share of incidents the RTCC prevents, after each district's launch."""
    launch = rollout.set_index("district")["rtcc_start"]
    start = events["district"].map(launch)
    after = start.notna().to_numpy() & (events["occurred_at"] >= start).fillna(False).to_numpy()
    group = events["offense"].map(OFFENSES["effect_group"]).to_numpy()
    p_drop = pd.Series(group).map(CRIME_REDUCTION).to_numpy(dtype=float)
    keep = ~(after & (rng.random(len(events)) < p_drop))
    return events[keep].reset_index(drop=True), events[~keep].reset_index(drop=True)


def _truncated(rng, n, scale, limit, kind):
    """Inverse-CDF draws from an exponential (kind="exp") or Rayleigh truncated at ``limit``."""
    u = rng.random(n)
    if kind == "exp":
        return -scale * np.log(1 - u * (1 - np.exp(-limit / scale)))
    return scale * np.sqrt(-2 * np.log(1 - u * (1 - np.exp(-limit ** 2 / (2 * scale ** 2)))))


def _near_repeats(parents, streets, river, end_utc, tz, rng, ratio, next_key):
    """Burglaries triggered by burglaries, generation by generation (keys from ``next_key``)."""
    out = []
    gen = parents.reset_index(drop=True)
    hours = _burglary_hours()
    while len(gen):
        idx = np.repeat(np.arange(len(gen)), rng.poisson(ratio, len(gen)))
        if idx.size == 0:
            break
        p = gen.iloc[idx].reset_index(drop=True)
        lag = _truncated(rng, idx.size, NEAR_REPEAT_MEAN_DAYS, NEAR_REPEAT_MAX_DAYS, "exp")
        r = _truncated(rng, idx.size, NEAR_REPEAT_SCALE_M, NEAR_REPEAT_MAX_M, "rayleigh")
        theta = rng.uniform(0, 2 * np.pi, idx.size)
        px, py = p["x"].to_numpy(), p["y"].to_numpy()
        x, y = places.inside(streets, px + r * np.cos(theta), py + r * np.sin(theta), px, py, river)
        t = p["occurred_at"] + pd.to_timedelta(np.round(lag * 86400e6), unit="us")
        # After the first day the time of day follows the burglary profile again.
        local = pd.DatetimeIndex(t.dt.tz_convert(tz).dt.tz_localize(None))
        hour = rng.choice(24, size=idx.size, p=hours)
        redrawn = local.normalize() + pd.to_timedelta(
            hour * 3600 + rng.integers(0, 3600, idx.size), unit="s")
        occurred = places.local_to_utc(pd.DatetimeIndex(np.where(lag >= 1, redrawn, local)), tz)
        # Keep the redrawn time only where it stays after the parent and within the window.
        gap = occurred - p["occurred_at"]
        ok = (gap > pd.Timedelta(0)) & (gap <= pd.Timedelta(days=NEAR_REPEAT_MAX_DAYS))
        occurred = occurred.where(ok, t.dt.floor("s"))
        child = pd.DataFrame({"x": x, "y": y, "offense": "burglary", "source": "near_repeat",
                              "hotspot_id": None, "occurred_at": occurred,
                              "parent_key": p["key"].to_numpy(), "fx": px, "fy": py})
        child = child[child["occurred_at"] < end_utc].reset_index(drop=True)
        child["key"] = next_key + np.arange(len(child))
        next_key += len(child)
        out.append(child)
        gen = child
    return pd.concat(out, ignore_index=True) if out else None


def _burglary_hours():
    from workbench.sample.offenses import hour_profile

    row = OFFENSES.loc["burglary"]
    return hour_profile(row["hour_base"], row["hour_peaks"])


def generate_incidents(city, rollout, *, start, days, tz, seed, scale=1.0,
                       near_repeat_ratio=NEAR_REPEAT_RATIO):
    """Generate the incidents table and its truth.

    Parameters
    ----------
    city : City
    rollout : DataFrame
        ``district``, ``rtcc_start`` (UTC, NaT for never treated), from
        :func:`workbench.sample.cases.plan_rollout`.
    start : str or Timestamp
        First local date of the period.
    days : int
    tz : str
    seed : int
    scale : float
        Multiplies every volume.
    near_repeat_ratio : float
        Mean number of burglaries each burglary triggers (the expected triggered share).

    Returns
    -------
    incidents : DataFrame
        Canonical incidents plus working columns ``x``, ``y`` (metres) and
        ``firearm``, ``shooting`` (bool), dropped by the scenario.
    truth : dict of DataFrame
        ``hotspots``, ``near_repeat``, ``incident_sources`` and ``prevented`` (the
        incidents the RTCC's launch prevented: observed + prevented is the
        counterfactual without the RTCC).
    """
    rng = np.random.default_rng([seed, 202])
    dates = places.period_dates(start, days)
    end_utc = places.local_to_utc(pd.DatetimeIndex([dates[-1] + pd.Timedelta(days=1)]), tz).iloc[0]
    streets = places.streets(city)
    river = places.river_line(city)

    hotspots = plant_hotspots(city, streets, dates, tz, rng, scale)
    events = pd.concat([_background_events(streets, dates, rng, scale, near_repeat_ratio),
                        _hotspot_events(hotspots, dates, rng)], ignore_index=True)
    events["x"], events["y"] = places.inside(streets, events["x"].to_numpy(), events["y"].to_numpy(),
                                             events["fx"].to_numpy(), events["fy"].to_numpy(), river)
    events["occurred_at"] = places.draw_times(events["day"], events["offense"], dates, tz, rng)
    events["district"], _ = places.locate(city, events["x"], events["y"])
    events, prevented = _thin_after_launch(events.drop(columns="day"), rollout, rng)

    events["key"] = np.arange(len(events))
    burglaries = events[events["offense"] == "burglary"]
    children = _near_repeats(burglaries, streets, river, end_utc, tz, rng, near_repeat_ratio,
                             next_key=len(events))
    if children is not None:
        events = pd.concat([events, children], ignore_index=True)

    events = events.sort_values(["occurred_at", "key"], kind="stable").reset_index(drop=True)
    n = len(events)
    events["incident_id"] = [f"INC{k:07d}" for k in range(1, n + 1)]
    key_to_id = pd.Series(events["incident_id"].to_numpy(), index=events["key"].to_numpy())

    off = events["offense"].to_numpy(dtype=object)
    rows = OFFENSES.loc[off]
    delay_h = rng.exponential(1.0, n) * rows["report_delay_h"].to_numpy()
    occurred = events["occurred_at"]
    reported = occurred + pd.to_timedelta(np.round(delay_h * 3600e6), unit="us")
    district, beat = places.locate(city, events["x"], events["y"])
    firearm = rng.random(n) < pd.Series(off).map(FIREARM_SHARE).fillna(0).to_numpy()
    shooting = firearm & (rng.random(n) < pd.Series(off).map(SHOTS_FIRED_SHARE).fillna(0).to_numpy())
    domestic = (off == "domestic_assault") | (np.isin(off, ["homicide", "sexual_assault"])
                                              & (rng.random(n) < 0.2))
    descr = pd.Series(off).map(DESCRIPTIONS).to_numpy(dtype=object)
    descr = np.where(firearm, descr + " - firearm", descr)
    lon, lat = city.to_lonlat(events["x"], events["y"])
    local_year = occurred.dt.tz_convert(tz).dt.year.to_numpy()
    seq_in_year = pd.Series(np.ones(n)).groupby(local_year).cumsum().to_numpy().astype(int)
    case_number = [f"{y % 100:02d}-{s:06d}" for y, s in zip(local_year, seq_in_year)]

    incidents = pd.DataFrame({
        "incident_id": events["incident_id"],
        "occurred_at": occurred,
        "offense": off,
        "lon": lon, "lat": lat,
        "reported_at": reported,
        "offense_category": rows["offense_category"].to_numpy(),
        "offense_description": descr,
        "domestic": domestic,
        "arrest": False,
        "case_number": case_number,
        "nibrs_code": rows["nibrs_code"].to_numpy(),
        "district": district, "beat": beat,
        "address": places.addresses(streets, events["x"].to_numpy(), events["y"].to_numpy()),
        "updated_at": reported,
        "x": events["x"].to_numpy(), "y": events["y"].to_numpy(),
        "firearm": firearm, "shooting": shooting,
    })

    nr = events[events["source"] == "near_repeat"]
    near_repeat = pd.DataFrame({
        "incident_id": nr["incident_id"].to_numpy(),
        "parent_incident_id": key_to_id.reindex(nr["parent_key"].to_numpy()).to_numpy(),
    })
    parent_rows = incidents.set_index("incident_id").loc[near_repeat["parent_incident_id"]]
    child_rows = incidents.set_index("incident_id").loc[near_repeat["incident_id"]]
    near_repeat["distance_m"] = np.hypot(child_rows["x"].to_numpy() - parent_rows["x"].to_numpy(),
                                         child_rows["y"].to_numpy() - parent_rows["y"].to_numpy())
    near_repeat["lag_days"] = ((child_rows["occurred_at"].to_numpy()
                                - parent_rows["occurred_at"].to_numpy())
                               / np.timedelta64(1, "D")).astype(float)

    sources = pd.DataFrame({"incident_id": events["incident_id"], "source": events["source"],
                            "hotspot_id": events["hotspot_id"], "offense": off,
                            "firearm": firearm, "shooting": shooting})
    counts = sources.groupby("hotspot_id").size()
    hotspots["n_events"] = hotspots["hotspot_id"].map(counts).fillna(0).astype(np.int64)
    hotspots = hotspots[["hotspot_id", "kind", "lon", "lat", "radius_m", "offense_category",
                         "start", "end", "offenses", "sigma_m", "peak_per_day", "period_days",
                         "phase", "n_events", "x", "y"]]
    p_lon, p_lat = city.to_lonlat(prevented["x"], prevented["y"])
    prevented = pd.DataFrame({
        "offense": prevented["offense"].to_numpy(dtype=object),
        "offense_category": OFFENSES.loc[prevented["offense"], "offense_category"].to_numpy(),
        "effect_group": OFFENSES.loc[prevented["offense"], "effect_group"].to_numpy(),
        "district": prevented["district"].to_numpy(dtype=object),
        "occurred_at": prevented["occurred_at"].dt.floor("s"), "lon": p_lon, "lat": p_lat,
        "source": prevented["source"].to_numpy(dtype=object),
        "hotspot_id": prevented["hotspot_id"].to_numpy(dtype=object)})
    truth = {"hotspots": hotspots, "near_repeat": near_repeat, "incident_sources": sources,
             "prevented": prevented}
    return incidents, truth
