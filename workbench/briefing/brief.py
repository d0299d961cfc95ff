"""Call briefing: what units should know before they arrive at a call for service.

For one CAD call (or any point and time) :func:`brief` looks up the premise
history (prior calls and incidents at the address or within a few metres, by
type, over several look-backs, most serious first), violent incidents and
gunshot alerts nearby, whether the place sits in a current hot spot, the
cameras to pull up, and for a vehicle call the plate readers on the routes out
and any hotlist hits nearby in the last hour. Each is a store query in a time
window and a box, trimmed to a true radius here, or a look-up in a
:class:`~workbench.briefing.BriefingContext` built once.

The hotlist check is a search of stored reads, so it runs through
:func:`workbench.trajectories.hits` and is audited under the user and reason
the caller gives (the RTCC's own service: ``user="rtcc-system"``,
``role="system"``); the search policy lets a hotlist check run without a case
number. If the check is refused, the briefing says so instead of failing.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from pyproj import Geod

from workbench.briefing.context import BriefingContext, _utc
from workbench.briefing.result import Briefing
from workbench.briefing.summary import summarize
from workbench.errors import AuditError, BriefingError, PermissionDenied

_GEOD = Geod(ellps="WGS84")

#: Seriousness of incident offences and CAD call types, 1 most serious (unknown types: 9).
SEVERITY = {
    "homicide": 1, "shooting_or_stabbing": 1, "shots_fired": 2, "sexual_assault": 2, "robbery": 3,
    "aggravated_assault": 3, "assault": 3, "weapons_violation": 4, "weapons": 4, "domestic_assault": 4,
    "domestic_disturbance": 4, "burglary": 5, "motor_vehicle_theft": 6, "stolen_vehicle": 6, "mental_health": 6,
    "drug_violation": 7, "narcotics": 7, "larceny": 7, "theft": 7, "theft_from_vehicle": 7, "disturbance": 7,
    "suspicious_person": 7, "vandalism": 8, "trespass": 8, "suspicious_vehicle": 8, "alarm": 9,
    "welfare_check": 9, "traffic_accident": 9, "traffic_hazard": 10, "noise_complaint": 10,
}
#: Offences counted as violent when an incident has no ``offense_category``.
VIOLENT = frozenset({"homicide", "sexual_assault", "robbery", "aggravated_assault", "domestic_assault"})
_CALL_FIELDS = ("call_id", "call_type", "priority", "received_at", "address", "lon", "lat", "vehicle_involved",
                "incident_id")


def distance_m(lon0, lat0, lon, lat) -> np.ndarray:
    """Distance in metres on the WGS84 ellipsoid from one point to many (missing stays missing).

    Examples
    --------
    >>> round(float(distance_m(-83.0, 39.96, [-83.0], [39.961])[0]))
    111
    """
    lon = np.asarray(lon, float)
    lat = np.asarray(lat, float)
    if lon.size == 0:
        return np.zeros(0)
    ok = np.isfinite(lon) & np.isfinite(lat)
    out = np.full(lon.shape, np.nan)
    if ok.any():
        n = int(ok.sum())
        out[ok] = _GEOD.inv(np.full(n, float(lon0)), np.full(n, float(lat0)), lon[ok], lat[ok])[2]
    return out


def _box(lon, lat, radius_m):
    """(min_lon, min_lat, max_lon, max_lat) holding the circle (a little larger)."""
    dlat = 1.02 * radius_m / 110_570.0  # the shortest degree of latitude; 2 % to spare
    dlon = 1.02 * radius_m / (111_320.0 * max(np.cos(np.radians(abs(lat) + dlat)), 1e-6))
    return lon - dlon, lat - dlat, lon + dlon, lat + dlat


def _value(v):
    return None if v is None or (not isinstance(v, str) and pd.isna(v)) else v


def check_call(call, at=None) -> dict:
    """The call's fields as a dict, checked: a time is required, coordinates and address may be missing.

    Parameters
    ----------
    call : dict, pandas.Series, one-row DataFrame, or (lon, lat)
        A CAD call (canonical ``calls`` columns) or a bare point.
    at : str or Timestamp, optional
        The time (required for a bare point; overrides ``received_at``).

    Returns
    -------
    dict
        ``call_id``, ``call_type``, ``priority``, ``received_at`` (UTC), ``address``,
        ``lon``, ``lat``, ``vehicle_involved``, ``incident_id`` (None where missing).

    Examples
    --------
    >>> check_call((-83.0, 39.96), at="2025-06-01T12:00Z")["received_at"]
    Timestamp('2025-06-01 12:00:00+0000', tz='UTC')
    """
    if isinstance(call, pd.DataFrame):
        if len(call) != 1:
            raise BriefingError(f"brief one call at a time: got a table of {len(call)} rows")
        call = call.iloc[0]
    if isinstance(call, (tuple, list)) and len(call) == 2:
        call = {"lon": call[0], "lat": call[1]}
    if isinstance(call, pd.Series):
        call = call.to_dict()
    if not isinstance(call, dict):
        raise BriefingError(f"call must be a CAD call (dict, Series or one-row table) or (lon, lat); "
                            f"got {type(call).__name__}")
    out = {name: _value(call.get(name)) for name in _CALL_FIELDS}
    when = at if at is not None else out["received_at"]
    if when is None:
        raise BriefingError("a briefing needs a time: the call has no received_at and no at= was given")
    try:
        out["received_at"] = _utc(when)
    except (ValueError, TypeError):
        raise BriefingError(f"call time {when!r} is not a timestamp") from None
    for name in ("lon", "lat"):
        try:
            out[name] = None if out[name] is None else float(out[name])
        except (TypeError, ValueError):
            raise BriefingError(f"call {name} {out[name]!r} is not a number") from None
    if out["lon"] is not None and out["lat"] is not None:
        if not (-180 <= out["lon"] <= 180 and -90 <= out["lat"] <= 90) or (out["lon"] == 0 and out["lat"] == 0):
            out["lon"] = out["lat"] = None  # out of range or a geocoding failure: treated as missing
    else:
        out["lon"] = out["lat"] = None
    if out["address"] is not None and not str(out["address"]).strip():
        out["address"] = None
    return out


def brief(call, store, context: BriefingContext | None = None, *, at=None, user=None, reason=None, role=None,
          case_number=None, lookbacks_days=(30, 365), premise_radius_m: float = 50.0,
          nearby_radius_m: float = 400.0, nearby_days: float = 30, camera_radius_m: float = 300.0,
          escape_minutes: float = 5.0, speed_factor: float = 1.2, hit_radius_m: float = 1500.0,
          hit_window: str = "1h", vehicle: bool | None = None, tz: str = "UTC", audit_log=None) -> Briefing:
    """Brief units on one call: premise history, violence nearby, hot spot, cameras, escape routes.

    Parameters
    ----------
    call : dict, pandas.Series, one-row DataFrame, or (lon, lat)
        A CAD call (see :func:`check_call`); a bare point needs ``at``.
    store : workbench.data.Store
        Holds the calls, incidents, gunshot alerts and reads (and cameras).
    context : BriefingContext, optional
        Built once (:meth:`BriefingContext.fit`); without it one is fitted from
        the store at the call's time (slow, and with no roads or hotlist).
    at : str or Timestamp, optional
        The moment briefed (default: the call's ``received_at``).
    user, reason, role, case_number : str, optional
        Who asks for the audited hotlist check and why (e.g. ``user="rtcc-system",
        role="system", reason="call briefing"``). Without them the check is refused,
        recorded as refused, and the briefing says it was not made.
    lookbacks_days : tuple of float
        Premise history look-backs (counted separately), days.
    premise_radius_m : float
        "The same place": the same address, or within this distance.
    nearby_radius_m, nearby_days : float
        Violent incidents and gunshot alerts this close, this recent.
    camera_radius_m : float
        Cameras this close are listed.
    escape_minutes, speed_factor : float
        Plate readers a vehicle leaving the call reaches within ``escape_minutes``
        at posted speeds times ``speed_factor``.
    hit_radius_m : float, hit_window : str
        Hotlist hits from reads this close, this recent.
    vehicle : bool, optional
        Treat as a vehicle call (default: the call's ``vehicle_involved``).
    tz : str
        Agency time zone, for display.
    audit_log : workbench.governance.audit.AuditLog, optional

    Returns
    -------
    Briefing

    Examples
    --------
    >>> s = workbench.load_sample()                                           # doctest: +SKIP
    >>> b = brief(s.calls.iloc[-1], store, ctx, user="rtcc-system", role="system",
    ...           reason="call briefing")                                     # doctest: +SKIP
    >>> print(b.summary)                                                      # doctest: +SKIP
    """
    info = check_call(call, at)
    t = info["received_at"]
    lookbacks = tuple(sorted(float(d) for d in lookbacks_days))
    if not lookbacks or lookbacks[0] <= 0:
        raise BriefingError(f"lookbacks_days must be positive numbers of days, got {lookbacks_days!r}")
    for name, value in (("premise_radius_m", premise_radius_m), ("nearby_radius_m", nearby_radius_m),
                        ("camera_radius_m", camera_radius_m), ("hit_radius_m", hit_radius_m),
                        ("escape_minutes", escape_minutes), ("nearby_days", nearby_days)):
        if value is None or not value > 0:
            raise BriefingError(f"{name} must be positive, got {value!r}")
    if context is None:
        context = BriefingContext().fit(store, as_of=t)
    located = info["lon"] is not None
    lon, lat, address = info["lon"], info["lat"], info["address"]
    timer = _Timer()
    missing = []
    settings = {"lookbacks_days": list(lookbacks), "premise_radius_m": premise_radius_m,
                "nearby_radius_m": nearby_radius_m, "nearby_days": nearby_days,
                "camera_radius_m": camera_radius_m, "escape_minutes": escape_minutes,
                "hit_radius_m": hit_radius_m, "hit_window": hit_window}

    # Premise history and violence nearby: one query per table, trimmed to true distances here.
    span = pd.Timedelta(days=max(lookbacks[-1], nearby_days))
    calls = _near(store, "calls", t - pd.Timedelta(days=lookbacks[-1]), t, lon, lat, premise_radius_m, address,
                  ["call_id", "received_at", "call_type", "address", "lon", "lat"], timer,
                  exclude=("call_id", info["call_id"]))
    incidents = _near(store, "incidents", t - span, t, lon, lat, max(premise_radius_m, nearby_radius_m), address,
                      ["incident_id", "occurred_at", "offense", "offense_category", "offense_description",
                       "address", "lon", "lat"], timer, exclude=("incident_id", info["incident_id"]))
    premise = _premise(calls, incidents, t, lookbacks, premise_radius_m)
    counts = _premise_counts(premise, t, lookbacks)
    if not located:
        what = "the call has no coordinates"
        missing.append(f"Violent incidents, gunshot alerts, hot spot, cameras, plate readers and hotlist hits "
                       f"nearby: {what}" + (", so premise history is by address only" if address else ""))
        if address is None:
            missing.insert(0, "Premise history: the call has neither coordinates nor an address")
        violent = _violent(incidents.iloc[:0], t, nearby_days, nearby_radius_m)
        gunshots = pd.DataFrame(columns=["alert_id", "detected_at", "rounds", "confidence", "distance_m"])
        hotspot, cameras, escape, hotlist_hits = None, _cameras(context, None, None, t, camera_radius_m), None, None
    else:
        violent = _violent(incidents, t, nearby_days, nearby_radius_m)
        gunshots = _gunshots(store, t, lon, lat, nearby_days, nearby_radius_m, timer)
        hotspot = context.hotspot_at(lon, lat)
        cameras = _cameras(context, lon, lat, t, camera_radius_m)
        escape = hotlist_hits = None
        is_vehicle = bool(info["vehicle_involved"]) if vehicle is None else bool(vehicle)
        if is_vehicle:
            if getattr(context, "network_", None) is None:
                missing.append("Plate readers on the routes out: no road network in the briefing context")
            else:
                escape = escape_cameras(context, lon, lat, escape_minutes, speed_factor)
            if context.hotlist_ is None:
                missing.append("Hotlist hits nearby: no hotlist in the briefing context")
            else:
                hotlist_hits = _hotlist_hits(store, context, t, lon, lat, hit_radius_m, hit_window, timer, missing,
                                             user=user, reason=reason, role=role, case_number=case_number,
                                             audit_log=audit_log)
    result = Briefing(call=info, at=t, summary="", premise=premise, premise_counts=counts, violent_nearby=violent,
                      gunshots_nearby=gunshots, hotspot=hotspot, cameras=cameras, escape_cameras=escape,
                      hotlist_hits=hotlist_hits, not_looked_up=missing, settings=settings,
                      query_ms=timer.ms, tz=tz)
    result.summary = summarize(result)
    return result


class _Timer:
    """Wall time of each store query, for the benchmark beside the briefing's total."""

    def __init__(self):
        self.ms = {}

    def query(self, name, store, *args, **kwargs):
        started = time.perf_counter()
        frame = store.query(*args, **kwargs)
        self.ms[name] = (time.perf_counter() - started) * 1000
        return frame


def _near(store, table, start, end, lon, lat, radius_m, address, columns, timer, exclude=None):
    """Rows at ``address`` or within ``radius_m`` (box in SQL, true distance here), with ``distance_m``."""
    conds, params = [], []
    if address is not None:
        conds.append("address = ?")
        params.append(address)
    if lon is not None:
        box = _box(lon, lat, radius_m)
        conds.append("(lon BETWEEN ? AND ? AND lat BETWEEN ? AND ?)")
        params += [box[0], box[2], box[1], box[3]]
    if not conds:
        frame = store.query(table, limit=0, columns=columns)
        return frame.assign(distance_m=pd.Series(dtype=float), same_address=pd.Series(dtype=bool))
    where = "(" + " OR ".join(conds) + ")"
    if exclude is not None and exclude[1] is not None:
        where += f" AND {exclude[0]} <> ?"
        params.append(str(exclude[1]))
    frame = timer.query(table, store, table, start=start, end=end, where=where, params=params, columns=columns)
    same = frame["address"].eq(address).fillna(False).to_numpy(bool) if address is not None \
        else np.zeros(len(frame), bool)
    dist = distance_m(lon, lat, frame["lon"], frame["lat"]) if lon is not None else np.full(len(frame), np.nan)
    return frame.assign(distance_m=dist, same_address=same)


def _severity(types) -> np.ndarray:
    return pd.Series(types, dtype=object).map(SEVERITY).fillna(9).astype(int).to_numpy()


def _premise(calls, incidents, t, lookbacks, radius_m) -> pd.DataFrame:
    start = t - pd.Timedelta(days=lookbacks[-1])
    parts = []
    for source, frame, key, when, kind in (("call", calls, "call_id", "received_at", "call_type"),
                                           ("incident", incidents, "incident_id", "occurred_at", "offense")):
        at_place = frame["same_address"].to_numpy(bool) | (frame["distance_m"].to_numpy(float) <= radius_m)
        rows = frame[at_place & (frame[when] >= start).to_numpy(bool)]
        firearm = rows["offense_description"].astype("str").str.endswith("firearm").fillna(False) \
            if "offense_description" in rows else pd.Series(False, index=rows.index)
        parts.append(pd.DataFrame({"source": source, "id": rows[key].astype(str).to_numpy(),
                                   "at": rows[when].to_numpy(), "type": rows[kind].astype(str).to_numpy(),
                                   "severity": _severity(rows[kind]), "firearm": firearm.to_numpy(bool),
                                   "address": rows["address"].to_numpy(object),
                                   "distance_m": rows["distance_m"].to_numpy(float),
                                   "same_address": rows["same_address"].to_numpy(bool)}))
    out = pd.concat(parts, ignore_index=True)
    out["at"] = pd.to_datetime(out["at"], utc=True)
    return out.sort_values(["severity", "firearm", "at"], ascending=[True, False, False],
                           ignore_index=True, kind="stable")


def _premise_counts(premise, t, lookbacks) -> pd.DataFrame:
    cols = {}
    for days in lookbacks:
        label = f"last_{days:g}d"
        cols[label] = (premise["at"] >= t - pd.Timedelta(days=days)).astype(int)
    frame = premise[["source", "type", "severity"]].assign(**cols)
    counts = frame.groupby(["source", "type", "severity"], as_index=False)[list(cols)].sum()
    return counts.sort_values(["severity", list(cols)[-1]], ascending=[True, False], ignore_index=True)


def _violent(incidents, t, days, radius_m) -> pd.DataFrame:
    category = incidents["offense_category"].astype("str")
    violent = category.eq("violent").fillna(False) | (category.isna() & incidents["offense"].isin(VIOLENT))
    keep = violent.to_numpy(bool) & (incidents["distance_m"].to_numpy(float) <= radius_m) \
        & (incidents["occurred_at"] >= t - pd.Timedelta(days=days)).to_numpy(bool)
    rows = incidents[keep]
    firearm = rows["offense_description"].astype("str").str.endswith("firearm").fillna(False).to_numpy(bool)
    out = rows[["incident_id", "occurred_at", "offense"]].assign(firearm=firearm, address=rows["address"],
                                                                 distance_m=rows["distance_m"])
    return out.sort_values("occurred_at", ascending=False, ignore_index=True)


def _gunshots(store, t, lon, lat, days, radius_m, timer) -> pd.DataFrame:
    frame = timer.query("gunshots", store, "gunshots", start=t - pd.Timedelta(days=days), end=t,
                        bbox=_box(lon, lat, radius_m),
                        columns=["alert_id", "detected_at", "rounds", "confidence", "lon", "lat"])
    frame = frame.assign(distance_m=distance_m(lon, lat, frame["lon"], frame["lat"]))
    frame = frame[frame["distance_m"] <= radius_m].drop(columns=["lon", "lat"])
    return frame.sort_values("detected_at", ascending=False, ignore_index=True)


def _cameras(context, lon, lat, t, radius_m) -> pd.DataFrame:
    cams = context.cameras_
    columns = ["camera_id", "kind", "owner", "name", "heading", "facing", "distance_m"]
    if lon is None:
        return pd.DataFrame(columns=columns)
    dist = distance_m(lon, lat, cams["lon"], cams["lat"])
    installed = cams["installed_at"].isna() | (cams["installed_at"] <= t)
    removed = cams["removed_at"].notna() & (cams["removed_at"] <= t)
    keep = (dist <= radius_m) & installed.to_numpy(bool) & ~removed.to_numpy(bool)
    out = cams[keep].assign(distance_m=dist[keep])[columns]
    return out.sort_values(["distance_m", "camera_id"], ignore_index=True)


def escape_cameras(context, lon, lat, minutes, speed_factor=1.2) -> pd.DataFrame:
    """Fixed plate readers a vehicle leaving (lon, lat) reaches within ``minutes``, soonest first.

    The cameras of :func:`workbench.trajectories.reachable` (same network, same
    arrival times) without drawing the reachable area, which costs more than
    the rest of a briefing together.

    Parameters
    ----------
    context : BriefingContext
        Fitted with roads.
    lon, lat : float
    minutes, speed_factor : float
        As for :func:`~workbench.trajectories.reachable`.

    Returns
    -------
    pandas.DataFrame
        ``camera_id``, ``name``, ``facing``, ``seconds``, ``distance_m``.
    """
    net = context.network_
    budget = minutes * 60.0
    x, y = context.to_metric(lon, lat)
    t, _ = net.times_from_point(x, y, speed_factor, budget)
    arrive = t[net._entry] + net._pre_s / speed_factor
    cams = context.cameras_.set_index("camera_id").reindex(net.camera_ids)
    keep = (arrive <= budget) & cams["kind"].eq("alpr").fillna(False).to_numpy(bool)
    rows = cams[keep]
    out = pd.DataFrame({"camera_id": net.camera_ids[keep], "name": rows["name"].to_numpy(object),
                        "facing": rows["facing"].to_numpy(object), "seconds": arrive[keep],
                        "distance_m": distance_m(lon, lat, rows["lon"], rows["lat"])})
    return out.sort_values(["seconds", "camera_id"], ignore_index=True)


def _hotlist_hits(store, context, t, lon, lat, radius_m, window, timer, missing, **justification):
    from workbench.trajectories import hits

    reads = timer.query("alpr_reads", store, "alpr_reads", start=t - pd.Timedelta(window), end=t,
                        bbox=_box(lon, lat, radius_m))
    cams = context.cameras_.set_index("camera_id")
    cam_lon = reads["camera_id"].map(cams["lon"]).astype(float)
    cam_lat = reads["camera_id"].map(cams["lat"]).astype(float)
    rlon = reads["lon"].astype(float).fillna(cam_lon).to_numpy(float)
    rlat = reads["lat"].astype(float).fillna(cam_lat).to_numpy(float)
    reads = reads.assign(distance_m=distance_m(lon, lat, rlon, rlat))
    reads = reads[reads["distance_m"] <= radius_m]
    columns = ["read_id", "read_at", "camera_id", "plate", "hotlist_reason", "priority", "distance_m"]
    try:
        found = hits(reads, context.hotlist_, include_past=False, audit_log=justification.pop("audit_log"),
                     **justification)
    except (AuditError, PermissionDenied) as exc:
        missing.append(f"Hotlist hits nearby: the audited check was refused ({exc})")
        return None
    return found[columns].reset_index(drop=True)
