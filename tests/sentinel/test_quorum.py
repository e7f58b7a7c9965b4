"""Unit tests of the sans-IO health and agreement rules (no sockets, time passed in)."""

from __future__ import annotations

from xcache.sentinel.quorum import (
    PEER_DOWN_VALIDITY_MS,
    Candidate,
    Epochs,
    Health,
    PeerOpinion,
    elect_leader,
    is_odown,
    is_valid_ping_reply,
    odown_votes,
    select_replica,
)

DOWN, STALLED_DOWN = 1000, 5000


def test_answering_node_is_never_sdown():
    h = Health(created=0)
    h.on_connected(0)
    for t in range(0, 20000, 500):
        h.on_ping_sent(t)
        h.on_ping_reply(t + 1, t, valid=True)
        assert h.check(t + 1, DOWN, STALLED_DOWN) is None
    assert not h.sdown


def test_unanswered_ping_past_down_after_is_sdown_then_recovers():
    h = Health(created=0)
    h.on_connected(0)
    h.on_ping_sent(100)
    assert h.check(100 + DOWN, DOWN, STALLED_DOWN) is None  # exactly the bound: not yet
    assert h.check(101 + DOWN, DOWN, STALLED_DOWN) == "+sdown"
    assert h.check(200 + DOWN, DOWN, STALLED_DOWN) is None  # reported once
    h.on_ping_reply(3000, 100, valid=True)
    assert h.check(3000, DOWN, STALLED_DOWN) == "-sdown"


def test_pending_ping_survives_reconnect():
    """A hung node accepts new connections; the oldest unanswered PING still counts."""
    h = Health(created=0)
    h.on_connected(0)
    h.on_ping_sent(100)
    h.on_disconnected(600)
    h.on_connected(700)
    assert h.check(1200, DOWN, STALLED_DOWN) == "+sdown"


def test_refused_connections_count_from_last_valid_reply():
    h = Health(created=0)
    h.on_connected(0)
    h.on_ping_sent(10)
    h.on_ping_reply(20, 10, valid=True)
    h.on_disconnected(30)
    assert h.check(20 + DOWN, DOWN, STALLED_DOWN) is None
    assert h.check(21 + DOWN, DOWN, STALLED_DOWN) == "+sdown"


def test_invalid_reply_does_not_clear_pending_ping():
    h = Health(created=0)
    h.on_connected(0)
    h.on_ping_sent(0)
    h.on_ping_reply(10, 0, valid=is_valid_ping_reply(Exception("BUSY script running")))
    assert h.check(DOWN + 1, DOWN, STALLED_DOWN) == "+sdown"


def test_valid_ping_replies():
    assert is_valid_ping_reply(b"PONG")
    assert is_valid_ping_reply(Exception("LOADING Redis is loading the dataset in memory"))
    assert is_valid_ping_reply(Exception("MASTERDOWN Link with MASTER is down"))
    assert not is_valid_ping_reply(Exception("ERR unknown"))


def test_stalled_node_gets_the_longer_bound():
    h = Health(created=0)
    h.on_connected(0)
    assert h.on_stall_report(True, 2.5) == "+stalled"
    assert h.on_stall_report(True, 3.0) is None
    h.on_ping_sent(0)
    assert h.check(DOWN + 1, DOWN, STALLED_DOWN) is None  # slow but stalled: not down
    assert not h.sdown and h.stalled
    assert h.check(STALLED_DOWN + 1, DOWN, STALLED_DOWN) == "+sdown"  # unresponsive past the bound
    h.on_ping_reply(STALLED_DOWN + 2, 0, valid=True)
    assert h.check(STALLED_DOWN + 2, DOWN, STALLED_DOWN) == "-sdown"
    assert h.on_stall_report(False) == "-stalled"


def test_stall_ends_while_unanswered_applies_the_normal_bound():
    h = Health(created=0)
    h.on_connected(0)
    h.on_stall_report(True)
    h.on_ping_sent(0)
    assert h.check(2000, DOWN, STALLED_DOWN) is None
    h.on_stall_report(False)
    assert h.check(2000, DOWN, STALLED_DOWN) == "+sdown"


def test_odown_needs_quorum_of_fresh_opinions():
    now = 100000
    fresh = PeerOpinion(master_down=True, reply_time=now - 10)
    stale = PeerOpinion(master_down=True, reply_time=now - PEER_DOWN_VALIDITY_MS - 1)
    up = PeerOpinion(master_down=False, reply_time=now)
    assert odown_votes(True, [fresh, stale, up], now) == 2
    assert is_odown(True, [fresh, up], now, quorum=2)
    assert not is_odown(True, [stale, up], now, quorum=2)
    assert not is_odown(False, [fresh, fresh], now, quorum=2)  # our own SDOWN is required
    assert is_odown(True, [], now, quorum=1)


def test_epochs_one_vote_per_epoch():
    e = Epochs()
    assert e.vote("m", "a", 1) == ("a", 1)
    assert e.current == 1
    assert e.vote("m", "b", 1) == ("a", 1)  # already voted in epoch 1
    assert e.vote("m", "b", 2) == ("b", 2)
    assert e.vote("m", "a", 1) == ("b", 2)  # an old epoch changes nothing
    assert e.current == 2
    assert e.vote("other", "c", 2) == ("c", 2)  # votes are per master


def test_epochs_refuse_vote_below_current_epoch():
    e = Epochs(current=5)
    assert e.vote("m", "a", 3) == ("", 0)
    assert e.new_epoch() == 6


def test_elect_leader_majority_of_voters():
    e = Epochs()
    epoch = e.new_epoch()
    e.vote("m", "me", epoch)  # a sentinel starting a failover votes for itself first
    peers = [PeerOpinion(leader="me", leader_epoch=epoch), PeerOpinion(leader="x", leader_epoch=epoch)]
    assert elect_leader(e, "m", "me", epoch, peers, quorum=2) == "me"


def test_elect_leader_split_vote_has_no_winner():
    e = Epochs()
    epoch = e.new_epoch()
    peers = [PeerOpinion(leader="x", leader_epoch=epoch), PeerOpinion(leader="y", leader_epoch=epoch),
             PeerOpinion(leader="z", leader_epoch=epoch), PeerOpinion()]
    assert elect_leader(e, "m", "me", epoch, peers, quorum=2) is None


def test_elect_leader_ignores_other_epochs_and_needs_quorum():
    e = Epochs()
    epoch = e.new_epoch()
    peers = [PeerOpinion(leader="me", leader_epoch=epoch - 1), PeerOpinion()]
    assert elect_leader(e, "m", "me", epoch, peers, quorum=2) is None
    # 1 of 1 voters but quorum 2: no
    assert elect_leader(Epochs(current=1), "m", "me", 1, [], quorum=2) is None
    assert elect_leader(Epochs(current=1), "m", "me", 1, [], quorum=1) == "me"


def test_elect_leader_votes_for_the_peers_favourite():
    e = Epochs()
    epoch = e.new_epoch()
    peers = [PeerOpinion(leader="x", leader_epoch=epoch), PeerOpinion()]
    assert elect_leader(e, "m", "me", epoch, peers, quorum=2) == "x"
    assert e.votes["m"] == ("x", epoch)


def _select(cands):
    return select_replica(cands, master_down_ms=2000, down_after_ms=1000, ping_period_ms=1000,
                          info_validity_ms=5000)


def test_select_by_priority_then_offset_then_runid():
    a = Candidate("a:1", runid="bbb", priority=100, offset=10)
    b = Candidate("b:1", runid="aaa", priority=100, offset=10)
    c = Candidate("c:1", runid="ccc", priority=100, offset=50)
    d = Candidate("d:1", runid="ddd", priority=10, offset=0)
    assert _select([a, b]).addr == "b:1"
    assert _select([a, b, c]).addr == "c:1"
    assert _select([a, b, c, d]).addr == "d:1"


def test_select_skips_unusable_replicas():
    never = Candidate("never:1", priority=0, offset=999)
    down = Candidate("down:1", sdown=True, offset=999)
    gone = Candidate("gone:1", connected=False, offset=999)
    silent = Candidate("silent:1", last_avail_age_ms=5001, offset=999)
    old_info = Candidate("old:1", info_age_ms=5001, offset=999)
    detached = Candidate("detached:1", link_down_ms=2000 + 10000 + 1, offset=999)
    ok = Candidate("ok:1", offset=1)
    assert _select([never, down, gone, silent, old_info, detached]) is None
    assert _select([never, down, gone, silent, old_info, detached, ok]).addr == "ok:1"


def test_select_prefers_a_replica_that_is_not_stalled():
    stalled = Candidate("s:1", stalled=True, priority=1, offset=100)
    fine = Candidate("f:1", priority=100, offset=1)
    assert _select([stalled, fine]).addr == "f:1"
    assert _select([stalled]).addr == "s:1"


def test_master_reporting_replica_role_too_long_is_sdown():
    h = Health(created=0)
    h.on_connected(0)
    assert h.check(10, DOWN, STALLED_DOWN, wrong_role_ms=3000, wrong_role_bound_ms=3000) is None
    assert h.check(11, DOWN, STALLED_DOWN, wrong_role_ms=3001, wrong_role_bound_ms=3000) == "+sdown"
    assert h.check(12, DOWN, STALLED_DOWN) == "-sdown"
