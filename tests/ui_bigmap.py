"""A page with the dashboards' MapView over a million points, served in-process (browser test and benchmark).

The points are the sample's incidents resampled to ``n`` with 150 m of jitter,
so the map looks like the city's crime, only denser. The server runs in a
thread of the calling process, so the test can look at each session's Bokeh
document (:data:`SESSIONS`) and count destroyed sessions (:data:`DESTROYED`).
"""

from __future__ import annotations

import threading
from contextlib import contextmanager

import numpy as np
import pandas as pd

from tests.browser import free_port

#: Live Bokeh documents of the served map, and how many sessions Panel has destroyed.
SESSIONS: list = []
DESTROYED = {"count": 0}
_LOCK = threading.Lock()


def million_points(workspace, n: int = 1_000_000, seed: int = 0) -> pd.DataFrame:
    """``n`` Web Mercator points (``web_x`` / ``web_y``) around the sample's incidents."""
    rng = np.random.default_rng(seed)
    incidents = workspace.incidents
    pick = rng.integers(0, len(incidents), n)
    return pd.DataFrame({"web_x": incidents["web_x"].to_numpy()[pick] + rng.normal(0, 150, n),
                         "web_y": incidents["web_y"].to_numpy()[pick] + rng.normal(0, 150, n)})


def map_page(workspace, points):
    """Serve factory: a MapView over ``points``; records the session and its destruction."""
    import panel as pn

    from workbench.ui.components import MapView

    view = MapView(workspace=workspace, points=points, title=f"{len(points):,} points, rasterised")
    doc = pn.state.curdoc
    with _LOCK:
        SESSIONS.append(doc)

    def destroyed(session_context):
        with _LOCK:
            DESTROYED["count"] += 1
            if doc in SESSIONS:
                SESSIONS.remove(doc)

    pn.state.on_session_destroyed(destroyed)
    return pn.Column(view, sizing_mode="stretch_width")


@contextmanager
def serve_map(workspace, points, *, cleanup_ms: int = 500):
    """Serve :func:`map_page` on a free localhost port in a thread; yields the URL.

    Unused sessions are checked for and discarded every ``cleanup_ms`` (Bokeh's
    default is 15-17 s), so a closed tab's session is released promptly.
    """
    import panel as pn

    port = free_port()
    server = pn.serve({"map": lambda: map_page(workspace, points)}, port=port, address="localhost", show=False,
                      threaded=True, websocket_origin=[f"localhost:{port}"],
                      check_unused_sessions_milliseconds=cleanup_ms, unused_session_lifetime_milliseconds=cleanup_ms)
    try:
        import time
        import urllib.request

        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://localhost:{port}/map", timeout=5).read()
                break
            except OSError:
                time.sleep(0.2)
        yield f"http://localhost:{port}/map"
    finally:
        server.stop()
