"""The :class:`Briefing` a call briefing returns, and its plain-language and terminal renderings.

The same object feeds the Panel card (:mod:`workbench.briefing.card`), the JSON
a mobile data terminal (MDT) receives, and a fixed-width text version for
terminals that only show text.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

#: Said on every briefing, so nobody reads silence as "no warrants".
PERSON_NOTE = ("No person checks (names, warrants, criminal history) were made: the workbench holds no "
               "person records. Run those through the agency's own systems.")


@dataclass
class Briefing:
    """What the RTCC tells units before they arrive at a call.

    Attributes
    ----------
    call : dict
        ``call_id``, ``call_type``, ``priority``, ``received_at``, ``address``,
        ``lon``, ``lat``, ``vehicle_involved`` (missing values as None).
    at : pandas.Timestamp
        The moment the briefing describes (UTC): history is what came before it.
    summary : str
        One plain-language paragraph, the top of every rendering.
    premise : pandas.DataFrame
        Prior calls and incidents at the address or within ``premise_radius_m``:
        ``source`` (call / incident), ``id``, ``at``, ``type``, ``severity``
        (1 most serious), ``firearm``, ``address``, ``distance_m``,
        ``same_address``; most serious first, then newest.
    premise_counts : pandas.DataFrame
        ``source``, ``type``, ``severity`` and one count column per look-back
        (``last_30d``, ``last_365d``, ...), most serious first.
    violent_nearby : pandas.DataFrame
        Violent incidents within ``nearby_radius_m`` in the last ``nearby_days``:
        ``incident_id``, ``occurred_at``, ``offense``, ``firearm``, ``address``, ``distance_m``; newest first.
    gunshots_nearby : pandas.DataFrame
        Gunshot alerts likewise: ``alert_id``, ``detected_at``, ``rounds``, ``confidence``, ``distance_m``.
    hotspot : dict or None
        :meth:`BriefingContext.hotspot_at` at the call (None when not looked up).
    cameras : pandas.DataFrame
        Cameras within ``camera_radius_m`` in service at the time, nearest first:
        ``camera_id``, ``kind``, ``owner``, ``name``, ``heading``, ``facing``, ``distance_m``.
    escape_cameras : pandas.DataFrame or None
        For a vehicle call, the fixed plate readers a vehicle leaving the call
        can reach within ``escape_minutes``: ``camera_id``, ``name``, ``facing``,
        ``seconds``, ``distance_m``; soonest first. None when not looked up.
    hotlist_hits : pandas.DataFrame or None
        Reads of hotlisted plates within ``hit_radius_m`` in the last hour:
        ``read_id``, ``read_at``, ``camera_id``, ``plate``, ``hotlist_reason``, ``priority``, ``distance_m``.
    not_looked_up : list of str
        Each thing that could not be looked up, and why.
    settings : dict
        The radii and windows used.
    query_ms : dict
        Wall time of each store query the briefing made (milliseconds).
    tz : str
        Time zone for display.
    """

    call: dict
    at: pd.Timestamp
    summary: str
    premise: pd.DataFrame
    premise_counts: pd.DataFrame
    violent_nearby: pd.DataFrame
    gunshots_nearby: pd.DataFrame
    hotspot: dict | None
    cameras: pd.DataFrame
    escape_cameras: pd.DataFrame | None
    hotlist_hits: pd.DataFrame | None
    not_looked_up: list = field(default_factory=list)
    settings: dict = field(default_factory=dict)
    query_ms: dict = field(default_factory=dict)
    tz: str = "UTC"
    person_note: str = PERSON_NOTE

    # ------------------------------------------------------------ renderings
    def local(self, ts) -> str:
        """``ts`` as local ``YYYY-MM-DD HH:MM`` in :attr:`tz`."""
        if ts is None or pd.isna(ts):
            return "time unknown"
        return f"{pd.Timestamp(ts).tz_convert(self.tz):%Y-%m-%d %H:%M}"

    def to_dict(self, plates: bool = True) -> dict:
        """A JSON-safe dictionary (for an MDT or an API).

        Parameters
        ----------
        plates : bool
            Include the plates of hotlist hits (False gives the count only, as
            command staff see it).
        """
        hits = None
        if self.hotlist_hits is not None:
            frame = self.hotlist_hits if plates else self.hotlist_hits.drop(columns=["plate"], errors="ignore")
            hits = _records(frame) if plates else {"count": int(len(frame))}
        return {
            "call": _jsonable(self.call), "at": self.at.isoformat(), "summary": self.summary,
            "premise_counts": _records(self.premise_counts), "premise": _records(self.premise),
            "violent_nearby": _records(self.violent_nearby), "gunshots_nearby": _records(self.gunshots_nearby),
            "hotspot": _jsonable(self.hotspot), "cameras": _records(self.cameras),
            "escape_cameras": None if self.escape_cameras is None else _records(self.escape_cameras),
            "hotlist_hits": hits, "not_looked_up": list(self.not_looked_up), "person_note": self.person_note,
            "settings": _jsonable(self.settings),
        }

    def to_json(self, plates: bool = True, **kwargs) -> str:
        """:meth:`to_dict` as a JSON string."""
        return json.dumps(self.to_dict(plates), **kwargs)

    def to_text(self, width: int = 72, rows: int = 5) -> str:
        """Plain fixed-width text for a mobile data terminal: summary first, then short lists.

        Parameters
        ----------
        width : int
            Line width the summary is wrapped to.
        rows : int
            Rows shown of each list.
        """
        import textwrap

        call = self.call
        head = f"BRIEFING {call.get('call_id') or ''} {str(call.get('call_type') or '').upper()}".strip()
        lines = [head, f"AT {call.get('address') or 'no address'}  {self.local(self.at)} {self.tz}",
                 "", *textwrap.wrap(self.summary, width), ""]
        if len(self.premise_counts):
            cols = [c for c in self.premise_counts.columns if c.startswith("last_")]
            lines.append("PREMISE HISTORY (" + " / ".join(c[5:] for c in cols) + ")")
            for row in self.premise_counts.head(rows * 2).itertuples(index=False):
                counts = " / ".join(str(getattr(row, c)) for c in cols)
                lines.append(f"  {row.source:<8} {row.type:<24} {counts}")
        for title, frame, when, what in (("VIOLENT NEARBY", self.violent_nearby, "occurred_at", "offense"),
                                         ("GUNSHOT ALERTS NEARBY", self.gunshots_nearby, "detected_at", "alert_id")):
            if len(frame):
                lines.append(title)
                for row in frame.head(rows).to_dict("records"):
                    lines.append(f"  {self.local(row[when])}  {row[what]:<22} {row['distance_m']:.0f} m")
        if len(self.cameras):
            lines.append("CAMERAS (nearest first)")
            for row in self.cameras.head(rows).to_dict("records"):
                lines.append(f"  {row['camera_id']:<10} {row['kind']:<9} {str(row['owner'] or ''):<12} "
                             f"faces {row['facing'] or '?':<2} {row['distance_m']:.0f} m")
        if self.escape_cameras is not None and len(self.escape_cameras):
            lines.append(f"PLATE READERS ON ROUTES OUT ({self.settings.get('escape_minutes')} min)")
            for row in self.escape_cameras.head(rows).to_dict("records"):
                lines.append(f"  {row['camera_id']:<10} {row['name'] or '':<30} {row['seconds'] / 60:.1f} min")
        if self.hotlist_hits is not None and len(self.hotlist_hits):
            lines.append("HOTLIST HITS NEARBY, LAST HOUR")
            for row in self.hotlist_hits.head(rows).to_dict("records"):
                lines.append(f"  {self.local(row['read_at'])}  {row['plate']:<9} {row['hotlist_reason']} "
                             f"at {row['camera_id']}")
        if self.not_looked_up:
            lines.append("NOT LOOKED UP")
            lines += [f"  {text}" for text in self.not_looked_up]
        lines += ["", *textwrap.wrap(self.person_note, width)]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.isoformat()
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    return value


def _records(frame: pd.DataFrame) -> list:
    return [_jsonable(row) for row in frame.to_dict("records")]
