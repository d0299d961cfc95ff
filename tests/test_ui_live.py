"""The Command Overview follows the live poller: a record dropped into the source shows within 5 s,
and a hotlisted plate read becomes a hit count (the system's audited check, counts only)."""

import json
import time

import pandas as pd
import pytest
import yaml

from tests.browser import Server, browser, chromium_path, login, screenshot, users_file  # noqa: F401

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def drop_folder(tmp_path_factory):
    return tmp_path_factory.mktemp("drops")


@pytest.fixture(scope="module")
def audit_path(tmp_path_factory):
    return tmp_path_factory.mktemp("audit") / "audit.jsonl"


@pytest.fixture(scope="module")
def server(users_file, drop_folder, chromium_path, tmp_path_factory, audit_path):
    (drop_folder / "alpr").mkdir()
    config = {"every": "0.5s", "overlap": "60s", "sources": [
        {"name": "shotspotter-drops", "table": "gunshots",
         "directory": {"path": str(drop_folder), "pattern": "*.csv", "settle_s": 0.2}},
        {"name": "alpr-drops", "table": "alpr_reads",
         "directory": {"path": str(drop_folder / "alpr"), "pattern": "*.csv", "settle_s": 0.2}}]}
    path = tmp_path_factory.mktemp("config") / "sources.yaml"
    path.write_text(yaml.safe_dump(config))
    audit = audit_path
    srv = Server(["--users", users_file, "--live", path],
                 env={"WORKBENCH_AUDIT_LOG": str(audit)})
    yield srv
    srv.stop()


def test_record_inserted_into_live_source_shows_on_command_overview_within_5_s(server, browser, drop_folder):
    from workbench import load_sample

    sample = load_sample()
    gunshots = sample.gunshots
    latest = max(sample.calls["received_at"].max(), sample.alpr_reads["read_at"].max())
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    login(page, server.url, "cora", "/command")
    page.get_by_text("Calls, last hour").first.wait_for(timeout=15_000)
    alert = gunshots.iloc[[-1]].copy()
    alert["alert_id"] = "LIVE-TEST-0001"
    alert["detected_at"] = latest + pd.Timedelta(minutes=1)  # the newest event: "now" on the page
    written = drop_folder / "alert.csv.part"
    alert.to_csv(written, index=False, date_format="%Y-%m-%dT%H:%M:%S.%fZ")
    started = time.monotonic()
    written.rename(drop_folder / "alert.csv")
    page.locator(".tabulator-cell", has_text="LIVE-TEST-0001").first.wait_for(timeout=5_000)
    elapsed = time.monotonic() - started
    screenshot(page, "command-live")
    print(f"live record visible after {elapsed:.2f} s")
    assert elapsed < 5.0
    cards = page.locator(".kpi", has_text="Gunshot alerts, last hour").first.inner_text()
    assert cards.strip().endswith("1")
    page.close()


def kpi_value(page, label: str) -> int:
    text = page.locator(".kpi", has_text=label).first.locator(".kpi-value").inner_text()
    return int(text.replace(",", ""))


def test_hotlisted_plate_read_fed_live_shows_as_a_hit_count_within_5_s(server, browser, drop_folder,
                                                                          audit_path):
    from workbench import load_sample

    sample = load_sample()
    latest = max(sample.calls["received_at"].max(), sample.alpr_reads["read_at"].max())
    at = latest + pd.Timedelta(minutes=2)  # the newest event: "now" on the page
    hotlist = sample.truth["hotlist"]
    active = hotlist[(hotlist["added_at"] <= at) & ~hotlist["plate"].str.contains(r"[?*]")
                     & (hotlist["expires_at"].isna() | (hotlist["expires_at"] >= at))]
    entry = active.iloc[0]
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    login(page, server.url, "cora", "/command")
    page.get_by_text("Hotlist hits, last hour").first.wait_for(timeout=15_000)
    before = kpi_value(page, "Hotlist hits, last hour")
    read = sample.alpr_reads.iloc[[-1]].copy()
    read["read_id"] = "LIVE-HIT-0001"
    read["plate"] = entry["plate"]
    if "plate_raw" in read:
        read["plate_raw"] = entry["plate"]
    if "state" in read:
        read["state"] = entry["state"]
    read["read_at"] = at
    written = drop_folder / "alpr" / "read.csv.part"
    read.to_csv(written, index=False, date_format="%Y-%m-%dT%H:%M:%S.%fZ")
    started = time.monotonic()
    written.rename(drop_folder / "alpr" / "read.csv")
    # Playwright locators pierce the cards' shadow DOM; poll the card until it counts the read.
    while kpi_value(page, "Hotlist hits, last hour") != before + 1 and time.monotonic() - started < 5.0:
        page.wait_for_timeout(100)
    elapsed = time.monotonic() - started
    screenshot(page, "command-hotlist-hit")
    print(f"hotlist hit counted after {elapsed:.2f} s")
    assert kpi_value(page, "Hotlist hits, last hour") == before + 1 and elapsed < 5.0
    assert kpi_value(page, "Hotlist hits, last day") >= before + 1
    assert entry["plate"] not in page.content()  # command staff see counts, never plates
    records = [json.loads(line) for line in audit_path.read_text().splitlines()]
    checks = [r for r in records if r["action"] == "hits"]
    assert checks and {r["user"] for r in checks} == {"rtcc-system"}
    assert {r["role"] for r in checks} == {"system"} and checks[-1]["reason"] == "hotlist screening of live reads"
    assert any(r["result_count"] == 1 for r in checks[1:])  # the live batch with the planted read
    assert not [r for r in records if r["user"] == "cora"]  # the viewer searched nothing
    page.close()
