"""Regenerate xcache/store/data/redis7_*.json from a real redis-server 7 (dev-time only).

    python3 scripts/gen_redis_tables.py [PORT]

Stores what Redis 7 answers for COMMAND INFO, COMMAND DOCS and CONFIG GET *, with RESP3 types
kept (maps, sets, status strings), so the node can answer the same for the commands it serves.
"""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "xcache" / "store" / "data"


class Reader:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def line(self) -> bytes:
        while b"\r\n" not in self.buf:
            self.buf += self.sock.recv(1 << 20)
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def exact(self, n: int) -> bytes:
        while len(self.buf) < n + 2:
            self.buf += self.sock.recv(1 << 20)
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def reply(self):
        line = self.line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return {"$status": rest.decode()}
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            return self.exact(int(rest)).decode()
        if kind == b"=":
            return self.exact(int(rest)).decode()[4:]
        if kind == b"_":
            return None
        if kind == b"#":
            return {"$bool": rest == b"t"}
        if kind == b",":
            return {"$double": rest.decode()}
        if kind in (b"*", b"~", b">"):
            items = [self.reply() for _ in range(int(rest))]
            return items if kind == b"*" else {"$set": items}
        if kind == b"%":
            return {"$map": [self.reply() for _ in range(2 * int(rest))]}
        raise RuntimeError(f"unexpected {line!r}")


def ask(reader: Reader, *args: str):
    reader.sock.sendall(b"*%d\r\n" % len(args) + b"".join(
        b"$%d\r\n%s\r\n" % (len(a.encode()), a.encode()) for a in args))
    return reader.reply()


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 6379
    reader = Reader(socket.create_connection(("127.0.0.1", port)))
    hello = ask(reader, "HELLO", "3")
    version = dict(zip(hello["$map"][0::2], hello["$map"][1::2], strict=True))["version"]
    OUT.mkdir(exist_ok=True)
    info = ask(reader, "COMMAND", "INFO")
    docs = ask(reader, "COMMAND", "DOCS")
    config = ask(reader, "CONFIG", "GET", "*")["$map"]
    config = dict(sorted(zip(config[0::2], config[1::2], strict=True)))
    tables = {"commands": {"version": version, "info": sorted(info, key=lambda e: e[0])},
              "docs": {"version": version, "docs": docs},
              "config": {"version": version, "config": config}}
    for name, data in tables.items():
        path = OUT / f"redis7_{name}.json"
        path.write_text(json.dumps(data, separators=(",", ":"), sort_keys=False) + "\n")
        print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
