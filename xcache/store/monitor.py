"""MONITOR: stream every command the node runs to the monitoring clients, as Redis 7 formats it
(`+<unix time.usec> [<db> <addr>] "cmd" "arg"...`). Admin commands and those flagged
skip_monitor are not shown (as Redis)."""

from __future__ import annotations

import time

from xcache.observability.slowlog import redacted
from xcache.resp import OK, Error
from xcache.store.commands import command

_ESCAPES = {ord("\\"): b"\\\\", ord('"'): b'\\"', ord("\n"): b"\\n", ord("\r"): b"\\r",
            ord("\t"): b"\\t", 7: b"\\a", 8: b"\\b"}


def quote(arg: bytes) -> bytes:
    """Redis's sdscatrepr."""
    out = bytearray(b'"')
    for ch in arg:
        esc = _ESCAPES.get(ch)
        if esc is not None:
            out += esc
        elif 32 <= ch < 127:
            out.append(ch)
        else:
            out += b"\\x%02x" % ch
    out += b'"'
    return bytes(out)


# Flagged skip_monitor, but Redis feeds them itself before their script runs (evalCommand,
# fcallCommand...), so that the commands the script calls (`[0 lua]`) come after them.
_SHOWN_BEFORE_RUNNING = frozenset({"eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro"})


def feed(server, c, cmd, argv: list[bytes]) -> None:
    """A command about to run. EXEC is shown after the commands it runs (exec_done), as Redis's
    call() feeds the monitors once a command has run."""
    flags = cmd.flags
    if "admin" in flags or ("skip_monitor" in flags and cmd.name not in _SHOWN_BEFORE_RUNNING):
        return
    if cmd.name == "exec":
        c.monitor_exec = argv
        return
    # A monitor's own RESET ends its monitoring before Redis shows the command: not shown to it
    _send(server, c, argv, c if cmd.name == "reset" else None)


def exec_done(server, c) -> None:
    """EXEC ran (or failed): show it, after the commands it ran."""
    argv, c.monitor_exec = c.monitor_exec, None
    if argv is not None and server.monitors:
        _send(server, c, argv)


def _send(server, c, argv: list[bytes], skip=None) -> None:
    now = time.time()
    who = b"lua" if c.kind == "script" else c.addr.encode()  # a script's commands: `[0 lua]`, as Redis
    # secrets hidden as in SLOWLOG (Redis redacts the argv both show)
    line = b"+%.6f [%d %b] %b\r\n" % (now, c.db, who, b" ".join(quote(a) for a in redacted(argv)))
    for m in list(server.monitors):
        if m.closing:
            server.monitors.remove(m)
        elif m is not skip:
            m.send_raw(line)


@command("monitor", 1, "admin noscript loading stale", 0, 0, 0)
def monitor(c, args):
    if c.multi is not None:
        raise Error("ERR MONITOR isn't allowed for DENY BLOCKING client")
    if c not in c.server.monitors:
        c.server.monitors.append(c)
        c.kind = "monitor"
    return OK


def forget(server, c) -> None:
    if c in server.monitors:
        server.monitors.remove(c)
