"""Sans-IO: ACL users (xcache/acl.py): rules, all-or-nothing SETUSER, SHA-256 passwords,
permission checks, the default user and requirepass, the ACL LOG grouping."""

from __future__ import annotations

import hashlib

import pytest

from xcache.acl import ACL, ACLError, genpass


def test_setuser_is_all_or_nothing_and_passwords_are_hashed():
    acl = ACL()
    acl.setuser("u", ["on", ">secret", "~k*", "+get"])
    with pytest.raises(ACLError, match="Error in ACL SETUSER modifier 'bogus': Syntax error"):
        acl.setuser("u", ["+set", "bogus"])
    u = acl.users["u"]
    assert "set" not in u.allowed  # nothing of the failed SETUSER applied
    assert u.passwords == [hashlib.sha256(b"secret").hexdigest()]
    assert acl.authenticate("u", b"secret") is u
    assert acl.authenticate("u", b"wrong") is None
    acl.setuser("u", ["off"])
    assert acl.authenticate("u", b"secret") is None


def test_permissions():
    acl = ACL()
    acl.setuser("u", ["on", "nopass", "%R~r*", "%W~w*", "&news.*", "-@all", "+@read", "+set",
                      "+config|get"])
    u = acl.users["u"]
    assert acl.command_allowed(u, "get", [b"k"]) is None
    assert acl.command_allowed(u, "del", [b"k"]) == "del"
    assert acl.command_allowed(u, "config", [b"GET", b"x"]) is None
    assert acl.command_allowed(u, "config", [b"set", b"x", b"y"]) == "config|set"
    assert acl.key_allowed(u, b"r1", write=False) and not acl.key_allowed(u, b"r1", write=True)
    assert acl.key_allowed(u, b"w1", write=True) and not acl.key_allowed(u, b"w1", write=False)
    assert acl.channel_allowed(u, b"news.sport", False)
    assert not acl.channel_allowed(u, b"news.*x", True)  # a pattern must match literally
    assert not u.unrestricted and acl.default_user().unrestricted


def test_requirepass_and_describe():
    acl = ACL()
    assert acl.describe(acl.default_user()) == "user default on nopass ~* &* +@all"
    acl.sync_requirepass("pw")
    assert acl.default_user().passwords == [hashlib.sha256(b"pw").hexdigest()]
    assert acl.authenticate("default", b"pw") is not None
    acl.setuser("u", ["+@all", "-@dangerous", "+config|get"])
    assert acl.describe_commands(acl.users["u"]) == "+@all -@dangerous +config|get"


def test_log_groups_repeats():
    t = [100.0]
    acl = ACL(clock=lambda: t[0])
    for _ in range(3):
        acl.log_denied("auth", "toplevel", "AUTH", "bob", "id=1")
    acl.log_denied("command", "toplevel", "get", "bob", "id=1")
    assert [(e["reason"], e["count"]) for e in acl.log] == [("command", 1), ("auth", 3)]
    t[0] += 61
    acl.log_denied("auth", "toplevel", "AUTH", "bob", "id=1")
    assert [(e["reason"], e["count"]) for e in acl.log][0] == ("auth", 1)


def test_genpass_bits():
    assert len(genpass()) == 64 and len(genpass(10)) == 3 and len(genpass(4096)) == 1024
