"""The canonical tables: one schema per table that everything downstream trusts.

Each table has a key, a time column used for time-window queries, and typed
columns. ``required`` columns must be present in any input; ``nullable``
columns may hold missing values. Timestamps are stored timezone-aware in UTC
at microsecond resolution; coordinates are lon/lat in EPSG:4326.

Locations
---------
How a table treats a row without a usable location is part of its contract
(``TableSpec.location``):

``"required"``
    cameras, gunshots, units: a row without valid lon/lat is rejected.
``"optional"``
    incidents and calls: the record is still a record (an address that did not
    geocode, a location the agency withholds). lon/lat are left missing, the
    row is kept, and the validation report counts it. A pair at exactly 0, 0
    (a geocoding failure, "null island") or with only one of lon/lat present is
    treated as missing and noted as a warning for that row.
``"camera_or_reader"``
    alpr_reads: like ``"optional"``, and the derived column
    ``location_source`` says where the read's position comes from:
    ``"reader"`` (the read carries its own lon/lat, as mobile readers do),
    ``"camera"`` (a fixed camera: look the position up in ``cameras``) or
    ``"none"`` (neither; the read is still evidence that a plate was seen at
    a time by a device).

Coordinates outside [-180, 180] x [-90, 90] are always rejected: they signal a
corrupt or column-swapped row, not a missing location.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from workbench.errors import SchemaError

#: Column kinds and the pandas dtype each becomes in a valid table.
DTYPES = {
    "id": "str",
    "str": "str",
    "datetime": "datetime64[us, UTC]",
    "float": "float64",
    "int": "Int64",
    "bool": "boolean",
}

#: The DuckDB type each column kind is stored as.
SQL_TYPES = {
    "id": "VARCHAR",
    "str": "VARCHAR",
    "datetime": "TIMESTAMPTZ",
    "float": "DOUBLE",
    "int": "BIGINT",
    "bool": "BOOLEAN",
}


@dataclass(frozen=True)
class Column:
    """One canonical column.

    Parameters
    ----------
    name : str
    kind : {"id", "str", "datetime", "float", "int", "bool"}
    required : bool
        The column must be present in any input.
    nullable : bool
        Missing values are allowed (a missing value in a non-nullable column
        rejects the row).
    minimum, maximum : float, optional
        Inclusive range for numeric columns.
    choices : tuple of str, optional
        Allowed values (after normalisation) for string columns.
    description : str
    """

    name: str
    kind: str
    required: bool = False
    nullable: bool = True
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] | None = None
    description: str = ""

    @property
    def dtype(self) -> str:
        return DTYPES[self.kind]


@dataclass(frozen=True)
class TableSpec:
    """A canonical table: its key, time column, location rule and columns."""

    name: str
    key: tuple[str, ...]
    time_column: str
    location: str  # "required" | "optional" | "camera_or_reader"
    columns: tuple[Column, ...]
    description: str = ""
    derived: tuple[str, ...] = field(default=())

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


def _c(name, kind, **kw):
    return Column(name, kind, **kw)


def _location_columns(required_values: bool):
    return (
        _c("lon", "float", required=True, nullable=not required_values, minimum=-180, maximum=180,
           description="Longitude, EPSG:4326 degrees."),
        _c("lat", "float", required=True, nullable=not required_values, minimum=-90, maximum=90,
           description="Latitude, EPSG:4326 degrees."),
    )


#: Clearance types: arrest, or exceptional clearance with its NIBRS code.
#: A = death of offender, B = prosecution declined, C = in custody of another
#: jurisdiction, D = victim refused to cooperate, E = juvenile, no custody.
CLEARANCE_TYPES = ("arrest", "exceptional", "exceptional_A", "exceptional_B",
                   "exceptional_C", "exceptional_D", "exceptional_E")

CAMERA_KINDS = ("alpr", "cctv", "community")
LOCATION_SOURCES = ("reader", "camera", "none")

TABLES: dict[str, TableSpec] = {}


def _register(spec: TableSpec) -> TableSpec:
    TABLES[spec.name] = spec
    return spec


_register(TableSpec(
    name="incidents", key=("incident_id",), time_column="occurred_at", location="optional",
    description="Crime incidents as recorded in the agency's RMS.",
    columns=(
        _c("incident_id", "id", required=True, nullable=False),
        _c("occurred_at", "datetime", required=True, nullable=False,
           description="When the offence occurred (start of the window if a range)."),
        _c("offense", "str", required=True, nullable=False, description="Offence type, e.g. robbery."),
        *_location_columns(required_values=False),
        _c("reported_at", "datetime"),
        _c("offense_category", "str", description="violent, property or other."),
        _c("offense_description", "str"),
        _c("domestic", "bool", description="Domestic-violence related."),
        _c("arrest", "bool", description="An arrest was recorded (as agency exports report it)."),
        _c("case_number", "str", description="The agency's report or case number."),
        _c("nibrs_code", "str"),
        _c("district", "str"),
        _c("beat", "str"),
        _c("address", "str"),
        _c("updated_at", "datetime", description="Last change at the source (for incremental polling)."),
    ),
))

_register(TableSpec(
    name="cases", key=("case_id",), time_column="opened_at", location="optional",
    description="Investigations: one per incident, with clearance.",
    columns=(
        _c("case_id", "id", required=True, nullable=False),
        _c("incident_id", "id", required=True, nullable=False),
        _c("opened_at", "datetime", required=True, nullable=False),
        _c("cleared_at", "datetime", description="When the case was cleared; missing while open."),
        _c("clearance_type", "str", choices=CLEARANCE_TYPES,
           description="arrest, or exceptional_A..E (NIBRS exceptional clearance codes)."),
        _c("rtcc_assisted", "bool", description="The real-time crime center assisted the case."),
        _c("unit", "str"),
        _c("status", "str"),
        _c("updated_at", "datetime"),
    ),
))

_register(TableSpec(
    name="calls", key=("call_id",), time_column="received_at", location="optional",
    description="Calls for service from computer-aided dispatch (CAD).",
    columns=(
        _c("call_id", "id", required=True, nullable=False),
        _c("received_at", "datetime", required=True, nullable=False),
        _c("call_type", "str", required=True, nullable=False),
        *_location_columns(required_values=False),
        _c("priority", "int", minimum=0, description="1 is most urgent."),
        _c("dispatched_at", "datetime"),
        _c("arrived_at", "datetime"),
        _c("closed_at", "datetime"),
        _c("incident_id", "id"),
        _c("address", "str"),
        _c("district", "str"),
        _c("beat", "str"),
        _c("disposition", "str"),
        _c("vehicle_involved", "bool"),
        _c("updated_at", "datetime"),
    ),
))

_register(TableSpec(
    name="cameras", key=("camera_id",), time_column="installed_at", location="required",
    description="Camera registry: fixed ALPR, public CCTV and community-registered cameras.",
    columns=(
        _c("camera_id", "id", required=True, nullable=False),
        _c("kind", "str", required=True, nullable=False, choices=CAMERA_KINDS),
        *_location_columns(required_values=True),
        _c("heading", "float", minimum=0, maximum=360, description="View direction, degrees from north."),
        _c("owner", "str"),
        _c("name", "str"),
        _c("road_edge", "str", description="Road segment the camera watches."),
        _c("installed_at", "datetime"),
        _c("removed_at", "datetime"),
    ),
))

_register(TableSpec(
    name="alpr_reads", key=("read_id",), time_column="read_at", location="camera_or_reader",
    description="Automated license plate reader reads, from fixed cameras or mobile readers.",
    derived=("location_source",),
    columns=(
        _c("read_id", "id", required=True, nullable=False),
        _c("read_at", "datetime", required=True, nullable=False),
        _c("plate", "str", required=True, nullable=False,
           description="Plate as read, upper case, spaces and dashes removed."),
        _c("camera_id", "id", description="Fixed camera; its position is in cameras."),
        _c("lon", "float", minimum=-180, maximum=180, description="Read position (mobile readers)."),
        _c("lat", "float", minimum=-90, maximum=90),
        _c("location_source", "str", choices=LOCATION_SOURCES,
           description="Derived: reader, camera or none (see the module docstring)."),
        _c("plate_raw", "str"),
        _c("state", "str"),
        _c("confidence", "float", minimum=0, maximum=1),
        _c("make", "str"),
        _c("color", "str"),
        _c("device", "str", description="Reader or vehicle-mounted unit that made the read."),
        _c("direction", "str", description="Direction of travel if the reader reports it."),
        _c("address", "str"),
    ),
))

_register(TableSpec(
    name="gunshots", key=("alert_id",), time_column="detected_at", location="required",
    description="Acoustic gunshot detection alerts.",
    columns=(
        _c("alert_id", "id", required=True, nullable=False),
        _c("detected_at", "datetime", required=True, nullable=False),
        *_location_columns(required_values=True),
        _c("rounds", "int", minimum=0),
        _c("confidence", "float", minimum=0, maximum=1),
        _c("incident_id", "id"),
    ),
))

_register(TableSpec(
    name="units", key=("unit_id", "at"), time_column="at", location="required",
    description="Automatic vehicle location (AVL) pings of patrol units.",
    columns=(
        _c("unit_id", "id", required=True, nullable=False),
        _c("at", "datetime", required=True, nullable=False),
        *_location_columns(required_values=True),
        _c("status", "str"),
    ),
))


def table_spec(table: str) -> TableSpec:
    """Return the spec of a canonical table, or raise a SchemaError naming the known ones."""
    try:
        return TABLES[table]
    except (KeyError, TypeError):
        raise SchemaError(
            f"unknown table {table!r}; the canonical tables are: {', '.join(TABLES)}"
        ) from None


def empty_frame(table: str):
    """An empty DataFrame with the canonical columns and dtypes of ``table``."""
    import pandas as pd

    spec = table_spec(table)
    return pd.DataFrame({c.name: pd.Series([], dtype=c.dtype) for c in spec.columns})
