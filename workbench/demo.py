"""``workbench demo``: the main job on the embedded sample.

Until the dashboards land (issue: dashboards and notebooks) the demo loads the
committed sample scenario into a DuckDB store, validates every table, prints
what it holds and says what will be served.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from workbench.errors import WorkbenchError

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
    print("\nWhen the dashboards land, `workbench demo` will serve (panel serve, demo logins printed):")
    for name, role, what in PLANNED_APPS:
        print(f"  - {name} ({role}): {what}")
    return 0
