"""`workbench feed` serves a scenario live over HTTP; `workbench poll` keeps a store current from it."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from workbench.cli import main
from workbench.data import Store

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                return json.loads(response.read())
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not come up")


def test_feed_over_http_and_poll_service_fill_the_store(tmp_path):
    port = free_port()
    feed = subprocess.Popen(
        [sys.executable, "-m", "workbench", "feed", "--scenario", str(ROOT / "data" / "sample"),
         "--to", f"http://127.0.0.1:{port}", "--speed", "7200", "--start", "2025-12-20T12:00:00Z",
         "--tables", "calls,gunshots,alpr_reads", "--tick", "0.1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    try:
        catalog = wait_for(f"http://127.0.0.1:{port}/")
        assert {"calls", "gunshots", "alpr_reads"} <= set(catalog)
        config = tmp_path / "sources.yaml"
        config.write_text(
            f"store: {tmp_path / 'live.duckdb'}\nevery: 0.2s\nsources:\n"
            f"  - {{name: cad, table: calls, http: {{url: 'http://127.0.0.1:{port}/resource/calls.json'}}}}\n"
            f"  - {{name: plates, table: alpr_reads,"
            f" http: {{url: 'http://127.0.0.1:{port}/resource/alpr_reads.json', page_size: 2000}}}}\n")
        time.sleep(2)
        poll = subprocess.Popen([sys.executable, "-m", "workbench", "poll", "--config", str(config),
                                 "--status-every", "0.5"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, cwd=ROOT)
        time.sleep(3)
        poll.send_signal(signal.SIGTERM)  # clean shutdown
        out, _ = poll.communicate(timeout=30)
        assert poll.returncode == 0, out
        assert "cad -> calls: stopped" in out and "plates -> alpr_reads: stopped" in out
        with Store(tmp_path / "live.duckdb", read_only=True) as store:
            assert store.count("calls") > 0 and store.count("alpr_reads") > 0
            read_max = store.query("alpr_reads")["read_at"].max()
        assert read_max > __import__("pandas").Timestamp("2025-12-20T12:00:00Z")
    finally:
        feed.send_signal(signal.SIGINT)
        out, _ = feed.communicate(timeout=30)
    assert feed.returncode == 0 and "fed " in out and "record versions" in out


def test_poll_with_a_missing_config_is_one_plain_line(tmp_path, capsys):
    assert main(["poll", "--config", str(tmp_path / "nope.yaml"), "--store", str(tmp_path / "s.duckdb")]) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"workbench: error: no config file at {tmp_path / 'nope.yaml'}"


def test_feed_to_an_unknown_target_is_one_plain_line(capsys):
    assert main(["feed", "--to", "ftp://example.org", "--duration", "0"]) == 1
    assert capsys.readouterr().err.startswith("workbench: error: feed target 'ftp://example.org'")


@pytest.mark.parametrize("bad, message", [
    ("sources: []\n", "non-empty 'sources' list"),
    ("sources:\n  - {table: calls}\n", "needs exactly one of sql, http, directory"),
])
def test_poll_config_errors_name_the_problem(tmp_path, capsys, bad, message):
    config = tmp_path / "sources.yaml"
    config.write_text(bad)
    assert main(["poll", "--config", str(config), "--store", str(tmp_path / "s.duckdb"), "--once"]) == 1
    assert message in capsys.readouterr().err
