"""Call briefing latency: p50 / p95 of one briefing from a store holding a year (or two) of data.

Run ``python -m benchmarks.bench_briefing [--years 2] [--calls 300]``. The store
holds the sample year (calls, incidents, gunshot alerts, cameras, the ALPR
fortnight) and, with ``--years 2``, a second year generated with
``workbench.sample.generate(seed=1, ...)`` (the year before, ids prefixed).
Each briefing is timed end to end beside the plain store queries it makes
(recorded by the briefing itself), over priority and vehicle calls of the
ALPR fortnight, so hotlist checks and escape routes are included. Target:
<= 200 ms per briefing. Writes the "briefing" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
import pandas as pd

from benchmarks._report import write_section
from workbench import load_sample
from workbench.briefing import BriefingContext, brief
from workbench.data import Store
from workbench.governance.audit import AuditLog

TABLES = ("calls", "incidents", "gunshots", "cameras", "alpr_reads")


def earlier_year(seed: int = 1) -> dict:
    """A second synthetic year, shifted to the year before the sample, with distinct ids."""
    from workbench.sample import generate

    other = generate(seed=seed, days=365, alpr_days=0, start="2024-01-01")
    out = {}
    for name in ("calls", "incidents", "gunshots"):
        frame = other.tables[name].copy()
        key = {"calls": "call_id", "incidents": "incident_id", "gunshots": "alert_id"}[name]
        frame[key] = "Y1-" + frame[key].astype(str)
        if "incident_id" in frame and name != "incidents":
            frame["incident_id"] = ("Y1-" + frame["incident_id"].astype(str)).where(frame["incident_id"].notna())
        out[name] = frame
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--years", type=int, default=2, choices=(1, 2))
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args(argv)

    sample = load_sample()
    store = Store(":memory:")
    started = time.perf_counter()
    for name in TABLES:
        store.append(name, sample.tables[name])
    if args.years == 2:
        for name, frame in earlier_year().items():
            store.append(name, frame)
    load_s = time.perf_counter() - started
    counts = {name: store.count(name) for name in TABLES}

    calls = sample.calls[(sample.calls["received_at"] >= sample.alpr_reads["read_at"].min())]
    chosen = calls[(calls["priority"] == 1) | calls["vehicle_involved"].fillna(False)]
    chosen = chosen.sample(min(args.calls, len(chosen)), random_state=0).sort_values("received_at")
    started = time.perf_counter()
    context = BriefingContext(roads=sample.roads, hotlist=sample.truth["hotlist"]).fit(
        store, as_of=chosen["received_at"].iloc[0])
    context_s = time.perf_counter() - started

    load_before = os.getloadavg()[0]
    audit = AuditLog(os.path.join(tempfile.mkdtemp(), "audit.jsonl"))
    totals, cpu, queries, vehicle = [], [], [], []
    for call in chosen.to_dict("records"):
        t0, c0 = time.perf_counter(), time.process_time()
        b = brief(call, store, context, user="rtcc-system", role="system", reason="call briefing",
                  audit_log=audit, tz=sample.tz)
        totals.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
        queries.append(sum(b.query_ms.values()))
        vehicle.append(b.escape_cameras is not None)
    totals, cpu, queries, vehicle = np.array(totals), np.array(cpu), np.array(queries), np.array(vehicle)

    def pct(a, q):
        return f"{np.percentile(a, q):.1f}" if len(a) else "-"

    rows = [("all briefed calls", slice(None)), ("vehicle calls (escape readers + hotlist check)", vehicle),
            ("other priority-1 calls", ~vehicle)]
    table = "\n".join(f"| {label} | {len(totals[k])} | {pct(totals[k], 50)} | {pct(totals[k], 95)} | "
                      f"{pct(cpu[k], 50)} | {pct(cpu[k], 95)} | {pct(queries[k], 50)} | {pct(queries[k], 95)} |"
                      for label, k in rows)
    markdown = f"""
`benchmarks/bench_briefing.py`: one call briefing (`workbench.briefing.brief`) from a DuckDB store holding
{counts['incidents']:,} incidents, {counts['calls']:,} calls, {counts['gunshots']:,} gunshot alerts,
{counts['cameras']:,} cameras and {counts['alpr_reads']:,} ALPR reads ({args.years} year(s); loaded in {load_s:.1f} s).
The `BriefingContext` (Gi* over 8 weeks, emerging hot spots over 16, cameras, road graph) is built once in
{context_s:.2f} s. Calls: priority-1 and vehicle calls of the ALPR fortnight, sampled. Target: <= 200 ms per briefing.
CPU is user + system time of all threads (less noisy than wall time on a shared machine).
"Its store queries" is the wall time of the plain `Store.query` calls the briefing makes (2 to 4 per call).

| calls | n | briefing p50 ms | briefing p95 ms | CPU p50 ms | CPU p95 ms | its store queries p50 ms | p95 ms |
|---|---:|---:|---:|---:|---:|---:|---:|
{table}

Load average {load_before:.2f} before and {os.getloadavg()[0]:.2f} after the briefings, on a 2-core machine shared with other jobs.
"""
    print(markdown)
    write_section("briefing", markdown)


if __name__ == "__main__":
    main()
