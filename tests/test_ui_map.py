"""A million points on the MapView reach the browser as one rasterised image, and closed tabs release sessions."""

import time

import numpy as np
import pytest

from tests import ui_bigmap
from tests.browser import browser, chromium_path, screenshot  # noqa: F401

pytestmark = pytest.mark.browser

N_POINTS = 1_000_000


@pytest.fixture(scope="module")
def map_url(chromium_path):
    from workbench.ui import load_workspace

    workspace = load_workspace()
    with ui_bigmap.serve_map(workspace, ui_bigmap.million_points(workspace, N_POINTS)) as url:
        yield url


class Traffic:
    """Bytes the page received over its websocket."""

    def __init__(self, page):
        self.received = 0
        page.on("websocket", lambda ws: ws.on("framereceived", self._add))

    def _add(self, payload):
        self.received += len(payload)


def image_glyphs(doc):
    from bokeh.models import GlyphRenderer, Image

    return [r for r in doc.select({"type": GlyphRenderer}) if isinstance(r.glyph, Image)]


def test_million_point_map_is_drawn_as_one_raster_image_not_a_million_glyphs(browser, map_url):
    page = browser.new_page(viewport={"width": 1200, "height": 800})
    traffic = Traffic(page)
    page.goto(map_url)
    page.locator("canvas").first.wait_for(state="attached", timeout=30_000)
    page.wait_for_timeout(2000)
    shot = screenshot(page, "map-million-points")
    doc = ui_bigmap.SESSIONS[-1]  # the newest session is this page's (earlier ones may be gone)
    images = image_glyphs(doc)
    assert len(images) == 1, f"expected one Image glyph, found {len(images)}"
    data = images[0].data_source.data["image"][0]
    assert np.asarray(data).ndim == 2 and 100 <= np.asarray(data).size <= 2_000_000
    assert np.nansum(np.asarray(data, dtype=float)) > 0.9 * N_POINTS * 0.5  # the counts of the points in view
    longest = max((len(v) for r in doc.select({"type": __import__("bokeh").models.ColumnDataSource})
                   for v in r.data.values() if hasattr(v, "__len__")), default=0)
    assert longest < 100_000, f"a data source holds {longest} rows: points were sent, not a raster"
    # 1M float64 x/y would be 16 MB before any encoding; the page got images of the view instead.
    assert traffic.received < 12_000_000, f"{traffic.received:,} bytes over the websocket"
    print(f"one {np.asarray(data).shape} image; {traffic.received:,} bytes received ({shot})")
    page.close()


def test_closed_tabs_release_their_sessions(browser, map_url):
    earlier = set(map(id, ui_bigmap.SESSIONS))
    context = browser.new_context(viewport={"width": 1000, "height": 700})
    for _ in range(3):
        page = context.new_page()
        page.goto(map_url)
        page.locator("canvas").first.wait_for(state="attached", timeout=30_000)
    opened = [doc for doc in ui_bigmap.SESSIONS if id(doc) not in earlier]
    assert len(opened) >= 3
    context.close()
    deadline = time.monotonic() + 30
    while any(doc in ui_bigmap.SESSIONS for doc in opened) and time.monotonic() < deadline:
        time.sleep(0.25)
    # Panel ran each session's on_session_destroyed hook (which drops it from SESSIONS).
    left = [doc for doc in opened if doc in ui_bigmap.SESSIONS]
    assert not left, f"{len(left)} of {len(opened)} closed sessions were never destroyed"
