"""``workbench audit | retention | transparency | equity``: governance from the command line.

The main CLI (``workbench.cli``) registers these with :func:`add_parser`; each
sets ``func``, which returns the exit code. Errors are ``workbench.errors``
classes, turned into one line by the main CLI.
"""

from __future__ import annotations

import getpass
import json
import os
from pathlib import Path

from workbench.errors import AuditError, WorkbenchError


def _log_arg(parser):
    parser.add_argument("--log", default=None,
                        help="audit log (default: $WORKBENCH_AUDIT_LOG or ./audit/audit.jsonl)")


def _store_arg(parser):
    parser.add_argument("--store", default=os.environ.get("WORKBENCH_STORE", "workbench.duckdb"),
                        help="DuckDB store file (default: $WORKBENCH_STORE or ./workbench.duckdb)")


def _policy_args(parser):
    parser.add_argument("--policy", default=None, help="retention policy YAML (default: the built-in one)")
    parser.add_argument("--preset", default=None,
                        help="ALPR preset: vendor_30_days, new_hampshire, maine, vermont")
    parser.add_argument("--hotlist", default=None, help="hotlist CSV/Parquet (plate, optional case_number)")
    parser.add_argument("--as-of", default=None, help="measure ages back from this time (default now, UTC)")


def _user():
    try:
        return os.environ.get("WORKBENCH_USER") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def add_parser(subparsers):
    """Register ``audit``, ``retention``, ``transparency`` and ``equity`` on an argparse ``subparsers``."""
    audit = subparsers.add_parser("audit", help="verify, report on or export the audit log")
    asub = audit.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    verify = asub.add_parser("verify", help="check the hash chain; name the first bad record")
    verify.add_argument("--anchor", default=None, help="a published head: COUNT:HASH")
    _log_arg(verify)
    verify.set_defaults(func=cmd_audit_verify)
    report = asub.add_parser("report", help="searches by reason, action and role per period")
    report.add_argument("--period", default="M", help="M (month), W (week), Q (quarter); default M")
    report.add_argument("--out", default=None, help="CSV file to write (default: print)")
    _log_arg(report)
    report.set_defaults(func=cmd_audit_report)
    export = asub.add_parser("export", help="write the records to CSV, Parquet or JSON Lines (audited)")
    export.add_argument("out", help="file to write: .csv, .parquet or .jsonl")
    _log_arg(export)
    export.set_defaults(func=cmd_audit_export)

    retention = subparsers.add_parser("retention", help="apply the retention policy to the store and exports")
    rsub = retention.add_subparsers(dest="retention_command", metavar="ACTION", required=True)
    apply = rsub.add_parser("apply", help="delete what the policy no longer allows to keep (audited)")
    apply.add_argument("--dry-run", action="store_true", help="only count what would be deleted")
    apply.add_argument("--exports", nargs="*", default=[], help="Parquet export files or folders to purge too")
    apply.add_argument("--role", default=None, help="your role (must hold manage_retention)")
    _policy_args(apply)
    _store_arg(apply)
    _log_arg(apply)
    apply.set_defaults(func=cmd_retention_apply)
    presets = rsub.add_parser("presets", help="list the built-in ALPR retention presets")
    presets.set_defaults(func=cmd_retention_presets)

    transparency = subparsers.add_parser("transparency", help="write the transparency report (HTML and CSV)")
    transparency.add_argument("--out", required=True, help="folder to write")
    transparency.add_argument("--period", default="M", help="M (month), W (week), Q (quarter); default M")
    _policy_args(transparency)
    _store_arg(transparency)
    _log_arg(transparency)
    transparency.set_defaults(func=cmd_transparency)

    equity = subparsers.add_parser("equity", help="equity audit of the Seattle ALPR week (reads per resident "
                                                  "by zip code, Poisson beside negative binomial)")
    equity.add_argument("spd_alpr", help="spd-alpr-pub.csv.gz")
    equity.add_argument("--out", default=None, help="folder for equity.html and CSVs (default: print only)")
    equity.set_defaults(func=cmd_equity)
    return audit


def _log(args):
    from workbench.governance.audit import AuditLog, default_log

    return AuditLog(args.log) if args.log else default_log()


def cmd_audit_verify(args) -> int:
    log = _log(args)
    if not log.path.exists():
        raise AuditError(f"no audit log at {log.path}")
    anchor = None
    if args.anchor:
        count, _, head = args.anchor.partition(":")
        anchor = {"count": int(count), "hash": head}
    result = log.verify(anchor=anchor)
    if not result:
        raise AuditError(str(result))
    print(f"{result} ({log.path}); anchor {result.n_records}:{result.head_hash}")
    return 0


def cmd_audit_report(args) -> int:
    from workbench.governance.transparency import searches_by_reason

    table = searches_by_reason(_log(args), period=args.period)
    if args.out:
        table.to_csv(args.out, index=False)
        print(f"wrote {len(table)} rows to {args.out}")
    else:
        print(table.to_string(index=False) if len(table) else "no searches recorded")
    return 0


def cmd_audit_export(args) -> int:
    log = _log(args)
    records = log.records()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    records["parameters"] = records["parameters"].map(lambda p: json.dumps(p, sort_keys=True))
    if out.suffix == ".csv":
        records.to_csv(out, index=False)
    elif out.suffix == ".parquet":
        records.to_parquet(out, index=False)
    elif out.suffix == ".jsonl":
        out.write_text(log.path.read_text(encoding="utf-8"), encoding="utf-8")
    else:
        raise WorkbenchError(f"cannot export to {out.name}: use .csv, .parquet or .jsonl")
    log.record(user=_user(), action="audit_export", parameters={"format": out.suffix.lstrip(".")},
               reason="audit log export", case_number=None, result_count=len(records), client="cli")
    print(f"wrote {len(records):,} audit records to {out}")
    return 0


def _open_store(path, read_only):
    from workbench.data import Store

    if not Path(path).exists():
        raise WorkbenchError(f"no store at {path}")
    return Store(path, read_only=read_only)


def cmd_retention_apply(args) -> int:
    from workbench.governance import retention

    policy = retention.load_policy(args.policy, preset=args.preset)
    with _open_store(args.store, read_only=args.dry_run) as store:
        result = retention.apply(store, policy, as_of=args.as_of, hotlist=args.hotlist, exports=args.exports,
                                 dry_run=args.dry_run, user=_user(), role=args.role, client="cli",
                                 log=_log(args))
    print(result.summary())
    return 0


def cmd_retention_presets(args) -> int:
    from workbench.governance.retention import presets

    for name, spec in presets().items():
        print(f"{name}: non-hit reads after {spec['non_hit']}\n    {spec['description']}")
    return 0


def cmd_transparency(args) -> int:
    from workbench.governance import retention
    from workbench.governance.transparency import transparency_report

    policy = retention.load_policy(args.policy, preset=args.preset)
    with _open_store(args.store, read_only=True) as store:
        report = transparency_report(store, _log(args), policy=policy, hotlist=args.hotlist, period=args.period,
                                     as_of=args.as_of)
    print(f"wrote {report.save(args.out)}")
    return 0


def cmd_equity(args) -> int:
    from workbench.governance.equity import spd_equity_audit

    report = spd_equity_audit(args.spd_alpr)
    print(report.to_text())
    if args.out:
        print(f"wrote {report.save(args.out)}")
    return 0
