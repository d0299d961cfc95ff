"""The Command Overview follows the live poller: a record dropped into the source shows within 5 s."""

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
def server(users_file, drop_folder, chromium_path, tmp_path_factory):
    config = {"every": "0.5s", "overlap": "60s", "sources": [
        {"name": "shotspotter-drops", "table": "gunshots",
         "directory": {"path": str(drop_folder), "pattern": "*.csv", "settle_s": 0.2}}]}
    path = tmp_path_factory.mktemp("config") / "sources.yaml"
    path.write_text(yaml.safe_dump(config))
    audit = tmp_path_factory.mktemp("audit") / "audit.jsonl"
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
