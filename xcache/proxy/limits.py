"""Traffic limits (sans-IO): token buckets and the runtime command circuit breaker."""

from __future__ import annotations


class TokenBucket:
    """rate tokens per second, at most burst banked. Time is passed in (seconds, monotonic)."""

    __slots__ = ("rate", "burst", "tokens", "stamp")

    def __init__(self, rate: float, burst: float | None = None, now: float = 0.0):
        self.rate = float(rate)
        self.burst = float(burst if burst is not None else rate)
        self.tokens = self.burst
        self.stamp = now

    def take(self, now: float, n: float = 1.0) -> bool:
        tokens = self.tokens + (now - self.stamp) * self.rate
        if tokens > self.burst:
            tokens = self.burst
        self.stamp = now
        if tokens >= n:
            self.tokens = tokens - n
            return True
        self.tokens = tokens
        return False

    def full(self, now: float) -> bool:
        return self.tokens + (now - self.stamp) * self.rate >= self.burst


class IpLimits:
    """Per-source-IP concurrency and connection rate; decides before a session exists."""

    def __init__(self, max_per_ip: int, rate_per_ip: int):
        self.max_per_ip = max_per_ip
        self.rate_per_ip = rate_per_ip
        self.active: dict[str, int] = {}
        self.buckets: dict[str, TokenBucket] = {}

    def check(self, ip: str, now: float) -> str | None:
        """None if a new connection from ip may be admitted, else the rejection reason."""
        if self.max_per_ip and self.active.get(ip, 0) >= self.max_per_ip:
            return "ip_concurrency"
        if self.rate_per_ip:
            bucket = self.buckets.get(ip)
            if bucket is None:
                bucket = self.buckets[ip] = TokenBucket(self.rate_per_ip, self.rate_per_ip, now)
            if not bucket.take(now):
                return "ip_rate"
        return None

    def opened(self, ip: str) -> None:
        self.active[ip] = self.active.get(ip, 0) + 1

    def closed(self, ip: str) -> None:
        n = self.active.get(ip, 0) - 1
        if n > 0:
            self.active[ip] = n
        else:
            self.active.pop(ip, None)

    def sweep(self, now: float) -> None:
        """Forget buckets that refilled completely (bounded memory under many source IPs)."""
        for ip in [ip for ip, b in self.buckets.items() if b.full(now)]:
            del self.buckets[ip]


class CircuitBreaker:
    """Commands refused outright, and key prefixes whose writes are refused. Changed at runtime."""

    def __init__(self, commands: list[str] | None = None, write_prefixes: list[str] | None = None):
        self.commands: set[bytes] = set()
        self.prefixes: tuple[bytes, ...] = ()
        self.active = False
        self.set(commands or [], write_prefixes or [])

    def set(self, commands: list[str], write_prefixes: list[str]) -> None:
        self.commands = {c.upper().encode() for c in commands if c}
        self.prefixes = tuple(p.encode() for p in write_prefixes if p)
        self.active = bool(self.commands or self.prefixes)

    def to_json(self) -> dict:
        return {"commands": sorted(c.decode() for c in self.commands),
                "write_prefixes": [p.decode() for p in self.prefixes]}

    def check(self, name: str, readonly: bool, keys: list[bytes]) -> str | None:
        """None if allowed, else the error message for the client."""
        if name.encode() in self.commands:
            return f"ERR xcache: command '{name}' is blocked by the circuit breaker"
        if not readonly and self.prefixes:
            for k in keys:
                if k.startswith(self.prefixes):
                    p = next(p for p in self.prefixes if k.startswith(p)).decode(errors="replace")
                    return f"ERR xcache: writes to keys with prefix '{p}' are blocked by the circuit breaker"
        return None
