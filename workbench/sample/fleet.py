"""The synthetic fleet: who drives, from where to where, in what car, under which plate.

Every vehicle has a home anchor (drawn by the city's residential density,
``nodes.pop_weight``), commuters a work anchor (drawn by ``nodes.job_weight``),
and every vehicle four favourite destinations (shops, gyms, friends) drawn by
activity. The kinds:

``commuter``
    Home -> work -> home on office days (every weekday, or about three for the
    four in ten who work hybrid) around a habitual hour (one in eight on night
    shifts), errands in the evening, on days at home and at weekends.
``other``
    Errands only (retired, shift or gig drivers), one to three tours a day.
``convoy``
    Members of a group (leader first) that, on a few days, meet at the
    leader's home and drive to a target and back together, seconds apart.
``cloned``
    A second car carrying the plate of a commuter elsewhere in the city; it
    commutes at the same moment, far away (betrayed by impossible travel:
    on days both commute, it passes its first camera within ~20 s of the
    original passing its own, 3.5 km or more away).
``stolen``
    A car on the hotlist that is driven like ``other`` (by a thief).
``offender``
    The car of an offender planted near a crime scene (see
    :mod:`workbench.sample.itineraries`); lives like ``other`` the rest of the time.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from workbench.sample.itineraries import within
from workbench.sample.plates import random_plates, state_mix

MAKES = np.array(["TOYOTA", "HONDA", "FORD", "CHEVROLET", "NISSAN", "HYUNDAI", "JEEP", "KIA",
                  "SUBARU", "RAM", "GMC", "VOLKSWAGEN", "BMW", "DODGE", "MERCEDES-BENZ", "TESLA"],
                 dtype=object)
MAKE_SHARES = np.array([15, 13, 12, 11, 8, 6, 6, 5, 4, 4, 3, 3, 3, 3, 2, 2], dtype=float)
COLORS = np.array(["WHITE", "BLACK", "GRAY", "SILVER", "BLUE", "RED", "BROWN", "GREEN"], dtype=object)
COLOR_SHARES = np.array([25, 22, 18, 13, 9, 9, 2, 2], dtype=float)

KINDS = ("commuter", "other", "convoy", "cloned", "stolen", "offender")


def _weights(values: np.ndarray) -> np.ndarray:
    w = np.nan_to_num(np.asarray(values, dtype=float), nan=0.0).clip(0)
    if w.sum() <= 0:
        w = np.ones(len(w))
    return w / w.sum()


class Fleet:
    """Arrays describing each vehicle (positions into ``anchors``), built by :func:`build_fleet`.

    Attributes
    ----------
    kind : numpy.ndarray of str
    home, work : numpy.ndarray of int
        Anchor positions; ``work`` is -1 for non-commuters.
    favourites : numpy.ndarray, shape (n, 4)
    habit_s : numpy.ndarray
        Habitual departure, seconds after local midnight.
    office_days : numpy.ndarray
        Expected weekdays a commuter drives to work (hybrid workers fewer).
    driver_factor : numpy.ndarray
        Multiplies free-flow travel time (>= 0.92: nobody drives far above the limit).
    plate, state, make, color : numpy.ndarray of str
    convoy : numpy.ndarray of int
        Convoy group (-1 if none); ``convoy_role`` is "leader" or "member".
    clone_of : numpy.ndarray of int
        For a ``cloned`` vehicle, the vehicle whose plate it carries (-1 otherwise).
    """

    def __init__(self, **arrays):
        self.__dict__.update(arrays)

    def __len__(self):
        return len(self.kind)

    def table(self, anchor_nodes: np.ndarray) -> pd.DataFrame:
        """The ``vehicles`` truth table (node ids, not anchor positions)."""
        work = np.where(self.work >= 0, anchor_nodes[np.maximum(self.work, 0)], -1)
        return pd.DataFrame({
            "vehicle_id": self.vehicle_id,
            "plate": pd.array(self.plate, dtype="str"),
            "state": pd.array(self.state, dtype="str"),
            "make": pd.array(self.make, dtype="str"),
            "color": pd.array(self.color, dtype="str"),
            "home_node": anchor_nodes[self.home].astype(np.int64),
            "work_node": pd.array(np.where(work >= 0, work, None), dtype="Int64"),
            "kind": pd.array(self.kind, dtype="str"),
            "convoy_id": pd.array(np.where(self.convoy >= 0,
                                           np.char.add("CV", np.char.zfill(self.convoy.astype(str), 3)),
                                           None), dtype="str"),
        })


def build_fleet(n_regular, anchor_pop, anchor_job, routes, *, n_convoys,
                n_clones, n_stolen, offender_homes, commuter_share, home_state, rng):
    """Draw the fleet.

    Parameters
    ----------
    n_regular : int
        Commuters and other drivers (special vehicles come on top).
    anchor_pop, anchor_job : numpy.ndarray
        Residential and activity weight of each anchor.
    routes : CameraRoutes
        Fastest paths between the anchors and the cameras they pass.
    n_convoys, n_clones, n_stolen : int
    offender_homes : numpy.ndarray of int
        One anchor per offender vehicle (chosen so its path passes cameras near the scene).
    commuter_share : float
    home_state : str
    rng : numpy.random.Generator

    Returns
    -------
    Fleet
    """
    k = len(anchor_pop)
    passages = routes.passages_per_pair()
    pop_w, job_w = _weights(anchor_pop), _weights(anchor_job)
    sizes = rng.integers(2, 5, n_convoys)
    n_convoy_veh = int(sizes.sum())
    n_off = len(offender_homes)
    n = n_regular + n_convoy_veh + n_clones + n_stolen + n_off
    kind = np.empty(n, dtype=object)
    kind[:n_regular] = np.where(rng.random(n_regular) < commuter_share, "commuter", "other")
    pos = n_regular
    kind[pos:pos + n_convoy_veh] = "convoy"
    convoy = np.full(n, -1, dtype=np.int64)
    convoy[pos:pos + n_convoy_veh] = np.repeat(np.arange(n_convoys), sizes)
    leader = np.zeros(n, dtype=bool)
    leader[pos + np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)] = n_convoys > 0
    pos += n_convoy_veh
    kind[pos:pos + n_clones] = "cloned"
    clone_idx = np.arange(pos, pos + n_clones)
    pos += n_clones
    kind[pos:pos + n_stolen] = "stolen"
    pos += n_stolen
    kind[pos:] = "offender"

    home = rng.choice(k, n, p=pop_w)
    home[pos:] = offender_homes
    work = np.where(kind == "commuter", rng.choice(k, n, p=job_w), -1)
    favourites = rng.choice(k, (n, 4), p=job_w)
    # day shifts leave around 7:30, one commuter in eight works nights (leaves around 21:30);
    # most others start their day mid-morning, some in the evening
    night = rng.random(n) < 0.12
    habit = np.where(night, within(rng.normal(21.5 * 3600, 40 * 60, n), 19.5 * 3600, 23.5 * 3600, rng),
                     within(rng.normal(7.6 * 3600, 65 * 60, n), 5 * 3600, 10.5 * 3600, rng))
    late = rng.random(n) < 0.15
    habit = np.where(kind == "commuter", habit,
                     np.where(late, rng.uniform(16 * 3600, 20 * 3600, n), rng.uniform(8 * 3600, 13 * 3600, n)))
    # hybrid work: four commuters in ten go in three days a week (on random days)
    office_days = np.where(rng.random(n) < 0.4, 2.75, 4.75)
    driver_factor = np.exp(rng.normal(0.06, 0.07, n)).clip(0.92, 1.4)

    # convoy leaders live where a target with >= 4 cameras each way is reachable
    two_way = np.minimum(passages, passages.T)
    need = min(4, int(two_way.max()))
    good_home = np.flatnonzero((two_way >= need).sum(axis=1) > 0)
    home[leader] = rng.choice(good_home, int(leader.sum()))

    # originals of cloned plates: commuters passing a camera each way; the clone commutes
    # between anchors whose first camera is >= 3.5 km from the original's (see sync_clones)
    clone_of = np.full(n, -1, dtype=np.int64)
    commuters = np.flatnonzero(kind == "commuter")
    ptr = routes.pair_ptr
    first_cam = routes.passage_camera[np.minimum(ptr[:-1], len(routes.passage_camera) - 1)]
    cam_xy = np.column_stack([routes.camera_x, routes.camera_y])[first_cam].reshape(k, k, 2)
    pairs = np.argwhere((passages >= 1) & (passages.T >= 1))
    originals = rng.choice(commuters, min(n_clones, len(commuters)), replace=False)
    for c, o in zip(clone_idx, originals):  # a few clones
        home[o], work[o] = pairs[rng.integers(len(pairs))]
        apart = np.hypot(*(cam_xy[pairs[:, 0], pairs[:, 1]] - cam_xy[home[o], work[o]]).T)
        far = np.flatnonzero(apart >= 3500)
        home[c], work[c] = pairs[rng.choice(far) if len(far) else np.argmax(apart)]
        habit[c] = habit[o]
        clone_of[c] = o

    states_list, shares = state_mix(home_state)
    state = np.asarray(states_list, dtype=object)[rng.choice(len(states_list), n, p=shares)]
    plate = random_plates(state, rng)
    make = MAKES[rng.choice(len(MAKES), n, p=MAKE_SHARES / MAKE_SHARES.sum())]
    color = COLORS[rng.choice(len(COLORS), n, p=COLOR_SHARES / COLOR_SHARES.sum())]
    has_clone = clone_of >= 0
    plate[has_clone] = plate[clone_of[has_clone]]
    state[has_clone] = state[clone_of[has_clone]]

    vehicle_id = np.char.add("V", np.char.zfill(np.arange(n).astype(str), 6)).astype(object)
    return Fleet(kind=kind, home=home, work=work, favourites=favourites, habit_s=habit,
                 office_days=office_days,
                 driver_factor=driver_factor, plate=plate, state=state, make=make, color=color,
                 convoy=convoy, convoy_leader=leader, clone_of=clone_of, vehicle_id=vehicle_id)


def sync_clones(legs, fleet, routes, clock, rng):
    """Time each clone's commute so it passes its first camera when the original passes its own.

    Changes ``legs.depart_s`` in place, on the days both commute.
    """
    clones = np.flatnonzero(fleet.clone_of >= 0)
    if len(clones) == 0:
        return
    vehicle = legs.vehicle
    paired = np.zeros(len(fleet), dtype=bool)
    paired[np.concatenate([clones, fleet.clone_of[clones]])] = True
    mine = np.flatnonzero(paired[vehicle])
    commute = mine[(legs.origin[mine] == fleet.home[vehicle[mine]]) & (legs.dest[mine] == fleet.work[vehicle[mine]])]
    day = clock.local(legs.depart_s[commute])[0]
    k = routes.n_anchors
    first_off = routes.passage_offset_s[np.minimum(routes.pair_ptr[:-1], len(routes.passage_offset_s) - 1)]
    for c in clones:  # a few clones
        o = fleet.clone_of[c]
        la, lb = commute[vehicle[commute] == o], commute[vehicle[commute] == c]
        da, db = day[vehicle[commute] == o], day[vehicle[commute] == c]
        both, ia, ib = np.intersect1d(da, db, return_indices=True)
        a, b = la[ia], lb[ib]
        seen_a = legs.depart_s[a] + first_off[fleet.home[o] * k + fleet.work[o]] * legs.factor[a]
        lead_b = first_off[fleet.home[c] * k + fleet.work[c]] * legs.factor[b]
        legs.depart_s[b] = seen_a - lead_b + rng.uniform(-20, 20, len(b))
