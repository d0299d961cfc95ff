"""Plate search: full plates with look-alike tolerance, partial plates with wildcards, filters.

A search works on the *distinct* plates of the reads (hundreds of thousands
against millions of reads): :class:`PlateIndex` factorises the plate column
once and keeps each distinct plate as a row of bytes and its look-alike
canonical form. A query compares positions with numpy (full plates) or runs
one Arrow regex over the canonical forms (patterns), then maps the matching
plates back to reads. Build the index once and pass it instead of the reads
to search a large table repeatedly.

Every search is audited (:mod:`workbench.trajectories.audit`): refused without
a user, reason and case number, recorded with its parameters and result count
before the results are returned.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from workbench.errors import TrajectoryError
from workbench.trajectories import audit
from workbench.trajectories.plates import (canonical_matrix, check_pattern, normalize_plate, normalize_state,
                                           pattern_regex, plate_matrix)
from workbench.trajectories._dask import dask_aware

EARTH_RADIUS_M = 6_371_008.8


class PlateIndex:
    """The distinct plates of a reads table, ready for fast searches.

    Parameters
    ----------
    reads : pandas.DataFrame
        Canonical ``alpr_reads`` (at least ``plate``). A categorical ``plate``
        column is used as is (no factorising).

    Attributes
    ----------
    reads : pandas.DataFrame
    codes : numpy.ndarray of int
        Position of each read's plate in :attr:`plates` (-1 for a missing plate).
    plates : numpy.ndarray of str
        Distinct plates.

    Examples
    --------
    >>> index = PlateIndex(workbench.load_sample().alpr_reads)          # doctest: +SKIP
    >>> search(index, plate="ABC1234", user="jdoe", role="investigator",
    ...        reason="robbery follow-up", case_number="25-000123")   # doctest: +SKIP
    """

    def __init__(self, reads):
        if not isinstance(reads, pd.DataFrame) or "plate" not in reads.columns:
            raise TrajectoryError("search needs a DataFrame of alpr_reads with a plate column")
        self.reads = reads
        plate = reads["plate"]
        if isinstance(plate.dtype, pd.CategoricalDtype):
            self.codes = plate.cat.codes.to_numpy()
            self.plates = np.asarray(plate.cat.categories.astype(str))
        else:
            codes, uniques = pd.factorize(plate)
            self.codes, self.plates = codes, np.asarray(uniques.astype(str))
        self.lengths = np.fromiter((len(p) for p in self.plates), dtype=np.int64, count=len(self.plates))
        self.matrix = plate_matrix(self.plates)
        self.canonical = canonical_matrix(self.matrix)
        width = self.matrix.shape[1]
        self._canonical_text = pa.array(self.canonical.view(f"S{width}").ravel()).cast(pa.string())
        self._text = pa.array(self.plates.astype(object), pa.string())

    def match_plate(self, plate: str, lookalike: int) -> np.ndarray:
        """Substitutions needed for each distinct plate to read as ``plate`` (-1: no match)."""
        width = self.matrix.shape[1]
        subs = np.full(len(self.plates), -1, dtype=np.int64)
        if len(plate) > width:
            return subs
        q = plate_matrix([plate], width)[0]
        cand = np.flatnonzero(self.lengths == len(plate))
        canon_q = canonical_matrix(q)
        same_class = (self.canonical[cand] == canon_q).all(axis=1)
        cand = cand[same_class]
        n_sub = (self.matrix[cand] != q).sum(axis=1)
        keep = n_sub <= lookalike
        subs[cand[keep]] = n_sub[keep]
        return subs

    def match_pattern(self, pattern: str, lookalike: int) -> np.ndarray:
        """Like :meth:`match_plate` for a checked pattern (``?`` and ``*``)."""
        subs = np.full(len(self.plates), -1, dtype=np.int64)
        exact = pc.match_substring_regex(self._text, pattern_regex(pattern, lookalike=False))
        exact = np.asarray(exact.to_numpy(zero_copy_only=False), dtype=bool)
        if lookalike <= 0:
            subs[exact] = 0
            return subs
        loose = pc.match_substring_regex(self._canonical_text, pattern_regex(pattern, lookalike=True))
        loose = np.asarray(loose.to_numpy(zero_copy_only=False), dtype=bool)
        rows = np.flatnonzero(loose & ~exact)
        subs[exact] = 0
        if "*" not in pattern:  # fixed length: count the substituted known positions
            known = np.array([ch != "?" for ch in pattern])
            q = plate_matrix([pattern.replace("?", "#")], self.matrix.shape[1])[0]
            diff = (self.matrix[rows][:, : len(pattern)] != q[: len(pattern)]) & known
            subs[rows] = diff.sum(axis=1)
        else:  # a run of unknown length: try the fewest loosened known characters that match
            subs[rows] = _fewest_substitutions(self._text.take(pa.array(rows)), pattern, lookalike)
        subs[subs > lookalike] = -1
        return subs


def _fewest_substitutions(plates: pa.Array, pattern: str, most: int) -> np.ndarray:
    """For plates matching ``pattern`` up to look-alikes: the fewest look-alike characters needed (most + 1 if more)."""
    from itertools import combinations

    from workbench.trajectories.plates import CANONICAL, LOOKALIKE_CLASSES

    group = {CANONICAL[g[0]]: g for g in LOOKALIKE_CLASSES}
    known = [i for i, ch in enumerate(pattern) if ch not in "?*"]
    out = np.full(len(plates), most + 1, dtype=np.int64)
    for n in range(1, most + 1):
        for chosen in combinations(known, n):  # candidates are few; patterns are short
            parts = []
            for i, ch in enumerate(pattern):
                if ch == "?":
                    parts.append(".")
                elif ch == "*":
                    parts.append(".*")
                elif i in chosen:
                    parts.append("[" + re.escape(group.get(CANONICAL.get(ch, ch), ch)) + "]")
                else:
                    parts.append(re.escape(ch))
            hit = pc.match_substring_regex(plates, "^" + "".join(parts) + "$").to_numpy(zero_copy_only=False)
            out = np.where(np.asarray(hit, dtype=bool) & (out > n), n, out)
    return out


def _check_when(value, name):
    if value is None:
        return None
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise TrajectoryError(f"{name} must be a time, got {value!r}") from None
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def haversine_m(lon1, lat1, lon2, lat2):
    """Great-circle distance in metres (vectorised)."""
    lon1, lat1, lon2, lat2 = (np.radians(np.asarray(v, dtype=float)) for v in (lon1, lat1, lon2, lat2))
    h = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(h, 0, 1)))


@dask_aware("search")
def search(reads, plate=None, pattern=None, lookalike=1, state=None, start=None, end=None, near=None,
           radius_m=None, make=None, color=None, *, user, reason, case_number, role=None, cameras=None,
           audit_log=None, policy=None) -> pd.DataFrame:
    """Find reads of a plate, a partial plate or a look-alike of either, ranked by match quality.

    Parameters
    ----------
    reads : pandas.DataFrame or PlateIndex
        Canonical ``alpr_reads``, or an index built from them.
    plate : str, optional
        Full plate; separators and case are ignored.
    pattern : str, optional
        Partial plate: ``?`` one unknown character, ``*`` any run (``"AB?12*"``).
    lookalike : int
        Most look-alike substitutions tolerated (``0`` exact; ``8`` for ``B`` ...).
    state : str, optional
        Plate state (code or name).
    start, end : time, optional
        Reads in ``[start, end]``.
    near : (lon, lat), optional
        With ``radius_m``: reads within that distance (read position, or the
        camera's when ``cameras`` is given).
    make, color : str, optional
        Vehicle make / colour (case-insensitive).
    user, reason, case_number : str
        Who searches, why, for which case: required (see
        :mod:`workbench.governance.policy`).
    role : str, optional
        The user's role; else the user is looked up in the users file.
    cameras : pandas.DataFrame, optional
        Positions of fixed cameras for reads without their own lon/lat.
    audit_log : workbench.governance.audit.AuditLog, optional
        Default: :func:`workbench.governance.audit.default_log`.
    policy : workbench.governance.policy.SearchPolicy, optional

    Returns
    -------
    pandas.DataFrame
        The matching reads with ``match`` (exact / lookalike), ``substitutions``
        and ``score`` (1 for exact, 1 / (1 + substitutions) otherwise), best
        first, then newest first.

    Raises
    ------
    AuditError, PermissionDenied
        Missing justification or permission (the refused attempt is logged).
    TrajectoryError
        No plate or pattern, a malformed pattern, or bad filters.

    Examples
    --------
    >>> hits = search(reads, pattern="HAD?435", user="jdoe", role="investigator",
    ...               reason="robbery follow-up", case_number="25-000123")   # doctest: +SKIP
    """
    parameters = {"plate": plate, "pattern": pattern, "lookalike": lookalike, "state": state,
                  "start": start, "end": end, "near": list(near) if near is not None else None,
                  "radius_m": radius_m, "make": make, "color": color}
    just = audit.authorize("plate_search", user, reason, case_number, parameters=parameters, role=role,
                           policy=policy, audit_log=audit_log)
    if plate is None and pattern is None:
        raise TrajectoryError("search needs a plate or a pattern")
    if not isinstance(lookalike, (int, np.integer)) or isinstance(lookalike, bool) or lookalike < 0:
        raise TrajectoryError(f"lookalike must be a whole number of substitutions >= 0, got {lookalike!r}")
    if (near is None) != (radius_m is None):
        raise TrajectoryError("near and radius_m go together: give both or neither")
    start, end = _check_when(start, "start"), _check_when(end, "end")
    state = normalize_state(state)
    index = reads if isinstance(reads, PlateIndex) else PlateIndex(reads)

    if plate is not None:
        if "?" in str(plate) or "*" in str(plate):
            raise TrajectoryError(f"plate {plate!r} holds wildcards: pass it as pattern=")
        q = normalize_plate(str(plate))
        if not q:
            raise TrajectoryError(f"plate {plate!r} has no letters or digits")
        subs = index.match_plate(q, int(lookalike))
        if pattern is not None:
            other = index.match_pattern(check_pattern(pattern), int(lookalike))
            subs = np.where((subs >= 0) & (other >= 0), np.maximum(subs, other), -1)
    else:
        subs = index.match_pattern(check_pattern(pattern), int(lookalike))

    code_subs = np.r_[subs, -1]  # code -1 (missing plate) never matches
    read_subs = code_subs[index.codes]
    rows = np.flatnonzero(read_subs >= 0)
    found = index.reads.iloc[rows]
    keep = np.ones(len(found), dtype=bool)
    if start is not None or end is not None:
        at = pd.to_datetime(found["read_at"], utc=True)
        if start is not None:
            keep &= (at >= start).to_numpy()
        if end is not None:
            keep &= (at <= end).to_numpy()
    if state is not None:
        keep &= found["state"].astype("str").str.upper().eq(state).fillna(False).to_numpy(bool) \
            if "state" in found else np.zeros(len(found), bool)
    for name, value in (("make", make), ("color", color)):
        if value is not None:
            keep &= found[name].astype("str").str.upper().eq(str(value).strip().upper()).fillna(False) \
                .to_numpy(bool) if name in found else np.zeros(len(found), bool)
    if near is not None:
        lon, lat = _positions(found, cameras)
        keep &= np.nan_to_num(haversine_m(lon, lat, near[0], near[1]), nan=np.inf) <= float(radius_m)
    found = found[keep].copy()
    n_sub = read_subs[rows][keep]
    found["match"] = np.where(n_sub == 0, "exact", "lookalike")
    found["substitutions"] = n_sub
    found["score"] = 1.0 / (1.0 + n_sub)
    found = found.sort_values(["substitutions", "read_at"], ascending=[True, False], kind="stable")
    audit.record(just, "plate_search", parameters=parameters, result_count=len(found), audit_log=audit_log)
    return found


def _positions(found, cameras):
    lon = found["lon"].to_numpy(float) if "lon" in found else np.full(len(found), np.nan)
    lat = found["lat"].to_numpy(float) if "lat" in found else np.full(len(found), np.nan)
    if cameras is not None and "camera_id" in found:
        cams = cameras.drop_duplicates("camera_id").set_index("camera_id")
        at = cams.reindex(found["camera_id"].astype(object))
        lon = np.where(np.isnan(lon), at["lon"].to_numpy(float), lon)
        lat = np.where(np.isnan(lat), at["lat"].to_numpy(float), lat)
    return lon, lat
