"""Group commit: a pipelined chunk's writes go to RocksDB as one batch (xcache/store/groupcommit.py).

Read-your-writes inside one chunk is checked against redis-server too (the `r` fixture); the
kill -9 test checks that every acknowledged write of pipelining clients survives.
"""

from __future__ import annotations

import socket
import threading

import redis

from tests.procs import start_xcache_server, wait_until


def _pipe(r, *cmds):
    p = r.pipeline(transaction=False)
    for cmd in cmds:
        p.execute_command(*cmd)
    return p.execute(raise_on_error=False)


def test_pipeline_reads_its_own_writes(r):
    got = _pipe(
        r,
        ("SET", "a", "1"), ("GET", "a"), ("APPEND", "a", "2"), ("STRLEN", "a"),
        ("DEL", "a"), ("EXISTS", "a"), ("GET", "a"),
        ("INCR", "n"), ("INCR", "n"), ("INCRBY", "n", "5"), ("GET", "n"),
        ("HSET", "h", "f", "v", "g", "w"), ("HGET", "h", "f"), ("HLEN", "h"),
        ("HDEL", "h", "f"), ("HGETALL", "h"),
        ("LPUSH", "l", "x", "y"), ("RPUSH", "l", "z"), ("LRANGE", "l", "0", "-1"), ("LPOP", "l"),
        ("LLEN", "l"),
        ("SADD", "s", "m1", "m2"), ("SREM", "s", "m1"), ("SMEMBERS", "s"),
        ("ZADD", "z", "2", "b", "1", "a"), ("ZINCRBY", "z", "5", "a"),
        ("ZRANGE", "z", "0", "-1", "WITHSCORES"),
        ("SET", "k1", "v"), ("KEYS", "k*"), ("SCAN", "0", "MATCH", "k*", "COUNT", "1000"),
        ("MSET", "m1", "x", "m2", "y"), ("MGET", "m1", "m2", "a"),
        ("RENAME", "m1", "m3"), ("MGET", "m1", "m3"),
        ("DEL", "h"), ("HGET", "h", "g"), ("HSET", "h", "new", "1"), ("HGETALL", "h"),
    )
    assert got[:7] == [True, b"1", 2, 2, 1, 0, None]
    assert got[7:11] == [1, 2, 7, b"7"]
    assert got[11:16] == [2, b"v", 2, 1, {b"g": b"w"} if isinstance(got[15], dict) else [b"g", b"w"]]
    assert got[16:21] == [2, 3, [b"y", b"x", b"z"], b"y", 2]
    assert got[21:24] == [2, 1, {b"m2"} if isinstance(got[23], set) else [b"m2"]]
    zrange = got[26]
    assert got[24:26] == [2, 6.0] or got[24:26] == [2, b"6"]
    assert zrange in ([b"b", b"2", b"a", b"6"], [[b"b", 2.0], [b"a", 6.0]])
    assert got[27] is True
    assert got[28] == [b"k1"]
    assert got[29][1] == [b"k1"]
    assert got[30:32] == [True, [b"x", b"y", None]]
    assert got[32:34] == [True, [None, b"x"]]
    assert got[34:36] == [1, None]
    assert got[36] == 1
    assert got[37] in ({b"new": b"1"}, [b"new", b"1"])


def test_group_commits_are_counted_in_info(xcache_node):
    r = redis.Redis(port=xcache_node.port, protocol=2)
    try:
        before = r.info("storage")
        assert _pipe(r, *[("SET", f"counted{i}", "v") for i in range(16)]) == [True] * 16
        after = r.info("storage")
        assert after["group_commits_total"] > before["group_commits_total"]
        assert 2 <= after["group_commit_ops_total"] - before["group_commit_ops_total"] <= 16
    finally:
        r.close()


def test_pipeline_flush_and_transaction(r):
    got = _pipe(
        r,
        ("SET", "gone", "1"), ("FLUSHALL",), ("GET", "gone"), ("SET", "kept", "2"), ("DBSIZE",),
        ("MULTI",), ("SET", "t", "1"), ("INCR", "t"), ("GET", "kept"), ("EXEC",), ("GET", "t"),
    )
    assert got[:5] == [True, True, None, True, 1]
    assert got[5] in (True, b"OK")  # MULTI (redis-py parses the QUEUEDs as the commands' replies)
    assert got[9][1:] == [2, b"2"] and got[9][0] in (True, b"OK")
    assert got[10] == b"2"


def test_watch_sees_a_pipelined_write_of_another_client(r):
    other = redis.Redis(port=r.connection_pool.connection_kwargs["port"], protocol=2)
    try:
        with r.pipeline(transaction=True) as tx:
            tx.watch("w")
            assert _pipe(other, ("SET", "x", "1"), ("SET", "w", "changed"), ("GET", "w")) == [
                True, True, b"changed"]
            tx.multi()
            tx.set("w", "mine")
            try:
                tx.execute()
                raised = False
            except redis.WatchError:
                raised = True
        assert raised
        assert r.get("w") == b"changed"
    finally:
        other.close()


def _resp(*args: str) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


class PipelinedWriter(threading.Thread):
    """Raw-socket client: chunks of 16 writes, every reply recorded until the connection dies."""

    def __init__(self, port: int, name: str):
        super().__init__(daemon=True)
        self.port, self.name = port, name
        self.acked_sets: list[str] = []  # keys whose SET got +OK
        self.counter = 0  # last INCR reply
        self.acked_hset: list[str] = []
        self.acked_lpush = 0  # LPUSH replies: the list length
        self.chunks = 0

    def run(self) -> None:
        s = socket.create_connection(("127.0.0.1", self.port))
        buf = b""
        try:
            for chunk in range(100_000):
                cmds = []
                for i in range(4):
                    n = chunk * 4 + i
                    cmds.append(("set", f"{self.name}:s:{n}", _resp("SET", f"{self.name}:s:{n}", f"v{n}")))
                    cmds.append(("incr", None, _resp("INCR", f"{self.name}:ctr")))
                    cmds.append(("hset", f"f{n}", _resp("HSET", f"{self.name}:h", f"f{n}", f"v{n}")))
                    cmds.append(("lpush", None, _resp("LPUSH", f"{self.name}:l", f"e{n}")))
                s.sendall(b"".join(c[2] for c in cmds))
                for kind, arg, _ in cmds:
                    while b"\r\n" not in buf:
                        data = s.recv(65536)
                        if not data:
                            return
                        buf += data
                    line, buf = buf.split(b"\r\n", 1)
                    if kind == "set":
                        assert line == b"+OK", line
                        self.acked_sets.append(arg)
                    elif kind == "incr":
                        self.counter = int(line[1:])
                    elif kind == "hset":
                        assert line == b":1", line
                        self.acked_hset.append(arg)
                    else:
                        self.acked_lpush = int(line[1:])
                self.chunks += 1
        except OSError:
            return
        finally:
            s.close()


def test_kill9_loses_no_acknowledged_pipelined_write(tmp_path):
    data = tmp_path / "node"
    proc = start_xcache_server(tmp_path, data_dir=data)
    writers = [PipelinedWriter(proc.port, f"w{i}") for i in range(3)]
    try:
        for w in writers:
            w.start()
        wait_until(lambda: all(w.chunks >= 50 for w in writers), 60, "pipelined writes")
        proc.kill9()
        for w in writers:
            w.join(30)
        proc = start_xcache_server(tmp_path, data_dir=data, port=proc.port)
        r = redis.Redis(port=proc.port, protocol=2, socket_timeout=30)
        for w in writers:
            assert w.acked_sets
            values = r.mget(w.acked_sets)
            missing = [k for k, v in zip(w.acked_sets, values, strict=True) if v is None]
            assert not missing, f"{len(missing)} acknowledged SETs lost, e.g. {missing[:3]}"
            assert int(r.get(f"{w.name}:ctr")) >= w.counter
            fields = r.hmget(f"{w.name}:h", w.acked_hset)
            assert None not in fields
            assert r.llen(f"{w.name}:l") >= w.acked_lpush
        r.close()
    finally:
        proc.kill9()


def test_replica_applies_pipelined_chunks_in_order(tmp_path):
    master = start_xcache_server(tmp_path)
    replica = start_xcache_server(tmp_path)
    m = redis.Redis(port=master.port, protocol=2)
    rep = redis.Redis(port=replica.port, protocol=2)
    try:
        rep.replicaof("127.0.0.1", master.port)
        wait_until(lambda: rep.info("replication")["master_link_status"] == "up", 60, "link up")
        for round_ in range(20):
            _pipe(m, ("INCR", "ctr"), ("SET", f"k{round_}", "v"), ("SELECT", "3"), ("RPUSH", "l", round_),
                  ("MULTI",), ("HSET", "h", f"f{round_}", round_), ("INCR", "ctr3"), ("EXEC",),
                  ("SELECT", "0"), ("DEL", f"k{round_ - 1}"), ("APPEND", "s", "x"))
        final = m.info("replication")["master_repl_offset"]
        wait_until(lambda: rep.info("replication")["master_repl_offset"] >= final, 60, "catch-up")
        assert rep.get("ctr") == b"20" and rep.get("s") == b"x" * 20
        assert rep.keys("k*") == [b"k19"]
        rep3 = redis.Redis(port=replica.port, protocol=2, db=3)
        assert rep3.lrange("l", 0, -1) == [str(i).encode() for i in range(20)]
        assert rep3.get("ctr3") == b"20" and rep3.hlen("h") == 20
        rep3.close()
    finally:
        m.close()
        rep.close()
        replica.kill9()
        master.kill9()


def _replies(s: socket.socket, n: int, buf: bytes = b"") -> tuple[list[bytes], bytes]:
    """n single-line replies (+OK, :n, $-1) or bulk strings read from s."""
    out = []
    while len(out) < n:
        while b"\r\n" not in buf:
            data = s.recv(65536)
            assert data, f"connection closed after {out!r}"
            buf += data
        line, rest = buf.split(b"\r\n", 1)
        if line.startswith(b"$") and line != b"$-1":
            size = int(line[1:])
            while len(rest) < size + 2:
                data = s.recv(65536)
                assert data
                rest += data
            line, rest = rest[:size], rest[size + 2:]
        out.append(line)
        buf = rest
    return out, buf


def test_one_group_spans_clients_read_in_one_iteration(tmp_path):
    """Clients read in the same loop iteration share one group (rounds.py): INCRs of two clients
    on one counter in one group each see the other's pending write, a GET after another client's
    acknowledged SET sees it, and kill -9 loses no acknowledged write of either client."""
    data = tmp_path / "node"
    proc = start_xcache_server(tmp_path, data_dir=data)
    r = redis.Redis(port=proc.port, protocol=2, socket_timeout=30)
    a, b, sleeper = (socket.create_connection(("127.0.0.1", proc.port), timeout=30) for _ in range(3))
    acked: dict[str, bytes] = {}
    incrs = 0
    try:
        before = r.info("storage")["group_commit_shared_total"]
        for n in range(200):
            # DEBUG SLEEP blocks the node while both pipelines arrive: the next iteration reads
            # both clients (the loop ends as soon as INFO shows a group of several clients).
            sleeper.sendall(_resp("DEBUG", "SLEEP", "0.02"))
            a.sendall(_resp("SET", f"a{n}", f"va{n}") + _resp("INCR", "ctr") + _resp("SET", f"a{n}x", "1"))
            b.sendall(_resp("INCR", "ctr") + _resp("SET", f"b{n}", f"vb{n}")
                      + _resp("GET", f"a{n - 1}"))
            assert _replies(sleeper, 1)[0] == [b"+OK"]
            got_a, _ = _replies(a, 3)
            got_b, _ = _replies(b, 3)
            assert got_a[0] == got_a[2] == got_b[1] == b"+OK"
            assert got_b[2] == (b"va%d" % (n - 1) if n else b"$-1")  # acked before: visible
            acked.update({f"a{n}": b"va%d" % n, f"a{n}x": b"1", f"b{n}": b"vb%d" % n})
            incrs += 2
            assert sorted([int(got_a[1][1:]), int(got_b[0][1:])]) in ([incrs - 1, incrs],)
            if r.info("storage")["group_commit_shared_total"] > before:
                break
        assert r.info("storage")["group_commit_shared_total"] > before
        proc.kill9()
        r.close()
        proc = start_xcache_server(tmp_path, data_dir=data, port=proc.port)
        r = redis.Redis(port=proc.port, protocol=2, socket_timeout=30)
        keys = list(acked)
        assert r.mget(keys) == [acked[k] for k in keys]
        assert r.get("ctr") == str(incrs).encode()
    finally:
        for s in (a, b, sleeper):
            s.close()
        r.close()
        proc.kill9()
