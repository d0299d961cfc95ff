"""Compiled passes of :func:`~workbench.trajectories.reconstruct` over reads in (plate, time) order.

Trip reconstruction is one sequential walk per plate: a read is a repeat or a
new sighting, a sighting closes a leg, a leg may start a new trip. Written as
whole-array NumPy this took some forty temporaries of ten million elements;
here it is two loops (sort, walk) that touch each read once. The float
arithmetic is written in the same order as the NumPy formulation it replaced,
so results are bit-for-bit the same (``tests/test_trajectories.py`` checks
the walk against a plain per-plate Python loop).

``cache=True`` keeps the compiled code in ``__pycache__``: only the first call
after an install or an edit pays for compiling (a few seconds).
"""

from __future__ import annotations

import numpy as np
from numba import njit

_US = 1_000_000
_FLOAT_MAX = np.finfo(np.float64).max

# leg_state codes (see walk)
PLAUSIBLE, IMPOSSIBLE, DEVICE_DISAGREEMENT, UNJUDGED = 0, 1, 2, 3


@njit(cache=True, nogil=True)
def first_seen_groups(codes, keep, n_codes):  # pragma: no cover - compiled
    """Renumber plate codes by first appearance among kept reads; -1 for reads set aside.

    Returns (group per read, group of each old code or -1, number of groups).
    """
    rank = np.full(n_codes, -1, np.int64)
    group = np.full(codes.shape[0], -1, np.int64)
    n_groups = 0
    for i in range(codes.shape[0]):
        c = codes[i]
        if keep[i] and c >= 0:
            if rank[c] < 0:
                rank[c] = n_groups
                n_groups += 1
            group[i] = rank[c]
    return group, rank, n_groups


_RUN = 32  # runs this short are insertion-sorted: stable, and fastest for a handful of reads


@njit(cache=True)
def _insertion_sort(t, order, lo, hi):  # pragma: no cover - compiled
    """Sort ``t[lo:hi]`` stably in place, moving ``order`` along."""
    for k in range(lo + 1, hi):
        tk, ok = t[k], order[k]
        m = k - 1
        while m >= lo and t[m] > tk:
            t[m + 1] = t[m]
            order[m + 1] = order[m]
            m -= 1
        t[m + 1] = tk
        order[m + 1] = ok


@njit(cache=True)
def _merge_sort(t, order, lo, hi, buffer_t, buffer_order):  # pragma: no cover - compiled
    """Sort ``t[lo:hi]`` stably in place, moving ``order`` along: insertion-sorted runs merged bottom-up.

    Written out rather than ``np.argsort(kind="mergesort")``, whose compilation
    alone took seconds on a first call.
    """
    for run in range(lo, hi, _RUN):
        _insertion_sort(t, order, run, min(run + _RUN, hi))
    width = _RUN
    while width < hi - lo:
        for left in range(lo, hi, 2 * width):
            mid, right = min(left + width, hi), min(left + 2 * width, hi)
            i, j, k = left, mid, left - lo
            while i < mid or j < right:
                if j >= right or (i < mid and t[i] <= t[j]):  # ties take the left run: stable
                    buffer_t[k], buffer_order[k] = t[i], order[i]
                    i += 1
                else:
                    buffer_t[k], buffer_order[k] = t[j], order[j]
                    j += 1
                k += 1
        for k in range(hi - lo):  # a loop: numba takes seconds to compile an array-to-slice assignment
            t[lo + k], order[lo + k] = buffer_t[k], buffer_order[k]
        width *= 2


@njit(cache=True, nogil=True)
def order_by_group_time(group, n_groups, t):  # pragma: no cover - compiled
    """Positions of the reads with ``group >= 0`` ordered by (group, t), stably.

    The same order as ``np.lexsort((t, group))`` without the -1 rows, in O(n):
    a counting sort by group, then each group (a plate's reads: few, and
    usually already in time order) sorted by time.

    Returns (order, t in that order, group in that order).
    """
    n = group.shape[0]
    start = np.zeros(n_groups + 1, np.int64)
    for i in range(n):
        if group[i] >= 0:
            start[group[i] + 1] += 1
    for g in range(n_groups):
        start[g + 1] += start[g]
    m = start[n_groups]
    order = np.empty(m, np.int64)
    t_sorted = np.empty(m, np.int64)
    group_sorted = np.empty(m, np.int64)
    pos = start[:n_groups].copy()
    for i in range(n):
        g = group[i]
        if g >= 0:
            k = pos[g]
            order[k] = i
            t_sorted[k] = t[i]
            pos[g] = k + 1
    buffer_t = np.empty(0, np.int64)
    buffer_order = np.empty(0, np.int64)
    for g in range(n_groups):
        lo, hi = start[g], start[g + 1]
        group_sorted[lo:hi] = g
        in_order = True
        for k in range(lo + 1, hi):
            if t_sorted[k] < t_sorted[k - 1]:
                in_order = False
                break
        if in_order:
            continue
        if hi - lo <= _RUN:
            _insertion_sort(t_sorted, order, lo, hi)
        else:
            if buffer_t.shape[0] < hi - lo:
                buffer_t = np.empty(hi - lo, np.int64)
                buffer_order = np.empty(hi - lo, np.int64)
            _merge_sort(t_sorted, order, lo, hi, buffer_t, buffer_order)
    return order, t_sorted, group_sorted


@njit(cache=True)
def _nan_to_num(v):  # pragma: no cover - compiled
    if v != v:
        return 0.0
    if v == np.inf:
        return _FLOAT_MAX
    if v == -np.inf:
        return -_FLOAT_MAX
    return v


@njit(cache=True)
def _close_trip(k, end, n_s, first, t_s, offsets, start, stop, n_reads, n_sightings, length_m,
                speed_kmh):  # pragma: no cover - compiled
    """Trip ``k`` ran from read ``first`` up to (not including) read ``end`` and sighting ``n_s``."""
    stop[k] = t_s[end - 1]
    n_reads[k] = end - first
    n_sightings[k] = n_s - offsets[k]
    dur_h = (stop[k] - start[k]) / _US / 3600
    speed_kmh[k] = length_m[k] / 1000 / dur_h if dur_h > 0 else np.nan


@njit(cache=True, nogil=True)
def walk(order, group_s, t_s, cam, dev, cam_x, cam_y, cam_err, own_ok, own_x, own_y, own_err,
         net_of_cam, distance_m, travel_s, n_cam_labels, merge_s, gap_s, max_speed_kmh, clock_error_s,
         detour_factor):  # pragma: no cover - compiled
    """Repeats, sightings, legs and trips in one pass over reads in (plate, time) order.

    Parameters are per read in input order (``cam``, ``dev``: codes, -1 for none;
    ``own_*``: a read's own projected position, used where its camera gives none;
    ``dev`` and ``own_*`` may be empty), per camera label (``cam_x``, ``cam_y``,
    ``cam_err``, ``net_of_cam``: position in the network or -1), the network's
    (n, n) ``distance_m`` and ``travel_s`` (empty without one) and the thresholds.

    Returns per read (is_repeat, trip); per sighting the label code (camera
    code, ``n_cam_labels`` + device code, or -1); per trip (first sighting as
    int32 list offsets with the total appended, start, end, n_reads,
    n_sightings, plate group, length_m, mean_speed_kmh); per leg (trip, plate
    group, from row, to row, from label, to label, depart, arrive, travel_s,
    distance_m, min_travel_s, speed_kmh, state, route key).
    """
    n = order.shape[0]
    has_dev = dev.shape[0] > 0
    has_own = own_ok.shape[0] > 0
    n_net = distance_m.shape[0]

    is_repeat = np.zeros(n, np.bool_)
    read_trip = np.empty(n, np.int64)
    s_label = np.empty(n, np.int64)

    trip_offsets = np.empty(n + 1, np.int32)  # first sighting of each trip, then the count: list offsets
    trip_start = np.empty(n, np.int64)
    trip_end = np.empty(n, np.int64)
    trip_n_reads = np.empty(n, np.int64)
    trip_n_sightings = np.empty(n, np.int64)
    trip_group = np.empty(n, np.int64)
    trip_len = np.zeros(n, np.float64)
    trip_speed = np.empty(n, np.float64)
    trip_first = 0  # first read of the trip open

    leg_trip = np.empty(n, np.int64)
    leg_group = np.empty(n, np.int64)
    leg_from = np.empty(n, np.int64)
    leg_to = np.empty(n, np.int64)
    leg_from_label = np.empty(n, np.int64)
    leg_to_label = np.empty(n, np.int64)
    leg_depart = np.empty(n, np.int64)
    leg_arrive = np.empty(n, np.int64)
    leg_dt = np.empty(n, np.float64)
    leg_lower = np.empty(n, np.float64)
    leg_min = np.empty(n, np.float64)
    leg_speed = np.empty(n, np.float64)
    leg_state = np.empty(n, np.int8)
    leg_key = np.empty(n, np.int64)

    n_s = 0
    n_trips = 0
    n_legs = 0
    # the previous read
    p_group, p_place, p_t, p_x, p_y = -1, 0, 0, np.nan, np.nan
    # the previous sighting
    q_group, q_t, q_x, q_y, q_err = -1, 0, np.nan, np.nan, np.nan
    q_cam, q_dev, q_net, q_row, q_label = -1, -1, -1, -1, -1
    for i in range(n):
        o = order[i]
        g = group_s[i]
        t = t_s[i]
        c = cam[o]
        d = dev[o] if has_dev else -1
        x, y, err = np.nan, np.nan, np.nan
        if c >= 0:
            x, y, err = cam_x[c], cam_y[c], cam_err[c]
        if has_own and x != x and own_ok[o]:
            x, y, err = own_x[o], own_y[o], own_err
        place = c if c >= 0 else -2 - d

        repeat = False
        if i > 0 and g == p_group and place == p_place and (t - p_t) / _US <= merge_s:
            near = np.hypot(x - p_x, y - p_y) <= 2 * _nan_to_num(err) + 1
            repeat = c >= 0 or near or (x != x and p_x != p_x)
        p_group, p_place, p_t, p_x, p_y = g, place, t, x, y
        if repeat:
            is_repeat[i] = True
            read_trip[i] = n_trips - 1
            continue

        net = net_of_cam[c] if c >= 0 else -1
        label = c if c >= 0 else (n_cam_labels + d if d >= 0 else -1)
        new_trip = True
        if n_s > 0 and g == q_group:
            dt = (t - q_t) / _US
            if q_net >= 0 and net >= 0 and n_net > 0:
                lower = distance_m[q_net, net]
                length = lower
                min_travel = travel_s[q_net, net]
                key = q_net * n_net + net
            else:
                lower = np.hypot(x - q_x, y - q_y)
                length = lower * detour_factor
                min_travel = np.nan
                key = -1
            tol_m = _nan_to_num(q_err) + _nan_to_num(err)
            other_device = q_dev != d and q_cam < 0 and c < 0
            tol_s = clock_error_s if other_device else 0.0
            need = lower - tol_m
            if need < 0.0:
                need = 0.0
            worst = need / max(dt + tol_s, 0.5) * 3.6
            speed = length / max(dt, 0.5) * 3.6
            judged = np.isfinite(lower)
            impossible = judged and worst > max_speed_kmh
            new_trip = dt > gap_s or impossible
            if dt <= gap_s:
                k = n_legs
                leg_trip[k] = n_trips - 1
                leg_group[k] = g
                leg_from[k] = q_row
                leg_to[k] = o
                leg_from_label[k] = q_label
                leg_to_label[k] = label
                leg_depart[k] = q_t
                leg_arrive[k] = t
                leg_dt[k] = dt
                leg_lower[k] = lower
                leg_min[k] = min_travel
                leg_speed[k] = speed
                if not judged:
                    leg_state[k] = UNJUDGED
                elif impossible:
                    leg_state[k] = DEVICE_DISAGREEMENT if other_device else IMPOSSIBLE
                else:
                    leg_state[k] = PLAUSIBLE
                leg_key[k] = key
                n_legs += 1
                if not new_trip and np.isfinite(length):
                    trip_len[n_trips - 1] += length
        if new_trip:
            if n_trips > 0:
                _close_trip(n_trips - 1, i, n_s, trip_first, t_s, trip_offsets, trip_start, trip_end, trip_n_reads,
                            trip_n_sightings, trip_len, trip_speed)
            trip_offsets[n_trips] = n_s
            trip_start[n_trips] = t
            trip_group[n_trips] = g
            trip_first = i
            n_trips += 1
        read_trip[i] = n_trips - 1
        s_label[n_s] = label
        n_s += 1
        q_group, q_t, q_x, q_y, q_err, q_cam, q_dev, q_net, q_row, q_label = g, t, x, y, err, c, d, net, o, label

    _close_trip(n_trips - 1, n, n_s, trip_first, t_s, trip_offsets, trip_start, trip_end, trip_n_reads,
                trip_n_sightings, trip_len, trip_speed)
    trip_offsets[n_trips] = n_s

    # Slices, not copies: the unused tails of the buffers were never written, so never paged in.
    reads = (is_repeat, read_trip)
    trips = (trip_offsets[:n_trips + 1], trip_start[:n_trips], trip_end[:n_trips], trip_n_reads[:n_trips],
             trip_n_sightings[:n_trips], trip_group[:n_trips], trip_len[:n_trips], trip_speed[:n_trips])
    legs = (leg_trip[:n_legs], leg_group[:n_legs], leg_from[:n_legs], leg_to[:n_legs], leg_from_label[:n_legs],
            leg_to_label[:n_legs], leg_depart[:n_legs], leg_arrive[:n_legs], leg_dt[:n_legs], leg_lower[:n_legs],
            leg_min[:n_legs], leg_speed[:n_legs], leg_state[:n_legs], leg_key[:n_legs])
    return reads, s_label[:n_s], trips, legs
