"""validate(): every row valid or rejected with a reason; types, time zones, locations, keys."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.data import TABLES, validate
from workbench.errors import SchemaError, TimezoneError


def incidents(**overrides):
    base = {
        "incident_id": ["i1", "i2", "i3"],
        "occurred_at": ["2024-05-01T10:00:00Z", "2024-05-02T11:30:00-05:00", "2024-05-03 12:00:00+00:00"],
        "offense": ["robbery", "burglary", "theft"],
        "lon": [-87.60, -87.70, -87.65],
        "lat": [41.80, 41.90, 41.85],
    }
    base.update(overrides)
    return pd.DataFrame(base)


def test_valid_rows_are_typed_canonical_and_utc():
    result = validate(incidents(), "incidents")
    valid = result.valid
    assert list(valid.columns) == TABLES["incidents"].column_names
    assert str(valid["occurred_at"].dtype) == "datetime64[us, UTC]"
    # -05:00 offset converted to UTC
    assert valid.loc[1, "occurred_at"] == pd.Timestamp("2024-05-02T16:30:00Z")
    assert valid["lon"].dtype == np.float64
    assert result.rejected.empty


def test_missing_required_columns_name_them_and_list_what_was_found():
    frame = incidents().drop(columns=["offense", "lat"])
    with pytest.raises(SchemaError) as err:
        validate(frame, "incidents")
    message = str(err.value)
    assert "offense" in message and "lat" in message
    assert "found: incident_id, occurred_at, lon" in message
    assert err.value.missing == ["offense", "lat"]


def test_unknown_table_is_a_schema_error_listing_the_tables():
    with pytest.raises(SchemaError, match="canonical tables are: incidents"):
        validate(incidents(), "crimes")


def test_bad_values_are_rejected_with_plain_reasons_and_the_original_row():
    frame = incidents(occurred_at=["13/45/2021", "2024-05-02T11:30:00Z", "2024-05-03T12:00:00Z"],
                      lon=[-87.6, -97.7, -87.65], lat=[41.8, 91.2, 41.85])
    result = validate(frame, "incidents")
    reasons = dict(zip(result.rejected["source_row"], result.rejected["reason"]))
    assert reasons == {1: "occurred_at unparseable: '13/45/2021'", 2: "lat 91.2 out of range [-90, 90]"}
    assert result.rejected.loc[0, "occurred_at"] == "13/45/2021"  # the original value, untouched
    assert len(result.valid) == 1 and result.valid.loc[0, "incident_id"] == "i3"


def test_several_problems_in_one_row_are_all_named():
    frame = incidents(offense=[None, "b", "c"], lon=["abc", -87.7, -87.6])
    reason = validate(frame, "incidents").rejected.loc[0, "reason"]
    assert "offense missing" in reason and "lon is not a number: 'abc'" in reason


def test_swapped_lon_lat_gets_a_hint():
    frame = incidents(lon=[41.8, -87.7, -87.6], lat=[-87.6, 41.9, 97.0])
    reasons = validate(frame, "incidents").rejected.set_index("source_row")["reason"]
    # row 1 is in range both ways (a point in Antarctica): valid, we cannot know
    assert 1 not in reasons.index
    assert reasons[3] == "lat 97 out of range [-90, 90] (lon and lat swapped?)"


def test_naive_timestamps_need_a_time_zone():
    frame = incidents(occurred_at=["2024-05-01 10:00", "2024-05-02 11:30", "2024-05-03 12:00"])
    with pytest.raises(TimezoneError, match="pass tz="):
        validate(frame, "incidents")
    result = validate(frame, "incidents", tz="America/Chicago")
    assert result.valid.loc[0, "occurred_at"] == pd.Timestamp("2024-05-01T15:00:00Z")  # CDT = UTC-5


def test_daylight_saving_gap_and_overlap_are_kept_with_a_warning():
    frame = incidents(occurred_at=["2024-03-10 02:30", "2024-11-03 01:30", "2024-06-01 12:00"])
    result = validate(frame, "incidents", tz="America/Chicago")
    assert len(result.valid) == 3
    assert set(result.warnings["source_row"]) == {1, 2}
    # the ambiguous 01:30 reads as the first (daylight, UTC-5) occurrence
    assert result.valid.loc[1, "occurred_at"] == pd.Timestamp("2024-11-03T06:30:00Z")


def test_incident_without_location_is_kept_and_counted():
    frame = incidents(lon=[None, 0.0, -87.6], lat=[None, 0.0, None])
    result = validate(frame, "incidents")
    assert len(result.valid) == 3 and result.rejected.empty
    assert result.valid["lon"].isna().all()
    assert result.report["missing_location"] == 3
    issues = set(result.warnings["issue"])
    assert any("0, 0" in i for i in issues) and any("only one of lon/lat" in i for i in issues)


def test_camera_without_location_is_rejected():
    cams = pd.DataFrame({"camera_id": ["c1", "c2", "c3"], "kind": ["ALPR", "cctv", "drone"],
                         "lon": [-84.5, None, -84.4], "lat": [39.1, None, 39.2]})
    result = validate(cams, "cameras")
    reasons = result.rejected.set_index("source_row")["reason"]
    assert reasons[2] == "no location: lon and lat missing"
    assert reasons[3] == "kind 'drone' is not one of alpr, cctv, community"
    assert result.valid["kind"].tolist() == ["alpr"]  # spelling normalised


def test_alpr_reads_record_where_the_location_comes_from_and_normalise_plates():
    reads = pd.DataFrame({
        "read_id": ["r1", "r2", "r3", "r4"],
        "read_at": ["2024-01-01T00:00:00Z"] * 4,
        "plate": ["abc-1234", "XYZ 987", "QQ1", "---"],
        "camera_id": ["cam1", None, None, None],
        "lon": [None, -84.5, None, None], "lat": [None, 39.1, None, None],
    })
    result = validate(reads, "alpr_reads")
    assert result.valid["location_source"].tolist() == ["camera", "reader", "none"]
    assert result.valid["plate"].tolist() == ["ABC1234", "XYZ987", "QQ1"]
    assert result.rejected["reason"].tolist() == ["plate has no letters or digits: '---'"]
    assert result.report["location_source"] == {"camera": 1, "reader": 1, "none": 1}


def test_duplicate_keys_are_reported_not_silently_dropped():
    frame = incidents(incident_id=["i1", "i2", "i1"])
    result = validate(frame, "incidents")
    assert result.rejected["reason"].tolist() == ["duplicate incident_id 'i1' (row 3 kept)"]
    assert result.report["duplicate_keys"] == 1
    first = validate(frame, "incidents", duplicates="keep_first")
    assert first.rejected["reason"].tolist() == ["duplicate incident_id 'i1' (row 1 kept)"]
    strict = validate(frame, "incidents", duplicates="reject_all")
    assert len(strict.rejected) == 2 and len(strict.valid) == 1


def test_composite_key_of_units():
    units = pd.DataFrame({"unit_id": ["u1", "u1", "u2"], "at": ["2024-01-01T00:00Z"] * 3,
                          "lon": [-84.5] * 3, "lat": [39.1] * 3})
    result = validate(units, "units")
    assert len(result.valid) == 2 and result.report["duplicate_keys"] == 1


def test_clearance_codes_and_booleans_are_normalised():
    cases = pd.DataFrame({"case_id": ["c1", "c2", "c3", "c4"], "incident_id": ["i1", "i2", "i3", "i4"],
                          "opened_at": ["2024-01-01T00:00Z"] * 4,
                          "clearance_type": ["Arrest", "B", "exceptional_e", "K"],
                          "rtcc_assisted": ["Y", "no", "TRUE", "0"]})
    result = validate(cases, "cases")
    assert result.valid["clearance_type"].tolist() == ["arrest", "exceptional_B", "exceptional_E"]
    assert result.valid["rtcc_assisted"].tolist() == [True, False, True]
    assert "clearance_type 'K' is not one of" in result.rejected.loc[0, "reason"]


def test_typed_input_passes_through():
    frame = pd.DataFrame({"alert_id": [1, 2], "detected_at": pd.to_datetime(["2024-01-01", "2024-01-02"], utc=True),
                          "lon": [-84.5, -84.4], "lat": [39.1, 39.2], "rounds": [3.0, np.nan]})
    result = validate(frame, "gunshots")
    assert result.valid["alert_id"].tolist() == ["1", "2"]  # numeric ids become strings, no ".0"
    assert str(result.valid["rounds"].dtype) == "Int64"


def test_empty_input_gives_empty_typed_tables():
    frame = incidents().iloc[0:0]
    result = validate(frame, "incidents")
    assert len(result.valid) == 0 and len(result.rejected) == 0
    assert str(result.valid["occurred_at"].dtype) == "datetime64[us, UTC]"


# ---------------------------------------------------------------- properties
_cell = st.one_of(
    st.none(), st.text(max_size=12), st.integers(-10**12, 10**12),
    st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
    st.sampled_from(["", " ", "NA", "2024-02-30", "2024-05-01T10:00:00Z", "1e309", "-91", "0", "true",
                     "arrest", "alpr", "0,0", "\x00", "日本", "2021-10-01 07:02:00+00:00"]),
)


@st.composite
def messy_table(draw):
    table = draw(st.sampled_from(list(TABLES)))
    spec = TABLES[table]
    n = draw(st.integers(0, 12))
    columns = list(spec.required) + draw(st.lists(st.sampled_from(spec.column_names), max_size=4, unique=True))
    columns = list(dict.fromkeys(c for c in columns if c not in spec.derived))
    data = {c: draw(st.lists(_cell, min_size=n, max_size=n)) for c in columns}
    if draw(st.booleans()):
        data["stray"] = draw(st.lists(_cell, min_size=n, max_size=n))
    return table, pd.DataFrame(data, dtype=object)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messy_table())
def test_random_rows_never_crash_and_every_row_is_accounted_for(case):
    table, frame = case
    result = validate(frame, table, tz="America/New_York")
    assert len(result.valid) + len(result.rejected) == len(frame)
    assert (result.rejected["reason"].str.len() > 0).all()
    assert result.rejected["source_row"].between(1, len(frame)).all()
    assert not result.rejected["source_row"].duplicated().any()
    spec = TABLES[table]
    assert list(result.valid.columns) == spec.column_names
    for col in spec.columns:
        assert str(result.valid[col.name].dtype) == col.dtype
        if not col.nullable:
            assert result.valid[col.name].notna().all()


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.one_of(st.floats(-400, 400), st.just(float("nan"))),
                          st.one_of(st.floats(-200, 200), st.just(float("nan")))),
                min_size=1, max_size=20))
def test_valid_coordinates_are_always_in_range(points):
    frame = pd.DataFrame({"alert_id": [str(i) for i in range(len(points))],
                          "detected_at": ["2024-01-01T00:00:00Z"] * len(points),
                          "lon": [p[0] for p in points], "lat": [p[1] for p in points]})
    result = validate(frame, "gunshots")
    assert result.valid["lon"].between(-180, 180).all()
    assert result.valid["lat"].between(-90, 90).all()
    assert len(result.valid) + len(result.rejected) == len(points)


def test_a_whole_number_is_quoted_alike_from_integer_and_gappy_float_columns():
    """An int column with gaps arrives as floats: the reason must not change with it."""
    base = {"alert_id": ["a", "b"], "detected_at": ["2025-03-01T10:00Z"] * 2, "lon": [-84.5, -84.5],
            "lat": [39.1, 39.1]}
    whole = validate(pd.DataFrame({**base, "rounds": [2**53, 3]}), "gunshots")
    gappy = validate(pd.DataFrame({**base, "rounds": [float(2**53), None]}), "gunshots")
    assert whole.rejected["reason"].tolist() == gappy.rejected["reason"].tolist() == \
        ["rounds is too large: '9007199254740992'"]
