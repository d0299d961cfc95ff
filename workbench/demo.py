"""``workbench demo``: the main job on the embedded sample.

Loads the committed sample into a DuckDB store (validating every table), prints
what it holds, then serves the four dashboards with the feed simulator, one
shared poller and demo logins (printed) until Ctrl-C. ``--summary`` prints the
summary and exits without serving.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from workbench.errors import WorkbenchError

DEMO_USERS = [("analyst", "analyst"), ("investigator", "investigator"), ("evaluator", "evaluator"),
              ("command", "command"), ("admin", "admin")]

PLANNED_APPS = [
    ("Hotspot Explorer", "analyst", "KDE, Gi*, emerging hot spots, clusters and forecasts"),
    ("Vehicle Investigation", "investigator", "audited plate search, trajectories, next camera, convoys"),
    ("Impact Evaluation", "evaluator", "clearance rates, case-level effect, staggered DiD, ITS"),
    ("Command Overview", "command staff", "live KPIs and map fed by the poller"),
]


def run_demo(args) -> int:
    from workbench.data import Store
    from workbench.data.schema import TABLES

    try:
        from workbench.sample import load_sample
    except ImportError:
        raise WorkbenchError("the sample scenario module is not installed (workbench.sample)") from None
    started = time.perf_counter()
    scenario = load_sample(getattr(args, "data", None))
    loaded = time.perf_counter() - started
    print(f"RTCC Workbench demo — sample scenario loaded in {loaded:.1f} s")
    with tempfile.TemporaryDirectory() as tmp:
        store_path = Path(tmp) / "demo.duckdb"
        with Store(store_path) as store:
            for name in TABLES:
                frame = scenario.tables.get(name)
                if frame is None or len(frame) == 0:
                    continue
                result = store.append(name, frame, source="data/sample")
                if result.rejected:
                    print(f"  warning: {result.rejected:,} {name} rows rejected by validation")
            info = store.info()
            print(f"\nStore (DuckDB, schema version {store.schema_version}):")
            for row in info.itertuples():
                if row.rows:
                    print(f"  {row.table:<11} {row.rows:>10,} rows  "
                          f"{row.first:%Y-%m-%d} .. {row.last:%Y-%m-%d}")
    districts = getattr(scenario, "districts", None)
    if districts is not None and len(districts):
        print(f"\nCity: {len(districts)} districts, {len(getattr(scenario, 'beats', []))} beats, "
              f"{len(getattr(scenario, 'roads', []))} road segments; time zone {scenario.tz}")
    truth = getattr(scenario, "truth", {}) or {}
    if truth:
        print("Planted truths: " + ", ".join(f"{k} ({len(v):,})" for k, v in truth.items()))
    if getattr(args, "summary", False):
        print("\n`workbench demo` serves (without --summary):")
        for name, role, what in PLANNED_APPS:
            print(f"  - {name} ({role}): {what}")
        return 0
    return serve_demo(args)


def serve_demo(args) -> int:
    """Serve every dashboard over the sample with a live replay and demo logins until Ctrl-C."""
    from workbench.governance.roles import Users
    from workbench.ui.data import load_workspace
    from workbench.ui.live import start_live
    from workbench.ui.serve import serve

    port = getattr(args, "port", None) or 5006
    users = Users()
    for username, role in DEMO_USERS:
        users.add(username, role, f"{username}-demo", iterations=10_000)
    workspace = load_workspace(getattr(args, "data", None))
    live = start_live(workspace)
    print(f"\nServing the dashboards on http://localhost:{port}/ with a live replay of the sample "
          f"(from {live.replay_start:%Y-%m-%d %H:%M} UTC at 60x).")
    print("Demo logins (user / password -> what the role gets):")
    from workbench.ui.auth import APPS, apps_for

    for username, role in DEMO_USERS:
        apps = ", ".join(APPS[a][0] for a in apps_for(role))
        print(f"  {username:<13} / {username}-demo   -> {apps}")
    print("Press Ctrl-C to stop.", flush=True)
    try:
        serve(workspace, port=port, users=users)
    finally:
        live.stop()
    return 0
