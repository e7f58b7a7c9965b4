"""CLUSTER, READONLY, READWRITE and ASKING as a Redis 7 node without cluster support answers them.

A storage node is not a Redis Cluster node (the proxy routes slots; INFO says cluster_enabled:0).
Cluster-aware clients probe with these commands and take "This instance has cluster support
disabled" as the sign to talk to it as a standalone server, so the node gives Redis's exact
error rather than "unknown command". CLUSTER's subcommands are looked up first, as in Redis: an
unknown one or a wrong arity gets the lookup error, every known one (HELP included) the refusal.
"""

from __future__ import annotations

from xcache.resp import Error
from xcache.store.commands import command
from xcache.store.subcommands import subcommands

CLUSTER_DISABLED = Error("ERR This instance has cluster support disabled")


@command("cluster", -2, "", 0, 0, 0)
@subcommands("cluster")
def cluster(c, args):
    raise CLUSTER_DISABLED


@command("readonly", 1, "loading stale fast", 0, 0, 0)
def readonly(c, args):
    raise CLUSTER_DISABLED


@command("readwrite", 1, "loading stale fast", 0, 0, 0)
def readwrite(c, args):
    raise CLUSTER_DISABLED


@command("asking", 1, "fast", 0, 0, 0)
def asking(c, args):
    raise CLUSTER_DISABLED
