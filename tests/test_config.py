"""Config loading: TOML + flags, unknown keys and wrong types are clear errors."""

import sys

import pytest

from xcache.config import (
    ConfigError,
    ServerConfig,
    flag_overrides,
    load,
    markdown_table,
    parse_assignments,
    to_toml,
)


def test_defaults_and_file(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('port = 7000\nwal_sync = "always"\n')
    cfg = load(ServerConfig, path, {"requirepass": "pw"})
    assert (cfg.port, cfg.wal_sync, cfg.requirepass, cfg.databases) == (7000, "always", "pw", 16)


def test_roundtrip(tmp_path):
    cfg = ServerConfig(port=7001)
    path = tmp_path / "s.toml"
    path.write_text(to_toml(cfg))
    assert load(ServerConfig, path) == cfg


@pytest.mark.parametrize("text,message", [
    ("prot = 1\n", "unknown key 'prot' \\(did you mean 'port'\\?\\)"),
    ('port = "x"\n', "'port' must be int"),
    ('wal_sync = "sometimes"\n', "must be one of always, everysec, no"),
    ("databases = 0\n", "'databases' must be >= 1"),
    ("port = \n", "not valid TOML"),
])
def test_bad_files(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load(ServerConfig, path)


def test_missing_file():
    with pytest.raises(ConfigError, match="not found"):
        load(ServerConfig, "/nonexistent/x.toml")


def test_assignments():
    assert parse_assignments(["wal-sync=no"]) == {"wal_sync": "no"}
    with pytest.raises(ConfigError, match="expects key=value"):
        parse_assignments(["oops"])


def test_given_flags_win_over_set():
    got = flag_overrides(["port=7000", "dir=/d"], {"port": 7001, "bind": None})
    assert got == {"port": 7001, "dir": "/d"}


def test_table_lists_every_key():
    table = markdown_table(ServerConfig)
    assert "`write_stall_timeout_ms`" in table and "`rocksdb_max_write_buffer_number`" in table


def test_server_cli_set_is_not_overridden_by_absent_flags(tmp_path):
    """`xcache server --set port=N` listens on N (an absent --port must not reset it)."""
    import redis

    from tests.procs import Proc, free_port

    port = free_port()
    proc = Proc([sys.executable, "-m", "xcache.cli", "server", "--dir", str(tmp_path), "--set", f"port={port}"],
                port).wait_ready()
    try:
        assert redis.Redis(port=port, protocol=2).ping() is True
    finally:
        proc.stop()
