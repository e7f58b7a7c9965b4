"""Per-subcommand statistics, as Redis 7 keeps them: CONFIG RESETSTAT is counted as
`config|resetstat` in INFO commandstats, LATENCY HISTOGRAM and CLIENT LIST's cmd= field, never as
`config`. Each container gets one Command per Redis subcommand (data/redis7_commands.json) that
only holds its name, arity and counters; the container's handler still runs the command."""

from __future__ import annotations

import dataclasses

from xcache.store.commands import COMMANDS, Command
from xcache.store.subcommands import EXTRAS, _arities


def attach() -> None:
    """Give every container command its subcommands' stat holders (once per process), those it
    serves beyond Redis 7.0 too (CLIENT SETINFO counts as `client|setinfo`, as in Redis 7.2)."""
    for container, subs in _arities().items():
        cmd = COMMANDS.get(container.encode())
        if cmd is None or cmd.subs is not None:
            continue
        subs = {**subs, **{name: -2 for name in EXTRAS.get(container, ())}}
        cmd.subs = {name: dataclasses.replace(cmd, name=f"{container}|{name.decode()}", arity=arity,
                                              calls=0, nsec=0, failed_calls=0, rejected_calls=0,
                                              histogram={}, subs=None)
                    for name, arity in subs.items()}


def target(cmd: Command, argv: list[bytes]) -> Command:
    """The Command whose counters a call of argv updates: its subcommand's for a container."""
    if cmd.subs is None or len(argv) < 2:
        return cmd
    return cmd.subs.get(argv[1].lower(), cmd)


def every() -> list[Command]:
    """Commands and subcommands, by name (INFO commandstats/latencystats, LATENCY HISTOGRAM)."""
    out = []
    for cmd in COMMANDS.values():
        out.append(cmd)
        if cmd.subs:
            out.extend(cmd.subs.values())
    out.sort(key=lambda c: c.name)
    return out


def by_name(name: str) -> Command | None:
    """A command or `container|sub` by its full name (case-insensitive)."""
    head, _, sub = name.lower().partition("|")
    cmd = COMMANDS.get(head.encode())
    if cmd is None or not sub:
        return cmd
    return (cmd.subs or {}).get(sub.encode())


def reset() -> None:
    """CONFIG RESETSTAT."""
    for cmd in every():
        cmd.calls = cmd.nsec = cmd.failed_calls = cmd.rejected_calls = 0
        cmd.histogram = {}


def record(cmd: Command, nsec: int, tracking: bool) -> None:
    """One call's time (EXEC's queued commands; Server.call inlines the same for speed);
    tracking: CONFIG latency-tracking."""
    cmd.calls += 1
    cmd.nsec += nsec
    if tracking:
        add_sample(cmd, nsec)


def add_sample(cmd: Command, nsec: int) -> None:
    """One sample in the command's latency histogram."""
    bits = nsec.bit_length()
    b = (bits << 2) | ((nsec >> (bits - 3)) & 3) if bits > 3 else bits << 2  # latency.bucket
    cmd.histogram[b] = cmd.histogram.get(b, 0) + 1
