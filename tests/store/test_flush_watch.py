"""FLUSHALL / FLUSHDB and WATCH (Redis's multi.tcl), against xcache AND redis-server."""

from __future__ import annotations

import time

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


def test_transaction_during_a_busy_script(r):
    """multi.tcl: MULTI / WATCH pass while a script is busy; a command queued then is refused
    and flags the transaction, so EXEC aborts (EXECABORT ... previous errors); an EXEC refused
    while busy aborts its transaction with the BUSY reason."""
    import threading

    from tests.procs import wait_until
    from tests.store.test_scripting import _catch

    port = r.connection_pool.connection_kwargs["port"]
    r.config_set("lua-time-limit", 10)
    r.set("xx", 1)
    probe = redis.Redis(port=port, protocol=2, socket_timeout=30)
    try:
        for queued_before in (False, True):
            tx = redis.Redis(port=port, protocol=2, socket_timeout=30)
            if queued_before:  # EXEC during the script: aborted with BUSY
                tx.execute_command("MULTI")
                tx.execute_command("INCR", "xx")
            runner = redis.Redis(port=port, protocol=2, socket_timeout=30)
            t = threading.Thread(target=_catch, args=(runner.execute_command, "EVAL",
                                                      "while true do end", 0))
            t.start()
            wait_until(lambda: "BUSY" in str(_catch(probe.ping)), what="BUSY")
            if queued_before:
                assert str(_catch(tx.execute_command, "EXEC")).startswith(
                    "Transaction discarded because of: BUSY Redis is busy running a script.")
            else:
                assert tx.execute_command("MULTI") in (True, b"OK")
                assert str(_catch(tx.execute_command, "INCR", "xx")).startswith("BUSY")
            r.script_kill()
            t.join(10)
            if not queued_before:
                assert str(_catch(tx.execute_command, "EXEC")).startswith(
                    "Transaction discarded because of previous errors")
            assert tx.execute_command("PING") in (True, b"PONG")  # no longer in MULTI
            assert r.get("xx") == b"1"
            tx.close()
            runner.close()
    finally:
        probe.close()
        _catch(r.script_kill)
        r.config_set("lua-time-limit", 5000)


def test_save_and_shutdown_are_refused_inside_multi(r):
    """multi.tcl: SAVE and SHUTDOWN are no_multi: refused when queued, the EXEC then aborts."""
    for cmd in ("SAVE", "SHUTDOWN"):
        tx = r.pipeline(transaction=True)
        tx.set("foo", "bar")
        tx.execute_command(cmd)
        tx.set("foo2", "bar2")
        try:
            tx.execute()
        except redis.ResponseError as exc:
            assert "Command not allowed inside a transaction" in str(exc) \
                or "previous errors" in str(exc)
        else:
            raise AssertionError(f"{cmd} was queued")
        assert r.exists("foo", "foo2") == 0
        assert r.ping() is True


def test_watched_key_that_expires_fails_exec(xcache_node, redis_node):
    """multi.tcl "WATCH will consider touched expired keys": a watched key that expires (and is
    deleted by the active expiry / the collector) makes EXEC answer nil."""
    from tests.procs import wait_until

    for node in (xcache_node, redis_node):
        with redis.Redis(port=node.port, protocol=2) as c:
            c.flushall()
            c.set("x", "foo", px=50)
            c.execute_command("WATCH", "x")
            wait_until(lambda c=c: c.dbsize() == 0, what="x expired")
            c.execute_command("MULTI")
            c.execute_command("PING")
            assert c.execute_command("EXEC") is None, node.port


def test_watching_a_stale_key(tmp_path):
    """A key already expired (not yet deleted) when watched: its deletion (collector, FLUSHDB) is
    no change (watchForKey's `expired`), a write over it is; a key watched live that expires
    before EXEC is a change even while not yet deleted (isWatchedKeyExpired). Needs the
    collector held off, as Redis's own tests need DEBUG SET-ACTIVE-EXPIRE 0."""
    from tests.procs import start_xcache_server, wait_until

    with start_xcache_server(tmp_path, "--set", "expire_collector_interval_ms=3600000") as node, \
            redis.Redis(port=node.port, protocol=2) as c:

        def stale(key: str) -> None:
            c.set(key, "foo", px=1)
            wait_until(lambda: c.pttl(key) == -2, what=f"{key} expired")

        def exec_after(*between) -> object:
            for argv in between:
                c.execute_command(*argv)
            c.execute_command("MULTI")
            c.execute_command("PING")
            return c.execute_command("EXEC")

        stale("x")
        assert exec_after(("WATCH", "x"), ("EXISTS", "x")) == [b"PONG"]
        stale("x")
        assert exec_after(("WATCH", "x"), ("FLUSHDB",)) == [b"PONG"]
        stale("x")
        assert exec_after(("WATCH", "x"), ("SET", "x", "bar")) is None
        c.set("y", "foo", px=100)
        expires = c.execute_command("PEXPIRETIME", "y")
        c.execute_command("WATCH", "y")
        # y expires on the clock, untouched (a read would delete it; a script sees time stand)
        wait_until(lambda: time.time() * 1000 > expires + 1, what="y's expiry passed")
        assert exec_after(("EXISTS", "nosuch")) is None
