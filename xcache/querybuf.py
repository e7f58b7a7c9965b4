"""Redis 7.0's client query buffer, as clients see it: CLIENT LIST's qbuf-free (qbuf + qbuf-free
is the buffer's size).

The node parses requests from Python bytes, so nothing is allocated the way Redis does; this
keeps the figures Redis would show, because tools and Redis's own suite read them to check that
an idle client holds no buffer. Redis makes room for 16 KiB before each read (the first buffer
is 20,474 bytes: jemalloc's 20 KiB class less the sds header), grows it to what a big argument
needs, and its clients cron frees the buffer of a client idle over 2 s and trims one over 32 KiB
that is more than twice its latest peak (clientsCronResizeQueryBuffer).
"""

from __future__ import annotations

IOBUF = 16384  # PROTO_IOBUF_LEN
FIRST = 20474  # the first buffer's usable size
RESIZE_THRESHOLD = 32768  # PROTO_RESIZE_THRESHOLD
WASTE = 4096  # resized only if at least this much is free


def grow(c, before: int, after: int) -> None:
    """A read: `before` bytes were buffered, `after` are now. Called when the room was short."""
    c.qbuf_alloc = max(FIRST if not c.qbuf_alloc else before + IOBUF, after)


def cron(c, used: int, idle_s: float) -> None:
    """clientsCronResizeQueryBuffer for client c (used: bytes buffered now)."""
    if c.qbuf_alloc - used > WASTE:
        if idle_s > 2:
            c.qbuf_alloc = used
        elif c.qbuf_alloc > RESIZE_THRESHOLD and c.qbuf_alloc // 2 > c.qbuf_peak:
            c.qbuf_alloc = max(used, c.qbuf_peak)
    c.qbuf_peak = used
