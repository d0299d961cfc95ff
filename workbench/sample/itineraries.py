"""Daily itineraries of the fleet: legs between anchors with departure times and speeds.

A *leg* is one drive from an anchor to another. Legs become *trips* (the unit
the trajectory engine reconstructs) as follows: a vehicle stops at least 45
minutes between trips (50 planned, less what traffic delays cost it) (work, shops, home, a meeting), so every leg is its own
trip, except the offender's drive to a crime scene and away from it, which is
one trip with a stop of a few minutes at the scene, and a leg sent along
another route via a third anchor (:func:`vary_routes`), which is one trip of two legs.

Times are seconds after the period start (local midnight of the first day, in
UTC). Travel time is free-flow time times a *factor* >= 0.92: the driver's own
pace (most drive a little under the limit) times rush-hour congestion, so no
implied speed between cameras exceeds the posted limit by more than ~9 %.
"""

from __future__ import annotations

import numpy as np

HOUR = 3600.0
MINUTE = 60.0
MIN_FACTOR = 0.92
BLOCK = 2_000_000  # legs checked at a time by drop_overlaps


def within(values, low, high, rng):
    """``values`` with those outside [low, high] redrawn uniformly inside.

    Clipping would pile vehicles up at the bounds, all leaving at the same second.
    """
    out = (values < low) | (values > high)
    return np.where(out, rng.uniform(low, high, np.shape(values)), values)


class Legs:
    """Columns of legs (one entry per leg); see the module docstring.

    Attributes
    ----------
    vehicle, origin, dest : numpy.ndarray of int
        Vehicle position and anchor positions.
    depart_s, factor : numpy.ndarray of float
    joins_previous : numpy.ndarray of bool
        The leg continues the vehicle's previous leg as one trip.
    group : numpy.ndarray of int
        Convoy outing (joint legs) or linked incident (offender legs); -1 otherwise.
    """

    FIELDS = ("vehicle", "origin", "dest", "depart_s", "factor", "joins_previous", "group")
    # 32-bit positions: a 10M-read run has ~17M legs, and every copy of them counts
    DTYPES = {"vehicle": np.int32, "origin": np.int32, "dest": np.int32, "depart_s": np.float64,
              "factor": np.float64, "joins_previous": bool, "group": np.int32}

    def __init__(self, **cols):
        n = len(cols["vehicle"])
        cols.setdefault("joins_previous", np.zeros(n, dtype=bool))
        cols.setdefault("group", np.full(n, -1, dtype=np.int32))
        for f in self.FIELDS:
            setattr(self, f, np.asarray(cols[f], dtype=self.DTYPES[f]))

    def __len__(self):
        return len(self.vehicle)

    @classmethod
    def concat(cls, parts):
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls(**{f: np.zeros(0, cls.DTYPES[f]) for f in cls.FIELDS})
        return cls(**{f: np.concatenate([getattr(p, f) for p in parts]) for f in cls.FIELDS})

    def take(self, idx) -> "Legs":
        """The legs at positions ``idx``, in that order.

        Parameters
        ----------
        idx : numpy.ndarray of int or bool
            Positions, or a mask.

        Returns
        -------
        Legs
        """
        return Legs(**{f: getattr(self, f)[idx] for f in self.FIELDS})

    def vehicle_order(self) -> np.ndarray:
        """Positions that sort the legs by vehicle, then departure.

        One sort of a 64-bit key (vehicle in the high bits, departure in
        microseconds below), several times faster than ``np.lexsort`` on 17M legs.
        The sort is a stable one (timsort), which merges the sorted runs the
        planners produce (:func:`regular_legs` emits each tour's legs in
        vehicle-day order) instead of sorting from scratch.

        Returns
        -------
        numpy.ndarray of int

        Examples
        --------
        >>> legs = Legs(vehicle=[1, 0, 1], origin=[0, 0, 0], dest=[1, 1, 1],
        ...             depart_s=[50.0, 90.0, 10.0], factor=[1.0, 1.0, 1.0])
        >>> legs.vehicle_order().tolist()
        [1, 2, 0]
        """
        if len(self) == 0:
            return np.zeros(0, np.int64)
        low, high = float(self.depart_s.min()), float(self.depart_s.max())
        vehicle_bits = max(int(self.vehicle.max()), 1).bit_length()
        # the finest time step that fits beside the vehicle: about 1 us for 16 days and 500k vehicles
        step = max((high - low + 1.0) / 2.0 ** (62 - vehicle_bits), 1e-6)
        key = self.vehicle.astype(np.int64)
        key <<= 62 - vehicle_bits
        since = self.depart_s - low
        since /= step
        key |= since.astype(np.int64)
        return np.argsort(key, kind="stable")

    def in_vehicle_order(self) -> "Legs":
        """These legs sorted by vehicle, then departure.

        Returns
        -------
        Legs
            ``self`` when the legs already are in that order (no copy).
        """
        v, t = self.vehicle, self.depart_s
        if ((v[1:] > v[:-1]) | ((v[1:] == v[:-1]) & (t[1:] >= t[:-1]))).all():
            return self
        return self.take(self.vehicle_order())


class Clock:
    """Local days of the period: where each starts (seconds after period start) and weekdays."""

    def __init__(self, day_start_s, weekday):
        self.day_start_s = np.asarray(day_start_s, dtype=float)
        self.weekday = np.asarray(weekday, dtype=np.int64)

    @property
    def days(self) -> int:
        return len(self.day_start_s)

    def local(self, t_s):
        """Day index and local hour (may pass 24 after the last midnight) of times ``t_s``."""
        day = np.clip(np.searchsorted(self.day_start_s, t_s, side="right") - 1, 0, self.days - 1)
        return day, (t_s - self.day_start_s[day]) / HOUR

    def factor(self, driver_factor, t_s, rng):
        """Travel-time factor of legs departing at ``t_s``: pace x congestion x daily noise."""
        day, hour = self.local(t_s)
        workday = self.weekday[day] < 5
        rush = 0.30 * np.exp(-(((hour - 8.0) / 1.0) ** 2)) + 0.40 * np.exp(-(((hour - 17.3) / 1.3) ** 2))
        midday = 0.10 * np.exp(-(((hour - 13.0) / 3.0) ** 2))
        congestion = 1.0 + np.where(workday, rush + midday, midday)
        noise = rng.normal(1.0, 0.03, np.shape(t_s))
        return np.maximum(driver_factor * congestion * noise, MIN_FACTOR)


def regular_legs(fleet, veh, day, clock: Clock, travel_s, rng) -> Legs:
    """Ordinary days: commutes on weekdays, errand tours from home otherwise.

    Parameters
    ----------
    fleet : Fleet
    veh, day : numpy.ndarray of int
        The vehicle-days to plan.
    clock : Clock
    travel_s : numpy.ndarray, shape (K, K)
    rng : numpy.random.Generator

    Returns
    -------
    Legs
    """
    m = len(veh)
    start = clock.day_start_s[day]
    commuter = np.isin(fleet.kind, ("commuter", "cloned"))[veh]
    commute = commuter & (clock.weekday[day] < 5) & (rng.random(m) < fleet.office_days[veh] / 5)
    n_tours = np.where(commute, 1 + rng.choice(3, m, p=[0.6, 0.3, 0.1]),
                       rng.choice(4, m, p=[0.12, 0.42, 0.30, 0.16]))
    first = np.where(commute, fleet.habit_s[veh] + rng.normal(0, 25 * MINUTE, m),
                     fleet.habit_s[veh] + rng.normal(0, 90 * MINUTE, m))
    # night-shift workers sleep in on days off
    first = np.where(commuter & ~commute & (fleet.habit_s[veh] >= 19 * HOUR),
                     rng.uniform(13 * HOUR, 19 * HOUR, m), first)
    free_at = start + np.where(commute, within(first, 5 * HOUR, 23.8 * HOUR, rng),
                               within(first, 5 * HOUR, 20 * HOUR, rng))
    out = np.arange(m)  # vehicle-days still going out; a day's tours end at the first that does not happen
    parts = []
    for k in range(3):  # at most three tours a day
        out = out[n_tours[out] > k]
        v, home = veh[out], fleet.home[veh[out]]
        dep = free_at[out] if k == 0 else free_at[out] + 50 * MINUTE + rng.exponential(75 * MINUTE, len(out))
        to_work = commute[out] & (k == 0)
        j = rng.choice(4, len(out), p=[0.4, 0.3, 0.2, 0.1])
        fav = fleet.favourites[v, j]
        fav = np.where(fav == home, fleet.favourites[v, (j + 1) % 4], fav)
        dest = np.where(to_work, fleet.work[v], fav)
        go = (dest != home) & ((dep - start[out] < 21.5 * HOUR) | to_work)
        out, v, home, dep, to_work, dest = out[go], v[go], home[go], dep[go], to_work[go], dest[go]
        n = len(out)
        dwell = np.where(to_work, rng.normal(8.5 * HOUR, 40 * MINUTE, n).clip(5 * HOUR, 10.5 * HOUR),
                         (50 * MINUTE + rng.exponential(45 * MINUTE, n)).clip(max=3 * HOUR))
        f_out = clock.factor(fleet.driver_factor[v], dep, rng)
        back = dep + travel_s[home, dest] * f_out + dwell
        f_back = clock.factor(fleet.driver_factor[v], back, rng)
        free_at[out] = back + travel_s[dest, home] * f_back
        parts.append(Legs(vehicle=np.concatenate([v, v]), origin=np.concatenate([home, dest]),
                          dest=np.concatenate([dest, home]), depart_s=np.concatenate([dep, back]),
                          factor=np.concatenate([f_out, f_back])))
    return Legs.concat(parts)


def convoy_legs(fleet, clock: Clock, passages, travel_s, rng):
    """Convoy outings: members meet at the leader's home and drive out and back together.

    Each convoy goes out on four to six days. Members leave the meeting point
    6-16 s apart and keep the convoy's pace, so they pass every camera of the
    outing within a minute of each other; the leader's home is chosen (in
    :func:`build_fleet`) so that the outing passes at least three cameras each way.

    Returns
    -------
    legs : Legs
        ``group`` numbers the joint legs (one per convoy, day and direction).
    busy : numpy.ndarray, shape (n_vehicles, days) of bool
        Vehicle-days taken by an outing (no ordinary plan).
    """
    busy = np.zeros((len(fleet), clock.days), dtype=bool)
    two_way = np.minimum(passages, passages.T)
    rows, joint = [], 0
    for g in np.unique(fleet.convoy[fleet.convoy >= 0]):  # over convoys
        members = np.flatnonzero(fleet.convoy == g)
        members = np.concatenate([members[fleet.convoy_leader[members]],
                                  members[~fleet.convoy_leader[members]]])
        meet = fleet.home[members[0]]
        if two_way[meet].max() == 0:
            continue
        targets = np.flatnonzero(two_way[meet] >= min(4, two_way[meet].max()))
        n_out = min(clock.days, int(rng.integers(4, 7)))
        for d in np.sort(rng.choice(clock.days, n_out, replace=False)):  # a few outings
            busy[members, d] = True
            target = rng.choice(targets)
            gap = np.concatenate([[0.0], np.cumsum(rng.uniform(6, 16, len(members) - 1))])
            pace = fleet.driver_factor[members].max()
            out = clock.day_start_s[d] + rng.uniform(10 * HOUR, 19.5 * HOUR)
            f_out = clock.factor(pace, np.array([out]), rng)[0]
            back = out + travel_s[meet, target] * f_out + rng.uniform(60, 120) * MINUTE
            f_back = clock.factor(pace, np.array([back]), rng)[0]
            home_again = back + travel_s[target, meet] * f_back
            for i, v in enumerate(members):  # over members
                own = fleet.home[v]
                f_own = fleet.driver_factor[v]
                if own != meet:
                    rows.append((v, own, meet, out - rng.uniform(60, 90) * MINUTE
                                 - travel_s[own, meet] * f_own, f_own, -1))
                rows.append((v, meet, target, out + gap[i], f_out, joint))
                rows.append((v, target, meet, back + gap[i], f_back, joint + 1))
                if own != meet:
                    rows.append((v, meet, own, home_again + rng.uniform(60, 90) * MINUTE, f_own, -1))
            joint += 2
    if not rows:
        return Legs(vehicle=np.zeros(0, np.int64), origin=np.zeros(0, np.int64),
                    dest=np.zeros(0, np.int64), depart_s=np.zeros(0), factor=np.zeros(0)), busy
    v, o, t, dep, f, grp = (np.array(c) for c in zip(*rows))
    return Legs(vehicle=v.astype(np.int64), origin=o.astype(np.int64), dest=t.astype(np.int64),
                depart_s=dep.astype(float), factor=f.astype(float), group=grp.astype(np.int64)), busy


def offender_legs(fleet, vehicles, scene, exit_, occurred_s, clock: Clock, travel_s, rng):
    """Drives of offenders: home -> scene (arrive 1-5 min before) -> away (leave 2-8 min after) -> home.

    Parameters
    ----------
    fleet : Fleet
    vehicles, scene, exit_ : numpy.ndarray of int
        Offender vehicle, scene anchor and getaway anchor of each linked incident.
    occurred_s : numpy.ndarray of float
        When each incident occurred (seconds after the period start).

    Returns
    -------
    legs : Legs
        ``group`` is the position of the incident in the inputs.
    busy : numpy.ndarray, shape (n_vehicles, days) of bool
        The day of the incident and the days either side (no ordinary plan).
    """
    n = len(vehicles)
    home = fleet.home[vehicles]
    pace = fleet.driver_factor[vehicles]
    f_in = clock.factor(pace, occurred_s, rng)
    arrive = occurred_s - rng.uniform(1, 5, n) * MINUTE
    dep_in = arrive - travel_s[home, scene] * f_in
    dep_away = occurred_s + rng.uniform(2, 8, n) * MINUTE
    f_away = np.maximum(pace, MIN_FACTOR)  # fleeing: no dawdling, but within the limit
    arrive_away = dep_away + travel_s[scene, exit_] * f_away
    dep_home = arrive_away + rng.uniform(60, 180, n) * MINUTE
    f_home = clock.factor(pace, dep_home, rng)
    idx = np.arange(n)
    legs = Legs(vehicle=np.concatenate([vehicles] * 3), origin=np.concatenate([home, scene, exit_]),
                dest=np.concatenate([scene, exit_, home]),
                depart_s=np.concatenate([dep_in, dep_away, dep_home]),
                factor=np.concatenate([f_in, f_away, f_home]),
                joins_previous=np.concatenate([np.zeros(n, bool), np.ones(n, bool), np.zeros(n, bool)]),
                group=np.concatenate([idx, idx, idx]))
    busy = np.zeros((len(fleet), clock.days), dtype=bool)
    day, _ = clock.local(occurred_s)
    for shift in (-1, 0, 1):
        busy[vehicles, np.clip(day + shift, 0, clock.days - 1)] = True
    return legs, busy


def vary_routes(legs: Legs, travel_s, rng, *, share=0.5, max_detour=1.25, tries=8, keep=None) -> Legs:
    """Send a ``share`` of legs along another route: via an anchor that costs <= 25 % extra time.

    Drivers do not take the same road every day; without this, two commuters
    with similar routes and hours would meet at the same cameras day after day.
    A varied leg becomes two legs (origin -> via, via -> destination) of one
    trip. Each chosen leg tries up to ``tries`` random anchors and takes the
    first within ``max_detour``; a leg finding none keeps its route. Legs where
    ``keep`` is True are left alone.
    """
    n, k = len(legs), travel_s.shape[0]
    flat = np.ascontiguousarray(travel_s).ravel()
    chosen = rng.random(n) < share
    if keep is not None:
        chosen &= ~keep
    pending = np.flatnonzero(chosen)
    index = np.int32 if k * k < 2**31 else np.int64
    o, d = legs.origin[pending].astype(index), legs.dest[pending].astype(index)
    limit = max_detour * np.maximum(flat[o * k + d], 1.0)
    found, found_via = [], []
    for _ in range(tries):  # draw one anchor at a time, only for legs still looking
        if len(pending) == 0:
            break
        via = rng.integers(0, k, len(pending), dtype=index)
        ok = (flat[o * k + via] + flat[via * k + d] <= limit) & (via != o) & (via != d)
        found.append(pending[ok])
        found_via.append(via[ok])
        pending, o, d, limit = pending[~ok], o[~ok], d[~ok], limit[~ok]
    idx = np.concatenate(found) if found else np.zeros(0, np.int64)
    w = np.concatenate(found_via) if found_via else np.zeros(0, index)
    in_order = np.argsort(idx, kind="stable")  # merges the sorted runs of the rounds
    idx, w = idx[in_order], w[in_order]
    second = Legs(vehicle=legs.vehicle[idx], origin=w, dest=legs.dest[idx],
                  depart_s=legs.depart_s[idx] + travel_s[legs.origin[idx], w] * legs.factor[idx],
                  factor=legs.factor[idx], joins_previous=np.ones(len(idx), bool), group=legs.group[idx])
    dest = legs.dest.copy()
    dest[idx] = w
    first = Legs(vehicle=legs.vehicle, origin=legs.origin, dest=dest, depart_s=legs.depart_s,
                 factor=legs.factor, joins_previous=legs.joins_previous, group=legs.group)
    return Legs.concat([first, second])


def drop_overlaps(legs: Legs, travel_s, protected, min_stop_s=45 * MINUTE) -> Legs:
    """Drop ordinary legs that would leave before the vehicle is back from its previous trip.

    Plans are drawn day by day and some legs take detours, so a night shift or
    a late errand can run into the next plan; such (rare) legs are dropped, with
    their continuation, so that trips never overlap and the stop between two
    trips lasts at least ``min_stop_s`` even if traffic makes the first trip
    take 1.5 times its planned time. Legs where ``protected`` is True (convoy
    outings, offender drives) are always kept. The legs come back sorted by
    vehicle, then departure (see :meth:`Legs.vehicle_order`).
    """
    order = legs.vehicle_order()
    vehicle = legs.vehicle[order]
    n = len(order)
    # blocks of ~2M legs holding whole vehicles (clashes are per vehicle): a block's temporaries
    # are reused from the heap instead of each costing fresh pages, as 17M-leg arrays would
    cuts = np.searchsorted(vehicle, vehicle[np.arange(BLOCK, n, BLOCK)])
    bounds = np.unique(np.r_[0, cuts, n])
    keep = np.zeros(n, dtype=bool)
    for a, b in zip(bounds[:-1], bounds[1:]):  # over blocks, ~9 at 10M reads
        i = order[a:b]
        arrive = travel_s[legs.origin[i], legs.dest[i]]
        arrive *= legs.factor[i]
        depart = legs.depart_s[i]
        arrive += depart
        keep[a:b] = _clash_free(vehicle[a:b], depart, arrive, legs.joins_previous[i], protected[i], min_stop_s)
    return legs.take(order[keep])


def _clash_free(vehicle, depart, arrive, joins, protected, min_stop_s):
    """Which legs :func:`drop_overlaps` keeps, for legs sorted by vehicle, then departure."""
    keep = np.ones(len(vehicle), dtype=bool)
    idx = np.arange(len(vehicle))
    v, dep, arr, jn, prot = vehicle, depart, arrive, joins, protected  # the first pass sees all
    for _ in range(6):  # each pass removes the first of a run of clashes
        start_pos = np.maximum.accumulate(np.where(jn, 0, np.arange(len(idx))))
        trip_time = arr - dep[start_pos]
        same = v[1:] == v[:-1]
        gap = dep[1:] - arr[:-1]
        need = np.where(jn[1:], -60.0, min_stop_s + 0.5 * trip_time[:-1])
        bad = same & (gap < need)
        clash = np.zeros(len(idx), dtype=bool)
        clash[1:] = bad & ~prot[1:]
        # a protected leg clashing with an ordinary one before it: drop the ordinary one
        clash[:-1] |= bad & prot[1:] & ~prot[:-1] & ~jn[:-1]
        clash[1:] |= clash[:-1] & jn[1:] & ~prot[1:]  # and its continuation
        if not clash.any():
            break
        keep[idx[clash]] = False
        again = np.zeros(int(vehicle[-1]) + 1, dtype=bool)
        again[v[clash]] = True
        idx = idx[again[v] & keep[idx]]  # look again at those vehicles only
        v, dep, arr, jn, prot = vehicle[idx], depart[idx], arrive[idx], joins[idx], protected[idx]
    return keep
