"""The served dashboards in headless Chromium: load, login, roles, audited search, no external requests."""

import json
import time

import pandas as pd
import pytest

from tests.browser import ARTEFACTS, RequestLog, Server, browser, chromium_path, login, screenshot, users_file  # noqa: F401

pytestmark = pytest.mark.browser

LOAD_BUDGET_S = 10.0


@pytest.fixture(scope="module")
def audit_path(tmp_path_factory):
    return tmp_path_factory.mktemp("audit") / "audit.jsonl"


@pytest.fixture(scope="module")
def server(users_file, audit_path, chromium_path):
    srv = Server(["--users", users_file], env={"WORKBENCH_AUDIT_LOG": str(audit_path)})
    yield srv
    srv.stop()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    yield page
    context.close()


# app -> (user, text that appears only once the app has drawn its data)
APPS = {
    "hotspots": ("ana", "incidents · Getis-Ord"),
    "evaluation": ("eve", "cleared_arrest"),
    "vehicles": ("ivan", "Every search is audited"),
    "command": ("cora", "Calls, last hour"),
}


@pytest.mark.parametrize("app", list(APPS))
def test_each_app_loads_with_the_sample_within_10_s_and_stays_on_localhost(server, page, app):
    user, ready_text = APPS[app]
    requests = RequestLog(page)
    login(page, server.url, user, "/")
    started = time.monotonic()
    page.goto(f"{server.url}/{app}")
    page.get_by_text(ready_text).first.wait_for(timeout=LOAD_BUDGET_S * 1000)
    if app in ("hotspots", "command", "vehicles"):
        page.locator("canvas").first.wait_for(state="attached", timeout=LOAD_BUDGET_S * 1000)
    elapsed = time.monotonic() - started
    page.wait_for_timeout(800)  # let the last glyphs paint before the screenshot
    shot = screenshot(page, f"app-{app}")
    print(f"{app}: loaded in {elapsed:.1f} s ({shot})")
    assert elapsed < LOAD_BUDGET_S
    assert page.locator(".whoami").first.inner_text().startswith(user)
    assert requests.external() == [], f"external requests: {requests.external()}"
    assert "Something went wrong" not in page.content()


def test_unauthenticated_request_goes_to_the_login_page(server, page):
    page.goto(f"{server.url}/vehicles")
    assert "/login" in page.url
    assert page.locator("#login-form").count() == 1


def test_wrong_password_stays_on_login(server, page):
    page.goto(f"{server.url}/login?next=/hotspots")
    page.fill("#username", "ana")
    page.fill("#password", "not-her-password")
    page.click("#login-submit")
    page.wait_for_load_state()
    assert "/login" in page.url and "Invalid" in page.content()


def test_command_role_gets_403_on_vehicle_investigation(server, page):
    login(page, server.url, "cora", "/")
    response = page.goto(f"{server.url}/vehicles")
    assert response.status == 403
    links = page.goto(f"{server.url}/")
    page.get_by_text("Command Overview").first.wait_for(timeout=10_000)
    assert links.status == 200 and page.locator("a.app-link", has_text="Vehicle Investigation").count() == 0


def test_analyst_cannot_open_vehicle_investigation_but_investigator_can(server, page):
    login(page, server.url, "ana", "/")
    assert page.goto(f"{server.url}/vehicles").status == 403
    page.goto(f"{server.url}/logout")
    login(page, server.url, "ivan", "/")
    assert page.goto(f"{server.url}/vehicles").status == 200


def test_typed_partial_plate_search_finds_planted_vehicle_and_is_audited(server, page, audit_path):
    from workbench import load_sample

    planted = load_sample().truth["incident_vehicles"].iloc[0]
    plate = str(planted["plate"])
    pattern = plate[:3] + "?" + plate[4:]
    login(page, server.url, "ivan", "/vehicles")
    page.get_by_text("Every search is audited").first.wait_for(timeout=15_000)
    before = audit_path.read_text().count("\n") if audit_path.exists() else 0
    page.locator(".plate-input input").fill(pattern)
    page.locator(".reason-input input").fill("robbery follow-up, white sedan")
    page.locator(".case-input input").fill("25-020362")
    page.locator(".search-button button").click()
    page.get_by_text(f"for {pattern}").first.wait_for(timeout=30_000)
    page.locator(".tabulator-cell", has_text=plate).first.wait_for(timeout=10_000)
    page.wait_for_timeout(1000)
    screenshot(page, "vehicles-search")
    records = [json.loads(line) for line in audit_path.read_text().splitlines()[before:]]
    searches = [r for r in records if r.get("action") == "plate_search" and r.get("user") == "ivan"]
    assert searches, f"no audit record for the search: {records}"
    assert searches[-1]["case_number"] == "25-020362"
    assert searches[-1]["reason"].startswith("robbery follow-up")
    assert searches[-1]["result_count"] > 0


def test_search_without_case_number_is_refused_in_the_page(server, page, audit_path):
    login(page, server.url, "ivan", "/vehicles")
    page.get_by_text("Every search is audited").first.wait_for(timeout=15_000)
    page.locator(".plate-input input").fill("ABC1234")
    page.locator(".reason-input input").fill("robbery follow-up")
    page.locator(".search-button button").click()
    page.get_by_text("refused").first.wait_for(timeout=15_000)
    last = json.loads(audit_path.read_text().splitlines()[-1])
    assert last["result_count"] is None and "refused" in last["parameters"]


def test_search_without_a_reason_is_refused_in_the_page(server, page, audit_path):
    login(page, server.url, "ivan", "/vehicles")
    page.get_by_text("Every search is audited").first.wait_for(timeout=15_000)
    page.locator(".plate-input input").fill("ABC1234")
    page.locator(".case-input input").fill("25-020362")
    page.locator(".search-button button").click()
    page.get_by_text("refused").first.wait_for(timeout=15_000)
    last = json.loads(audit_path.read_text().splitlines()[-1])
    assert last["user"] == "ivan" and last["result_count"] is None and "refused" in last["parameters"]
    assert not page.locator(".tabulator-cell", has_text="ABC1234").count()
