"""``workbench sample``: generate a synthetic scenario and write it to a directory.

The main CLI (``workbench.cli``) registers this with :func:`add_parser` and calls
:func:`run`.
"""

from __future__ import annotations

import argparse
import sys
import time


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``sample`` on an argparse ``subparsers`` object and return its parser."""
    p = subparsers.add_parser(
        "sample", help="generate the synthetic city and RTCC scenario",
        description="Generate the synthetic city and RTCC scenario (with its ground truth) "
                    "and write it as Parquet / GeoParquet to --out.")
    p.add_argument("--out", required=True, help="directory to write (created)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--days", type=int, default=365, help="days of crime (default 365)")
    p.add_argument("--alpr-days", type=int, default=14,
                   help="days of ALPR reads, the last of the period (default 14; 0 for none)")
    p.add_argument("--start", default="2025-01-01", help="first local date (default 2025-01-01)")
    p.add_argument("--scale", type=float, default=1.0, help="volume multiplier (default 1)")
    p.add_argument("--alpr-scale", type=float, default=None,
                   help="ALPR volume multiplier (default: --scale)")
    p.add_argument("--tz", default="America/New_York", help="agency time zone")
    p.add_argument("--origin", type=float, nargs=2, metavar=("LON", "LAT"), default=None,
                   help="city centre (default: Columbus, Ohio)")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    """Generate and save; print one summary line per table. Returns the exit code."""
    from workbench.sample.city import DEFAULT_ORIGIN
    from workbench.sample.scenario import generate

    t0 = time.perf_counter()
    scenario = generate(seed=args.seed, days=args.days, alpr_days=args.alpr_days,
                        start=args.start, origin=tuple(args.origin or DEFAULT_ORIGIN),
                        tz=args.tz, scale=args.scale, alpr_scale=args.alpr_scale)
    out = scenario.save(args.out)
    for name, table in scenario.tables.items():
        print(f"{name:12s} {len(table):>10,d} rows")
    print(f"truth: {', '.join(sorted(scenario.truth))}")
    print(f"wrote {out} in {time.perf_counter() - t0:.1f} s")
    return 0


def main(argv=None) -> int:
    """Run ``sample`` on its own (``python -m workbench.sample.cli --out DIR``)."""
    from workbench.cli import main as workbench_main

    return workbench_main(["sample", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(main())
