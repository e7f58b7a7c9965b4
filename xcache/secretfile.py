"""Keeping secrets and data private on disk: files 0600, directories 0700, secrets in files
(never on a command line, where `ps` and /proc/<pid>/cmdline show them to every local user).

`private_umask()` is applied by the `xcache` command itself, so everything any component
creates (RocksDB files and WAL, logs, topology.json, state files) is owner-only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

PRIVATE_UMASK = 0o077


def private_umask() -> None:
    os.umask(PRIVATE_UMASK)


def private_dir(path: str | os.PathLike) -> Path:
    """Create path (and parents) if missing and make it 0700."""
    p = Path(path)
    p.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(p, 0o700)
    return p


def write_private(path: str | os.PathLike, data: bytes | str) -> Path:
    """Write a 0600 file atomically (tmp file, fsync, rename): never readable by others."""
    p = Path(path)
    raw = data.encode() if isinstance(data, str) else data
    tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, raw)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, p)
    return p


def toml_text(values: dict) -> str:
    """A flat TOML document of str/int/float/bool values (JSON strings are valid TOML strings)."""
    lines = []
    for k, v in values.items():
        if isinstance(v, bool):
            lines.append(f"{k} = {'true' if v else 'false'}")
        elif isinstance(v, int | float):
            lines.append(f"{k} = {v!r}")
        else:
            lines.append(f"{k} = {json.dumps(str(v))}")
    return "\n".join(lines) + "\n"


def write_secret_config(path: str | os.PathLike, values: dict) -> Path:
    """A 0600 TOML config file holding secrets, for a child started with `--config path`."""
    return write_private(path, "# secrets: keep this file 0600\n" + toml_text(values))
