"""The client-facing Redis Sentinel protocol: PING, INFO, ROLE, SENTINEL ..., (P)SUBSCRIBE.

Events are published on channels named after the event (`+sdown`, `+switch-master`, ...), with
Redis's message formats, to clients subscribed here (redis-py, the proxy, the dashboard).
"""

from __future__ import annotations

import asyncio
import os
import time

from xcache.glob import glob_match
from xcache.observability.logs import log_event
from xcache.resp import OK, PONG, Error, ProtocolError, RequestParser, SimpleString, encode_into
from xcache.resp.errors import unknown_command
from xcache.sentinel.auth import NOAUTH, OPEN_COMMANDS, SentinelAuth
from xcache.sentinel.instances import Instance, Master
from xcache.sentinel.node import SentinelNode, now_ms

SUBSCRIBE_CMDS = {b"SUBSCRIBE", b"PSUBSCRIBE", b"UNSUBSCRIBE", b"PUNSUBSCRIBE", b"PING", b"QUIT",
                  b"RESET"}


PUBSUB_BUFFER_LIMIT_BYTES = 32 * 1024 * 1024


class Session(asyncio.Protocol):
    """One client connection."""

    def __init__(self, server: SentinelServer):
        self.server = server
        self.parser = RequestParser(max_bulk_bytes=1024 * 1024, max_multibulk=1024)
        self.transport: asyncio.Transport | None = None
        self.channels: set[bytes] = set()
        self.patterns: set[bytes] = set()
        self.name: bytes | None = None
        self.resp3 = False
        self.user, self.authenticated = server.auth.open_session()
        self.host = "?"

    def connection_made(self, transport) -> None:
        self.transport = transport
        extra = getattr(transport, "get_extra_info", None)
        peer = extra("peername") if extra is not None else None
        self.host = str(peer[0]) if peer else "?"
        self.server.sessions.add(self)

    def connection_lost(self, exc) -> None:
        self.server.sessions.discard(self)
        for ch in self.channels:
            self.server.channels.get(ch, set()).discard(self)
        for p in self.patterns:
            self.server.patterns.get(p, set()).discard(self)

    def data_received(self, data: bytes) -> None:
        try:
            self.handle(data)
        except Exception as exc:  # a bug or MemoryError: answer it and close, never a silent drop
            log_event("sentinel", "session_error", "error", error=type(exc).__name__,
                      detail=str(exc)[:200])
            if self.transport is not None and not self.transport.is_closing():
                self.transport.write(b"-ERR internal error: %s\r\n" % type(exc).__name__.encode())
                self.transport.close()

    def handle(self, data: bytes) -> None:
        out: list = []
        try:
            commands = self.parser.feed(data)
        except ProtocolError as exc:
            encode_into(out, Error(f"ERR Protocol error: {exc}"))
            self.transport.write(b"".join(out))
            self.transport.close()
            return
        for cmd in commands:
            if not isinstance(cmd, list):  # the parser reports a broken request in line
                encode_into(out, Error(f"ERR Protocol error: {cmd}"))
                self.transport.write(b"".join(out))
                self.transport.close()
                return
            name = cmd[0].upper()
            if name == b"QUIT":
                encode_into(out, OK)
                self.transport.write(b"".join(out))
                self.transport.close()
                return
            try:
                reply = self.server.dispatch(self, cmd)
            except Error as exc:
                reply = exc
            if type(reply) is _Many:
                for r in reply:
                    encode_reply(out, r, self.resp3)
            else:
                encode_reply(out, reply, self.resp3)
        if out:
            self.transport.write(b"".join(out))

    def push(self, message: list) -> None:
        if self.transport is not None and not self.transport.is_closing():
            if self.transport.get_write_buffer_size() > PUBSUB_BUFFER_LIMIT_BYTES:
                self.transport.close()  # a subscriber that does not read (Redis: pubsub buffer limit)
                return
            out: list = []
            encode_reply(out, Push(message), self.resp3)
            self.transport.write(b"".join(out))


class _Many(list):
    """Several replies to one command (SUBSCRIBE a b -> one confirmation each)."""


class Push(list):
    """An out-of-band message (pub/sub): '>' in RESP3, an array in RESP2."""


def encode_reply(out: list, reply, resp3: bool) -> None:
    """encode_into plus what RESP3 adds (HELLO 3): maps, nulls and pushes."""
    t = type(reply)
    if t is dict:
        if resp3:
            out.append(b"%%%d\r\n" % len(reply))
        else:
            out.append(b"*%d\r\n" % (2 * len(reply)))
        for k, v in reply.items():
            encode_reply(out, k, resp3)
            encode_reply(out, v, resp3)
    elif t is Push or t is list or t is _Many:
        out.append(b"%b%d\r\n" % (b">" if resp3 and t is Push else b"*", len(reply)))
        for item in reply:
            encode_reply(out, item, resp3)
    elif reply is None and resp3:
        out.append(b"_\r\n")
    else:
        encode_into(out, reply)


def _s(value) -> bytes:
    return str(value).encode()


def _wrong_args(cmd: str) -> Error:
    return Error(f"ERR wrong number of arguments for '{cmd}' command")


class SentinelServer:
    """Dispatch of client commands over a SentinelNode; fan-out of events to subscribers."""

    def __init__(self, node: SentinelNode):
        self.node = node
        self.auth = SentinelAuth(node.cfg)
        node.auth_brake = self.auth.brake  # for metrics
        node.publish = self.publish
        self.sessions: set[Session] = set()
        self.channels: dict[bytes, set[Session]] = {}
        self.patterns: dict[bytes, set[Session]] = {}
        self.started = time.time()
        self._server: asyncio.Server | None = None
        self._tls_server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> int:
        loop = asyncio.get_running_loop()
        cfg = self.node.cfg
        if cfg.tls_port:  # first: once the plain port accepts, the TLS port does too
            from xcache.tlsconfig import server_context

            ctx = server_context(cfg.tls_cert_file, cfg.tls_key_file, cfg.tls_ca_cert_file, cfg.tls_auth_clients)
            self._tls_server = await loop.create_server(lambda: Session(self), host, cfg.tls_port, ssl=ctx,
                                                        reuse_address=True, ssl_handshake_timeout=10)
        self._server = await loop.create_server(lambda: Session(self), host, port, reuse_address=True)
        return self._server.sockets[0].getsockname()[1]

    def close(self) -> None:
        if self._tls_server is not None:
            self._tls_server.close()
        if self._server is not None:
            self._server.close()
        for s in list(self.sessions):
            if s.transport is not None:
                s.transport.close()

    def publish(self, channel: str, message: str) -> None:
        ch, msg = channel.encode(), message.encode()
        for s in list(self.channels.get(ch, ())):
            s.push([b"message", ch, msg])
        for pattern, subs in list(self.patterns.items()):
            if glob_match(pattern, ch):
                for s in list(subs):
                    s.push([b"pmessage", pattern, ch, msg])

    # ---- dispatch --------------------------------------------------------------------------
    def dispatch(self, s: Session, cmd: list[bytes]):
        name, args = cmd[0].upper(), cmd[1:]
        if not s.authenticated and name not in OPEN_COMMANDS:
            return NOAUTH
        if not s.user.unrestricted and (refused := self.auth.denied(s.user, name, args, s.host)) is not None:
            return refused
        if (s.channels or s.patterns) and name not in SUBSCRIBE_CMDS:
            return Error(f"ERR Can't execute '{name.decode(errors='replace').lower()}': only (P|S)SUBSCRIBE / "
                         "(P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context")
        handler = self.COMMANDS.get(name)
        if handler is None:
            return Error("ERR " + unknown_command(cmd))
        return handler(self, s, args)

    def cmd_ping(self, s: Session, args: list[bytes]):
        if (s.channels or s.patterns) and not s.resp3:
            return [b"pong", args[0] if args else b""]
        return args[0] if args else PONG

    def cmd_echo(self, s: Session, args: list[bytes]):
        if len(args) != 1:
            return _wrong_args("echo")
        return args[0]

    def cmd_role(self, s: Session, args: list[bytes]):
        return [b"sentinel", [m.encode() for m in self.node.masters]]

    def cmd_client(self, s: Session, args: list[bytes]):
        sub = args[0].upper() if args else b""
        if sub == b"SETNAME" and len(args) == 2:
            s.name = args[1] or None
            return OK
        if sub == b"GETNAME":
            return s.name
        if sub == b"SETINFO":
            return OK
        if sub == b"ID":
            return id(s) & 0xFFFFFFFF
        return Error("ERR Unknown CLIENT subcommand or wrong number of arguments")

    def cmd_command(self, s: Session, args: list[bytes]):
        return []

    def cmd_info(self, s: Session, args: list[bytes]):
        node = self.node
        lines = ["# Server", "redis_version:7.0.0", "redis_mode:sentinel", "xcache_mode:sentinel",
                 f"process_id:{os.getpid()}", f"run_id:{node.run_id}", f"tcp_port:{node.cfg.port}",
                 f"uptime_in_seconds:{int(time.time() - self.started)}", "",
                 "# Clients", f"connected_clients:{len(self.sessions)}", "",
                 "# Sentinel", f"sentinel_masters:{len(node.masters)}", "sentinel_tilt:0",
                 "sentinel_running_scripts:0", "sentinel_scripts_queue_length:0",
                 "sentinel_simulate_failure_flags:0", f"sentinel_current_epoch:{node.epochs.current}"]
        for i, m in enumerate(node.masters.values()):
            status = "odown" if m.odown else "sdown" if m.health.sdown else "ok"
            host, port = m.current_addr()
            lines.append(f"master{i}:name={m.name},status={status},address={host}:{port},"
                         f"slaves={len(m.replicas)},sentinels={len(m.sentinels) + 1},"
                         f"stalled={int(m.health.stalled)}")
        section = args[0].lower() if args else b""
        if section and section not in (b"all", b"everything", b"default"):
            keep, out = False, []
            for line in lines:
                if line.startswith("# "):
                    keep = line[2:].lower().encode() == section
                if keep:
                    out.append(line)
            lines = out
        return ("\r\n".join(lines) + "\r\n").encode()

    def cmd_subscribe(self, s: Session, args: list[bytes]):
        return self._sub(s, args, s.channels, self.channels, b"subscribe")

    def cmd_psubscribe(self, s: Session, args: list[bytes]):
        return self._sub(s, args, s.patterns, self.patterns, b"psubscribe")

    def _sub(self, s: Session, args, mine: set, registry: dict, kind: bytes):
        if not args:
            return _wrong_args(kind.decode())
        out = _Many()
        for t in args:
            mine.add(t)
            registry.setdefault(t, set()).add(s)
            out.append(Push([kind, t, len(s.channels) + len(s.patterns)]))
        return out

    def cmd_unsubscribe(self, s: Session, args: list[bytes]):
        return self._unsub(s, args, s.channels, self.channels, b"unsubscribe")

    def cmd_punsubscribe(self, s: Session, args: list[bytes]):
        return self._unsub(s, args, s.patterns, self.patterns, b"punsubscribe")

    def _unsub(self, s: Session, args, mine: set, registry: dict, kind: bytes):
        targets = list(args) if args else sorted(mine)
        out = _Many()
        for t in targets:
            mine.discard(t)
            registry.get(t, set()).discard(s)
            out.append(Push([kind, t, len(s.channels) + len(s.patterns)]))
        if not targets:
            out.append(Push([kind, None, len(s.channels) + len(s.patterns)]))
        return out

    def cmd_hello(self, s: Session, args: list[bytes]):
        if args:
            try:
                proto = int(args[0])
            except ValueError:
                return Error("ERR Protocol version is not an integer or out of range")
            if proto not in (2, 3):
                return Error("NOPROTO unsupported protocol version")
            s.resp3 = proto == 3
        opts = [a.upper() for a in args]
        if b"AUTH" in opts:
            i = opts.index(b"AUTH")
            if i + 2 >= len(args):
                return Error(f"ERR Syntax error in HELLO option '{args[i].decode(errors='replace')}'")
            s.user = self.auth.login(s.host, args[i + 1], args[i + 2], "HELLO")
            s.authenticated = True
        if not s.authenticated:
            return Error("NOAUTH HELLO must be called with the client already authenticated, otherwise "
                         "the HELLO AUTH <user> <pass> option can be used to authenticate the "
                         "client and select the RESP protocol version at the same time")
        if b"SETNAME" in opts and opts.index(b"SETNAME") + 1 < len(args):
            s.name = args[opts.index(b"SETNAME") + 1]
        return {b"server": b"redis", b"version": b"7.0.0", b"proto": 3 if s.resp3 else 2,
                b"id": id(s) & 0xFFFFFFFF, b"mode": b"sentinel", b"role": b"master", b"modules": []}

    def cmd_reset(self, s: Session, args: list[bytes]):
        self._unsub(s, [], s.channels, self.channels, b"unsubscribe")
        self._unsub(s, [], s.patterns, self.patterns, b"punsubscribe")
        s.resp3, s.name = False, None
        s.user, s.authenticated = self.auth.open_session()
        return SimpleString(b"RESET")

    def cmd_auth(self, s: Session, args: list[bytes]):
        s.user = self.auth.auth_command(s.host, args)
        s.authenticated = True
        return OK

    def cmd_acl(self, s: Session, args: list[bytes]):
        reply = self.auth.acl_command(s.user, args)
        if args and args[0].lower() == b"deluser" and not isinstance(reply, Error):
            for other in list(self.sessions):  # sessions of a deleted user are closed
                if other.user.name not in self.auth.acl.users and other.transport is not None:
                    other.transport.close()
        return reply

    # ---- SENTINEL ----------------------------------------------------------------------------
    def cmd_sentinel(self, s: Session, args: list[bytes]):
        if not args:
            return _wrong_args("sentinel")
        sub = args[0].decode(errors="replace").lower()
        handler = getattr(self, "sentinel_" + sub.replace("-", "_"), None)
        if handler is None:
            return Error(f"ERR Unknown sentinel subcommand '{sub}'")
        return handler(args[1:])

    def _master(self, name: bytes) -> Master:
        m = self.node.masters.get(name.decode(errors="replace"))
        if m is None:
            raise Error("ERR No such master with that name")
        return m

    def sentinel_masters(self, args):
        return [self._describe(m, m) for m in self.node.masters.values()]

    def sentinel_master(self, args):
        if len(args) != 1:
            return _wrong_args("sentinel master")
        m = self._master(args[0])
        return self._describe(m, m)

    def sentinel_replicas(self, args):
        if len(args) != 1:
            return _wrong_args("sentinel replicas")
        m = self._master(args[0])
        return [self._describe(r, m) for r in m.replicas.values()]

    sentinel_slaves = sentinel_replicas

    def sentinel_sentinels(self, args):
        if len(args) != 1:
            return _wrong_args("sentinel sentinels")
        m = self._master(args[0])
        return [self._describe(p, m) for p in m.sentinels.values()]

    def sentinel_get_master_addr_by_name(self, args):
        if len(args) != 1:
            return _wrong_args("sentinel get-master-addr-by-name")
        m = self.node.masters.get(args[0].decode(errors="replace"))
        if m is None:
            return None
        host, port = m.current_addr()
        return [host.encode(), _s(port)]

    def sentinel_myid(self, args):
        return self.node.run_id.encode()

    def sentinel_is_master_down_by_addr(self, args):
        if len(args) != 4:
            return _wrong_args("sentinel is-master-down-by-addr")
        try:
            host, port, epoch = args[0].decode(errors="replace"), int(args[1]), int(args[2])
        except ValueError:
            return Error("ERR value is not an integer or out of range")
        runid = args[3].decode(errors="replace")
        m = self.node.master_by_addr(host, port)
        down = 1 if m is not None and m.health.sdown else 0
        leader, leader_epoch = "", 0
        if m is not None and runid != "*":
            leader, leader_epoch = self.node.vote(m, runid, epoch)
        return [down, (leader or "*").encode(), leader_epoch]

    def sentinel_ckquorum(self, args):
        if len(args) != 1:
            return _wrong_args("sentinel ckquorum")
        m = self._master(args[0])
        voters = len(m.sentinels) + 1
        usable = m.usable_sentinels()
        if usable < m.quorum:
            return Error(f"NOQUORUM {usable} usable Sentinels. Not enough available Sentinels to "
                         "reach the specified quorum for this master")
        if usable < voters // 2 + 1:
            return Error(f"NOQUORUM {usable} usable Sentinels. Not enough available Sentinels to "
                         "reach the majority and authorize a failover")
        return SimpleString(f"OK {usable} usable Sentinels. Quorum and failover authorization "
                            "can be reached".encode())

    def sentinel_failover(self, args):
        if len(args) != 1:
            return _wrong_args("sentinel failover")
        err = self.node.start_forced_failover(self._master(args[0]))
        return Error(err) if err else OK

    def sentinel_reset(self, args):
        if len(args) != 1:
            return _wrong_args("sentinel reset")
        hits = [m for name, m in self.node.masters.items() if glob_match(args[0], name.encode())]
        for m in hits:
            self.node.reset(m)
        return len(hits)

    def sentinel_monitor(self, args):
        if len(args) != 4:
            return _wrong_args("sentinel monitor")
        name = args[0].decode(errors="replace")
        try:
            port, quorum = int(args[2]), int(args[3])
        except ValueError:
            return Error("ERR value is not an integer or out of range")
        if quorum <= 0:
            return Error("ERR Quorum must be 1 or greater.")
        if not 0 < port < 65536:
            return Error("ERR Invalid port number")
        if name in self.node.masters:
            return Error("ERR Duplicated master name")
        try:
            host = args[1].decode("ascii")
        except UnicodeDecodeError:
            return Error("ERR Invalid IP address or hostname specified")
        self.node.monitor(name, host, port, quorum)
        return OK

    def sentinel_remove(self, args):
        if len(args) != 1:
            return _wrong_args("sentinel remove")
        self.node.remove(self._master(args[0]).name)
        return OK

    SETTABLE = {"down-after-milliseconds": ("down_after_ms", 1),
                "stalled-down-after-milliseconds": ("stalled_down_after_ms", 1),
                "failover-timeout": ("failover_timeout_ms", 1),
                "parallel-syncs": ("parallel_syncs", 1), "quorum": ("quorum", 1),
                "auth-pass": ("auth_pass", None)}

    def sentinel_set(self, args):
        if len(args) < 3 or len(args) % 2 == 0:
            return _wrong_args("sentinel set")
        m = self._master(args[0])
        changes = []
        for i in range(1, len(args), 2):
            opt, raw = args[i].decode(errors="replace").lower(), args[i + 1].decode(errors="replace")
            if opt not in self.SETTABLE:
                return Error(f"ERR Unknown option or number of arguments for SENTINEL SET '{opt}'")
            attr, minimum = self.SETTABLE[opt]
            if minimum is None:
                changes.append((attr, raw))
                continue
            try:
                value = int(raw)
            except ValueError:
                value = -1
            if value < minimum:
                return Error(f"ERR Invalid argument '{raw}' for SENTINEL SET '{opt}'")
            changes.append((attr, value))
        for attr, value in changes:
            setattr(m, attr, value)
            self.node.event("+set", m, m, f" {attr} {value if attr != 'auth_pass' else '***'}")
        return OK

    # ---- descriptions ------------------------------------------------------------------------
    def _describe(self, inst: Instance, m: Master) -> dict[bytes, bytes]:
        now = now_ms()
        h = inst.health
        flags = [inst.kind]
        if h.sdown:
            flags.append("s_down")
        if inst is m and m.odown:
            flags.append("o_down")
        if not h.connected:
            flags.append("disconnected")
        if inst is m and m.failover is not None and m.failover.active:
            flags.append("failover_in_progress")
        if inst.promoted:
            flags.append("promoted")
        if h.stalled:
            flags.append("stalled")
        host, port = m.current_addr() if inst is m else (inst.host, inst.port)
        fields: list[tuple[str, object]] = [
            ("name", inst.name if inst is not m else m.name), ("ip", host), ("port", port),
            ("runid", inst.runid), ("flags", ",".join(flags)),
            ("link-pending-commands", inst.link.pending if inst.link else 0), ("link-refcount", 1),
            ("last-ping-sent", int(now - h.ping_pending_since) if h.ping_pending_since is not None else 0),
            ("last-ok-ping-reply", int(now - h.last_avail)),
            ("last-ping-reply", int(now - h.last_pong) if h.last_pong else int(now - h.created)),
        ]
        if h.sdown:
            fields.append(("s-down-time", int(now - h.sdown_since)))
        if inst is m and m.odown:
            fields.append(("o-down-time", int(now - m.odown_since)))
        fields.append(("down-after-milliseconds", m.down_after_ms))
        if inst.kind != "sentinel":
            fields += [("info-refresh", int(now - inst.info_time) if inst.info_time else 0),
                       ("role-reported", inst.role or inst.kind),
                       ("role-reported-time", int(now - inst.role_time) if inst.role_time else 0),
                       ("stalled", int(h.stalled)), ("write-stall-seconds", f"{h.stall_seconds:g}"),
                       ("probe-latency-ms", f"{h.probe_latency_ms:.3f}")]
        if inst is m:
            fields += [("config-epoch", m.config_epoch), ("num-slaves", len(m.replicas)),
                       ("num-other-sentinels", len(m.sentinels)), ("quorum", m.quorum),
                       ("failover-timeout", m.failover_timeout_ms),
                       ("parallel-syncs", m.parallel_syncs),
                       ("stalled-down-after-milliseconds", m.stalled_down_after_ms)]
            if m.failover is not None and m.failover.active:
                fields.append(("failover-state", m.failover.state.value))
        elif inst.kind == "slave":
            info = inst.info
            fields += [("master-link-down-time", int(info.master_link_down_ms) if info else 0),
                       ("master-link-status", "ok" if info and info.master_link_up else "err"),
                       ("master-host", info.master_host if info else "?"),
                       ("master-port", info.master_port if info else 0),
                       ("slave-priority", info.priority if info else 100),
                       ("slave-repl-offset", info.repl_offset if info else 0),
                       ("replica-announced", 1)]
        else:
            leader, leader_epoch = inst.opinion.leader, inst.opinion.leader_epoch
            fields += [("last-hello-message", int(now - inst.last_hello)),
                       ("voted-leader", leader or "?"), ("voted-leader-epoch", leader_epoch)]
        return {k.encode(): _s(v) for k, v in fields}

    COMMANDS = {
        b"PING": cmd_ping, b"ECHO": cmd_echo, b"ROLE": cmd_role, b"CLIENT": cmd_client,
        b"COMMAND": cmd_command, b"INFO": cmd_info, b"SUBSCRIBE": cmd_subscribe,
        b"PSUBSCRIBE": cmd_psubscribe, b"UNSUBSCRIBE": cmd_unsubscribe,
        b"PUNSUBSCRIBE": cmd_punsubscribe, b"AUTH": cmd_auth, b"ACL": cmd_acl, b"HELLO": cmd_hello, b"RESET": cmd_reset, b"SENTINEL": cmd_sentinel,
    }
