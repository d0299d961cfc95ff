"""Vehicles travelling together: plates seen at the same cameras within seconds, again and again.

Two plates passing one camera a few seconds apart is chance; the same two
plates doing it at ``min_cameras`` different cameras on ``min_trips``
separate outings is a convoy. Reads are sorted by (camera, time) once; pairs
of different plates within ``window`` at one camera come from shifted
comparisons (vectorised, one pass per neighbour rank). Pairs are then counted
by distinct cameras and outings (sightings of the pair more than
``outing_gap`` apart), and qualifying pairs are joined into groups.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from workbench.errors import TrajectoryError
from workbench.trajectories import audit
from workbench.trajectories._dask import dask_aware

_US = 1_000_000


def co_sightings(reads, window="60s", max_neighbours=50) -> pd.DataFrame:
    """Pairs of different plates read at the same camera within ``window`` of each other.

    Returns
    -------
    pandas.DataFrame
        plate_a, plate_b (a < b), camera_id, at_a, at_b, gap_s.
    """
    win = pd.Timedelta(window).total_seconds() * _US
    place = reads["camera_id"] if "camera_id" in reads else reads["device"]
    ok = place.notna().to_numpy() & reads["plate"].notna().to_numpy()
    r = reads[ok]
    pcode, plates = pd.factorize(r["plate"], sort=True)  # plate_a < plate_b as text
    ccode, cams = pd.factorize((r["camera_id"] if "camera_id" in r else r["device"]))
    t = np.asarray(pd.to_datetime(r["read_at"], utc=True).dt.as_unit("us").array.asi8)
    order = np.lexsort((t, ccode))
    pcode, ccode, t = pcode[order], ccode[order], t[order]
    ia, ib = [], []
    for k in range(1, max_neighbours + 1):  # neighbour ranks, each one vectorised pass
        a = np.arange(len(t) - k)
        close = (ccode[a] == ccode[a + k]) & (t[a + k] - t[a] <= win)
        if not close.any():
            break
        a = a[close]
        diff = pcode[a] != pcode[a + k]
        ia.append(a[diff])
        ib.append(a[diff] + k)
    ia = np.concatenate(ia) if ia else np.array([], np.int64)
    ib = np.concatenate(ib) if ib else np.array([], np.int64)
    lo, hi = np.minimum(pcode[ia], pcode[ib]), np.maximum(pcode[ia], pcode[ib])
    swap = pcode[ia] > pcode[ib]
    ta, tb = np.where(swap, t[ib], t[ia]), np.where(swap, t[ia], t[ib])
    as_time = lambda v: pd.Series(v.astype("datetime64[us]")).dt.tz_localize("UTC")  # noqa: E731
    return pd.DataFrame({"plate_a": np.asarray(plates)[lo], "plate_b": np.asarray(plates)[hi],
                         "camera_id": np.asarray(cams)[ccode[ia]], "at_a": as_time(ta), "at_b": as_time(tb),
                         "gap_s": (tb - ta) / _US})


@dask_aware("convoys")
def convoys(reads, window="60s", min_cameras=3, min_trips=2, outing_gap="30min", max_drift="5s", *, user,
            reason, case_number, role=None, audit_log=None, policy=None):
    """Groups of plates travelling together, with the shared sightings as evidence.

    Parameters
    ----------
    reads : pandas.DataFrame
        Canonical ``alpr_reads`` (read_at, plate, camera_id or device).
    window : str
        Most time between the two plates' reads at one camera.
    min_cameras : int
        Fewest distinct cameras the pair shares.
    min_trips : int
        Fewest trips taken together. An outing (shared sightings no more than
        ``outing_gap`` apart) counts as a trip together when the pair shares at
        least two cameras in it, the same vehicle leads at each, and the gap
        between them changes by at most ``max_drift``: vehicles that merely pass
        a camera at the same moment, or drift apart in traffic, are not a convoy.
    user, reason, case_number, role, audit_log, policy
        The audit (see :func:`workbench.trajectories.search`).

    Returns
    -------
    pandas.DataFrame
        One row per pair: convoy_id, plate_a, plate_b, n_cameras, n_trips,
        n_sightings, first_at, last_at. ``.attrs["evidence"]`` holds the shared
        sightings of the listed pairs and ``.attrs["groups"]`` convoy_id -> plates.

    Examples
    --------
    >>> found = convoys(reads, user="jdoe", role="investigator", reason="robbery crew",
    ...                 case_number="25-000123")                       # doctest: +SKIP
    """
    parameters = {"window": window, "min_cameras": min_cameras, "min_trips": min_trips, "outing_gap": outing_gap,
                  "max_drift": max_drift}
    just = audit.authorize("convoys", user, reason, case_number, parameters=parameters, role=role,
                           policy=policy, audit_log=audit_log)
    for name, value in (("min_cameras", min_cameras), ("min_trips", min_trips)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise TrajectoryError(f"{name} must be a whole number >= 1, got {value!r}")
    try:
        gap = pd.Timedelta(outing_gap).total_seconds()
        drift = pd.Timedelta(max_drift).total_seconds()
        pd.Timedelta(window)
    except (ValueError, TypeError):
        raise TrajectoryError(f"window and outing_gap must be durations, got {window!r}, {outing_gap!r}") from None
    pairs = co_sightings(reads, window)
    pairs = pairs.sort_values(["plate_a", "plate_b", "at_a"], ignore_index=True)
    key = pairs["plate_a"] + "|" + pairs["plate_b"]
    t = pairs["at_a"].astype("int64").to_numpy() / _US if len(pairs) else np.array([])
    new_pair = np.r_[True, key.to_numpy()[1:] != key.to_numpy()[:-1]] if len(pairs) else np.array([], bool)
    new_outing = new_pair | np.r_[True, np.diff(t) > gap] if len(pairs) else new_pair
    pairs["outing"] = np.cumsum(new_outing)
    outings = pairs.groupby("outing", sort=False).agg(n_cam=("camera_id", "nunique"), lo=("gap_s", "min"),
                                                      hi=("gap_s", "max"))
    together = (outings["n_cam"] >= 2) & (np.sign(outings["lo"]) == np.sign(outings["hi"])) & \
        (outings["hi"] - outings["lo"] <= drift)
    pairs["together"] = together.reindex(pairs["outing"]).to_numpy()
    g = pairs.groupby(["plate_a", "plate_b"], sort=False)
    stats = g.agg(n_cameras=("camera_id", "nunique"), n_sightings=("camera_id", "size"),
                  first_at=("at_a", "min"), last_at=("at_b", "max")).reset_index()
    joint = pairs[pairs["together"]].groupby(["plate_a", "plate_b"], sort=False)["outing"].nunique()
    stats["n_trips"] = joint.reindex(pd.MultiIndex.from_frame(stats[["plate_a", "plate_b"]])).fillna(0) \
        .astype(int).to_numpy()
    stats = stats[["plate_a", "plate_b", "n_cameras", "n_trips", "n_sightings", "first_at", "last_at"]]
    found = stats[(stats["n_cameras"] >= min_cameras) & (stats["n_trips"] >= min_trips)].reset_index(drop=True)
    plates = pd.Index(pd.unique(pd.concat([found["plate_a"], found["plate_b"]])))
    if len(found):
        ia, ib = plates.get_indexer(found["plate_a"]), plates.get_indexer(found["plate_b"])
        graph = coo_matrix((np.ones(len(found)), (ia, ib)), shape=(len(plates), len(plates)))
        _, label = connected_components(graph, directed=False)
        found.insert(0, "convoy_id", [f"C{n:04d}" for n in label[ia]])
    else:
        found.insert(0, "convoy_id", pd.Series([], dtype="str"))
    found = found.sort_values(["convoy_id", "n_trips"], ascending=[True, False], ignore_index=True)
    listed = set(zip(found["plate_a"], found["plate_b"]))
    evidence = pairs[[pair in listed for pair in zip(pairs["plate_a"], pairs["plate_b"])]].drop(columns=["outing", "together"])
    found.attrs["evidence"] = evidence.reset_index(drop=True)
    found.attrs["groups"] = {c: sorted(set(grp["plate_a"]) | set(grp["plate_b"]))
                             for c, grp in found.groupby("convoy_id")}
    audit.record(just, "convoys", parameters=parameters, result_count=len(found), audit_log=audit_log)
    return found
