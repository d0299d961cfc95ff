"""Reusable dashboard components (``pn.viewable.Viewer``): map, filters, KPI cards, tables, status.

Views draw; engines compute. The map takes tables that already carry Web
Mercator ``x`` / ``y`` (see :mod:`workbench.ui.data`) and engine results
converted for drawing by :mod:`workbench.ui.layers`. Every layer is a
DynamicMap built once and driven by a parameter, so changing what is shown
never rebuilds the plot.
"""

from __future__ import annotations

import traceback

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import param
from holoviews.operation.datashader import rasterize

from workbench.errors import WorkbenchError
from workbench.ui import layers

hv.extension("bokeh", logo=False)

MAP_HEIGHT = 560


def _empty_points():
    return pd.DataFrame({"x": pd.Series(dtype=float), "y": pd.Series(dtype=float)})


def xy(frame: pd.DataFrame | None) -> pd.DataFrame | None:
    """A table's Web Mercator columns as ``x`` / ``y`` for drawing (other columns kept)."""
    if frame is None or "web_x" not in frame.columns:
        return frame
    return frame.drop(columns=[c for c in ("x", "y") if c in frame.columns]).rename(
        columns={"web_x": "x", "web_y": "y"})


class _Changed(hv.streams.Stream):
    """A layer's data changed: the DynamicMap redraws from the view's parameter.

    The streams carry a version number, not the table: HoloViews hashes stream
    values on every pan or zoom to memoise each layer, and hashing a million-row
    table took seconds per event.
    """

    version = param.Integer(default=0)


#: MapView parameter(s) -> the layer they redraw.
_LAYERS = {"points": ("points",), "cells": ("cells", "cell_value"), "areas": ("areas",),
           "cameras": ("cameras",), "alerts": ("alerts",), "tracks": ("tracks",)}


class MapView(pn.viewable.Viewer):
    """The single pane of glass: datashaded points over the city's streets, with overlays.

    Parameters
    ----------
    workspace : Workspace
        Gives the basemap (roads and districts) when no ``tiles`` URL is named.
    points : DataFrame
        Web Mercator points (``web_x`` / ``web_y``, as the workspace's tables carry, or
        ``x`` / ``y``), rasterised (any number of rows).
    cells : DataFrame
        Hot spot cells or polygons from :func:`workbench.ui.layers.polygons`.
    cameras, alerts : DataFrame
        Point overlays with ``web_x`` / ``web_y`` and hover columns.
    tracks : DataFrame
        Vehicle paths: ``web_x``, ``web_y`` and ``path`` (one line per path value).
    tiles : str, optional
        An XYZ tile URL. Left empty (the default) the page makes no external
        request: the sample's own streets are the basemap.

    Examples
    --------
    >>> view = MapView(workspace=load_workspace())            # doctest: +SKIP
    >>> view.points = workspace.incidents                        # doctest: +SKIP
    """

    workspace = param.Parameter()
    points = param.DataFrame(default=None, allow_None=True)
    cells = param.DataFrame(default=None, allow_None=True)
    cell_value = param.String(default="value")
    cameras = param.DataFrame(default=None, allow_None=True)
    alerts = param.DataFrame(default=None, allow_None=True)
    tracks = param.DataFrame(default=None, allow_None=True)
    areas = param.DataFrame(default=None, allow_None=True)
    tiles = param.String(default="", doc="XYZ tile URL; empty for the off-line street basemap")
    title = param.String(default="")
    height = param.Integer(default=MAP_HEIGHT)

    def __init__(self, **params):
        super().__init__(**params)
        self._plot = None
        self._changed = {layer: _Changed() for layer in _LAYERS}
        for layer, names in _LAYERS.items():
            self.param.watch(lambda *events, layer=layer: self._bump(layer), list(names))

    def _bump(self, layer):
        stream = self._changed[layer]
        stream.event(version=stream.version + 1)

    def _points(self, version=0):
        points = self.points
        if points is None or not len(points):
            return hv.Points(_empty_points(), ["x", "y"])
        frame = pd.DataFrame({"x": points["web_x"].to_numpy(), "y": points["web_y"].to_numpy()}) \
            if "web_x" in points.columns else points
        return hv.Points(frame, ["x", "y"])

    def _cells(self, version=0):
        return layers.polygons_element(self.cells, self.cell_value)

    def _areas(self, version=0):
        return layers.polygons_element(self.areas, None).opts(fill_alpha=0.12, fill_color="#2b8cbe",
                                                          line_color="#2b8cbe", line_width=2)

    def _cameras(self, version=0):
        return layers.points_element(xy(self.cameras), marker="square", color="#2166ac", size=7)

    def _alerts(self, version=0):
        return layers.points_element(xy(self.alerts), marker="triangle", color="#d7301f", size=9)

    def _tracks(self, version=0):
        return layers.paths_element(xy(self.tracks))

    def _build(self):
        ws = self.workspace
        base = layers.basemap(ws, self.tiles)
        pts = hv.DynamicMap(self._points, streams=[self._changed["points"]])
        shaded = rasterize(pts, aggregator="count", width=600, height=450).opts(
            cmap="fire", cnorm="eq_hist", tools=["hover"], alpha=0.85, colorbar=False, clipping_colors={"min": "#00000000", "NaN": "#00000000"})
        cells = hv.DynamicMap(self._cells, streams=[self._changed["cells"]])
        areas = hv.DynamicMap(self._areas, streams=[self._changed["areas"]])
        cams = hv.DynamicMap(self._cameras, streams=[self._changed["cameras"]])
        alerts = hv.DynamicMap(self._alerts, streams=[self._changed["alerts"]])
        tracks = hv.DynamicMap(self._tracks, streams=[self._changed["tracks"]])
        bounds = layers.extent(ws)
        view = {} if bounds is None else dict(xlim=(bounds[0], bounds[2]), ylim=(bounds[1], bounds[3]))
        overlay = (base * areas * cells * shaded * tracks * cams * alerts).opts(
            hv.opts.Overlay(**view)).opts(
            hv.opts.Overlay(responsive=True, min_height=self.height, height=self.height, xaxis=None,
                            yaxis=None, active_tools=["wheel_zoom"], title=self.title, toolbar="above",
                            default_tools=["pan", "wheel_zoom", "box_zoom", "reset", "save"]))
        return pn.pane.HoloViews(overlay, sizing_mode="stretch_width", min_height=self.height,
                                 linked_axes=False)

    def __panel__(self):
        if self._plot is None:
            self._plot = self._build()
        return self._plot


class Status(pn.viewable.Viewer):
    """A plain-language message line: progress, results or an error, never a blank panel."""

    message = param.String(default="")
    kind = param.Selector(default="info", objects=["info", "success", "warning", "danger"])

    def __init__(self, **params):
        super().__init__(**params)
        self._alert = pn.pane.Alert(self.message or " ", alert_type=self.kind, visible=bool(self.message),
                                    sizing_mode="stretch_width", margin=(4, 10))

    @param.depends("message", "kind", watch=True)
    def _update(self):
        self._alert.object = self.message or " "
        self._alert.alert_type = self.kind
        self._alert.visible = bool(self.message)

    def show(self, message: str, kind: str = "info"):
        """Show ``message`` (``kind``: info, success, warning or danger)."""
        self.param.update(message=message, kind=kind)

    def error(self, exc: BaseException):
        """Show an error as one plain line (the workbench's own errors verbatim)."""
        if isinstance(exc, WorkbenchError):
            text = str(exc)
        else:
            first = str(exc).splitlines()[0] if str(exc) else ""
            text = f"Something went wrong ({type(exc).__name__}): {first}"
            traceback.print_exception(exc)
        self.show(text, "danger")

    def __panel__(self):
        return self._alert


def run_busy(status: Status, targets, work, *, busy_message: str = "Working…"):
    """Run ``work()`` with the targets' loading spinners on; errors go to ``status``.

    Parameters
    ----------
    status : Status
    targets : list of panel objects
        Shown as loading while ``work`` runs (anything over a second gets a spinner).
    work : callable
        Returns an optional success message.

    Returns
    -------
    bool
        Whether ``work`` finished without an error.
    """
    for target in targets:
        target.loading = True
    status.show(busy_message, "info")
    try:
        message = work()
    except Exception as exc:  # shown in the page, never a blank panel
        status.error(exc)
        return False
    finally:
        for target in targets:
            target.loading = False
    status.show(message or "", "success")
    return True


class KPICards(pn.viewable.Viewer):
    """A row of big numbers: ``values`` maps a label to a number (or text)."""

    values = param.Dict(default={})
    format = param.String(default="{value:,.0f}")

    def __init__(self, **params):
        super().__init__(**params)
        self._row = pn.FlexBox(sizing_mode="stretch_width")
        self._cards = {}
        self._refresh()

    @param.depends("values", watch=True)
    def _refresh(self):
        for label, value in self.values.items():
            text = value if isinstance(value, str) else self.format.format(value=value)
            card = self._cards.get(label)
            if card is None:
                card = pn.pane.HTML(sizing_mode="fixed", width=190, height=86, margin=6,
                                    styles={"border": "1px solid #d0d7de", "border-radius": "6px",
                                            "background": "#f6f8fa"})
                self._cards[label] = card
                self._row.append(card)
            card.object = (f'<div class="kpi" data-label="{label}" style="padding:6px 10px">'
                           f'<div style="font-size:12px;color:#57606a">{label}</div>'
                           f'<div class="kpi-value" style="font-size:26px;font-weight:600">{text}</div></div>')

    def __panel__(self):
        return self._row


class IncidentFilter(pn.viewable.Viewer):
    """Offence and time window filters over a table with an offence and a time column.

    Parameters
    ----------
    offenses : list of str
        The choices (all selected when ``selected`` is empty).
    start, end : datetime.date
        The window (inclusive dates in the agency's time zone).
    """

    offenses = param.List(default=[])
    selected = param.List(default=[])
    start = param.Date(default=None)
    end = param.Date(default=None)

    def __init__(self, **params):
        super().__init__(**params)
        self._offense = pn.widgets.MultiChoice(name="Offence", options=list(self.offenses),
                                               value=list(self.selected), placeholder="all offences",
                                               sizing_mode="stretch_width")
        self._window = pn.widgets.DateRangePicker(name="Time window", value=(self.start, self.end),
                                                  sizing_mode="stretch_width")
        self._offense.link(self, value="selected")
        self._window.param.watch(self._set_window, "value")

    def _set_window(self, event):
        if event.new:
            self.param.update(start=event.new[0], end=event.new[1])

    def mask(self, frame: pd.DataFrame, time: str, tz: str, offense: str = "offense") -> np.ndarray:
        """Rows of ``frame`` inside the window and the chosen offences."""
        keep = np.ones(len(frame), dtype=bool)
        if self.selected and offense in frame:
            keep &= frame[offense].isin(self.selected).to_numpy()
        local = frame[time].dt.tz_convert(tz)
        if self.start is not None:
            keep &= (local >= pd.Timestamp(self.start).tz_localize(tz)).to_numpy()
        if self.end is not None:
            keep &= (local < (pd.Timestamp(self.end) + pd.Timedelta(days=1)).tz_localize(tz)).to_numpy()
        return keep

    def __panel__(self):
        return pn.Column(self._offense, self._window, sizing_mode="stretch_width")


def table(frame: pd.DataFrame | None = None, page_size: int = 12, **kwargs) -> pn.widgets.Tabulator:
    """A read-only, paginated Tabulator for a result table."""
    return pn.widgets.Tabulator(frame if frame is not None else pd.DataFrame(), pagination="remote",
                                page_size=page_size, disabled=True, show_index=False,
                                sizing_mode="stretch_width", **kwargs)


def display_frame(frame: pd.DataFrame, tz: str, drop=("x", "y", "web_x", "web_y", "geometry")) -> pd.DataFrame:
    """A table for people: local times without the zone suffix, no drawing columns."""
    out = frame.drop(columns=[c for c in drop if c in frame.columns])
    for column in out.columns:
        if isinstance(out[column].dtype, pd.DatetimeTZDtype):
            out[column] = out[column].dt.tz_convert(tz).dt.tz_localize(None).dt.floor("s")
        elif isinstance(out[column].dtype, pd.CategoricalDtype) or out[column].dtype == "string":
            out[column] = out[column].astype(object)
    return out.reset_index(drop=True)
