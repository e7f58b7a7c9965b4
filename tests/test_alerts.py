"""deploy/prometheus/alerts.yml: valid (promtool check rules), every rule unit-tested (promtool
test rules), every metric it uses exported by some component, and the dashboard's own evaluator
(xcache/dashboard/alerts.py) knows the same alert names."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROM = ROOT / "deploy" / "prometheus"
RULES = PROM / "alerts.yml"
TESTS = sorted((PROM / "tests").glob("*.yml"))
promtool = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(promtool is None, reason="promtool missing (apt-get install prometheus)")


def alert_names() -> list[str]:
    return re.findall(r"^\s*- alert:\s*(\S+)", RULES.read_text(), re.M)


@needs_promtool
def test_rules_check():
    r = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


@needs_promtool
@pytest.mark.parametrize("path", TESTS, ids=lambda p: p.stem)
def test_rule_unit_tests(path):
    r = subprocess.run([promtool, "test", "rules", path.name], cwd=path.parent, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_every_rule_has_a_firing_test():
    names = alert_names()
    assert len(names) == len(set(names)) >= 11
    tested = set()
    for path in TESTS:
        text = path.read_text()
        for name in re.findall(r"alertname:\s*(\S+)\n\s*exp_alerts:\s*\n\s*- exp_labels", text):
            tested.add(name)
    assert set(names) <= tested, f"rules without a test that fires them: {set(names) - tested}"


def test_metrics_used_exist():
    """Every xcache_* series the rules use is produced by some component (name as exported:
    counters get the _total suffix)."""
    text = RULES.read_text()
    used = set(re.findall(r"\b(xcache_[a-z_]+)", text)) - {"xcache_proxy", "xcache_server", "xcache_sentinel", "xcache_dashboard"}  # job names
    sources = "\n".join(p.read_text() for p in (ROOT / "xcache").rglob("*.py"))
    store = (ROOT / "xcache" / "store" / "metrics.py").read_text()
    for name in sorted(used):
        base = name[:-len("_total")] if name.endswith("_total") else name
        if base.startswith("xcache_server_"):  # store/metrics.py builds f"xcache_server_{name}"
            assert f'"{base[len("xcache_server_"):]}"' in store, f"{name} is not exported by the storage node"
        else:
            assert f'"{base}"' in sources, f"{name} is not exported by any component"


def test_dashboard_evaluates_the_same_alerts():
    from xcache.dashboard import alerts

    assert set(alert_names()) == set(alerts.RULES)
