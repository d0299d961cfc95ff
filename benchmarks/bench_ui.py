"""Dashboards: pan/zoom round-trip on a 1M-point rasterised map, and server memory over 30 sessions.

(a) A MapView over a million points (the sample's incidents resampled with
jitter) served in-process; headless Chromium zooms the map with the mouse
wheel and we time each wheel event until the new rasterised image arrives
over the websocket (a binary frame the size of the image, timed inside the
page). Median and p95 over the zooms.

(b) ``workbench serve`` in a subprocess; one signed-in browser context opens
and closes 30 sessions across the four apps. The server's resident memory
(psutil) is measured after the first round (warm: imports, caches, shared
models) and after the 30 sessions were closed and cleaned up.

Run: ``python benchmarks/bench_ui.py [--zooms 10] [--sessions 30]``; writes the
"ui" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._report import write_section  # noqa: E402
from tests import ui_bigmap  # noqa: E402
from tests.browser import CHROMIUM, CHROMIUM_ARGS, Server, login, write_users  # noqa: E402


#: Records every websocket message the page receives (time, bytes) inside the page, so the
#: timing does not include Playwright copying multi-megabyte frames out of the browser.
WS_PROBE = """
window.__frames = [];
const Native = window.WebSocket;
window.WebSocket = class extends Native {
  constructor(...args) {
    super(...args);
    this.addEventListener('message', (e) => {
      const d = e.data;
      const n = typeof d === 'string' ? d.length : (d.byteLength !== undefined ? d.byteLength : d.size);
      window.__frames.push([performance.now(), n]);
    });
  }
};
"""


def zoom_round_trips(browser, url: str, zooms: int) -> list:
    """Seconds per zoom from the wheel event to the new raster image's arrival in the page."""
    page = browser.new_page(viewport={"width": 1200, "height": 800})
    page.add_init_script(WS_PROBE)
    page.goto(url)
    page.locator("canvas").first.wait_for(state="attached", timeout=60_000)
    page.wait_for_timeout(3000)
    box = page.locator("canvas").first.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.45, box["y"] + box["height"] * 0.5)
    image_bytes = page.evaluate("Math.max(...window.__frames.map(f => f[1]))")  # the first image
    times = []
    for i in range(zooms):
        started = page.evaluate("performance.now()")
        page.mouse.wheel(0, -240 if i % 2 == 0 else 200)  # in, then back out, around the city centre
        arrived = None
        deadline = time.monotonic() + 30
        while arrived is None and time.monotonic() < deadline:
            page.wait_for_timeout(20)
            arrived = page.evaluate(
                "([t0, n]) => { const f = window.__frames.find(f => f[0] > t0 && f[1] >= n); return f ? f[0] : null; }",
                [started, 0.5 * image_bytes])
        if arrived is None:
            raise RuntimeError(f"zoom {i}: no new image within 30 s")
        times.append((arrived - started) / 1000)
        page.wait_for_timeout(600)  # let trailing range updates settle before the next zoom
    page.screenshot(path=str(ROOT / "test-artefacts" / "bench-ui-zoomed.png"))
    page.close()
    return times, image_bytes


def session_memory(browser, sessions: int) -> dict:
    """Server RSS (MB) warm and after ``sessions`` sessions opened and closed."""
    import psutil

    tmp = Path(tempfile.mkdtemp(prefix="bench-ui-"))
    users = write_users(tmp / "users.yaml")
    server = Server(["--users", users], env={"WORKBENCH_AUDIT_LOG": str(tmp / "audit.jsonl")})
    process = psutil.Process(server.pid)
    apps = {"hotspots": ("ana", "incidents · Getis-Ord"), "evaluation": ("eve", "cleared_arrest"),
            "vehicles": ("ivan", "Every search is audited"), "command": ("cora", "Calls, last hour")}
    contexts = {}
    try:
        for app, (user, _) in apps.items():
            context = browser.new_context(viewport={"width": 1400, "height": 900})
            login(context.new_page(), server.url, user, "/")
            contexts[app] = context

        def visit(app):
            page = contexts[app].new_page()
            page.goto(f"{server.url}/{app}")
            page.get_by_text(apps[app][1]).first.wait_for(timeout=60_000)
            page.wait_for_timeout(300)
            page.close()

        for app in apps:  # warm: first sessions pay for imports and caches
            visit(app)
        time.sleep(40)  # Bokeh discards unused sessions after ~15 s, checking every 17 s
        warm = process.memory_info().rss / 2**20
        for i in range(sessions):
            visit(list(apps)[i % len(apps)])
        peak = process.memory_info().rss / 2**20
        time.sleep(40)
        after = process.memory_info().rss / 2**20
    finally:
        for context in contexts.values():
            context.close()
        server.stop()
    return {"warm": warm, "peak": peak, "after": after}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zooms", type=int, default=10)
    parser.add_argument("--sessions", type=int, default=30)
    parser.add_argument("--points", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    from workbench.ui import load_workspace

    (ROOT / "test-artefacts").mkdir(exist_ok=True)
    workspace = load_workspace()
    points = ui_bigmap.million_points(workspace, args.points)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            with ui_bigmap.serve_map(workspace, points) as url:
                times, image_bytes = zoom_round_trips(browser, url, args.zooms)
            memory = session_memory(browser, args.sessions)
        finally:
            browser.close()
    load = os.getloadavg()
    round_trips = sorted(times)
    median = statistics.median(round_trips)
    p95 = round_trips[min(len(round_trips) - 1, int(round(0.95 * (len(round_trips) - 1))))]
    growth = memory["after"] - memory["warm"]
    md = f"""\
`benchmarks/bench_ui.py`: headless Chromium (Debian package) against the served dashboards.
Load average during the run: {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f} (the machine is shared).

| measure | value | target |
|---|---|---|
| pan/zoom round-trip, {args.points:,}-point MapView (wheel event to new raster image), median | {median * 1000:.0f} ms | — |
| same, p95 over {len(times)} zooms | {p95 * 1000:.0f} ms | — |
| raster image per view (websocket binary frame) | {image_bytes / 1e6:.1f} MB | — |
| server RSS, warm (after one session of each app) | {memory['warm']:.0f} MB | — |
| server RSS growth over {args.sessions} sessions opened and closed (after cleanup) | {growth:+.0f} MB (peak while open {memory['peak'] - memory['warm']:+.0f} MB) | < 100 MB |

The map sends a raster of the view (one Bokeh Image, the size of the plot in pixels), never the
points: the browser test `tests/test_ui_map.py` checks this and that closed sessions are destroyed.
"""
    print(md)
    write_section("ui", md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
