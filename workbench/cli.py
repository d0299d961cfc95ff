"""The ``workbench`` command.

Errors the workbench raises on purpose (``workbench.errors``), missing files and
bad arguments become one plain line on stderr and a non-zero exit, never a
traceback. Set ``WORKBENCH_DEBUG=1`` to see the traceback of an unexpected error.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from workbench import __version__
from workbench.errors import WorkbenchError

DEFAULT_STORE = "workbench.duckdb"


def _store_arg(parser):
    parser.add_argument("--store", default=os.environ.get("WORKBENCH_STORE", DEFAULT_STORE),
                        help=f"DuckDB store file (default: $WORKBENCH_STORE or ./{DEFAULT_STORE})")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="workbench",
        description="RTCC Workbench: hotspots, vehicle trajectories, impact evaluation and live data "
                    "for real-time crime centers.")
    parser.add_argument("--version", action="version", version=f"rtcc-workbench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser("demo", help="run the demo on the embedded sample")
    demo.add_argument("--data", default=None, help="scenario folder (default: the committed data/sample)")
    demo.add_argument("--summary", action="store_true", help="print the summary and exit without serving")
    demo.add_argument("--port", type=int, default=5006, help="port for the dashboards (default 5006)")
    demo.set_defaults(func=cmd_demo)

    load = sub.add_parser("load", help="validate a file and upsert it into the store",
                          description="Read FILE as TABLE through a source profile, upsert the valid rows "
                                      "into the store and write rejected rows with reasons to "
                                      "FILE.rejected.csv beside the input.")
    load.add_argument("table", help="incidents, cases, calls, cameras, alpr_reads, gunshots or units")
    load.add_argument("file", help="CSV, Parquet, GeoParquet, GeoJSON or JSON file")
    load.add_argument("--profile", default="canonical", help="built-in profile name or YAML file "
                      "(see `workbench profiles`)")
    load.add_argument("--tz", default=None, help="time zone of timestamps that carry none "
                      "(default: the profile's)")
    _store_arg(load)
    load.set_defaults(func=cmd_load)

    info = sub.add_parser("info", help="summarise the store")
    _store_arg(info)
    info.set_defaults(func=cmd_info)

    profiles = sub.add_parser("profiles", help="list the built-in source profiles")
    profiles.set_defaults(func=cmd_profiles)

    export = sub.add_parser("export", help="write a table of the store to Parquet")
    export.add_argument("table")
    export.add_argument("out", help="Parquet file to write")
    _store_arg(export)
    export.set_defaults(func=cmd_export)

    try:
        from workbench.sample import cli as sample_cli
    except ImportError:
        sample_cli = None
    if sample_cli is not None and hasattr(sample_cli, "add_parser"):
        sample_cli.add_parser(sub)
    from workbench.governance import cli as governance_cli

    governance_cli.add_parser(sub)
    from workbench.live import cli as live_cli

    live_cli.add_parser(sub)
    from workbench.ui import serve as ui_serve

    ui_serve.add_parser(sub)
    return parser


def cmd_load(args) -> int:
    from workbench.data import Store, read_table

    from workbench.data.validate import summarize

    path = Path(args.file)
    if args.profile == "canonical" and path.suffix.lower() == ".parquet" and path.is_file():
        # canonical Parquet: checked in DuckDB, straight from the file (Store.import_parquet)
        with Store(args.store) as store:
            appended = store.import_parquet(args.table, path, tz=args.tz)
        summary, rejected = summarize(appended.table, appended.report), appended.rejected_rows
    else:
        result = read_table(path, args.table, profile=args.profile, tz=args.tz)
        with Store(args.store) as store:
            appended = store.append(args.table, result, source=str(path))
        summary, rejected = result.summary(), result.rejected
    print(summary)
    print(f"stored in {args.store}: {appended.inserted:,} new, {appended.replaced:,} replaced "
          f"(same key loaded before)")
    if len(rejected):
        out = path.with_name(path.name + ".rejected.csv")
        rejected.to_csv(out, index=False)
        print(f"rejected rows with reasons: {out}")
    return 0


def cmd_info(args) -> int:
    from workbench.data import Store

    if not Path(args.store).exists():
        raise WorkbenchError(f"no store at {args.store} (load something first: workbench load TABLE FILE)")
    with Store(args.store, read_only=True) as store:
        info = store.info()
        size = Path(args.store).stat().st_size / 2**20
        print(f"store {args.store} ({size:.1f} MB, schema version {store.schema_version})")
        for row in info.itertuples():
            span = "" if row.rows == 0 else f"  {row.first:%Y-%m-%d %H:%M} .. {row.last:%Y-%m-%d %H:%M} UTC"
            quarantined = f"  ({row.quarantined:,} quarantined)" if row.quarantined else ""
            print(f"  {row.table:<11} {row.rows:>12,} rows{span}{quarantined}")
    return 0


def cmd_profiles(args) -> int:
    from workbench.data import list_profiles

    for name, description in list_profiles().items():
        print(f"{name}\n    {description}")
    return 0


def cmd_export(args) -> int:
    from workbench.data import Store

    with Store(args.store, read_only=True) as store:
        path = store.export_parquet(args.table, args.out)
        print(f"wrote {store.count(args.table):,} {args.table} rows to {path}")
    return 0


def cmd_demo(args) -> int:
    from workbench.demo import run_demo

    return run_demo(args)


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except WorkbenchError as exc:
        print(f"workbench: error: {exc}", file=sys.stderr)
        return 1
    except (FileNotFoundError, PermissionError, IsADirectoryError) as exc:
        print(f"workbench: error: {exc.strerror}: {exc.filename}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("workbench: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # an unexpected failure still gets one line, unless debugging
        if os.environ.get("WORKBENCH_DEBUG"):
            raise
        first = str(exc).splitlines()[0] if str(exc) else ""
        print(f"workbench: unexpected error ({type(exc).__name__}): {first} "
              "(set WORKBENCH_DEBUG=1 for details)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
