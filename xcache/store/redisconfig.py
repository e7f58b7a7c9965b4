"""Redis 7.0's CONFIG parameters and the value parsers CONFIG SET applies to them.

The table (data/redis7_config_table.json) is generated from src/config.c's static_configs[] by
scripts/gen_redis_config_table.py. `parse` checks a value as config.c does (same error texts) and
returns the text CONFIG GET then answers (memory values in bytes, enums lower-case, `save`
normalised, ...). It knows nothing of the node: settings.py decides what is stored or wired.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from xcache.store.zsets import _strtod

TABLE: dict[str, dict] = json.loads(
    (Path(__file__).resolve().parent / "data" / "redis7_config_table.json").read_text())["params"]
ALIASES = {p["alias"]: name for name, p in TABLE.items() if "alias" in p}

U64 = 2**64
LLONG_MAX = 2**63 - 1
_C_SPACE = b" \t\n\v\f\r"


class Invalid(Exception):
    """A value config.c refuses; the message is its error text."""


def cstr(raw: bytes) -> bytes:
    """What a C string function sees of an argument: up to the first NUL."""
    return raw.split(b"\0", 1)[0]


def split_multi(raw: bytes) -> list[bytes]:
    """sdssplitlen(value, " "): every single space separates; an empty value is no argument."""
    return raw.split(b" ") if raw else []


def strtoll(raw: bytes, base: int = 10) -> tuple[int, bool]:
    """C strtoll: (value, whole string consumed); clamps on overflow as glibc does."""
    s = cstr(raw)
    body = s.lstrip(_C_SPACE)
    sign = -1 if body[:1] == b"-" else 1
    if body[:1] in (b"-", b"+"):
        body = body[1:]
    digits = b"0123456789"[:base] if base <= 10 else b""
    n = 0
    while n < len(body) and body[n] in digits:
        n += 1
    if n == 0:  # no conversion: endptr is the start of the string
        return 0, not s
    value = max(-(2**63), min(LLONG_MAX, sign * int(body[:n], base)))
    return value, n == len(body) and len(s) == len(raw)


def c_int(value: int) -> int:
    """A long long stored into a C int (two's complement wrap)."""
    value &= 0xFFFFFFFF
    return value - 2**32 if value >= 2**31 else value


def string2ll(raw: bytes) -> int | None:
    """util.c string2ll: canonical decimal only ('0', '-5'; not '+5', '05', ' 5')."""
    if not raw or len(raw) >= 21:
        return None
    if raw == b"0":
        return 0
    body = raw[1:] if raw[:1] == b"-" else raw
    if not body or body[:1] not in b"123456789" or not body.isdigit():
        return None
    value = -int(body) if raw[:1] == b"-" else int(body)
    return value if -(2**63) <= value <= LLONG_MAX else None


def memtoull(raw: bytes) -> int | None:
    """util.c memtoull: digits and a unit (b, k, kb, m, mb, g, gb); None on error. Wraps at 2^64."""
    s = cstr(raw)
    if s[:1] == b"-":
        return None
    n = 0
    while n < len(s) and s[n] in b"0123456789":
        n += 1
    mul = {b"": 1, b"b": 1, b"k": 1000, b"kb": 1024, b"m": 1000**2, b"mb": 1024**2,
           b"g": 1000**3, b"gb": 1024**3}.get(s[n:].lower())
    if mul is None or n >= 128:
        return None
    return min(int(s[:n] or b"0"), U64 - 1) * mul % U64


def _signed(v: int) -> int:
    return v - U64 if v > LLONG_MAX else v


def _numeric(name: str, p: dict, raw: bytes) -> str:
    flags = p["numflags"]
    value = None
    if "MEMORY" in flags:
        mem = memtoull(raw)
        if mem is not None:
            value = _signed(mem)
    if value is None and "PERCENT" in flags and len(raw) > 1 and raw.endswith(b"%"):
        pct = string2ll(raw[:-1])
        if pct is not None and pct >= 0:
            value = -pct  # Redis keeps a percentage as a negative number
    if value is None and "OCTAL" in flags:
        value, whole = strtoll(raw, 8)
        value = value if whole else None
    if value is None and not flags:
        value = string2ll(raw)
    if value is None:
        if "MEMORY" in flags and "PERCENT" in flags:
            raise Invalid("argument must be a memory or percent value")
        if "MEMORY" in flags:
            raise Invalid("argument must be a memory value")
        if "OCTAL" in flags:
            raise Invalid("argument couldn't be parsed as an octal number")
        raise Invalid("argument couldn't be parsed into an integer")
    lo, hi = p["min"], p["max"]
    if p["ctype"] in ("ulonglong", "uint", "sizet"):
        if not lo <= value % U64 <= hi:
            if "OCTAL" in flags:
                raise Invalid(f"argument must be between {lo:o} and {hi:o} inclusive")
            raise Invalid(f"argument must be between {lo} and {hi} inclusive")
    elif "PERCENT" in flags and value < 0:
        if value < lo:
            raise Invalid(f"percentage argument must be less or equal to {-lo}")
    elif not lo <= value <= hi:
        raise Invalid(f"argument must be between {lo} and {hi} inclusive")
    if name == "hz":  # updateHZ: out-of-range values are accepted and capped
        value = max(1, min(500, value))
    if "PERCENT" in flags and value < 0:
        return f"{-value}%"
    if "MEMORY" in flags:
        return str(value % U64)
    if "OCTAL" in flags:
        return f"{value % U64:o}"
    return str(value)


def _enum(p: dict, argv: list[bytes]) -> str:
    items = p["enum"]
    bitflags = "MULTI_ARG" in p["flags"]
    value = 0
    if not argv or (not bitflags and len(argv) != 1):
        value = None
    for arg in argv if value is not None else ():
        matched = [v for n, v in items if cstr(arg).lower() == n.encode()]
        if not matched:
            value = None
            break
        for v in matched:
            value |= v
    if value is None:
        raise Invalid("argument(s) must be one of the following: "
                      + ", ".join(n for n, _ in items))
    if p["valid"] == "isValidShutdownOnSigFlags" and value & 1 and value & 2:
        raise Invalid("shutdown options SAVE and NOSAVE can't be used simultaneously")
    names, unmatched = [], value
    for n, v in items:  # configEnumGetName
        if v == value:
            return n
        if bitflags and v and v == unmatched & v:
            names.append(n)
            unmatched &= ~v
    return " ".join(names) if names and not unmatched else "unknown"


def _hostname(value: bytes) -> None:
    if len(value) >= 256:
        raise Invalid("Hostnames must be less than 256 characters")
    if any(not (chr(c).isascii() and (chr(c).isalnum() or c in b"-.")) for c in value):
        raise Invalid("Hostnames may only contain alphanumeric characters, hyphens or dots")


_TITLE_VARS = {b"title": b"", b"listen-addr": b"*:6379", b"server-mode": b"",
               b"config-file": b"-", b"port": b"6379", b"tls-port": b"0", b"unixsocket": b""}


def _proc_title(template: bytes) -> None:
    """validateProcTitleTemplate: sdstemplate expands, and the result is not blank."""
    out, p = b"", template
    while p:
        at = p.find(b"{")
        if at < 0:
            out += p
            break
        out += p[:at]
        p = p[at + 1:]
        if not p:
            raise Invalid("template format is invalid or contains unknown variables")
        if p[:1] == b"{":
            out, p = out + b"{", p[1:]
            continue
        end = p.find(b"}")
        if end < 0 or p[:end] not in _TITLE_VARS:
            raise Invalid("template format is invalid or contains unknown variables")
        out, p = out + _TITLE_VARS[p[:end]], p[end + 1:]
    if not out.strip(b" "):
        raise Invalid("template format is invalid or contains unknown variables")


def _save(argv: list[bytes]) -> str:
    if len(argv) % 2:
        raise Invalid("Invalid save parameters")
    pairs = []
    for j, arg in enumerate(argv):
        value, whole = strtoll(arg)
        if not whole or value < (1 if j % 2 == 0 else 0):
            raise Invalid("Invalid save parameters")
        pairs.append(value if j % 2 == 0 else c_int(value))  # changes is an int
    return " ".join(str(v) for v in pairs)


OBUF_CLASSES = ("normal", "slave", "pubsub")


def _obuf(argv: list[bytes], current: str) -> str:
    if len(argv) % 4:
        raise Invalid("Wrong number of arguments in buffer limit configuration.")
    now = current.split()
    limits = {now[i]: now[i + 1:i + 4] for i in range(0, len(now), 4)}
    new = {}
    for j in range(0, len(argv), 4):
        cls = {"replica": "slave"}.get(cstr(argv[j]).lower().decode("latin-1"),
                                       cstr(argv[j]).lower().decode("latin-1"))
        if cls not in OBUF_CLASSES:
            raise Invalid("Invalid client class specified in buffer limit configuration.")
        hard, soft = memtoull(argv[j + 1]), memtoull(argv[j + 2])
        seconds, whole = strtoll(argv[j + 3])
        seconds = c_int(seconds)
        if hard is None or soft is None or seconds < 0 or not whole:
            raise Invalid("Error in hard, soft or soft_seconds setting in "
                          "buffer limit configuration.")
        new[cls] = [str(hard), str(soft), str(seconds)]
    limits.update(new)
    return " ".join(f"{cls} {' '.join(limits[cls])}" for cls in OBUF_CLASSES)


def _oom_values(argv: list[bytes]) -> str:
    if len(argv) != 3:
        raise Invalid("wrong number of arguments")
    values = []
    for arg in argv:
        value, whole = strtoll(arg)
        if not whole or not -2000 <= value <= 2000:
            raise Invalid("Invalid oom-score-adj-values, elements must be between -2000 and 2000.")
        values.append(str(value))
    return " ".join(values)


# notify.c: class characters, and the order keyspaceEventsFlagsToString writes them in
_EVENT_BITS = {"g": 1 << 2, "$": 1 << 3, "l": 1 << 4, "s": 1 << 5, "h": 1 << 6, "z": 1 << 7,
               "x": 1 << 8, "e": 1 << 9, "t": 1 << 10, "d": 1 << 13, "n": 1 << 14,
               "K": 1 << 0, "E": 1 << 1, "m": 1 << 11}
_EVENT_ALL = sum(_EVENT_BITS[c] for c in "g$lshzxetd")


def _notify(raw: bytes) -> str:
    flags = 0
    for ch in cstr(raw).decode("latin-1"):
        if ch != "A" and ch not in _EVENT_BITS:
            raise Invalid("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")
        flags |= _EVENT_ALL if ch == "A" else _EVENT_BITS[ch]
    if flags & _EVENT_ALL == _EVENT_ALL:
        out = "A"
    else:
        out = "".join(c for c in "g$lshzxetdn" if flags & _EVENT_BITS[c])
    return out + "".join(c for c in "KEm" if flags & _EVENT_BITS[c])


def string2d(raw: bytes) -> float | None:
    """util.c string2d: strtod over the whole argument; no leading space, NaN or ERANGE."""
    text = raw.decode("latin-1")
    if not text or text[0] in " \t\n\v\f\r":
        return None
    value = _strtod(text)
    if value is None or value != value:
        return None
    mantissa = text.lower().lstrip("+-")
    if value in (float("inf"), float("-inf")) and not mantissa.startswith("inf"):
        return None  # overflow
    if value == 0 and re.search(r"[1-9]", re.split("[ep]", mantissa.removeprefix("0x"))[0]):
        return None  # underflow
    return value


def percent_text(value: float) -> str:
    """A percentile as Redis prints it: "%f" with its trailing zeros trimmed (trimDoubleString)."""
    fixed = f"{value:f}"
    return fixed.rstrip("0").rstrip(".") if "." in fixed else fixed


def _percentiles(argv: list[bytes]) -> str:
    out = []
    for arg in argv:
        value = string2d(arg)
        if value is None:
            raise Invalid("Invalid latency-tracking-info-percentiles parameters")
        if not 0.0 <= value <= 100.0:
            raise Invalid("latency-tracking-info-percentiles parameters should sit between "
                          "[0.0,100.0]")
        out.append(percent_text(value))
    return " ".join(out)


def parse(name: str, raw: bytes, current: str) -> str:
    """CONFIG SET `name` (canonical) to `raw` as Redis checks it; returns CONFIG GET's text.
    `current` is the value now (client-output-buffer-limit sets only the classes given)."""
    p = TABLE[name]
    kind = p["type"]
    if kind == "bool":
        word = cstr(raw).lower()
        if word not in (b"yes", b"no"):
            raise Invalid("argument must be 'yes' or 'no'")
        if word == b"yes" and p["valid"] == "isValidActiveDefrag":  # as Debian's build
            raise Invalid("Active defragmentation cannot be enabled: it requires a Redis server "
                          "compiled with a modified Jemalloc like the one shipped by default "
                          "with the Redis source distribution")
        return word.decode()
    if kind in ("string", "sds"):
        value = cstr(raw) if kind == "string" else raw
        if p["valid"] == "isValidAnnouncedHostname":
            _hostname(value)
        elif p["valid"] == "isValidProcTitleTemplate":
            _proc_title(value)
        return value.decode("utf-8", "surrogateescape")
    if kind == "enum":
        return _enum(p, split_multi(raw) if "MULTI_ARG" in p["flags"] else [raw])
    if kind == "numeric":
        return _numeric(name, p, raw)
    argv = split_multi(raw) if "MULTI_ARG" in p["flags"] else [raw]
    if name == "save":
        return _save(argv)
    if name == "client-output-buffer-limit":
        return _obuf(argv, current)
    if name == "oom-score-adj-values":
        return _oom_values(argv)
    if name == "notify-keyspace-events":
        return _notify(raw)
    if name == "latency-tracking-info-percentiles":
        return _percentiles(argv)
    if name == "bind":
        if len(argv) > 16:  # CONFIG_BINDADDR_MAX
            raise Invalid("Too many bind addresses specified.")
        return " ".join(a.decode("utf-8", "surrogateescape") for a in argv)
    raise Invalid("can't set immutable config")  # dir, replicaof: refused before any value
