"""A client chunk's requests, parsed fast when the chunk holds exactly whole requests (so it can be
forwarded byte for byte), else by the request parser with Redis's exact errors and limits."""

from __future__ import annotations

import hiredis

from xcache.resp import ProtocolError, RequestParser
from xcache.resp.parser import fenced_commands, hiredis_safe


class ChunkParser:
    """Requests of one client chunk, and whether the chunk holds exactly those requests.

    Fast path: a chunk that starts a request while nothing is buffered is parsed by hiredis alone,
    followed by a fence (a request of our own). The fence comes back as the last reply only if the
    chunk ended exactly at a request boundary (a partial request would swallow part of it). Then
    the chunk is "clean": it can be forwarded byte for byte. Anything else (a partial request,
    inline commands, bad input) goes to RequestParser, which has Redis's exact errors and limits.
    """

    def __init__(self, max_bulk: int, max_multibulk: int):
        self.slow = RequestParser(max_bulk, max_multibulk)
        self.reader = hiredis.Reader()
        # A chunk shorter than both limits cannot hold an oversize request.
        self.fast_max = min(max_bulk, max_multibulk)

    def feed(self, data: bytes) -> tuple[list, bool]:
        slow = self.slow
        # hiredis_safe: hiredis reserves an array from its header; only chunks in which no header
        # announces more than 999 elements may reach it.
        if data and data[0] == 42 and len(data) < self.fast_max and slow.idle() \
                and slow.authenticated and hiredis_safe(data):
            cmds = self._fast(data)
            if cmds is not None:
                return cmds, True
        try:
            return slow.feed(data), False
        except ProtocolError as exc:  # older parsers raise; newer ones end the list with the error
            return [exc], False

    def _fast(self, data: bytes) -> list | None:
        out = fenced_commands(self.reader, data, skip_empty=False)
        if out is None:  # hiredis's verdict on odd input: take the slow path with a fresh reader
            self.reader = hiredis.Reader()
        return out
