"""Lua scripting: EVAL/EVALSHA/EVAL_RO/EVALSHA_RO and SCRIPT, with a real Lua 5.1 (lupa).

Why one module (~740 lines): the worker thread, the loop-side command queue and the gate share
one run state (Running) that each step reads and writes; the Lua side lives in lua_api.py,
lua_values.py and lualibs.py, the script flags in scriptflags.py.

How a script runs (and why):
- The Lua code runs in one worker thread (lupa releases the GIL while Lua runs), never on the
  event loop. Each `redis.call` hands its command to the loop thread and waits for the reply, so
  every command still executes on the loop thread through the ordinary dispatch (Server.call):
  replication, WATCH, blocked-client wake-ups and write-stall retries behave as for any client.
- For the first INLINE_BUDGET_S (2 ms) the loop thread just waits for the script, serving its
  commands from a queue: a short script (nearly all) completes there, atomically, with no task
  or timer. A longer one continues asynchronously: the loop serves other clients meanwhile.
- Atomicity: while a script runs, Server.execute sends every other client's command to gate()
  here. Before `busy_reply_threshold_ms` (Redis's lua-time-limit / busy-reply-threshold, default
  5000) such a command waits for the script to end; after it, the command is answered
  `-BUSY Redis is busy running a script...` except SCRIPT KILL, FUNCTION KILL/STATS and SHUTDOWN.
  Blocked pops and stalled writes that wake during a script wait for it too (Server._wait_turn).
- SCRIPT KILL sets a flag that a Lua count hook (every HOOK_INSTRUCTIONS instructions) checks; the
  script then fails with Redis's "Script killed by user with SCRIPT KILL..." error. A script that
  already wrote cannot be killed (-UNKILLABLE), as in Redis.
- Effects replication: the writes a script makes reach replicas as the commands it ran (never as
  EVAL), together once it ends, wrapped in MULTI ... EXEC when there are several (Redis 7.0's
  rule; Replication.open_unit): a replica never applies half a script.
- Inside MULTI/EXEC a script runs synchronously on the loop (EXEC cannot wait); there it cannot
  be killed.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from xcache.resp import OK, Error
from xcache.resp import help as help_text
from xcache.resp.help import pick
from xcache.store import engine as enginemod
from xcache.store import maxmemory
from xcache.store.acl import acl_of, script_acl_check
from xcache.store.acl_perm import permitted
from xcache.store.commands import COMMANDS, command, parse_int
from xcache.store.lua_api import LUA_PRELUDE
from xcache.store.lua_values import error_for_lua, lua_number_arg, lua_to_reply, reply_to_lua
from xcache.store.subcommands import help_reply, parse_subcommand, subcommands

log = logging.getLogger("xcache.scripting")

INLINE_BUDGET_S = 0.002  # the loop waits this long for a script before serving others
BUSY = Error("BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.")
BUSY_FUNCTION = Error("BUSY Redis is busy running a script. You can only call FUNCTION KILL or "
                      "SHUTDOWN NOSAVE.")
NOSCRIPT = Error("NOSCRIPT No matching script. Please use EVAL.")
NOTBUSY = Error("NOTBUSY No scripts in execution right now.")
UNKILLABLE = Error("UNKILLABLE Sorry the script already executed write commands against the "
                   "dataset. You can either wait the script termination or kill the server in a "
                   "hard way using the SHUTDOWN NOSAVE command.")
KILLED = "ERR Script killed by user with SCRIPT KILL..."
# Commands Redis 7.0 flags allow_busy (besides the KILL/STATS subcommands above)
ALLOW_BUSY = {b"shutdown", b"multi", b"discard", b"watch", b"unwatch"}
ALLOWED_WHILE_BUSY = {(b"script", b"KILL"), (b"function", b"KILL"), (b"function", b"STATS")}
# Blocking commands Redis 7.0 flags noscript.
NOT_IN_SCRIPTS = {b"blpop", b"brpop", b"brpoplpush", b"blmove", b"blmpop", b"bzpopmin",
                  b"bzpopmax", b"bzmpop", b"multi", b"exec", b"discard", b"watch", b"unwatch",
                  b"subscribe", b"psubscribe", b"unsubscribe", b"punsubscribe", b"eval",
                  b"evalsha", b"eval_ro", b"evalsha_ro", b"script", b"fcall", b"fcall_ro",
                  b"function", b"migrate", b"psync", b"sync", b"replconf", b"wait", b"monitor",
                  b"client", b"reset", b"auth", b"hello", b"quit"}
# Subcommands Redis 7.0 flags noscript where their container is allowed.
NOT_IN_SCRIPTS_SUB = {(b"cluster", b"reset")}

# Redis 7.0's may_replicate commands that are not flagged write (publish adds to the
# replication stream, pfcount may rewrite the key's encoding); EVAL* and FCALL carry the flag
MAY_REPLICATE = {"publish", "spublish", "pfcount"}


def may_replicate(cmd) -> bool:
    """The command's own write / may_replicate flags (a script's flags aside)."""
    return bool(cmd.write) or cmd.name in MAY_REPLICATE or "may_replicate" in cmd.flags


def sha1hex(body: bytes) -> str:
    return hashlib.sha1(body).hexdigest()


class ScriptClient:
    """The pseudo client a script's commands run as (the caller's db, no connection)."""

    def __new__(cls, server, db: int):
        c = server.new_client()
        c.db = db
        c.authenticated = True
        c.kind = "script"
        c.in_exec = True  # blocking commands answer at once, as inside MULTI
        c.name = b""
        return c


class Running:
    """The script being run: for the gate, SCRIPT KILL and effects replication."""

    def __init__(self, client, caller):
        self.client = client
        self.caller = caller
        client.woff_owner = caller  # the script's writes count as the caller's (WAIT, write hold)
        client.user = caller.user  # its commands are checked against the caller's ACL
        client.script_run = self  # its reads make a tracking caller cache the keys (tracking.py)
        self.started = time.monotonic()
        self.started_ms = time.time_ns() // 1_000_000  # the time its commands see (enginemod.frozen_ms)
        self.done = asyncio.Event()
        self.kill = False
        self.wrote = False
        self.function = False
        self.name = ""
        self.command: list[bytes] = []  # FCALL's arguments, for FUNCTION STATS
        self.keys: list[bytes] = []  # the declared keys (CLIENT TRACKING)
        self.resp3 = False  # redis.setresp(3) called: its commands reply in RESP3
        self.calls = 0  # commands its redis.call/pcall ran
        self.counted_errors: set[str] = set()  # error replies of its commands, already counted
        self.oom = False  # over maxmemory when it started (pre_command_oom_state; maxmemory.py)
        self.allow_oom = False  # declared allow-oom
        self.unit = None  # its replication ops (Replication.open_unit), emitted when it ends


class Scripts:
    """The script cache and the Lua runtime of one server."""

    def __init__(self, server):
        self.server = server
        self.bodies: dict[str, bytes] = {}
        self.flags: dict[str, set | None] = {}  # a script's shebang flags (None: no shebang)
        self.functions: dict[str, object] = {}
        self._lua = None
        self._compile = None
        self._run = None
        self._run_function = None
        self._load_library = None
        self.registering = None  # functions.Registration while a FUNCTION LOAD runs
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="lua")
        self._tls = threading.local()
        self.running: Running | None = None

    # --- the Lua runtime ----------------------------------------------------------------

    def lua(self):
        if self._lua is None:
            from lupa.lua51 import LuaRuntime, lua_type

            from xcache.store.lua_msgpack import make_cmsgpack
            from xcache.store.lua_struct import make_struct
            from xcache.store.lualibs import make_bit, make_cjson

            # no python.eval / python.builtins in the runtime at all (scripts cannot reach
            # `python` either: lua_api.py gives them Redis's globals only)
            self._lua = LuaRuntime(encoding=None, unpack_returned_tuples=True, register_eval=False,
                                   register_builtins=False)
            from xcache.store.version import REDIS_VERSION

            major, minor, patch = (int(p) for p in REDIS_VERSION.split("."))
            cjson = make_cjson(self._lua, lua_type)
            self._compile, self._run, self._run_function, self._load_library = self._lua.execute(
                LUA_PRELUDE, self._py_call, self._py_pcall, _py_sha1, self._py_log,
                self._py_check, self._py_setresp, self._py_register, self._py_acl_check,
                REDIS_VERSION.encode(),
                (major << 16) | (minor << 8) | patch, make_bit(), cjson,
                make_cmsgpack(self._lua, lua_type, cjson.null), make_struct(lua_type),
                self._py_call_packed, self._py_pcall_packed)
        return self._lua

    def compile(self, body: bytes) -> str:
        """Compile body, cache it; returns its sha1. Raises Redis's compile error."""
        sha = sha1hex(body)
        if sha not in self.functions:
            flags = _shebang_flags(body)
            self.lua()
            fn, err = self._compile(_strip_shebang(body))
            if fn is None:
                text = err.decode(errors="replace") if isinstance(err, bytes) else str(err)
                raise Error(f"ERR Error compiling script (new function): {text}")
            self.functions[sha] = fn
            self.bodies[sha] = body
            self.flags[sha] = flags
        return sha

    def flush(self) -> None:
        self.functions.clear()
        self.bodies.clear()
        self.flags.clear()

    # --- callbacks from Lua (worker thread, or loop thread inside EXEC) ----------------------

    def _py_log(self, level=None, *parts) -> None:
        if not parts:
            raise ScriptError("ERR redis.log() requires two arguments or more.")
        if isinstance(level, bool) or not isinstance(level, int | float):
            raise ScriptError("ERR First argument must be a number (log level).")
        if level < 0 or level > 3:
            raise ScriptError("ERR Invalid debug level.")
        text = " ".join(p.decode(errors="replace") if isinstance(p, bytes) else str(p) for p in parts)
        log.log({0: logging.DEBUG, 1: logging.INFO, 2: logging.INFO, 3: logging.WARNING}[int(level)],
                "event=script_log msg=%s", text)

    def _py_register(self, name, flags, description):
        """redis.register_function during FUNCTION LOAD: None, or the error text."""
        err = self.registering.add(name, flags, description)
        return None if err is None else err.encode()

    def _py_check(self) -> bool:
        run = self._tls.__dict__.get("run")
        return bool(run is not None and run.kill)

    def _py_acl_check(self, *args) -> bool:
        """redis.acl_check_cmd: may the caller's user run this command (nothing logged)."""
        if not args:
            raise ScriptError("ERR Please specify at least one argument for this redis lib call")
        if any(isinstance(a, bool) or not isinstance(a, bytes | int | float) for a in args):
            raise ScriptError("ERR Lua redis lib command arguments must be strings or integers")
        argv = [a if isinstance(a, bytes) else lua_number_arg(a) for a in args]
        cmd = COMMANDS.get(argv[0].lower())
        if cmd is None:
            raise ScriptError("ERR Invalid command passed to redis.acl_check_cmd()")
        run = self._tls.__dict__["ctx"].run
        return permitted(acl_of(self.server), run.client.user, cmd, argv)

    def _py_call(self, *args):
        """redis.call: the reply as a Lua value; an error is raised into the script."""
        ok, value = self._command(args)
        if not ok:
            raise ScriptError(value.decode(errors="replace"))
        return value

    def _py_call_packed(self, table, n):
        """redis.call with more arguments than a C function takes (lua_api.py: packing)."""
        return self._py_call(*(table[i] for i in range(1, n + 1)))

    def _py_pcall_packed(self, table, n):
        return self._py_pcall(*(table[i] for i in range(1, n + 1)))

    def _py_pcall(self, *args):
        """redis.pcall: the reply as a Lua value, an error as a table {err=...}."""
        ok, value = self._command(args)
        return value if ok else self._lua.table_from({b"err": value})

    def _command(self, args):
        """-> (True, Lua value) or (False, error text)."""
        ctx = self._tls.__dict__.get("ctx")
        argv = _lua_argv(args)
        if isinstance(argv, bytes):
            return False, argv
        ctx.run.calls += 1
        reply = ctx.execute(argv)
        if isinstance(reply, Error):
            return False, error_for_lua(reply.message)
        return True, reply_to_lua(self._lua, reply, ctx.run.resp3)

    def _py_setresp(self, v=None):
        """redis.setresp(2|3): the protocol the script's commands reply in (Lua values and the
        script client's replies), for the rest of this run."""
        if v not in (2, 3) or isinstance(v, bool):
            raise ScriptError("ERR RESP version must be 2 or 3.")
        run = self._tls.__dict__.get("run")
        if run is not None:
            run.resp3 = v == 3
            run.client.resp = v

def _lua_argv(args) -> list[bytes] | bytes:
    """A redis.call's arguments as a command (luaArgsToRedisArgv), or the error text."""
    if not args:
        return b"ERR Please specify at least one argument for this redis lib call"
    argv = []
    for a in args:
        if isinstance(a, bytes):
            argv.append(a)
        elif isinstance(a, bool) or not isinstance(a, int | float):
            return b"ERR Lua redis lib command arguments must be strings or integers"
        else:
            argv.append(lua_number_arg(a))
    return argv


class ScriptError(Exception):
    """Raised by a Python callable into the script: its text becomes the Lua error (Redis's)."""


def _py_sha1(s=None):
    if isinstance(s, bool) or not isinstance(s, bytes | int | float):
        raise ScriptError("ERR wrong number of arguments")
    raw = s if isinstance(s, bytes) else lua_number_arg(s)
    return sha1hex(raw).encode()


SCRIPT_FLAGS = {b"no-writes", b"allow-oom", b"allow-stale", b"no-cluster",
                b"allow-cross-slot-keys"}


def _shebang_flags(body: bytes) -> set | None:
    """The flags of an EVAL script's `#!lua flags=...` line (evalExtractShebangFlags)."""
    if not body.startswith(b"#!"):
        return None
    parts = [p for p in body.split(b"\n", 1)[0].split(b" ") if p]
    if parts[0] != b"#!lua":
        raise Error(f"ERR Unexpected engine in script shebang: {parts[0].decode(errors='replace')}")
    flags: set = set()
    for part in parts[1:]:
        if not part.startswith(b"flags="):
            raise Error(f"ERR Unknown lua shebang option: {part.decode(errors='replace')}")
        for flag in part[6:].split(b","):
            if flag not in SCRIPT_FLAGS and flag:
                raise Error(f"ERR Unexpected flag in script shebang: {flag.decode(errors='replace')}")
            flags.add(flag)
    return flags


def _strip_shebang(body: bytes) -> bytes:
    if body.startswith(b"#!"):
        nl = body.find(b"\n")
        return b"--" if nl < 0 else b"--" + body[nl:]
    return body


# --- running a script ---------------------------------------------------------------------------

class _Channel:
    """Between the Lua worker thread and the event loop: the worker puts ("call", argv) or
    ("done", reply) into to_loop and waits for each call's reply on to_worker. In the inline
    phase the loop thread reads to_loop itself (blocking, within INLINE_BUDGET_S); in the async
    phase the worker wakes the loop (call_soon_threadsafe) to drain it."""

    def __init__(self, loop):
        self.loop = loop
        self.to_loop: queue.SimpleQueue = queue.SimpleQueue()
        self.to_worker: queue.SimpleQueue = queue.SimpleQueue()
        self.async_mode = False
        self.done = None  # asyncio future of the script's reply (async phase)
        self.finished = None  # ends the "script running" state, just before done is set
        self.ctx = None

    def post(self, msg) -> None:
        """Worker side."""
        self.to_loop.put(msg)
        if self.async_mode:
            self.loop.call_soon_threadsafe(self.drain)

    def drain(self) -> None:
        """Loop side, async phase: serve what the worker sent."""
        while True:
            try:
                kind, payload = self.to_loop.get_nowait()
            except queue.Empty:
                return
            if kind == "done":
                if not self.done.done():
                    # The script is over before its reply is awaited: a done callback would run
                    # after a caller that awaits the already-done future (asyncio.shield returns
                    # it as is), and its next command would find the script still running.
                    self.finished()
                    self.done.set_result(payload)
                continue
            holder: list = []
            reply = self.ctx.dispatch_safely(payload, holder)
            if holder:  # e.g. a write held by a RocksDB stall: answer the worker when it ends
                asyncio.ensure_future(self._answer_later(holder[0]))
                return
            self.to_worker.put(reply)

    async def _answer_later(self, suspended) -> None:
        try:
            reply = await suspended.waiter
        except Exception as exc:  # noqa: BLE001 - the script must get an answer
            reply = Error(f"ERR internal error: {exc}")
        self.to_worker.put(reply)
        self.drain()


class _Context:
    """Executes a script's commands on the loop thread: directly (inside EXEC) or through a
    _Channel from the worker thread."""

    def __init__(self, scripts: Scripts, run: Running, readonly: bool, channel=None):
        self.scripts = scripts
        self.server = scripts.server
        self.run = run
        self.readonly = readonly
        self.channel = channel

    def execute(self, argv: list[bytes]):
        if self.channel is None:
            return self._dispatch(argv, None)
        self.channel.post(("call", argv))
        return self.channel.to_worker.get()

    def dispatch_safely(self, argv, holder):
        try:
            return self._dispatch(argv, holder)
        except Exception as exc:  # noqa: BLE001 - a bug must not leave the worker waiting
            log.exception("event=script_command_failed")
            return Error(f"ERR internal error: {exc}")

    def _dispatch(self, argv, holder):
        from xcache.store.interfaces import Suspend

        name = argv[0].lower()
        cmd = COMMANDS.get(name)
        # scriptCall's checks: a refused command is a rejected call, its error counted
        if cmd is None:
            return self._rejected(None, argv, Error("ERR Unknown Redis command called from script"))
        if (cmd.arity > 0 and len(argv) != cmd.arity) or len(argv) < -cmd.arity:
            return self._rejected(cmd, argv, Error("ERR Wrong number of args calling Redis "
                                                   "command from script"))
        if (name in NOT_IN_SCRIPTS or "noscript" in cmd.flags
                or (len(argv) > 1 and (name, argv[1].lower()) in NOT_IN_SCRIPTS_SUB)) \
                and not self.run.client.server.script_disable_deny_script:
            return self._rejected(cmd, argv, Error("ERR This Redis command is not allowed from "
                                                   "script"))
        if not self.run.client.user.unrestricted:  # the caller's ACL (scriptVerifyACL)
            denied = script_acl_check(self.run.client, cmd, argv)
            if denied is not None:
                return self._rejected(cmd, argv, denied)
        if name in (b"xread", b"xreadgroup") and any(a.upper() == b"BLOCK" for a in argv[1:]):
            return Error(f"ERR {name.decode()} command is not allowed with BLOCK option from scripts")
        if self.readonly and may_replicate(cmd):
            # may-replicate commands (PUBLISH, PFCOUNT) count as writes here, as in Redis: a
            # read-only script is then never held by CLIENT PAUSE WRITE
            return self._rejected(cmd, argv, Error("ERR Write commands are not allowed from "
                                                   "read-only scripts."))
        if cmd.write:
            if not self.run.wrote:  # scriptVerifyWriteCommandAllow: until the script has written
                from xcache.store import durability

                refused = durability.refuse(self.server, self.run.caller, cmd)
                if refused is not None:
                    return self._rejected(cmd, argv, refused)
                if self.run.oom and maxmemory.script_command_refused(self.run, cmd, argv):
                    return self._rejected(cmd, argv, maxmemory.OOM)  # scriptVerifyOOM
            self.run.wrote = True
        saved, enginemod.frozen_ms = enginemod.frozen_ms, self.run.started_ms
        try:
            reply = self.server.call(self.run.client, cmd, argv)
        finally:
            enginemod.frozen_ms = saved
        if type(reply) is Error:  # an error reply inside a script counts in INFO errorstats
            self.server.count_error(reply)
            self.run.counted_errors.add(reply.message)
        if type(reply) is Suspend:
            if holder is None:  # inside EXEC: cannot wait for a stalled write
                return Error("BUSY write stall, retry later")
            holder.append(reply)
        return reply

    def _rejected(self, cmd, argv, error: Error) -> Error:
        """A command the script may not run now: a rejected call, its error counted once."""
        from xcache.store import cmdstats

        if cmd is not None:
            cmdstats.target(cmd, argv).rejected_calls += 1
        self.server.count_error(error)
        self.run.counted_errors.add(error.message)
        return error


def parse_keys(args: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    numkeys = parse_int(args[1])
    if numkeys > len(args) - 2:
        raise Error("ERR Number of keys can't be greater than number of args")
    if numkeys < 0:
        raise Error("ERR Number of keys can't be negative")
    return args[2:2 + numkeys], args[2 + numkeys:]


def scripts_of(server) -> Scripts:
    s = getattr(server, "scripts", None)
    if s is None:
        s = server.scripts = Scripts(server)
    return s


def start(c, sha: str, keys: list[bytes], argv: list[bytes], readonly: bool, fn=None,
          command: list[bytes] | None = None, flags=None):
    """Run the compiled script sha (or the library function fn, named sha) for client c: a
    Suspend, or the reply inside EXEC. flags: the declared ones (None: no shebang)."""

    from xcache.store.interfaces import Suspend

    scripts = scripts_of(c.server)
    is_function = fn is not None
    if fn is None:
        fn = scripts.functions[sha]
    over = c.server.over_maxmemory and c.kind != "master" and maxmemory.out_of_memory(c.server)
    if over and maxmemory.script_refused(flags):  # scriptPrepareForRun
        raise maxmemory.SCRIPT_OOM
    run = Running(ScriptClient(c.server, c.db), c)
    run.oom = over
    run.allow_oom = flags is not None and b"allow-oom" in flags
    run.function = is_function
    run.name = sha
    run.command = command or []
    run.keys = keys  # a read in the script makes a tracking caller cache them all
    if getattr(c, "in_exec", False):  # its writes are part of the transaction's block
        return _run_sync(scripts, run, fn, sha, keys, argv, readonly)
    # Its writes reach replicas as one block, MULTI ... EXEC (one write: as itself), at its end
    run.unit = c.server.replication.open_unit()
    try:
        reply = _run_threaded(scripts, run, fn, sha, keys, argv, readonly)
    except BaseException:
        _end_unit(run)
        raise
    if type(reply) is not Suspend:
        _end_unit(run)
    return reply


def _end_unit(run: Running) -> None:
    unit, run.unit = run.unit, None
    run.caller.server.replication.close_unit(run.caller, unit)


def _invoke(scripts: Scripts, run: Running, ctx: _Context, fn, sha, keys, argv, hooked: bool):
    lua = scripts._lua
    scripts._tls.ctx = ctx
    scripts._tls.run = run
    try:
        runner = scripts._run_function if run.function else scripts._run
        keys_t, argv_t, resp = lua.table_from(keys), lua.table_from(argv), run.client.resp
        ok, res = runner(fn, keys_t, argv_t, hooked, False)
        if not ok and STACK_REFUSED in _error_text(res):
            if run.calls:  # its first commands ran: running it again would repeat them
                return _script_error({b"err": TOO_MANY_AFTER, b"source": res[b"source"],
                                      b"line": res[b"line"]}, sha)
            # more arguments than lupa's call into Python takes (lua_api.py: packing), before
            # any command of the script ran: run it again with call/pcall packing them
            run.resp3, run.client.resp = False, resp
            first, (ok, res) = res, runner(fn, keys_t, argv_t, hooked, True)
            if not ok and not isinstance(res, bytes | None) and res[b"line"] is None:
                # a tail-called redis.call lost its frame: the refused call's line is its line
                res = {b"err": res[b"err"], b"source": first[b"source"], b"line": first[b"line"]}
        if not ok:
            error = _script_error(res, sha)
            if _error_text(res) in run.counted_errors:  # a command's error, raised by redis.call
                error.counted = True  # not counted twice (Redis's ignore_error_stats_update)
            return error
        reply = lua_to_reply(res, lua, run.resp3)
        if type(reply) is Error and reply.message in run.counted_errors:  # return redis.pcall(..)
            reply.counted = True
        return reply
    finally:
        scripts._tls.ctx = None
        scripts._tls.run = None


STACK_REFUSED = "(not a python object)"  # lupa's refusal of a call with too many arguments
MAX_C_ARGS = 7990  # lua_api.py's: calls with more arguments are packed in a rerun
TOO_MANY_AFTER = (b"ERR a redis.call with more than %d arguments can only come before the "
                  b"script's other commands here" % MAX_C_ARGS)


def _error_text(res) -> str:
    err = res[b"err"] if res is not None and not isinstance(res, bytes) else res
    return err.decode(errors="replace") if isinstance(err, bytes) else "ERR unknown error"


def _script_error(res, sha: str) -> Error:
    msg = _error_text(res)
    code = msg.split(" ", 1)[0]
    if not code or not code.isupper():
        msg = "ERR " + msg  # e.g. a library's error text: every error reply needs a code
    source = res[b"source"] if not isinstance(res, bytes | None) else None
    line = res[b"line"] if not isinstance(res, bytes | None) else None
    if source is not None and line is not None:
        msg += f" script: {sha}, on {source.decode(errors='replace')}:{int(line)}."
    return Error(msg)


def _run_sync(scripts, run, fn, sha, keys, argv, readonly):
    ctx = _Context(scripts, run, readonly)
    return _invoke(scripts, run, ctx, fn, sha, keys, argv, False)


def _run_threaded(scripts, run, fn, sha, keys, argv, readonly):
    """Run the script in the worker thread. The loop thread first waits for it, serving its
    commands itself, for up to INLINE_BUDGET_S (most scripts end there: no other client can run
    meanwhile, and the reply is immediate); then it returns to the event loop with the script
    marked running (other clients wait or get -BUSY) and serves the rest asynchronously."""
    from xcache.store.interfaces import Suspend

    server = scripts.server
    loop = asyncio.get_running_loop()
    channel = _Channel(loop)
    ctx = _Context(scripts, run, readonly, channel)
    channel.ctx = ctx

    def job():
        try:
            reply = _invoke(scripts, run, ctx, fn, sha, keys, argv, True)
        except Exception as exc:  # noqa: BLE001 - the caller must get an answer
            log.exception("event=script_failed")
            reply = Error(f"ERR internal error: {exc}")
        channel.post(("done", reply))

    scripts._pool.submit(job)
    deadline = time.monotonic() + INLINE_BUDGET_S
    pending = None
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        try:
            kind, payload = channel.to_loop.get(timeout=left)
        except queue.Empty:
            break
        if kind == "done":
            return payload
        holder: list = []
        reply = ctx.dispatch_safely(payload, holder)
        if holder:
            pending = holder[0]
            break
        channel.to_worker.put(reply)
    # Everything below is set up now, not in the coroutine: if the caller disconnects (its task
    # is cancelled, maybe before it starts), the script still runs to its end atomically and
    # the server leaves the "script running" state only then.
    channel.done = loop.create_future()

    def finished():
        server.running_script = None
        _end_unit(run)
        run.done.set()

    channel.finished = finished
    server.running_script = run
    channel.async_mode = True
    if pending is not None:
        asyncio.ensure_future(channel._answer_later(pending))
    else:
        loop.call_soon(channel.drain)  # what the worker sent before async_mode was set
    return Suspend(_async_phase(channel))


async def _async_phase(channel: _Channel):
    return await asyncio.shield(channel.done)


# --- the gate: other clients while a script runs ----------------------------------------------

def gate(server, c, argv: list[bytes]):
    """Called by Server.execute for a client other than the script's while a script runs:
    None (run it now), a Suspend (wait for the script) or -BUSY."""
    from xcache.store.interfaces import Suspend

    run = server.running_script
    name = argv[0].lower()
    sub = argv[1].upper() if len(argv) > 1 else b""
    if (name, sub) in ALLOWED_WHILE_BUSY or name in ALLOW_BUSY:
        return None
    threshold = server.cfg.busy_reply_threshold_ms / 1000
    elapsed = time.monotonic() - run.started
    if elapsed >= threshold and c.kind != "master":
        return BUSY_FUNCTION if run.function else BUSY
    return Suspend(_after_script(server, c, argv, run, max(threshold - elapsed, 0.0)))


async def _after_script(server, c, argv, run: Running, wait_s: float):
    from xcache.store.interfaces import Suspend

    try:
        await asyncio.wait_for(run.done.wait(), wait_s if c.kind != "master" else None)
    except TimeoutError:
        pass
    if c.closing:
        return None
    reply = server.execute(c, argv)
    if type(reply) is Suspend:
        reply = await reply.waiter
    return reply


# --- commands -----------------------------------------------------------------------------------

def refuse_declared_writer(c) -> None:
    """scriptPrepareForRun: a script that declared flags without no-writes may write, so on a
    master short of good replicas (min-replicas-to-write) it is refused before it runs."""
    from xcache.store import durability

    server, cfg = c.server, c.server.cfg
    if not (cfg.min_replicas_to_write and cfg.min_replicas_max_lag) or c.kind == "master" \
            or server.replication.is_replica:
        return
    if durability.good_replicas(server) < cfg.min_replicas_to_write:
        raise durability.NOREPLICAS


def _with_flags(scripts: Scripts, sha: str, ro: bool, c=None) -> bool:
    """Whether the script runs read-only; refuses a script with write flag under *_RO."""
    flags = scripts.flags.get(sha)
    if flags is None:
        return ro
    if ro and b"no-writes" not in flags:
        raise Error("ERR Can not execute a script with write flag using *_ro command.")
    if b"no-writes" not in flags and c is not None:
        refuse_declared_writer(c)
    return ro or b"no-writes" in flags


def _eval(c, args, readonly: bool):
    scripts = scripts_of(c.server)
    keys, argv = parse_keys(args)
    sha = scripts.compile(args[0])
    return start(c, sha, keys, argv, _with_flags(scripts, sha, readonly, c),
                 flags=scripts.flags.get(sha))


def _evalsha(c, args, readonly: bool):
    if len(args[0]) != 40:  # as eval.c: no SHA1 this long can match, checked before numkeys
        raise NOSCRIPT
    scripts = scripts_of(c.server)
    keys, argv = parse_keys(args)
    sha = args[0].decode(errors="replace").lower()
    if sha not in scripts.functions:
        raise NOSCRIPT
    return start(c, sha, keys, argv, _with_flags(scripts, sha, readonly, c),
                 flags=scripts.flags.get(sha))


@command("eval", -3, "noscript skip_monitor may_replicate no_mandatory_keys stale", 0, 0, 0)
def eval_(c, args):
    return _eval(c, args, False)


@command("eval_ro", -3, "noscript skip_monitor no_mandatory_keys stale readonly", 0, 0, 0)
def eval_ro(c, args):
    return _eval(c, args, True)


@command("evalsha", -3, "noscript skip_monitor may_replicate no_mandatory_keys stale", 0, 0, 0)
def evalsha(c, args):
    return _evalsha(c, args, False)


@command("evalsha_ro", -3, "noscript skip_monitor no_mandatory_keys stale readonly", 0, 0, 0)
def evalsha_ro(c, args):
    return _evalsha(c, args, True)


# Redis 7.0's SCRIPT help[] without DEBUG: the node has no Lua debugger and refuses it
SCRIPT_HELP = pick(help_text.SCRIPT_HELP, ("EXISTS", "FLUSH", "KILL", "LOAD"))

SCRIPT_ARITY = {b"LOAD": 3, b"EXISTS": -3, b"FLUSH": -2, b"KILL": 2, b"HELP": 2}


@command("script", -2, "noscript", 0, 0, 0)
@subcommands("script")
def script(c, args):
    sub = parse_subcommand("script", SCRIPT_ARITY, args)
    scripts = scripts_of(c.server)
    if sub == b"LOAD":
        return scripts.compile(args[1]).encode()
    if sub == b"EXISTS":
        return [1 if a.decode(errors="replace").lower() in scripts.functions else 0 for a in args[1:]]
    if sub == b"FLUSH":
        if len(args) > 2 or (len(args) == 2 and args[1].upper() not in (b"ASYNC", b"SYNC")):
            raise Error("ERR SCRIPT FLUSH only support SYNC|ASYNC option")
        scripts.flush()
        return OK
    if sub == b"KILL":
        run = c.server.running_script
        if run is None:
            raise NOTBUSY
        if run.function:
            raise BUSY_FUNCTION  # a function is killed by FUNCTION KILL
        if run.wrote:
            raise UNKILLABLE
        run.kill = True
        return OK
    return help_reply("SCRIPT", SCRIPT_HELP)
