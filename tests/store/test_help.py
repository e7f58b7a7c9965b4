"""`<CMD> HELP`, CLUSTER/READONLY/READWRITE/ASKING and MODULE, against redis-server 7.0.

Redis builds every HELP reply with addReplyHelp: status lines only, a header naming the command,
the command's help[] lines, then HELP / "    Prints this help.". Where the node serves every
subcommand Redis lists, the raw reply (RESP2 and RESP3) must be Redis's; where it leaves some out,
its lines must be Redis's own entries, in Redis's order, and each one it lists must be served.
"""

from __future__ import annotations

import hiredis
import pytest

from tests.help_lines import call_of, entries, raw, status_lines
from tests.procs import proc_fixture, start_redis, start_xcache_server
from xcache.resp import Error
from xcache.resp import help as help_text
from xcache.store import noscripting


def _start_redis_debug(tmp):
    """redis-server answering DEBUG HELP (the debug command is off by default in 7.0)."""
    return start_redis(tmp, "--enable-debug-command", "yes")


redis_dbg = proc_fixture(_start_redis_debug, "redis-help", scope="module")
# a node of its own: the acceptance checks run DEBUG RELOAD, CHANGE-REPL-ID...
xcache_own = proc_fixture(start_xcache_server, "xcache-help", scope="module")

# the node serves every subcommand these list in Redis 7.0
FULL = ["OBJECT", "CLIENT", "CONFIG", "COMMAND", "FUNCTION", "XINFO", "XGROUP", "SLOWLOG",
        "LATENCY", "MEMORY", "PUBSUB", "ACL"]
# ... and some of these (see the comments next to their help lines)
PARTIAL = ["SCRIPT", "DEBUG", "MODULE"]


@pytest.mark.parametrize("proto", [2, 3])
@pytest.mark.parametrize("cmd", FULL + ["object", "Pubsub"])
def test_help_is_redis_reply(xcache_own, redis_dbg, cmd, proto):
    """Byte for byte Redis's reply, whatever the case the command is typed in."""
    want = raw(redis_dbg.port, cmd, "HELP", proto=proto)
    assert raw(xcache_own.port, cmd, "help", proto=proto) == want
    assert status_lines(want)


@pytest.mark.parametrize("proto", [2, 3])
@pytest.mark.parametrize("cmd", PARTIAL)
def test_help_lists_redis_entries_it_serves(xcache_own, redis_dbg, cmd, proto):
    """Status lines, Redis's header and footer, Redis's entries in Redis's order, each served."""
    want = status_lines(raw(redis_dbg.port, cmd, "HELP", proto=proto))
    got = status_lines(raw(xcache_own.port, cmd, "HELP", proto=proto))
    assert got[0] == want[0] == f"{cmd} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    assert got[-2:] == want[-2:] == ["HELP", "    Prints this help."]
    mine, redis_entries = entries(got[1:-2]), entries(want[1:-2])
    assert mine and len(mine) < len(redis_entries)
    it = iter(redis_entries)
    assert all(e in it for e in mine), "not Redis's entries in Redis's order"
    for entry in mine:
        reply = raw(xcache_own.port, cmd, *call_of(entry[0]))
        assert not reply.startswith(b"-ERR unknown subcommand"), (entry[0], reply)


@pytest.mark.parametrize("proto", [2, 3])
@pytest.mark.parametrize("argv", [
    ["CLUSTER", "HELP"], ["CLUSTER", "INFO"], ["CLUSTER", "SLOTS"], ["CLUSTER", "NODES"],
    ["CLUSTER", "MYID"], ["cluster", "shards"], ["CLUSTER", "KEYSLOT", "k"],
    ["CLUSTER", "nosuch"], ["CLUSTER"], ["CLUSTER", "INFO", "x"],
    ["READONLY"], ["READWRITE"], ["ASKING"], ["READONLY", "x"],
    ["COMMAND", "DOCS", "readonly", "readwrite", "asking"],
    ["MODULE", "LIST"], ["MODULE", "LOAD", "/nonexistent.so"], ["MODULE", "UNLOAD", "x"],
    ["MODULE", "LOADEX", "/nonexistent.so"], ["MODULE", "nosuch"], ["MODULE", "LIST", "x"],
    ["ACL", "LOAD"], ["ACL", "SAVE"], ["acl", "load", "x"], ["ACL", "SAVE", "x"],
])
def test_cluster_and_module_as_a_default_redis(xcache_own, redis_dbg, argv, proto):
    """Cluster-aware clients probe with these: the node answers as a non-cluster Redis 7; MODULE
    as one with no module and module loading off (its default)."""
    want = raw(redis_dbg.port, *argv, proto=proto)
    assert raw(xcache_own.port, *argv, proto=proto) == want


def _sorted_subcommands(info: list) -> list:
    """COMMAND INFO entries with their subcommands sorted: Redis lists them in the order of a
    hash table seeded at random per process, so two redis-servers differ too."""
    return [e[:9] + [sorted(e[9])] + e[10:] for e in info]


@pytest.mark.parametrize("proto", [2, 3])
def test_cluster_and_module_in_command_info(xcache_own, redis_dbg, proto):
    """COMMAND INFO describes them as Redis does, and COMMAND COUNT counts them."""
    names = ["cluster", "readonly", "readwrite", "asking", "module"]
    replies = []
    for port in (xcache_own.port, redis_dbg.port):
        reader = hiredis.Reader()
        reader.feed(raw(port, "COMMAND", "INFO", *names, proto=proto))
        replies.append(_sorted_subcommands(reader.gets()))
    assert replies[0] == replies[1]
    count = hiredis.Reader()
    count.feed(raw(xcache_own.port, "COMMAND", "COUNT") + raw(xcache_own.port, "COMMAND", "LIST"))
    n, listed = count.gets(), count.gets()
    # COUNT counts commands; LIST names their subcommands too (cluster|info...), as Redis's
    assert n == len([x for x in listed if b"|" not in x]) and {x.encode() for x in names} <= set(listed)


@pytest.mark.parametrize(("handler", "redis_lines"), [
    (noscripting.function, help_text.FUNCTION_HELP), (noscripting.script, help_text.SCRIPT_HELP)])
def test_help_of_a_node_without_scripting(handler, redis_lines):
    """FUNCTION / SCRIPT HELP where no scripting module is loaded (no redis-server to compare
    with): Redis 7.0's entries (the texts checked above), only of what it serves."""
    lines = [line.decode() for line in handler(None, [b"HELP"])]
    assert lines[-2:] == ["HELP", "    Prints this help."]
    mine = entries(lines[1:-2])
    it = iter(entries(list(redis_lines)))
    assert mine and all(e in it for e in mine)
    for entry in mine:
        try:
            handler(None, [a.encode() for a in call_of(entry[0])])
        except Error as exc:
            assert not str(exc).startswith("ERR unknown subcommand"), (entry[0], exc)
            assert exc is not noscripting.NO_SCRIPTING, entry[0]  # refused: not advertised
