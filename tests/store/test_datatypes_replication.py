"""The HyperLogLog, geo, bit, sorted-set/list and SORT writes reach a replica with the same bytes,
and MIGRATE moves HLL and geo values (plain strings and zsets) to redis-server intact."""

from __future__ import annotations

import pytest
import redis

from tests.procs import start_redis, start_xcache_server, wait_until
from tests.store.cluster import client, wait_synced


def snapshot(r: redis.Redis) -> dict:
    out = {}
    for key in sorted(r.scan_iter(count=1000)):
        t = r.type(key)
        if t == b"string":
            out[key] = r.get(key)
        elif t == b"zset":
            out[key] = r.zrange(key, 0, -1, withscores=True)
        elif t == b"list":
            out[key] = r.lrange(key, 0, -1)
        else:
            out[key] = t
    return out


def test_new_commands_replicate(cluster):
    master = cluster.node()
    replica = cluster.replica_of(master)
    m = client(master)
    m.pfadd("h1", *[f"a{i}" for i in range(50)])
    m.pfadd("h2", *[f"b{i}" for i in range(2000)])  # promoted to dense
    m.pfmerge("hm", "h1", "h2")
    assert m.pfcount("h1") == 50  # caches the count in the value: replicated as PFCOUNT
    m.geoadd("g", (13.361389, 38.115556, "Palermo", 15.087269, 37.502669, "Catania"))
    m.execute_command("GEOSEARCHSTORE", "gs", "g", "FROMLONLAT", 15, 37, "BYRADIUS", 200, "km",
                      "STOREDIST")
    m.set("b1", b"\x0f\xf0")
    m.set("b2", b"\xff")
    m.bitop("XOR", "bx", "b1", "b2")
    m.execute_command("BITFIELD", "bf", "SET", "i8", 0, -5, "INCRBY", "u4", 10, 7)
    m.zadd("z1", {"a": 1, "b": 2, "c": 3})
    m.zadd("z2", {"b": 5, "d": 1})
    m.execute_command("ZUNIONSTORE", "zu", 2, "z1", "z2", "WEIGHTS", 2, 3)
    m.execute_command("ZDIFFSTORE", "zd", 2, "z1", "z2")
    m.execute_command("ZRANGESTORE", "zr", "z1", 0, 1)
    m.execute_command("ZMPOP", 1, "z1", "MAX")
    m.rpush("l", 5, 3, 9, 1)
    m.execute_command("LMPOP", 1, "l", "LEFT", "COUNT", 1)
    m.execute_command("SORT", "l", "STORE", "sorted")
    wait_synced(master, replica)
    assert snapshot(client(replica)) == snapshot(m)
    assert client(replica).pfcount("hm") == m.pfcount("hm")


@pytest.fixture
def pair(tmp_path):
    src = start_xcache_server(tmp_path / "src")
    dst = start_redis(tmp_path / "dst")
    yield src, dst
    src.stop()
    dst.stop()


def test_migrate_hll_and_geo_to_redis(pair):
    src, dst = pair
    s, d = client(src), client(dst)
    s.pfadd("hll", *[f"e{i}" for i in range(500)])
    s.geoadd("geo", (13.361389, 38.115556, "Palermo", 15.087269, 37.502669, "Catania"))
    count = s.pfcount("hll")  # caches the count in the value first
    value = s.get("hll")
    positions = s.geopos("geo", "Palermo", "Catania")
    assert s.execute_command("MIGRATE", "127.0.0.1", dst.port, "", 0, 5000, "KEYS", "hll", "geo") == b"OK"
    assert d.get("hll") == value
    assert d.pfcount("hll") == count
    assert d.geopos("geo", "Palermo", "Catania") == positions


def test_blocking_zset_pop_served_later_is_replicated(cluster):
    import threading

    m = cluster.node()
    r = cluster.replica_of(m)
    result = []
    blocked = threading.Thread(
        target=lambda: result.append(client(m).execute_command("BZMPOP", 10, 1, "z", "MIN", "COUNT", 2)))
    blocked.start()
    wait_until(lambda: client(m).info("clients")["blocked_clients"] == 1, what="a blocked client")
    client(m).zadd("z", {"a": 1, "b": 2, "c": 3})
    blocked.join(10)
    assert result == [[b"z", [[b"a", b"1"], [b"b", b"2"]]]]
    wait_synced(m, r)
    assert client(r).zrange("z", 0, -1, withscores=True) == [(b"c", 3.0)]
