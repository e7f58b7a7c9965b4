"""Every example config in deploy/ loads with its component's config class."""

from pathlib import Path

from xcache.config import ServerConfig, load

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


def test_server_example_loads():
    assert load(ServerConfig, DEPLOY / "server.example.toml") == ServerConfig()


def test_dashboard_example_loads():
    from xcache.dashboard.config import DashboardConfig

    load(DashboardConfig, DEPLOY / "dashboard.example.toml")


def test_readme_documents_every_config_key():
    """DESIGN: every config key has a line in the README table of its own component."""
    import dataclasses

    from xcache.config import ServerConfig
    from xcache.dashboard.config import DashboardConfig, UpConfig
    from xcache.proxy.config import ProxyConfig
    from xcache.sentinel.config import SentinelConfig

    readme = (DEPLOY.parent / "README.md").read_text()

    def section(start: str, end: str) -> str:
        return readme[readme.index(start):readme.index(end)]

    sections = {ServerConfig: section("## Storage node", "## Replication"),
                ProxyConfig: section("## Proxy", "## Sentinel"),
                SentinelConfig: section("## Sentinel", "## Dashboard"),
                DashboardConfig: section("## Dashboard", "## Incident drill"),
                UpConfig: section("## Quick start", "## Storage node")}
    missing = [f"{cls.__name__}.{f.name}" for cls, text in sections.items()
               for f in dataclasses.fields(cls) if f"| `{f.name}` |" not in text]
    assert not missing, f"config keys without a README row in their section: {missing}"
