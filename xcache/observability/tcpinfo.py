"""Linux TCP introspection: TCP_INFO of a socket, listen queue length, /proc/net/netstat counters.

Generic helpers: the proxy uses them at accept time and for metrics; other components may too.
On a LISTEN socket, Linux reports the current accept queue length in tcpi_unacked and the backlog
in tcpi_sacked.
"""

from __future__ import annotations

import socket
import struct
from typing import NamedTuple

TCP_INFO = getattr(socket, "TCP_INFO", 11)

# Kernel tcp states (include/net/tcp_states.h).
ESTABLISHED, SYN_SENT, SYN_RECV, FIN_WAIT1, FIN_WAIT2, TIME_WAIT = 1, 2, 3, 4, 5, 6
CLOSE, CLOSE_WAIT, LAST_ACK, LISTEN, CLOSING = 7, 8, 9, 10, 11

# struct tcp_info up to tcpi_last_ack_recv: 8 u8 fields, then 13 u32 fields.
_FMT = struct.Struct("=8B13I")


class TcpInfo(NamedTuple):
    state: int
    unacked: int
    sacked: int
    last_data_recv_ms: int


def tcp_info(sock: socket.socket) -> TcpInfo | None:
    """The fields we use from TCP_INFO; None where the platform has no TCP_INFO."""
    try:
        raw = sock.getsockopt(socket.IPPROTO_TCP, TCP_INFO, _FMT.size)
    except OSError:
        return None
    if len(raw) < _FMT.size:
        return None
    v = _FMT.unpack(raw)
    # v[8:] = rto, ato, snd_mss, rcv_mss, unacked, sacked, lost, retrans, fackets,
    #         last_data_sent, last_ack_sent, last_data_recv, last_ack_recv
    return TcpInfo(v[0], v[12], v[13], v[19])


def listen_queue(sock: socket.socket) -> tuple[int, int] | None:
    """(sockets waiting in the accept queue, backlog) of a listening socket."""
    info = tcp_info(sock)
    if info is None or info.state != LISTEN:
        return None
    return info.unacked, info.sacked


def netstat(path: str = "/proc/net/netstat") -> dict[str, int]:
    """TcpExt counters such as ListenOverflows and ListenDrops (machine-wide)."""
    out: dict[str, int] = {}
    try:
        with open(path) as fh:
            lines = fh.read().splitlines()
    except OSError:
        return out
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        prefix, _, names = names.partition(":")
        _, _, values = values.partition(":")
        for n, v in zip(names.split(), values.split(), strict=False):
            try:
                out[f"{prefix}.{n}"] = int(v)
            except ValueError:
                pass
    return out
