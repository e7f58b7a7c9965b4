"""Send every command Redis 7.0 has, with the same argument patterns, to a reference server and
to one under test, and print each reply that differs (a differential sweep of argument checks).

    redis-server --port 7394 --save '' &
    xcache server --port 7393 &            # or a proxy in front of one node
    python scripts/command_sweep.py 7394 7393 [name-prefix] [--resp3]

Before each command both servers are flushed and given the same keys: k1 (string), l (list),
h (hash), z (zset), s (set), st (stream). Commands that stop, block a server, change its role or
depend on time and randomness are left out; the rest must answer the same bytes.
"""

from __future__ import annotations

import socket
import sys

import redis

SKIPPED = {
    "shutdown", "debug", "monitor", "subscribe", "psubscribe", "ssubscribe", "sync", "psync",
    "quit", "reset", "failover", "replicaof", "slaveof", "save", "bgsave", "bgrewriteaof",
    "client", "multi", "exec", "discard", "watch", "hello", "auth", "select", "readonly",
    "readwrite", "asking", "cluster", "swapdb", "move", "flushall", "flushdb",
}
# Replies that depend on time, randomness, memory or the server's history.
NOISY = {
    "time", "lastsave", "info", "lolwut", "memory", "latency", "slowlog", "randomkey", "command",
    "acl|genpass", "acl|log", "object|idletime", "object|freq", "dbsize", "spop", "srandmember",
    "hrandfield", "zrandmember", "xadd", "xautoclaim", "xclaim", "xinfo", "xpending",
    "script|help", "module|help", "config|get", "restore", "dump", "pfdebug", "pfselftest",
}
SETUP = [[b"FLUSHALL"], [b"SET", b"k1", b"v"], [b"RPUSH", b"l", b"a", b"b"],
         [b"HSET", b"h", b"f", b"1"], [b"ZADD", b"z", b"1", b"m"], [b"SADD", b"s", b"m"],
         [b"XADD", b"st", b"1-1", b"f", b"v"]]
KEYS = [b"k1", b"l", b"h", b"z", b"s", b"st", b"nokey"]
PATTERNS = [lambda k: [k, b"x", b"y", b"z"], lambda k: [k, b"0", b"-1"], lambda k: [k, b"1"],
            lambda k: [k, b"l", b"1", b"2", b"3"], lambda k: [k]]
END = b"$7\r\n__end__\r\n"


def encode(argv: list[bytes]) -> bytes:
    return b"*%d\r\n" % len(argv) + b"".join(b"$%d\r\n%b\r\n" % (len(a), a) for a in argv)


class Target:
    def __init__(self, port: int, resp3: bool = False):
        self.port = port
        self.resp3 = resp3
        self.sock: socket.socket | None = None

    def reply(self, argv: list[bytes]) -> bytes:
        """The reply to argv alone, after the set-up (whose replies are dropped)."""
        if self.sock is None:
            self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=3)
            if self.resp3:  # HELLO's reply (server-specific: id...) is read and dropped
                self.sock.sendall(encode([b"HELLO", b"3"]) + encode([b"PING", b"__end__"]))
                got = b""
                while not got.endswith(END):
                    got += self.sock.recv(65536)
        self.sock.sendall(b"".join(encode(c) for c in SETUP) + encode(argv)
                          + encode([b"PING", b"__end__"]))
        got = b""
        try:
            while not got.endswith(END):
                chunk = self.sock.recv(65536)
                if not chunk:
                    self.sock = None
                    return got + b"<closed>"
                got += chunk
        except OSError:
            self.sock.close()
            self.sock = None
            return got + b"<timeout>"
        start = got.find(b"1-1\r\n") + len(b"1-1\r\n")  # after XADD's reply, the last set-up one
        return got[start:-len(END)]


def main() -> None:
    args = [a for a in sys.argv[1:] if a != "--resp3"]
    resp3 = "--resp3" in sys.argv
    reference, tested = Target(int(args[0]), resp3), Target(int(args[1]), resp3)
    prefix = args[2] if len(args) > 2 else ""
    names = sorted(n if isinstance(n, str) else n.decode()
                   for n in redis.Redis(port=reference.port).command_list())
    differences = 0
    for name in names:
        container = name.split("|")[0]
        if container in SKIPPED or name in NOISY or container in NOISY or not name.startswith(prefix):
            continue
        base = [part.encode() for part in name.split("|")]
        for argv in [base] + [base + pattern(k) for pattern in PATTERNS for k in KEYS]:
            expected, got = reference.reply(argv), tested.reply(argv)
            if expected != got:
                differences += 1
                print(b" ".join(argv).decode(errors="replace"), expected[:160], got[:160])
    print("differences", differences)


if __name__ == "__main__":
    main()
