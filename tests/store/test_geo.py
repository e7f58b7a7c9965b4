"""Geo commands: every reply compared exactly with redis-server's for the same inputs (`same`),
plus a few behaviours checked on both servers (fixture `r`)."""

import random

import pytest
import redis

from tests.store.crosscheck import both_fixture, raw, same  # noqa: F401


def _points(seed=7, n=300):
    rng = random.Random(seed)
    args = []
    for i in range(n):
        if i < n // 2:  # a dense cluster around Sicily, the rest all over the world
            lon, lat = 13 + rng.uniform(-1, 1), 38 + rng.uniform(-1, 1)
        else:
            lon, lat = rng.uniform(-180, 180), rng.uniform(-85, 85)
        args += [repr(lon), repr(lat), f"m{i}"]
    return args


@pytest.fixture
def geo(both):
    same(both, "GEOADD", "g", *_points())
    return both


def test_geoadd_scores_pos_hash_dist(geo):
    same(geo, "ZRANGE", "g", 0, -1, "WITHSCORES")
    same(geo, "GEOPOS", "g", "m1", "m2", "nosuch", "m200")
    same(geo, "GEOHASH", "g", "m1", "m2", "nosuch", "m200")
    for unit in ("m", "km", "ft", "mi", "KM"):
        same(geo, "GEODIST", "g", "m1", "m250", unit)
    same(geo, "GEODIST", "g", "m1", "nosuch")
    same(geo, "GEOPOS", "nokey", "a")
    same(geo, "GEOADD", "g", 180, 85.05112878, "edge1", -180, -85.05112878, "edge2")
    same(geo, "GEOPOS", "g", "edge1", "edge2")
    same(geo, "GEOHASH", "g", "edge1", "edge2")


def test_geoadd_options(geo):
    same(geo, "GEOADD", "g", "CH", "XX", 1, 2, "m1", 3, 4, "new")
    same(geo, "GEOADD", "g", "NX", 1, 2, "m1", 3, 4, "new")
    same(geo, "GEOADD", "g", "CH", 1, 2, "m2", 1, 2, "m2")
    same(geo, "ZRANGE", "g", 0, 5, "WITHSCORES")


@pytest.mark.parametrize("radius", [1, 10, 50, 200, 1000, 5000, 20000])
def test_searches(geo, radius):
    for opts in ([], ["WITHDIST"], ["WITHCOORD", "WITHHASH", "WITHDIST", "ASC"],
                 ["DESC", "COUNT", 5], ["COUNT", 3, "ANY"], ["COUNT", 4, "ANY", "DESC"]):
        same(geo, "GEORADIUS", "g", 13.3, 38.1, radius, "km", *opts)
        same(geo, "GEORADIUS_RO", "g", 13.3, 38.1, radius, "km", *opts)
        same(geo, "GEORADIUSBYMEMBER", "g", "m3", radius, "km", *opts)
        same(geo, "GEORADIUSBYMEMBER_RO", "g", "m3", radius, "km", *opts)
        same(geo, "GEOSEARCH", "g", "FROMLONLAT", 13.3, 38.1, "BYBOX", radius, radius / 2, "km", *opts)
        same(geo, "GEOSEARCH", "g", "FROMMEMBER", "m250", "BYRADIUS", radius, "mi", *opts)


@pytest.mark.parametrize("lat", [-84, -70, -30, 0, 45, 70, 82, 85])
def test_searches_at_all_latitudes(geo, lat):
    same(geo, "GEOSEARCH", "g", "FROMLONLAT", 100, lat, "BYRADIUS", 3000, "km", "WITHDIST", "WITHHASH")
    same(geo, "GEOSEARCH", "g", "FROMLONLAT", -170, lat, "BYBOX", 3000, 800, "km", "WITHDIST", "DESC")


def test_store(geo):
    same(geo, "GEOSEARCHSTORE", "d", "g", "FROMLONLAT", 13.3, 38.1, "BYRADIUS", 50, "km")
    same(geo, "ZRANGE", "d", 0, -1, "WITHSCORES")
    same(geo, "GEOSEARCHSTORE", "d2", "g", "FROMLONLAT", 13.3, 38.1, "BYRADIUS", 50, "km",
         "STOREDIST", "COUNT", 10)
    same(geo, "ZRANGE", "d2", 0, -1, "WITHSCORES")
    same(geo, "GEORADIUS", "g", 13.3, 38.1, 50, "km", "STORE", "d3")
    same(geo, "ZRANGE", "d3", 0, -1, "WITHSCORES")
    same(geo, "GEORADIUSBYMEMBER", "g", "m1", 50, "km", "STOREDIST", "d4")
    same(geo, "ZRANGE", "d4", 0, -1, "WITHSCORES")
    same(geo, "GEOSEARCHSTORE", "d", "g", "FROMLONLAT", 0, 0, "BYRADIUS", 1, "m")  # empty: deleted
    same(geo, "EXISTS", "d")
    same(geo, "GEOSEARCHSTORE", "d2", "nokey", "FROMMEMBER", "x", "BYRADIUS", 5, "km")
    same(geo, "EXISTS", "d2")


@pytest.mark.parametrize("args", [
    ("GEORADIUS_RO", "g", 13.3, 38.1, 50, "km", "STORE", "d3"),
    ("GEORADIUS", "g", 13.3, 38.1, 50, "km", "STORE", "d3", "WITHDIST"),
    ("GEOSEARCHSTORE", "d", "g", "FROMLONLAT", 13.3, 38.1, "BYRADIUS", 50, "km", "WITHDIST"),
    ("GEOSEARCH", "g", "BYRADIUS", 50, "km"),
    ("GEOSEARCH", "g", "FROMLONLAT", 1, 2),
    ("GEOSEARCH", "g", "FROMLONLAT", 1, 2, "BYRADIUS", 50, "km", "ANY"),
    ("GEOSEARCH", "g", "FROMLONLAT", 1, 2, "BYRADIUS", -50, "km"),
    ("GEOSEARCH", "g", "FROMLONLAT", 1, 2, "BYRADIUS", "x", "km"),
    ("GEOSEARCH", "g", "FROMLONLAT", 1, 2, "BYRADIUS", 5, "yd"),
    ("GEOSEARCH", "g", "FROMLONLAT", 1, 2, "BYBOX", 1, "x", "km"),
    ("GEOSEARCH", "g", "FROMLONLAT", 1, 2, "BYBOX", 1, -2, "km"),
    ("GEOSEARCH", "g", "FROMLONLAT", 1, 2, "BYRADIUS", 5, "km", "COUNT", 0),
    ("GEOSEARCH", "g", "FROMLONLAT", 1, 2, "BYRADIUS", 5, "km", "BYBOX", 1, 1, "km"),
    ("GEOSEARCH", "g", "FROMMEMBER", "nosuch", "BYRADIUS", 5, "km"),
    ("GEOSEARCH", "g", "FROMLONLAT", 13.3, 38.1, "BYRADIUS", 50, "km", "FOO"),
    ("GEOSEARCH", "nokey", "FROMMEMBER", "nosuch", "BYRADIUS", 5, "km"),
    ("GEORADIUSBYMEMBER", "g", "nosuch", 10, "km"),
    ("GEORADIUSBYMEMBER", "nokey", "nosuch", 10, "km"),
    ("GEORADIUS", "g", 0, 0, 0, "m"),
    ("GEOADD", "g", 200, 100, "bad"),
    ("GEOADD", "g", "x", 1, "bad"),
    ("GEOADD", "g", 1, 2),
    ("GEOADD", "g", "NX", "XX", 1, 2, "a"),
    ("GEODIST", "g", "m1", "m2", "yd"),
    ("GEODIST", "g", "m1", "m2", "km", "x"),
])
def test_errors_and_edges(geo, args):
    same(geo, *args)


def test_wrong_type(r):
    r.set("s", "x")
    for args in (("GEOPOS", "s", "a"), ("GEOADD", "s", 1, 2, "a"), ("GEODIST", "s", "a", "b"),
                 ("GEOSEARCH", "s", "FROMLONLAT", 1, 2, "BYRADIUS", 5, "km")):
        with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
            raw(r, *args)


@pytest.mark.parametrize("opts", [["COUNT", 5], ["COUNT", 30, "DESC"], ["COUNT", 50, "ASC"], ["ASC"],
                                  ["DESC"], ["COUNT", 3, "ANY"]])
def test_ties_in_distance_ordered_as_redis(both, opts):
    """Members at the same distance: Redis's (unstable) partial quicksort decides their order."""
    args = []
    for i in range(40):
        args += [13.5, 38.2, f"same{39 - i:02d}"]
    for i in range(20):
        args += [13.5 + i * 0.001, 38.2, f"near{i}"]
    same(both, "GEOADD", "g", *args)
    same(both, "GEOSEARCH", "g", "FROMLONLAT", 13.5, 38.2, "BYRADIUS", 10, "km", *opts)


def test_coordinates_are_doubles_in_resp3(r):
    """GEOPOS and WITHCOORD answer coordinates as RESP3 doubles (Redis's human long double
    text), bulk strings in RESP2; distances stay bulk strings in both."""
    r.geoadd("g", (13.361389, 38.115556, "m"))
    resp3 = r.get_connection_kwargs().get("protocol") == 3
    conn = r.connection_pool.get_connection()
    try:
        conn.send_command("GEOPOS", "g", "m")
        pos = conn.read_response()
        conn.send_command("GEOSEARCH", "g", "FROMLONLAT", 15, 37, "BYRADIUS", 300, "km",
                          "WITHCOORD", "WITHDIST")
        found = conn.read_response()
    finally:
        r.connection_pool.release(conn)
    texts = [b"13.36138933897018433", b"38.11555639549629859"]
    assert pos == [[float(t) for t in texts]] if resp3 else pos == [texts]
    assert all(isinstance(v, float if resp3 else bytes) for v in pos[0])
    assert found[0][:2] == [b"m", b"190.4424"]
    assert found[0][2] == pos[0]
