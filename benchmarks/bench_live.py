"""Rows per second a poller ingests from PostgreSQL and from the SODA HTTP feed.

    python benchmarks/bench_live.py [--copies 2]

The committed sample's ALPR reads (363k, repeated ``--copies`` times with new
keys) are written to a private PostgreSQL server (``tests/pg_server.py``) and
to the local SODA endpoint (``workbench.live.http_feed``); a :class:`Poller`
then reads everything into an empty store in pages of 100k (PostgreSQL) and
50k (HTTP) rows, validating every row and committing each page with its
watermark. The peer is the bare read of the same rows — ``COPY ... TO
STDOUT`` parsed by Arrow, and the HTTP pages fetched and ``json.loads``-ed —
without validation or store. Writes section ``live`` of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def reads_frame(copies: int) -> pd.DataFrame:
    import workbench

    reads = workbench.load_sample().alpr_reads
    frames = [reads.assign(read_id=reads["read_id"] + f"-{i}") if i else reads for i in range(copies)]
    return pd.concat(frames, ignore_index=True)


def bench_postgres(reads: pd.DataFrame) -> dict:
    from tests.pg_server import PostgresServer, find_binaries
    from workbench.data import Store
    from workbench.live import Poller, SqlSource
    from workbench.live.feed import SqlTarget

    server = PostgresServer(find_binaries()).start()
    try:
        target = SqlTarget(server.url)
        target.write("alpr_reads", reads)
        target.close()
        import psycopg

        t0 = time.perf_counter()
        with psycopg.connect(server.url) as con, con.cursor() as cur:
            buffer = io.BytesIO()
            with cur.copy('COPY (SELECT * FROM alpr_reads ORDER BY read_at, read_id) TO STDOUT (FORMAT csv, HEADER)') as c:
                for block in c:
                    buffer.write(block)
        import pyarrow.csv as pacsv

        buffer.seek(0)
        n_peer = pacsv.read_csv(buffer).num_rows
        peer_s = time.perf_counter() - t0
        store = Store(":memory:")
        poller = Poller(SqlSource(server.url, "alpr_reads", key="read_id", updated_col="read_at", page_size=100_000),
                        store, "alpr_reads", max_pages=10_000)
        t0 = time.perf_counter()
        result = poller.poll_once()
        poll_s = time.perf_counter() - t0
        assert store.count("alpr_reads") == len(reads) == result.inserted == n_peer
    finally:
        server.stop()
    return {"rows": len(reads), "poll_s": poll_s, "peer_s": peer_s}


def bench_http(reads: pd.DataFrame) -> dict:
    from workbench.data import Store
    from workbench.live import HttpJsonSource, Poller
    from workbench.live.http_feed import FeedServer

    server = FeedServer().start()
    try:
        server.upsert("alpr_reads", reads)
        url = server.url("alpr_reads")
        t0 = time.perf_counter()
        n_peer, offset = 0, 0
        while True:
            query = f"?%24order=read_at,read_id&%24limit=50000&%24offset={offset}"
            with urllib.request.urlopen(url + query) as response:
                page = json.loads(response.read())
            n_peer += len(page)
            offset += 50_000
            if len(page) < 50_000:
                break
        peer_s = time.perf_counter() - t0
        store = Store(":memory:")
        poller = Poller(HttpJsonSource(url, key="read_id", updated_col="read_at", page_size=50_000), store,
                        "alpr_reads", max_pages=10_000)
        t0 = time.perf_counter()
        result = poller.poll_once()
        poll_s = time.perf_counter() - t0
        assert store.count("alpr_reads") == len(reads) == result.inserted == n_peer
    finally:
        server.stop()
    return {"rows": len(reads), "poll_s": poll_s, "peer_s": peer_s}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=2, help="copies of the sample's 363k reads (default 2)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args(argv)
    reads = reads_frame(args.copies)
    load_before = os.getloadavg()[0]
    results = {"PostgreSQL (SqlSource, COPY pages of 100k)": bench_postgres(reads),
               "HTTP SODA feed (HttpJsonSource, pages of 50k)": bench_http(reads)}
    load_after = os.getloadavg()[0]
    lines = ["| source | rows | poller: read + validate + upsert | rows/s | peer: bare read | peer rows/s |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, r in results.items():
        lines.append(f"| {name} | {r['rows']:,} | {r['poll_s']:.2f} s | {r['rows'] / r['poll_s']:,.0f} | "
                     f"{r['peer_s']:.2f} s | {r['rows'] / r['peer_s']:,.0f} |")
    table = "\n".join(lines) + (
        f"\n\nALPR reads of the committed sample ({args.copies} copies with new keys), one `poll_once()` from "
        "an empty store into an in-memory store; each page validated and committed with its watermark. "
        "The peer reads the same rows without validating or storing them (PostgreSQL `COPY ... TO STDOUT` "
        "parsed by Arrow; the HTTP pages fetched and `json.loads`-ed). Target: >= 50k rows/s from "
        f"PostgreSQL. Load average {load_before:.1f} before, {load_after:.1f} after (2 cores shared "
        "with other work).")
    print(table)
    if not args.no_write:
        from benchmarks._report import write_section

        print(f"wrote {write_section('live', table)}")


if __name__ == "__main__":
    main()
