"""MapView layers redraw from their parameters (in a Bokeh document, without a browser)."""

import numpy as np
import pandas as pd
from bokeh.models import ColumnDataSource, GlyphRenderer, Image

from workbench import hotspots
from workbench.ui import load_workspace
from workbench.ui.components import MapView
from workbench.ui.layers import to_mercator_frame


def sources_of_length(root, n):
    return [s for s in root.select({"type": ColumnDataSource}) if s.data and len(next(iter(s.data.values()))) == n]


def test_map_layers_follow_parameter_updates_including_batched_ones():
    workspace = load_workspace()
    incidents = workspace.incidents
    view = MapView(workspace=workspace, points=incidents.iloc[:500])
    root = view.__panel__().get_root()
    image = [r for r in root.select({"type": GlyphRenderer}) if isinstance(r.glyph, Image)][0]
    first = np.asarray(image.data_source.data["image"][0], dtype=float)
    assert 450 < np.nansum(first) <= 500  # a few lie outside the city frame
    view.points = incidents.iloc[:2000]  # one parameter
    assert 1800 < np.nansum(np.asarray(image.data_source.data["image"][0], dtype=float)) <= 2000
    cells = hotspots.to_geodataframe(hotspots.gistar(incidents, 500.0), drop_empty=True)
    cells = cells[cells["significant"].astype(bool)]
    view.param.update(cells=to_mercator_frame(cells, "z"), cell_value="z")  # two at once: one redraw
    assert sources_of_length(root, len(cells)), "the hot spot cells were not drawn"
    view.tracks = pd.DataFrame({"web_x": incidents["web_x"].iloc[:7], "web_y": incidents["web_y"].iloc[:7],
                                "path": ["t1"] * 7})
    assert sources_of_length(root, 1) or sources_of_length(root, 7)
