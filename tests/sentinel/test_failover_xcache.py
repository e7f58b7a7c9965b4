"""The same failover, on `xcache server` nodes: the sentinel speaks only the Redis protocol, so
storage nodes that report ROLE / INFO replication in Redis's format are failed over alike."""

from __future__ import annotations

from tests.sentinel.conftest import Sentinels, client, role_of, wait_until
from tests.sentinel.test_failover_redis import _is_replica_of, _keys_present


def test_kill9_xcache_master_promotes_replica_and_old_master_rejoins(tmp_path, xgroup):
    sentinels = Sentinels(tmp_path, xgroup.master.port)
    try:
        sentinels.wait_connected()
        old = xgroup.master.port
        with client(old) as c:
            for i in range(100):
                c.set(f"k{i}", f"v{i}")
        wait_until(lambda: all(_keys_present(r.port, 100) for r in xgroup.replicas),
                   what="writes replicated")
        xgroup.master.kill9()

        _, new = wait_until(lambda: sentinels.agreed_master(not_port=old), what="new master")
        assert role_of(new)[0] == "master"
        other = next(r.port for r in xgroup.replicas if r.port != new)
        wait_until(lambda: _is_replica_of(other, new), what="other replica following the new master")
        assert _keys_present(new, 100)
        with client(new) as c:
            assert c.set("after", "failover")

        xgroup.restart(old)
        wait_until(lambda: _is_replica_of(old, new), what="old master converted to a replica")
        wait_until(lambda: _keys_present(old, 100), what="old master resynced")
        with client(old) as c:
            wait_until(lambda: c.get("after") == "failover", what="post-failover write on old master")
    finally:
        sentinels.stop()
