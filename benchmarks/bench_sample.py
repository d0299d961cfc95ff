"""Benchmark: generating the synthetic scenario end to end, and loading the committed sample.

Run ``python -m benchmarks.bench_sample`` (``--quick`` skips the scale-4 run). Writes the
``sample`` section of docs/benchmarks.md. The ALPR reads have their own benchmark (10M
reads); here they are the default 14 days, so the figures show what a first user waits for.
"""

from __future__ import annotations

import argparse
import time

try:
    from benchmarks._report import peak_rss_mb, write_section
except ImportError:  # run as a script from benchmarks/
    from _report import peak_rss_mb, write_section


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="skip the scale-4 run")
    args = parser.parse_args(argv)

    from workbench.sample import generate, load_sample

    rows = []
    runs = [("a year of crime, no reads", dict(days=365, alpr_days=0, scale=1.0))]
    if not args.quick:
        runs.append(("a year of crime x4, no reads", dict(days=365, alpr_days=0, scale=4.0)))
    runs.append(("the committed sample (year + 14 days of reads)", dict(days=365, alpr_days=14)))
    for label, kw in runs:
        s, seconds = _timed(lambda: generate(seed=0, **kw))
        n = len(s.incidents) + len(s.calls) + len(s.cases) + len(s.gunshots)
        rows.append(f"| generate: {label} | {len(s.incidents):,} | {n:,} | {len(s.alpr_reads):,} "
                    f"| {seconds:.1f} s |")
        print(rows[-1])
    _, seconds = _timed(load_sample)
    rows.append(f"| load_sample() from data/sample | | | | {seconds:.2f} s |")
    print(rows[-1])
    table = "\n".join([
        "`benchmarks/bench_sample.py`: `workbench.sample.generate` end to end (city, crime, "
        "cameras, calls, gunshots, cases, ALPR) and `load_sample()`. Target: a year of crime "
        "in a few seconds; `load_sample()` under 3 s. No peer: this is the project's own data.",
        "",
        "| run | incidents | crime-side rows (incidents + cases + calls + alerts) | ALPR reads | time |",
        "|---|---|---|---|---|",
        *rows,
        "",
        f"Peak RSS {peak_rss_mb():.0f} MB.",
    ])
    write_section("sample", table)


if __name__ == "__main__":
    main()
