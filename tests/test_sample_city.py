"""The synthetic city: a routable street network with the features the scenario promises."""

import networkx as nx
import numpy as np
import pytest

from workbench.sample.city import DEFAULT_ORIGIN, build_city


@pytest.fixture(scope="module")
def city():
    return build_city(seed=0)


def test_city_is_about_ten_km_square_around_the_origin(city):
    x, y = city.nodes["x"], city.nodes["y"]
    cx, cy = city.centre_xy
    assert 9_500 <= x.max() - x.min() <= 10_500
    assert 9_500 <= y.max() - y.min() <= 10_500
    assert abs(x.mean() - cx) < 800 and abs(y.mean() - cy) < 800
    assert city.crs == "EPSG:32617"  # Columbus, Ohio is in UTM zone 17N
    assert city.origin == DEFAULT_ORIGIN


def test_road_network_has_every_road_class_and_posted_speeds(city):
    roads = city.roads
    assert set(roads["road_class"]) == {"highway", "ramp", "arterial", "local", "bridge"}
    speeds = roads.groupby("road_class")["speed_kmh"].median()
    assert speeds["highway"] > speeds["arterial"] > speeds["local"]
    assert roads["edge_id"].is_unique
    assert str(roads.crs) == "EPSG:4326"
    assert (roads["length_m"] > 0).all()
    # ramps are one-way, as on a real diamond interchange
    assert roads.loc[roads["road_class"] == "ramp", "oneway"].all()
    # geometry runs from u to v
    first = roads.geometry.apply(lambda g: g.coords[0])
    nodes = city.nodes.set_index("node_id")
    assert np.allclose(np.array(first.tolist()),
                       nodes.loc[roads["u"], ["lon", "lat"]].to_numpy(), atol=1e-9)


def test_graph_is_strongly_connected_with_two_directed_edges_per_two_way_road(city):
    g = city.graph
    assert nx.is_strongly_connected(g)
    two_way = (~city.roads["oneway"]).sum()
    assert g.number_of_edges() == len(city.roads) + two_way
    u, v, data = next(iter(g.edges(data=True)))
    assert {"length_m", "speed_kmh", "travel_s", "edge_id"} <= set(data)
    assert data["travel_s"] == pytest.approx(data["length_m"] / (data["speed_kmh"] / 3.6))


def test_river_is_crossed_only_by_bridges(city):
    import geopandas as gpd

    river = city.river.to_crs(city.crs).iloc[0]
    roads = gpd.GeoSeries(city.roads.geometry, crs="EPSG:4326").to_crs(city.crs)
    crossing = city.roads.loc[roads.intersects(river).to_numpy(), "road_class"]
    assert len(crossing) >= 3
    assert set(crossing) == {"bridge"}


def test_districts_and_beats_carry_demographics_that_vary(city):
    d, b = city.districts, city.beats
    assert 6 <= len(d) <= 12
    assert len(b) >= 3 * len(d)
    assert set(b["district"]) == set(d["district"])
    assert 300_000 <= d["population"].sum() <= 420_000
    shares = d[["share_white", "share_black", "share_hispanic", "share_asian", "share_other"]]
    assert np.allclose(shares.sum(axis=1), 1, atol=1e-3)
    assert d["median_income"].max() > 1.5 * d["median_income"].min()
    assert d["share_black"].max() - d["share_black"].min() > 0.25
    # districts tile the city: areas add up to 100 km2
    assert d["area_km2"].sum() == pytest.approx(100, rel=1e-3)


def test_nodes_have_land_use_and_anchor_weights(city):
    n = city.nodes
    assert set(n["land_use"]) == {"residential", "commercial", "industrial"}
    assert n["pop_weight"].sum() == pytest.approx(1)
    assert n["job_weight"].sum() == pytest.approx(1)
    hw = n["road_class"] == "highway"
    assert (n.loc[hw, "pop_weight"] == 0).all()
    assert n["district"].isin(city.districts["district"]).all()


def test_same_seed_same_city_different_seed_different_city():
    a, b, c = build_city(seed=3, size_km=4), build_city(seed=3, size_km=4), build_city(seed=4, size_km=4)
    assert a.roads.drop(columns="geometry").equals(b.roads.drop(columns="geometry"))
    assert a.nodes.equals(b.nodes)
    assert not a.nodes[["x", "y"]].equals(c.nodes[["x", "y"]])
