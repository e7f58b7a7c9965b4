"""Scripts pipelined on one connection, each longer than the busy threshold: every one runs and
none is answered -BUSY (a client never waits behind its own script). On the node, a script that
ended just after the loop stopped waiting for it inline (scripting.INLINE_BUDGET_S) used to
leave the "script running" state one loop turn after its caller went on to the next command."""

from __future__ import annotations

# spins ARGV[1] microseconds (by TIME), then counts itself
SPIN = ("local t = redis.call('time') local s = t[1] * 1000000 + t[2] "
        "repeat local n = redis.call('time') until n[1] * 1000000 + n[2] - s >= tonumber(ARGV[1]) "
        "return redis.call('incr', KEYS[1])")


def test_pipelined_scripts_never_busy_their_own_client(r2):
    r2.config_set("lua-time-limit", 1)
    try:
        pipe = r2.pipeline(transaction=False)
        for i in range(300):
            pipe.eval(SPIN, 1, "count", 1500 + (i % 10) * 100)  # around the inline budget
        replies = pipe.execute(raise_on_error=False)
    finally:
        r2.config_set("lua-time-limit", 5000)
    assert replies == list(range(1, 301))
