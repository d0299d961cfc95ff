"""Load 10M ALPR reads from Parquet into the store, beside a plain DuckDB read_parquet insert.

    python benchmarks/bench_store_load.py [--rows 10000000]

Each contender runs in its own process so its peak memory is its own. The
workbench path validates every row (types, ranges, plates, duplicate keys)
and upserts by key in one transaction; the reference inserts the file as is.
Writes the table into docs/benchmarks.md (section ``store_load``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CACHE = ROOT / "benchmarks" / ".cache"


def make_reads(path: Path, rows: int, seed: int = 0):
    """Synthetic canonical reads: 60 fixed cameras, 14 days, plates in an Ohio-like format."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    writer = None
    chunk = 2_000_000
    letters = np.array(list("ABCDEFGHJKLMNPRSTUVWXYZ"))
    start = np.datetime64("2025-01-01T00:00:00", "us")
    span = 14 * 86400 * 10**6
    times = np.sort(rng.integers(0, span, rows))
    for lo in range(0, rows, chunk):
        n = min(chunk, rows - lo)
        plate = letters[rng.integers(0, 23, n)].astype(object) + letters[rng.integers(0, 23, n)] + \
            letters[rng.integers(0, 23, n)] + rng.integers(1000, 9999, n).astype(str).astype(object)
        table = pa.table({
            "read_id": pa.array(np.char.add("r", np.arange(lo, lo + n).astype("U10"))),
            "read_at": pa.array(start + times[lo:lo + n].astype("timedelta64[us]")).cast(pa.timestamp("us", tz="UTC")),
            "plate": pa.array(plate.astype(str)),
            "camera_id": pa.array(np.char.add("cam", rng.integers(0, 60, n).astype("U3"))),
            "plate_raw": pa.array(plate.astype(str)),
            "state": pa.array(np.full(n, "OH")),
            "confidence": pa.array(rng.uniform(0.5, 1.0, n)),
        })
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema, compression="zstd")
        writer.write_table(table, row_group_size=1_000_000)
    writer.close()


def run_workbench(parquet: str, store: str) -> dict:
    from workbench.data import Store

    started = time.perf_counter()
    with Store(store) as s:
        res = s.import_parquet("alpr_reads", parquet)
        n = s.count("alpr_reads")
    return {"seconds": time.perf_counter() - started, "rows": n, "rejected": res.rejected}


def run_reference(parquet: str, store: str) -> dict:
    import duckdb

    from workbench.data.store import Store

    Store(store).close()  # the same empty canonical table to insert into
    started = time.perf_counter()
    con = duckdb.connect(store)
    con.execute("INSERT INTO alpr_reads BY NAME SELECT * FROM read_parquet(?)", [parquet])
    n = con.execute("SELECT count(*) FROM alpr_reads").fetchone()[0]
    con.close()
    return {"seconds": time.perf_counter() - started, "rows": n, "rejected": 0}


def child(which: str, parquet: str, store: str):
    import resource

    result = {"workbench": run_workbench, "reference": run_reference}[which](parquet, store)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["peak_mb"] = usage.ru_maxrss / 1024
    result["cpu_s"] = usage.ru_utime + usage.ru_stime
    print(json.dumps(result))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    CACHE.mkdir(parents=True, exist_ok=True)
    parquet = CACHE / f"reads_{args.rows}.parquet"
    if not parquet.exists():
        print(f"making {args.rows:,} synthetic reads -> {parquet}")
        make_reads(parquet, args.rows)
    results = {}
    load_before = os.getloadavg()[0]
    for which in ("reference", "workbench"):
        store = CACHE / f"bench_{which}.duckdb"
        for leftover in (store, Path(str(store) + ".wal")):
            leftover.unlink(missing_ok=True)
        out = subprocess.run([sys.executable, __file__, "--child", which, str(parquet), str(store)],
                             capture_output=True, text=True, check=True)
        results[which] = json.loads(out.stdout.strip().splitlines()[-1])
        store.unlink(missing_ok=True)
        r = results[which]
        print(f"{which:<10} {r['rows']:>12,} rows  {r['seconds']:6.2f} s  "
              f"{r['rows'] / r['seconds'] / 1e6:5.2f} M rows/s  cpu {r['cpu_s']:.1f} s  peak {r['peak_mb']:,.0f} MB")
    wb, ref = results["workbench"], results["reference"]
    table = (
        f"Load {args.rows:,} canonical ALPR reads from one Parquet file (`benchmarks/bench_store_load.py`). "
        "Target: >= 1M rows/s.\n\n"
        "| path | wall seconds | rows/s | CPU seconds (all threads) | peak memory |\n|---|---:|---:|---:|---:|\n"
        f"| workbench `Store.import_parquet` (validate every row, upsert by key, one transaction) | "
        f"{wb['seconds']:.2f} | {wb['rows'] / wb['seconds'] / 1e6:.2f} M | {wb['cpu_s']:.1f} | {wb['peak_mb']:,.0f} MB |\n"
        f"| reference: DuckDB `INSERT ... SELECT * FROM read_parquet()` (no validation) | "
        f"{ref['seconds']:.2f} | {ref['rows'] / ref['seconds'] / 1e6:.2f} M | {ref['cpu_s']:.1f} | {ref['peak_mb']:,.0f} MB |\n\n"
        f"Load average {load_before:.2f} before and {os.getloadavg()[0]:.2f} after, on a 2-core machine "
        "shared with other jobs: wall times are noisy, CPU seconds less so.\n\n"
        f"The workbench path takes {wb['seconds'] / ref['seconds']:.1f}x the reference's time; the difference "
        "is validation (every value typed and checked, plates normalised, duplicate keys reported) "
        "and the upsert's key join."
    )
    from benchmarks._report import write_section

    write_section("store_load", table)
    print(table)


if __name__ == "__main__":
    main()
