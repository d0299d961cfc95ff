"""Where will the vehicle show up next? A direction-aware camera transition model.

Fixed ALPR cameras watch one direction of one segment, so the camera a vehicle
was last seen at already says which way it was heading; the camera before it
(when the trip has one) says more about the route it is on. The model counts
transitions ``(previous, current) -> next`` in reconstructed trips and backs
off to ``current -> next`` when a pair was seen fewer than ``min_count``
times. Each transition keeps its travel times, so a prediction gives an
arrival window and the chance of arriving within the next ``within``.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pandas as pd

from workbench.errors import TrajectoryError

END = "<end>"


class NextCameraModel:
    """Cameras ranked by the probability that a vehicle passes them next.

    Parameters
    ----------
    min_count : int
        Fewest transitions for the second-order (previous, current) estimate to be used.
    max_gap : str
        Reads further apart than this are not one trip when predicting.

    Attributes
    ----------
    transitions_ : pandas.DataFrame
        from_camera, to_camera, n, p, median_s, q10_s, q90_s (first order; ``to_camera``
        ``"<end>"`` counts trips that ended).

    Examples
    --------
    >>> model = NextCameraModel().fit(trips)                          # doctest: +SKIP
    >>> model.predict(recent_reads, within="10min").head(3)           # doctest: +SKIP
    """

    def __init__(self, min_count: int = 5, max_gap: str = "30min"):
        self.min_count = min_count
        self.max_gap = max_gap

    def fit(self, trips) -> "NextCameraModel":
        """Learn transitions from a :class:`~workbench.trajectories.Trips` (its plausible legs)."""
        legs = getattr(trips, "legs", trips)
        if not {"trip_id", "from_camera", "to_camera", "travel_s"} <= set(legs.columns):
            raise TrajectoryError("fit needs Trips (or their legs) from reconstruct()")
        ok = legs["plausible"].ne(False).fillna(True).to_numpy(bool) if "plausible" in legs else slice(None)
        legs = legs[ok].sort_values(["trip_id", "depart"] if "depart" in legs else ["trip_id"])
        frm, to = legs["from_camera"].to_numpy(object), legs["to_camera"].to_numpy(object)
        trip = legs["trip_id"].to_numpy()
        prev = np.where(np.r_[False, trip[1:] == trip[:-1]], np.r_[None, frm[:-1]], None)
        travel = legs["travel_s"].to_numpy(float)
        first = pd.DataFrame({"from_camera": frm, "to_camera": to, "s": travel})
        ends = _trip_ends(trips)
        self.transitions_ = _table(pd.concat([first, ends], ignore_index=True), ["from_camera"])
        second = pd.DataFrame({"prev_camera": prev, "from_camera": frm, "to_camera": to, "s": travel})
        second = second[second["prev_camera"].notna()]
        self.second_order_ = _table(second, ["prev_camera", "from_camera"])
        self._first = {k: g for k, g in self.transitions_.groupby("from_camera", sort=False)}
        self._second = {k: g for k, g in self.second_order_.groupby(["prev_camera", "from_camera"], sort=False)}
        self._times = defaultdict(list)
        for (a, b), s in first.groupby(["from_camera", "to_camera"])["s"]:
            self._times[(a, b)] = np.sort(s.to_numpy())
        counts = first["to_camera"].value_counts()
        self.most_frequent_ = counts.index.to_numpy(object)
        return self

    def rank(self, current, previous=None) -> pd.DataFrame:
        """Next cameras after ``current`` (coming from ``previous``), most probable first."""
        if not hasattr(self, "transitions_"):
            raise TrajectoryError("the model is not fitted: call fit(trips) first")
        table = None
        if previous is not None and (previous, current) in self._second:
            cand = self._second[(previous, current)]
            if cand["n"].sum() >= self.min_count:
                table = cand
        if table is None:
            table = self._first.get(current)
        if table is None:
            return pd.DataFrame(columns=["camera_id", "p", "median_s", "q10_s", "q90_s"])
        out = table.rename(columns={"to_camera": "camera_id"})
        return out[["camera_id", "p", "median_s", "q10_s", "q90_s"]].sort_values("p", ascending=False)

    def predict(self, recent_reads, within="10min", now=None) -> pd.DataFrame:
        """Cameras the vehicle may pass within ``within``, with expected arrival windows.

        Parameters
        ----------
        recent_reads : pandas.DataFrame
            The vehicle's latest reads (read_at, camera_id), any order.
        within : str or Timedelta
            Horizon after ``now``.
        now : time, optional
            Default: the last read's time.

        Returns
        -------
        pandas.DataFrame
            camera_id, probability (of passing it within the horizon), p_next (of it
            being the next camera at all), expected_at, earliest, latest (10th-90th
            percentile of past travel times); most probable first.
        """
        reads = recent_reads.dropna(subset=["camera_id"]).sort_values("read_at")
        if not len(reads):
            raise TrajectoryError("predict needs at least one read with a camera_id")
        last = reads.iloc[-1]
        last_at = pd.Timestamp(last["read_at"])
        previous = None
        if len(reads) > 1 and last_at - pd.Timestamp(reads.iloc[-2]["read_at"]) <= pd.Timedelta(self.max_gap):
            previous = reads.iloc[-2]["camera_id"]
        now = last_at if now is None else pd.Timestamp(now)
        elapsed = (now - last_at).total_seconds()
        horizon = elapsed + pd.Timedelta(within).total_seconds()
        ranked = self.rank(last["camera_id"], previous)
        ranked = ranked[ranked["camera_id"] != END]
        if not len(ranked):
            return pd.DataFrame(columns=["camera_id", "probability", "p_next", "expected_at", "earliest", "latest"])
        cdf = np.array([_cdf(self._times[(last["camera_id"], c)], elapsed, horizon) for c in ranked["camera_id"]])
        gone = float(np.sum(ranked["p"].to_numpy() * cdf[:, 0]))
        prob = ranked["p"].to_numpy() * (cdf[:, 1] - cdf[:, 0]) / max(1.0 - gone, 1e-9)
        out = pd.DataFrame({
            "camera_id": ranked["camera_id"].to_numpy(),
            "probability": prob,
            "p_next": ranked["p"].to_numpy(),
            "expected_at": last_at + pd.to_timedelta(ranked["median_s"].to_numpy(), unit="s"),
            "earliest": last_at + pd.to_timedelta(ranked["q10_s"].to_numpy(), unit="s"),
            "latest": last_at + pd.to_timedelta(ranked["q90_s"].to_numpy(), unit="s"),
        })
        return out.sort_values(["probability", "p_next"], ascending=False, ignore_index=True)

    def score(self, legs, k: int = 3) -> dict:
        """Top-``k`` accuracy on held-out legs, beside two baselines.

        Returns
        -------
        dict
            ``model``: this model; ``first_order``: the most frequent next cameras after the
            current camera; ``most_frequent``: the ``k`` most frequent next cameras overall;
            ``n``: legs scored.
        """
        legs = legs[legs["plausible"].ne(False).fillna(True).to_numpy(bool)].sort_values(["trip_id", "depart"])
        frm, to, trip = legs["from_camera"].to_numpy(object), legs["to_camera"].to_numpy(object), legs["trip_id"].to_numpy()
        prev = np.where(np.r_[False, trip[1:] == trip[:-1]], np.r_[None, frm[:-1]], None)
        top_overall = [c for c in self.most_frequent_ if c != END][:k]
        hits = {"model": 0, "first_order": 0, "most_frequent": 0}
        cache = {}
        for p, c, t in zip(prev, frm, to):  # scoring loop over held-out legs
            for name, key in (("model", (p, c)), ("first_order", (None, c))):
                if key not in cache:
                    r = self.rank(key[1], key[0])
                    cache[key] = set(r.loc[r["camera_id"] != END, "camera_id"].head(k))
                hits[name] += t in cache[key]
            hits["most_frequent"] += t in top_overall
        n = len(frm)
        return {name: v / n if n else float("nan") for name, v in hits.items()} | {"n": n}


def _trip_ends(trips):
    table = getattr(trips, "trips", None)
    if table is None or "camera_ids" not in table:
        return pd.DataFrame(columns=["from_camera", "to_camera", "s"])
    last = [ids[-1] for ids in table["camera_ids"] if len(ids) and ids[-1] is not None]
    return pd.DataFrame({"from_camera": last, "to_camera": END, "s": np.nan})


def _table(frame, keys):
    g = frame.groupby([*keys, "to_camera"], sort=False)["s"]
    out = g.agg(n="size", median_s="median").reset_index()
    q = g.quantile([0.1, 0.9]).unstack().rename(columns={0.1: "q10_s", 0.9: "q90_s"})
    out = out.join(q[["q10_s", "q90_s"]], on=[*keys, "to_camera"])  # align by key, not by position
    out["p"] = out["n"] / out.groupby(keys)["n"].transform("sum")
    return out


def _cdf(times, a, b):
    if not len(times):
        return 0.0, 0.0
    return np.searchsorted(times, a, side="right") / len(times), np.searchsorted(times, b, side="right") / len(times)
