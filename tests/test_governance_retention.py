"""Retention on the sample scenario: the dry run says exactly what apply deletes, holds and open cases survive."""

import json
import shutil

import pandas as pd
import pytest

import workbench
from workbench.data import Store
from workbench.governance import retention as R
from workbench.governance.audit import AuditLog

AS_OF = "2026-01-10"


@pytest.fixture
def store(sample_store_file, tmp_path):
    path = tmp_path / "store.duckdb"
    shutil.copy(sample_store_file, path)
    with Store(path) as store:
        yield store


@pytest.fixture
def log(tmp_path):
    return AuditLog(tmp_path / "audit.jsonl")


def _keys(store, table, key):
    return set(store.sql(f"SELECT {key} FROM {table}")[key])


def _week_policy():
    """Non-hit reads after 7 days, hits after 10: on the sample's two ALPR weeks both rules bite."""
    policy = R.load_policy()
    policy.tables["alpr_reads"] = {"non_hit": 7, "hit": 10}
    return policy


def _hotlist(sample, store):
    """The sample hotlist; 'wanted' entries carry the case number of the incident their vehicle fled."""
    hot = sample.truth["hotlist"][["plate", "vehicle_id"]].copy()
    links = sample.truth["incident_vehicles"][["vehicle_id", "incident_id"]].drop_duplicates("vehicle_id")
    numbers = store.sql("SELECT incident_id, case_number FROM incidents")
    hot = hot.merge(links, on="vehicle_id", how="left").merge(numbers, on="incident_id", how="left")
    return hot[["plate", "case_number"]]


def test_dry_run_reports_exactly_what_apply_deletes(store, sample, log):
    hot = _hotlist(sample, store)
    before = {t: _keys(store, t, k) for t, k in (("alpr_reads", "read_id"), ("incidents", "incident_id"),
                                                  ("calls", "call_id"))}
    dry = R.plan(store, _week_policy(), as_of=AS_OF, hotlist=hot)
    assert not dry.applied and dry.total > 0
    assert {t: _keys(store, t, k) for t, k in (("alpr_reads", "read_id"), ("incidents", "incident_id"),
                                                ("calls", "call_id"))} == before  # nothing deleted
    done = R.apply(store, _week_policy(), as_of=AS_OF, hotlist=hot, log=log)
    pd.testing.assert_frame_equal(dry.counts, done.counts)
    for table, key in (("alpr_reads", "read_id"), ("incidents", "incident_id"), ("calls", "call_id")):
        gone = len(before[table] - _keys(store, table, key))
        assert gone == dry.counts.loc[dry.counts["table"] == table, "rows"].sum(), table
    by_table = dry.by_table()
    assert by_table["alpr_reads"]["non_hit"] > 100_000 and by_table["alpr_reads"]["hit"] > 0
    assert by_table["incidents"]["class minor"] > 0 and by_table["calls"]["class minor"] > 0
    # a second run finds nothing left to delete
    assert R.plan(store, _week_policy(), as_of=AS_OF, hotlist=hot).total == 0


def test_non_hits_go_after_n_days_and_hits_of_open_cases_stay(store, sample, log):
    hot = _hotlist(sample, store)
    cutoff = pd.Timestamp(AS_OF, tz="UTC") - pd.Timedelta(days=7)
    R.apply(store, _week_policy(), as_of=AS_OF, hotlist=hot, log=log)
    reads = store.query("alpr_reads")
    old = reads[reads["read_at"] < cutoff]
    assert len(old) > 0 and old["plate"].isin(hot["plate"]).all()  # every old non-hit read is gone
    open_cases = store.sql("SELECT i.case_number FROM cases c JOIN incidents i USING (incident_id) "
                           "WHERE c.cleared_at IS NULL")["case_number"]
    open_plates = set(hot.loc[hot["case_number"].isin(open_cases), "plate"])
    assert open_plates, "the sample should have hotlisted vehicles of open cases"
    hit_cutoff = pd.Timestamp(AS_OF, tz="UTC") - pd.Timedelta(days=10)
    older_hits = set(reads.loc[reads["read_at"] < hit_cutoff, "plate"])
    assert older_hits and older_hits <= open_plates  # hits older than 10 days survive only for open cases
    original = sample.tables["alpr_reads"]
    assert (original["plate"].isin(open_plates)).sum() == reads["plate"].isin(open_plates).sum()


def test_legal_hold_keeps_a_case_its_calls_and_named_plates(store, sample, log):
    hot = _hotlist(sample, store)
    doomed = store.sql(
        "SELECT i.incident_id, i.case_number FROM incidents i JOIN cases c USING (incident_id) "
        "WHERE c.cleared_at IS NOT NULL AND i.offense = 'drug_violation' AND i.occurred_at < '2025-06-01' "
        "AND i.incident_id IN (SELECT incident_id FROM calls) ORDER BY i.occurred_at LIMIT 1").iloc[0]
    plate = sample.tables["alpr_reads"]["plate"].iloc[0]
    R.place_hold(store, doomed["case_number"], user="counsel", reason="litigation hold", plates=[plate], log=log)
    dry = R.plan(store, _week_policy(), as_of=AS_OF, hotlist=hot)
    assert dry.holds == [doomed["case_number"]]
    R.apply(store, _week_policy(), as_of=AS_OF, hotlist=hot, log=log)
    assert doomed["incident_id"] in _keys(store, "incidents", "incident_id")
    assert store.count("calls") and len(store.sql("SELECT * FROM calls WHERE incident_id = ?",
                                                  [doomed["incident_id"]])) >= 1
    assert (store.query("alpr_reads")["plate"] == plate).sum() == (sample.tables["alpr_reads"]["plate"] == plate).sum()
    # lifted, the next run takes it
    assert R.lift_hold(store, doomed["case_number"], user="counsel", reason="case closed", log=log)
    R.apply(store, _week_policy(), as_of=AS_OF, hotlist=hot, log=log)
    assert doomed["incident_id"] not in _keys(store, "incidents", "incident_id")
    assert [a for a in log.records()["action"]] == [
        "legal_hold_placed", "retention_purge_started", "retention_purge", "legal_hold_lifted",
        "retention_purge_started", "retention_purge"]


def test_purge_is_audited_with_counts_never_content(store, sample, log):
    hot = _hotlist(sample, store)
    done = R.apply(store, _week_policy(), as_of=AS_OF, hotlist=hot, log=log, user="records.officer",
                   role="admin")
    records = log.records()
    assert records["action"].tolist() == ["retention_purge_started", "retention_purge"] and log.verify()
    purge = records.iloc[-1]
    assert purge["action"] == "retention_purge" and purge["result_count"] == done.total
    assert purge["parameters"]["deleted"] == done.by_table()
    text = log.path.read_text()
    assert not any(p in text for p in sample.tables["alpr_reads"]["plate"].head(1000))
    with pytest.raises(workbench.errors.PermissionDenied):
        R.apply(store, _week_policy(), as_of=AS_OF, hotlist=hot, log=log, role="analyst")


def test_parquet_exports_are_purged_like_the_store(store, sample, log, tmp_path):
    hot = _hotlist(sample, store)
    exports = tmp_path / "exports"
    store.export_parquet("alpr_reads", exports / "alpr_reads.parquet")
    store.export_parquet("calls", exports / "calls_2025.parquet")
    dry = R.plan(store, _week_policy(), as_of=AS_OF, hotlist=hot, exports=[exports])
    R.apply(store, _week_policy(), as_of=AS_OF, hotlist=hot, exports=[exports], log=log)
    for table, name in (("alpr_reads", "alpr_reads.parquet"), ("calls", "calls_2025.parquet")):
        left = pd.read_parquet(exports / name)
        assert len(left) == store.count(table)
        planned = dry.exports.loc[dry.exports["file"].str.endswith(name), "rows"].sum()
        assert planned == len(sample.tables[table]) - len(left)
    audit = json.loads(log.path.read_text().splitlines()[-1])
    assert sum(audit["parameters"]["exports"].values()) == dry.exports["rows"].sum()


def test_state_presets_set_the_non_hit_limit():
    assert R.parse_age(R.load_policy(preset="new_hampshire").tables["alpr_reads"]["non_hit"]) == pd.Timedelta("3min")
    assert R.parse_age(R.load_policy(preset="maine").tables["alpr_reads"]["non_hit"]) == pd.Timedelta(days=21)
    vermont = R.parse_age(R.load_policy(preset="vermont").tables["alpr_reads"]["non_hit"])
    assert pd.Timestamp("2026-07-01", tz="UTC") - vermont == pd.Timestamp("2025-01-01", tz="UTC")
    assert R.parse_age(R.load_policy().tables["alpr_reads"]["non_hit"]) == pd.Timedelta(days=30)
    with pytest.raises(R.RetentionError, match="unknown retention preset"):
        R.load_policy(preset="utopia")


def test_new_hampshire_keeps_only_the_last_three_minutes_of_non_hits(store, sample, log):
    last = sample.tables["alpr_reads"]["read_at"].max()
    as_of = last + pd.Timedelta(minutes=1)
    R.apply(store, R.load_policy(preset="new_hampshire"), as_of=as_of, hotlist=_hotlist(sample, store), log=log)
    reads = store.query("alpr_reads")
    hot = set(_hotlist(sample, store)["plate"])
    non_hits = reads[~reads["plate"].isin(hot)]
    assert len(non_hits) > 0 and (non_hits["read_at"] >= as_of - pd.Timedelta(minutes=3)).all()


def test_policy_file_overrides_and_rejects_unknown_keys(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text("preset: maine\ntables:\n  incidents:\n    classes: {minor: 30}\nlegal_holds: [25-000123]\n")
    policy = R.load_policy(path)
    assert policy.name == "maine" and policy.tables["incidents"]["classes"]["minor"] == 30
    assert policy.tables["incidents"]["classes"]["homicide"] == "keep"
    assert policy.legal_holds == [{"case_number": "25-000123"}]
    path.write_text("tables:\n  alpr_reads:\n    non_hit: soon\n")
    with pytest.raises(R.RetentionError, match="not a number of days"):
        R.load_policy(path)
    path.write_text("retain: forever\n")
    with pytest.raises(R.RetentionError, match="unknown keys"):
        R.load_policy(path)


def test_a_purge_is_logged_before_it_deletes_and_a_failed_purge_is_logged_too(sample_store_file, tmp_path, log):
    path = tmp_path / "readonly.duckdb"
    shutil.copy(sample_store_file, path)
    with Store(path, read_only=True) as store:  # deleting will fail for real
        before = store.count("alpr_reads")
        with pytest.raises(Exception):
            R.apply(store, _week_policy(), as_of=AS_OF, log=log)
        assert store.count("alpr_reads") == before
    assert log.records()["action"].tolist() == ["retention_purge_started", "retention_purge_failed"]
    assert log.verify()


def test_served_deployments_run_retention_on_a_schedule(store, log):
    import time

    from workbench.cli import main
    from workbench.governance.audit import set_default_log
    from workbench.ui.serve import start_retention

    expected = R.plan(store, R.load_policy(preset="new_hampshire")).by_table()
    set_default_log(log)
    try:
        scheduler = start_retention(store, "new_hampshire", every="1h")
        deadline = time.monotonic() + 60
        while scheduler.last_ is None and scheduler.error_ is None and time.monotonic() < deadline:
            time.sleep(0.1)
        scheduler.stop()
    finally:
        set_default_log(None)
    assert scheduler.error_ is None
    assert scheduler.last_.by_table() == expected and scheduler.last_.total > 0
    assert log.records()["action"].tolist() == ["retention_purge_started", "retention_purge"]
    assert main(["serve", "--users", "nobody.yaml", "--retention", "maine"]) == 1  # needs --live


def test_a_broken_retention_policy_is_one_plain_error(tmp_path):
    bad = tmp_path / "policy.yaml"
    bad.write_text("tables: {alpr_reads: [\n")
    with pytest.raises(R.RetentionError, match="retention policy .* is not valid YAML"):
        R.load_policy(bad)
    bad.write_text("- a list\n")
    with pytest.raises(R.RetentionError, match="retention policy .* must be a mapping"):
        R.load_policy(bad)
