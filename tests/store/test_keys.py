"""Generic key commands against xcache and redis-server."""

import time

import pytest
import redis


def test_del_exists_type_unlink_touch(r):
    r.set("s", "v")
    r.sadd("set", "m")
    assert r.exists("s", "set", "none", "s") == 3
    assert r.type("s") == b"string"
    assert r.type("set") == b"set"
    assert r.type("none") == b"none"
    assert r.touch("s", "none") == 1
    assert r.delete("s", "none", "s") == 1
    assert r.unlink("set") == 1
    assert r.exists("s", "set") == 0


def test_delete_big_collection_then_recreate(r):
    r.hset("h", mapping={f"f{i}": i for i in range(500)})
    assert r.delete("h") == 1
    assert r.hlen("h") == 0
    r.hset("h", "only", "1")
    assert r.hgetall("h") == {b"only": b"1"}


def test_expire_ttl_persist(r):
    r.set("k", "v")
    assert r.ttl("k") == -1
    assert r.pttl("k") == -1
    assert r.ttl("none") == -2
    assert r.expire("k", 100) is True
    assert 99 <= r.ttl("k") <= 100
    assert r.pexpire("k", 50000) is True
    assert 49000 < r.pttl("k") <= 50000
    assert r.persist("k") is True
    assert r.persist("k") is False
    assert r.ttl("k") == -1
    assert r.expire("none", 10) is False
    now = int(time.time())
    assert r.expireat("k", now + 100) is True
    assert r.execute_command("expiretime", "k") == now + 100
    assert r.pexpireat("k", (now + 200) * 1000) is True
    assert r.execute_command("pexpiretime", "k") == (now + 200) * 1000
    assert r.execute_command("expiretime", "none") == -2


def test_expire_options(r):
    r.set("k", "v")
    assert r.expire("k", 100, xx=True) is False
    assert r.expire("k", 100, nx=True) is True
    assert r.expire("k", 200, nx=True) is False
    assert r.expire("k", 50, gt=True) is False
    assert r.expire("k", 200, gt=True) is True
    assert r.expire("k", 300, lt=True) is False
    assert r.expire("k", 10, lt=True) is True
    r.set("p", "v")
    assert r.expire("p", 10, gt=True) is False
    assert r.expire("p", 10, lt=True) is True
    with pytest.raises(redis.ResponseError, match="NX and XX, GT or LT options at the same time are not compatible"):
        r.execute_command("expire", "k", 10, "NX", "XX")
    with pytest.raises(redis.ResponseError, match="GT and LT options at the same time are not compatible"):
        r.execute_command("expire", "k", 10, "GT", "LT")
    with pytest.raises(redis.ResponseError, match="Unsupported option"):
        r.execute_command("expire", "k", 10, "YY")


def test_expire_in_past_deletes(r):
    r.set("k", "v")
    assert r.expire("k", -1) is True
    assert r.exists("k") == 0
    r.rpush("l", "a")
    assert r.pexpireat("l", 1) is True
    assert r.exists("l") == 0


def test_expire_errors(r):
    with pytest.raises(redis.ResponseError, match="not an integer or out of range"):
        r.execute_command("expire", "k", "abc")
    r.set("k", "v")
    with pytest.raises(redis.ResponseError, match="invalid expire time in 'expire' command"):
        r.execute_command("expire", "k", "9223372036854775807")


def test_lazy_expiry(r):
    r.set("k", "v", px=1)
    r.hset("h", "f", "v")
    r.pexpire("h", 1)
    deadline = time.monotonic() + 5
    while r.exists("k", "h") and time.monotonic() < deadline:
        pass
    assert r.get("k") is None
    assert r.hgetall("h") == {}
    assert r.type("h") == b"none"
    assert r.ttl("k") == -2


def test_rename(r):
    r.set("a", "1", ex=100)
    assert r.rename("a", "b") is True
    assert r.get("a") is None
    assert r.get("b") == b"1"
    assert r.ttl("b") > 0
    r.rpush("l", "x", "y", "z")
    r.set("l2", "will be replaced")
    assert r.rename("l", "l2") is True
    assert r.lrange("l2", 0, -1) == [b"x", b"y", b"z"]
    r.zadd("z", {"m": 1.5, "n": 2})
    r.rename("z", "z2")
    # redis-py gives tuples in RESP2, lists in RESP3
    assert [tuple(p) for p in r.zrange("z2", 0, -1, withscores=True)] == [(b"m", 1.5), (b"n", 2.0)]
    with pytest.raises(redis.ResponseError, match="no such key"):
        r.rename("none", "x")
    assert r.rename("b", "b") is True
    r.set("c", "3")
    assert r.renamenx("b", "c") is False
    assert r.renamenx("b", "d") is True
    assert r.get("d") == b"1"


def test_copy_and_move(r):
    r.hset("h", mapping={"a": "1", "b": "2"})
    assert r.copy("h", "h2") is True
    assert r.hgetall("h2") == {b"a": b"1", b"b": b"2"}
    assert r.copy("h", "h2") is False
    assert r.copy("h", "h2", replace=True) is True
    assert r.move("h", 1) is True
    assert r.exists("h") == 0
    r.execute_command("select", 1)
    assert r.hgetall("h") == {b"a": b"1", b"b": b"2"}
    r.execute_command("select", 0)


def test_keys_and_scan(r):
    names = {f"user:{i}".encode() for i in range(50)} | {b"other", b"h[x]llo"}
    for n in names:
        r.set(n, "1")
    r.sadd("aset", "m")
    assert set(r.keys("user:*")) == {n for n in names if n.startswith(b"user:")}
    assert r.keys("h\\[x\\]llo") == [b"h[x]llo"]
    assert set(r.keys("*")) == names | {b"aset"}
    seen = set()
    cursor = 0
    while True:
        cursor, batch = r.scan(cursor, count=7)
        seen.update(batch)
        if cursor == 0:
            break
    assert seen == names | {b"aset"}
    assert set(r.scan_iter(match="user:1*")) == {n for n in names if n.startswith(b"user:1")}
    assert set(r.scan_iter(_type="set")) == {b"aset"}
    with pytest.raises(redis.ResponseError, match="syntax error"):
        r.execute_command("scan", 0, "COUNT", 0)
    with pytest.raises(redis.ResponseError, match="invalid cursor"):
        r.execute_command("scan", "abc")


def test_randomkey_dbsize(r):
    assert r.randomkey() is None
    assert r.dbsize() == 0
    for i in range(10):
        r.set(f"k{i}", i)
    assert r.randomkey() in {f"k{i}".encode() for i in range(10)}
    assert r.dbsize() == 10


def test_object_encoding(r):
    r.set("n", "123")
    assert r.object("encoding", "n") == b"int"
    assert r.object("encoding", "none") is None
    with pytest.raises(redis.ResponseError, match="unknown subcommand"):
        r.execute_command("object", "foo", "n")


def test_select_isolates_databases(r):
    r.set("k", "db0")
    r.execute_command("select", 5)
    assert r.get("k") is None
    r.set("k", "db5")
    r.execute_command("select", 0)
    assert r.get("k") == b"db0"
    with pytest.raises(redis.ResponseError, match="DB index is out of range"):
        r.execute_command("select", 16)
    with pytest.raises(redis.ResponseError, match="not an integer or out of range"):
        r.execute_command("select", "x")


def test_flushdb_flushall(r):
    r.set("a", "1")
    # from db 1: FLUSHDB leaves db 0's key, FLUSHALL takes it too
    for flush, left_in_db0 in ((r.flushdb, 1), (r.flushall, 0)):
        r.execute_command("select", 1)
        r.set("b", "1")
        flush()
        assert r.dbsize() == 0
        r.execute_command("select", 0)
        assert r.dbsize() == left_in_db0
    with pytest.raises(redis.ResponseError, match="syntax error"):
        r.execute_command("flushdb", "LATER")


def test_copy_and_move_to_another_db_invalidate_watch(r):
    port = r.connection_pool.connection_kwargs["port"]
    watcher = redis.Redis(port=port, db=1, protocol=2)
    for change in (lambda: r.copy("src", "dst", destination_db=1), lambda: r.move("src", 1)):
        watcher.delete("dst", "src")
        r.set("src", "v")
        with watcher.pipeline() as p:
            p.watch("dst", "src")
            change()
            p.multi()
            p.get("dst")
            with pytest.raises(redis.WatchError):
                p.execute()
    watcher.close()


def test_expire_checks_options_before_the_time(r):
    """Redis parses NX/XX/GT/LT first: a bad option combination wins over a bad number."""
    r.set("k", "v")
    for cmd in ("EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT"):
        with pytest.raises(redis.ResponseError, match="^GT and LT options at the same time"):
            r.execute_command(cmd, "k", "x", "GT", "LT")
        with pytest.raises(redis.ResponseError, match="^NX and XX, GT or LT options"):
            r.execute_command(cmd, "missing", "x", "NX", "GT")
        with pytest.raises(redis.ResponseError, match="^Unsupported option Foo$"):
            r.execute_command(cmd, "k", "x", "NX", "Foo", "Bar")
        with pytest.raises(redis.ResponseError, match="^value is not an integer"):
            r.execute_command(cmd, "k", "x", "GT")
    assert r.ttl("k") == -1


def test_object_subcommand_errors(r):
    """Unknown subcommands and known ones with the wrong arity, as Redis's command lookup says."""
    with pytest.raises(redis.ResponseError, match=r"^unknown subcommand 'b'\. Try OBJECT HELP\.$"):
        r.execute_command("OBJECT", "b", "0")
    with pytest.raises(redis.ResponseError, match=r"^wrong number of arguments for 'object\|encoding'"):
        r.execute_command("OBJECT", "ENCODING", "k", "x")
    with pytest.raises(redis.ResponseError, match=r"^wrong number of arguments for 'object\|help'"):
        r.execute_command("OBJECT", "HELP", "x")


def test_db_index_arguments_are_c_ints(r):
    """MOVE, COPY ... DB and SELECT read the index as Redis's getIntFromObjectOrReply does."""
    r.set("a", "1")
    for args in (["MOVE", "a"], ["COPY", "a", "b", "DB"], ["SELECT"]):
        with pytest.raises(redis.ResponseError, match="^value is not an integer or out of range$"):
            r.execute_command(*args, "x")
        with pytest.raises(redis.ResponseError,
                           match="^value is out of range, value must between -2147483648 and 2147483647$"):
            r.execute_command(*args, "9999999999")
        with pytest.raises(redis.ResponseError, match="^DB index is out of range$"):
            r.execute_command(*args, "-1")


def test_scan_cursor_is_read_like_strtoul(r):
    """Redis takes any cursor strtoul reads (a sign, "" for 0) and refuses spaces and overflow."""
    r.sadd("s", "a")
    r.hset("h", "f", "v")
    for cmd in (["SCAN"], ["SSCAN", "s"], ["HSCAN", "h"], ["ZSCAN", "nokey"]):
        for cursor in ("", "+0", "-0"):
            assert r.execute_command(*cmd, cursor)[0] in (0, b"0"), (cmd, cursor)  # all, done
        r.execute_command(*cmd, "-1")  # a cursor of Redis's own numbering: no error
        for cursor in (" 1", "1 ", "+", "-", "x", "-18446744073709551616"):
            with pytest.raises(redis.ResponseError, match="^invalid cursor$"):
                r.execute_command(*cmd, cursor)


def test_randomkey_is_uniform_over_a_small_keyspace(r):
    """Redis picks uniformly; a random seek alone would return b"\\x00b" only when it lands in
    the 1/65536 of the key space between the two keys."""
    r.flushdb()
    r.set(b"\x00a", 1)
    r.set(b"\x00b", 1)
    assert {r.randomkey() for _ in range(100)} == {b"\x00a", b"\x00b"}
