"""Panel views of call briefings: one compact card, and the live list for the Command Overview.

The only module of :mod:`workbench.briefing` that imports Panel. Cards show
hotlist hits as a count unless ``plates=True`` (command staff see numbers,
never plates, as elsewhere on the Command Overview).
"""

from __future__ import annotations

import html

import panel as pn
import param

from workbench.briefing.result import Briefing

REFRESH_MS = 250  # the check compares two integers; the card follows within a quarter second
_CSS = """
.briefing-card {border-left: 4px solid #b3261e; padding: 4px 10px; margin: 4px 0; background: #fff;
                font-size: 13px; line-height: 1.35;}
.briefing-card h4 {margin: 2px 0 4px 0;}
.briefing-card .facts {color: #333; margin: 2px 0;}
.briefing-card .person {color: #8a1c12; font-style: italic; margin-top: 4px;}
"""


def _rows(frame, columns, n=4) -> str:
    if frame is None or not len(frame):
        return ""
    items = []
    for row in frame.head(n).to_dict("records"):
        items.append(" · ".join(html.escape(str(row[c])) for c in columns if row.get(c) not in (None, "")))
    return "<br>".join(items)


def card_html(b: Briefing, plates: bool = False) -> str:
    """The card's HTML for one briefing (summary, premise counts, cameras, routes out, what was not checked)."""
    call = b.call
    title = (f"{html.escape(str(call.get('call_id') or 'Location'))} — "
             f"{html.escape(str(call.get('call_type') or '').replace('_', ' '))}"
             f"{' (P' + str(call['priority']) + ')' if call.get('priority') is not None else ''} — "
             f"{html.escape(str(call.get('address') or 'no address'))}")
    parts = [f"<h4>Briefing {title}</h4>", f"<div class='summary'>{html.escape(b.summary)}</div>"]
    if len(b.premise_counts):
        cols = [c for c in b.premise_counts.columns if c.startswith("last_")]
        lines = [f"{r['type'].replace('_', ' ')} ({r['source']}): " + " / ".join(str(r[c]) for c in cols)
                 for r in b.premise_counts.head(5).to_dict("records")]
        parts.append(f"<div class='facts'><b>Premise ({' / '.join(c[5:] for c in cols)}):</b> "
                     f"{html.escape('; '.join(lines))}</div>")
    if len(b.cameras):
        cams = b.cameras.assign(dist=b.cameras["distance_m"].round().astype(int).astype(str) + " m",
                                faces="faces " + b.cameras["facing"].replace("", "?"))
        parts.append("<div class='facts'><b>Cameras:</b><br>"
                     + _rows(cams, ["camera_id", "kind", "owner", "faces", "dist"]) + "</div>")
    if b.escape_cameras is not None and len(b.escape_cameras):
        esc = b.escape_cameras.assign(mins=(b.escape_cameras["seconds"] / 60).round(1).astype(str) + " min")
        parts.append("<div class='facts'><b>Plate readers on routes out:</b><br>"
                     + _rows(esc, ["camera_id", "name", "mins"]) + "</div>")
    if b.hotlist_hits is not None and len(b.hotlist_hits):
        text = _rows(b.hotlist_hits, ["plate", "hotlist_reason", "camera_id"]) if plates \
            else f"{len(b.hotlist_hits)} (plates on the officers' terminals)"
        parts.append(f"<div class='facts'><b>Hotlist hits nearby, last hour:</b> {text}</div>")
    parts.append(f"<div class='person'>{html.escape(b.person_note)}</div>")
    return f"<div class='briefing-card' data-call-id='{html.escape(str(call.get('call_id') or ''))}'>" \
           + "".join(parts) + "</div>"


class BriefingCard(pn.viewable.Viewer):
    """A compact card for one :class:`~workbench.briefing.Briefing`.

    Parameters
    ----------
    briefing : Briefing
    plates : bool
        Show the plates of hotlist hits (False: the count only).

    Examples
    --------
    >>> BriefingCard(briefing=b).servable()                       # doctest: +SKIP
    """

    briefing = param.ClassSelector(class_=Briefing, allow_None=True)
    plates = param.Boolean(default=False)

    def __init__(self, **params):
        super().__init__(**params)
        self._pane = pn.pane.HTML(sizing_mode="stretch_width", stylesheets=[_CSS])
        self._render()

    @param.depends("briefing", "plates", watch=True)
    def _render(self):
        self._pane.object = card_html(self.briefing, self.plates) if self.briefing is not None else ""

    def __panel__(self):
        return self._pane


class LiveBriefings(pn.viewable.Viewer):
    """Briefings of new priority calls as the live feed brings them, newest first.

    Follows the workspace's shared :class:`~workbench.briefing.live.BriefingService`
    with a half-second check of its version; empty without a live feed.

    Parameters
    ----------
    workspace : workbench.ui.data.Workspace
    shown : int
        Cards shown.
    """

    workspace = param.Parameter()
    shown = param.Integer(default=3)

    def __init__(self, **params):
        from workbench.briefing.live import workspace_service

        super().__init__(**params)
        self.service = workspace_service(self.workspace)
        self._pane = pn.pane.HTML(sizing_mode="stretch_width", stylesheets=[_CSS])
        self._seen = -1
        self._check()
        if self.service is not None and pn.state.curdoc is not None:
            pn.state.add_periodic_callback(self._check, period=REFRESH_MS)

    def _check(self):
        if self.service is None or self.service.version == self._seen:
            return
        self._seen = self.service.version
        latest = list(self.service.briefings)[: self.shown]
        self._pane.object = "".join(card_html(b) for b in latest) if latest else \
            "<div class='briefing-card'>No new priority call yet.</div>"

    def __panel__(self):
        if self.service is None:
            return pn.Column(visible=False)
        return pn.Column("#### Call briefings: new priority calls", self._pane, sizing_mode="stretch_width")
