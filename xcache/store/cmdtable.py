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


def _key_specs(name: bytes) -> list:
    raw = _redis_info().get(name)
    if raw is None:
        return []
    specs = raw[8]["$set"] if isinstance(raw[8], dict) else raw[8]
    return [dict(zip(s["$map"][0::2], s["$map"][1::2], strict=True)) for s in specs]


def _spec_map(value) -> dict:
    return dict(zip(value["$map"][0::2], value["$map"][1::2], strict=True))


def _specs_of_keys(name: bytes) -> list:
    """The key specs of a command that are not marked NOT_KEY (doesCommandHaveKeys)."""
    return [s for s in _key_specs(name)
            if "not_key" not in {f["$status"] for f in s["flags"]["$set"]}]


def _specs_answer(specs: list) -> bool:
    """getKeysFromCommandWithSpecs: are the key specs used, or the command's getkeys procedure
    (a spec with VARIABLE_FLAGS or INCOMPLETE flags, or of unknown position)?"""
    for spec in specs:
        flags = {f["$status"] for f in spec["flags"]["$set"]}
        if flags & {"variable_flags", "incomplete"}:
            return False
        if (_spec_map(spec["begin_search"])["type"] == "unknown"
                or _spec_map(spec["find_keys"])["type"] == "unknown"):
            return False
    return True


def keys_with_flags(argv: list[bytes]) -> list[tuple[bytes, list[str]]]:
    """The keys of argv (argv[0] the command) per Redis 7's key specs, with each spec's flags."""
    name = argv[0].lower()
    cmd = COMMANDS.get(name)
    if cmd is None:
        raise Error("ERR Invalid command specified")
    arity = cmd.arity
    if (arity > 0 and len(argv) != arity) or len(argv) < -arity:
        raise Error("ERR Invalid number of arguments specified for command")
    specs = _key_specs(name)
    if not specs:
        return [(k, []) for k in cmd.keys(argv)]
    if name in getkeys.PROCS and not _specs_answer(specs):
        return getkeys.PROCS[name](argv)
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
            name = args[1].lower()
            if not _specs_of_keys(name) and name not in getkeys.PROCS:
                raise Error("ERR The command has no key arguments")
            raw = _redis_info().get(name)
            flags = {f["$status"] for f in raw[2]["$set"]} if raw is not None else set()
            if "no_mandatory_keys" in flags:
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
