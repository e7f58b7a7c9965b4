import os
import shutil

import pytest

from xcache.drill.chaos.hosts import missing_requirements


def pytest_collection_modifyitems(config, items):
    """Multi-host tests need root, iproute2, iptables/nft, tc and etcd (CI has them)."""
    missing = missing_requirements()
    if not missing:
        return
    skip = pytest.mark.skip(reason="chaos harness needs: " + ", ".join(missing))
    for item in items:
        if "needs_hosts" in item.keywords:
            item.add_marker(skip)


def pytest_configure(config):
    config.addinivalue_line("markers", "needs_hosts: builds network namespaces (root, ip, iptables, etcd)")


@pytest.fixture
def no_etcd_path(tmp_path):
    """A PATH holding every tool of the harness except etcd."""
    d = tmp_path / "bin"
    d.mkdir()
    for tool in ("ip", "iptables", "nft", "tc", "redis-server"):
        found = shutil.which(tool)
        if found:
            os.symlink(found, d / tool)
    return str(d)
