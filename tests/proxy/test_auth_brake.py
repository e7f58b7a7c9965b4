"""The proxy's failed-AUTH brake: a source address guessing session_password gets
auth_fail_burst checked guesses, then AUTH refused unchecked until its budget refills; every
failure counted in xcache_proxy_auth_failures_total and logged at a bounded rate."""

from __future__ import annotations

from pathlib import Path

from tests.procs import wait_until
from tests.proxy.conftest import exchange

WRONGPASS = b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
BRAKE = b"-ERR too many failed AUTH attempts from your address, retry later\r\n"


def raw(replies) -> list[bytes]:
    return [b"-" + str(r).encode() + b"\r\n" if isinstance(r, Exception) else b"+" + r + b"\r\n"
            for r in replies]


def test_proxy_failed_auth_brake(backends, start_proxy):
    a, b = backends
    p = start_proxy(f"1=127.0.0.1:{a.port},2=127.0.0.1:{b.port}", session_password="s3cret",
                    auth_fail_burst=4, auth_fail_rate_per_sec=2)
    got = exchange(p.port, b"AUTH guess\r\n" * 30 + b"AUTH s3cret\r\n", 31)
    assert raw(got[:4]) == [WRONGPASS] * 4
    assert raw(got[4:]) == [BRAKE] * 27
    wait_until(lambda: exchange(p.port, b"AUTH s3cret\r\n", 1) == [b"OK"], timeout=10,
               what="the brake to release")
    assert p.metric("xcache_proxy_auth_failures_total") == 4
    assert p.metric("xcache_proxy_auth_brake_refused_total") >= 27
    lines = [x for x in Path(p.log_path).read_text().splitlines() if "auth_failed" in x]
    assert 1 <= len(lines) <= 3 and "127.0.0.1" in lines[0]
