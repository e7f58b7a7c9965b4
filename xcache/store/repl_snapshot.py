"""A full resync's snapshot on disk: the master's checkpoint directory tarred for sending, the
replica's received tar extracted and swapped in for its database, and what a crash left of
either. Blocking file work: callers run it in a thread, except the swap (nothing may run between
closing the old engine and opening the new one).
"""

from __future__ import annotations

import gc
import itertools
import logging
import os
import shutil
import tarfile
import time

from xcache.store.engine import Engine

log = logging.getLogger("xcache.replication")

SNAPSHOT_PREFIX = "repl-snapshot-"  # the master's checkpoint (and its .tar) for one replica
INCOMING_TAR = "repl-incoming.tar"  # the replica's download
INCOMING_DIR = "repl-incoming"  # ... extracted
OLD_DB = "db.old"  # a replaced database, removed once the new one runs
CHUNK_BYTES = 256 * 1024  # transfer unit, both ways
# REPLCONF capa of an xcache replica: its full resync comes as a tar of a RocksDB checkpoint.
# A replica without it (redis-server, redis-shake...) gets an RDB, as from Redis.
SNAPSHOT_CAPA = b"xcache-snapshot"
_ids = itertools.count(1)


def checkpoint_path(data_dir: str) -> str:
    """A new path for a checkpoint (unique in this process; another's leftovers are removed)."""
    return os.path.join(data_dir, f"{SNAPSHOT_PREFIX}{os.getpid()}-{next(_ids)}")


def remove_leftovers(
    data_dir: str, prefixes: tuple[str, ...] = (SNAPSHOT_PREFIX, INCOMING_TAR, INCOMING_DIR, OLD_DB)
) -> None:
    """Snapshots and transfers interrupted by a crash; replaced databases."""
    for name in os.listdir(data_dir):
        if name.startswith(prefixes):
            remove(os.path.join(data_dir, name))


def make_tar(src_dir: str, tar_path: str) -> int:
    with tarfile.open(tar_path, "w") as tf:
        for name in sorted(os.listdir(src_dir)):
            tf.add(os.path.join(src_dir, name), arcname=name)
    return os.path.getsize(tar_path)


def extract_tar(tar_path: str, dest: str) -> None:
    remove(dest)
    os.makedirs(dest)
    with tarfile.open(tar_path) as tf:
        tf.extractall(dest, filter="data")
    os.remove(tar_path)


def swap_in(data_dir: str, db_path: str, new_dir: str) -> None:
    """Put new_dir where the closed database at db_path was (that one is removed later)."""
    os.rename(db_path, os.path.join(data_dir, f"{OLD_DB}-{next(_ids)}"))
    os.rename(new_dir, db_path)


def reopen(cfg) -> Engine:
    """Open the installed snapshot; a thread that slipped in may hold the old LOCK a moment."""
    for attempt in range(50):
        try:
            return Engine(cfg)
        except Exception as exc:
            if "lock" not in str(exc).lower() or attempt == 49:
                # Closed engine, no data: better to exit (a supervisor restarts us and we resync)
                # than to keep answering PING with no usable store.
                log.critical("event=engine_reopen_failed error=%s", exc)
                os._exit(1)
            gc.collect()
            time.sleep(0.01)  # rare and short: a WAL fsync finishing
    raise AssertionError("unreachable")


def remove(path: str) -> None:
    if os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.exists(path):
        os.remove(path)
