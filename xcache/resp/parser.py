"""RESP2 request and reply parsing.

RequestParser turns a byte stream from a client into commands (lists of bytes). It accepts
multibulk requests (what every client library sends) and inline commands (telnet style). It is
Redis's processMultibulkBuffer/processInlineBuffer state machine in Python, with Redis's limits and
error strings: every length header is checked before anything is done with it, and nothing is
ever reserved from a length the client announced (an argument list grows one received argument
at a time; a bulk is sliced out only once all its bytes are here). hiredis is not used for
requests directly: its reader allocates an array as soon as it reads its header
(`*2147483648` would reserve 16 GB). It serves only as a fast path for a chunk of complete
requests in which no array header announces more than 999 elements (see hiredis_safe), and any
chunk it does not parse exactly goes through the state machine.
"""

from __future__ import annotations

import re

import hiredis

MAX_INLINE_BYTES = 64 * 1024  # Redis's PROTO_INLINE_MAX_SIZE
DEFAULT_MAX_BULK_BYTES = 512 * 1024 * 1024  # Redis's proto-max-bulk-len
DEFAULT_MAX_MULTIBULK = 1024 * 1024
# Before AUTH, as Redis 7: at most 10 arguments of at most 16 KB each.
UNAUTH_MAX_MULTIBULK = 10
UNAUTH_MAX_BULK_BYTES = 16384


# A line that must not reach hiredis: an array header of more than 3 digits (hiredis allocates
# the array from its header), or a type hiredis would return as bytes where Redis wants '$'
# ('+x' is an argument to hiredis but "expected '$', got '+'" to Redis), or a RESP3 aggregate
# (a map whose key is an array even makes hiredis raise TypeError). Other types come back as
# non-bytes and send the chunk to the state machine anyway. Searched at every line start, bodies
# included: a false alarm (a value holding "\n+") only costs the slow path.
_UNSAFE = rb"(?:[+(=%~>|]|\*(?![0-9]{1,3}\r\n))"
_UNSAFE_FIRST = re.compile(_UNSAFE)
_UNSAFE_LINE = re.compile(rb"\n" + _UNSAFE)
_FENCE_VALUE = b"\xffxcache-fence\xfe"
_FENCE = b"*1\r\n$%d\r\n%b\r\n" % (len(_FENCE_VALUE), _FENCE_VALUE)


def hiredis_safe(data: bytes) -> bool:
    """Whether hiredis may parse data, fed to a fresh reader: no array announces more than 999
    elements, so what hiredis allocates is bounded by the bytes received (plus its 7 nesting
    levels of 8 KB), and no line is of a type hiredis would read differently from Redis."""
    return _UNSAFE_FIRST.match(data) is None and _UNSAFE_LINE.search(data) is None


class ProtocolError(Exception):
    """The client broke the protocol; answer '-ERR Protocol error: <msg>' and close."""


def parse_length(line: bytes) -> int | None:
    """Redis's string2ll on a length header: an optional '-', digits, no sign, space or leading
    zero; None if it is not one (at most 20 characters are ever converted)."""
    n = len(line)
    if n == 0 or n > 20:
        return None
    if n == 1:
        return line[0] - 48 if 48 <= line[0] <= 57 else None
    digits = line[1:] if line[0] == 45 else line
    if not digits.isdigit() or not digits.isascii() or digits[0] == 48:
        return None
    return int(line)


class RequestParser:
    """Incremental parser of client requests. feed() returns the complete commands received.

    `authenticated` (True by default) may be set False by a server with a password: until it is
    set back, requests are held to Redis's unauthenticated limits (10 arguments, 16 KB each) and
    feed() returns at most one command; the server calls feed(b"") for the next one after running
    it (so that an AUTH lifts the limits for the rest of a pipeline, as in Redis).
    """

    def __init__(self, max_bulk_bytes: int = DEFAULT_MAX_BULK_BYTES,
                 max_multibulk: int = DEFAULT_MAX_MULTIBULK):
        self.max_bulk = max_bulk_bytes
        self.max_multibulk = max_multibulk
        self.authenticated = True
        self._parts: list[bytes] = []  # unparsed input (one part, or a bulk body arriving)
        self._size = 0  # bytes in _parts
        self._need = 0  # _parts cannot be parsed further before holding this many bytes
        self._args: list | None = None  # arguments of the multibulk request in progress
        self._left = 0  # arguments still to read
        self._bulk = -1  # length of the bulk being read, -1 while reading its header
        self._failed = False  # a protocol error ended the stream
        self._paused = False  # _parse stopped after one command (unauthenticated)
        # hiredis reads what is only complete, well-formed multibulk requests (fenced_commands);
        # kept between reads: a reader left at a request boundary is as good as a new one
        self._reader = hiredis.Reader()

    def buffered(self) -> int:
        """Bytes received and not yet returned as a command."""
        return self._size

    def has_more(self) -> bool:
        """Whether feed(b"") may return more commands: the parser stopped after one command
        (unauthenticated) with more input buffered."""
        return self._paused and self._size > 0

    def idle(self) -> bool:
        """Whether the parser is between requests (nothing partial received)."""
        return not self._parts and self._args is None

    def feed(self, data: bytes) -> list:
        """Commands completed by data, in order.

        A protocol error ends the list as a ProtocolError instance (not raised), so that the
        commands received before it are still executed, as Redis does; the caller then answers
        the error and closes the connection. After an error the parser returns nothing more.
        """
        out: list = []
        if self._failed or not (data or self._parts):
            return out
        if self._parts:
            # Waiting for the rest of a bulk: keep the chunks, join them once it is all here
            # (joining at every chunk would copy a big value once per chunk). feed(b"") parses
            # what is buffered (after an unauthenticated client's command ran).
            if data:
                self._parts.append(data)
                self._size += len(data)
            if self._size < self._need:
                return out
            buf = b"".join(self._parts) if len(self._parts) > 1 else self._parts[0]
        else:
            if (data[0] == 42 and self._args is None and self.authenticated
                    and len(data) <= self.max_bulk and self.max_multibulk > 999
                    and hiredis_safe(data)):
                cmds = fenced_commands(self._reader, data, skip_empty=True)
                if cmds is not None:
                    return cmds
                self._reader = hiredis.Reader()  # left mid-reply: the state machine parses data
            buf = data
        try:
            pos = self._parse(buf, out)
        except ProtocolError as exc:
            # Drop the traceback: its frames hold the input and this parser, and the caller keeps
            # the error; a cycle through them would keep a big input alive until a full GC.
            out.append(exc.with_traceback(None))
            self._failed = True
            self._parts, self._size, self._args = [], 0, None
            return out
        rest = len(buf) - pos
        if rest:
            self._parts = [buf[pos:] if pos else buf]
            self._size = rest
            if self._paused:  # stopped after one command (unauthenticated): parse on when asked
                self._need = 0
            elif self._args is not None and self._bulk >= 0:
                self._need = self._bulk + 2
            else:
                self._need = rest + 1
        else:
            self._parts, self._size = [], 0
        return out

    def _parse(self, buf: bytes, out: list) -> int:
        # Locals instead of attributes in the loop; the state is written back on every return.
        self._paused = False
        pos, end = 0, len(buf)
        args, left, bulk = self._args, self._left, self._bulk
        max_bulk, max_multibulk = self.max_bulk, self.max_multibulk
        if not self.authenticated:
            max_bulk = min(max_bulk, UNAUTH_MAX_BULK_BYTES)
            max_multibulk = min(max_multibulk, UNAUTH_MAX_MULTIBULK)
        find = buf.find
        try:
            while pos < end:
                if args is None:
                    if buf[pos] != 42:  # not '*': inline command
                        pos = self._inline(buf, pos, out)
                        if pos < 0:
                            return -pos - 1
                        if out and not self.authenticated:
                            self._paused = True
                            return pos
                        continue
                    cr = find(b"\r", pos)
                    if cr < 0 or cr + 2 > end:
                        if cr < 0 and end - pos > MAX_INLINE_BYTES:
                            raise ProtocolError("too big mbulk count string")
                        return pos
                    line = buf[pos + 1 : cr]
                    count = int(line) if line.isdigit() and line[0] != 48 and len(line) < 12 \
                        else parse_length(line)
                    if count is None or count > max_multibulk:
                        if count is not None and count <= self.max_multibulk:
                            raise ProtocolError("unauthenticated multibulk length")
                        raise ProtocolError("invalid multibulk length")
                    pos = cr + 2
                    if count <= 0:
                        continue
                    args, left, bulk = [], count, -1
                while left:
                    if bulk < 0:
                        cr = find(b"\r", pos)
                        if cr < 0 or cr + 2 > end:
                            if cr < 0 and end - pos > MAX_INLINE_BYTES:
                                raise ProtocolError("too big bulk count string")
                            return pos
                        if buf[pos] != 36:  # '$'
                            got = buf[pos : pos + 1].replace(b"\n", b" ").decode("latin-1")
                            raise ProtocolError(f"expected '$', got '{got}'")
                        line = buf[pos + 1 : cr]
                        bulk = int(line) if line.isdigit() and line[0] != 48 and len(line) < 12 \
                            else parse_length(line)
                        if bulk is None or bulk < 0 or bulk > max_bulk:
                            if bulk is not None and 0 <= bulk <= self.max_bulk:
                                raise ProtocolError("unauthenticated bulk length")
                            raise ProtocolError("invalid bulk length")
                        pos = cr + 2
                    if end - pos < bulk + 2:
                        return pos
                    args.append(buf[pos : pos + bulk])
                    pos += bulk + 2
                    bulk = -1
                    left -= 1
                out.append(args)
                args = None
                if not self.authenticated:
                    self._paused = True
                    return pos  # one at a time: the command may be the AUTH that lifts the limits
            return pos
        finally:
            self._args, self._left, self._bulk = args, left, bulk

    def _inline(self, buf: bytes, pos: int, out: list) -> int:
        """Parse one inline command at pos; return the position after it, or -pos-1 if its
        line is not complete yet."""
        nl = buf.find(b"\n", pos)
        if nl < 0:
            if len(buf) - pos > MAX_INLINE_BYTES:
                raise ProtocolError("too big inline request")
            return -pos - 1
        line = buf[pos:nl]
        if line.endswith(b"\r"):
            line = line[:-1]
        args = split_inline(line)
        if args:
            out.append(args)
        return nl + 1


def fenced_commands(reader, data: bytes, skip_empty: bool) -> list | None:
    """The commands in data if it holds only complete multibulk requests of bulk strings, read by
    a hiredis reader and followed by a fence of our own that comes back last only if data ended
    at a request boundary; None for anything else (then the reader holds a partial state and must
    be replaced). An empty request (*0) is skipped, or with skip_empty=False makes it None."""
    reader.feed(data)
    reader.feed(_FENCE)
    out = []
    gets = reader.gets
    try:
        cmd = gets()
        while cmd is not False:
            if type(cmd) is not list:
                return None
            for a in cmd:
                if type(a) is not bytes:
                    return None
            if cmd:
                out.append(cmd)
            elif not skip_empty:
                return None
            cmd = gets()
    except Exception:  # noqa: BLE001 - whatever hiredis makes of it, the state machine decides
        return None
    fence = out.pop() if out else None
    if fence is None or len(fence) != 1 or fence[0] != _FENCE_VALUE:
        return None
    return out


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
        quote = line[i]
        if quote == 34 or quote == 39:  # "..." takes \n and \xHH escapes, '...' only \'
            i += 1
            while True:
                if i >= n:
                    raise ProtocolError("unbalanced quotes in request")
                c = line[i]
                if quote == 34 and c == 92 and i + 3 < n and line[i + 1] == 120 \
                        and _is_hex(line[i + 2 : i + 4]):
                    cur.append(int(line[i + 2 : i + 4], 16))
                    i += 4
                elif quote == 34 and c == 92 and i + 1 < n:
                    cur.append(_ESCAPES.get(line[i + 1], line[i + 1]))
                    i += 2
                elif c == 92 and i + 1 < n and line[i + 1] == 39:
                    cur.append(39)
                    i += 2
                elif c == quote:
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
