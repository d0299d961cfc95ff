"""Loading typed Parquet through DuckDB's checks stores exactly what validate + append would.

``Store.import_parquet`` inserts plainly clean rows straight from the file and
hands the rest to ``validate`` (workbench/data/sqlcheck.py). The oracle here is
the pandas path: ``Store.append`` of the same rows, which validates every row.
Hypothesis draws tables full of the awkward values real exports carry (padded
ids, lower-case and dashed plates, NaN and infinite numbers, null island,
duplicate keys, keys equal only after trimming) and both stores must end equal:
the same rows stored, the same rows quarantined with the same reasons, the same
counts.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.data import Store
from workbench.data.schema import TABLES, table_spec
from workbench.data.sqlcheck import clean_predicate

T0 = pd.Timestamp("2025-03-01T10:00:00Z")
TEXT = ["a", "b", "c", " a", "a ", "\tb", "b\u3000", "", "   ", "ß", "éa", "a-1", "Ab 2", None]
PLATES = ["ABC123", "abc123", "AB-12", "AB 12", "X", "", " ", "--", "ß1", "Ö1", "A\u00a0B", None]
STATES = ["OH", "oh", " OH", "O H", "ßa", "", None]
FLOATS = [None, 0.0, -0.0, 0.5, 1.0, 1.5, -1.0, 45.0, -84.5, 39.1, 200.0, -95.0, math.nan, math.inf, -math.inf]
INTS = [None, 0, 1, 7, -1, 2**53, -(2**53)]
TIMES = [T0, T0 + pd.Timedelta("90min"), T0 - pd.Timedelta("2D"), None]


def _pool(table, col):
    if col.name == "plate" and table == "alpr_reads":
        return PLATES
    if col.name == "state" and table == "alpr_reads":
        return STATES
    if col.choices:
        return [*col.choices, col.choices[0].upper(), "lpr", "bogus", " " + col.choices[0], None]
    if col.kind in ("id", "str"):
        return TEXT
    if col.kind == "float":
        return FLOATS
    if col.kind == "int":
        return INTS
    if col.kind == "bool":
        return [True, False, None]
    return TIMES


_ARROW = {"id": pa.string(), "str": pa.string(), "float": pa.float64(), "int": pa.int64(),
          "bool": pa.bool_(), "datetime": pa.timestamp("us", tz="UTC")}


@st.composite
def typed_tables(draw, table):
    """A pyarrow table of typed canonical columns: the required ones and some optional ones."""
    spec = table_spec(table)
    n = draw(st.integers(1, 14))
    optional = [c for c in spec.columns if not c.required and c.name not in spec.derived]
    chosen = draw(st.lists(st.sampled_from(optional), unique_by=lambda c: c.name, max_size=len(optional)))
    columns = {}
    for col in spec.columns:
        if col.name in spec.derived or not (col.required or col in chosen):
            continue
        values = draw(st.lists(st.sampled_from(_pool(table, col)), min_size=n, max_size=n))
        if col.kind == "datetime":
            values = [None if v is None else v.to_pydatetime() for v in values]
        columns[col.name] = pa.array(values, type=_ARROW[col.kind], from_pandas=False)  # NaN stays NaN
    return pa.table(columns)


def _stored(store, spec):
    frame = store.query(spec.name)
    return frame.sort_values(list(spec.key), kind="stable").reset_index(drop=True)


def _quarantined(store):
    q = store.quarantine()
    return sorted(zip(q["source_row"].tolist(), q["reason"].tolist()))


def _same_load(tmp_path, table, rows: pa.Table, before: pa.Table | None, policy: str):
    spec = table_spec(table)
    path = tmp_path / "rows.parquet"
    pq.write_table(rows, path)
    with Store() as oracle, Store() as fast:
        if before is not None:
            oracle.append(table, before.to_pandas())
            fast.append(table, before.to_pandas())
        expected = oracle.append(table, rows.to_pandas(), duplicates=policy, source=str(path))
        got = fast.import_parquet(table, path, duplicates=policy)
        pd.testing.assert_frame_equal(_stored(fast, spec), _stored(oracle, spec))
        assert _quarantined(fast) == _quarantined(oracle)
        assert (got.inserted, got.replaced, got.rejected) == \
            (expected.inserted, expected.replaced, expected.rejected)
        report = expected.validation.report
        for key in ("rows", "valid", "rejected", "rejected_by_reason", "warnings_by_issue", "duplicate_keys",
                    "missing_location"):
            if key in report:
                assert got.report[key] == report[key], key
        if "location_source" in report:
            assert {k: v for k, v in got.report["location_source"].items() if v} == report["location_source"]
        return got


@pytest.mark.parametrize("table", list(TABLES))
@settings(max_examples=int(os.environ.get("WB_SQLCHECK_EXAMPLES", 40)), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_sql_path_stores_what_validate_and_append_store(tmp_path_factory, table, data):
    rows = data.draw(typed_tables(table), label="rows")
    before = data.draw(st.none() | typed_tables(table), label="stored before")
    policy = data.draw(st.sampled_from(["keep_last", "keep_first", "reject_all"]), label="duplicates")
    _same_load(tmp_path_factory.mktemp("sql"), table, rows, before, policy)


def test_clean_rows_are_inserted_by_sql_and_only_the_others_judged(tmp_path, monkeypatch):
    """The point of the SQL path: validate sees the few doubtful rows, not the file."""
    import workbench.data.store as store_module

    n = 5_000
    rows = pa.table({
        "read_id": pa.array([f"r{i}" for i in range(n)]),
        "read_at": pa.array(pd.date_range("2025-01-01", periods=n, freq="s", tz="UTC")),
        "plate": pa.array([f"ABC{i % 900 + 100}" for i in range(n)]),
        "camera_id": pa.array([f"cam{i % 7}" for i in range(n)]),
        "confidence": pa.array(np.linspace(0.5, 1.0, n)),
    })
    bad = rows.to_pandas()
    bad.loc[10, "plate"] = "abc-101"        # normalised by validate, kept
    bad.loc[20, "confidence"] = 3.0         # rejected
    bad.loc[30, "read_id"] = "r31"          # a duplicate of row 32
    seen = []
    real = store_module.validate

    def spy(frame, *args, **kwargs):
        seen.append(len(frame))
        return real(frame, *args, **kwargs)

    monkeypatch.setattr(store_module, "validate", spy)
    path = tmp_path / "reads.parquet"
    pq.write_table(pa.Table.from_pandas(bad, preserve_index=False), path)
    with Store() as store:
        res = store.import_parquet("alpr_reads", path)
        assert res.inserted == n - 2 and res.rejected == 2
        assert store.query("alpr_reads", where="read_id = 'r10'")["plate"].tolist() == ["ABC101"]
        reasons = dict(zip(store.quarantine()["source_row"], store.quarantine()["reason"]))
        assert reasons == {21: "confidence 3 out of range [0, 1]", 31: "duplicate read_id 'r31' (row 32 kept)"}
        assert res.report["location_source"] == {"reader": 0, "camera": n - 2, "none": 0}
    assert seen[0] == 0 and sum(seen[1:]) == 4  # the empty schema check, then rows 11, 21, 31 and 32


def test_a_key_equal_only_after_trimming_is_a_duplicate_in_file_order(tmp_path):
    """' r1' (row 1) and 'r1' (row 2): validate calls them one key; so must the SQL path."""
    rows = pa.table({"read_id": [" r1", "r1", "r2"], "plate": ["A1", "B2", "C3"], "camera_id": ["c", "c", "c"],
                     "read_at": pa.array([T0.to_pydatetime()] * 3, type=pa.timestamp("us", tz="UTC"))})
    for policy, kept in (("keep_last", "B2"), ("keep_first", "A1"), ("reject_all", None)):
        got = _same_load(tmp_path, "alpr_reads", rows, None, policy)
        assert got.rejected == (2 if kept is None else 1)
    # 'b' is clean, the two '\tb' repeat each other and are all rejected: 'b' goes with them
    cases = pa.table({"case_id": ["a", "a", "b", "\tb", "\tb"], "incident_id": ["i"] * 5,
                      "opened_at": pa.array([T0.to_pydatetime()] * 5, type=pa.timestamp("us", tz="UTC"))})
    got = _same_load(tmp_path, "cases", cases, None, "reject_all")
    assert got.rejected == 5 and got.inserted == 0


def test_a_parquet_file_with_text_timestamps_is_validated_in_batches(tmp_path):
    frame = pd.DataFrame({"incident_id": ["1", "2", "3"], "offense": ["robbery"] * 3,
                          "occurred_at": ["2025-01-01T10:00Z", "not a time", "2025-01-02T10:00Z"],
                          "lon": [-84.5, -84.5, None], "lat": [39.1, 39.1, None]})
    path = tmp_path / "text.parquet"
    frame.to_parquet(path)
    with Store() as store:
        res = store.import_parquet("incidents", path, batch_rows=2)
        assert (res.inserted, res.rejected) == (2, 1)
        assert store.quarantine()["reason"].tolist() == ["occurred_at unparseable: 'not a time'"]


def test_every_table_has_a_clean_predicate_naming_its_columns():
    for spec in TABLES.values():
        sql = clean_predicate(spec, set(spec.column_names))
        for col in spec.columns:
            if col.name not in spec.derived and col.kind != "bool":
                assert f'"{col.name}"' in sql, (spec.name, col.name)
