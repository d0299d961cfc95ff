"""Retention: delete what policy no longer allows the agency to keep, and say so in the audit log.

A policy (YAML; the built-in default and presets are in ``retention.yaml``
beside this module) gives an age limit per table and class:

* ``alpr_reads``: ``non_hit`` reads (plate not on the hotlist) after N days
  (default 30; presets ``new_hampshire`` 3 minutes, ``maine`` 21 days,
  ``vermont`` 18 months, ``vendor_30_days``), ``hit`` reads after another
  limit; hits whose hotlist entry names an *open* case are kept.
* ``incidents`` and ``calls``: by offence severity class (``homicide``,
  ``violent``, ``property``, ``minor``, ``other``), the class read from the
  offence or call type through the ``severity`` word lists; incidents (and
  their calls and gunshot alerts) of an open case are kept.
* ``cases``: ``cleared`` cases after an age counted from ``cleared_at``.
* ``gunshots``, ``units``: ``all`` rows after an age.
* Legal holds by case number (in the policy file, or placed in the store with
  :func:`place_hold`) keep the case's incident, case row, calls, gunshot
  alerts, hotlist hits and any plates named in the hold, whatever their age.

:func:`plan` counts what would go (``workbench retention apply --dry-run``);
:func:`apply` deletes exactly those rows from the store, in one transaction,
and from the table's Parquet exports, then writes one ``retention_purge``
record (counts per table and rule, never content) to the audit log.
:class:`RetentionScheduler` runs :func:`apply` on a timer in a served
deployment, on the app's own store (the one writer).

Hits are judged against the hotlist given to the run (a DataFrame or file with
``plate`` and optional ``case_number``); a plate on it now counts as a hit.

Example
-------
>>> from workbench.data import Store
>>> store = Store(":memory:")
>>> plan(store, load_policy(preset="maine"), as_of="2026-01-01").total
0
"""

from __future__ import annotations

import datetime as dt
import glob
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from workbench.data.schema import table_spec
from workbench.governance._yaml import read_yaml_mapping
from workbench.errors import WorkbenchError

BUILTIN_FILE = Path(__file__).with_name("retention.yaml")
HOLDS_META_KEY = "governance.legal_holds"
KEEP = None


class RetentionError(WorkbenchError, ValueError):
    """A retention policy or run cannot be used as given (and why)."""


# -- policy ------------------------------------------------------------------------------------

def parse_age(value):
    """An age from a policy: days (number), ``"3min"``, ``"21D"``, ``"18 months"``, ``"7 years"``; None keeps.

    Returns
    -------
    pandas.Timedelta, pandas.DateOffset or None

    Examples
    --------
    >>> parse_age(30), parse_age("3min"), parse_age("keep")
    (Timedelta('30 days 00:00:00'), Timedelta('0 days 00:03:00'), None)
    """
    if value is None or (isinstance(value, str) and value.strip().lower() in {"keep", "forever", "indefinitely"}):
        return KEEP
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return pd.Timedelta(days=float(value))
    text = str(value).strip().lower()
    match = re.fullmatch(r"(\d+)\s*(months?|years?)", text)
    if match:
        n, unit = int(match.group(1)), match.group(2)
        return pd.DateOffset(months=n) if unit.startswith("month") else pd.DateOffset(years=n)
    try:
        return pd.Timedelta(text)
    except ValueError:
        raise RetentionError(f"retention age {value!r} is not a number of days, a duration like '3min' "
                             "or '21D', '18 months', '7 years' or 'keep'") from None


def _read_yaml(path) -> dict:
    return read_yaml_mapping(path, "retention policy", RetentionError)


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


@dataclass
class RetentionPolicy:
    """A resolved retention policy (see the module docstring; build with :func:`load_policy`)."""

    name: str
    tables: dict
    legal_holds: list = field(default_factory=list)
    severity: dict = field(default_factory=dict)
    description: str = ""
    hotlist: str | None = None
    exports: dict = field(default_factory=dict)


def presets() -> dict:
    """The built-in presets: name -> {description, non_hit}."""
    return dict(_read_yaml(BUILTIN_FILE).get("presets") or {})


def load_policy(path=None, *, preset=None) -> RetentionPolicy:
    """Read the built-in default, a preset and an agency policy file, in that order.

    Parameters
    ----------
    path : str or Path, optional
        Agency YAML with any of ``name``, ``preset``, ``tables`` (merged into
        the default), ``legal_holds`` (list of ``{case_number, plates, reason}``
        or case numbers), ``severity``, ``hotlist`` (CSV/Parquet path) and
        ``exports`` (table -> list of Parquet globs).
    preset : str, optional
        A preset name (overrides the file's ``preset``).

    Returns
    -------
    RetentionPolicy

    Examples
    --------
    >>> load_policy(preset="new_hampshire").tables["alpr_reads"]["non_hit"]
    '3min'
    """
    builtin = _read_yaml(BUILTIN_FILE)
    spec = dict(builtin["default"])
    spec["severity"] = builtin["severity"]
    user = _read_yaml(path) if path else {}
    preset = preset or user.get("preset")
    if preset:
        known = builtin.get("presets") or {}
        if preset not in known:
            raise RetentionError(f"unknown retention preset {preset!r} (known: {', '.join(known)})")
        spec["tables"] = _merge(spec["tables"], {"alpr_reads": {"non_hit": known[preset]["non_hit"]}})
        spec["name"], spec["description"] = preset, known[preset]["description"]
    for key in ("name", "description", "hotlist", "severity", "legal_holds", "exports"):
        if key in user:
            spec[key] = user[key]
    if "tables" in user:
        spec["tables"] = _merge(spec["tables"], user["tables"] or {})
    unknown = set(user) - {"name", "description", "preset", "tables", "legal_holds", "severity", "hotlist",
                           "exports"}
    if unknown:
        raise RetentionError(f"unknown keys in retention policy {path}: {', '.join(sorted(unknown))}")
    for table, rules in spec["tables"].items():
        table_spec(table)
        for rule, age in (rules or {}).items():
            if rule == "classes":
                for age_ in age.values():
                    parse_age(age_)
            else:
                parse_age(age)
    holds = [h if isinstance(h, dict) else {"case_number": str(h)} for h in spec.get("legal_holds") or []]
    if path and spec.get("hotlist") and not Path(spec["hotlist"]).is_absolute():
        spec["hotlist"] = str(Path(path).parent / spec["hotlist"])
    return RetentionPolicy(name=str(spec.get("name", "custom")), tables=spec["tables"], legal_holds=holds,
                           severity=spec["severity"], description=str(spec.get("description", "")).strip(),
                           hotlist=spec.get("hotlist"), exports=dict(spec.get("exports") or {}))


# -- legal holds -------------------------------------------------------------------------------

def legal_holds(store, policy: RetentionPolicy | None = None) -> pd.DataFrame:
    """Holds in force: those in the policy and those placed in the store (columns case_number, plates, reason, source)."""
    rows = [{**h, "source": "policy"} for h in (policy.legal_holds if policy else [])]
    rows += [{**h, "source": "store"} for h in store.get_meta(HOLDS_META_KEY, [])]
    frame = pd.DataFrame(rows, columns=["case_number", "plates", "reason", "placed_by", "placed_at", "source"])
    frame["plates"] = frame["plates"].apply(lambda p: list(p) if isinstance(p, (list, tuple)) else [])
    return frame


def place_hold(store, case_number, *, user, reason, plates=(), log=None) -> dict:
    """Keep everything tied to ``case_number`` (and reads of ``plates``) until the hold is lifted.

    The hold is stored in the store (``_meta``) and audited as ``legal_hold_placed``.
    """
    from workbench.governance.audit import default_log
    from workbench.governance.policy import require_justification

    just = require_justification(user, reason, case_number, action="legal_hold")
    hold = {"case_number": just.case_number, "plates": sorted({str(p).upper() for p in plates}),
            "reason": just.reason, "placed_by": just.user,
            "placed_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    with store.transaction():
        holds = [h for h in store.get_meta(HOLDS_META_KEY, []) if h["case_number"] != hold["case_number"]]
        store.set_meta(HOLDS_META_KEY, holds + [hold])
        (log or default_log()).record(user=just.user, action="legal_hold_placed",
                                      parameters={"plates": len(hold["plates"])}, reason=just.reason,
                                      case_number=just.case_number, result_count=None)
    return hold


def lift_hold(store, case_number, *, user, reason, log=None) -> bool:
    """Lift a hold placed with :func:`place_hold`; audited as ``legal_hold_lifted``. True if one was lifted."""
    from workbench.governance.audit import default_log
    from workbench.governance.policy import require_justification

    just = require_justification(user, reason, case_number, action="legal_hold")
    with store.transaction():
        holds = store.get_meta(HOLDS_META_KEY, [])
        kept = [h for h in holds if h["case_number"] != just.case_number]
        if len(kept) == len(holds):
            return False
        store.set_meta(HOLDS_META_KEY, kept)
        (log or default_log()).record(user=just.user, action="legal_hold_lifted", parameters={},
                                      reason=just.reason, case_number=just.case_number, result_count=None)
    return True


# -- planning ----------------------------------------------------------------------------------

@dataclass
class _Bucket:
    table: str
    rule: str
    cutoff: pd.Timestamp
    where: str
    params: list


@dataclass
class RetentionPlan:
    """What a retention run deletes (dry run) or deleted.

    Attributes
    ----------
    policy : str
    as_of : pandas.Timestamp
    counts : pandas.DataFrame
        One row per table and rule: ``table, rule, cutoff, rows`` (rows in the store).
    exports : pandas.DataFrame
        One row per Parquet export file and rule: ``file, table, rule, rows``.
    holds : list of str
        Case numbers under legal hold during the run.
    applied : bool
        False for a dry run.
    """

    policy: str
    as_of: pd.Timestamp
    counts: pd.DataFrame
    exports: pd.DataFrame
    holds: list
    applied: bool = False

    @property
    def total(self) -> int:
        """Rows deleted (or to delete) from the store."""
        return int(self.counts["rows"].sum()) if len(self.counts) else 0

    def by_table(self) -> dict:
        """``{table: {rule: rows}}`` for rules that delete something."""
        out: dict = {}
        for row in self.counts[self.counts["rows"] > 0].itertuples():
            out.setdefault(row.table, {})[row.rule] = int(row.rows)
        return out

    def summary(self) -> str:
        """Plain text: one line per table and rule."""
        verb = "deleted" if self.applied else "would delete (dry run)"
        lines = [f"retention policy {self.policy!r} as of {self.as_of:%Y-%m-%d %H:%M} UTC: {verb} "
                 f"{self.total:,} rows; legal holds: {', '.join(self.holds) or 'none'}"]
        for row in self.counts.itertuples():
            lines.append(f"  {row.table:<11} {row.rule:<22} older than {row.cutoff:%Y-%m-%d %H:%M}  {row.rows:>10,}")
        for row in self.exports[self.exports["rows"] > 0].itertuples():
            lines.append(f"  export {row.file}: {row.rule} {row.rows:,}")
        return "\n".join(lines)


def _in(column: str) -> str:
    """SQL: ``column`` is in the VARCHAR list bound to the next ``?`` (NULL is not)."""
    return f"coalesce(CAST({column} AS VARCHAR) IN (SELECT unnest(?::VARCHAR[])), false)"


def _class_sql(column: str, severity: dict) -> str:
    cases = []
    for name, words in severity.items():
        pattern = "|".join(re.escape(str(w).lower()) for w in words).replace("'", "''")
        cases.append(f"WHEN regexp_matches(lower(coalesce({column}, '')), '{pattern}') THEN '{name}'")
    return f"CASE {' '.join(cases)} ELSE 'other' END"


def _load_hotlist(hotlist, policy) -> pd.DataFrame:
    source = hotlist if hotlist is not None else policy.hotlist
    if source is None:
        return pd.DataFrame({"plate": pd.Series([], dtype=str), "case_number": pd.Series([], dtype=str)})
    if not isinstance(source, pd.DataFrame):
        path = Path(source)
        source = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, dtype=str)
    if "plate" not in source:
        raise RetentionError("the hotlist needs a 'plate' column")
    frame = pd.DataFrame({"plate": source["plate"].astype(str).str.upper()})
    frame["case_number"] = source["case_number"].astype("string") if "case_number" in source else pd.NA
    return frame


def _lookups(store, policy, hotlist) -> dict:
    holds = legal_holds(store, policy)
    held = sorted(set(holds["case_number"].dropna().astype(str)))
    hot = _load_hotlist(hotlist, policy)
    ids = store.sql(
        "SELECT c.case_id, c.incident_id, i.case_number, c.cleared_at IS NULL AS open "
        "FROM cases c LEFT JOIN incidents i USING (incident_id)")
    held_mask = ids["case_id"].isin(held) | ids["case_number"].isin(held)
    open_ids = ids[ids["open"].astype(bool)]
    protected_cases = set(open_ids["case_id"]) | set(open_ids["case_number"].dropna()) | set(held)
    held_incidents = set(ids.loc[held_mask, "incident_id"])
    held_incidents |= set(store.sql("SELECT incident_id FROM incidents WHERE " + _in("case_number"),
                                    [held])["incident_id"])
    protected_plates = set(hot.loc[hot["case_number"].isin(protected_cases), "plate"])
    protected_plates |= {p.upper() for plates in holds["plates"] for p in plates}
    return {
        "held": held,
        "hot_plates": sorted(set(hot["plate"])),
        "protected_plates": sorted(protected_plates),
        "protected_incidents": sorted(held_incidents | set(open_ids["incident_id"])),
        "held_incidents": sorted(held_incidents),
        "held_cases": sorted(set(ids.loc[held_mask, "case_id"])),
    }


def _cutoff(as_of: pd.Timestamp, age):
    return as_of - age


def _buckets(policy: RetentionPolicy, as_of: pd.Timestamp, look: dict) -> list[_Bucket]:
    buckets = []
    rules = policy.tables
    alpr = rules.get("alpr_reads") or {}
    for rule, hit in (("non_hit", False), ("hit", True)):
        age = parse_age(alpr.get(rule, KEEP))
        if age is KEEP:
            continue
        plate_is_hit = _in("plate") if hit else f"NOT {_in('plate')}"
        where = f"read_at < ? AND {plate_is_hit} AND NOT {_in('plate')}"
        buckets.append(_Bucket("alpr_reads", rule, _cutoff(as_of, age), where,
                               [look["hot_plates"], look["protected_plates"]]))
    for table, time_col, class_col in (("incidents", "occurred_at", "offense"), ("calls", "received_at", "call_type")):
        classes = (rules.get(table) or {}).get("classes") or {}
        key = "incident_id"
        for name, age in classes.items():
            age = parse_age(age)
            if age is KEEP:
                continue
            where = (f"{time_col} < ? AND ({_class_sql(class_col, policy.severity)}) = '{name}' "
                     f"AND NOT {_in(key)}")
            buckets.append(_Bucket(table, f"class {name}", _cutoff(as_of, age), where, [look["protected_incidents"]]))
    cleared = parse_age((rules.get("cases") or {}).get("cleared", KEEP))
    if cleared is not KEEP:
        buckets.append(_Bucket("cases", "cleared", _cutoff(as_of, cleared),
                               f"cleared_at IS NOT NULL AND cleared_at < ? AND NOT {_in('case_id')} "
                               f"AND NOT {_in('incident_id')}", [look["held_cases"], look["held_incidents"]]))
    for table, time_col, guard in (("gunshots", "detected_at", "incident_id"), ("units", "at", None)):
        age = parse_age((rules.get(table) or {}).get("all", KEEP))
        if age is KEEP:
            continue
        where, params = f'"{time_col}" < ?', []
        if guard:
            where += f" AND NOT {_in(guard)}"
            params = [look["protected_incidents"]]
        buckets.append(_Bucket(table, "all", _cutoff(as_of, age), where, params))
    return buckets


def _export_files(policy: RetentionPolicy, exports) -> list[tuple[str, Path]]:
    """(table, file) pairs: policy globs per table, plus files/folders given (table from the file name)."""
    pairs = []
    for table, patterns in (policy.exports or {}).items():
        for pattern in [patterns] if isinstance(patterns, str) else patterns:
            pairs += [(table, Path(p)) for p in sorted(glob.glob(str(pattern)))]
    tables = sorted((policy.tables or {}).keys(), key=len, reverse=True)
    for item in exports or ():
        item = Path(item)
        files = sorted(item.rglob("*.parquet")) if item.is_dir() else [item]
        for f in files:
            table = next((t for t in tables if f.name.startswith(t)), None)
            if table is not None:
                pairs.append((table, f))
    return list(dict.fromkeys(pairs))


def _as_of(as_of) -> pd.Timestamp:
    ts = pd.Timestamp(as_of) if as_of is not None else pd.Timestamp.now(tz="UTC")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _run(store, policy, as_of, hotlist, exports, dry_run) -> RetentionPlan:
    as_of = _as_of(as_of)
    look = _lookups(store, policy, hotlist)
    buckets = _buckets(policy, as_of, look)
    rows = []
    with store.transaction() if not dry_run else _nothing():
        for b in buckets:
            params = [b.cutoff, *b.params]
            if dry_run:
                n = int(store.sql(f"SELECT count(*) AS n FROM {b.table} WHERE {b.where}", params)["n"].iloc[0])
            else:
                n = store.delete(b.table, b.where, params)
            rows.append({"table": b.table, "rule": b.rule, "cutoff": b.cutoff, "rows": n})
    export_rows = []
    for table, path in _export_files(policy, exports):
        export_rows += _purge_export(path, table, [b for b in buckets if b.table == table], dry_run)
    return RetentionPlan(policy.name, as_of,
                         pd.DataFrame(rows, columns=["table", "rule", "cutoff", "rows"]),
                         pd.DataFrame(export_rows, columns=["file", "table", "rule", "rows"]),
                         look["held"], applied=not dry_run)


class _nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def _purge_export(path: Path, table: str, buckets: list[_Bucket], dry_run: bool) -> list[dict]:
    """Count (and unless ``dry_run`` delete) the buckets' rows in one Parquet export, rewriting it atomically."""
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone='UTC'")
        literal = str(path).replace("'", "''")
        con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{literal}')")
        out, drop = [], []
        for b in buckets:
            params = [b.cutoff, *b.params]
            n = int(con.execute(f"SELECT count(*) FROM {table} WHERE {b.where}", params).fetchone()[0])
            out.append({"file": str(path), "table": table, "rule": b.rule, "rows": n})
            if n:
                drop.append((b.where, params))
        if drop and not dry_run:
            where = " OR ".join(f"coalesce(({w}), false)" for w, _ in drop)
            params = [p for _, ps in drop for p in ps]
            tmp = path.with_name(path.name + ".retention.tmp")
            con.execute(f"COPY (SELECT * FROM {table} WHERE NOT ({where})) TO '{str(tmp).replace(chr(39), chr(39) * 2)}' "
                        "(FORMAT parquet, COMPRESSION zstd)", params)
            con.close()
            os.replace(tmp, path)
        return out
    finally:
        try:
            con.close()
        except duckdb.Error:
            pass


def plan(store, policy: RetentionPolicy | None = None, *, as_of=None, hotlist=None, exports=()) -> RetentionPlan:
    """Count what :func:`apply` would delete, deleting nothing (the dry run).

    Parameters
    ----------
    store : workbench.data.Store
    policy : RetentionPolicy, optional
        Default: :func:`load_policy` ``()``.
    as_of : str or Timestamp, optional
        The time ages are measured back from (default now; naive = UTC).
    hotlist : DataFrame or path, optional
        ``plate`` and optional ``case_number``; default the policy's ``hotlist``.
    exports : iterable of paths
        Parquet exports (files, or folders searched for ``<table>*.parquet``).

    Returns
    -------
    RetentionPlan
        ``applied`` False.
    """
    return _run(store, policy or load_policy(), as_of, hotlist, exports, dry_run=True)


def apply(store, policy: RetentionPolicy | None = None, *, as_of=None, hotlist=None, exports=(),
          dry_run=False, user="retention", role=None, client=None, log=None) -> RetentionPlan:
    """Delete what the policy no longer allows to keep; audit the purge (counts only).

    Parameters
    ----------
    store, policy, as_of, hotlist, exports
        As for :func:`plan`.
    dry_run : bool
        Only count (same as :func:`plan`); nothing is deleted or audited.
    user, role, client : str
        Recorded in the audit log; a ``role`` given must hold ``manage_retention``.
    log : AuditLog, optional
        Default :func:`workbench.governance.audit.default_log`.

    Returns
    -------
    RetentionPlan
        What was deleted, per table and rule and per export file.
    """
    from workbench.governance.audit import default_log
    from workbench.governance.roles import require

    if role is not None:
        require(role, "manage_retention")
    policy = policy or load_policy()
    if dry_run:
        return plan(store, policy, as_of=as_of, hotlist=hotlist, exports=exports)
    log = log or default_log()
    # The intent is logged before anything is deleted, so no purge can happen unaudited: if this
    # write fails nothing is deleted; if the purge fails the failure is logged too.
    log.record(user=user, role=role, client=client, action="retention_purge_started",
               parameters={"policy": policy.name, "as_of": None if as_of is None else str(as_of)},
               reason=f"retention policy {policy.name}", case_number=None, result_count=None)
    try:
        result = _run(store, policy, as_of, hotlist, exports, dry_run=False)
    except Exception as exc:
        log.record(user=user, role=role, client=client, action="retention_purge_failed",
                   parameters={"policy": policy.name, "error": type(exc).__name__},
                   reason=f"retention policy {policy.name}", case_number=None, result_count=None)
        raise
    exported = result.exports[result.exports["rows"] > 0]
    log.record(user=user, role=role, client=client, action="retention_purge",
               parameters={"policy": result.policy, "as_of": result.as_of.isoformat(),
                           "deleted": result.by_table(),
                           "exports": {f: int(n) for f, n in exported.groupby("file")["rows"].sum().items()},
                           "legal_holds": len(result.holds)},
               reason=f"retention policy {result.policy}", case_number=None, result_count=result.total)
    return result


class RetentionScheduler:
    """Run :func:`apply` every ``every`` on the served app's store (the one writer), in a daemon thread.

    Parameters
    ----------
    store : workbench.data.Store
    policy : RetentionPolicy, optional
    every : str or Timedelta
        Interval, e.g. ``"1h"`` (for New Hampshire's 3 minutes, ``"1min"``).
    **options
        Passed to :func:`apply` (``hotlist``, ``exports``, ``log`` ...).

    Attributes
    ----------
    last_ : RetentionPlan or None
    error_ : Exception or None
        The last run's error, kept rather than killing the thread.
    """

    def __init__(self, store, policy=None, *, every="1h", **options):
        self.store, self.policy, self.every, self.options = store, policy, every, options
        self.last_ = None
        self.error_ = None
        self._stop = threading.Event()
        self._thread = None

    def run_once(self) -> RetentionPlan:
        """One retention run now."""
        self.last_ = apply(self.store, self.policy, user="retention-scheduler", client="scheduler", **self.options)
        return self.last_

    def _loop(self):
        interval = pd.Timedelta(self.every).total_seconds()
        while not self._stop.is_set():
            try:
                self.run_once()
                self.error_ = None
            except Exception as exc:  # keep serving; the error is visible on the scheduler
                self.error_ = exc
            self._stop.wait(interval)

    def start(self) -> "RetentionScheduler":
        """Start the thread (first run immediately)."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="retention", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread after the current run."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
