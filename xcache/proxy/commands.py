"""Command classification (sans-IO): how the proxy handles each command name.

kinds:
  LOCAL      answered by the proxy itself (AUTH, PING, ECHO, SELECT, QUIT, INFO, ...)
  KEY        one key at argv[1]: forwarded to the owner of its slot
  SPLIT      multi-key commands split per group and merged in order (MGET, MSET, DEL, ...)
  SAME_SLOT  several keys that must share one group (any slots of it); forwarded as is
  DENY       cannot work through a proxy: a clear -ERR naming the command
  TXN        MULTI/EXEC/DISCARD/WATCH/UNWATCH (txn.py)
  BLOCK      blocking commands: a dedicated backend connection while blocked (blocking.py)
  PUBSUB     (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, PUBSUB (pubsub.py)
  FANOUT     whole-keyspace and server commands answered from every group (keyspace.py)
"""

from __future__ import annotations

from xcache.commandarity import ARITY, CONTAINERS
from xcache.numbers import string2ll

LOCAL, KEY, SPLIT, SAME_SLOT, DENY, TXN, BLOCK, PUBSUB, FANOUT = range(9)


class Spec:
    __slots__ = ("name", "kind", "readonly", "min_args", "keys", "reason", "lname", "arity",
                 "container")

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
        # Redis's own arity (0: a command Redis 7.0 does not have); a container's subcommands
        # are checked in lookup_error().
        self.arity = ARITY.get(self.lname, 0)
        self.container = self.lname in CONTAINERS


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
geoadd xadd xdel xtrim xack xclaim xautoclaim xpending restore restore-asking
publish spublish xsetid""".split()

_NODE = "administers one backend node: run it on the node itself"
_DENY = {
    "shutdown": "stops a backend node",
    "slaveof": _NODE,
    "replicaof": _NODE, "sync": _NODE, "psync": _NODE, "acl": _NODE,
    "failover": _NODE, "replconf": _NODE,
    "cluster": "the proxy is not a cluster node", "asking": "the proxy is not a cluster node",
    "migrate": "moves keys between nodes; the dashboard migrates slots",
    "move": "the proxy has one database", "swapdb": "the proxy has one database",
    "readonly": "the proxy picks replicas itself (read_from_replicas)",
    "readwrite": "the proxy picks replicas itself (read_from_replicas)",
    "wait": "replication acknowledgements are per backend node",
    "waitaof": "persistence acknowledgements are per backend node",
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
    "object": (True, 2, (2, 2, 1)), "pfdebug": (False, 3, (2, 2, 1)), "xinfo": (True, 2, (2, 2, 1)), "xgroup": (False, 2, (2, 2, 1)),
    "fcall": (False, 3, ("numkeys", 2)), "fcall_ro": (True, 3, ("numkeys", 2)),
    "sintercard": (True, 3, ("numkeys", 1)), "lmpop": (False, 4, ("numkeys", 1)),
    "zmpop": (False, 4, ("numkeys", 1)), "zintercard": (True, 3, ("numkeys", 1)),
    # the key, and the destination after STORE/STOREDIST
    "sort": (False, 2, ("store",)), "georadius": (False, 6, ("store",)),
    "georadiusbymember": (False, 5, ("store",)),
}

# Blocking commands: (readonly, min_args, keys) as for SAME_SLOT. XREAD/XREADGROUP block only
# with BLOCK; without it they are forwarded like SAME_SLOT commands.
_BLOCK = {
    "blpop": (False, 3, (1, -2, 1)), "brpop": (False, 3, (1, -2, 1)),
    "bzpopmin": (False, 3, (1, -2, 1)), "bzpopmax": (False, 3, (1, -2, 1)),
    "brpoplpush": (False, 4, (1, 2, 1)), "blmove": (False, 6, (1, 2, 1)),
    "blmpop": (False, 5, ("numkeys", 2)), "bzmpop": (False, 5, ("numkeys", 2)),
    "xread": (True, 4, ("streams",)), "xreadgroup": (False, 7, ("streams",)),
}

_TXN = {"multi": 1, "exec": 1, "discard": 1, "watch": 2, "unwatch": 1}
_PUBSUB = {"subscribe": 2, "psubscribe": 2, "ssubscribe": 2, "unsubscribe": 1, "punsubscribe": 1,
           "sunsubscribe": 1, "pubsub": 2}
# name: (readonly, min_args)
_FANOUT = {"scan": (True, 2), "dbsize": (True, 1), "randomkey": (True, 1), "keys": (True, 2),
           "flushdb": (False, 1), "flushall": (False, 1), "info": (True, 1), "config": (True, 2),
           "command": (True, 1), "lolwut": (True, 1), "script": (False, 2), "function": (False, 2),
           "memory": (True, 2), "slowlog": (True, 2), "latency": (True, 2), "module": (True, 2),
           "lastsave": (True, 1), "bgsave": (True, 1), "bgrewriteaof": (True, 1),
           "save": (True, 1), "pfselftest": (True, 1), "monitor": (True, 1), "debug": (False, 2)}

_SPLIT = {"mget": True, "exists": True, "touch": True, "del": False, "unlink": False, "mset": False}

_LOCAL = ["auth", "ping", "echo", "select", "quit", "client", "hello", "reset", "time", "role", "acl"]


def _build() -> dict[bytes, Spec]:
    specs: list[Spec] = []
    specs += [Spec(n.upper(), KEY, True) for n in _READ_KEY]
    specs += [Spec(n.upper(), KEY, False) for n in _WRITE_KEY]
    specs += [Spec(n.upper(), DENY, False, 1, reason=r) for n, r in _DENY.items()]
    specs += [Spec(n.upper(), SAME_SLOT, ro, m, keys=k) for n, (ro, m, k) in _SAME_SLOT.items()]
    specs += [Spec(n.upper(), SPLIT, ro, 3 if n == "mset" else 2) for n, ro in _SPLIT.items()]
    specs += [Spec(n.upper(), LOCAL, True, 1) for n in _LOCAL]
    specs += [Spec(n.upper(), BLOCK, ro, m, keys=k) for n, (ro, m, k) in _BLOCK.items()]
    specs += [Spec(n.upper(), TXN, False, m) for n, m in _TXN.items()]
    specs += [Spec(n.upper(), PUBSUB, True, m) for n, m in _PUBSUB.items()]
    specs += [Spec(n.upper(), FANOUT, ro, m) for n, (ro, m) in _FANOUT.items()]
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


# Redis 7.2's CLIENT subcommands that client libraries send when they connect; served here.
_SUBCOMMAND_ARITY = {**ARITY, "client|setinfo": 4, "client|no-touch": 3}


def lookup_error(spec: Spec, argv: list[bytes]) -> str | None:
    """Redis's lookup errors (processCommand), checked before NOAUTH and ACL as Redis does: an
    unknown subcommand of a container command, then the wrong number of arguments."""
    n = len(argv)
    arity, full = spec.arity, spec.lname
    if spec.container and n > 1:
        sub = argv[1].decode(errors="replace")
        full = f"{spec.lname}|{sub.lower()}"
        arity = _SUBCOMMAND_ARITY.get(full, 0)
        if not arity:
            return f"ERR unknown subcommand '{sub[:128]}'. Try {spec.name} HELP."
    if (arity > 0 and n != arity) or n < -arity:
        return f"ERR wrong number of arguments for '{full}' command"
    return None


def command_keys(spec: Spec, argv: list[bytes]) -> list[bytes]:
    """The keys of any command ([] for those without); raises ValueError on a malformed
    numkeys (same_slot_keys)."""
    kind = spec.kind
    if kind == KEY:
        return argv[1:2]
    if kind == SPLIT:
        return argv[1::2] if spec.name == "MSET" else argv[1:]
    if kind in (SAME_SLOT, BLOCK):
        return same_slot_keys(spec, argv)
    return []


def same_slot_keys(spec: Spec, argv: list[bytes]) -> list[bytes]:
    """The keys of a SAME_SLOT command; raises ValueError on a malformed numkeys."""
    k = spec.keys
    if k[0] == "streams":  # XREAD/XREADGROUP: ... STREAMS key... id...
        for i in range(1, len(argv)):
            if argv[i].upper() == b"STREAMS":
                rest = argv[i + 1 :]
                if not rest or len(rest) % 2:
                    raise ValueError("Unbalanced 'xread' list of streams: for each stream key an ID "
                                     "or '$' must be specified.")
                return rest[: len(rest) // 2]
        raise ValueError("syntax error")
    if k[0] == "store":  # SORT, GEORADIUS: key ... [STORE|STOREDIST dest]
        keys = argv[1:2]
        for i in range(2, len(argv) - 1):
            if argv[i].upper() in (b"STORE", b"STOREDIST"):
                keys.append(argv[i + 1])
        return keys
    if k[0] == "numkeys":
        idx = k[1]
        n = string2ll(argv[idx])
        if n is None:
            raise ValueError("value is not an integer or out of range")
        if n < 0 or idx + 1 + n > len(argv):
            raise ValueError("Number of keys can't be greater than number of args")
        keys = argv[idx + 1 : idx + 1 + n]
        for pos in k[2:]:
            keys.append(argv[pos])
        return keys
    first, last, step = k
    end = len(argv) + 1 + last if last < 0 else min(last + 1, len(argv))
    return argv[first:end:step]
