"""Suite-wide settings."""

import os

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """With XCACHE_NO_SKIP=1 (set by CI) a skipped test fails: in CI every peer (etcd, chromium,
    promtool, redis-server) is installed, so a skip there means an install step went missing."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("XCACHE_NO_SKIP") == "1" and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI (XCACHE_NO_SKIP=1): {report.longrepr}"
