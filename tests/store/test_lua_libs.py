"""The cmsgpack and struct Lua libraries: the same scripts on xcache and on redis-server, raw
replies compared exactly (packed bytes are returned as bulk strings, errors as their text)."""

from __future__ import annotations

import pytest

from tests.store.crosscheck import both_fixture, same  # noqa: F401 (fixture)

# Returns the packed bytes of each value, so any difference in encoding shows.
PACK = [
    "return cmsgpack.pack(nil)",
    "return cmsgpack.pack(true, false)",
    "return cmsgpack.pack(0, 1, 127, 128, 255, 256, 65535, 65536, 4294967295, 4294967296)",
    "return cmsgpack.pack(-1, -32, -33, -128, -129, -32768, -32769, -2147483648, -2147483649)",
    "return cmsgpack.pack(2^53, -2^53, 2^63, -2^63, 2^64, 1e20, -1e300)",
    "return cmsgpack.pack(1.5, -0.25, 0.1, 3.14159, 1/3, -0.0, 1e-45, 3.4e38, 3.5e38)",
    "return cmsgpack.pack(1/0, -1/0)",
    "return cmsgpack.pack(7.0, 2^31, -2^31 - 0.5)",
    "return cmsgpack.pack('', 'a', string.rep('x', 31), string.rep('y', 32))",
    "return cmsgpack.pack(string.rep('z', 255), string.rep('z', 256))",
    "return cmsgpack.pack(string.rep('w', 65535)) == '\\218\\255\\255' .. string.rep('w', 65535)",
    "return string.sub(cmsgpack.pack(string.rep('v', 65536)), 1, 6)",
    "return cmsgpack.pack({})",
    "return cmsgpack.pack({1, 2, 3}, {'a', {'b', {}}})",
    "return cmsgpack.pack({1, 2, nil, 4})",
    "return cmsgpack.pack({[1]=1, [3]=3})",
    "return cmsgpack.pack({[0]=1})",
    "return cmsgpack.pack({[1.5]=1})",
    "return cmsgpack.pack({[2^31]=1})",
    "return cmsgpack.pack({a=1})",
    "return cmsgpack.pack({name='Joe', age=42, tags={'x', 'y'}})",
    "local t = {} for i = 1, 16 do t[i] = i end return cmsgpack.pack(t)",
    "local t = {} for i = 1, 70000 do t[i] = i % 3 end return string.sub(cmsgpack.pack(t), 1, 8)",
    "local t = {} for i = 1, 20 do t['k' .. i] = i end return #cmsgpack.pack(t)",
    "local t = {} t.self = t return cmsgpack.pack(t)",
    "local t = {} local c = t for i = 1, 20 do c[1] = {} c = c[1] end return cmsgpack.pack(t)",
    "return cmsgpack.pack(function() end, cjson.null, redis.call)",
    "return cmsgpack.pack({1, 2}, 'x', 3)",
    "local t = {} for i = 1, 4000 do t[i] = i end return #cmsgpack.pack(unpack(t))",
    "local t = {} for i = 1, 3990 do t[i] = {{{{1}}}} end return #cmsgpack.pack(unpack(t))",
    "local t = {} for i = 1, 3990 do t[i] = {a={b={1}}} end return #cmsgpack.pack(unpack(t))",
    "local t = {} for i = 1, 3998 do t[i] = {a=1} end return #cmsgpack.pack(unpack(t))",
]

UNPACK = [
    # redis-py's test_eval_msgpack
    "local t = cmsgpack.unpack('\\129\\164name\\163Joe') return 'hello ' .. t.name",
    "return {cmsgpack.unpack(cmsgpack.pack(1, 'two', {3}, {a=4}))}",
    "local a, b, c = cmsgpack.unpack(cmsgpack.pack(1, nil, 3)) return {a, tostring(b), c}",
    "return select('#', cmsgpack.unpack(''))",
    "return tostring(cmsgpack.unpack(cmsgpack.pack(1.5)))",
    "return tostring(cmsgpack.unpack(cmsgpack.pack(0.1)))",
    "return tostring(cmsgpack.unpack(cmsgpack.pack(-2^63)))",
    "return tostring(cmsgpack.unpack('\\207\\255\\255\\255\\255\\255\\255\\255\\255'))",
    "return tostring(cmsgpack.unpack('\\207\\000\\000\\000\\001\\000\\000\\000\\000'))",
    "return {cmsgpack.unpack('\\208\\128\\209\\128\\000\\210\\255\\255\\255\\254\\204\\200')}",
    "return {cmsgpack.unpack('\\205\\255\\255\\206\\255\\255\\255\\255')}",
    "return {cmsgpack.unpack('\\217\\003abc\\218\\000\\001z\\219\\000\\000\\000\\002yy')}",
    "return cmsgpack.unpack('\\220\\000\\002\\001\\002')[2]",
    "return cmsgpack.unpack('\\222\\000\\001\\161k\\161v').k",
    "return tostring(cmsgpack.unpack('\\202\\063\\192\\000\\000'))",
    "return tostring(cmsgpack.unpack('\\203\\063\\248\\000\\000\\000\\000\\000\\000'))",
    "return {cmsgpack.unpack('\\195\\194\\192\\005')}",
    "return {cmsgpack.unpack(123)}",
    "return type(cmsgpack.unpack('\\144'))",
    "local t = cmsgpack.unpack(cmsgpack.pack({b=2, a=1, c=3})) return cmsgpack.pack(t)",
    "return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3))}",
    "return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 1)}",
    "return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 2)}",
    "return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 3)}",
    "return {cmsgpack.unpack_one(cmsgpack.pack(1, 'abc', 3), '1')}",
    "return {cmsgpack.unpack_one('')}",
    "return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 2)}",
    "return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 2, 1)}",
    "return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 5)}",
    "return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 0, 1)}",
    "return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 0)}",
    "return select('#', cmsgpack.unpack(string.rep('\\001', 7999)))",
    "return select('#', cmsgpack.unpack_limit(string.rep('\\001', 9000), 7998))",
    "return #cmsgpack.unpack('\\220\\039\\016' .. string.rep('\\001', 10000))",
    "local t = cmsgpack.unpack(string.rep('\\145', 3000) .. '\\001') "
    "for i = 1, 2999 do t = t[1] end return t",
    "return cmsgpack.unpack('\\130\\001\\192\\002\\003')[2]",
    "return type(cmsgpack.unpack(string.rep('\\129\\001', 2700) .. '\\001'))",
    "return #cmsgpack.unpack('\\220\\031\\064' .. string.rep('\\001', 8000))",
    "return {cmsgpack._NAME, cmsgpack._VERSION, cmsgpack._COPYRIGHT, cmsgpack._DESCRIPTION}",
]

ERRORS = [
    "return cmsgpack.pack()",
    "return cmsgpack.unpack()",
    "return cmsgpack.unpack({})",
    "return cmsgpack.unpack(nil)",
    "return cmsgpack.unpack('\\193')",
    "return cmsgpack.unpack('\\196\\001a')",
    "return cmsgpack.unpack('\\146\\001')",
    "return cmsgpack.unpack('\\205\\001')",
    "return cmsgpack.unpack('\\165abc')",
    "return cmsgpack.unpack_one('\\001', -1)",
    "return cmsgpack.unpack_one('\\001', 5)",
    "return cmsgpack.unpack_one('\\001', 'x')",
    "return cmsgpack.unpack_one()",
    "return cmsgpack.unpack_limit('\\001')",
    "return cmsgpack.unpack_limit('\\001', -1)",
    "return cmsgpack.unpack_limit('\\001\\002', 1, 7)",
    "return cmsgpack.unpack_limit('\\001', {})",
    "cmsgpack = nil",
    "return cmsgpack.unpack('\\129\\192\\001')",
    "return cmsgpack.unpack('\\129\\203\\255\\248\\000\\000\\000\\000\\000\\000\\001')",
    "return select('#', cmsgpack.unpack(string.rep('\\001', 8000)))",
    "return select('#', cmsgpack.unpack(string.rep('\\001', 20000)))",
    "return cmsgpack.unpack(string.rep('\\145', 4000) .. '\\001')",
    "return cmsgpack.unpack(string.rep('\\129\\001', 4100) .. '\\001')",
    "local t = {} for i = 1, 4001 do t[i] = i end return #cmsgpack.pack(unpack(t))",
    "local t = {} for i = 1, 3999 do t[i] = {a={b={c={d=1}}}} end return #cmsgpack.pack(unpack(t))",
    "local t = {} for i = 1, 4000 do t[i] = {{1}} end return #cmsgpack.pack(unpack(t))",
    "return cmsgpack.unpack(string.rep('\\145\\129\\001', 2700) .. '\\001')",
    "return cmsgpack.unpack(string.rep('\\129\\001', 2700))",
]

STRUCT = [
    "return struct.pack('>i', 1)",
    "return struct.pack('<i', -2)",
    "return struct.pack('bBhHlLT', -1, 255, -2, 65535, -3, 2^40, 7)",
    "return struct.pack('>bBhHlL', 1, 2, 3, 4, 5, 6)",
    "return struct.pack('i1i2i3i8i16', -1, -1, -1, -1, -1)",
    "return struct.pack('>I3', 0x010203)",
    "return struct.pack('B', 256)",
    "return struct.pack('b', 3.9)",
    "return struct.pack('b', -3.9)",
    "return struct.pack('<f', 1.5) .. struct.pack('>f', 1.5) .. struct.pack('d', 0.1)",
    "return struct.pack('>d', -2.5)",
    "return struct.pack('f', 1e300)",
    "return struct.pack('c3', 'abcdef')",
    "return struct.pack('c0', 'whole')",
    "return struct.pack('s', 'zero')",
    "return struct.pack('x x')",
    "return struct.pack('!4 b i', 1, 2)",
    "return struct.pack('!b d', 1, 2)",
    "return struct.pack('!2 b i', 1, 2)",
    "return struct.pack('!4 b c2 h', 1, 'ab', 3)",
    "return struct.pack('i', '42')",
    "return struct.pack('>i', '0x10') .. struct.pack('>i', ' -0X1f ') .. struct.pack('>i', '1e3')",
    "return struct.pack('>d', '0x1.8p1') .. struct.pack('>d', 'inf') .. struct.pack('>d', '-.5')",
    "return struct.pack('>i', '\\t7\\n')",
    "return struct.pack('c0', 12.5)",
    "return struct.pack('')",
    "return struct.pack('b\\0b', 1, 2)",
    "return {struct.unpack('>i', struct.pack('>i', -5))}",
    "return {struct.unpack('<I', '\\255\\255\\255\\255')}",
    "return {struct.unpack('bBhH', '\\255\\255\\255\\255\\001\\128')}",
    "return {struct.unpack('>lL', string.rep('\\255', 16))}",
    "return {struct.unpack('i16', string.rep('\\255', 16))}",
    "return {struct.unpack('I3', '\\001\\002\\003')}",
    "return {struct.unpack('s', 'ab\\0cd')}",
    "return {struct.unpack('c2c0', 'xy')}",
    "return {struct.unpack('B c0', '\\003abcd')}",
    "return {struct.unpack('f c0', struct.pack('f', 2.75) .. 'abc')}",
    "return {struct.unpack('f c0', struct.pack('f', -0.5) .. 'abc')}",
    "return {struct.unpack('f c0', struct.pack('f', 2^70) .. 'abc')}",
    "return {struct.unpack('d c0', struct.pack('d', 1/0) .. 'abc')}",
    "return {struct.unpack('c2', 'abcd', 3)}",
    "return {struct.unpack('b', 'abcd', 4)}",
    "return {struct.unpack('!4 b i', struct.pack('!4 b i', 1, 2))}",
    "return {struct.unpack('x b', '\\000\\009')}",
    "return tostring(struct.unpack('f', struct.pack('f', 0.1)))",
    "return tostring(struct.unpack('>d', struct.pack('>d', 0.1)))",
    "return {struct.unpack('', 'abc')}",
    "return {2^64, -2^70, 0/0}",
    "return select('#', struct.unpack(string.rep('b', 7997), string.rep('a', 9000)))",
    "return select('#', struct.unpack(string.rep('x', 8000) .. 'b', string.rep('a', 9000)))",
    "return {struct.size('bhi'), struct.size('!bhi'), struct.size('d'), struct.size('c5'), "
    "struct.size('!4bd'), struct.size('i3'), struct.size('x'), struct.size('zq'), struct.size('')}",
]

STRUCT_ERRORS = [
    "return struct.pack('y', 1)",
    "return struct.pack('z', 1)",
    "return struct.pack('X', 1)",
    "return struct.pack('i33', 1)",
    "return struct.pack('i99999999999', 1)",
    "return struct.pack('!3 i', 1)",
    "return struct.pack('i')",
    "return struct.pack('i', 'abc')",
    "return struct.pack('i', '1_0')",
    "return struct.pack('i', '')",
    "return struct.pack('i', '0x')",
    "return struct.pack('i', '12abc')",
    "return struct.pack('i', {})",
    "return struct.pack('c5', 'ab')",
    "return struct.pack('b c5', 1, 'ab')",
    "return struct.pack('s')",
    "return struct.pack()",
    "return struct.pack({})",
    "return struct.unpack('i', 'ab')",
    "return struct.unpack('i')",
    "return struct.unpack('s', 'abc')",
    "return struct.unpack('c0', 'abc')",
    "return struct.unpack('b c0', '\\009ab')",
    "return struct.unpack('b c0', '\\255abc')",
    "return struct.unpack('f c0', struct.pack('f', -2.5) .. 'abc')",
    "return struct.unpack('b', 'a', 2)",
    "return struct.unpack('b', 'a', 'x')",
    "return struct.unpack('?', 'a')",
    "return struct.size('s')",
    "return struct.size('c0')",
    "return struct.size('!3')",
    "return struct.size('?')",
    "return struct.size()",
    "return select('#', struct.unpack(string.rep('b', 7998), string.rep('a', 9000)))",
]


def _eval(both, script):
    return same(both, "EVAL", script, 0)


@pytest.mark.parametrize("script", PACK + UNPACK + STRUCT)
def test_library_calls_answer_as_redis(both, script):
    """cmsgpack pack/unpack and struct: the same raw reply as redis-server (same() asserts it)."""
    _eval(both, script)


@pytest.mark.parametrize("script", ERRORS + STRUCT_ERRORS)
def test_library_errors_as_redis(both, script):
    reply = _eval(both, script)
    assert isinstance(reply, tuple) and reply[0] == "error"


def test_redis_py_msgpack_example(both):
    # redis-py's test_eval_msgpack: a msgpack argument, unpacked in the script
    script = "local msgpack = cmsgpack.unpack(ARGV[1]) return 'hello ' .. msgpack.name"
    assert same(both, "EVAL", script, 0, b"\x81\xa4name\xa3Joe") == b"hello Joe"


def test_packed_value_round_trips_through_a_key(both):
    script = ("redis.call('set', KEYS[1], cmsgpack.pack({x = ARGV[1], n = {1, 2.5}})) "
              "local t = cmsgpack.unpack(redis.call('get', KEYS[1])) "
              "return {t.x, tostring(t.n[2]), redis.call('strlen', KEYS[1])}")
    assert same(both, "EVAL", script, 1, "k", "v") == [b"v", b"2.5", 14]


def test_functions_see_the_libraries_when_called_not_when_loaded(both):
    loading = "#!lua name=l1\nlocal x = cmsgpack.pack(1)\nredis.register_function('f1', function() end)"
    assert same(both, "FUNCTION", "LOAD", loading)[0] == "error"
    lib = ("#!lua name=l2\nredis.register_function('f2', function(keys, args) "
           "return cmsgpack.pack(struct.unpack('>h', args[1])) end)")
    try:
        assert same(both, "FUNCTION", "LOAD", lib) == b"l2"
        assert same(both, "FCALL", "f2", 0, b"\xff\xfe") == b"\xfe\x03"
    finally:
        same(both, "FUNCTION", "FLUSH")


class _Random:
    """Seeded random Lua values and struct formats (the same cases on every run)."""

    def __init__(self, seed: int):
        import random

        self.rnd = random.Random(seed)

    def string(self) -> str:
        n = self.rnd.choice([0, 1, 5, 31, 32, 255, 256, 300])
        return '"' + "".join(f"\\{self.rnd.randrange(256)}" for _ in range(n)) + '"'

    def number(self) -> str:
        r = self.rnd
        return r.choice([
            lambda: str(r.choice([0, 127, 128, -32, -33, 255, 256, -128, -129, 65535, 65536,
                                  -32768, -32769, 2**32 - 1, 2**32, -2**31, -2**31 - 1])),
            lambda: repr(r.uniform(-1e6, 1e6)),
            lambda: repr(r.choice([0.5, -1.5, 3.0e38, 1e-40, 1e300, 16777217.0, 16777216.5])),
            lambda: f"({r.randrange(-100, 100)}/{r.randrange(1, 50)})",
            lambda: f"{r.choice(['', '-'])}2^{r.randrange(0, 70)}",
            lambda: str(r.randrange(-2**40, 2**40)),
        ])()

    def value(self, depth: int = 0) -> str:
        r = self.rnd
        kind = r.randrange(7 if depth < 4 else 4)
        if kind < 2:
            return self.number()
        if kind == 2:
            return self.string()
        if kind == 3:
            return r.choice(["true", "false", "nil"])
        items = [self.value(depth + 1) for _ in range(r.randrange(0, 18))]
        if kind == 4:
            return "{" + ",".join(items) + "}"
        keys = [r.choice([self.number(), f'"k{r.randrange(30)}"']) for _ in items]
        return "{" + ",".join(f"[{k}]={v}" for k, v in zip(keys, items, strict=True)) + "}"

    def fmt(self) -> str:
        opts = ["<", ">", "!", "!4", "!2", "b", "B", "h", "H", "l", "L", "T", "i", "I", "i3",
                "I5", "i8", "I16", "f", "d", "c2", "c0", "s", "x", " "]
        return "".join(self.rnd.choice(opts) for _ in range(self.rnd.randrange(1, 6)))


def test_random_values_pack_alike(both):
    gen = _Random(7)
    for _ in range(150):
        args = ",".join(gen.value() for _ in range(gen.rnd.randrange(1, 4)))
        same(both, "EVAL", f"return cmsgpack.pack({args})", 0)


def test_random_struct_formats_alike(both):
    gen = _Random(11)
    unpack = ("local r = {struct.unpack(ARGV[1], ARGV[2])} for i = 1, #r do "
              "if type(r[i]) == 'number' then r[i] = string.format('%.17g', r[i]) end end return r")
    for _ in range(150):
        fmt = gen.fmt()
        data = bytes(gen.rnd.randrange(256) for _ in range(gen.rnd.randrange(0, 40)))
        same(both, "EVAL", unpack, 0, fmt, data)
        args = ",".join(gen.rnd.choice([gen.number(), '"abc"', '""']) for _ in range(6))
        same(both, "EVAL", f"return struct.pack(ARGV[1], {args})", 0, fmt)
