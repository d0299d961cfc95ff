"""Write the four story notebooks from the cells below (outputs empty, as kept in git).

Run ``python notebooks/make_notebooks.py`` after changing a story; the test
(``tests/test_notebooks.py``) executes the written notebooks top to bottom.
Each notebook prints a few ``RESULT name=value`` lines that the test compares
with the engines and the sample's planted truth.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent

SETUP = """\
import panel as pn
import pandas as pd

pn.extension("tabulator")
"""

HOTSPOTS = [
    ("md", """\
# 1. Where does violent crime concentrate, and is it more than chance?

*An analyst's story over the embedded sample city (synthetic: no real person, place or event).*

The captain asks for this year's violent-crime hot spots for the deployment meeting: where robberies,
aggravated assaults and homicides cluster, whether those clusters are statistically meaningful or just
where many people live, and which places are heating up lately. The sample city has ten planted hot
spots, so we can check what the engines find against the truth."""),
    ("code", SETUP + """\
from workbench import hotspots
from workbench.ui import load_workspace
from workbench.ui.components import IncidentFilter, KPICards, MapView, table
from workbench.ui.layers import to_mercator_frame

workspace = load_workspace()          # the committed sample, with Web Mercator columns for the maps
incidents = workspace.incidents
violent = incidents[incidents["offense_category"] == "violent"]
print(f"{len(incidents):,} incidents, {len(violent):,} violent, "
      f"{incidents['occurred_at'].min():%Y-%m-%d} to {incidents['occurred_at'].max():%Y-%m-%d}")"""),
    ("md", """\
## Getis-Ord Gi* on a 250 m grid

Counting incidents per cell is not enough: a busy cell next to quiet ones may be noise. Gi* compares each
cell and its neighbours with the city-wide mean and gives a z-score; p-values are corrected for the
thousands of cells tested at once (Benjamini–Hochberg false discovery rate), so "significant" here means
"a hot spot we would rarely see by chance"."""),
    ("code", """\
result = hotspots.gistar(violent, 250.0)
cells = hotspots.to_geodataframe(result, drop_empty=True)
hot = cells[cells["significant"].astype(bool) & (cells["z"] > 0)].sort_values("z", ascending=False)
print(f"RESULT hot_cells={len(hot)}")
print(f"{len(hot)} significant hot cells of {len(cells):,}; "
      f"they hold {hot['value'].sum() / len(violent):.0%} of violent incidents")"""),
    ("md", """\
The map is the dashboards' own `MapView`: every violent incident rasterised with datashader (so it
stays fast with millions of points), the significant Gi* cells coloured by z-score, over the city's own
streets (no tile server needed)."""),
    ("code", """\
view = MapView(workspace=workspace, title="Violent incidents and significant Gi* hot spots (250 m cells)")
view.param.update(points=violent, cells=to_mercator_frame(hot, "z", keep=["value"]), cell_value="z")
view"""),
    ("md", """\
## Did we find the planted hot spots?

The sample planted ten hot spots (persistent, emerging and seasonal, of different offence mixes). A
planted violent hot spot counts as found when its centre falls in a significant hot cell or touches
one."""),
    ("code", """\
import geopandas as gpd

truth = workspace.truth["hotspots"]
planted = truth[truth["offense_category"] == "violent"]
centres = gpd.GeoDataFrame(planted[["hotspot_id", "kind", "radius_m"]],
                           geometry=gpd.points_from_xy(planted["lon"], planted["lat"]), crs="EPSG:4326")
near = gpd.sjoin_nearest(centres.to_crs(hot.crs), hot[["z", "geometry"]], how="left", distance_col="metres")
found = near.groupby("hotspot_id")["metres"].min() <= planted.set_index("hotspot_id")["radius_m"]
print(f"RESULT planted_violent={len(planted)}")
print(f"RESULT planted_found={int(found.sum())}")
table(near.drop(columns="geometry").round(2), page_size=10)"""),
    ("md", """\
## The last 90 days only

The `IncidentFilter` is the Hotspot Explorer's own filter; here it narrows the window to the last 90
days. The same call gives the mask a dashboard would use."""),
    ("code", """\
end = incidents["occurred_at"].max().tz_convert(workspace.tz).date()
window = IncidentFilter(offenses=sorted(violent["offense"].astype(str).unique()),
                        start=end - pd.Timedelta(days=89), end=end)
recent = violent[window.mask(violent, "occurred_at", workspace.tz)]
recent_hot = hotspots.to_geodataframe(hotspots.gistar(recent, 250.0), drop_empty=True)
recent_hot = recent_hot[recent_hot["significant"].astype(bool) & (recent_hot["z"] > 0)]
KPICards(values={"Violent incidents, year": len(violent), "Hot cells, year": len(hot),
                 "Violent incidents, last 90 days": len(recent), "Hot cells, last 90 days": len(recent_hot)})"""),
    ("code", "window"),
    ("md", """\
## Caveats

- Hot spots of *recorded* crime: where reporting or patrol is heavier, more is recorded. Read them with
  the equity report (`workbench equity`).
- The 250 m cell and the queen neighbourhood are choices; the Hotspot Explorer lets you try others, and
  a hot spot that appears only at one cell size deserves scepticism.
- 90 days is a short window: fewer incidents, wider uncertainty, fewer significant cells."""),
]

VEHICLES = [
    ("md", """\
# 2. Which vehicle left the scene, and where did it go?

*An analyst's story over the embedded sample (synthetic plates; none is real).*

A witness saw a car leave the scene of a crime and remembers part of the plate, all but the fourth character. The
investigator asks the RTCC: which plates match, where was that car before and after, and where can it be
now? Every plate search is **audited**: who searched, why, for which case, and how many reads came back,
written to a tamper-evident log *before* the results are shown. This notebook writes its audit records
to a temporary log so running it leaves the repository untouched."""),
    ("code", SETUP + """\
import tempfile
from pathlib import Path

from workbench import trajectories
from workbench.errors import AuditError
from workbench.governance.audit import AuditLog, set_default_log
from workbench.ui import load_workspace
from workbench.ui.components import KPICards, MapView, display_frame, table
from workbench.ui.data import with_mercator

audit_log = AuditLog(Path(tempfile.mkdtemp(prefix="notebook-audit-")) / "audit.jsonl")
set_default_log(audit_log)
workspace = load_workspace()
reads = workspace.alpr_reads
robbery = workspace.truth["incident_vehicles"].iloc[0]   # the planted getaway car, for checking only (the
                                                          # story uses only its incident and the witness plate)
incident = workspace.incidents.set_index("incident_id").loc[robbery["incident_id"]]
case_number = str(incident["case_number"])
witness_plate = robbery["plate"][:3] + "?" + robbery["plate"][4:]
print(f"{len(reads):,} ALPR reads from {workspace.cameras['kind'].eq('alpr').sum()} fixed cameras; "
      f"incident {robbery['incident_id']} ({incident['offense']}), case {case_number}; witness plate {witness_plate}")"""),
    ("md", """\
## The audited search

`trajectories.search` refuses to run without a user, a reason and a case number; the role must hold the
`plate_search` permission (investigators do, analysts do not). Look-alike tolerance 1 also finds reads
where the camera confused one character (8/B, 0/O …)."""),
    ("code", """\
found = trajectories.search(reads, pattern=witness_plate, lookalike=1, user="ivan.investigator",
                            role="investigator", reason=f"{incident['offense']} follow-up: car leaving the scene, partial plate",
                            case_number=case_number, cameras=workspace.cameras)
plates = found["plate"].astype(str).value_counts()
print(f"RESULT reads_found={len(found)}")
print(f"RESULT plates_found={len(plates)}")
print(f"{len(found):,} reads of {len(plates)} plates match {witness_plate}")
table(display_frame(found[["read_at", "plate", "match", "substitutions", "camera_id", "make", "color"]].head(200),
                    workspace.tz), page_size=8)"""),
    ("code", """\
try:
    trajectories.search(reads, pattern=witness_plate, user="ivan.investigator", role="investigator",
                        reason=f"{incident['offense']} follow-up", case_number=None)
except AuditError as refused:
    print(f"Refused, as it should be: {refused}")
records = audit_log.records()
print(f"RESULT audit_records={len(records)}")
print(f"RESULT audit_intact={bool(audit_log.verify())}")
table(records[["time", "user", "role", "action", "reason", "case_number", "result_count"]], page_size=5)"""),
    ("md", """\
The log holds both attempts: the search that ran (with its result count) and the refused one (no result
count, the refusal in its parameters). `verify()` recomputes the hash chain: any edited, deleted or
reordered record would break it.

## Before and after the incident

Within half an hour of the incident, which of the matching plates did the cameras read? The
reconstruction splits each plate's reads into trips (a gap of more than 30 minutes ends a trip) and
routes each leg over the street network."""),
    ("code", """\
occurred = incident["occurred_at"]
around = found[(found["read_at"] > occurred - pd.Timedelta(minutes=30)) & (found["read_at"] < occurred + pd.Timedelta(minutes=30))]
suspect = around["plate"].astype(str).value_counts().index[0]
print(f"RESULT suspect_plate={suspect}")
suspect_reads = found[found["plate"].astype(str) == suspect]
trips = trajectories.reconstruct(suspect_reads, workspace.cameras, workspace.roads)
placed = trips.reads.merge(suspect_reads[["read_id", "camera_id"]], on="read_id")
placed = with_mercator(placed.merge(workspace.cameras[["camera_id", "lon", "lat"]], on="camera_id")
                       .sort_values("read_at"))
trip = placed.loc[(placed["read_at"] - occurred).abs().idxmin(), "trip_id"]
this_trip = placed[placed["trip_id"] == trip]
before = this_trip[this_trip["read_at"] <= occurred]
after = this_trip[this_trip["read_at"] > occurred]
print(f"{suspect}: {len(trips.trips)} trips in the fortnight; on the incident trip last seen before at "
      f"{before['camera_id'].iloc[-1] if len(before) else '-'}, first seen after at "
      f"{after['camera_id'].iloc[0] if len(after) else '-'}")
print(f"RESULT after_camera={after['camera_id'].iloc[0] if len(after) else ''}")"""),
    ("code", """\
view = MapView(workspace=workspace, title=f"{suspect}: the trip through the incident time (purple) and the cameras that read it")
view.param.update(tracks=this_trip.assign(path=this_trip["trip_id"].astype(str))[["web_x", "web_y", "path"]],
                  cameras=this_trip[["web_x", "web_y", "camera_id", "read_at"]].astype({"read_at": str}))
view"""),
    ("md", """\
## Where can it be now?

From its last read, the area reachable on the street network in ten minutes and the cameras in it: where
to look, or which camera to watch."""),
    ("code", """\
import geopandas as gpd

from workbench.ui.layers import to_mercator_frame

last = this_trip.iloc[-1]
area = trajectories.reachable((last["lon"], last["lat"]), 10.0, workspace.roads, workspace.cameras)
view.areas = to_mercator_frame(gpd.GeoDataFrame(geometry=[area.area], crs="EPSG:4326"))
KPICards(values={"Matching reads": len(found), "Matching plates": len(plates),
                 "Trips of the suspect plate": len(trips.trips), "Cameras reachable in 10 min": len(area.cameras)})"""),
    ("md", """\
## Caveats

- A partial plate with look-alikes matches many cars; the time and place of the incident narrow it, but a
  read near a scene is a lead, not evidence.
- ALPR cameras see only where they are: a car between cameras is invisible, and the reachable area
  assumes ordinary speeds on the street network.
- The audit log is the record the oversight officer reads; a real search needs a real case number."""),
]

EVALUATION = [
    ("md", """\
# 3. Does the RTCC help clear cases and reduce crime?

*An evaluator's story over the embedded sample (synthetic; the effects were planted).*

The city council asks whether the real-time crime center is worth its cost. Two questions: do cases the
RTCC assisted get cleared more often (case level), and did crime fall in districts after the RTCC
launched there (area level, launches staggered over the year)? The naive comparison is biased (the RTCC
picks which cases to assist), so we adjust and use designs built for staggered rollouts."""),
    ("code", SETUP + """\
from workbench import evaluation
from workbench.ui import load_workspace
from workbench.ui.apps.evaluation import district_month_counts
from workbench.ui.components import KPICards, table

workspace = load_workspace()
cases, incidents = workspace.cases, workspace.incidents
rates = evaluation.clearance_rates(cases, by=["rtcc_assisted"], freq=None)
by_assist = rates.set_index(rates["rtcc_assisted"].astype(str))
print(f"RESULT rate_assisted={by_assist.loc['True', 'rate']:.4f}")
print(f"RESULT rate_other={by_assist.loc['False', 'rate']:.4f}")
KPICards(values={"Cases": len(cases), "Assisted by the RTCC": int(cases["rtcc_assisted"].sum()),
                 "Clearance, assisted": f"{by_assist.loc['True', 'rate']:.1%}",
                 "Clearance, other": f"{by_assist.loc['False', 'rate']:.1%}"})"""),
    ("md", """\
## Case level: adjusted for offence

Assisted cases skew towards offences that clear more easily, so the raw difference overstates the
effect. A logistic model with the offence as a covariate, clearance within 90 days, gives an adjusted
odds ratio with a 95% confidence interval."""),
    ("code", """\
effect = evaluation.case_effect(cases, incidents=incidents, covariates=["offense"], within="90D")
print(f"RESULT odds_ratio={effect.odds_ratio:.4f}")
print(f"adjusted odds ratio {effect.odds_ratio:.2f} (95% CI {effect.ci_low:.2f}-{effect.ci_high:.2f}); "
      f"unadjusted {effect.naive_odds_ratio:.2f}")
table(evaluation.effect_by_crime_type(cases, incidents, within="90D").round(3), page_size=8)"""),
    ("md", """\
## Area level: a staggered difference-in-differences

Districts got the RTCC in cohorts; some never did. Callaway & Sant'Anna's estimator compares each cohort
with the never-treated districts, month by month, and the event study shows the months before launch
(which should be flat: a pre-trend would mean the comparison is not fair)."""),
    ("code", """\
import holoviews as hv

panel = district_month_counts(incidents, workspace.rollout, workspace.tz)
did = evaluation.staggered_did(panel, "district", "month", "log_incidents", "first_treated", control="never")
simple = did.aggregate("simple")
print(f"RESULT did_att={simple.estimate:.4f}")
print(f"RESULT did_ci={simple.ci_low:.4f},{simple.ci_high:.4f}")
print(f"average effect on log incidents {simple.estimate:.3f} (95% CI {simple.ci_low:.3f} to {simple.ci_high:.3f}), "
      f"pre-trend p = {did.pretrend['p']:.3f}")
dynamic = did.aggregate("dynamic").table
hv.extension("bokeh", logo=False)
(hv.HLine(0).opts(color="grey", line_dash="dashed") * hv.VLine(-0.5).opts(color="#d62728", line_dash="dotted")
 * hv.ErrorBars(dynamic.assign(lo=dynamic["att"] - dynamic["ci_low"], hi=dynamic["ci_high"] - dynamic["att"]),
                "event_time", ["att", "lo", "hi"])
 * hv.Scatter(dynamic, "event_time", "att").opts(size=7, color="#1f4e79")).opts(
    width=700, height=320, title="Event study: log incidents by months since launch", xlabel="months since launch")"""),
    ("md", """\
## Against the planted truth

The sample planted two things that pull in opposite directions: true crime falls after launch (10–12% for
violent and property crime), but the cameras also bring crimes to light that would have gone unrecorded,
so *recorded* incidents rise in treated districts (the planted incidence-rate ratios below). The DiD
estimates the effect on recorded incidents, so it should land near the planted recorded-crime ratio, not
near the fall in true crime. That is the evaluator's main caveat."""),
    ("code", """\
import numpy as np

effects = workspace.truth["effects"]
recorded = effects[(effects["level"] == "district") & (effects["offense_category"] == "all")]
planted_log_irr = float(np.log(recorded["value"]).mean())
print(f"RESULT planted_log_irr={planted_log_irr:.4f}")
print(f"planted effect on recorded incidents: log IRR {planted_log_irr:.3f} on average over treated districts; "
      f"estimated {simple.estimate:.3f}")
table(effects.astype({c: str for c in effects.columns if effects[c].dtype.kind == "M"}), page_size=8)"""),
    ("md", """\
## Caveats

- Observational data: the adjusted odds ratio still leans on "no unmeasured confounding" (case severity,
  camera coverage at the scene). Report it with its interval, not as a single number.
- A rise in recorded crime after launch is not a rise in crime: detection changed too. Without a
  measure that does not depend on detection (e.g. injury shootings, hospital data) the two cannot be
  separated from police records alone.
- Eight districts are few clusters; intervals are wide and the pre-trend test has little power.
- Clearance needs time: recent cases have not had 90 days to clear, which is why `within="90D"` is used."""),
]

LIVE = [
    ("md", """\
# 4. What is happening now? The command overview, live

*A command-staff story over the embedded sample, replayed as a live feed.*

The watch commander wants one screen: calls, incidents, gunshot alerts and hotlist hits in the last hour
and day, with the map. In production the workbench polls the agency's systems; here the sample is
replayed into a local HTTP endpoint shaped like an open-data portal (Socrata SODA), started in this
notebook on a free port, and the same poller the server uses reads it. Hotlist screening of incoming
reads is done by the system (audited as `rtcc-system`); the command view shows counts only. Audit
records go to a temporary log."""),
    ("code", SETUP + """\
import tempfile
from pathlib import Path

from workbench.data import Store
from workbench.governance.audit import AuditLog, set_default_log
from workbench.live.feed import HttpTarget, Replay
from workbench.sample import load_sample
from workbench.ui.apps.command import CommandOverview, window_counts
from workbench.ui.components import KPICards
from workbench.ui.data import Workspace
from workbench.ui.live import LIVE_TABLES, LiveFeed, hotlist_screen

tmp = Path(tempfile.mkdtemp(prefix="notebook-live-"))
audit_log = AuditLog(tmp / "audit.jsonl")
set_default_log(audit_log)
sample = load_sample()
feed = HttpTarget("http://127.0.0.1:0")                    # the feed simulator's SODA endpoint, free port
replay = Replay({t: sample.tables[t] for t in LIVE_TABLES}, start=sample.alpr_reads["read_at"].min().floor("D"))
workspace = Workspace.from_scenario(sample)
workspace.truncate(replay.start)                            # history up to the replay; the feed brings the rest
config = {"every": "1s", "overlap": "60s", "sources": [
    {"name": f"{t}-soda", "table": t, "http": {"url": feed.server.url(t)}} for t in LIVE_TABLES]}
live = LiveFeed(workspace, config, Store(tmp / "live.duckdb"))
workspace.live = live
print(f"feed on {feed.server.url()}; replay from {replay.start:%Y-%m-%d %H:%M} UTC")"""),
    ("md", """\
## Three polls

Each step releases the next six hours of scenario time into the endpoint (as the agency's systems would
have recorded them) and runs one poll cycle of every source. The poller stores each page in the DuckDB
store and publishes it; the workspace and the hotlist screen follow."""),
    ("code", """\
overview = CommandOverview(workspace=workspace)
polled = {}
for step in range(1, 4):
    for table_name, rows in replay.release(replay.start + pd.Timedelta(hours=6 * step)).items():
        feed.write(table_name, rows)
    results = live.service.run_once()
    for name, result in results.items():
        polled[name] = polled.get(name, 0) + getattr(result, "inserted", 0)
    overview.refresh()
    print(f"poll {step}: " + ", ".join(f"{n} +{getattr(r, 'inserted', r)}" for n, r in results.items()))
served = {t: feed.server.count(t) for t in LIVE_TABLES}
print(f"RESULT reads_served={served['alpr_reads']}")
print(f"RESULT reads_polled={polled['alpr_reads-soda']}")
print(f"RESULT calls_last_day={overview.kpis.values['Calls, last day']}")
print(f"RESULT hotlist_hits_last_day={overview.kpis.values['Hotlist hits, last day']}")
overview.kpis"""),
    ("md", """\
The cards are the Command Overview's own `KPICards`, recounted from the live workspace after each poll.
The whole page, as command staff see it when served:"""),
    ("code", "overview"),
    ("md", """\
## Who checked the hotlist?

Every screening of incoming reads is an audited system action: user `rtcc-system`, role `system` (which
holds only `hotlist_check`), reason "hotlist screening of live reads", no case number (the search policy
exempts hotlist checks). Nobody viewing the overview searched anything."""),
    ("code", """\
records = audit_log.records()
print(f"RESULT audit_users={','.join(sorted(records['user'].unique()))}")
print(f"screened {hotlist_screen(workspace).checks} batches; {len(hotlist_screen(workspace).hits)} hits so far")
records[["time", "user", "role", "action", "reason", "case_number", "result_count"]].tail(5)"""),
    ("code", """\
live.stop()
feed.close()"""),
    ("md", """\
## Caveats

- "Now" is the newest event in the data (the replay's clock), so the last-hour figures follow the replay.
- A poll that fails backs off and retries; the feed-health line on the served page says how stale each
  source is. Counts are only as current as the slowest source."""),
]

NOTEBOOKS = {
    "01_hotspots.ipynb": HOTSPOTS,
    "02_vehicle_trajectories.ipynb": VEHICLES,
    "03_impact_evaluation.ipynb": EVALUATION,
    "04_live_command_overview.ipynb": LIVE,
}


def build(cells) -> nbformat.NotebookNode:
    """A notebook with the given (kind, source) cells and no outputs."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell(src) if kind == "md" else nbformat.v4.new_code_cell(src)
                for kind, src in cells]
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:02d}"
    return nb


def main() -> None:
    for name, cells in NOTEBOOKS.items():
        nbformat.write(build(cells), HERE / name)
        print(f"wrote notebooks/{name}")


if __name__ == "__main__":
    main()
