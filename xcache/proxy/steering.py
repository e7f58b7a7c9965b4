"""Steer new connections among the first n sockets of a SO_REUSEPORT group (Linux cBPF).

The kernel keeps a group's listening sockets in an array in the order they called listen(), and
removing the last one leaves the others' positions alone. A classic BPF program attached with
SO_ATTACH_REUSEPORT_CBPF returns the array index that receives each new connection; ours returns
random % n, so sockets n.. stop receiving connections while they stay open (a draining worker
empties its accept queue before closing: closing a listener resets what is still queued on it).
"""

from __future__ import annotations

import ctypes
import socket
import struct

SO_ATTACH_REUSEPORT_CBPF = getattr(socket, "SO_ATTACH_REUSEPORT_CBPF", 51)
_SKF_AD_RANDOM = 0xFFFFF000 + 56  # SKF_AD_OFF + SKF_AD_RANDOM, as an unsigned 32-bit k
_LD_W_ABS, _ALU_MOD_K, _RET_A = 0x20, 0x94, 0x16


def program(n: int) -> list[tuple[int, int, int, int]]:
    """A = random(); A %= n; return A. Sans-IO, for tests."""
    if n < 1:
        raise ValueError("need at least one socket to steer to")
    return [(_LD_W_ABS, 0, 0, _SKF_AD_RANDOM), (_ALU_MOD_K, 0, 0, n), (_RET_A, 0, 0, 0)]


def steer(sock: socket.socket, n: int) -> bool:
    """Attach program(n) to sock's reuseport group; False where the kernel does not support it."""
    insns = program(n)
    buf = ctypes.create_string_buffer(b"".join(struct.pack("HBBI", *i) for i in insns))
    fprog = struct.pack("HL", len(insns), ctypes.addressof(buf))
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, fprog)
    except OSError:
        return False
    return True
