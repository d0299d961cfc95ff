"""Shared fixtures.

Real public data lives in ``../shared/data`` beside the checkout. Tests that
need it skip with a reason on a user's machine without it, and fail in CI
(``CI=true``), where a missing dependency is a failure, not a skip.
"""

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("WORKBENCH_SHARED_DATA", ROOT.parent / "shared" / "data"))
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require(condition: bool, reason: str):
    """Skip the calling test with ``reason`` unless in CI, where it fails instead."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"missing in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of ../shared/data (public reference data); skip or fail if absent."""
    require(SHARED_DATA.is_dir(), f"public reference data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def spd_alpr_path(shared_data) -> Path:
    path = shared_data / "spd-alpr" / "spd-alpr-pub.csv.gz"
    require(path.is_file(), f"Seattle ALPR week not found at {path}")
    return path


@pytest.fixture(scope="session")
def mpdta_path(shared_data) -> Path:
    path = shared_data / "mpdta" / "mpdta.csv"
    require(path.is_file(), f"mpdta panel not found at {path}")
    return path


@pytest.fixture(scope="session")
def sample():
    """The committed sample scenario, loaded once per test session."""
    import workbench

    return workbench.load_sample()


@pytest.fixture(scope="session")
def sample_network(sample):
    """The sample's cameras on its road graph (travel-time routing between cameras)."""
    from workbench.trajectories import CameraNetwork

    return CameraNetwork(sample.roads, sample.cameras)


@pytest.fixture(scope="session")
def sample_trips(sample, sample_network):
    """The sample's ALPR reads reconstructed into trips, once per session."""
    from workbench.trajectories import reconstruct

    return reconstruct(sample.alpr_reads, sample.cameras, network=sample_network)


@pytest.fixture(scope="session")
def sample_store_file(sample, tmp_path_factory):
    """A DuckDB store holding every non-empty table of the sample (copy it before writing)."""
    from workbench.data import Store

    path = tmp_path_factory.mktemp("store") / "sample.duckdb"
    with Store(path) as store:
        for name, table in sample.tables.items():
            if len(table):
                store.append(name, table)
    return path
