"""Hotlists: plates of interest (stolen, wanted, AMBER alerts) and the reads that hit them.

An entry has a plate (``?`` / ``*`` wildcards allowed: a partial plate from a
witness), an optional state, a reason, a priority (1 highest), when it was
added and when it expires. :func:`hits` matches reads against the entries
active at read time; with ``include_past=True`` it also returns reads from
before the entry was added (``retro``: where has this plate been?), which is a
search of stored reads and is audited like one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from workbench.errors import TrajectoryError
from workbench.trajectories import audit
from workbench.trajectories.plates import check_pattern, normalize_plate, normalize_state
from workbench.trajectories.search import PlateIndex

ENTRY_COLUMNS = ["plate", "state", "reason", "priority", "added_at", "expires_at"]


class Hotlist:
    """A list of plates of interest.

    Parameters
    ----------
    entries : pandas.DataFrame, optional
        Columns :data:`ENTRY_COLUMNS` (state, priority, added_at, expires_at optional).

    Examples
    --------
    >>> hl = Hotlist()
    >>> hl.add("ABC1234", reason="stolen vehicle", state="OH", priority=1)
    >>> hl.add("XY?12*", reason="robbery suspect (partial plate)")
    >>> len(hl.entries)
    2
    """

    def __init__(self, entries=None):
        self.entries = pd.DataFrame(columns=ENTRY_COLUMNS)
        if entries is not None:
            for row in entries.to_dict("records"):
                self.add(row["plate"], reason=row.get("reason"), state=row.get("state"),
                         priority=row.get("priority", 3), added_at=row.get("added_at"),
                         expires_at=row.get("expires_at"))

    def add(self, plate, *, reason, state=None, priority=3, added_at=None, expires_at=None):
        """Add one entry (wildcards allowed); ``added_at`` defaults to now (UTC)."""
        text = str(plate or "")
        if "?" in text or "*" in text:
            text = check_pattern(text)
        else:
            text = normalize_plate(text)
            if not text:
                raise TrajectoryError(f"hotlist plate {plate!r} has no letters or digits")
        if not reason or not str(reason).strip():
            raise TrajectoryError(f"hotlist entry {plate!r} needs a reason")
        if pd.isna(priority) or int(priority) < 1:
            raise TrajectoryError(f"priority must be a whole number >= 1 (1 highest), got {priority!r}")
        added = _utc(added_at) if added_at is not None and not pd.isna(added_at) else pd.Timestamp.now("UTC")
        expires = _utc(expires_at) if expires_at is not None and not pd.isna(expires_at) else pd.NaT
        row = pd.DataFrame([{"plate": text, "state": normalize_state(state), "reason": str(reason).strip(),
                             "priority": int(priority), "added_at": added, "expires_at": expires}])
        self.entries = pd.concat([self.entries, row], ignore_index=True) if len(self.entries) else row


def _utc(value):
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def hits(reads, hotlist, *, user, reason, case_number=None, include_past=True, lookalike=0, role=None,
         audit_log=None, policy=None) -> pd.DataFrame:
    """Reads that match hotlist entries active at read time (and past reads, ``retro``).

    Parameters
    ----------
    reads : pandas.DataFrame or PlateIndex
    hotlist : Hotlist or pandas.DataFrame
    user, reason, case_number : str
        The audit; the default policy lets a hotlist check run without a case number.
    include_past : bool
        Also match reads from before each entry was added (``retro`` True).
    lookalike : int
        Look-alike substitutions tolerated (0: exact, as an alert should be).
    role, audit_log, policy
        See :func:`workbench.trajectories.search`.

    Returns
    -------
    pandas.DataFrame
        The matching reads with ``hotlist_plate``, ``hotlist_reason``, ``priority``,
        ``retro`` and ``substitutions``, by priority then newest first.

    Examples
    --------
    >>> hits(s.alpr_reads, Hotlist(s.truth["hotlist"]), user="jdoe", role="analyst",
    ...      reason="hotlist check")                                    # doctest: +SKIP
    """
    if isinstance(hotlist, pd.DataFrame):
        hotlist = Hotlist(hotlist)
    entries = hotlist.entries
    parameters = {"hotlist_entries": int(len(entries)), "include_past": include_past, "lookalike": lookalike}
    just = audit.authorize("hits", user, reason, case_number, parameters=parameters, role=role, policy=policy,
                           audit_log=audit_log)
    index = reads if isinstance(reads, PlateIndex) else PlateIndex(reads)
    frame = index.reads
    parts = []
    for entry in entries.itertuples(index=False):  # entries are few; each is one vectorised match
        pattern = "?" in entry.plate or "*" in entry.plate
        subs = index.match_pattern(entry.plate, lookalike) if pattern else index.match_plate(entry.plate, lookalike)
        rows = np.flatnonzero(np.r_[subs, -1][index.codes] >= 0)
        if not len(rows):
            continue
        found = frame.iloc[rows]
        at = pd.to_datetime(found["read_at"], utc=True)
        keep = np.ones(len(found), dtype=bool)
        if pd.notna(entry.expires_at):
            keep &= (at <= entry.expires_at).to_numpy()
        retro = (at < entry.added_at).to_numpy()
        if not include_past:
            keep &= ~retro
        if entry.state is not None and "state" in found:
            st = found["state"].astype("str").str.upper()
            keep &= (st.isna() | st.eq(entry.state)).fillna(True).to_numpy(bool)
        found = found[keep].assign(hotlist_plate=entry.plate, hotlist_reason=entry.reason,
                                   priority=entry.priority, retro=retro[keep],
                                   substitutions=np.r_[subs, -1][index.codes[rows]][keep])
        parts.append(found)
    out = pd.concat(parts) if parts else frame.iloc[:0].assign(
        hotlist_plate=pd.Series(dtype="str"), hotlist_reason=pd.Series(dtype="str"),
        priority=pd.Series(dtype="int64"), retro=pd.Series(dtype=bool), substitutions=pd.Series(dtype="int64"))
    out = out.sort_values(["priority", "read_at"], ascending=[True, False], kind="stable")
    audit.record(just, "hits", parameters=parameters, result_count=len(out), audit_log=audit_log)
    return out
