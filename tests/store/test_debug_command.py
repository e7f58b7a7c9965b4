"""DEBUG's replies that clients and Redis's own test suite compare: DIGEST / DIGEST-VALUE (the
same 40 hex digits as redis-server for the same data) and PROTOCOL (one reply of each type)."""

import socket

import pytest
import redis

from tests.procs import proc_fixture, start_redis, start_xcache_server

redis_dbg = proc_fixture(lambda tmp: start_redis(tmp, "--enable-debug-command", "yes"),
                         "redis-digest", scope="module")
xcache_dbg = proc_fixture(start_xcache_server, "xcache-digest", scope="module")
KEYS = ["s", "i", "l", "set", "iset", "z", "h", "st", "e", "nokey"]


def load(r: redis.Redis) -> None:
    r.flushall()
    r.set("s", "hello")
    r.set("i", 12345)
    r.rpush("l", "a", "b", "1")
    r.sadd("set", "x", "y", 5)
    r.sadd("iset", 1, 2, 300000)
    r.zadd("z", {"a": 1.5, "b": 2, "c": -3.25, "d": float("inf")})
    r.hset("h", mapping={"f": "v", "g": "1"})
    r.xadd("st", {"f": "v", "a": "b"}, id="1-1")
    r.xadd("st", {"x": "y"}, id="2-5")
    r.set("e", "v", ex=100)
    redis.Redis(port=r.connection_pool.connection_kwargs["port"], db=2).set("other", "x")


def digests(r: redis.Redis) -> tuple:
    return (r.execute_command("DEBUG", "DIGEST"),
            r.execute_command("DEBUG", "DIGEST-VALUE", *KEYS))


def test_digests_are_redis(redis_dbg, xcache_dbg):
    reference, node = redis.Redis(port=redis_dbg.port), redis.Redis(port=xcache_dbg.port)
    for r in (reference, node):
        load(r)
    expected = digests(reference)
    assert digests(node) == expected
    assert expected[1][-1] == b"0" * 40  # a missing key
    # Order matters for a list, not for a set; the dataset digest follows any change.
    for r in (reference, node):
        r.lpush("l", "first")
        r.srem("set", "x")
        r.sadd("set", "x")
    assert digests(node) == digests(reference) != expected
    for r in (reference, node):
        r.flushall()
    assert node.execute_command("DEBUG", "DIGEST") == b"0" * 40
    assert node.execute_command("DEBUG", "DIGEST-VALUE") == []


PROTOCOL_TYPES = "string integer double bignum null array set map attrib push true false verbatim nope"


@pytest.mark.parametrize("resp", [2, 3])
def test_debug_protocol_replies_are_redis(redis_dbg, xcache_dbg, resp):
    def replies(port: int) -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            chunk = (b"HELLO 3\r\n" if resp == 3 else b"") + b"".join(
                b"DEBUG PROTOCOL %s\r\n" % t.encode() for t in PROTOCOL_TYPES.split()) + b"PING\r\n"
            s.sendall(chunk)
            got = b""
            while not got.endswith(b"+PONG\r\n"):
                got += s.recv(65536)
            return got[got.index(b"$11\r\nHello World"):]  # after HELLO's reply (its id differs)

    assert replies(xcache_dbg.port) == replies(redis_dbg.port)


def test_bgrewriteaof_and_htstats_answer(xcache_dbg, redis_dbg):
    # BGREWRITEAOF flushes the log (the WAL) as Redis rewrites its AOF; HTSTATS-KEY answers a
    # text (the node keeps members as RocksDB keys), an error for a missing key as Redis does.
    for port in (xcache_dbg.port, redis_dbg.port):
        r = redis.Redis(port=port)
        assert r.execute_command("BGREWRITEAOF") is True  # redis-py reads the status line as True
        r.sadd("hs", *range(600))
        assert isinstance(r.execute_command("DEBUG", "HTSTATS-KEY", "hs"), bytes)
        with pytest.raises(redis.ResponseError, match="no such key"):
            r.execute_command("DEBUG", "HTSTATS-KEY", "nokey")


def test_debug_error_and_help_as_redis(redis_dbg, xcache_dbg):
    def replies(port: int) -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"DEBUG ERROR \"MYERR a\\nb\"\r\nDEBUG ERROR x\r\nPING\r\n")
            got = b""
            while not got.endswith(b"+PONG\r\n"):
                got += s.recv(65536)
            return got

    assert replies(xcache_dbg.port) == replies(redis_dbg.port) == b"-MYERR a b\r\n-x\r\n+PONG\r\n"
    # the node's DEBUG HELP is Redis's, less the subcommands it does not serve
    ours = redis.Redis(port=xcache_dbg.port).execute_command("DEBUG", "HELP")
    theirs = redis.Redis(port=redis_dbg.port).execute_command("DEBUG", "HELP")
    assert [line for line in theirs if line in ours] == ours
    assert b"DIGEST-VALUE <key> [<key> ...]" in ours and b"PROTOCOL <type>" in ours


def test_reads_expire_keys_while_active_expiry_is_off(redis_dbg, xcache_dbg):
    # DEBUG SET-ACTIVE-EXPIRE 0: nothing expires in the background, a read that meets an
    # expired key deletes it (expired event, expired_keys), as Redis's lazy expiry
    from tests.procs import wait_until

    for port in (redis_dbg.port, xcache_dbg.port):
        r = redis.Redis(port=port)
        r.flushall()
        r.config_set("notify-keyspace-events", "Ex")
        r.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "0")
        try:
            events = r.pubsub()
            events.psubscribe("__keyevent@*__:expired")
            assert events.get_message(timeout=5)["type"] == "psubscribe"
            r.set("gone", "v", px=20)
            r.set("kept", "v")
            before = r.info("stats")["expired_keys"]
            wait_until(lambda r=r: r.pttl("gone") == -2, what="gone's TTL passed")
            assert r.mget("kept", "gone") == [b"v", None]
            msg = events.get_message(timeout=5)
            assert (msg["channel"], msg["data"]) == (b"__keyevent@0__:expired", b"gone")
            assert r.info("stats")["expired_keys"] == before + 1
            events.close()
        finally:
            r.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "1")
            r.config_set("notify-keyspace-events", "")


def _expired(r: redis.Redis, key: str) -> None:
    """key set to expire in 1 ms, and that ms past; active expiry is off, so it stays stale."""
    import time

    r.set(key, "v", px=1)
    time.sleep(0.005)  # wall-clock time must pass; no event to wait for


def test_dbsize_counts_expired_keys_not_deleted_yet(redis_dbg, xcache_dbg):
    """expire.tcl "Redis should lazy expire keys": DBSIZE is the size of the keyspace, stale
    keys included, until a read or the active cycle deletes them."""
    for port in (redis_dbg.port, xcache_dbg.port):
        r = redis.Redis(port=port)
        r.flushall()
        r.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "0")
        try:
            for key in ("k1", "k2", "k3"):
                _expired(r, key)
            assert r.dbsize() == 3, port
            assert r.mget("k1", "k2", "k3") == [None, None, None]
            assert r.dbsize() == 0, port
        finally:
            r.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "1")


@pytest.mark.parametrize("case", ["absent-by-stale", "stale-by-stale", "stale-by-absent",
                                  "absent-by-live"])
def test_swapdb_touches_watchers_only_on_a_logical_change(redis_dbg, xcache_dbg, case):
    """multi.tcl's SWAPDB and stale keys: a watched key that is absent, or expired but not
    deleted, and stays so (absent or stale) across SWAPDB does not abort the transaction."""
    watched_now, other_db = case.split("-by-")
    for port in (redis_dbg.port, xcache_dbg.port):
        r = redis.Redis(port=port)
        r.flushall()
        r.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "0")
        one, zero = redis.Redis(port=port, db=1), redis.Redis(port=port, db=0)
        try:
            for client, state in ((one, watched_now), (zero, other_db)):
                if state == "stale":
                    _expired(client, "x")
                elif state == "live":
                    client.set("x", "v")
            with one.pipeline() as p:
                p.watch("x")
                r.swapdb(0, 1)
                p.multi()
                p.ping()
                if case == "absent-by-live":
                    with pytest.raises(redis.WatchError):
                        p.execute()
                else:
                    assert p.execute() == [True], (port, case)
        finally:
            r.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "1")
            one.close()
            zero.close()


def test_debug_populate_as_redis(redis_dbg, xcache_dbg):
    """DEBUG POPULATE: keys prefix:N holding value:N (zero-padded or cut to a size), existing
    keys left alone; the same digest as redis-server, and its errors."""
    for port in (redis_dbg.port, xcache_dbg.port):
        r = redis.Redis(port=port)
        r.flushall()
        r.set("key:1", "mine")
        assert r.execute_command("DEBUG", "POPULATE", "3") == b"OK"
        assert r.execute_command("DEBUG", "POPULATE", "2", "p", "12") == b"OK"
        assert r.execute_command("DEBUG", "POPULATE", "2", "q", "3") == b"OK"
        assert r.execute_command("DEBUG", "POPULATE", "0") == b"OK"
        assert r.mget("key:0", "key:1", "key:2", "p:1", "q:1") == [
            b"value:0", b"mine", b"value:2", b"value:1\0\0\0\0\0", b"val"]
        assert r.dbsize() == 7
        for args, error in (((-1,), "value is out of range, must be positive"),
                            (("x",), "value is out of range, must be positive"),
                            ((1, "k", -2), "value is out of range, must be positive")):
            with pytest.raises(redis.ResponseError, match=f"^{error}$"):
                r.execute_command("DEBUG", "POPULATE", *args)
        with pytest.raises(redis.ResponseError, match="^unknown subcommand or wrong number"):
            r.execute_command("DEBUG", "POPULATE", 1, "k", 2, 3)
    assert digests(redis.Redis(port=redis_dbg.port)) == digests(redis.Redis(port=xcache_dbg.port))


def _raw_replies(port: int, resp: int, commands: list[bytes]) -> bytes:
    """The bytes a server answers to commands (RESP arrays) after HELLO resp, up to a final
    PING's +PONG."""
    def until_pong(s: socket.socket, data: bytes) -> bytes:
        s.sendall(data + b"PING\r\n")
        got = b""
        while not got.endswith(b"+PONG\r\n"):
            got += s.recv(65536)
        return got

    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        until_pong(s, b"HELLO %d\r\n" % resp)  # its reply names the server: not compared
        return until_pong(s, b"".join(commands))


@pytest.mark.parametrize("client_resp", [2, 3])
def test_scripts_see_and_return_every_resp3_type_as_redis(redis_dbg, xcache_dbg, client_resp):
    """scripting.tcl's "protocol parsing" tests: DEBUG PROTOCOL <type> called from a script
    (DEBUG SET-DISABLE-DENY-SCRIPTS lets scripts call it) in RESP2 and RESP3 (redis.setresp),
    and a script's {big_number=...}, reach the client as from redis-server, byte for byte."""
    from xcache.resp import encode_command

    commands = [encode_command(b"DEBUG", b"SET-DISABLE-DENY-SCRIPTS", b"1")]
    for lua_resp in (2, 3):
        for kind in ("bignum", "map", "set", "double", "null", "verbatim", "true", "false",
                     "attrib"):
            script = f"redis.setresp({lua_resp});return redis.call('debug', 'protocol', '{kind}')"
            commands.append(encode_command(b"EVAL", script.encode(), b"0"))
    commands.append(encode_command(b"EVAL", b"return {big_number='123\\r\\n123'}", b"0"))
    commands.append(encode_command(b"DEBUG", b"SET-DISABLE-DENY-SCRIPTS", b"0"))
    commands.append(encode_command(b"EVAL", b"return redis.call('debug', 'protocol', 'null')", b"0"))
    ours = _raw_replies(xcache_dbg.port, client_resp, commands)
    assert ours == _raw_replies(redis_dbg.port, client_resp, commands)
    assert b"(123  123\r\n" in ours if client_resp == 3 else b"$8\r\n123  123\r\n" in ours
    assert b"This Redis command is not allowed from script" in ours  # denied again


def test_time_stands_still_inside_a_script_and_a_transaction(redis_dbg, xcache_dbg):
    """scripting.tcl "Script block the time during execution": a key set to expire in 1 ms
    still exists after a 10 ms DEBUG SLEEP in the same script, or the same EXEC; not after."""
    script = """redis.call("SET", KEYS[1], "value", "PX", "1")
                redis.call("DEBUG", "SLEEP", 0.01)
                return redis.call("EXISTS", KEYS[1])"""
    for port in (redis_dbg.port, xcache_dbg.port):
        r = redis.Redis(port=port)
        r.flushall()
        r.execute_command("DEBUG", "SET-DISABLE-DENY-SCRIPTS", "1")
        try:
            assert r.eval(script, 1, "key") == 1, port
        finally:
            r.execute_command("DEBUG", "SET-DISABLE-DENY-SCRIPTS", "0")
        assert r.exists("key") == 0
        with r.pipeline(transaction=True) as p:
            p.set("k2", "v", px=1).execute_command("DEBUG", "SLEEP", "0.01").exists("k2")
            assert p.execute()[2] == 1, port
        assert r.exists("k2") == 0


def test_debug_object_finds_a_key_that_expired_but_is_not_deleted(redis_dbg, xcache_dbg):
    """scripting.tcl "Script delete the expired key": DEBUG OBJECT sees the stale key (it does
    not expire keys), the script's EXISTS then deletes it."""
    for port in (redis_dbg.port, xcache_dbg.port):
        r = redis.Redis(port=port)
        r.flushall()
        r.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "0")
        try:
            _expired(r, "key")
            assert b"encoding:" in r.execute_command("DEBUG", "OBJECT", "key")
            assert r.eval("return redis.call('EXISTS', 'key')", 0) == 0
            assert r.dbsize() == 0
        finally:
            r.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "1")


def test_reply_buffer_shrinks_when_idle_and_grows_when_filled(redis_dbg, xcache_dbg):
    """replybufsize.tcl: CLIENT LIST's rbs, the reply buffer's size, shrinks to 1 KiB while the
    client is idle (its peak reset every DEBUG REPLYBUFFER PEAK-RESET-TIME ms) and doubles up to
    16 KiB while replies fill it."""
    from tests.procs import wait_until

    for port in (redis_dbg.port, xcache_dbg.port):
        r = redis.Redis(port=port)
        tc = redis.Redis(port=port, client_name="test_client")
        tc.ping()

        def rbs(r=r) -> int:
            line = next(line for line in r.execute_command("CLIENT", "LIST").decode().split("\n")
                        if "name=test_client" in line)
            return int(line.split(" rbs=")[1].split(" ")[0])

        r.execute_command("DEBUG", "REPLYBUFFER", "PEAK-RESET-TIME", "100")
        try:
            wait_until(lambda: 1024 <= rbs() < 2046, what=f"idle client's buffer shrunk ({port})")
            r.set("bigval", "x" * 32768)
            r.execute_command("DEBUG", "REPLYBUFFER", "PEAK-RESET-TIME", "NEVER")
            wait_until(lambda tc=tc: tc.get("bigval") and 16384 <= rbs() < 32768,
                       what=f"busy client's buffer grown ({port})")
            assert r.info("stats")["reply_buffer_shrinks"] >= 1
            assert r.info("stats")["reply_buffer_expands"] >= 1
        finally:
            r.execute_command("DEBUG", "REPLYBUFFER", "PEAK-RESET-TIME", "RESET")
            tc.close()
    with pytest.raises(redis.ResponseError, match="^unknown subcommand or wrong number"):
        redis.Redis(port=xcache_dbg.port).execute_command("DEBUG", "REPLYBUFFER", "X", "1")


def test_unlink_counts_what_redis_frees_in_the_background(redis_dbg, xcache_dbg):
    """lazyfree.tcl: INFO's lazyfreed_objects counts a value UNLINK hands to the background (a
    big set, a stream with many nodes and a consumer group), not a small one."""
    from tests.procs import wait_until

    for port in (redis_dbg.port, xcache_dbg.port):
        r = redis.Redis(port=port)

        def freed(r=r) -> int:  # once the background is done with it (Redis counts it then)
            wait_until(lambda: r.info("memory")["lazyfree_pending_objects"] == 0, what="lazyfree")
            return r.info("memory")["lazyfreed_objects"]

        r.flushall()
        r.config_resetstat()
        r.config_set("stream-node-max-entries", 5)
        try:
            for j in range(1000):
                r.xadd("stream", {"foo" if j % 10 else "bar": j})
            r.xgroup_create("stream", "mygroup", 0)
            records = r.xreadgroup("mygroup", "Alice", {"stream": ">"}, count=2)
            r.xdel("stream", records[0][1][1][0])
            r.xack("stream", "mygroup", records[0][1][0][0])
            r.sadd("small", *range(10))
            r.sadd("big", *[f"m{i}" for i in range(100)])
            assert r.unlink("stream", "small") == 2
            wait_until(lambda: freed() == 1, what=f"the stream counted ({port})")
            assert r.unlink("big") == 1
            wait_until(lambda: freed() == 2, what=f"the big set counted ({port})")
            r.xadd("s", {"a": "b"})
            r.xgroup_create("s", "bla", "$")
            r.xgroup_destroy("s", "bla")
            r.unlink("s")
            assert freed() == 2, port
        finally:
            r.config_set("stream-node-max-entries", 100)
