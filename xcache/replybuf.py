"""Redis 7.0's client reply buffer, as clients see it: CLIENT LIST's rbs (its size) and rbp (its
peak since the last reset), and INFO's reply_buffer_shrinks / reply_buffer_expands.

The node writes replies straight to its transport, so nothing is allocated the way Redis does;
this keeps the figures Redis would show, as tools and Redis's own suite read them. A client starts
with a 16 KiB buffer; what one write fills of it is its peak; every clients-cron visit halves it
toward the peak when the peak is under half of it (not below 1 KiB), or doubles it (up to 16 KiB)
when a write filled it; the peak resets every `peak-reset-time` ms (DEBUG REPLYBUFFER).
(clientsCronResizeOutputBuffer, _addReplyToBuffer.)
"""

from __future__ import annotations

CHUNK = 16384  # PROTO_REPLY_CHUNK_BYTES: the first buffer, and the most it grows to
MIN = 1024  # PROTO_REPLY_MIN_BYTES
DEFAULT_PEAK_RESET_MS = 5000  # REPLY_BUFFER_DEFAULT_PEAK_RESET_TIME


def usable(size: int) -> int:
    """jemalloc's size class for size (>= 128 bytes): four classes per doubling."""
    lg = (size - 1).bit_length() - 1
    delta = 1 << max(lg - 2, 4)
    return -(-size // delta) * delta


class Settings:
    """DEBUG REPLYBUFFER's knobs, per node (server.reply_buffer_*)."""

    def __init__(self):
        self.peak_reset_ms = DEFAULT_PEAK_RESET_MS  # -1: never
        self.resizing = True
        self.shrinks = 0
        self.expands = 0


def wrote(c, n: int) -> None:
    """A write of n reply bytes: the part the buffer holds is its peak if larger."""
    held = n if n < c.rbuf_size else c.rbuf_size
    if held > c.rbuf_peak:
        c.rbuf_peak = held


def cron(c, settings: Settings, now_ms: int) -> None:
    """clientsCronResizeOutputBuffer for client c (idle now: nothing buffered)."""
    if not settings.resizing:
        return
    size, new = c.rbuf_size, 0
    if size // 2 >= MIN and c.rbuf_peak < size // 2:
        new = max(MIN, c.rbuf_peak + 1)
        settings.shrinks += 1
    elif size * 2 < CHUNK * 2 and c.rbuf_peak == size:
        new = min(CHUNK, size * 2)
        settings.expands += 1
    if settings.peak_reset_ms >= 0 and now_ms - c.rbuf_peak_reset >= settings.peak_reset_ms:
        c.rbuf_peak = 0
        c.rbuf_peak_reset = now_ms
    if new:
        c.rbuf_size = usable(new)
