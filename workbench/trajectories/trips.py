"""The result of :func:`~workbench.trajectories.reconstruct`: trips, reads, legs and the quarantine."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from workbench.trajectories.network import CameraNetwork


@dataclass
class Trips:
    """What :func:`reconstruct` found.

    Attributes
    ----------
    trips : pandas.DataFrame
        trip_id, plate, start, end, n_reads (all reads placed in the trip),
        n_sightings (after merging repeats), camera_ids (ordered array of the
        sightings' cameras, or devices for mobile reads), length_m, mean_speed_kmh.
    reads : pandas.DataFrame
        read_id, plate, read_at, trip_id, is_repeat (merged into the sighting before it).
    legs : pandas.DataFrame
        Consecutive sightings of a plate no more than ``max_gap`` apart: trip_id
        (of the first sighting), plate, from_read_id, to_read_id, from_camera,
        to_camera, depart, arrive, travel_s, distance_m (lower bound: road or
        straight line), min_travel_s (at posted speeds, if roads were given),
        speed_kmh (implied), plausible (False: impossible travel; missing: no
        location to judge), route (edge ids of the fastest road route), flag
        (``impossible_travel``: a cloned plate or misread suspect;
        ``device_disagreement``: too fast between two mobile readers, whose
        positions or clocks disagree; missing otherwise).
    quarantine : pandas.DataFrame
        Input rows that could not be placed, with ``reason``.
    network : CameraNetwork or None
    params : dict
    """

    trips: pd.DataFrame
    reads: pd.DataFrame
    legs: pd.DataFrame
    quarantine: pd.DataFrame
    network: CameraNetwork | None = None
    params: dict = field(default_factory=dict)

    def flagged_plates(self) -> pd.DataFrame:
        """Plates with impossible travel (cloned-plate or misread suspects), most flags first.

        Legs flagged ``device_disagreement`` are left out: they say the readers disagree.

        Returns
        -------
        pandas.DataFrame
            plate, n_impossible, n_legs, first_at, last_at, max_speed_kmh.
        """
        legs = self.legs
        bad = legs[legs["flag"].eq("impossible_travel").fillna(False).to_numpy(bool)]
        if not len(bad):
            return pd.DataFrame(columns=["plate", "n_impossible", "n_legs", "first_at", "last_at", "max_speed_kmh"])
        out = bad.groupby("plate", observed=True).agg(
            n_impossible=("plausible", "size"), first_at=("depart", "min"), last_at=("arrive", "max"),
            max_speed_kmh=("speed_kmh", "max"))
        out["n_legs"] = legs.groupby("plate", observed=True).size().reindex(out.index).to_numpy()
        return out.reset_index().sort_values(["n_impossible", "max_speed_kmh"], ascending=False,
                                             ignore_index=True)[
            ["plate", "n_impossible", "n_legs", "first_at", "last_at", "max_speed_kmh"]]

    def summary(self) -> dict:
        """Counts for a report: reads, trips, multi-read trips, repeats merged, impossible legs, quarantined."""
        plausible = self.legs["plausible"]
        return {
            "reads": int(len(self.reads)),
            "trips": int(len(self.trips)),
            "multi_sighting_trips": int((self.trips["n_sightings"] > 1).sum()),
            "repeats_merged": int(self.reads["is_repeat"].sum()),
            "legs": int(len(self.legs)),
            "legs_unjudged": int(plausible.isna().sum()),
            "impossible_legs": int(plausible.eq(False).fillna(False).sum()),
            "device_disagreements": int(self.legs["flag"].eq("device_disagreement").sum()),
            "flagged_plates": int(self.legs.loc[self.legs["flag"].eq("impossible_travel").fillna(False)
                                                .to_numpy(bool), "plate"].nunique()),
            "quarantined": int(len(self.quarantine)),
        }
