"""Sans-IO checks of the RocksDB engine (no server)."""

import time

from xcache.config import ServerConfig
from xcache.store import engine as engine_module
from xcache.store.engine import Engine, decode_score, encode_score


def test_versions_keep_increasing_when_the_clock_steps_back(tmp_path, monkeypatch):
    """A reused version would revive a deleted collection's data; the persisted floor prevents it."""
    cfg = ServerConfig(dir=str(tmp_path))
    e = Engine(cfg)
    first = e.next_version()
    e.close()
    real_time_ns = time.time_ns
    monkeypatch.setattr(engine_module.time, "time_ns", lambda: real_time_ns() - 3_600 * 10**9)
    e = Engine(cfg)
    try:
        assert e.next_version() > first
    finally:
        e.close()


def test_score_encoding_orders_like_numbers():
    values = [float("-inf"), -1e300, -2.5, -1e-300, 0.0, 1e-300, 3.0, 1e300, float("inf")]
    encoded = [encode_score(v) for v in values]
    assert encoded == sorted(encoded)
    assert [decode_score(b) for b in encoded] == values
