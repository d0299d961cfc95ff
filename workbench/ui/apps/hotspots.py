"""Hotspot Explorer (crime analyst): offence, time window and method; map, tables and exports."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import pandas as pd
import panel as pn
import param

from workbench import hotspots
from workbench.ui import layers
from workbench.ui.auth import can_current
from workbench.ui.components import IncidentFilter, MapView, Status, display_frame, run_busy, table

METHODS = {
    "KDE": "kernel density (events per km²)",
    "Gi*": "Getis-Ord Gi* hot and cold spots (FDR 5%)",
    "Emerging": "emerging hot spot patterns (4-week steps)",
    "Clusters": "HDBSCAN clusters of events",
    "Forecast": "next-week forecast (prospective, ProMap)",
}


def run_method(method: str, incidents: pd.DataFrame, cell_size: float, crs: str | None = None):
    """Call the hotspot engine for ``method`` and return the result and its map colour column.

    Returns
    -------
    (result, geopandas.GeoDataFrame, str)
        The engine's result, its polygons (non-empty cells or clusters) and the value column.
    """
    if method == "KDE":
        result = hotspots.kde(incidents, cell_size, crs=crs)
        return result, hotspots.to_geodataframe(result, drop_empty=True), "density"
    if method == "Gi*":
        result = hotspots.gistar(incidents, cell_size, crs=crs)
        cells = hotspots.to_geodataframe(result, drop_empty=True)
        return result, cells[cells["significant"].astype(bool)], "z"
    if method == "Emerging":
        result = hotspots.emerging(incidents, max(cell_size, 250.0), "28D", crs=crs)
        cells = hotspots.to_geodataframe(result, drop_empty=True)
        return result, cells[cells["pattern"] != "no pattern detected"], "pattern"
    if method == "Clusters":
        result = hotspots.clusters(incidents, crs=crs)
        return result, result, "density_per_km2"
    if method == "Forecast":
        result = hotspots.forecast(incidents, "prospective", horizon="7D", cell_size=cell_size, crs=crs)
        cells = hotspots.to_geodataframe(result, drop_empty=True)
        return result, cells, "forecast"
    raise ValueError(f"unknown method {method!r}")


class HotspotExplorer(pn.viewable.Viewer):
    """Analyst's view: where the chosen offences concentrate in the chosen window, by one method.

    Parameters
    ----------
    workspace : Workspace
    method : str
        One of ``KDE``, ``Gi*``, ``Emerging``, ``Clusters``, ``Forecast``.
    cell_size : float
        Grid cell in metres.
    """

    workspace = param.Parameter()
    method = param.Selector(default="Gi*", objects=list(METHODS))
    cell_size = param.Number(default=150.0, bounds=(50.0, 1000.0))
    tiles = param.String(default="")

    def __init__(self, **params):
        super().__init__(**params)
        ws = self.workspace
        incidents = ws.incidents
        local = incidents["occurred_at"].dt.tz_convert(ws.tz)
        self.filter = IncidentFilter(offenses=sorted(incidents["offense"].astype(str).unique()),
                                     start=local.min().date(), end=local.max().date())
        self.map = MapView(workspace=ws, tiles=self.tiles, title="Incidents and hot spots")
        self.status = Status()
        self.cells_table = table(page_size=10)
        self.result = None
        self.result_cells = None
        self._method = pn.widgets.RadioButtonGroup.from_param(self.param.method, button_type="primary",
                                                              sizing_mode="stretch_width")
        self._cell = pn.widgets.FloatInput.from_param(self.param.cell_size, name="Cell size (m)", step=50)
        self._run = pn.widgets.Button(name="Run", button_type="primary", sizing_mode="stretch_width")
        self._run.on_click(lambda event: self.update())
        self._downloads = pn.Column(sizing_mode="stretch_width")
        if can_current("export_data"):
            self._downloads.extend([
                pn.widgets.FileDownload(callback=lambda: self._export("geojson"), filename="hotspots.geojson",
                                        label="Export GeoJSON", sizing_mode="stretch_width"),
                pn.widgets.FileDownload(callback=lambda: self._export("csv"), filename="hotspots.csv",
                                        label="Export CSV", sizing_mode="stretch_width"),
                pn.widgets.FileDownload(callback=self._png, filename="hotspots.png",
                                        label="Export PNG", sizing_mode="stretch_width"),
            ])
        self._summary = pn.pane.Markdown("", sizing_mode="stretch_width")
        self.update()

    def selected_incidents(self) -> pd.DataFrame:
        """The incidents inside the filter."""
        incidents = self.workspace.incidents
        return incidents[self.filter.mask(incidents, "occurred_at", self.workspace.tz)]

    def update(self):
        """Run the chosen method on the filtered incidents and redraw (spinner while it runs)."""

        def work():
            selected = self.selected_incidents()
            if len(selected) < 20:
                raise hotspots_input_error(len(selected))
            result, cells, value = run_method(self.method, selected, self.cell_size)
            self.result, self.result_cells = result, cells
            self.map.param.update(points=selected[["web_x", "web_y"]], cell_value=value,
                                  cells=layers.to_mercator_frame(cells, value))
            shown = cells.drop(columns="geometry").sort_values(value, ascending=False) \
                if pd.api.types.is_numeric_dtype(cells[value]) else cells.drop(columns="geometry")
            self.cells_table.value = display_frame(shown.head(500), self.workspace.tz)
            self._summary.object = (f"**{len(selected):,}** incidents · {METHODS[self.method]} · "
                                    f"**{len(cells):,}** {'clusters' if self.method == 'Clusters' else 'cells'} shown")
            return f"{self.method}: {len(cells):,} areas from {len(selected):,} incidents"

        run_busy(self.status, [self.map.__panel__(), self.cells_table], work, busy_message=f"Running {self.method}…")

    def _export(self, fmt: str):
        if self.result is None:
            return None
        folder = Path(tempfile.mkdtemp(prefix="workbench-export-"))
        path = hotspots.export(self.result, folder / f"hotspots.{fmt}", drop_empty=True)
        return io.BytesIO(Path(path).read_bytes())

    def _png(self):
        if self.result_cells is None:
            return None
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 7))
        ws = self.workspace
        if ws.roads is not None:
            ws.roads.to_crs(layers.WEB_MERCATOR).plot(ax=ax, color="#c9ced6", linewidth=0.4)
        cells = self.result_cells.to_crs(layers.WEB_MERCATOR)
        value = self.map.cell_value
        cells.plot(ax=ax, column=value, cmap="YlOrRd", alpha=0.7, legend=True)
        ax.set_title(f"{self.method} — {METHODS[self.method]}")
        ax.set_axis_off()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
        plt.close(fig)
        buf.seek(0)
        return buf

    def __panel__(self):
        controls = pn.Column("### Hotspot Explorer", self.filter, "**Method**", self._method, self._cell,
                             self._run, self._downloads, width=320)
        main = pn.Column(self.status, self._summary, self.map, "#### Hot spot cells", self.cells_table,
                         sizing_mode="stretch_width")
        return pn.Row(controls, main, sizing_mode="stretch_width")


def hotspots_input_error(n):
    from workbench.errors import HotspotInputError

    return HotspotInputError(f"only {n} incidents match the filters; widen the offences or the time window")


def hotspot_explorer(workspace=None, tiles: str = "") -> pn.viewable.Viewable:
    """Serve factory: a new Hotspot Explorer for one session."""
    from workbench.ui.data import load_workspace

    return HotspotExplorer(workspace=workspace or load_workspace(), tiles=tiles)
