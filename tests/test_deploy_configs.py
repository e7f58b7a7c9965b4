"""Every example config in deploy/ loads with its component's config class."""

from pathlib import Path

from xcache.config import ServerConfig, load

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


def test_server_example_loads():
    assert load(ServerConfig, DEPLOY / "server.example.toml") == ServerConfig()


def test_dashboard_example_loads():
    from xcache.dashboard.config import DashboardConfig

    load(DashboardConfig, DEPLOY / "dashboard.example.toml")


def test_docs_document_every_config_key():
    """DESIGN: every config key has a row in the config reference, in its own component's section
    (the page is generated from the config classes: see tests/test_docs.py)."""
    import dataclasses
    import sys

    sys.path.insert(0, str(DEPLOY.parent / "scripts"))
    import gen_docs

    page = gen_docs.config_page()
    titles = [t for t, _, _ in gen_docs.config_classes()]
    missing = []
    for i, (title, _, cls) in enumerate(gen_docs.config_classes()):
        start = page.index(f"\n## {title}\n")
        end = page.index(f"\n## {titles[i + 1]}\n") if i + 1 < len(titles) else len(page)
        missing += [f"{cls.__name__}.{f.name}" for f in dataclasses.fields(cls)
                    if f"| `{f.name}` |" not in page[start:end]]
    assert not missing, f"config keys without a row in their section: {missing}"
