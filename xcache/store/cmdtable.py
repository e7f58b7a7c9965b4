"""COMMAND, COMMAND COUNT/LIST/INFO/DOCS/GETKEYS/GETKEYSANDFLAGS.

The answers are Redis 7's own, for the commands this node serves: data/redis7_commands.json and
data/redis7_docs.json hold what redis-server returns for COMMAND INFO / COMMAND DOCS
(regenerate with scripts/gen_redis_tables.py), filtered at runtime to the command table, so a
command another module registers later shows up by itself. Commands Redis does not have
(COMPACT, SLOTSHASHKEY...) are described from their registration.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from xcache.resp import Double, Error, Map, Set, SimpleString
from xcache.store import getkeys
from xcache.store.commands import COMMANDS, Command
from xcache.store.glob import glob_match
from xcache.store.subcommands import help_reply, unknown_subcommand

DATA = Path(__file__).resolve().parent / "data"


def _typed(value):
    """A JSON value of the generator back into reply types (maps, sets, status strings)."""
    if isinstance(value, list):
        return [_typed(v) for v in value]
    if isinstance(value, dict):
        (tag, inner), = value.items()
        if tag == "$map":
            return Map(_typed(v) for v in inner)
        if tag == "$set":
            return Set(_typed(v) for v in inner)
        if tag == "$status":
            return SimpleString(inner.encode())
        if tag == "$double":
            return Double(float(inner))
        raise ValueError(tag)
    if isinstance(value, str):
        return value.encode()
    return value


@cache
def _redis_info() -> dict[bytes, list]:
    data = json.loads((DATA / "redis7_commands.json").read_text())
    return {entry[0].encode(): entry for entry in data["info"]}


@cache
def _redis_docs() -> dict[bytes, dict]:
    data = json.loads((DATA / "redis7_docs.json").read_text())
    docs = data["docs"]["$map"]
    return dict(zip((d.encode() for d in docs[0::2]), docs[1::2], strict=True))


def _own_info(cmd: Command) -> list:
    flags = Set(SimpleString(f.encode()) for f in sorted(cmd.flags) if f != "noauth")
    return [cmd.name.encode(), cmd.arity, flags, cmd.first_key, cmd.last_key, cmd.step,
            Set([SimpleString(b"@admin" if "admin" in cmd.flags else b"@slow")]), Set(), Set(),
            Set()]


@cache
def _info_of(name: bytes):
    raw = _redis_info().get(name)
    cmd = COMMANDS[name]
    return _own_info(cmd) if raw is None else _typed(raw)


def info_entry(name: bytes):
    """COMMAND INFO's entry for a served command, or for a subcommand by its full name
    (`acl|cat`, as Redis's lookupCommandBySds), or None."""
    name = name.lower()
    if name in COMMANDS:
        return _info_of(name)
    container, bar, _ = name.partition(b"|")
    entry = info_entry(container) if bar and container in COMMANDS else None
    if entry is None or len(entry) < 10:
        return None
    return next((sub for sub in entry[9] if sub[0] == name), None)


def _docs_entry(name: bytes):
    """COMMAND DOCS's entry of a served command or subcommand (full name), or None."""
    container, bar, _ = name.partition(b"|")
    if container not in COMMANDS:
        return None
    raw = _redis_docs().get(container)
    if not bar:
        if raw is None:
            return Map([b"summary", b"xcache command", b"since", b"0.1.0", b"group", b"server"])
        return _typed(raw)
    fields = _typed(raw) if raw is not None else []
    subs = dict(zip(fields[0::2], fields[1::2], strict=True)).get(b"subcommands") or []
    return dict(zip(subs[0::2], subs[1::2], strict=True)).get(name)


def served() -> list[bytes]:
    return sorted(COMMANDS)


def _spec_map(value) -> dict:
    return dict(zip(value["$map"][0::2], value["$map"][1::2], strict=True))


def _entry_of(argv: list[bytes]):
    """Redis's COMMAND INFO entry of the command or subcommand argv runs (lookupCommand), or
    None; a command Redis does not have is described from its registration."""
    name = argv[0].lower()
    cmd = COMMANDS.get(name)
    if cmd is None:
        return None
    raw = _redis_info().get(name)
    if raw is None:
        return [name.decode(), cmd.arity, [], cmd.first_key, cmd.last_key, cmd.step, [], [], []]
    if len(argv) > 1 and len(raw) > 9 and isinstance(raw[9], list) and raw[9]:
        full = (name + b"|" + argv[1].lower()).decode(errors="replace")
        return next((sub for sub in raw[9] if sub[0] == full), None)
    return raw


def _flags_of(entry) -> list[str]:
    flags = entry[2]["$set"] if isinstance(entry[2], dict) else entry[2]
    return [f["$status"] if isinstance(f, dict) else f for f in flags]


def _specs_of(entry) -> list[dict]:
    specs = entry[8]["$set"] if isinstance(entry[8], dict) else entry[8]
    return [dict(zip(s["$map"][0::2], s["$map"][1::2], strict=True)) for s in specs]


# Redis answers these from their getkeys_proc, not their key specs (variable flags, unknown or
# incomplete specs)
KEY_PROCS = getkeys.PROCS


def keys_with_flags(argv: list[bytes], procs: bool = True) -> list[tuple[bytes, list[str]]]:
    """The keys of argv (argv[0] the command) per Redis 7's key specs, with each spec's flags,
    with COMMAND GETKEYS's errors (server.c commandGetKeys); procs=False: the key specs only,
    where the getkeys procedures would answer (ACL's own reading, acl_perm._key_needs)."""
    entry = _entry_of(argv)
    if entry is None:
        raise Error("ERR Invalid command specified")
    name = argv[0].lower()
    specs = _specs_of(entry)
    cmd = COMMANDS[name]
    if not specs and name not in KEY_PROCS and (_redis_info().get(name) is not None
                                                or cmd.first_key <= 0):
        raise Error("ERR The command has no key arguments")
    arity = entry[1]
    if (arity > 0 and len(argv) != arity) or len(argv) < -arity:
        raise Error("ERR Invalid number of arguments specified for command")
    if procs and name in KEY_PROCS:
        return KEY_PROCS[name](argv)
    if not specs:
        return [(k, []) for k in cmd.keys(argv)]
    return _keys_by_specs(argv, specs)


def _keys_by_specs(argv: list[bytes], specs: list[dict]) -> list[tuple[bytes, list[str]]]:
    out: list[tuple[bytes, list[str]]] = []
    for spec in specs:
        flags = [f["$status"] for f in spec["flags"]["$set"]]
        begin = _spec_map(spec["begin_search"])
        bspec = _spec_map(begin["spec"])
        if begin["type"] == "index":
            start = bspec["index"]
        elif begin["type"] == "keyword":
            keyword = bspec["keyword"].encode().upper()
            start = None
            idx = bspec["startfrom"]
            positions = (range(idx, len(argv)) if idx > 0
                         else range(len(argv) + idx, 0, -1))
            for i in positions:
                if argv[i].upper() == keyword:
                    start = i + 1
                    break
            if start is None:
                continue
        else:
            continue
        find = _spec_map(spec["find_keys"])
        fspec = _spec_map(find["spec"])
        if find["type"] == "range":
            last, step, limit = fspec["lastkey"], fspec["keystep"], fspec["limit"]
            if last >= 0:
                stop = start + last
            elif limit <= 1:
                stop = len(argv) + last
            else:
                stop = start + (len(argv) - 1 - start) // limit
            for i in range(start, min(stop, len(argv) - 1) + 1, step):
                out.append((argv[i], flags))
        elif find["type"] == "keynum":
            try:
                count = int(argv[start + fspec["keynumidx"]])
            except (IndexError, ValueError):
                raise Error("ERR Invalid arguments specified for command") from None
            first = start + fspec["firstkey"]
            for i in range(first, first + count * fspec["keystep"], fspec["keystep"]):
                if i >= len(argv):
                    raise Error("ERR Invalid arguments specified for command")
                out.append((argv[i], flags))
    return out


def command_reply(args: list[bytes]):
    if not args:
        return [info_entry(n) for n in served()]
    sub = args[0].upper()
    if sub == b"COUNT" and len(args) == 1:
        return len(COMMANDS)
    if sub == b"INFO":
        names = args[1:] or served()
        return [info_entry(n) for n in names]
    if sub == b"DOCS":
        names = [n.lower() for n in args[1:]] or served()
        out = Map()
        for n in names:
            entry = _docs_entry(n)
            if entry is not None:
                out += [n, entry]
        return out
    if sub == b"LIST":
        return _list(args[1:])
    if sub in (b"GETKEYS", b"GETKEYSANDFLAGS") and len(args) < 3:
        raise Error(f"ERR wrong number of arguments for 'command|{sub.lower().decode()}' command")
    if sub in (b"GETKEYS", b"GETKEYSANDFLAGS"):
        keys = keys_with_flags(args[1:])
        if not keys:
            if "no_mandatory_keys" in _flags_of(_entry_of(args[1:])):  # EVAL with 0 keys
                return []
            raise Error("ERR Invalid arguments specified for command")
        if sub == b"GETKEYS":
            return [k for k, _ in keys]
        return [[k, Set(SimpleString(f.encode()) for f in flags)] for k, flags in keys]
    if sub == b"HELP" and len(args) == 1:
        return help_reply("COMMAND", HELP)
    raise unknown_subcommand("command", args[0])


def _listed() -> list[tuple[bytes, list]]:
    """(full name, COMMAND INFO entry) of each served command followed by its subcommands
    (acl|cat, client|list...): Redis's COMMAND LIST names both (commandListWithoutFilter)."""
    out = []
    for n in served():
        entry = info_entry(n)
        out.append((n, entry))
        if len(entry) > 9:
            out.extend((sub[0], sub) for sub in entry[9])
    return out


def _list(args: list[bytes]) -> list[bytes]:
    listed = _listed()
    if not args:
        return [n for n, _ in listed]
    if len(args) != 3 or args[0].upper() != b"FILTERBY":
        raise Error("ERR syntax error")
    how, value = args[1].upper(), args[2]
    if how == b"MODULE":
        return []
    if how == b"PATTERN":
        return [n for n, _ in listed if glob_match(value.lower(), n)]
    if how == b"ACLCAT":
        cat = b"@" + value.lower()
        return [n for n, entry in listed if cat in entry[6]]
    raise Error("ERR syntax error")


# Redis 7.0's COMMAND help[] (src/server.c): every subcommand is served
HELP = (
    "(no subcommand)",
    "    Return details about all Redis commands.",
    "COUNT",
    "    Return the total number of commands in this Redis server.",
    "LIST",
    "    Return a list of all commands in this Redis server.",
    "INFO [<command-name> ...]",
    "    Return details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "DOCS [<command-name> ...]",
    "    Return documentation details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "GETKEYS <full-command>",
    "    Return the keys from a full Redis command.",
    "GETKEYSANDFLAGS <full-command>",
    "    Return the keys and the access flags from a full Redis command.",
)
