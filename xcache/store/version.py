"""What the node says it is (INFO, HELLO, LOLWUT, scripts) and its resident memory."""

from __future__ import annotations

import os
import resource

REDIS_VERSION = "7.0.15"  # the Redis feature level the command set follows
XCACHE_VERSION = "0.1.0"


def rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
