"""Vehicle Investigation (investigator): audited plate search, the trajectory, next cameras, convoys.

Every search goes through the trajectory engine, which refuses a search
without a reason and a case number (or by a role without ``plate_search``)
and writes the audit record before returning results. The page passes the
signed-in user and role; it never searches the reads itself.
"""

from __future__ import annotations

import threading

import holoviews as hv
import pandas as pd
import panel as pn
import param

from workbench import trajectories
from workbench.ui import layers
from workbench.ui.auth import current_role
from workbench.ui.components import MapView, Status, display_frame, run_busy, table
from workbench.ui.data import with_mercator

_MODELS: dict = {}
_MODELS_LOCK = threading.Lock()


def shared_models(workspace):
    """The camera network, plate index and next-camera model of a workspace, shared by its sessions.

    The network is built once. With a live feed the reads grow, so the plate
    index is rebuilt whenever the number of reads changed (a search must see
    the latest reads; 0.1 s at 360k reads) and the next-camera model is refitted
    when the reads grew by a tenth since its fit (about a second). With no reads
    yet (a demo replay that has just begun) there is no model to fit.
    """
    with _MODELS_LOCK:
        key = id(workspace)
        reads, cameras, roads = workspace.alpr_reads, workspace.cameras, workspace.roads
        models = _MODELS.get(key)
        if models is None:
            network = trajectories.CameraNetwork(roads, cameras) if roads is not None else None
            models = _MODELS[key] = {"network": network, "n_reads": -1, "fitted_on": 0, "next_camera": None}
        if models["n_reads"] != len(reads):
            models["index"] = trajectories.PlateIndex(reads)
            models["n_reads"] = len(reads)
        if len(reads) and (models["next_camera"] is None or len(reads) > 1.1 * models["fitted_on"]):
            trips = trajectories.reconstruct(reads, cameras, roads, network=models["network"])
            models["next_camera"] = trajectories.NextCameraModel().fit(trips)
            models["fitted_on"] = len(reads)
        return models


class VehicleInvestigation(pn.viewable.Viewer):
    """Investigator's view: find a vehicle from a partial or misread plate and follow it.

    Parameters
    ----------
    workspace : Workspace
    user, role : str
        Who searches (default: the signed-in user and role of the session).
    """

    workspace = param.Parameter()
    user = param.String(default="")
    role = param.String(default="")
    tiles = param.String(default="")
    reach_minutes = param.Number(default=10.0, bounds=(1.0, 60.0))

    def __init__(self, **params):
        super().__init__(**params)
        if not self.user:
            import getpass

            self.user = pn.state.user or getpass.getuser()
        if not self.role:
            self.role = current_role()
        ws = self.workspace
        self.status = Status()
        self.map = MapView(workspace=ws, tiles=self.tiles, title="Vehicle track, next cameras, reachable area",
                           height=480)
        self.map.cameras = ws.cameras[ws.cameras["kind"] == "alpr"][["web_x", "web_y", "camera_id", "name"]]
        self.plate = pn.widgets.TextInput(name="Plate or pattern (? one character, * any)", placeholder="e.g. HAD?435",
                                          css_classes=["plate-input"])
        self.lookalike = pn.widgets.IntSlider(name="Look-alike substitutions", start=0, end=2, value=1)
        self.reason = pn.widgets.TextInput(name="Reason", placeholder="why you search", css_classes=["reason-input"])
        self.case_number = pn.widgets.TextInput(name="Case number", placeholder="25-000123",
                                                css_classes=["case-input"])
        self.search_button = pn.widgets.Button(name="Search", button_type="primary", css_classes=["search-button"])
        self.search_button.on_click(lambda event: self.search())
        self.follow = pn.widgets.Select(name="Follow plate", options=[])
        self.follow.param.watch(lambda event: self.show_vehicle(), "value")
        self.near_id = pn.widgets.TextInput(name="Incident or gunshot alert id", placeholder="INC0020362")
        self.near_button = pn.widgets.Button(name="Vehicles near it")
        self.near_button.on_click(lambda event: self.near())
        self.convoy_button = pn.widgets.Button(name="Convoys with this plate")
        self.convoy_button.on_click(lambda event: self.find_convoys())
        self.results = table(page_size=10)
        self.next_table = table(page_size=6)
        self.other_table = table(page_size=8)
        self.timeline = pn.pane.HoloViews(sizing_mode="stretch_width", height=220)
        self.found = None
        self.audit_records = []

    def _audit_args(self):
        return dict(user=self.user, role=self.role or None, reason=self.reason.value.strip(),
                    case_number=self.case_number.value.strip())

    def search(self):
        """Run the audited plate search typed in the page and list the reads found."""
        ws = self.workspace

        def work():
            text = self.plate.value.strip().upper()
            if not text:
                raise trajectories_error("type a plate or a pattern to search")
            models = shared_models(ws)
            kind = {"pattern": text} if ("?" in text or "*" in text) else {"plate": text}
            found = trajectories.search(models["index"], lookalike=int(self.lookalike.value), cameras=ws.cameras,
                                        **kind, **self._audit_args())
            self.found = found
            columns = [c for c in ("read_at", "plate", "match", "substitutions", "camera_id", "make", "color",
                                   "confidence", "read_id") if c in found.columns]
            self.results.value = display_frame(found[columns].head(2000), ws.tz)
            plates = found["plate"].astype(str).drop_duplicates().tolist()
            self.follow.options = plates
            if plates:
                self.follow.value = plates[0]
                self.show_vehicle()
            return (f"{len(found):,} reads of {len(plates):,} plates for {text} "
                    f"(audited: {self.user}, case {self.case_number.value.strip()})")

        run_busy(self.status, [self.results], work, busy_message="Searching plates (audited)…")

    def show_vehicle(self):
        """Draw the followed plate's trajectory, timeline, next likely cameras and reachable area."""
        if self.found is None or not self.follow.value:
            return
        ws = self.workspace

        def work():
            models = shared_models(ws)
            reads = self.found[self.found["plate"].astype(str) == self.follow.value]
            trips = trajectories.reconstruct(reads, ws.cameras, ws.roads, network=models["network"])
            placed = trips.reads.merge(reads[["read_id", "camera_id"]], on="read_id")
            placed = placed.merge(ws.cameras[["camera_id", "lon", "lat"]], on="camera_id", how="left")
            placed = with_mercator(placed.dropna(subset=["lon", "lat"]).sort_values("read_at"))
            placed["path"] = placed["trip_id"].astype(str)
            self.map.tracks = placed[["web_x", "web_y", "path"]]
            self.timeline.object = hv.Scatter(placed.assign(read_at=placed["read_at"].dt.tz_convert(ws.tz)
                                                            .dt.tz_localize(None)),
                                              "read_at", ["camera_id", "path"]).opts(
                color="path", cmap="Category10", size=8, responsive=True, height=220, tools=["hover"],
                title=f"Timeline of {self.follow.value}: camera by time", show_legend=False)
            last_trip = placed[placed["trip_id"] == placed["trip_id"].iloc[-1]]
            predicted = models["next_camera"].predict(last_trip[["read_at", "camera_id"]],
                                                      now=last_trip["read_at"].max())
            self.next_table.value = display_frame(predicted.head(10), ws.tz)
            last = last_trip.iloc[-1]
            area = trajectories.reachable((last["lon"], last["lat"]), self.reach_minutes, ws.roads, ws.cameras,
                                          network=models["network"])
            import geopandas as gpd

            self.map.areas = layers.to_mercator_frame(gpd.GeoDataFrame(geometry=[area.area], crs="EPSG:4326"))
            return (f"{self.follow.value}: {len(trips.trips)} trips, last seen at {last['camera_id']}; "
                    f"{len(area.cameras)} cameras reachable in {self.reach_minutes:.0f} min")

        run_busy(self.status, [self.map.__panel__(), self.next_table], work,
                 busy_message="Reconstructing the trajectory…")

    def find_convoys(self):
        """Plates travelling with the followed plate (audited)."""
        ws = self.workspace

        def work():
            if not self.follow.value:
                raise trajectories_error("search and pick a plate to follow first")
            found = trajectories.convoys(ws.alpr_reads, **self._audit_args())
            mine = found[(found["plate_a"].astype(str) == self.follow.value)
                         | (found["plate_b"].astype(str) == self.follow.value)]
            self.other_table.value = display_frame(mine, ws.tz)
            return f"{len(mine)} convoy partners of {self.follow.value} ({len(found)} convoys in all)"

        run_busy(self.status, [self.other_table], work, busy_message="Looking for convoys (audited)…")

    def near(self):
        """Vehicles read near an incident or gunshot alert around its time (audited)."""
        ws = self.workspace

        def work():
            key = self.near_id.value.strip()
            row = ws.incidents[ws.incidents["incident_id"] == key]
            when = "occurred_at"
            if not len(row):
                row, when = ws.gunshots[ws.gunshots["alert_id"] == key], "detected_at"
            if not len(row):
                raise trajectories_error(f"no incident or gunshot alert {key!r}")
            row = row.iloc[0]
            found = trajectories.vehicles_near(ws.alpr_reads, ws.cameras, (row["lon"], row["lat"], row[when]),
                                               **self._audit_args())
            self.other_table.value = display_frame(found.head(200), ws.tz)
            self.map.alerts = with_mercator(pd.DataFrame({"lon": [row["lon"]], "lat": [row["lat"]], "id": [key]}))
            return f"{len(found)} vehicles read near {key}"

        run_busy(self.status, [self.other_table], work, busy_message="Ranking vehicles near it (audited)…")

    def __panel__(self):
        controls = pn.Column("### Vehicle Investigation", self.plate, self.lookalike, self.reason, self.case_number,
                             self.search_button, self.follow, self.convoy_button, pn.layout.Divider(),
                             self.near_id, self.near_button,
                             pn.pane.Markdown("Every search is audited: who, when, why and the case number.",
                                              styles={"font-size": "12px"}), width=320)
        main = pn.Column(self.status, self.map, self.timeline,
                         pn.Row(pn.Column("#### Reads found", self.results, sizing_mode="stretch_width"),
                                pn.Column("#### Next likely cameras", self.next_table, width=420),
                                sizing_mode="stretch_width"),
                         "#### Convoys / vehicles near", self.other_table, sizing_mode="stretch_width")
        return pn.Row(controls, main, sizing_mode="stretch_width")


def trajectories_error(message):
    from workbench.errors import TrajectoryError

    return TrajectoryError(message)


def vehicle_investigation(workspace=None, tiles: str = "") -> pn.viewable.Viewable:
    """Serve factory: a new Vehicle Investigation for one session."""
    from workbench.ui.data import load_workspace

    return VehicleInvestigation(workspace=workspace or load_workspace(), tiles=tiles)
