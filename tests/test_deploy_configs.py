"""Every example config in deploy/ loads with its component's config class."""

from pathlib import Path

from xcache.config import ServerConfig, load

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


def test_server_example_loads():
    assert load(ServerConfig, DEPLOY / "server.example.toml") == ServerConfig()


def test_dashboard_example_loads():
    from xcache.dashboard.config import DashboardConfig

    load(DashboardConfig, DEPLOY / "dashboard.example.toml")
