"""Redis's geohash arithmetic (geohash.c, geohash_helper.c): 52-bit interleaved hashes, areas,
neighbours and haversine distances, as pure functions, so results match Redis to the last digit.

A hash is (bits, step): `step` bits of latitude on the even positions interleaved with `step`
bits of longitude on the odd ones. Members are stored with step 26 (52 bits) as their score.
"""

from __future__ import annotations

import math
from decimal import Decimal

LAT_MIN, LAT_MAX = -85.05112878, 85.05112878
LONG_MIN, LONG_MAX = -180.0, 180.0
STEP_MAX = 26
EARTH_RADIUS_M = 6372797.560856
MERCATOR_MAX = 20037726.37
D_R = math.pi / 180.0
R_D = 180.0 / math.pi
_M64 = (1 << 64) - 1
_EVEN = 0x5555555555555555
_ODD = 0xAAAAAAAAAAAAAAAA
ALPHABET = b"0123456789bcdefghjkmnpqrstuvwxyz"


def _spread(v: int) -> int:
    """Put the 32 bits of v on the even bit positions of a 64-bit value."""
    v &= 0xFFFFFFFF
    v = (v | (v << 16)) & 0x0000FFFF0000FFFF
    v = (v | (v << 8)) & 0x00FF00FF00FF00FF
    v = (v | (v << 4)) & 0x0F0F0F0F0F0F0F0F
    v = (v | (v << 2)) & 0x3333333333333333
    v = (v | (v << 1)) & 0x5555555555555555
    return v


def _squash(v: int) -> int:
    """Inverse of _spread: the even bits of v, packed into 32 bits."""
    v &= 0x5555555555555555
    v = (v | (v >> 1)) & 0x3333333333333333
    v = (v | (v >> 2)) & 0x0F0F0F0F0F0F0F0F
    v = (v | (v >> 4)) & 0x00FF00FF00FF00FF
    v = (v | (v >> 8)) & 0x0000FFFF0000FFFF
    v = (v | (v >> 16)) & 0x00000000FFFFFFFF
    return v


def interleave(lat_bits: int, lon_bits: int) -> int:
    return _spread(lat_bits) | (_spread(lon_bits) << 1)


def encode(lon: float, lat: float, step: int = STEP_MAX,
           lat_range: tuple[float, float] = (LAT_MIN, LAT_MAX),
           lon_range: tuple[float, float] = (LONG_MIN, LONG_MAX)) -> int | None:
    """geohashEncode: the hash bits, or None outside the supported coordinates."""
    if lon > LONG_MAX or lon < LONG_MIN or lat > LAT_MAX or lat < LAT_MIN:
        return None
    if lat < lat_range[0] or lat > lat_range[1] or lon < lon_range[0] or lon > lon_range[1]:
        return None
    lat_off = (lat - lat_range[0]) / (lat_range[1] - lat_range[0]) * (1 << step)
    lon_off = (lon - lon_range[0]) / (lon_range[1] - lon_range[0]) * (1 << step)
    return interleave(int(lat_off), int(lon_off))  # C casts the doubles to uint32_t (truncation)


def decode_area(bits: int, step: int) -> tuple[float, float, float, float]:
    """geohashDecode with Redis's ranges -> (lon_min, lon_max, lat_min, lat_max)."""
    ilat = _squash(bits)
    ilon = _squash(bits >> 1)
    lat_scale = LAT_MAX - LAT_MIN
    lon_scale = LONG_MAX - LONG_MIN
    div = float(1 << step)
    return (LONG_MIN + (ilon * 1.0 / div) * lon_scale,
            LONG_MIN + ((ilon + 1) * 1.0 / div) * lon_scale,
            LAT_MIN + (ilat * 1.0 / div) * lat_scale,
            LAT_MIN + ((ilat + 1) * 1.0 / div) * lat_scale)


def decode(bits: int, step: int = STEP_MAX) -> tuple[float, float]:
    """The (lon, lat) centre of a hash's area, clamped as geohashDecodeAreaToLongLat."""
    lon_min, lon_max, lat_min, lat_max = decode_area(bits, step)
    lon = (lon_min + lon_max) / 2
    lon = min(max(lon, LONG_MIN), LONG_MAX)
    lat = (lat_min + lat_max) / 2
    lat = min(max(lat, LAT_MIN), LAT_MAX)
    return lon, lat


def decode_score(score: float) -> tuple[float, float]:
    return decode(int(score))


def _move_x(bits: int, step: int, d: int) -> int:
    x = bits & _ODD
    y = bits & _EVEN
    zz = _EVEN >> (64 - step * 2)
    if d > 0:
        x = (x + zz + 1) & _M64
    else:
        x = ((x | zz) - (zz + 1)) & _M64
    x &= _ODD >> (64 - step * 2)
    return x | y


def _move_y(bits: int, step: int, d: int) -> int:
    x = bits & _ODD
    y = bits & _EVEN
    zz = _ODD >> (64 - step * 2)
    if d > 0:
        y = (y + zz + 1) & _M64
    else:
        y = ((y | zz) - (zz + 1)) & _M64
    y &= _EVEN >> (64 - step * 2)
    return x | y


def _moved(bits: int, step: int, dx: int, dy: int) -> int:
    if dx:
        bits = _move_x(bits, step, dx)
    if dy:
        bits = _move_y(bits, step, dy)
    return bits


def lat_distance(lat1: float, lat2: float) -> float:
    return EARTH_RADIUS_M * abs(lat2 * D_R - lat1 * D_R)


def distance(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """geohashGetDistance (haversine on Redis's sphere), in meters."""
    lon1r = lon1 * D_R
    lon2r = lon2 * D_R
    v = math.sin((lon2r - lon1r) / 2)
    if v == 0.0:
        return lat_distance(lat1, lat2)
    lat1r = lat1 * D_R
    lat2r = lat2 * D_R
    u = math.sin((lat2r - lat1r) / 2)
    a = u * u + math.cos(lat1r) * math.cos(lat2r) * v * v
    return 2.0 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


def steps_by_radius(range_m: float, lat: float) -> int:
    if range_m == 0:
        return 26
    step = 1
    while range_m < MERCATOR_MAX:
        range_m *= 2
        step += 1
    step -= 2
    if lat > 66 or lat < -66:
        step -= 1
        if lat > 80 or lat < -80:
            step -= 1
    return min(max(step, 1), 26)


class Shape:
    """A search area: a circle (radius) or a box (width, height), centred on (lon, lat).
    Sizes are in the request's unit; conversion turns them into meters."""

    __slots__ = ("lon", "lat", "radius", "width", "height", "conversion", "box")

    def __init__(self):
        self.lon = self.lat = 0.0
        self.radius = self.width = self.height = 0.0
        self.conversion = 1.0
        self.box = False

    def bounding_box(self) -> tuple[float, float, float, float]:
        """geohashBoundingBox -> (min_lon, min_lat, max_lon, max_lat)."""
        height = self.conversion * (self.height / 2 if self.box else self.radius)
        width = self.conversion * (self.width / 2 if self.box else self.radius)
        lat_delta = R_D * (height / EARTH_RADIUS_M)
        top = R_D * (width / EARTH_RADIUS_M / math.cos((self.lat + lat_delta) * D_R))
        bottom = R_D * (width / EARTH_RADIUS_M / math.cos((self.lat - lat_delta) * D_R))
        south = self.lat < 0
        lon_delta = bottom if south else top
        return (self.lon - lon_delta, self.lat - lat_delta, self.lon + lon_delta,
                self.lat + lat_delta)

    def contains(self, lon: float, lat: float) -> float | None:
        """The distance in meters to (lon, lat) if it lies in the shape, else None."""
        if not self.box:
            d = distance(self.lon, self.lat, lon, lat)
            return None if d > self.radius * self.conversion else d
        if lat_distance(lat, self.lat) > self.height * self.conversion / 2:
            return None
        if distance(lon, lat, self.lon, lat) > self.width * self.conversion / 2:
            return None
        return distance(self.lon, self.lat, lon, lat)


def search_boxes(shape: Shape) -> list[tuple[int, int]]:
    """geohashCalculateAreasByShapeWGS84 + membersOfAllNeighbors' order and de-duplication:
    the (bits, step) boxes to scan, centre first, then N, S, E, W, NE, NW, SE, SW."""
    min_lon, min_lat, max_lon, max_lat = shape.bounding_box()
    if shape.box:
        radius_m = math.sqrt((shape.width / 2) ** 2 + (shape.height / 2) ** 2)
    else:
        radius_m = shape.radius
    radius_m *= shape.conversion
    steps = steps_by_radius(radius_m, shape.lat)

    def around(step: int):
        h = encode(shape.lon, shape.lat, step)
        n = {name: _moved(h, step, dx, dy) for name, dx, dy in _DIRS}
        return h, n, decode_area(h, step)

    h, n, area = around(steps)
    north = decode_area(n["n"], steps)
    south = decode_area(n["s"], steps)
    east = decode_area(n["e"], steps)
    west = decode_area(n["w"], steps)
    decrease = (north[3] < max_lat or south[2] > min_lat or east[1] < max_lon
                or west[0] > min_lon)
    if steps > 1 and decrease:
        steps -= 1
        h, n, area = around(steps)
    zero: set[str] = set()
    if steps >= 2:
        if area[2] < min_lat:
            zero |= {"s", "sw", "se"}
        if area[3] > max_lat:
            zero |= {"n", "ne", "nw"}
        if area[0] < min_lon:
            zero |= {"w", "sw", "nw"}
        if area[1] > max_lon:
            zero |= {"e", "se", "ne"}
    boxes = [(h, steps)] + [(0, 0) if name in zero else (n[name], steps)
                            for name in ("n", "s", "e", "w", "ne", "nw", "se", "sw")]
    out = []
    last = 0
    for i, (bits, step) in enumerate(boxes):
        if bits == 0 and step == 0:
            continue
        if last and boxes[last] == (bits, step):
            continue
        out.append((bits, step))
        last = i
    return out


_DIRS = (("e", 1, 0), ("w", -1, 0), ("s", 0, -1), ("n", 0, 1), ("nw", -1, 1), ("sw", -1, -1),
         ("ne", 1, 1), ("se", 1, -1))


def box_scores(bits: int, step: int) -> tuple[int, int]:
    """The score range [min, max) of the members inside a box."""
    shift = 52 - step * 2
    return bits << shift, (bits + 1) << shift


def hash_string(lon: float, lat: float) -> bytes:
    """GEOHASH's 11-character standard geohash (re-encoded with latitude -90..90)."""
    bits = encode(lon, lat, 26, (-90.0, 90.0), (-180.0, 180.0)) or 0
    out = bytearray()
    for i in range(11):
        idx = 0 if i == 10 else (bits >> (52 - (i + 1) * 5)) & 0x1F
        out.append(ALPHABET[idx])
    return bytes(out)


def human(value: float) -> bytes:
    """addReplyHumanLongDouble: %.17Lf with trailing zeros removed."""
    text = format(Decimal(value), ".17f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text == "-0":
        text = "0"
    return text.encode()
