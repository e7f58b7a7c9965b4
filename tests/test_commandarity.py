"""xcache/commandarity.py is what scripts/gen_command_arity.py makes of Redis's COMMAND table."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import gen_command_arity  # noqa: E402

from xcache.commandarity import ARITY, DENYOOM, NO_MULTI  # noqa: E402


def test_the_module_is_the_generators_output():
    assert (ROOT / "xcache" / "commandarity.py").read_text() == gen_command_arity.render(
        gen_command_arity.arities())


def test_flags_as_redis_7_reports_them():
    assert ARITY["set"] == -3 and ARITY["config|get"] == -3
    assert {"set", "lpush", "xgroup|createconsumer"} <= DENYOOM and "get" not in DENYOOM
    assert NO_MULTI == {"save", "shutdown", "sync", "psync"}
