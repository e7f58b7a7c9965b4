"""CLIENT TRACKING's options and rules, as Redis 7.0's clientCommand checks them (sans-IO).

Shared by the node (store/tracking.py) and the proxy (proxy/tracking.py): each keeps its own
table of who caches what; what a client may ask for, the errors it gets and how CLIENT
TRACKINGINFO describes it are the same. Errors are raised as ValueError with Redis's text.
"""

from __future__ import annotations

from collections.abc import Callable

from xcache.numbers import string2ll


class TrackingOptions:
    __slots__ = ("redirect", "bcast", "prefixes", "optin", "optout", "noloop", "caching", "broken")

    def __init__(self):
        self.redirect = 0
        self.bcast = False
        self.prefixes: list[bytes] = []
        self.optin = self.optout = self.noloop = False
        self.caching: bool | None = None  # CLIENT CACHING yes/no for the next command
        self.broken = False  # an invalidation found the redirect client gone

    def wants(self, caching: bool | None) -> bool:
        """Default mode: are the keys of a read made with this CLIENT CACHING value remembered?"""
        return not (self.bcast or (self.optin and not caching) or (self.optout and caching is False))

    def info_flags(self) -> list[bytes]:
        """CLIENT TRACKINGINFO's flags, in Redis's order."""
        flags = [b"on"] + ([b"bcast"] if self.bcast else [])
        if self.optin:
            flags += [b"optin"] + ([b"caching-yes"] if self.caching is True else [])
        if self.optout:
            flags += [b"optout"] + ([b"caching-no"] if self.caching is False else [])
        if self.noloop:
            flags.append(b"noloop")
        if self.broken:
            flags.append(b"broken_redirect")
        return flags


def parse(args: list[bytes], old: TrackingOptions | None, client_exists: Callable[[int], bool],
          make: Callable[[], TrackingOptions] = TrackingOptions) -> TrackingOptions | None:
    """CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p ...] [BCAST] [OPTIN] [OPTOUT] [NOLOOP]
    (args: from ON|OFF on): the client's new options, None for OFF. With BCAST the prefixes
    are those it had plus the new ones (the empty prefix when it names none)."""
    new = make()
    i = 1
    while i < len(args):
        opt = args[i].upper()
        more = i + 1 < len(args)
        if opt == b"REDIRECT" and more:
            if new.redirect:
                raise ValueError("ERR A client can only redirect to a single other client")
            redirect = string2ll(args[i + 1])
            if redirect is None:
                raise ValueError("ERR value is not an integer or out of range")
            if not client_exists(redirect):
                raise ValueError("ERR The client ID you want redirect to does not exist")
            new.redirect = redirect
            i += 2
        elif opt == b"PREFIX" and more:
            new.prefixes.append(args[i + 1])
            i += 2
        elif opt in (b"BCAST", b"OPTIN", b"OPTOUT", b"NOLOOP"):
            setattr(new, opt.decode().lower(), True)
            i += 1
        else:
            raise ValueError("ERR syntax error")
    mode = args[0].upper()
    if mode == b"OFF":
        return None
    if mode != b"ON":
        raise ValueError("ERR syntax error")
    if new.prefixes and not new.bcast:
        raise ValueError("ERR PREFIX option requires BCAST mode to be enabled")
    if old is not None and old.bcast != new.bcast:
        raise ValueError("ERR You can't switch BCAST mode on/off before disabling tracking for "
                         "this client, and then re-enabling it with a different mode.")
    if new.bcast and (new.optin or new.optout):
        raise ValueError("ERR OPTIN and OPTOUT are not compatible with BCAST")
    if new.optin and new.optout:
        raise ValueError("ERR You can't specify both OPTIN mode and OPTOUT mode")
    if old is not None and ((new.optin and old.optout) or (new.optout and old.optin)):
        raise ValueError("ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for "
                         "this client, and then re-enabling it with a different mode.")
    if new.bcast:
        known = list(old.prefixes) if old is not None else []
        _check_prefixes(known, new.prefixes)
        for prefix in new.prefixes or [b""]:  # enableTracking adds to the prefixes it has
            if prefix not in known:
                known.append(prefix)
        new.prefixes = known
    return new


def _check_prefixes(existing: list[bytes], given: list[bytes]) -> None:
    """checkPrefixCollisionsOrReply: two prefixes overlap when one starts the other."""
    def overlap(a: bytes, b: bytes) -> bool:
        return a.startswith(b) or b.startswith(a)

    def text(p: bytes) -> str:
        return p.decode(errors="replace")

    for i, prefix in enumerate(given):
        for have in existing:
            if overlap(have, prefix):
                raise ValueError(f"ERR Prefix '{text(prefix)}' overlaps with an existing prefix "
                                 f"'{text(have)}'. Prefixes for a single client must not overlap.")
        for other in given[i + 1:]:
            if overlap(prefix, other):
                raise ValueError(f"ERR Prefix '{text(prefix)}' overlaps with another provided "
                                 f"prefix '{text(other)}'. Prefixes for a single client must not "
                                 "overlap.")


def set_caching(t: TrackingOptions | None, value: bytes) -> None:
    """CLIENT CACHING yes|no: for the next command (OPTIN: cache it, OPTOUT: do not)."""
    if t is None or not (t.optin or t.optout):
        raise ValueError("ERR CLIENT CACHING can be called only when the client is in tracking "
                         "mode with OPTIN or OPTOUT mode enabled")
    value = value.upper()
    if value == b"YES" and t.optin:
        t.caching = True
    elif value == b"NO" and t.optout:
        t.caching = False
    elif value in (b"YES", b"NO"):
        mode = "OPTIN" if value == b"YES" else "OPTOUT"
        raise ValueError(f"ERR CLIENT CACHING {value.decode()} is only valid when tracking is "
                         f"enabled in {mode} mode.")
    else:
        raise ValueError("ERR syntax error")
