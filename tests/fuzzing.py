"""Hypothesis settings shared by the fuzz/property tests.

CI runs a bounded number of examples (the whole fuzz set in well under a minute). For a longer
run set XCACHE_FUZZ_SCALE, a multiplier of every test's example count, e.g.
`XCACHE_FUZZ_SCALE=200 python3 -m pytest -q tests/test_glob.py tests/resp tests/store/test_fuzz_commands.py`.
No deadline: the machine is shared, and a timing threshold would make the tests flaky; the
behaviour under test (no crash, no hang, same answer as the reference) does not depend on it.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

SCALE = max(1, int(os.environ.get("XCACHE_FUZZ_SCALE", "1")))


def fuzz(max_examples: int):
    """@fuzz(n): hypothesis settings for n examples (times XCACHE_FUZZ_SCALE)."""
    return settings(max_examples=max_examples * SCALE, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
