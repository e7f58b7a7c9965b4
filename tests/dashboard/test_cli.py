"""Command-line errors of `xcache dashboard`, `xcache up` and `xcache admin` are clear."""

from __future__ import annotations

from click.testing import CliRunner

from tests.procs import free_port
from xcache.cli import main


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def test_config_errors():
    r = run("up", "--set", "groups=0")
    assert r.exit_code == 2 and "'groups' must be >= 1" in r.output
    r = run("up", "--set", "nope=1")
    assert r.exit_code == 2 and "unknown key 'nope'" in r.output
    r = run("dashboard", "--set", "reconcile_interval=5")
    assert r.exit_code == 2 and "did you mean 'reconcile_interval_ms'" in r.output


def test_bad_coordinator(tmp_path):
    r = run("dashboard", "--coordinator", "nope://x", "--port", str(free_port()))
    assert r.exit_code == 2 and "use file:///dir or etcd://host:port" in r.output


def test_set_is_not_overridden_by_absent_flags(tmp_path):
    cfg = tmp_path / "d.toml"
    cfg.write_text('coordinator = "nope://from-file"\n')
    r = run("dashboard", "--config", str(cfg), "--set", "coordinator=nope://from-set", "--port", str(free_port()))
    assert r.exit_code == 2 and "nope://from-set" in r.output


def test_admin_unreachable_dashboard():
    r = run("admin", "--dashboard", f"http://127.0.0.1:{free_port()}", "overview")
    assert r.exit_code == 1 and "cannot reach the dashboard" in r.output
