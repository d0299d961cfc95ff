"""read_table(): real formats through source profiles, every record accounted for."""

import gzip
import json
from pathlib import Path

import pandas as pd
import pytest

from workbench.data import list_profiles, load_profile, read_table
from workbench.errors import ProfileError, ReadError, SchemaError

FIXTURES = Path(__file__).parent / "fixtures"


# ------------------------------------------------------------ Seattle ALPR week
@pytest.fixture(scope="module")
def spd(spd_alpr_path):
    return read_table(spd_alpr_path, profile="spd-alpr")


def test_spd_week_accounts_for_every_row(spd):
    assert len(spd.valid) + len(spd.rejected) == 93_490
    assert spd.report["rows"] == 93_490


def test_spd_first_read_is_stored_in_utc(spd):
    first = spd.valid["read_at"].min()
    # 2021-10-01 00:02 Pacific daylight time is 07:02 UTC
    assert first.strftime("%Y-%m-%d %H:%M") == "2021-10-01 07:02"
    assert str(first.tz) == "UTC"


def test_spd_load_report_counts_reads_without_coordinates(spd, spd_alpr_path):
    raw = pd.read_csv(spd_alpr_path, sep="|", dtype=str, keep_default_na=False)
    no_coords = int((raw["lon"] == "NA").sum())
    assert no_coords > 0
    assert spd.report["missing_location"] == no_coords
    assert spd.report["location_source"]["none"] == no_coords
    assert f"{no_coords:,} valid rows have no coordinates" in spd.summary()


def test_spd_read_ids_are_stable_across_loads(spd, spd_alpr_path):
    again = read_table(spd_alpr_path, profile="spd-alpr")
    assert again.valid["read_id"].equals(spd.valid["read_id"])
    assert spd.valid["read_id"].is_unique


# ------------------------------------------------------- Chicago-style export
def test_chicago_export_maps_onto_incidents():
    result = read_table(FIXTURES / "chicago_crimes_sample.csv", profile="chicago-crimes")
    assert len(result.valid) + len(result.rejected) == 9
    reasons = result.rejected.set_index("source_row")["reason"].to_dict()
    assert reasons[7] == "occurred_at unparseable: '13/45/2023 03:30:00 AM'"
    assert reasons[8].startswith("lat 91.8025 out of range")
    assert reasons[2] == "duplicate incident_id '13210088' (row 4 kept)"
    valid = result.valid.set_index("incident_id")
    # 08/15/2023 01:00:00 PM Chicago (CDT, UTC-5) -> 18:00 UTC
    assert valid.loc["13209277", "occurred_at"] == pd.Timestamp("2023-08-15T18:00:00Z")
    assert valid.loc["13210088", "domestic"] and valid.loc["13210088", "arrest"]
    assert valid.loc["13210004", "offense_category"] == "violent"
    assert valid.loc["13209277", "offense_category"] == "property"
    assert valid.loc["13210004", "case_number"] == "JG422472"
    # the airport theft has a withheld location: kept, without coordinates
    assert pd.isna(valid.loc["13211001", "lon"])
    assert result.report["missing_location"] == 1


def test_socrata_json_rows_fit_the_same_profile(tmp_path):
    rows = [{"id": "1", "case_number": "JG1", "date": "2023-08-15T13:00:00.000",
             "primary_type": "ROBBERY", "latitude": "41.88", "longitude": "-87.63", "arrest": False},
            {"id": "2", "case_number": "JG2", "date": "2023-08-15T14:00:00.000",
             "primary_type": "NARCOTICS", "latitude": "41.89", "longitude": "-87.62", "arrest": True}]
    path = tmp_path / "crimes.json"
    path.write_text(json.dumps(rows))
    result = read_table(path, profile="chicago-crimes")
    assert result.rejected.empty
    assert result.valid["occurred_at"].tolist() == [pd.Timestamp("2023-08-15T18:00Z"),
                                                    pd.Timestamp("2023-08-15T19:00Z")]
    assert result.valid["offense_category"].tolist() == ["violent", "other"]


# --------------------------------------------------------------- CSV variants
CANONICAL_ROWS = "incident_id;occurred_at;offense;lon;lat\n1;2024-05-01T10:00:00Z;robbery;-84.5;39.1\n" \
                 "2;2024-05-01T11:00:00Z;burglary;-84.4;39.2\n"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252", "utf-16"])
@pytest.mark.parametrize("delimiter", [",", ";", "|", "\t"])
def test_csv_any_delimiter_and_common_encodings(tmp_path, encoding, delimiter):
    text = CANONICAL_ROWS.replace(";", delimiter).replace("robbery", "robbery – café")
    path = tmp_path / "incidents.csv"
    path.write_bytes(text.encode(encoding))
    result = read_table(path, "incidents")
    assert result.source["delimiter"] == delimiter
    assert result.valid["offense"].tolist() == ["robbery – café", "burglary"]


def test_compressed_csv(tmp_path):
    path = tmp_path / "incidents.csv.gz"
    path.write_bytes(gzip.compress(CANONICAL_ROWS.encode()))
    assert len(read_table(path, "incidents").valid) == 2


def test_malformed_lines_become_rejected_rows_not_crashes(tmp_path):
    text = ("incident_id,occurred_at,offense,lon,lat\n"
            "1,2024-05-01T10:00:00Z,robbery,-84.5,39.1\n"
            "2,2024-05-01T11:00:00Z,burglary,-84.4\n"
            "3,2024-05-01T12:00:00Z,theft,-84.3,39.3,extra,fields\n"
            "4,2024-05-01T13:00:00Z,\"assault, aggravated\",-84.2,39.4\n")
    path = tmp_path / "broken.csv"
    path.write_text(text)
    result = read_table(path, "incidents")
    assert len(result.valid) + len(result.rejected) == 4
    assert result.valid["incident_id"].tolist() == ["1", "4"]
    assert result.valid.loc[1, "offense"] == "assault, aggravated"
    bad = result.rejected.set_index("source_row")["reason"].to_dict()
    assert bad == {2: "malformed line: 4 fields, expected 5", 3: "malformed line: 7 fields, expected 5"}
    assert result.rejected.set_index("source_row").loc[3, "offense"] == "theft"  # the cells as read
    assert result.report["rows"] == 4


def test_a_duplicate_after_a_malformed_line_names_the_kept_record_by_its_number_in_the_file(tmp_path):
    text = ("incident_id,occurred_at,offense,lon,lat\n"
            "1,2024-05-01T10:00:00Z,robbery,-84.5,39.1\n"
            "2,2024-05-01T11:00:00Z,burglary,-84.4,39.2,extra\n"
            "7,2024-05-01T12:00:00Z,theft,-84.3,39.3\n"
            "7,2024-05-01T13:00:00Z,theft,-84.2,39.4\n")
    path = tmp_path / "dupes.csv"
    path.write_text(text)
    result = read_table(path, "incidents")
    bad = result.rejected.set_index("source_row")["reason"].to_dict()
    assert bad == {2: "malformed line: 6 fields, expected 5", 3: "duplicate incident_id '7' (row 4 kept)"}
    assert result.rejected.set_index("source_row").loc[3, "occurred_at"] == "2024-05-01T12:00:00Z"


def test_naive_local_times_use_the_given_zone(tmp_path):
    path = tmp_path / "calls.csv"
    path.write_text("call_id,received_at,call_type,lon,lat\nc1,2024-07-04 21:30:00,shots fired,-84.5,39.1\n")
    with pytest.raises(Exception, match="pass tz="):
        read_table(path, "calls")
    result = read_table(path, "calls", tz="America/New_York")
    assert result.valid.loc[0, "received_at"] == pd.Timestamp("2024-07-05T01:30:00Z")


# -------------------------------------------------- Parquet, GeoJSON, errors
def test_parquet_round_trip_keeps_types(tmp_path):
    frame = pd.DataFrame({"alert_id": ["a1", "a2"],
                          "detected_at": pd.to_datetime(["2024-01-01 22:00", "2024-01-02 23:00"], utc=True),
                          "lon": [-84.5, -84.4], "lat": [39.1, 39.2], "rounds": [3, 6]})
    path = tmp_path / "gunshots.parquet"
    frame.to_parquet(path)
    result = read_table(path, "gunshots")
    assert result.valid["detected_at"].tolist() == frame["detected_at"].tolist()
    assert result.valid["rounds"].tolist() == [3, 6]


def test_geojson_points_become_lon_lat_and_other_shapes_are_noted(tmp_path):
    collection = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [-84.51, 39.10]},
         "properties": {"incident_id": "g1", "occurred_at": "2024-05-01T10:00:00Z", "offense": "robbery"}},
        {"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[-84.5, 39.1], [-84.4, 39.2]]},
         "properties": {"incident_id": "g2", "occurred_at": "2024-05-01T11:00:00Z", "offense": "theft"}},
    ]}
    path = tmp_path / "incidents.geojson"
    path.write_text(json.dumps(collection))
    result = read_table(path, "incidents")
    assert result.valid.loc[0, "lon"] == -84.51 and result.valid.loc[0, "lat"] == 39.10
    assert pd.isna(result.valid.loc[1, "lon"])
    assert result.warnings["issue"].tolist() == ["geometry is not a point; location left missing"]


def test_geoparquet_in_a_projected_crs_is_converted_to_lon_lat(tmp_path):
    import geopandas as gpd
    from shapely.geometry import Point

    gdf = gpd.GeoDataFrame({"camera_id": ["c1"], "kind": ["cctv"]},
                           geometry=[Point(-84.5, 39.1)], crs="EPSG:4326").to_crs("EPSG:32616")
    path = tmp_path / "cameras.parquet"
    gdf.to_parquet(path)
    result = read_table(path, "cameras")
    assert result.valid.loc[0, "lon"] == pytest.approx(-84.5, abs=1e-9)
    assert result.valid.loc[0, "lat"] == pytest.approx(39.1, abs=1e-9)


def test_clear_errors_for_missing_files_unknown_formats_and_profiles(tmp_path):
    with pytest.raises(ReadError, match="no such file"):
        read_table(tmp_path / "nope.csv", "incidents")
    odd = tmp_path / "data.xlsx"
    odd.write_bytes(b"PK")
    with pytest.raises(ReadError, match="cannot tell the format"):
        read_table(odd, "incidents")
    with pytest.raises(ProfileError, match="no profile 'acme'"):
        read_table(tmp_path / "x.csv", "incidents", profile="acme")
    with pytest.raises(ProfileError, match="is for table 'alpr_reads'"):
        read_table(tmp_path / "x.csv", "incidents", profile="spd-alpr")


def test_missing_columns_name_what_the_file_has(tmp_path):
    path = tmp_path / "wrong.csv"
    path.write_text("year,county,value\n2020,1,3\n")
    with pytest.raises(SchemaError, match="the file has: year, county, value"):
        read_table(path, "incidents")


def test_built_in_profiles_are_listed_and_loadable():
    names = list_profiles()
    assert {"canonical", "spd-alpr", "chicago-crimes"} <= set(names)
    for name in names:
        assert load_profile(name).name == name


def test_a_custom_profile_file(tmp_path):
    profile = tmp_path / "acme.yaml"
    profile.write_text(
        "name: acme-cad\ntable: calls\ntz: America/Denver\n"
        "columns:\n  call_id: EventNo\n  received_at: {source: Recv, format: '%d.%m.%Y %H:%M'}\n"
        "  call_type: {source: Nature, map: {SHOTS: shots fired}}\n  lon: X\n  lat: Y\n")
    data = tmp_path / "cad.csv"
    data.write_text("EventNo,Recv,Nature,X,Y\nE1,04.07.2024 21:30,SHOTS,-104.99,39.74\n")
    result = read_table(data, profile=profile)
    assert result.valid.loc[0, "call_type"] == "shots fired"
    assert result.valid.loc[0, "received_at"] == pd.Timestamp("2024-07-05T03:30:00Z")
