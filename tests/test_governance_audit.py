"""The audit log: every search recorded, and any edit, deletion or reordering detected."""

import json
import multiprocessing
import threading

import pytest

from workbench.errors import AuditError
from workbench.governance.audit import AuditLog, default_log, set_default_log


def _fill(path, n=5):
    log = AuditLog(path)
    for i in range(n):
        log.record(user=f"user{i}", action="plate_search", parameters={"plate": f"ABC{i}*", "days": 7},
                   reason="robbery follow-up", case_number=f"25-{i:06d}", result_count=i,
                   role="investigator", client="test")
    return log


def _lines(path):
    return path.read_text().splitlines()


def _write(path, lines):
    path.write_text("".join(line + "\n" for line in lines))


def test_untouched_log_verifies_and_records_every_field(tmp_path):
    log = _fill(tmp_path / "audit.jsonl")
    result = log.verify()
    assert result and result.n_records == 5 and result.first_bad is None
    frame = log.records()
    assert list(frame["seq"]) == [0, 1, 2, 3, 4]
    assert frame.loc[3, "parameters"] == {"plate": "ABC3*", "days": 7}
    assert frame.loc[3, "case_number"] == "25-000003" and frame.loc[3, "result_count"] == 3
    assert str(frame["time"].dt.tz) == "UTC"
    # each record chains to the one before
    assert (frame["prev_hash"].iloc[1:].to_numpy() == frame["hash"].iloc[:-1].to_numpy()).all()


def test_editing_one_record_fails_and_names_it(tmp_path):
    path = tmp_path / "audit.jsonl"
    _fill(path)
    lines = _lines(path)
    record = json.loads(lines[2])
    record["reason"] = "curiosity"
    lines[2] = json.dumps(record)
    _write(path, lines)
    result = AuditLog(path).verify()
    assert not result
    assert result.first_bad == 2 and result.record_id == record["record_id"]
    assert result.reason.startswith("hash mismatch")


def test_editing_a_record_and_rehashing_it_breaks_the_chain_after_it(tmp_path):
    from workbench.governance.audit import record_hash

    path = tmp_path / "audit.jsonl"
    _fill(path)
    lines = _lines(path)
    record = json.loads(lines[1])
    record["result_count"] = 0
    record["hash"] = record_hash(record)
    lines[1] = json.dumps(record)
    _write(path, lines)
    result = AuditLog(path).verify()
    assert not result and result.first_bad == 2 and result.reason.startswith("broken chain")


def test_deleting_one_record_fails_and_names_the_gap(tmp_path):
    path = tmp_path / "audit.jsonl"
    _fill(path)
    lines = _lines(path)
    del lines[1]
    _write(path, lines)
    result = AuditLog(path).verify()
    assert not result and result.first_bad == 1
    assert result.reason.startswith("sequence gap: expected seq 1, found 2")


def test_deleting_the_last_record_is_caught_by_the_head(tmp_path):
    path = tmp_path / "audit.jsonl"
    log = _fill(path)
    anchor = log.head()
    _write(path, _lines(path)[:-1])
    result = AuditLog(path).verify()
    assert not result and result.first_bad == 4 and result.reason.startswith("truncated")
    # a published anchor catches it even when the head file is rewritten too
    (tmp_path / "audit.jsonl.head").unlink()
    assert AuditLog(path).verify()  # nothing left to compare against ...
    assert not AuditLog(path).verify(anchor=anchor)  # ... except the anchor


def test_swapping_two_records_fails_and_names_the_first(tmp_path):
    path = tmp_path / "audit.jsonl"
    _fill(path)
    lines = _lines(path)
    lines[2], lines[3] = lines[3], lines[2]
    _write(path, lines)
    result = AuditLog(path).verify()
    assert not result and result.first_bad == 2 and result.reason.startswith("sequence gap")


def test_unreadable_tail_stops_further_writes(tmp_path):
    path = tmp_path / "audit.jsonl"
    log = _fill(path, 2)
    with open(path, "a") as f:
        f.write('{"seq": 2, "user": "tor')
    result = log.verify()
    assert not result and result.first_bad == 2 and result.reason.startswith("unreadable")
    with pytest.raises(AuditError, match="unreadable"):
        log.record(user="u", action="plate_search", parameters={}, reason="robbery",
                   case_number="1", result_count=0)


def test_non_json_parameters_are_stored_as_text_and_still_verify(tmp_path):
    import numpy as np
    import pandas as pd

    log = AuditLog(tmp_path / "a.jsonl")
    rec = log.record(user="u", action="vehicles_near",
                     parameters={"at": pd.Timestamp("2025-03-01 12:00", tz="UTC"), "radius_m": np.float64(250),
                                 "cameras": np.array([3, 4]), "nan": float("nan")},
                     reason="shooting canvass", case_number="25-9", result_count=np.int64(12))
    assert rec["parameters"] == {"at": "2025-03-01T12:00:00+00:00", "radius_m": 250.0, "cameras": [3, 4],
                                 "nan": None}
    assert log.verify()


def _write_many(path, worker, n):
    log = AuditLog(path)
    for i in range(n):
        log.record(user=f"w{worker}", action="plate_search", parameters={"i": i}, reason="concurrency",
                   case_number="25-1", result_count=i)


def test_threads_and_processes_writing_at_once_keep_one_intact_chain(tmp_path):
    path = tmp_path / "audit.jsonl"
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_write_many, args=(path, w, 25)) for w in range(3)]
    threads = [threading.Thread(target=_write_many, args=(path, 10 + w, 25)) for w in range(3)]
    for worker in procs + threads:
        worker.start()
    for worker in procs + threads:
        worker.join()
    assert all(p.exitcode == 0 for p in procs)
    result = AuditLog(path).verify()
    assert result, str(result)
    assert result.n_records == 150
    assert AuditLog(path).records()["user"].value_counts().to_dict() == {f"w{w}": 25 for w in (0, 1, 2, 10, 11, 12)}


def test_default_log_follows_the_environment_and_can_be_set(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_AUDIT_LOG", str(tmp_path / "env.jsonl"))
    try:
        assert set_default_log(None).path == tmp_path / "env.jsonl"
        mine = set_default_log(tmp_path / "mine.jsonl")
        assert default_log() is mine
    finally:
        set_default_log(None)
