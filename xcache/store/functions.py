"""Redis 7 functions: FUNCTION LOAD/DELETE/FLUSH/LIST/DUMP/RESTORE/STATS/KILL and FCALL/FCALL_RO.

Libraries are Lua code with a `#!lua name=<library>` first line that calls
redis.register_function while it loads (scripting.LUA_PRELUDE's load_library); their functions
run through the same machinery as EVAL (scripting.start: worker thread, -BUSY, FUNCTION KILL,
effects replication). The code of each library is kept in RocksDB's default column family under
`xcache:function:<name>` (FLUSHALL leaves it, as Redis keeps functions), so libraries survive a
restart and reach replicas by full sync; FUNCTION LOAD/DELETE/FLUSH/RESTORE replicate as commands.
FUNCTION DUMP/RESTORE use Redis 7.0's payload (RDB_OPCODE_FUNCTION2 per library, RDB version,
CRC64), so libraries move between redis-server and xcache.
"""

from __future__ import annotations

import re
import struct

from xcache.resp import OK, Error, Map
from xcache.resp import help as help_text
from xcache.store.commands import command, parse_int
from xcache.store.rdb import BAD_PAYLOAD, RDB_VERSION, _Reader, _string, crc64, verify
from xcache.store.scripting import (
    _strip_shebang,
    parse_keys,
    refuse_declared_writer,
    scripts_of,
    start,
)
from xcache.store.subcommands import help_reply, parse_subcommand

PREFIX = b"xcache:function:"
OPCODE_FUNCTION2 = 245
FLAGS = ("no-writes", "allow-oom", "allow-stale", "no-cluster", "allow-cross-slot-keys")
_NAME = re.compile(rb"[A-Za-z0-9_]+")
LIB_NAME_ERROR = ("Library names can only contain letters, numbers, or underscores(_) and must be "
                  "at least one character long")


class Function:
    __slots__ = ("name", "fn", "flags", "description")

    def __init__(self, name: bytes, fn, flags: list[bytes], description: bytes | None):
        self.name, self.fn, self.flags, self.description = name, fn, flags, description


class Library:
    __slots__ = ("name", "code", "functions")

    def __init__(self, name: bytes, code: bytes):
        self.name, self.code = name, code
        self.functions: dict[bytes, Function] = {}


class Registration:
    """What redis.register_function collects while one library loads."""

    def __init__(self):
        self.functions: list[tuple[bytes, list[bytes], bytes | None]] = []

    def add(self, name, flags, description):
        if not isinstance(name, bytes) or not _NAME.fullmatch(name):
            return LIB_NAME_ERROR  # sic: Redis 7.0 says "Library names" here
        if any(f[0] == name for f in self.functions):
            return "Function already exists in the library"
        names = []
        for v in flags.values():
            if not isinstance(v, bytes) or v.decode(errors="replace") not in FLAGS:
                return "unknown flag given"
            names.append(v)
        self.functions.append((name, names, description))
        return None


class Registry:
    """The libraries of one server (loaded from RocksDB on first use)."""

    def __init__(self, server):
        self.server = server
        self.libraries: dict[bytes, Library] = {}
        # by lower-cased name: function names are case-insensitive across libraries (Redis 7.0)
        self.by_function: dict[bytes, tuple[Library, Function]] = {}
        self.engine = None

    def ensure_loaded(self) -> None:
        engine = self.server.engine
        if self.engine is engine:
            return
        self.engine = engine  # a replica's full sync swaps the engine: reload from it
        self.libraries.clear()
        self.by_function.clear()
        for _, code in list(engine.scan(engine.db, PREFIX)):
            try:
                lib = self.compile(code, replace=True)
            except Error:
                continue
            self._install(lib)

    def compile(self, code: bytes, replace: bool, collisions: bool = True) -> Library:
        """Parse the metadata, run the library's code; nothing is installed yet. collisions:
        refuse a function another library has (FUNCTION RESTORE checks after the libraries)."""
        name = parse_metadata(code)
        old = self.libraries.get(name)
        if old is not None and not replace:
            raise Error(f"ERR Library '{name.decode(errors='replace')}' already exists")
        scripts = scripts_of(self.server)
        scripts.lua()
        reg = Registration()
        scripts.registering = reg
        try:
            registered, err, ran = scripts._load_library(_strip_shebang(code))
        finally:
            scripts.registering = None
        if registered is None:
            text = err.decode(errors="replace") if isinstance(err, bytes) else str(err)
            if ran:
                raise Error(f"ERR Error registering functions: {text}")
            raise Error(f"ERR Error compiling function: {text}")
        lib = Library(name, code)
        for (fname, flags, desc), pair in zip(reg.functions, registered.values(), strict=True):
            lib.functions[fname] = Function(fname, pair[2], flags, desc)
        if not lib.functions:
            raise Error("ERR No functions registered")
        for fname in lib.functions if collisions else ():
            owner = self.by_function.get(fname.lower())
            if owner is not None and owner[0].name != name:
                raise Error(f"ERR Function {fname.decode(errors='replace')} already exists")
        return lib

    def _install(self, lib: Library) -> None:
        self._remove(lib.name)
        self.libraries[lib.name] = lib
        for f in lib.functions.values():
            self.by_function[f.name.lower()] = (lib, f)

    def _remove(self, name: bytes) -> None:
        old = self.libraries.pop(name, None)
        if old is not None:
            for fname in old.functions:
                self.by_function.pop(fname.lower(), None)

    # persistence (default column family)
    def persist(self, lib: Library | None, name: bytes) -> None:
        db = self.server.engine.db
        if lib is None:
            db.delete(PREFIX + name)
        else:
            db.put(PREFIX + name, lib.code)

    def install(self, lib: Library) -> None:
        self._install(lib)
        self.persist(lib, lib.name)

    def delete(self, name: bytes) -> None:
        self._remove(name)
        self.persist(None, name)

    def flush(self) -> None:
        for name in list(self.libraries):
            self.delete(name)


def registry_of(server) -> Registry:
    reg = getattr(server, "function_registry", None)
    if reg is None:
        reg = server.function_registry = Registry(server)
    reg.ensure_loaded()
    return reg


def parse_metadata(code: bytes) -> bytes:
    """The library name from `#!lua name=<name>` (functionExtractLibMetaData)."""
    if not code.startswith(b"#!"):
        raise Error("ERR Missing library metadata")
    if b"\n" not in code:
        raise Error("ERR Invalid library metadata")
    parts = [p for p in code.split(b"\n", 1)[0].split(b" ") if p]
    engine = parts[0][2:]  # "#! name=x" names the engine ''
    name = None
    for p in parts[1:]:
        if p[:5].lower() == b"name=":
            if name is not None:
                raise Error("ERR Invalid metadata value, name argument was given multiple times")
            name = p[5:]
            if len(name) >= 2 and name[0] == name[-1] and name[:1] in (b'"', b"'"):
                name = name[1:-1]  # sdssplitargs: name="foo" is name=foo
        else:
            raise Error(f"ERR Invalid metadata value given: {p.decode(errors='replace')}")
    if name is None:
        raise Error("ERR Library name was not given")
    if not _NAME.fullmatch(name):
        raise Error(f"ERR {LIB_NAME_ERROR}")
    if engine.lower() != b"lua":
        raise Error(f"ERR Engine '{engine.decode(errors='replace')}' not found")
    return name


# --- FCALL --------------------------------------------------------------------------------

def _fcall(c, args, ro: bool):
    reg = registry_of(c.server)
    found = reg.by_function.get(args[0].lower())
    if found is None:
        raise Error("ERR Function not found")
    try:
        parse_int(args[1])
    except Error:
        raise Error("ERR Bad number of keys provided") from None
    keys, argv = parse_keys(args)
    _, f = found
    no_writes = b"no-writes" in f.flags
    if ro and not no_writes:
        raise Error("ERR Can not execute a script with write flag using *_ro command.")
    if not no_writes:
        refuse_declared_writer(c)
    typed = c.typed_cmd if c.typed_cmd.lower() == (b"fcall_ro" if ro else b"fcall") \
        else (b"FCALL_RO" if ro else b"FCALL")
    return start(c, f.name.decode(errors="replace"), keys, argv, no_writes, fn=f.fn,
                 command=[typed, *args], flags=set(f.flags))


@command("fcall", -3, "noscript skip_monitor may_replicate no_mandatory_keys stale", 0, 0, 0)
def fcall(c, args):
    return _fcall(c, args, False)


@command("fcall_ro", -3, "noscript skip_monitor no_mandatory_keys stale readonly", 0, 0, 0)
def fcall_ro(c, args):
    return _fcall(c, args, True)


# --- FUNCTION -----------------------------------------------------------------------------

# Redis 7.0's FUNCTION help[]: every subcommand is served
FUNCTION_HELP = help_text.FUNCTION_HELP

FUNCTION_ARITY = {b"LOAD": -3, b"DELETE": 3, b"FLUSH": -2, b"LIST": -2, b"DUMP": 2,
                  b"RESTORE": -3, b"STATS": 2, b"KILL": 2, b"HELP": 2}
WRITES = {b"LOAD", b"DELETE", b"FLUSH", b"RESTORE"}


def _library_reply(lib: Library, withcode: bool) -> list:
    funcs = [[b"name", f.name, b"description", f.description, b"flags", list(f.flags)]
             for f in lib.functions.values()]
    out = [b"library_name", lib.name, b"engine", b"LUA", b"functions", funcs]
    if withcode:
        out += [b"library_code", lib.code]
    return out


def dump_payload(reg: Registry) -> bytes:
    body = b"".join(bytes((OPCODE_FUNCTION2,)) + _string(lib.code)
                    for lib in reg.libraries.values())
    body += struct.pack("<H", RDB_VERSION)
    return body + struct.pack("<Q", crc64(body))


def parse_payload(payload: bytes) -> list[bytes]:
    if not verify(payload):
        raise BAD_PAYLOAD
    r = _Reader(payload[:-10])
    codes = []
    try:
        while r.i < len(r.d):
            if r.byte() != OPCODE_FUNCTION2:
                raise ValueError("not a function")
            codes.append(r.string())
    except (ValueError, IndexError, struct.error):
        raise Error("ERR payload is not a valid functions payload") from None
    return codes


@command("function", -2, "noscript", 0, 0, 0)
def function(c, args):
    sub = parse_subcommand("function", FUNCTION_ARITY, args)
    server = c.server
    if sub in WRITES:
        from xcache.store.interfaces import READONLY

        if server.replication.is_replica and c.kind != "master":
            raise READONLY
    if sub == b"KILL":
        run = server.running_script
        if run is None:
            raise Error("NOTBUSY No scripts in execution right now.")
        if not run.function:
            from xcache.store.scripting import BUSY

            raise BUSY  # an EVAL script is killed by SCRIPT KILL
        run.kill = True
        return OK
    reg = registry_of(server)
    if sub == b"LOAD":
        replace = False
        rest = args[1:]
        if len(rest) == 2 and rest[0].upper() == b"REPLACE":
            replace, rest = True, rest[1:]
        if len(rest) != 1:
            raise Error("ERR Unknown option given: " + rest[0].decode(errors="replace"))
        lib = reg.compile(rest[0], replace)
        reg.install(lib)
        _replicate(c, [b"FUNCTION", b"LOAD", b"REPLACE", rest[0]])
        return lib.name
    if sub == b"DELETE":
        if args[1] not in reg.libraries:
            raise Error("ERR Library not found")
        reg.delete(args[1])
        _replicate(c, [b"FUNCTION", b"DELETE", args[1]])
        return OK
    if sub == b"FLUSH":
        if len(args) > 2:
            raise Error("ERR unknown subcommand or wrong number of arguments for "
                        f"'{args[0].decode(errors='replace')[:128]}'. Try FUNCTION HELP.")
        if len(args) == 2 and args[1].upper() not in (b"ASYNC", b"SYNC"):
            raise Error("ERR FUNCTION FLUSH only supports SYNC|ASYNC option")
        reg.flush()
        _replicate(c, [b"FUNCTION", b"FLUSH"])
        return OK
    if sub == b"LIST":
        withcode = False
        pattern = None
        i = 1
        while i < len(args):
            opt = args[i].upper()
            if opt == b"WITHCODE" and not withcode:
                withcode = True
            elif opt == b"LIBRARYNAME" and pattern is None:
                if i + 1 >= len(args):
                    raise Error("ERR library name argument was not given")
                pattern = args[i + 1]
                i += 1
            else:
                raise Error(f"ERR Unknown argument {args[i].decode(errors='replace')}")
            i += 1
        from xcache.store.glob import glob_match

        return [_library_reply(lib, withcode) for lib in reg.libraries.values()
                if pattern is None or glob_match(pattern, lib.name)]
    if sub == b"DUMP":
        return dump_payload(reg)
    if sub == b"RESTORE":
        if len(args) > 3:
            raise Error("ERR unknown subcommand or wrong number of arguments for "
                        f"'{args[0].decode(errors='replace')[:128]}'. Try FUNCTION HELP.")
        policy = args[2].upper() if len(args) > 2 else b"APPEND"
        if policy not in (b"FLUSH", b"APPEND", b"REPLACE"):
            raise Error("ERR Wrong restore policy given, value should be either FLUSH, APPEND or "
                        "REPLACE.")
        codes = parse_payload(args[1])
        libs = [reg.compile(code, replace=True, collisions=False) for code in codes]
        # libraryJoin: first the libraries (APPEND keeps the existing ones), then the functions
        # of the libraries that stay
        for lib in libs if policy == b"APPEND" else ():
            if lib.name in reg.libraries:
                raise Error(f"ERR Library {lib.name.decode(errors='replace')} already exists")
        if policy == b"FLUSH":
            reg.flush()
        replaced = {lib.name for lib in libs}
        for lib in libs:
            for fname in lib.functions:
                owner = reg.by_function.get(fname.lower())
                if owner is not None and owner[0].name not in replaced:
                    raise Error(f"ERR Function {fname.decode(errors='replace')} already exists")
        for lib in libs:
            reg.install(lib)
        _replicate(c, [b"FUNCTION", b"RESTORE", args[1], policy])
        return OK
    if sub == b"STATS":
        run = server.running_script
        running = None
        if run is not None and run.function:
            import time

            running = Map([b"name", run.name.encode(), b"command", list(run.command),
                           b"duration_ms", int((time.monotonic() - run.started) * 1000)])
        nfun = sum(len(lib.functions) for lib in reg.libraries.values())
        # maps in RESP3 (functionStatsCommand), flat arrays in RESP2
        return Map([b"running_script", running, b"engines",
                    Map([b"LUA", Map([b"libraries_count", len(reg.libraries),
                                      b"functions_count", nfun])])])
    return help_reply("FUNCTION", FUNCTION_HELP)


def _replicate(c, argv: list[bytes]) -> None:
    """FUNCTION is not a write command (replicas answer its reads): propagate by hand."""
    server = c.server
    c.propagate = argv
    server.stats["dirty"] += 1
    server.replication.propagate(c, argv)

