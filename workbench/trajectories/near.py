"""Vehicles near a place and time, and vehicles common to a series of incidents.

:func:`vehicles_near` lists the plates read by cameras within ``radius_m`` of
a point in a window around a time (Vigilant's stakeout, Flock's geo search),
ranked by how much they look like a vehicle that came for the event: seen
both before and after it (in and out), close in time, and *unfamiliar* at
those cameras (a commuter passes them every day; a visitor does not).
:func:`common_vehicles` runs the same look-up around each incident of a list
and keeps plates seen near at least ``min_incidents`` of them (series linking).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from workbench.errors import TrajectoryError
from workbench.trajectories import audit
from workbench.trajectories.search import _positions, haversine_m
from workbench.trajectories._dask import dask_aware

_US = 1_000_000
COLUMNS = ["plate", "n_reads", "first_at", "last_at", "camera_ids", "seen_before", "seen_after",
           "min_gap_s", "familiar_days", "score"]


def _prepare(reads, cameras):
    lon, lat = _positions(reads, cameras)
    t = np.asarray(pd.to_datetime(reads["read_at"], utc=True).dt.as_unit("us").array.asi8)
    order = np.argsort(t, kind="stable")
    return reads.iloc[order], t[order], lon[order], lat[order]


def _near_one(prepared, lon0, lat0, t0, radius_m, before_s, after_s):
    reads, t, lon, lat = prepared
    lo = np.searchsorted(t, t0 - before_s * _US, side="left")
    hi = np.searchsorted(t, t0 + after_s * _US, side="right")
    window = slice(lo, hi)
    d = haversine_m(lon[window], lat[window], lon0, lat0)
    inside = np.flatnonzero(np.nan_to_num(d, nan=np.inf) <= radius_m) + lo
    here = reads.iloc[inside]
    if not len(here):
        return pd.DataFrame(columns=COLUMNS)
    gap = (t[inside] - t0) / _US
    frame = pd.DataFrame({"plate": here["plate"].to_numpy(), "gap": gap, "at": here["read_at"].to_numpy(),
                          "camera_id": here["camera_id"].to_numpy() if "camera_id" in here else None})
    g = frame.groupby("plate", sort=False)
    out = g.agg(n_reads=("gap", "size"), first_at=("at", "min"), last_at=("at", "max"),
                seen_before=("gap", lambda s: bool((s <= 0).any())), seen_after=("gap", lambda s: bool((s > 0).any())),
                min_gap_s=("gap", lambda s: float(np.abs(s).min())))
    out["camera_ids"] = g["camera_id"].agg(lambda s: list(pd.unique(s.dropna())))
    # familiarity: other days the plate passed these cameras (or this area)
    cams = set(frame["camera_id"].dropna())
    plates = set(out.index)
    all_reads = reads
    if cams and "camera_id" in all_reads:
        mask = all_reads["camera_id"].isin(cams).to_numpy() & all_reads["plate"].isin(plates).to_numpy()
    else:
        mask = (np.nan_to_num(haversine_m(lon, lat, lon0, lat0), nan=np.inf) <= radius_m) & \
            all_reads["plate"].isin(plates).to_numpy()
    day = (t[mask] // (86_400 * _US))
    other = day != t0 // (86_400 * _US)
    fam = pd.Series(day[other]).groupby(all_reads["plate"].to_numpy()[mask][other]).nunique()
    out["familiar_days"] = fam.reindex(out.index).fillna(0).astype(int)
    window_s = max(before_s + after_s, 1.0)
    out["score"] = (1.0 * (out["seen_before"] & out["seen_after"]) + 1.0 / (1.0 + out["familiar_days"])
                    + 0.5 * (1.0 - out["min_gap_s"] / window_s))
    out = out.reset_index().sort_values(["score", "min_gap_s"], ascending=[False, True], ignore_index=True)
    return out[COLUMNS]


def _check_at(at):
    try:
        lon, lat, when = at
        ts = pd.Timestamp(when)
        return float(lon), float(lat), ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    except (TypeError, ValueError):
        raise TrajectoryError(f"at must be (lon, lat, time), got {at!r}") from None


@dask_aware("vehicles_near")
def vehicles_near(reads, cameras, at, radius_m=1500.0, before="15min", after="15min", *, user, reason,
                  case_number, role=None, audit_log=None, policy=None) -> pd.DataFrame:
    """Plates read near a place around a time, most likely involved first.

    Parameters
    ----------
    reads : pandas.DataFrame
        Canonical ``alpr_reads``.
    cameras : pandas.DataFrame, optional
        Camera positions for reads without their own lon/lat.
    at : (lon, lat, time)
        The place and time (an incident).
    radius_m : float
        Cameras (or mobile reads) within this distance.
    before, after : str
        Window around the time.
    user, reason, case_number, role, audit_log, policy
        The audit (see :func:`workbench.trajectories.search`).

    Returns
    -------
    pandas.DataFrame
        plate, n_reads, first_at, last_at, camera_ids, seen_before, seen_after,
        min_gap_s (closest read to the time), familiar_days (other days the plate
        passed the same cameras), score (in-and-out + unfamiliarity + closeness).

    Examples
    --------
    >>> vehicles_near(s.alpr_reads, s.cameras, at=(-83.0, 39.96, "2025-12-20 18:00Z"),
    ...               user="jdoe", role="investigator", reason="robbery", case_number="25-1")  # doctest: +SKIP
    """
    lon0, lat0, t0 = _check_at(at)
    parameters = {"at": [lon0, lat0, t0], "radius_m": radius_m, "before": before, "after": after}
    just = audit.authorize("vehicles_near", user, reason, case_number, parameters=parameters, role=role,
                           policy=policy, audit_log=audit_log)
    if not radius_m or radius_m <= 0:
        raise TrajectoryError(f"radius_m must be positive, got {radius_m!r}")
    before_s, after_s = pd.Timedelta(before).total_seconds(), pd.Timedelta(after).total_seconds()
    out = _near_one(_prepare(reads, cameras), lon0, lat0, t0.value // 1000, radius_m, before_s, after_s)
    audit.record(just, "vehicles_near", parameters=parameters, result_count=len(out), audit_log=audit_log)
    return out


def common_vehicles(reads, incidents, cameras=None, radius_m=1500.0, before="15min", after="15min",
                    min_incidents=2, *, user, reason, case_number, role=None, audit_log=None,
                    policy=None) -> pd.DataFrame:
    """Plates seen near at least ``min_incidents`` of a list of incidents (series linking).

    Parameters
    ----------
    incidents : pandas.DataFrame
        incident_id, occurred_at, lon, lat.
    min_incidents : int
        Fewest incidents a plate must be near.
    Other parameters as for :func:`vehicles_near`.

    Returns
    -------
    pandas.DataFrame
        plate, n_incidents, incident_ids, n_reads, familiar_days (most over the incidents), most first.

    Examples
    --------
    >>> common_vehicles(s.alpr_reads, series, s.cameras, user="jdoe", role="investigator",
    ...                 reason="burglary series", case_number="25-1")    # doctest: +SKIP
    """
    need = [c for c in ("incident_id", "occurred_at", "lon", "lat") if c not in incidents]
    if need:
        raise TrajectoryError(f"incidents lack column(s) {', '.join(need)}")
    if not isinstance(min_incidents, (int, np.integer)) or min_incidents < 1:
        raise TrajectoryError(f"min_incidents must be a whole number >= 1, got {min_incidents!r}")
    parameters = {"incident_ids": list(map(str, incidents["incident_id"])), "radius_m": radius_m,
                  "before": before, "after": after, "min_incidents": min_incidents}
    just = audit.authorize("vehicles_near", user, reason, case_number, parameters=parameters, role=role,
                           policy=policy, audit_log=audit_log)
    prepared = _prepare(reads, cameras)
    before_s, after_s = pd.Timedelta(before).total_seconds(), pd.Timedelta(after).total_seconds()
    parts = []
    for row in incidents.itertuples(index=False):  # one look-up per incident of the series
        when = pd.Timestamp(row.occurred_at)
        when = when.tz_localize("UTC") if when.tzinfo is None else when
        near = _near_one(prepared, row.lon, row.lat, when.value // 1000, radius_m, before_s, after_s)
        parts.append(near.assign(incident_id=row.incident_id))
    cols = ["plate", "n_incidents", "incident_ids", "n_reads", "familiar_days"]
    if not parts or not sum(len(p) for p in parts):
        out = pd.DataFrame(columns=cols)
    else:
        allnear = pd.concat([p for p in parts if len(p)], ignore_index=True)
        out = allnear.groupby("plate").agg(n_incidents=("incident_id", "nunique"),
                                           incident_ids=("incident_id", lambda s: sorted(set(s))),
                                           n_reads=("n_reads", "sum"), familiar_days=("familiar_days", "max"))
        out = out[out["n_incidents"] >= min_incidents].reset_index()
        out = out.sort_values(["n_incidents", "familiar_days"], ascending=[False, True], ignore_index=True)[cols]
    audit.record(just, "vehicles_near", parameters=parameters, result_count=len(out), audit_log=audit_log)
    return out
