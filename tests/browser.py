"""Browser-test fixtures: a served workbench on a free localhost port and headless Chromium.

Chromium is the Debian package (``/usr/bin/chromium``), launched by Playwright
with ``executable_path``; tests never download a browser. Without it the tests
skip on a user's machine and fail in CI (``require``).

Import the fixtures into a test module with
``from tests.browser import browser, page_factory, ...``; each module starts
its own server (module scope) so a module's tests share one.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.conftest import ROOT, require

CHROMIUM = os.environ.get("WORKBENCH_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTEFACTS = Path(os.environ.get("WORKBENCH_ARTEFACTS", ROOT / "test-artefacts"))

#: Demo accounts for the tests: username -> (role, password).
TEST_USERS = {
    "ana": ("analyst", "ana-pw"),
    "ivan": ("investigator", "ivan-pw"),
    "eve": ("evaluator", "eve-pw"),
    "cora": ("command", "cora-pw"),
    "root": ("admin", "root-pw"),
}


def free_port() -> int:
    """A free TCP port on localhost."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_users(path: Path) -> Path:
    """A users file with :data:`TEST_USERS` (cheap hashes: tests, not production)."""
    from workbench.governance.roles import Users

    users = Users()
    for name, (role, password) in TEST_USERS.items():
        users.add(name, role, password, iterations=1000)
    return users.save(path)


class Server:
    """``workbench serve`` in a subprocess: ``url``, ``pid``, ``log`` and ``stop()``."""

    def __init__(self, args, env=None, timeout_s: float = 90.0, cwd=None):
        self.port = free_port()
        self.url = f"http://localhost:{self.port}"
        self.log = Path(cwd or ARTEFACTS) / f"server-{self.port}.log"
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = open(self.log, "w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "workbench", "serve", "--port", str(self.port), *map(str, args)],
            stdout=self._log_file, stderr=subprocess.STDOUT, cwd=str(ROOT),
            env={**os.environ, "BOKEH_RESOURCES": "server", **(env or {})})
        self.pid = self.process.pid
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"workbench serve exited: {self.log.read_text()[-2000:]}")
            try:
                urllib.request.urlopen(f"{self.url}/login", timeout=2).read()
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"workbench serve did not answer in {timeout_s} s: {self.log.read_text()[-2000:]}")

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._log_file.close()


@contextmanager
def served(args, env=None):
    server = Server(args, env=env)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def chromium_path() -> str:
    require(Path(CHROMIUM).exists(), f"headless Chromium not found at {CHROMIUM} (apt-get install chromium)")
    return CHROMIUM


@pytest.fixture(scope="module")
def browser(chromium_path):
    """A headless Chromium (the system package) for the module's tests."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def users_file(tmp_path_factory) -> Path:
    return write_users(tmp_path_factory.mktemp("users") / "users.yaml")


class RequestLog:
    """Every URL a page asked for, to prove it stays on localhost."""

    def __init__(self, page):
        self.urls = []
        page.on("request", lambda request: self.urls.append(request.url))

    def external(self) -> list:
        hosts = {"localhost", "127.0.0.1", "::1", "[::1]"}
        return [u for u in self.urls if urlparse(u).scheme in ("http", "https", "ws", "wss")
                and urlparse(u).hostname not in hosts]


def login(page, base_url: str, username: str, next_path: str = "/", timeout_ms: int = 30_000):
    """Sign in through the login form and land on ``next_path``."""
    page.goto(f"{base_url}/login?next={next_path}", timeout=timeout_ms)
    page.fill("#username", username)
    page.fill("#password", TEST_USERS[username][1])
    page.click("#login-submit")
    page.wait_for_load_state("domcontentloaded", timeout=timeout_ms)


def screenshot(page, name: str) -> Path:
    """Save a full-page screenshot as a test artefact and return its path."""
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTEFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
