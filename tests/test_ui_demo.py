"""``workbench demo`` really serves: the login page answers on its port, and Ctrl-C stops it cleanly."""

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

from tests.browser import free_port
from tests.conftest import ROOT


def test_workbench_demo_serves_the_login_page_and_stops_on_ctrl_c(tmp_path):
    port = free_port()
    log = tmp_path / "demo.log"
    env = {**os.environ, "WORKBENCH_AUDIT_LOG": str(tmp_path / "audit.jsonl"), "BOKEH_RESOURCES": "server"}
    with open(log, "w") as out:
        process = subprocess.Popen([sys.executable, "-m", "workbench", "demo", "--port", str(port)],
                                   stdout=out, stderr=subprocess.STDOUT, cwd=str(tmp_path), env=env)
        try:
            page, deadline = None, time.monotonic() + 120
            while page is None and time.monotonic() < deadline and process.poll() is None:
                try:
                    page = urllib.request.urlopen(f"http://localhost:{port}/login", timeout=2).read().decode()
                except (urllib.error.URLError, ConnectionError, TimeoutError):
                    time.sleep(0.5)
            assert page is not None, f"demo did not answer on port {port}: {log.read_text()[-2000:]}"
            assert 'id="login-form"' in page
            # The index redirects an anonymous visitor to the login page (the dashboards require login).
            with urllib.request.urlopen(f"http://localhost:{port}/", timeout=10) as response:
                assert "/login" in response.url
            process.send_signal(signal.SIGINT)
            code = process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(5)
    text = log.read_text()
    assert code in (0, -signal.SIGINT, 130), f"demo exited with {code}: {text[-2000:]}"
    assert f"http://localhost:{port}/" in text and "Demo logins" in text
    assert "Traceback" not in text, text[-3000:]
