"""The docs site builds with `mkdocs build --strict`, and its generated reference pages cover
every config key (each with a description), every metric and every alert rule."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import gen_docs  # noqa: E402


def test_every_config_key_has_a_description():
    assert gen_docs.keys_without_description() == []
    assert len(gen_docs.config_classes()) == 5


def test_a_key_without_a_description_is_caught(monkeypatch):
    from xcache.config import key

    @dataclasses.dataclass
    class Broken:
        good: int = key(1, "a described key")
        bad: int = key(2, "  ")

    monkeypatch.setattr(gen_docs, "config_classes", lambda: [("broken", "", Broken)])
    assert gen_docs.keys_without_description() == ["Broken.bad"]


def test_config_page_lists_every_key_with_its_default_and_choices():
    from xcache.config import ServerConfig
    page = gen_docs.config_page()
    for _, _, cls in gen_docs.config_classes():
        for f in dataclasses.fields(cls):
            assert f"| `{f.name}` |" in page
    assert "| `port` | `6380` | RESP port (at least `0`) |" in page
    wal = next(f for f in dataclasses.fields(ServerConfig) if f.name == "wal_sync")
    assert all(f"`{c}`" in page for c in wal.metadata["choices"])


def test_metrics_page_covers_every_component_and_the_alert_rules():
    metrics = {n: (k, d) for _, _, ms in gen_docs.all_metrics() for n, k, _, d in ms}
    for prefix in ("xcache_server_", "xcache_proxy_", "xcache_sentinel_", "xcache_dashboard_"):
        assert any(n.startswith(prefix) for n in metrics), prefix
    assert all(d.strip() for _, d in metrics.values()), [n for n, (_, d) in metrics.items() if not d]
    assert metrics["xcache_server_write_stall_active"][0] == "gauge"  # from the name -> doc tables
    assert metrics["xcache_proxy_accept_dropped"][0] == "counter"
    assert metrics["xcache_proxy_request_duration_seconds"][0] == "histogram"
    # every xcache metric an alert rule uses is documented (job="xcache_..." labels aside)
    exposed = set(metrics) | {n + "_total" for n, (k, _) in metrics.items() if k == "counter"} | {
        n + s for n, (k, _) in metrics.items() if k == "histogram" for s in ("_bucket", "_sum", "_count")}
    used = {m for _, r in gen_docs.alert_rules() for m in re.findall(r"(?<![\"'])xcache_[a-z0-9_]+", str(r["expr"]))}
    assert used and used <= exposed, used - exposed


def test_alerts_page_has_every_rule():
    page = gen_docs.alerts_page()
    rules = gen_docs.alert_rules()
    assert len(rules) >= 10
    for _, r in rules:
        assert f"### {r['alert']}" in page


def test_cli_page_has_every_command():
    page = gen_docs.cli_page()
    for cmd in ("xcache up", "xcache server", "xcache proxy", "xcache sentinel", "xcache dashboard",
                "xcache admin group promote", "xcache admin slots migrate", "xcache drill"):
        assert f"`{cmd}`" in page, cmd


def test_mkdocs_build_strict(tmp_path):
    pytest.importorskip("material", reason="mkdocs-material is in the test extras")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_MKDOCS_2_WARNING": "1"}
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    site = tmp_path / "site"
    for page in ("reference/config", "reference/metrics", "reference/cli", "reference/alerts",
                 "concepts/architecture", "operations/runbook"):
        assert (site / page / "index.html").exists(), page
    assert "write_stall_timeout_ms" in (site / "reference/config/index.html").read_text()
    assert (site / "drill/failover.png").exists()


def test_every_config_class_is_in_the_reference():
    """A new component config (any dataclass built with key() in an xcache config module) must be
    listed in gen_docs.config_classes(), or its keys would be missing from the reference."""
    import importlib

    listed = {cls for _, _, cls in gen_docs.config_classes()}
    found = set()
    for path in sorted((ROOT / "xcache").rglob("config.py")):
        module = importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))
        for obj in vars(module).values():
            if dataclasses.is_dataclass(obj) and isinstance(obj, type) and obj.__module__ == module.__name__ \
                    and any("doc" in f.metadata for f in dataclasses.fields(obj)):
                found.add(obj)
    assert found and found <= listed, [c.__name__ for c in found - listed]
