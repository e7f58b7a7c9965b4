"""Child processes that die with their parent: `xcache up`'s supervised children, the incident
drill's proxies, backends and client processes. No orphan survives a kill -9 of the parent."""

from __future__ import annotations

import ctypes
import os
import signal

PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int):
    """preexec_fn: SIGTERM when the parent dies; exit at once if it already has."""
    libc = ctypes.CDLL(None, use_errno=True)

    def preexec() -> None:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent_pid:
            os._exit(1)
    return preexec
