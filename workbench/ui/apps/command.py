"""Command Overview (command staff, read-only): live KPIs and map, this week's hot spots, RTCC performance.

No search of any kind happens here: the hotlist hit counts come from the
system's own audited screening of reads (:class:`workbench.ui.live.HotlistScreen`),
shared by every session, and the page shows numbers, never plates. With a live feed the page checks the
shared workspace's version every half second and redraws when the poller has
stored something new.
"""

from __future__ import annotations

import pandas as pd
import panel as pn
import param

from workbench import evaluation, hotspots
from workbench.briefing.card import LiveBriefings
from workbench.ui import layers
from workbench.ui.components import KPICards, MapView, Status, display_frame, run_busy, table
from workbench.ui.live import hotlist_screen

REFRESH_MS = 500


def window_counts(workspace, now: pd.Timestamp) -> dict:
    """Calls, incidents and gunshot alerts in the last hour and day before ``now`` (a count, for the cards)."""
    out = {}
    for label, name, column in (("Calls", "calls", "received_at"), ("Incidents", "incidents", "occurred_at"),
                                ("Gunshot alerts", "gunshots", "detected_at")):
        frame = workspace.tables.get(name)
        times = frame[column] if frame is not None else pd.Series(dtype="datetime64[ns, UTC]")
        for span, delta in (("hour", pd.Timedelta(hours=1)), ("day", pd.Timedelta(days=1))):
            out[f"{label}, last {span}"] = int(((times > now - delta) & (times <= now)).sum())
    return out


class CommandOverview(pn.viewable.Viewer):
    """What is happening now, where this week's hot spots are, how the RTCC performs.

    Parameters
    ----------
    workspace : Workspace
        With ``workspace.live`` set, the page follows the live feed.
    """

    workspace = param.Parameter()
    tiles = param.String(default="")

    def __init__(self, **params):
        super().__init__(**params)
        ws = self.workspace
        self.status = Status()
        self.kpis = KPICards()
        self.map = MapView(workspace=ws, tiles=self.tiles, title="Last 24 hours: calls and incidents, gunshot "
                                                               "alerts, this week's Gi* hot spots", height=520)
        self.latest = table(page_size=8)
        self.performance = table(page_size=4)
        self.feed_status = pn.pane.Markdown(sizing_mode="stretch_width")
        self.briefings = LiveBriefings(workspace=ws)  # each new priority call's briefing, from the live feed
        self._seen = -1
        self._hotspots_at = None
        self.refresh()
        self._callback = None
        if ws.live is not None and pn.state.curdoc is not None:
            self._callback = pn.state.add_periodic_callback(self._check, period=REFRESH_MS)

    def _check(self):
        live = self.workspace.live
        if live is not None and live.version != self._seen:
            self.refresh()

    def refresh(self):
        """Recount the KPIs and redraw the live layers (hot spots and performance once a day)."""
        ws = self.workspace

        def work():
            live = ws.live
            self._seen = live.version if live is not None else 0
            now = ws.now()
            counts = window_counts(ws, now)
            screen = hotlist_screen(ws)
            if screen is not None:  # the system's audited check; this page sees counts only
                counts.update(screen.counts(now))
            self.kpis.values = counts
            day = now - pd.Timedelta(days=1)
            calls = ws.calls[ws.calls["received_at"] > day]
            incidents = ws.incidents[ws.incidents["occurred_at"] > day]
            points = pd.concat([calls[["web_x", "web_y"]], incidents[["web_x", "web_y"]]], ignore_index=True)
            alerts = ws.gunshots[ws.gunshots["detected_at"] > day]
            self.map.param.update(points=points.dropna(),
                                  alerts=alerts[["web_x", "web_y", "alert_id", "detected_at", "rounds"]])
            if self._hotspots_at is None or now.floor("D") != self._hotspots_at:
                self._hotspots_at = now.floor("D")
                week = ws.incidents[ws.incidents["occurred_at"] > now - pd.Timedelta(days=7)]
                if len(week) >= 30:
                    result = hotspots.gistar(week, 250.0)
                    cells = hotspots.to_geodataframe(result, drop_empty=True)
                    cells = cells[cells["significant"].astype(bool) & (cells["z"] > 0)]
                    self.map.param.update(cells=layers.to_mercator_frame(cells, "z"), cell_value="z")
                rates = evaluation.clearance_rates(ws.cases, by=["rtcc_assisted"], freq=None)
                self.performance.value = rates.assign(rtcc_assisted=rates["rtcc_assisted"].astype(str)).round(3)
            rows = list(live.recent)[-20:] if live is not None else []
            if rows:
                frame = pd.DataFrame(rows, columns=["table", "id", "at", "stored_at"]).iloc[::-1]
                self.latest.value = display_frame(frame, ws.tz)
                self.feed_status.object = "**Live feed:** " + "; ".join(live.health())
            elif live is None:
                self.feed_status.object = "Historical data (no live feed): figures are as of the latest record."
            local = now.tz_convert(ws.tz)
            return f"As of {local:%Y-%m-%d %H:%M} ({ws.tz})"

        run_busy(self.status, [], work, busy_message="Refreshing…")

    def __panel__(self):
        return pn.Column(self.status, self.kpis, self.briefings,
                         pn.Row(self.map, pn.Column("#### Latest live records", self.latest,
                                                    "#### RTCC performance: clearance by RTCC assistance",
                                                    self.performance, self.feed_status, width=460),
                                sizing_mode="stretch_width"),
                         sizing_mode="stretch_width")


def command_overview(workspace=None, tiles: str = "") -> pn.viewable.Viewable:
    """Serve factory: a new Command Overview for one session."""
    from workbench.ui.data import load_workspace

    return CommandOverview(workspace=workspace or load_workspace(), tiles=tiles)
