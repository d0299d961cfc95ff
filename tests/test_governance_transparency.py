"""Transparency report and the governance commands, on the sample scenario."""

import json

import pandas as pd

from workbench.cli import main
from workbench.data import Store
from workbench.governance import retention as R
from workbench.governance.audit import AuditLog
from workbench.governance.transparency import transparency_report

AS_OF = "2026-01-10"


def _searches(log):
    for reason, n in (("robbery follow-up", 3), ("missing person", 2)):
        for i in range(n):
            log.record(user=f"inv{i}", role="investigator", action="plate_search", parameters={"plate": "X*"},
                       reason=reason, case_number=f"25-{i}", result_count=10 * (i + 1))
    log.record(user="ana", role="analyst", action="hotlist_check", parameters={}, reason="stolen vehicle",
               case_number=None, result_count=1)
    log.record(user="ana", role="analyst", action="plate_search", parameters={"refused": "no reason"},
               reason=None, case_number="25-9", result_count=None)


def test_transparency_report_counts_searches_hits_holdings_and_cameras(sample, sample_store_file, tmp_path):
    log = AuditLog(tmp_path / "audit.jsonl")
    _searches(log)
    with Store(sample_store_file, read_only=True) as store:
        report = transparency_report(store, log, hotlist=sample.truth["hotlist"], as_of=AS_OF)
        policy = R.load_policy()
        due = R.plan(store, policy, as_of=AS_OF, hotlist=sample.truth["hotlist"])
    searches = report.searches.set_index("reason")
    assert searches.loc["robbery follow-up", "searches"] == 3 and searches.loc["robbery follow-up", "results"] == 60
    assert searches.loc["missing person", "searches"] == 2
    assert searches.loc["stolen vehicle", "with_case_number"] == 0
    assert searches.loc["(none)", "refused"] == 1 and searches.loc["(none)", "searches"] == 0
    reads = sample.alpr_reads
    hits = reads["plate"].isin(sample.truth["hotlist"]["plate"]).sum()
    assert report.hit_rate["reads"].sum() == len(reads) and report.hit_rate["hits"].sum() == hits
    assert (report.hit_rate["hit_rate"] == report.hit_rate["hits"] / report.hit_rate["reads"]).all()
    held = report.data_held.set_index("table")
    assert held.loc["alpr_reads", "rows"] == len(reads)
    assert held.loc["calls", "past_limit"] == due.counts.loc[due.counts["table"] == "calls", "rows"].sum() > 0
    assert report.cameras["cameras"].sum() == len(sample.cameras)
    assert report.cameras.set_index(["kind", "owner"]).loc[("community", "business"), "cameras"] == \
        ((sample.cameras["kind"] == "community") & (sample.cameras["owner"] == "business")).sum()
    path = report.save(tmp_path / "report")
    text = path.read_text()
    assert "Searches by reason" in text and "robbery follow-up" in text and "audit log intact" in text
    assert "inv0" not in text  # users are counted by role, never named
    assert pd.read_csv(tmp_path / "report" / "transparency_hit_rate.csv")["hits"].sum() == hits


def test_cli_verify_names_a_tampered_record_in_one_line(tmp_path, capsys):
    log = AuditLog(tmp_path / "audit.jsonl")
    _searches(log)
    assert main(["audit", "verify", "--log", str(log.path)]) == 0
    lines = log.path.read_text().splitlines()
    record = json.loads(lines[3])
    record["user"] = "someone-else"
    lines[3] = json.dumps(record)
    log.path.write_text("\n".join(lines) + "\n")
    capsys.readouterr()
    assert main(["audit", "verify", "--log", str(log.path)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "record 3" in err and "hash mismatch" in err


def test_cli_retention_dry_run_then_apply_then_export_the_audit(sample, sample_store_file, tmp_path, capsys):
    import shutil

    store = tmp_path / "store.duckdb"
    shutil.copy(sample_store_file, store)
    log = tmp_path / "audit.jsonl"
    hotlist = tmp_path / "hotlist.csv"
    sample.truth["hotlist"][["plate"]].to_csv(hotlist, index=False)
    common = ["--store", str(store), "--log", str(log), "--hotlist", str(hotlist), "--as-of", AS_OF,
              "--preset", "maine"]
    assert main(["retention", "apply", "--dry-run", *common]) == 0
    dry = capsys.readouterr().out
    assert "would delete (dry run)" in dry and not log.exists()
    assert main(["retention", "apply", *common, "--role", "admin"]) == 0
    done = capsys.readouterr().out
    strip = lambda text: [line for line in text.splitlines()[1:]]  # noqa: E731 - per-rule lines must match
    assert strip(dry) == strip(done)
    purge = AuditLog(log).records().iloc[-1]
    assert purge["action"] == "retention_purge" and purge["parameters"]["policy"] == "maine"
    assert main(["retention", "apply", *common, "--role", "analyst"]) == 1
    assert "may not manage retention" in capsys.readouterr().err
    assert main(["audit", "export", str(tmp_path / "audit.csv"), "--log", str(log)]) == 0
    exported = pd.read_csv(tmp_path / "audit.csv")
    assert list(exported["action"]) == ["retention_purge_started", "retention_purge"]
    assert AuditLog(log).records()["action"].iloc[-1] == "audit_export" and AuditLog(log).verify()
