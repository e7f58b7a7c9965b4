"""Raw replies and `<CMD> HELP` lines, for the tests comparing HELP with redis-server (node and
proxy): Redis 7.0 answers HELP with an array of status lines, grouped per subcommand."""

from __future__ import annotations

import re
import socket

import hiredis

from xcache.resp import encode_command

# values for the placeholders of a help line, to call the subcommand it advertises
SAMPLES = {"<category>": "string", "<username>": "no-such-user", "<command>": "get",
           "<bits>": "64", "<attribute>": "no-such-attribute", "<sha1>": "0" * 40,
           "<message>": "help-test", "<key>": "no-such-key", "<0|1>": "1", "<size>": "0",
           "<seconds>": "0", "<NEVER||RESET|time>": "NEVER"}


def raw(port: int, *argv: str, proto: int = 2) -> bytes:
    """The raw bytes of argv's reply on a new connection speaking RESP<proto>."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        if proto == 3:
            _exchange(s, ["HELLO", "3"])
        return _exchange(s, argv)


_INCOMPLETE = object()  # hiredis's "not enough data" (its default, False, is also RESP3's #f)


def _exchange(s: socket.socket, argv) -> bytes:
    s.sendall(encode_command(*[a.encode() for a in argv]))
    reader, data = hiredis.Reader(notEnoughData=_INCOMPLETE), b""
    while True:
        chunk = s.recv(65536)
        assert chunk, data
        data += chunk
        reader.feed(chunk)
        if reader.gets() is not _INCOMPLETE:
            return data


def status_lines(reply: bytes) -> list[str]:
    """The lines of an array of status replies (and nothing else)."""
    m = re.fullmatch(rb"\*(\d+)\r\n((?:\+[^\r\n]*\r\n)*)", reply)
    assert m, reply[:200]
    lines = [line[1:].decode() for line in m.group(2).split(b"\r\n")[:-1]]
    assert len(lines) == int(m.group(1))
    return lines


def entries(lines: list[str]) -> list[tuple[str, ...]]:
    """Help lines grouped per subcommand: its line and the indented ones describing it."""
    out: list[list[str]] = []
    for line in lines:
        if line.startswith(" "):
            out[-1].append(line)
        else:
            out.append([line])
    return [tuple(e) for e in out]


def call_of(line: str) -> list[str]:
    """A call of the subcommand a help line advertises: optional parts dropped, placeholders
    given sample values."""
    words = re.findall(r"<[^>]*>|\S+", re.sub(r"\[[^]]*\]", "", line))
    return [SAMPLES.get(w, "x" if w.startswith("<") else w) for w in words]
