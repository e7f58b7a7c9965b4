"""What the replication stream carries, compared with redis-server 7.0's: the writes of a
transaction or a script as one block wrapped in MULTI ... EXEC (a single write as itself, the
SELECT before the MULTI), and a replica that applies such a block all at once."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import redis

from tests.procs import start_redis, wait_until
from tests.store.cluster import client, wait_synced
from tests.store.test_sync import read_command

MARK = [b"SET", b"__end__", b"1"]


class Stream:
    """A SYNC attached to a node: its RDB skipped, then its commands."""

    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.sendall(b"SYNC\r\n")
        self.f = self.sock.makefile("rb")
        header = self.f.readline()
        while header == b"\n":
            header = self.f.readline()
        assert header.startswith(b"$")
        self.f.read(int(header[1:]))

    def until_mark(self) -> list[list[bytes]]:
        """The commands up to the MARK write (PINGs and GETACKs left out), names lowercased."""
        out = []
        while True:
            argv = read_command(self.f)
            argv[0] = argv[0].lower()
            if argv[0] in (b"ping", b"replconf"):
                continue
            if [argv[0].upper(), *argv[1:]] == MARK:
                return out
            out.append(argv)

    def close(self) -> None:
        self.sock.close()


def streams_of(node_ports, scenario) -> list[list[list[bytes]]]:
    """Run scenario(client) against each node with a SYNC attached: each node's stream."""
    out = []
    for port in node_ports:
        r = redis.Redis(port=port, protocol=2, socket_timeout=10)
        r.flushall()
        s = Stream(port)
        try:
            scenario(r)
            r.execute_command(*MARK)
            out.append(s.until_mark())
        finally:
            s.close()
            r.close()
    return out


def _normalise(stream: list[list[bytes]]) -> list[list[bytes]]:
    """The stream without its flushall; absolute times (ms) as '*'."""
    return [[b"*" if a.isdigit() and len(a) >= 12 else a for a in argv]
            for argv in stream if argv[0] != b"flushall"]


@pytest.fixture(scope="module")
def debug_redis(tmp_path_factory):
    """redis-server with DEBUG (SLEEP, SET-ACTIVE-EXPIRE), for the scenarios that use it."""
    with start_redis(tmp_path_factory.mktemp("dbgredis"), "--enable-debug-command", "yes") as proc:
        yield proc


def assert_same_stream(xcache_node, redis_node, scenario) -> list[list[bytes]]:
    ours, theirs = streams_of([xcache_node.port, redis_node.port], scenario)
    assert _normalise(ours) == _normalise(theirs)
    return ours


def test_transaction_with_several_writes_is_one_wrapped_block(xcache_node, redis_node):
    def scenario(r):
        p = r.pipeline(transaction=True)
        p.set("a", "1").incr("n").rpush("l", "x", "y").get("a")
        p.execute()

    stream = assert_same_stream(xcache_node, redis_node, scenario)
    names = [argv[0] for argv in stream]
    assert names[names.index(b"multi"):] == [b"multi", b"set", b"incrby", b"rpush", b"exec"]


def test_transaction_across_dbs_selects_inside_the_block(xcache_node, redis_node):
    def scenario(r):
        r.execute_command("SELECT", "0")
        r.execute_command("MULTI")
        r.execute_command("SET", "a", "1")
        r.execute_command("SELECT", "1")
        r.execute_command("SET", "b", "2")
        r.execute_command("SELECT", "0")
        r.execute_command("SET", "c", "3")
        r.execute_command("EXEC")

    assert_same_stream(xcache_node, redis_node, scenario)


def test_transaction_with_one_write_is_not_wrapped(xcache_node, redis_node):
    def scenario(r):
        p = r.pipeline(transaction=True)
        p.get("a").set("a", "1").get("a")
        p.execute()

    stream = assert_same_stream(xcache_node, redis_node, scenario)
    assert [b"multi"] not in stream


def test_transaction_without_effect_propagates_nothing(xcache_node, redis_node):
    def scenario(r):
        p = r.pipeline(transaction=True)
        p.get("a").delete("missing")
        p.execute()

    assert_same_stream(xcache_node, redis_node, scenario)


def test_script_with_several_writes_is_one_wrapped_block(xcache_node, redis_node):
    def scenario(r):
        r.eval("redis.call('set', KEYS[1], 'v'); redis.call('incr', KEYS[2]); "
               "redis.call('get', KEYS[1]); return redis.call('lpush', KEYS[3], 'e')",
               3, "k", "n", "l")
        r.eval("return redis.call('set', KEYS[1], 'only')", 1, "k")  # one write: itself
        r.eval("return redis.call('get', KEYS[1])", 1, "k")  # no write: nothing

    stream = assert_same_stream(xcache_node, redis_node, scenario)
    names = [argv[0] for argv in stream]
    assert names[names.index(b"multi"):] == [b"multi", b"set", b"incr", b"lpush", b"exec", b"set"]


def test_script_inside_a_transaction_is_one_block(xcache_node, redis_node):
    def scenario(r):
        p = r.pipeline(transaction=True)
        p.set("a", "1")
        p.eval("redis.call('set', KEYS[1], 'x'); return redis.call('incr', KEYS[2])", 2, "b", "n")
        p.execute()

    stream = assert_same_stream(xcache_node, redis_node, scenario)
    assert [argv[0] for argv in stream].count(b"multi") == 1


def test_function_with_several_writes_is_one_wrapped_block(xcache_node, redis_node):
    lib = ("#!lua name=replstreamlib\n"
           "redis.register_function('two', function(keys, args) "
           "redis.call('set', keys[1], args[1]); return redis.call('incr', keys[2]) end)")

    def scenario(r):
        r.execute_command("FUNCTION", "LOAD", "REPLACE", lib)
        r.execute_command("FCALL", "two", 2, "k", "n", "v")

    assert_same_stream(xcache_node, redis_node, scenario)


def test_replica_never_shows_half_a_transaction(cluster):
    """Transactions moving a unit from one key to another keep the sum constant; a reader on
    the replica (MGET, one atomic read) sees the sum constant at every moment."""
    master = cluster.node()
    replica = cluster.replica_of(master)
    m = client(master)
    m.mset({"{t}a": 1000, "{t}b": 0})
    wait_synced(master, replica)
    seen: list = []
    stop = threading.Event()

    def reader():
        rr = client(replica)
        while not stop.is_set():
            a, b = rr.mget("{t}a", "{t}b")
            if a is not None and b is not None:
                seen.append(int(a) + int(b))

    t = threading.Thread(target=reader)
    t.start()
    try:
        for i in range(300):
            p = m.pipeline(transaction=True)
            p.decr("{t}a").incr("{t}b")
            p.execute()
            if i % 50 == 0:  # and scripts
                m.eval("redis.call('decr', KEYS[1]); return redis.call('incr', KEYS[2])", 2,
                       "{t}a", "{t}b")
    finally:
        stop.set()
        t.join()
    assert m.execute_command("WAIT", 1, 5000) == 1
    r = client(replica)
    assert int(r.get("{t}a")) + int(r.get("{t}b")) == 1000
    assert int(r.get("{t}a")) == int(m.get("{t}a"))
    assert seen and set(seen) == {1000}
    # the replica's own offset matches the master's: the blocks were fed on verbatim
    wait_synced(master, replica)
    assert (client(replica).info("replication")["master_repl_offset"]
            == m.info("replication")["master_repl_offset"])


def test_sub_replica_gets_the_blocks_verbatim(cluster):
    master = cluster.node()
    replica = cluster.replica_of(master)
    s = Stream(replica.port)
    try:
        m = client(master)
        p = m.pipeline(transaction=True)
        p.set("a", "1").set("b", "2")
        p.execute()
        m.execute_command(*MARK)
        names = [argv[0] for argv in s.until_mark()]
    finally:
        s.close()
    assert names[names.index(b"multi"):] == [b"multi", b"set", b"set", b"exec"]


@pytest.mark.parametrize("ack", [True])
def test_wait_counts_the_whole_transaction(cluster, ack):
    master = cluster.node()
    replica = cluster.replica_of(master)
    m = client(master)
    p = m.pipeline(transaction=True)
    for i in range(20):
        p.set(f"k{i}", i)
    p.execute()
    assert m.execute_command("WAIT", 1, 5000) == 1
    r = client(replica)
    assert [int(v) for v in r.mget([f"k{i}" for i in range(20)])] == list(range(20))
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and r.dbsize() != 20:
        time.sleep(0.05)
    assert r.dbsize() == 20


def test_key_found_expired_by_a_woken_client_is_deleted_after_the_block(xcache_node, debug_redis):
    """list.tcl 'MULTI + LPUSH + EXPIRE + DEBUG SLEEP on blocked client, key already expired':
    the EXEC's block, then the DEL of the key the woken BRPOP found expired."""

    def scenario(r):
        r.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "0")
        try:
            rd = redis.Redis(port=r.connection_pool.connection_kwargs["port"], protocol=2)
            rid = rd.client_id()
            conn = rd.connection_pool.get_connection("BRPOP")
            conn.send_command("BRPOP", "k", 0)
            wait_until(lambda: r.info("clients")["blocked_clients"] == 1, 10, "BRPOP blocked")
            p = r.pipeline(transaction=True)
            p.rpush("k", "hello").pexpire("k", 100).execute_command("DEBUG", "SLEEP", "0.2")
            p.execute()
            time.sleep(0.1)
            assert r.info("clients")["blocked_clients"] == 1  # still blocked: nothing to pop
            r.client_unblock(rid)
            assert conn.read_response() is None
            rd.connection_pool.release(conn)
            rd.close()
        finally:
            r.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "1")

    stream = assert_same_stream(xcache_node, debug_redis, scenario)
    assert [argv[0] for argv in stream][-5:] == [b"multi", b"rpush", b"pexpireat", b"exec", b"del"]


def test_keys_the_collector_expires_are_not_in_the_stream(xcache_node):
    """Each node's collector expires keys on its own (replicas too): no DEL in the stream, so a
    failover's window never puts the old master's offset past the promoted replica's history."""
    r = redis.Redis(port=xcache_node.port, protocol=2, socket_timeout=10)
    r.flushall()
    s = Stream(xcache_node.port)
    try:
        before = r.info("stats")["expired_keys"]
        r.set("gone", "v", px=30)
        wait_until(lambda: r.info("stats")["expired_keys"] > before, 10,
                   "the collector expired the key")
        r.execute_command(*MARK)
        stream = s.until_mark()
    finally:
        s.close()
        r.close()
    assert stream[-1][0] == b"set"


def test_replica_holds_an_open_block_back_from_its_offset():
    """MasterLink._forward: a block whose EXEC has not been applied yet is not fed on (offset,
    backlog, sub-replicas); it goes whole once its EXEC is applied."""
    from types import SimpleNamespace

    from xcache.resp import encode_command
    from xcache.store.repl_link import MasterLink

    fed: list[bytes] = []
    link = object.__new__(MasterLink)
    link.rep = SimpleNamespace(feed=fed.append)
    link._held = []
    mc = SimpleNamespace(multi=None)
    link._forward(mc, [[b"SELECT", b"0"], [b"SET", b"a", b"1"]])
    assert fed == [encode_command(b"SELECT", b"0") + encode_command(b"SET", b"a", b"1")]
    mc.multi = [object()]  # MULTI and a queued command applied, in the same read as a write
    link._forward(mc, [[b"DEL", b"x"], [b"MULTI"], [b"SET", b"b", b"2"]])
    assert fed[1:] == [encode_command(b"DEL", b"x")]
    link._forward(mc, [[b"SET", b"c", b"3"]])  # still open: held
    assert len(fed) == 2
    mc.multi = None
    link._forward(mc, [[b"EXEC"]])
    assert fed[2:] == [b"".join(encode_command(*a) for a in (
        [b"MULTI"], [b"SET", b"b", b"2"], [b"SET", b"c", b"3"], [b"EXEC"]))]


def test_transaction_on_a_replica_and_one_that_demotes_its_node(cluster):
    """A write queued on a replica is refused (-READONLY) and its EXEC aborts, as in Redis; a
    transaction that runs REPLICAOF runs to its end, and replicas get none of it."""
    master = cluster.node()
    replica = cluster.replica_of(master)
    r = client(replica)
    p = r.pipeline(transaction=True)
    p.set("x", "1")
    with pytest.raises(redis.ReadOnlyError):
        p.execute()
    m = client(master)
    s = Stream(master.port)
    try:
        m.set("foo", "bar")
        p = m.pipeline(transaction=True)
        p.set("foo2", "bar").execute_command("REPLICAOF", "127.0.0.1", "1").set("foo3", "bar")
        assert p.execute() == [True, b"OK", True]
        with pytest.raises(redis.ReadOnlyError):
            m.set("foo4", "bar")
        stream = []
        with pytest.raises((ConnectionError, OSError, ValueError)):
            while True:
                stream.append(read_command(s.f))
    finally:
        s.close()
        m.execute_command("REPLICAOF", "NO", "ONE")
    assert [a for a in stream if a[0].lower() not in (b"ping", b"replconf")][-1] == \
        [b"SET", b"foo", b"bar"]


def test_stale_replica_refuses_with_masterdown_when_told_to(tmp_path):
    from tests.procs import start_xcache_server

    with start_xcache_server(tmp_path) as node:
        r = client(node)
        r1 = client(node)
        r.set("xx", 1)
        r.config_set("replica-serve-stale-data", "no")
        try:
            r1.execute_command("REPLICAOF", "localhost", "0")  # a link that never comes up
            with pytest.raises(redis.ResponseError, match="Link with MASTER is down"):
                r.get("xx")
            with pytest.raises(redis.ResponseError, match="Link with MASTER is down"):
                r.ping()
            assert r.info("replication")["role"] == "slave"  # INFO is served
            r.config_set("replica-serve-stale-data", "yes")
            assert r.get("xx") == b"1"
        finally:
            r1.execute_command("REPLICAOF", "NO", "ONE")



def test_publish_is_replicated_but_not_sentinel_hellos(xcache_node, redis_node):
    """As Redis 7.0 outside cluster mode, PUBLISH (also inside MULTI) reaches replicas, for their
    subscribers; the sentinels' hellos stay on the node they were sent to (sentinels publish them
    on every node, and a replicated one in a failover's window would put the old master's offset
    past the promoted replica's history)."""
    def scenario(r):
        r.publish("bla", "bla")
        with r.pipeline(transaction=True) as p:
            p.publish("in", "multi")
            p.execute()

    assert_same_stream(xcache_node, redis_node, scenario)
    r = redis.Redis(port=xcache_node.port, protocol=2, socket_timeout=10)
    s = Stream(xcache_node.port)
    try:
        r.publish("__sentinel__:hello", "127.0.0.1,26379,x,0,m,127.0.0.1,6379,0")
        r.publish("bla", "bla")
        r.execute_command(*MARK)
        assert [a[1] for a in s.until_mark() if a[0] == b"publish"] == [b"bla"]
    finally:
        s.close()
        r.close()


def test_a_replicas_subscribers_hear_what_is_published_on_its_master(cluster):
    m = cluster.node()
    rep = cluster.replica_of(m)
    sub = client(rep).pubsub()
    sub.subscribe("news")
    assert sub.get_message(timeout=5)["type"] == "subscribe"
    client(m).publish("news", "hello")
    msg = sub.get_message(timeout=10)
    assert (msg["channel"], msg["data"]) == (b"news", b"hello")
    sub.close()


def test_transactions_during_a_write_stall_reach_the_replica_whole(cluster):
    """RocksDB stalls writes for real (test_stall.py's settings) while transactions are sent
    command by command (EXEC then writes one command at a time; they wait out the stall). The
    SYNC stream carries each as one block, and the replica ends with the master's data. (Whether
    an EXEC is cut by the stall half-way depends on timing; that path keeps its ops on the client,
    transactions.py, and emits them with the rest.)"""
    from tests.store.test_stall import STALL_FLAGS, Writer

    master = cluster.node(*STALL_FLAGS[:-1], "write_stall_timeout_ms=20000")
    replica = cluster.replica_of(master)
    s = Stream(master.port)
    noise = Writer(master.port, "n")
    noise.start()
    m = client(master)
    try:
        wait_until(lambda: m.info("storage")["write_stall_active"] == 1, 60, "a write stall")
        for t in range(5):
            m.execute_command("MULTI")
            for i in range(8):
                m.execute_command("SET", f"t{t}:{i}", "v" * 512)
            assert m.execute_command("EXEC") == [b"OK"] * 8
    finally:
        noise.stop.set()
        noise.join(60)
    try:
        m.execute_command(*MARK)
        stream = s.until_mark()
    finally:
        s.close()
    names = [(a[0], a[1][:2] if len(a) > 1 else b"") for a in stream]
    for t in range(5):
        start = names.index((b"set", b"t%d" % t)) - 1
        assert [n for n, _ in names[start:start + 10]] == [b"multi"] + [b"set"] * 8 + [b"exec"]
    wait_synced(master, replica, timeout=120)
    r = client(replica)
    keys = [f"t{t}:{i}" for t in range(5) for i in range(8)]
    assert r.mget(keys) == m.mget(keys)
    assert r.dbsize() == m.dbsize()


def test_a_stopped_link_ends_even_when_its_cancel_is_lost():
    """stop() cancels the link's task, but Python 3.11's asyncio.wait_for can lose a cancel that
    arrives as its connect completes: the link must still end (it checks `stopped`), or a
    promoted node would keep following its old master, and a stopping node would never exit."""
    import asyncio
    from types import SimpleNamespace

    from tests.procs import free_port
    from xcache.store.repl_link import MasterLink

    async def scenario():
        cfg = SimpleNamespace(repl_timeout_ms=1000, tls_replication=False, masterauth="", port=0)
        rep = SimpleNamespace(server=None, cfg=cfg, link_state="", link_down_since=None)
        link = MasterLink(rep, "127.0.0.1", free_port())  # nothing listens: refused, retried
        link.stopped = True  # what stop() sets; its task.cancel() taken as lost
        await asyncio.wait_for(link.task, 10)

    asyncio.run(scenario())


@pytest.mark.parametrize("noack", [False, True])
def test_xreadgroup_sends_a_new_consumer_on_its_own_only_with_noack(xcache_node, redis_node, noack):
    """multi.tcl "MULTI propagation of XREADGROUP": each XCLAIM creates its consumer and moves
    the group's last id on a replica, so XGROUP CREATECONSUMER and SETID go only where there are
    none (NOACK), as Redis 7.0 sends them."""
    def scenario(r):
        r.xadd("s", {"f": "v"}, id="1-1")
        r.xgroup_create("s", "g", "0")
        r.xreadgroup("g", "alice", {"s": ">"}, noack=noack)

    for stream in streams_of([xcache_node.port, redis_node.port], scenario):
        names = [argv[:2] for argv in stream]
        assert ([b"xgroup", b"CREATECONSUMER"] in names) == noack
        assert ([b"xgroup", b"SETID"] in names) == noack
        assert ([b"xclaim", b"s"] in names) == (not noack)


NO_OP_WRITES = [
    ("SPOP", "m"), ("SPOP", "m", "1"), ("LPOP", "m"), ("RPOP", "m", "2"), ("ZPOPMIN", "m"),
    ("HDEL", "m", "f"), ("SREM", "m", "a"), ("ZREM", "m", "a"), ("LREM", "m", "0", "a"),
    ("LTRIM", "m", "0", "1"), ("EXPIRE", "m", "10"), ("PERSIST", "m"), ("SETRANGE", "m", "0", ""),
    ("SMOVE", "m", "n", "a"), ("LMOVE", "m", "n", "LEFT", "RIGHT"), ("RPOPLPUSH", "m", "n"),
    ("SINTERSTORE", "d", "m"), ("ZREMRANGEBYSCORE", "m", "0", "1"), ("XDEL", "m", "1-1"),
    ("COPY", "m", "n"), ("MOVE", "m", "1"), ("LPUSHX", "m", "a"), ("SETNX", "s", "w"),
    ("MSETNX", "s", "1"), ("EXPIRE", "s", "10", "NX"), ("SADD", "t", "a"), ("SREM", "t", "zz"),
    ("HSETNX", "h", "f", "v"), ("ZADD", "z", "1", "a"), ("ZADD", "z", "XX", "2", "b"),
    ("GEOADD", "g", "NX", "0", "0", "a"), ("BITOP", "AND", "d4", "m")]


def test_writes_that_change_nothing_are_not_replicated(xcache_node, redis_node):
    """As Redis (server.dirty): a write command that changed nothing (SPOP of a missing key, SADD
    of a member already there, SETNX of an existing key...) is not in the stream; EXPIRE ... NX
    goes as PEXPIREAT with its NX."""
    def scenario(r):
        r.set("s", "v")
        r.sadd("t", "a")
        r.hset("h", "f", "v")
        r.zadd("z", {"a": 1})
        r.geoadd("g", (0, 0, "a"))
        for argv in NO_OP_WRITES:
            try:
                r.execute_command(*argv)
            except redis.ResponseError:
                pass
            r.execute_command("INCR", "after-" + argv[0])

    stream = assert_same_stream(xcache_node, redis_node, scenario)
    assert [b"pexpireat", b"s", b"*", b"NX"] in _normalise(stream)


def test_a_write_that_changes_nothing_leaves_watchers_alone(r2):
    """multi.tcl's WATCH rules: only a real change of a watched key aborts the transaction."""
    r2.sadd("t", "a")
    with r2.pipeline() as p:
        p.watch("t")
        r2.sadd("t", "a")  # already a member: no change
        r2.srem("t", "nope")
        p.multi()
        p.ping()
        assert p.execute() == [True]
    with r2.pipeline() as p:
        p.watch("t")
        r2.sadd("t", "b")
        p.multi()
        p.ping()
        with pytest.raises(redis.WatchError):
            p.execute()
