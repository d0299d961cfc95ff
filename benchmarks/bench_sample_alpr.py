"""Benchmark: generate ~10 million synthetic ALPR reads (with their truth) on the sample city.

Run: ``python benchmarks/bench_sample_alpr.py [--reads 10000000] [--days 14]``.
Target: 10M reads in <= 60 s on a 2-core machine. Writes the ``sample_alpr``
section of docs/benchmarks.md (reads per second and peak memory).
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import pandas as pd

from _report import peak_rss_mb, write_section


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reads", type=float, default=10e6, help="target number of reads")
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/benchmarks.md")
    args = parser.parse_args(argv)

    from workbench.sample.city import build_city
    from workbench.sample.scenario import generate
    from workbench.sample.vehicles import AlprRates, simulate_alpr

    tz = "America/New_York"
    scenario = generate(seed=0, days=max(30, args.days), alpr_days=0)
    city = build_city(0)
    last = pd.Timestamp(scenario.incidents["occurred_at"].max()).tz_convert(tz).normalize()
    start = (last - pd.Timedelta(days=args.days)).strftime("%Y-%m-%d")
    scale = args.reads / (AlprRates().reads_per_day * args.days)

    load_before = os.getloadavg()[0]
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    t = time.perf_counter()
    reads, truth = simulate_alpr(city, scenario.cameras, scenario.incidents, start=start,
                                 days=args.days, seed=0, scale=scale, directions="heading", tz=tz)
    elapsed = time.perf_counter() - t
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    load_after = os.getloadavg()[0]
    peak = peak_rss_mb()
    # the machine is shared: CPU time and load say how much of the wall time was waiting
    user, system = cpu1.ru_utime - cpu0.ru_utime, cpu1.ru_stime - cpu0.ru_stime
    n = len(reads)
    rows = [
        ("reads generated", f"{n:,}"),
        ("vehicles", f"{len(truth['vehicles']):,}"),
        ("trips (passing a camera)", f"{len(truth['trips']):,}"),
        ("days / scale", f"{args.days} / {scale:.1f}"),
        ("wall time (reads + all truth tables)", f"{elapsed:.1f} s"),
        ("CPU time (user + system)", f"{user:.1f} s + {system:.1f} s"),
        ("1-min load average (before / after)", f"{load_before:.1f} / {load_after:.1f}"),
        ("reads per second", f"{n / elapsed:,.0f}"),
        ("peak resident memory (whole process)", f"{peak:,.0f} MB"),
        ("target", "10M reads in <= 60 s"),
    ]
    table = "| measure | value |\n|---|---|\n" + "\n".join(f"| {a} | {b} |" for a, b in rows)
    markdown = (
        "### Synthetic ALPR reads (`benchmarks/bench_sample_alpr.py`)\n\n"
        "`workbench.sample.vehicles.simulate_alpr` on the sample city (40 fixed ALPR cameras), "
        "producing the canonical `alpr_reads` table and every truth table. No peer: this is the "
        "data generator the trajectory benchmarks run on.\n\n" + table
    )
    print(markdown)
    if not args.no_write:
        write_section("sample_alpr", markdown)


if __name__ == "__main__":
    main()
