"""Transparency report: what an oversight board or a public-records request asks for.

Per period (month by default): searches by reason and action (from the audit
log; users are counted by role, never named), ALPR hit rate (hits / reads),
data held by age against the retention policy (rows held, oldest row, rows past
their limit), and cameras by owner type. HTML and CSV, no plates, no names.

Example
-------
>>> from workbench.data import Store
>>> import tempfile, pathlib
>>> from workbench.governance.audit import AuditLog
>>> report = transparency_report(Store(":memory:"), AuditLog(pathlib.Path(tempfile.mkdtemp()) / "a.jsonl"))
>>> list(report.tables())
['searches', 'hit_rate', 'data_held', 'cameras']
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from workbench.governance.retention import RetentionPolicy, load_policy, plan

NOT_SEARCHES = {"retention_purge", "legal_hold_placed", "legal_hold_lifted", "audit_export", "login"}
TIME_COLUMNS = {"alpr_reads": "read_at", "incidents": "occurred_at", "calls": "received_at", "cases": "opened_at",
                "gunshots": "detected_at", "units": "at"}


def _period(times: pd.Series, period: str) -> pd.Series:
    return times.dt.tz_convert("UTC").dt.tz_localize(None).dt.to_period(period).astype(str)


def searches_by_reason(log, *, period="M") -> pd.DataFrame:
    """Audited searches per period, action, reason and role.

    Columns ``searches`` (that ran), ``refused`` (attempts refused for want of a
    justification or permission, recorded by the engines with ``parameters["refused"]``),
    ``results`` (rows returned) and ``with_case_number``.
    """
    records = log.records()
    records = records[~records["action"].isin(NOT_SEARCHES)]
    cols = ["period", "action", "reason", "role", "searches", "refused", "results", "with_case_number"]
    if records.empty:
        return pd.DataFrame(columns=cols)
    refused = records["parameters"].map(lambda p: isinstance(p, dict) and "refused" in p)
    records = records.assign(period=_period(records["time"], period),
                             reason=records["reason"].fillna("(none)").astype(str).str.strip().str.lower()
                             .replace("", "(none)"),
                             role=records["role"].fillna("(unknown)"),
                             ran=~refused, refused=refused,
                             has_case=records["case_number"].notna() & ~refused)
    out = (records.groupby(["period", "action", "reason", "role"])
           .agg(searches=("ran", "sum"), refused=("refused", "sum"), results=("result_count", "sum"),
                with_case_number=("has_case", "sum"))
           .reset_index())
    return out[cols]


def hit_rate(store, hotlist, *, period="M") -> pd.DataFrame:
    """ALPR reads, hotlist hits and hit rate (hits / reads) per period."""
    plates = sorted(set(pd.Series(hotlist["plate"] if hotlist is not None else [], dtype=str).str.upper()))
    frame = store.sql("SELECT read_at, list_contains(?::VARCHAR[], plate) AS hit FROM alpr_reads", [plates])
    if frame.empty:
        return pd.DataFrame(columns=["period", "reads", "hits", "hit_rate"])
    frame["period"] = _period(pd.to_datetime(frame["read_at"], utc=True), period)
    out = frame.groupby("period").agg(reads=("hit", "size"), hits=("hit", "sum")).reset_index()
    out["hit_rate"] = out["hits"] / out["reads"]
    return out


def data_held(store, policy: RetentionPolicy, *, hotlist=None, as_of=None) -> pd.DataFrame:
    """Rows held per table against the policy: ``rows, oldest, oldest_age_days, limit, past_limit``.

    ``past_limit`` is what a retention run at ``as_of`` would delete (0 when
    retention is running as it should).
    """
    due = plan(store, policy, as_of=as_of, hotlist=hotlist)
    as_of = due.as_of
    rows = []
    for table, time_col in TIME_COLUMNS.items():
        stats = store.sql(f'SELECT count(*) AS n, min("{time_col}") AS oldest FROM {table}').iloc[0]
        rules = policy.tables.get(table) or {}
        limits = []
        for rule, age in rules.items():
            if rule == "classes":
                limits += [f"{c}: {a}" for c, a in age.items()]
            else:
                limits.append(f"{rule}: {age}")
        oldest = pd.Timestamp(stats["oldest"]) if pd.notna(stats["oldest"]) else pd.NaT
        if oldest is not pd.NaT and oldest.tzinfo is None:
            oldest = oldest.tz_localize("UTC")
        rows.append({"table": table, "rows": int(stats["n"]), "oldest": oldest,
                     "oldest_age_days": (as_of - oldest).total_seconds() / 86400 if oldest is not pd.NaT else None,
                     "limit": "; ".join(limits) or "keep",
                     "past_limit": int(due.counts.loc[due.counts["table"] == table, "rows"].sum())})
    return pd.DataFrame(rows)


def cameras_by_owner(store) -> pd.DataFrame:
    """Cameras by kind and owner type."""
    return store.sql("SELECT kind, coalesce(owner, '(unknown)') AS owner, count(*) AS cameras FROM cameras "
                     "GROUP BY ALL ORDER BY kind, cameras DESC")


@dataclass
class TransparencyReport:
    """The transparency tables (see the module docstring) and their HTML / CSV rendering."""

    title: str
    policy: str
    period: str
    searches: pd.DataFrame
    hit_rate: pd.DataFrame
    data_held: pd.DataFrame
    cameras: pd.DataFrame
    audit_intact: str

    def tables(self) -> dict:
        """Name -> DataFrame."""
        return {"searches": self.searches, "hit_rate": self.hit_rate, "data_held": self.data_held,
                "cameras": self.cameras}

    def to_html(self) -> str:
        """One self-contained HTML document."""
        esc = html.escape
        parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(self.title)}</title>",
                 "<style>body{font-family:sans-serif;max-width:70em;margin:auto}table{border-collapse:collapse}"
                 "td,th{border:1px solid #ccc;padding:2px 6px}</style></head><body>",
                 f"<h1>{esc(self.title)}</h1>",
                 f"<p>Retention policy: {esc(self.policy)}. Period: {esc(self.period)}. "
                 f"Audit log: {esc(self.audit_intact)}.</p>"]
        captions = {"searches": "Searches by reason (audit log; users counted by role)",
                    "hit_rate": "ALPR hit rate: hotlist hits / reads",
                    "data_held": "Data held by age against the retention policy",
                    "cameras": "Cameras by owner type"}
        for name, table in self.tables().items():
            parts.append(f"<h2>{esc(captions[name])}</h2>")
            parts.append(table.to_html(index=False, float_format=lambda v: f"{v:.4g}") if len(table)
                         else "<p>none</p>")
        parts.append("</body></html>")
        return "\n".join(parts)

    def save(self, folder) -> Path:
        """Write ``transparency.html`` and one CSV per table into ``folder``; returns the HTML path."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for name, table in self.tables().items():
            table.to_csv(folder / f"transparency_{name}.csv", index=False)
        path = folder / "transparency.html"
        path.write_text(self.to_html(), encoding="utf-8")
        return path


def transparency_report(store, log, *, policy: RetentionPolicy | None = None, hotlist=None, period="M",
                        as_of=None, title="ALPR and RTCC transparency report") -> TransparencyReport:
    """Build the transparency report from the store, the audit log and the retention policy.

    Parameters
    ----------
    store : workbench.data.Store
    log : AuditLog
    policy : RetentionPolicy, optional
        Default :func:`workbench.governance.retention.load_policy` ``()``.
    hotlist : DataFrame or path, optional
        For hits (default the policy's).
    period : str
        pandas period code: ``"M"`` month, ``"W"`` week, ``"Q"`` quarter.
    as_of : str or Timestamp, optional
        For ages (default now).

    Returns
    -------
    TransparencyReport
    """
    from workbench.governance.retention import _load_hotlist

    policy = policy or load_policy()
    hot = _load_hotlist(hotlist, policy)
    verdict = log.verify()
    return TransparencyReport(title, policy.name, period, searches_by_reason(log, period=period),
                              hit_rate(store, hot, period=period),
                              data_held(store, policy, hotlist=hot, as_of=as_of), cameras_by_owner(store),
                              str(verdict))
