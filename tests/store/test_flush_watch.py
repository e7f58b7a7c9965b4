"""FLUSHALL / FLUSHDB and WATCH (Redis's multi.tcl), against xcache AND redis-server."""

from __future__ import annotations

import redis


def test_flush_touches_only_watched_keys_that_exist(xcache_node, redis_node):
    """multi.tcl: FLUSHALL / FLUSHDB abort a WATCHing transaction only if a watched key existed."""
    for node in (xcache_node, redis_node):
        c = redis.Redis(port=node.port, protocol=2)
        for flush, present in (("FLUSHALL", False), ("FLUSHDB", False), ("FLUSHALL", True)):
            c.delete("x")
            if present:
                c.set("x", 30)
            c.execute_command("WATCH", "x")
            c.execute_command(flush)
            c.execute_command("MULTI")
            c.execute_command("PING")
            got = c.execute_command("EXEC")
            assert got == (None if present else [b"PONG"]), (node.port, flush, present)
        c.close()
