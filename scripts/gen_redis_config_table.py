"""Regenerate xcache/store/data/redis7_config_table.json from Redis 7.0's src/config.c (dev-time).

    python3 scripts/gen_redis_config_table.py [REDIS_SRC_DIR]   (default /tmp/redissrc/redis-7.0.15)

Reads `static_configs[]` (createBoolConfig ... createSpecialConfig): per parameter its type, flags
(IMMUTABLE/MODIFIABLE/PROTECTED/MULTI_ARG/HIDDEN...), bounds, numeric flags (MEMORY/PERCENT/OCTAL),
enum names and values, validity/apply functions and alias. Defaults are what a real redis-server
7.0 answers to CONFIG GET * (data/redis7_config.json); hidden parameters, which CONFIG GET *
leaves out, get the default written in config.c. The node never parses C at runtime.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "xcache" / "store" / "data"

LIMITS = {
    "INT_MAX": 2**31 - 1, "INT_MIN": -(2**31), "UINT_MAX": 2**32 - 1,
    "LONG_MAX": 2**63 - 1, "LLONG_MAX": 2**63 - 1, "SSIZE_MAX": 2**63 - 1,
    "ULLONG_MAX": 2**64 - 1, "LOG_USER": 1 << 3, "LOG_LOCAL0": 16 << 3,
    **{f"LOG_LOCAL{i}": (16 + i) << 3 for i in range(8)},
}
NUMERIC = {"Int": "int", "UInt": "uint", "Long": "long", "ULong": "ulong",
           "LongLong": "longlong", "ULongLong": "ulonglong", "SizeT": "sizet",
           "SSizeT": "ssizet", "TimeT": "timet", "OffT": "offt"}


def split_args(text: str) -> list[str]:
    out, depth, cur, quoted = [], 0, "", False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if not quoted and ch in "([":
            depth += 1
        if not quoted and ch in ")]":
            depth -= 1
        if ch == "," and depth == 0 and not quoted:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    out.append(cur.strip())
    return out


class Defines:
    """#define NAME value from the headers, evaluated recursively as integers."""

    def __init__(self, src: Path):
        self.raw: dict[str, str] = {}
        for header in sorted(src.glob("*.h")):
            text = header.read_text(errors="replace").replace("\\\n", " ")
            for m in re.finditer(r"^#define\s+(\w+)\s+(.+?)\s*(?:/\*.*)?$", text, re.M):
                self.raw.setdefault(m.group(1), m.group(2))
            for body in re.findall(r"typedef enum \{(.*?)\}", text, re.S):  # C enums count up
                body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
                nxt = 0
                for item in filter(None, (i.strip() for i in body.split(","))):
                    name, _, val = item.partition("=")
                    if val.strip():
                        if not val.strip().isdigit():
                            break  # not a plain counted enum: none of ours
                        nxt = int(val)
                    self.raw.setdefault(name.strip(), str(nxt))
                    nxt += 1

    def value(self, expr: str) -> int:
        expr = re.sub(r"(\d+)(?:ll|LL|L|l|ULL|ull)\b", r"\1", expr.strip())
        if re.fullmatch(r"0[0-7]+", expr):
            return int(expr, 8)

        def sub(m):
            name = m.group(0)
            if name in LIMITS:
                return str(LIMITS[name])
            return f"({self.value(self.raw[name])})"
        expr = re.sub(r"[A-Za-z_]\w*", sub, expr)
        if not re.fullmatch(r"[\d\s()<>|*+\-]+", expr):
            raise ValueError(expr)
        return int(eval(expr))  # noqa: S307 - digits and operators only (checked above)


def c_string(expr: str, defines: Defines) -> str | None:
    if expr == "NULL":
        return None
    if expr in defines.raw:
        expr = defines.raw[expr]
    return json.loads(expr)


def main() -> None:
    src = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/redissrc/redis-7.0.15") / "src"
    text = (src / "config.c").read_text()
    defines = Defines(src)
    enums = {}
    for m in re.finditer(r"configEnum (\w+)\[\] = \{(.*?)\n\};", text, re.S):
        enums[m.group(1)] = [[name, defines.value(val)] for name, val in
                             re.findall(r'\{"([^"]+)",\s*([^}]+)\}', m.group(2))]
    table = text[text.index("standardConfig static_configs[] = {"):]
    table = table[:table.index("\n};")]
    defaults = json.loads((DATA / "redis7_config.json").read_text())["config"]
    params: dict[str, dict] = {}
    for m in re.finditer(r"^\s*create(\w+?)Config\((.*)\),", table, re.M):
        kind, args = m.group(1), split_args(m.group(2))
        name, alias = json.loads(args[0]), None if args[1] == "NULL" else json.loads(args[1])
        flags = sorted(f.strip().removesuffix("_CONFIG") for f in args[2].split("|"))
        p: dict = {"flags": flags}
        if alias:
            p["alias"] = alias
        if kind == "Bool":
            p.update(type="bool", valid=args[5], apply=args[6],
                     default="yes" if defines.value(args[4]) else "no")
        elif kind in ("String", "SDS"):
            p.update(type=kind.lower(), empty_to_null=args[3] == "EMPTY_STRING_IS_NULL",
                     valid=args[6], apply=args[7], default=c_string(args[5], defines) or "")
        elif kind == "Enum":
            values = enums[args[3]]
            default = defines.value(args[5])
            p.update(type="enum", enum=values, valid=args[6], apply=args[7],
                     default=next(n for n, v in values if v == default))
        elif kind in NUMERIC:
            numflags = sorted(f.strip().removesuffix("_CONFIG") for f in args[7].split("|"))
            p.update(type="numeric", ctype=NUMERIC[kind], min=defines.value(args[3]),
                     max=defines.value(args[4]), numflags=[f for f in numflags if f != "INTEGER"],
                     valid=args[8], apply=args[9], default=str(defines.value(args[6])))
        elif kind == "Special":
            p.update(type="special", apply=args[6])
        else:
            raise ValueError(f"unknown config kind {kind}")
        for fn in ("valid", "apply"):
            if p.get(fn) == "NULL":
                p[fn] = None
        if name in defaults:
            p["default"] = defaults[name]
        params[name] = p
    out = {"version": "7.0.15", "source": "src/config.c static_configs[]", "params": params}
    path = DATA / "redis7_config_table.json"
    path.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    print(f"{path}: {len(params)} parameters")


if __name__ == "__main__":
    main()
