"""What a RESP3 reply looks like once downgraded to RESP2 the way Redis 7 does it.

Lets a test written against RESP2 raw replies assert the same thing over a RESP3 connection:
doubles become their %.17g text, [member, score] pairs flatten.
"""

from __future__ import annotations


def _double(value: float) -> bytes:
    if value == float("inf"):
        return b"inf"
    if value == float("-inf"):
        return b"-inf"
    return b"%.17g" % value


def downgrade(reply):
    if isinstance(reply, float):
        return _double(reply)
    if isinstance(reply, list):
        if reply and all(isinstance(x, list) and len(x) == 2 and isinstance(x[1], float)
                         for x in reply):
            return [downgrade(y) for x in reply for y in x]
        return [downgrade(x) for x in reply]
    return reply


def raw(r, *args):
    """Send a command and return the raw reply, in its RESP2 form (see downgrade)."""
    conn = r.connection_pool.get_connection()
    try:
        conn.send_command(*args)
        reply = conn.read_response()
    finally:
        r.connection_pool.release(conn)
    return downgrade(reply) if conn.protocol in (3, "3") else reply
