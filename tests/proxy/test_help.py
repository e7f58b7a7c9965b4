"""HELP of the commands the proxy answers itself (CLIENT, ACL, SCRIPT): Redis 7.0's status lines
for the subcommands it serves, each one served through the proxy; PUBSUB HELP is a node's."""

from __future__ import annotations

import pytest

from tests.help_lines import call_of, entries, raw, status_lines


@pytest.mark.parametrize("proto", [2, 3])
@pytest.mark.parametrize("cmd", ["CLIENT", "ACL", "SCRIPT"])
def test_help_lists_redis_entries_the_proxy_serves(proxy, backends, cmd, proto):
    want = status_lines(raw(backends[0].port, cmd, "HELP", proto=proto))
    got = status_lines(raw(proxy.port, cmd, "HELP", proto=proto))
    assert got[0] == want[0] and got[-2:] == want[-2:] == ["HELP", "    Prints this help."]
    mine = entries(got[1:-2])
    it = iter(entries(want[1:-2]))
    assert mine and all(e in it for e in mine), "not Redis's entries in Redis's order"
    for entry in mine:
        reply = raw(proxy.port, cmd, *call_of(entry[0]))
        assert not reply.startswith((b"-ERR unknown subcommand", b"-ERR xcache:")), (entry, reply)


@pytest.mark.parametrize("proto", [2, 3])
def test_pubsub_help_through_the_proxy(proxy, backends, proto):
    assert raw(proxy.port, "PUBSUB", "HELP", proto=proto) == raw(backends[0].port, "PUBSUB",
                                                                    "HELP", proto=proto)
