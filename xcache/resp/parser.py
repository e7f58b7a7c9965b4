"""RESP2 request and reply parsing on top of hiredis.

RequestParser turns a byte stream from a client into commands (lists of bytes). It accepts
multibulk requests (what every client library sends) and inline commands (telnet style), and
enforces Redis's request limits with Redis's error strings, checking headers of a partially
received request as they arrive, so an oversize request is refused before its body is buffered.
"""

from __future__ import annotations

import hiredis

MAX_INLINE_BYTES = 64 * 1024


class ProtocolError(Exception):
    """The client broke the protocol; answer '-ERR Protocol error: <msg>' and close."""


def _encoded_len(cmd: list) -> int:
    n = len(str(len(cmd))) + 3
    for a in cmd:
        size = len(a)
        n += size + (6 if size < 10 else 7 if size < 100 else len(str(size)) + 5)
    return n


class _PartialRequestCheck:
    """Walks the headers of a request still being received; skips bulk bodies without storing."""

    __slots__ = ("max_bulk", "max_multibulk", "line", "args_left", "skip", "seen")

    def __init__(self, max_bulk: int, max_multibulk: int):
        self.max_bulk = max_bulk
        self.max_multibulk = max_multibulk
        self.line = b""
        self.args_left: int | None = None
        self.skip = 0
        self.seen = 0

    def feed(self, data: bytes) -> None:
        i, end = 0, len(data)
        self.seen += end
        while i < end:
            if self.skip:
                take = min(self.skip, end - i)
                i += take
                self.skip -= take
                continue
            nl = data.find(b"\n", i)
            if nl < 0:
                self.line += data[i:]
                if len(self.line) > MAX_INLINE_BYTES:
                    raise ProtocolError("too big mbulk count string" if self.args_left is None else "too big bulk count string")
                return
            line = self.line + data[i:nl]
            self.line = b""
            i = nl + 1
            try:
                value = int(line[1:].strip())
            except ValueError:
                value = -1
            if self.args_left is None:
                if value > self.max_multibulk:
                    raise ProtocolError("invalid multibulk length")
                self.args_left = value
            else:
                if value < 0 or value > self.max_bulk:
                    raise ProtocolError("invalid bulk length")
                self.skip = value + 2
                self.args_left -= 1


class RequestParser:
    """Incremental parser of client requests. feed() returns the complete commands received."""

    def __init__(self, max_bulk_bytes: int = 512 * 1024 * 1024, max_multibulk: int = 1024 * 1024):
        self.max_bulk = max_bulk_bytes
        self.max_multibulk = max_multibulk
        self._reader = hiredis.Reader()
        self._partial: _PartialRequestCheck | None = None
        self._pending = 0
        self._inline = b""

    def feed(self, data: bytes) -> list:
        """Commands completed by data, in order.

        A protocol error ends the list as a ProtocolError instance (not raised), so that the
        commands received before it are still executed, as Redis does; the caller then answers
        the error and closes the connection.
        """
        out: list = []
        try:
            self._feed(data, out)
        except ProtocolError as exc:
            out.append(exc)
        return out

    def _feed(self, data: bytes, out: list) -> None:
        if not self._pending:
            data = self._parse_inline(data, out)
            if not data:
                return
        reader = self._reader
        reader.feed(data)
        # Bytes given to hiredis and not yet returned as a command: hiredis does not say whether it
        # holds a partial request, so count it ourselves.
        pending = self._pending + len(data)
        # Only a large input can hold an oversize argument: check sizes only then.
        check_sizes = pending > self.max_bulk or pending > self.max_multibulk
        completed = False
        gets = reader.gets
        while True:
            try:
                cmd = gets()
            except hiredis.ProtocolError as exc:
                raise ProtocolError(_translate(str(exc))) from None
            if cmd is False:
                break
            completed = True
            if type(cmd) is not list:
                if cmd is None:  # '*-1': ignored, as Redis does
                    pending -= 5
                    continue
                raise ProtocolError("expected '*', got something else")
            for arg in cmd:
                if type(arg) is not bytes:
                    raise ProtocolError(_unexpected(arg))
            if check_sizes:
                if len(cmd) > self.max_multibulk:
                    raise ProtocolError("invalid multibulk length")
                if any(len(a) > self.max_bulk for a in cmd):
                    raise ProtocolError("invalid bulk length")
            pending -= _encoded_len(cmd)
            if cmd:
                out.append(cmd)
        self._pending = pending
        if pending <= 0:
            self._pending = 0
            self._partial = None
        elif completed or self._partial is None:
            self._partial = _PartialRequestCheck(self.max_bulk, self.max_multibulk)
            self._partial.feed(data[-pending:] if pending < len(data) else data)
        else:
            self._partial.feed(data)

    def _parse_inline(self, data: bytes, out: list) -> bytes:
        """Consume inline commands at the front of data; return what is left for hiredis."""
        if self._inline:
            data = self._inline + data
            self._inline = b""
        pos, end = 0, len(data)
        while pos < end and data[pos] != 42:  # '*'
            nl = data.find(b"\n", pos)
            if nl < 0:
                if end - pos > MAX_INLINE_BYTES:
                    raise ProtocolError("too big inline request")
                self._inline = data[pos:]
                return b""
            if nl - pos > MAX_INLINE_BYTES:
                raise ProtocolError("too big inline request")
            args = split_inline(data[pos:nl].rstrip(b"\r"))
            if args:
                out.append(args)
            pos = nl + 1
        return data[pos:] if pos else data


def _unexpected(arg) -> str:
    if type(arg) is int:
        return "expected '$', got ':'"
    if type(arg) is list:
        return "expected '$', got '*'"
    if arg is None:
        return "invalid bulk length"
    return "expected '$', got something else"


def _translate(msg: str) -> str:
    low = msg.lower()
    if "multi-bulk length" in low or "multibulk" in low:
        return "invalid multibulk length"
    if "bulk" in low:
        return "invalid bulk length"
    if "reply type byte" in low:
        return "expected '$', got " + msg.split("got", 1)[-1].split("as")[0].strip()
    return msg


_ESCAPES = {ord("n"): 10, ord("r"): 13, ord("t"): 9, ord("b"): 8, ord("a"): 7}


def split_inline(line: bytes) -> list[bytes]:
    """Split an inline command like Redis's sdssplitargs: spaces, "double" and 'single' quotes."""
    args: list[bytes] = []
    i, n = 0, len(line)
    while True:
        while i < n and line[i] in b" \t":
            i += 1
        if i >= n:
            return args
        cur = bytearray()
        if line[i] == 34:  # "
            i += 1
            while True:
                if i >= n:
                    raise ProtocolError("unbalanced quotes in request")
                c = line[i]
                if c == 92 and i + 3 < n and line[i + 1] == 120 and _is_hex(line[i + 2 : i + 4]):
                    cur.append(int(line[i + 2 : i + 4], 16))
                    i += 4
                elif c == 92 and i + 1 < n:
                    cur.append(_ESCAPES.get(line[i + 1], line[i + 1]))
                    i += 2
                elif c == 34:
                    i += 1
                    if i < n and line[i] not in b" \t":
                        raise ProtocolError("unbalanced quotes in request")
                    break
                else:
                    cur.append(c)
                    i += 1
        elif line[i] == 39:  # '
            i += 1
            while True:
                if i >= n:
                    raise ProtocolError("unbalanced quotes in request")
                c = line[i]
                if c == 92 and i + 1 < n and line[i + 1] == 39:
                    cur.append(39)
                    i += 2
                elif c == 39:
                    i += 1
                    if i < n and line[i] not in b" \t":
                        raise ProtocolError("unbalanced quotes in request")
                    break
                else:
                    cur.append(c)
                    i += 1
        else:
            while i < n and line[i] not in b" \t":
                cur.append(line[i])
                i += 1
        args.append(bytes(cur))


def _is_hex(b: bytes) -> bool:
    return len(b) == 2 and all(c in b"0123456789abcdefABCDEF" for c in b)


class ReplyParser:
    """Parses replies from a Redis server (used by the proxy, sentinel and replication clients).

    Error replies come back as hiredis.ReplyError instances (not raised).
    """

    def __init__(self):
        self._reader = hiredis.Reader()

    def feed(self, data: bytes) -> list:
        self._reader.feed(data)
        out = []
        gets = self._reader.gets
        while True:
            reply = gets()
            if reply is False:
                return out
            out.append(reply)
