"""The workbench command: loads report what happened, errors are one plain line."""

import subprocess
import sys

import pandas as pd
import pytest


def workbench(*args, cwd=None):
    proc = subprocess.run([sys.executable, "-m", "workbench", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=300)
    return proc.returncode, proc.stdout, proc.stderr


def test_help_lists_the_commands():
    code, out, _ = workbench("--help")
    assert code == 0
    for command in ("demo", "load", "info", "profiles"):
        assert command in out


def test_load_reports_counts_and_reloading_adds_nothing(tmp_path, spd_alpr_path):
    store = tmp_path / "s.duckdb"
    code, out, err = workbench("load", "alpr_reads", spd_alpr_path, "--profile", "spd-alpr", "--store", store)
    assert code == 0, err
    assert "93,490 rows read, 93,490 valid, 0 rejected" in out
    assert "no coordinates" in out
    assert "93,490 new, 0 replaced" in out
    code, out, _ = workbench("load", "alpr_reads", spd_alpr_path, "--profile", "spd-alpr", "--store", store)
    assert "0 new, 93,490 replaced" in out
    code, out, _ = workbench("info", "--store", store)
    assert code == 0 and "alpr_reads" in out and "93,490 rows" in out
    assert "2021-10-01 07:02" in out


def test_rejected_rows_are_written_beside_the_input(tmp_path):
    data = tmp_path / "gunshots.csv"
    data.write_text("alert_id,detected_at,lon,lat\n"
                    "g1,2025-03-01T22:15:00Z,-84.5,39.1\n"
                    "g2,yesterday,-84.5,39.1\n"
                    "g3,2025-03-01T22:16:00Z,,\n")
    code, out, err = workbench("load", "gunshots", data, "--store", tmp_path / "s.duckdb")
    assert code == 0, err
    assert "3 rows read, 1 valid, 2 rejected" in out
    rejected = pd.read_csv(tmp_path / "gunshots.csv.rejected.csv")
    assert rejected["source_row"].tolist() == [2, 3]
    assert rejected["reason"].tolist() == ["detected_at unparseable: 'yesterday'",
                                           "no location: lon and lat missing"]


@pytest.mark.parametrize("args, message", [
    (("load", "incidents", "missing.csv"), "no such file: missing.csv"),
    (("load", "crimes", "x.csv"), "unknown table 'crimes'"),
    (("load", "incidents", "x.csv", "--profile", "acme"), "no profile 'acme'"),
    (("info", "--store", "absent.duckdb"), "no store at absent.duckdb"),
])
def test_errors_are_one_plain_line_and_a_nonzero_exit(tmp_path, args, message):
    (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    code, out, err = workbench(*args, cwd=tmp_path)
    assert code != 0
    assert message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_profiles_lists_the_built_ins():
    code, out, _ = workbench("profiles")
    assert code == 0 and "spd-alpr" in out and "chicago-crimes" in out


def test_sample_writes_a_scenario_the_store_can_load(tmp_path):
    out = tmp_path / "tiny"
    code, stdout, err = workbench("sample", "--out", out, "--days", "10", "--alpr-days", "0", "--seed", "3")
    assert code == 0, err
    assert "incidents" in stdout and (out / "incidents.parquet").is_file()
    code, stdout, err = workbench("load", "incidents", out / "incidents.parquet", "--store", tmp_path / "s.duckdb")
    assert code == 0, err
    assert " 0 rejected" in stdout


def test_canonical_parquet_loads_through_the_store_and_rejects_are_written(tmp_path):
    import pandas as pd

    frame = pd.DataFrame({"read_id": ["r1", "r2", "r3", "r1"], "plate": ["ABC1", "abc-2", "X", "Y"],
                          "read_at": pd.to_datetime(["2025-01-01T10:00Z"] * 4, utc=True),
                          "camera_id": ["c1", "c1", "c2", "c2"], "confidence": [0.9, 0.8, 1.7, 0.5]})
    path = tmp_path / "reads.parquet"
    frame.to_parquet(path)
    code, out, err = workbench("load", "alpr_reads", path, "--store", tmp_path / "s.duckdb")
    assert code == 0, err
    assert "4 rows read, 2 valid, 2 rejected" in out
    assert "location source: reader 0, camera 2, none 0" in out
    rejected = pd.read_csv(tmp_path / "reads.parquet.rejected.csv")
    assert rejected["source_row"].tolist() == [1, 3]
    assert rejected["reason"].tolist() == ["duplicate read_id 'r1' (row 4 kept)",
                                           "confidence 1.7 out of range [0, 1]"]
    assert rejected["plate"].tolist() == ["ABC1", "X"]  # the rows as they were in the file
