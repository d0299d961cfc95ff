"""The trajectory engine on real data (SPD's public ALPR week) and search against a plain scan."""

from pathlib import Path

import numpy as np
import pytest

import workbench
from workbench.governance.audit import AuditLog
from workbench.trajectories import PlateIndex, reconstruct, search
from workbench.trajectories.plates import LOOKALIKE_CLASSES

SPD = Path(__file__).resolve().parents[2] / "shared" / "data" / "spd-alpr" / "spd-alpr-pub.csv.gz"


@pytest.fixture(scope="module")
def spd_reads():
    if not SPD.exists():
        pytest.skip(f"SPD ALPR export not found at {SPD}")
    from workbench.data.readers import read_table

    return read_table(SPD, profile="spd-alpr").valid


def test_spd_week_reconstructs_mobile_reads_and_flags_device_disagreement(spd_reads):
    res = reconstruct(spd_reads)
    summary = res.summary()
    assert summary["reads"] + summary["quarantined"] == len(spd_reads)
    assert summary["multi_sighting_trips"] > 0 and summary["legs_unjudged"] > 0  # unlocated reads join by time
    legs = res.legs
    too_fast = legs["plausible"].eq(False).fillna(False).to_numpy(bool)
    # straight-line speed over 150 km/h before any tolerance: the tolerance clears some of them
    raw = (legs["distance_m"] / legs["travel_s"].clip(lower=0.5) * 3.6 > 150).to_numpy()
    assert too_fast.sum() <= raw.sum()
    # every remaining too-fast leg spans two mobile devices: reported as device disagreement, not a clone
    devices = spd_reads.set_index("read_id")["device"]
    cross = (devices.reindex(legs["from_read_id"]).to_numpy() != devices.reindex(legs["to_read_id"]).to_numpy())
    assert (legs.loc[too_fast, "flag"] == np.where(cross[too_fast], "device_disagreement", "impossible_travel")).all()
    assert set(res.flagged_plates()["plate"]) == set(legs.loc[legs["flag"].eq("impossible_travel").fillna(False)
                                                              .to_numpy(bool), "plate"])


def test_pattern_search_equals_a_plain_lookalike_regex_scan(tmp_path):
    reads = workbench.load_sample().alpr_reads
    index = PlateIndex(reads)
    log = AuditLog(tmp_path / "audit.jsonl")
    cls = {ch: group for group in LOOKALIKE_CLASSES for ch in group}
    for plate in reads["plate"].drop_duplicates().sample(5, random_state=1):
        pattern = plate[:2] + "?" + plate[3:5] + "*"
        got = search(index, pattern=pattern, lookalike=1, audit_log=log, user="jdoe", role="investigator",
                     reason="robbery follow-up", case_number="25-000123")
        regex = "^" + "".join("." if c == "?" else ".*" if c == "*" else f"[{cls.get(c, c)}]" for c in pattern) + "$"
        scan = reads["plate"].str.match(regex)
        lookalike_only = got["substitutions"] <= 1
        assert set(got.loc[lookalike_only, "read_id"]) <= set(reads.loc[scan, "read_id"])
        # a plate that differs in two or more look-alike positions is beyond lookalike=1
        assert len(got) <= int(scan.sum())
        exact = reads["plate"].str.match("^" + pattern.replace("?", ".").replace("*", ".*") + "$")
        assert set(reads.loc[exact, "read_id"]) <= set(got["read_id"])
