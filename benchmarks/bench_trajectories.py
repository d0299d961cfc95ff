"""Benchmark the trajectory engine beside its peers, in one run.

- trip reconstruction of N reads (default 10M) and, at 1M reads, beside movingpandas
  (TrajectoryCollection + ObservationGapSplitter, the same 30-minute gap);
- plate search with look-alike tolerance over 10M reads beside a pandas ``str.contains``
  scan with the equivalent look-alike regex.

Reads are the committed sample's 363k reads tiled: each tile gets its own plates
(a tile letter appended) and is shifted by the sample's 14 days, so distinct plates and
the period grow with the volume as they would in a real store.

Run: ``python -m benchmarks.bench_trajectories [--reads 10000000] [--mp-reads 1000000]``
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd

import workbench
from benchmarks._report import peak_rss_mb, write_section
from workbench.governance.audit import AuditLog
from workbench.trajectories import CameraNetwork, PlateIndex, reconstruct, search
from workbench.trajectories.plates import pattern_regex

WHO = dict(user="bench", role="investigator", reason="benchmark run", case_number="BENCH-1")


def tiled_reads(sample, n):
    base = sample.alpr_reads[["read_id", "read_at", "plate", "camera_id", "lon", "lat"]]
    span = base["read_at"].max() - base["read_at"].min() + pd.Timedelta(days=1)
    tiles = int(np.ceil(n / len(base)))
    parts = []
    for k in range(tiles):
        part = base.assign(read_id=base["read_id"] + f"-{k}", read_at=base["read_at"] + k * span,
                           plate=base["plate"] + chr(65 + k % 26) + (str(k // 26) if k >= 26 else ""))
        parts.append(part)
    return pd.concat(parts, ignore_index=True).iloc[:n]


def timed(fn, repeat=1):
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def movingpandas_trips(reads, cameras):
    import geopandas as gpd
    import movingpandas as mpd

    gdf = gpd.GeoDataFrame(reads[["plate", "read_at"]].assign(t=reads["read_at"].dt.tz_localize(None)),
                           geometry=gpd.points_from_xy(reads["lon"], reads["lat"]), crs="EPSG:4326")
    tc = mpd.TrajectoryCollection(gdf, traj_id_col="plate", t="t", min_length=0)
    return mpd.ObservationGapSplitter(tc).split(gap=pd.Timedelta("30min"))


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--reads", type=int, default=10_000_000)
    ap.add_argument("--mp-reads", type=int, default=1_000_000)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    sample = workbench.load_sample()
    net = CameraNetwork(sample.roads, sample.cameras)
    big = tiled_reads(sample, args.reads)
    rows = []

    cpu = time.process_time()
    t_big, res = timed(lambda: reconstruct(big, sample.cameras, network=net))
    cpu = time.process_time() - cpu
    rows.append((f"reconstruct {len(big):,} reads (trips, legs, routes, impossible travel)",
                 f"{t_big:.2f} s ({cpu:.1f} s CPU)", "",
                 f"{len(res.trips):,} trips, {res.summary()['impossible_legs']:,} impossible legs"))
    print(rows[-1], flush=True)
    del res

    mid = big.iloc[: args.mp_reads]
    t_mid, res = timed(lambda: reconstruct(mid, sample.cameras, network=net))
    print(f"workbench {len(mid):,} reads: {t_mid:.2f} s; movingpandas running ...", flush=True)
    t_mp, mp = timed(lambda: movingpandas_trips(mid, sample.cameras))
    rows.append((f"trips from {len(mid):,} reads, 30-min gap", f"{t_mid:.2f} s",
                 f"movingpandas {t_mp:.1f} s", f"{t_mp / t_mid:.0f}x faster ({len(res.trips):,} trips vs "
                 f"movingpandas {len(mp.trajectories):,} with >= 2 points)"))

    log = AuditLog(os.path.join(os.environ.get("TMPDIR", "/tmp"), "bench_trajectories_audit.jsonl"))
    t_index, index = timed(lambda: PlateIndex(big))
    target = big["plate"].iloc[len(big) // 2]
    pattern = target[:2] + "?" + target[3:5] + "*"
    t_search, found = timed(lambda: search(index, pattern=pattern, lookalike=1, audit_log=log, **WHO), repeat=3)
    regex = pattern_regex(pattern, lookalike=False).replace(".", "[0-9A-Z]")
    loose = "".join(f"[{_class(ch)}]" if ch not in "?*" else ("." if ch == "?" else ".*") for ch in pattern)
    t_pandas, scan = timed(lambda: big["plate"].str.match("^" + loose + "$"))
    rows.append((f"look-alike pattern search over {len(big):,} reads ({pattern!r}, audited)",
                 f"{t_search * 1000:.0f} ms", f"pandas str.match {t_pandas * 1000:.0f} ms",
                 f"{t_pandas / t_search:.0f}x; {len(found):,} reads = pandas {int(scan.sum()):,}; "
                 f"index built once in {t_index:.2f} s"))
    del regex

    load = os.getloadavg()
    md = ["| work | workbench | peer | note |", "|---|---|---|---|"]
    md += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    md.append("")
    md.append(f"Load average during the run: {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (2 cores shared). "
              f"Peak RSS {peak_rss_mb():,.0f} MB. Reads: the sample tiled (see the script). "
              "Reconstruct's numba kernels are compiled once and cached on disk; a first call after "
              "installing (or editing `_kernels.py`) compiles them, about 3 s more.")
    text = "## Trajectories (`benchmarks/bench_trajectories.py`)\n\n" + "\n".join(md)
    print(text)
    if not args.no_write:
        write_section("trajectories", text)


def _class(ch):
    from workbench.trajectories.plates import LOOKALIKE_CLASSES

    for group in LOOKALIKE_CLASSES:
        if ch in group:
            return group
    return ch


if __name__ == "__main__":
    main()
