"""Command classification (sans-IO): how the proxy handles each command name.

kinds:
  LOCAL      answered by the proxy itself (AUTH, PING, ECHO, SELECT, QUIT, INFO, ...)
  KEY        one key at argv[1]: forwarded to the owner of its slot
  SPLIT      multi-key commands split per group and merged in order (MGET, MSET, DEL, ...)
  SAME_SLOT  several keys that must share one slot ({hashtag}); forwarded as is
  DENY       cannot work through a proxy: a clear -ERR naming the command
"""

from __future__ import annotations

LOCAL, KEY, SPLIT, SAME_SLOT, DENY = range(5)


class Spec:
    __slots__ = ("name", "kind", "readonly", "min_args", "keys", "reason", "lname")

    def __init__(self, name: str, kind: int, readonly: bool, min_args: int = 2,
                 keys: tuple | None = None, reason: str = ""):
        self.name = name
        self.lname = name.lower()
        self.kind = kind
        self.readonly = readonly
        self.min_args = min_args
        # SAME_SLOT key positions: (first, last, step) with last -1 = to the end, or
        # ("numkeys", index_of_numkeys, extra_fixed_key_positions...).
        self.keys = keys
        self.reason = reason


_READ_KEY = """get strlen getrange substr type ttl pttl expiretime pexpiretime hget hmget hgetall
hkeys hvals hlen hexists hstrlen hscan hrandfield lrange lindex llen lpos scard sismember smembers
smismember srandmember sscan zcard zcount zrange zrangebyscore zrevrange zrevrangebyscore zrank
zrevrank zscore zmscore zlexcount zrangebylex zrevrangebylex zscan zrandmember getbit bitcount
bitpos bitfield_ro dump geopos geodist georadius_ro georadiusbymember_ro geosearch geohash xrange
xrevrange xlen sort_ro""".split()

_WRITE_KEY = """set setnx setex psetex getset getdel getex append incr decr incrby decrby
incrbyfloat setrange setbit bitfield expire pexpire expireat pexpireat persist hset hsetnx hmset
hdel hincrby hincrbyfloat lpush rpush lpushx rpushx lpop rpop lset lrem ltrim linsert sadd srem
spop zadd zincrby zrem zremrangebyrank zremrangebyscore zremrangebylex zpopmin zpopmax pfadd
geoadd georadius georadiusbymember xadd xdel xtrim xack xclaim xautoclaim xpending restore sort""".split()

_DENY = {
    "keys": "scans every group", "scan": "scans every group", "randomkey": "spans every group",
    "dbsize": "spans every group", "flushall": "spans every group", "flushdb": "spans every group",
    "config": "configures a backend node", "shutdown": "stops a backend node",
    "multi": "transactions may span groups", "exec": "transactions may span groups",
    "discard": "transactions may span groups", "watch": "transactions may span groups",
    "unwatch": "transactions may span groups", "blpop": "blocking commands hold a backend connection",
    "brpop": "blocking commands hold a backend connection", "brpoplpush": "blocking commands hold a backend connection",
    "blmove": "blocking commands hold a backend connection", "bzpopmin": "blocking commands hold a backend connection",
    "bzpopmax": "blocking commands hold a backend connection", "blmpop": "blocking commands hold a backend connection",
    "bzmpop": "blocking commands hold a backend connection", "xread": "may block a backend connection",
    "xreadgroup": "may block a backend connection", "wait": "blocks a backend connection",
    "subscribe": "pub/sub is not proxied", "psubscribe": "pub/sub is not proxied",
    "ssubscribe": "pub/sub is not proxied", "publish": "pub/sub is not proxied",
    "unsubscribe": "pub/sub is not proxied", "punsubscribe": "pub/sub is not proxied",
    "pubsub": "pub/sub is not proxied", "monitor": "spans every group", "save": "administers a backend node",
    "bgsave": "administers a backend node", "bgrewriteaof": "administers a backend node",
    "lastsave": "administers a backend node", "slaveof": "administers a backend node",
    "replicaof": "administers a backend node", "sync": "administers a backend node",
    "psync": "administers a backend node", "debug": "administers a backend node",
    "cluster": "the proxy is not a cluster node", "migrate": "moves keys between nodes",
    "move": "the proxy has one database", "swapdb": "the proxy has one database",
    "script": "scripts are per backend node", "function": "functions are per backend node",
    "fcall": "functions are per backend node", "slowlog": "administers a backend node",
    "latency": "administers a backend node", "memory": "administers a backend node",
    "module": "administers a backend node",
    "failover": "administers a backend node", "time": "spans every group",
    "readonly": "the proxy picks replicas itself", "readwrite": "the proxy picks replicas itself",
    "sintercard": "use SINTER with a {hashtag}", "lmpop": "not supported", "zmpop": "not supported",
}

_SAME_SLOT = {
    # name: (readonly, min_args, keys)
    "msetnx": (False, 3, (1, -1, 2)), "rename": (False, 3, (1, 2, 1)), "renamenx": (False, 3, (1, 2, 1)),
    "copy": (False, 3, (1, 2, 1)), "rpoplpush": (False, 3, (1, 2, 1)), "lmove": (False, 5, (1, 2, 1)),
    "smove": (False, 4, (1, 2, 1)), "sinter": (True, 2, (1, -1, 1)), "sunion": (True, 2, (1, -1, 1)),
    "sdiff": (True, 2, (1, -1, 1)), "sinterstore": (False, 3, (1, -1, 1)),
    "sunionstore": (False, 3, (1, -1, 1)), "sdiffstore": (False, 3, (1, -1, 1)),
    "pfcount": (True, 2, (1, -1, 1)), "pfmerge": (False, 2, (1, -1, 1)),
    "bitop": (False, 4, (2, -1, 1)), "zunionstore": (False, 4, ("numkeys", 2, 1)),
    "zinterstore": (False, 4, ("numkeys", 2, 1)), "zdiffstore": (False, 4, ("numkeys", 2, 1)),
    "zunion": (True, 3, ("numkeys", 1)), "zinter": (True, 3, ("numkeys", 1)),
    "zdiff": (True, 3, ("numkeys", 1)), "zrangestore": (False, 5, (1, 2, 1)),
    "eval": (False, 3, ("numkeys", 2)), "evalsha": (False, 3, ("numkeys", 2)),
    "eval_ro": (True, 3, ("numkeys", 2)), "evalsha_ro": (True, 3, ("numkeys", 2)),
    "geosearchstore": (False, 3, (1, 2, 1)), "lcs": (True, 3, (1, 2, 1)),
    # subcommand first, key second
    "object": (True, 3, (2, 2, 1)), "xinfo": (True, 3, (2, 2, 1)), "xgroup": (False, 3, (2, 2, 1)),
}

_SPLIT = {"mget": True, "exists": True, "touch": True, "del": False, "unlink": False, "mset": False}

_LOCAL = ["auth", "ping", "echo", "select", "quit", "info", "command", "client", "hello", "reset", "acl"]


def _build() -> dict[bytes, Spec]:
    specs: list[Spec] = []
    specs += [Spec(n.upper(), KEY, True) for n in _READ_KEY]
    specs += [Spec(n.upper(), KEY, False) for n in _WRITE_KEY]
    specs += [Spec(n.upper(), DENY, False, 1, reason=r) for n, r in _DENY.items()]
    specs += [Spec(n.upper(), SAME_SLOT, ro, m, keys=k) for n, (ro, m, k) in _SAME_SLOT.items()]
    specs += [Spec(n.upper(), SPLIT, ro, 3 if n == "mset" else 2) for n, ro in _SPLIT.items()]
    specs += [Spec(n.upper(), LOCAL, True, 1) for n in _LOCAL]
    table: dict[bytes, Spec] = {}
    for s in specs:
        # Both spellings client libraries send, so the hot path needs no .upper().
        table[s.name.encode()] = s
        table[s.lname.encode()] = s
    return table


COMMANDS = _build()


def lookup(name: bytes) -> Spec | None:
    spec = COMMANDS.get(name)
    if spec is None:
        spec = COMMANDS.get(name.upper())
    return spec


def same_slot_keys(spec: Spec, argv: list[bytes]) -> list[bytes]:
    """The keys of a SAME_SLOT command; raises ValueError on a malformed numkeys."""
    k = spec.keys
    if k[0] == "numkeys":
        idx = k[1]
        n = int(argv[idx])
        if n < 0 or idx + 1 + n > len(argv):
            raise ValueError("Number of keys can't be greater than number of args")
        keys = argv[idx + 1 : idx + 1 + n]
        for pos in k[2:]:
            keys.append(argv[pos])
        return keys
    first, last, step = k
    end = len(argv) if last == -1 else min(last + 1, len(argv))
    return argv[first:end:step]
