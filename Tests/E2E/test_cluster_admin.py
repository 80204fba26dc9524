"""Cluster administration: leadership transfer (admin API and `machdb ctl`), and the
internal routes' cluster-token authentication (401 without it; the admin token does not
work there; nothing changes)."""

from __future__ import annotations

import time

import pytest

from helpers import (CLUSTER_ADMIN_TOKEN, CLUSTER_TOKEN, assert_problem, check_write,
                     cluster_view, doc_path, jdumps, wait_until)

ADMIN = {"Authorization": f"Bearer {CLUSTER_ADMIN_TOKEN}"}
TRANSFER = "/admin/v1/shards/1/transfer-leader"


@pytest.fixture(scope="module")
def trio(module_cluster_factory):
    c = module_cluster_factory()
    c.start(3)
    c.wait_voters(3)
    return c


def _agreed_leader_is(c, node_id, timeout=10.0):
    def ok():
        found = c.find_leader(agree=True)
        return found if found and found[0].node_id == node_id else None
    return wait_until(ok, timeout, f"every node to agree {node_id} leads ({c.describe()})")


# --------------------------------------------------------------------------- transfer


def test_transfer_leader_to_each_voter_in_turn(trio):
    c = trio
    first, v = c.wait_voters(3)
    term = v.term
    # The Load Manager's silent replica (priority 0) never leads while another voter can.
    silent = [e["id"] for e in v["nodes"] if e.get("priority") == 0]
    assert silent == ["n3"], v
    r = first.post_json(TRANSFER, {"to": "n3"}, headers=ADMIN)
    assert r.status == 409 and "priority 0" in r.json()["detail"], r.describe()
    targets = [n for n in c.nodes if n is not first and n.node_id not in silent] + [first]
    for target in targets:
        current = c.leader()
        # ask through a node that is neither the leader nor the target when there is one
        others = [n for n in c.nodes if n is not current and n is not target]
        via = others[0] if others else current
        t0 = time.monotonic()
        r = via.post_json(TRANSFER, {"to": target.node_id}, headers=ADMIN)
        took = time.monotonic() - t0
        assert r.status == 200, f"transfer {current.node_id} -> {target.node_id} via " \
                                f"{via.node_id}: {r.describe()}"
        assert r.json() == {"leader": target.node_id}, r.describe()
        lead, lv = _agreed_leader_is(c, target.node_id)
        assert lv.term > term, f"a transfer starts a new term: {term} -> {lv.term}"
        term = lv.term
        # writes go to the new leader, also when sent to the old one
        w = current.put_json(doc_path("xfer", f"to-{target.node_id}"), {"t": target.node_id})
        check_write(w, target.node_id)
        print(f"\ntransfer {current.node_id} -> {target.node_id} via {via.node_id}: "
              f"{took * 1000:.0f} ms, term {term}")


def test_ctl_transfer_leader(trio):
    c = trio
    current = c.leader()
    target = [n for n in c.nodes if n is not current and n.node_id != "n3"][-1]
    p = current.ctl("transfer-leader", "--shard", "1", "--to", target.node_id,
                    token=CLUSTER_ADMIN_TOKEN)
    out = p.stdout.decode("utf-8", "replace")
    assert p.returncode == 0, f"rc={p.returncode} stdout={out!r} stderr={p.stderr!r}"
    _agreed_leader_is(c, target.node_id)
    # and back, asking a follower
    back = [n for n in c.nodes if n is not target and n is not current][0]
    p = back.ctl("transfer-leader", "--shard", "1", "--to", current.node_id,
                 token=CLUSTER_ADMIN_TOKEN)
    assert p.returncode == 0, f"rc={p.returncode} stdout={p.stdout!r} stderr={p.stderr!r}"
    _agreed_leader_is(c, current.node_id)
    # a refused transfer is a failing ctl
    p = current.ctl("transfer-leader", "--shard", "1", "--to", "nobody",
                    token=CLUSTER_ADMIN_TOKEN)
    assert p.returncode != 0, f"ctl transfer to a non-member must fail: {p.stdout!r}"


def test_transfer_leader_refusals(trio):
    c = trio
    leader = c.leader()
    f = c.followers(leader)[0]
    assert_problem(leader.post_json(TRANSFER, {"to": "nobody"}, headers=ADMIN),
                   409, "transfer-failed")
    for n in (leader, f):
        for bad in ({}, {"to": 3}, {"to": ""}, ["n2"]):
            assert_problem(n.post_json(TRANSFER, bad, headers=ADMIN), 400, "invalid-request")
        assert_problem(n.post_json(TRANSFER, {"to": f.node_id}), 401, "unauthorized")
        assert_problem(n.post_json(TRANSFER, {"to": f.node_id},
                                   headers={"Authorization": f"Bearer {CLUSTER_TOKEN}"}),
                       401, "unauthorized")
        assert_problem(n.request("POST", TRANSFER, b'{"to":', {**ADMIN,
                                 "Content-Type": "application/json"}), 400, "invalid-json")
        assert_problem(n.post_json("/admin/v1/shards/2/transfer-leader", {"to": f.node_id},
                                   headers=ADMIN), 404, "not-found")
    # a follower asked for a redirect answers 307 to the leader and moves nothing
    r = f.post_json(TRANSFER, {"to": f.node_id}, headers={**ADMIN, "X-Machdb-Redirect": "true"})
    assert r.status == 307 and r.headers.get("location") == leader.url + TRANSFER, r.describe()
    # through a follower, the refusal comes back (decided there or by the leader)
    r = f.post_json(TRANSFER, {"to": "nobody"}, headers=ADMIN)
    assert r.status == 409, r.describe()
    assert r.json().get("type") == "urn:machdb:problem:transfer-failed", r.describe()
    assert c.leader() is leader, "refused transfers must not move the leader"


def test_transfer_leader_on_a_standalone_node(node_factory):
    n = node_factory.new("solo", admin_token=CLUSTER_ADMIN_TOKEN)
    r = n.post_json(TRANSFER, {"to": "n2"}, headers=ADMIN)
    assert_problem(r, 409, "not-in-cluster")


# --------------------------------------------------------------------------- internal auth

INTERNAL = [
    ("GET", "/internal/v1/raft/stream", None, None),
    ("GET", "/internal/v1/raft/1/snapshots/abc123?offset=0&length=16", None, None),
    ("POST", "/internal/v1/cluster/join",
     jdumps({"id": "intruder", "url": "http://127.0.0.1:9", "level": 5}), "application/json"),
]

BAD_AUTH = {
    "missing": {},
    "wrong": {"Authorization": "Bearer not-the-cluster-token"},
    "admin-token": {"Authorization": f"Bearer {CLUSTER_ADMIN_TOKEN}"},
    "prefix": {"Authorization": f"Bearer {CLUSTER_TOKEN[:-1]}"},
    "longer": {"Authorization": f"Bearer {CLUSTER_TOKEN}x"},
    "no-scheme": {"Authorization": CLUSTER_TOKEN},
    "basic": {"Authorization": f"Basic {CLUSTER_TOKEN}"},
    "empty-bearer": {"Authorization": "Bearer"},
}


def _state(c, leader=None):
    """The cluster as the leader shows it, once it is settled: two reads 0.2 s apart agree
    (the view's commit index may trail an acknowledged write by a moment)."""
    def settled():
        a = _raw_state(c.leader())
        time.sleep(0.2)
        b = _raw_state(c.leader())
        return a if a == b else None
    return wait_until(settled, 10, "a settled cluster state", interval=0.05)


def _raw_state(leader):
    v = cluster_view(leader)
    cols = leader.get("/v1/collections?consistency=strong")
    assert cols.status == 200, cols.describe()
    return {"members": sorted(v.members), "leader": v.leader, "term": v.term,
            "commit": v.shard.get("commit_index"),
            "nodes": sorted((e["id"], e["url"], e["level"]) for e in v["nodes"]),
            "collections": cols.json()}


def test_internal_routes_need_the_cluster_token(trio):
    c = trio
    leader = c.leader()
    check_write(leader.put_json(doc_path("auth", "a"), {"a": 1}), leader.node_id)
    before = _state(c, leader)
    for n in c.nodes:
        for method, target, body, ctype in INTERNAL:
            for name, hdrs in BAD_AUTH.items():
                h = dict(hdrs)
                if ctype:
                    h["Content-Type"] = ctype
                r = n.request(method, target, body, h)
                assert_problem(r, 401, "unauthorized")
                www = r.headers.get("www-authenticate")
                assert www and www.lower().startswith("bearer"), \
                    f"401 without WWW-Authenticate ({name}): {r.describe()}"
    after = _state(c, c.leader())
    assert after == before, f"unauthorized internal requests changed the cluster: " \
                            f"{before} -> {after}"


def test_internal_routes_with_the_token_reach_the_handlers(trio):
    # controls for the test above: the same routes with the right token are not 401
    c = trio
    leader = c.leader()
    before = _state(c, leader)
    auth = {"Authorization": f"Bearer {CLUSTER_TOKEN}"}
    for n in c.nodes:
        # the peer stream route: without the upgrade headers 426, without a peer id 400
        r = n.get("/internal/v1/raft/stream", headers=auth)
        assert_problem(r, 426, "upgrade-required")
        assert r.headers.get("upgrade") == "machdb-peer/1", r.describe()
        r = n.get("/internal/v1/raft/stream",
                  headers=dict(auth, **{"Connection": "Upgrade", "Upgrade": "machdb-peer/1"}))
        assert_problem(r, 400, "invalid-header")
        r = n.get("/internal/v1/raft/1/snapshots/abc123?offset=0&length=16", headers=auth)
        assert_problem(r, 404, "not-found")
        r = n.request("POST", "/internal/v1/cluster/join", jdumps({"id": "x"}),
                      dict(auth, **{"Content-Type": "application/json"}))
        assert_problem(r, 400, "invalid-request")
    # unknown shard: 404; bad joins: 400
    n = c.nodes[0]
    r = n.get("/internal/v1/raft/2/snapshots/abc123", headers=auth)
    assert_problem(r, 404, "not-found")
    for bad in ({"id": n.node_id, "url": n.url, "level": 1},
                {"id": "zz", "url": "http://127.0.0.1:9", "level": 9},
                {"id": "zz", "url": "ftp://127.0.0.1:9", "level": 1},
                {"id": "a/b", "url": "http://127.0.0.1:9", "level": 1}):
        r = n.request("POST", "/internal/v1/cluster/join", jdumps(bad),
                      dict(auth, **{"Content-Type": "application/json"}))
        assert_problem(r, 400, "invalid-request")
    assert _state(c, c.leader()) == before


@pytest.mark.parametrize("token", ["wrong-cluster-token", None], ids=["wrong", "none"])
def test_node_with_a_bad_cluster_token_is_not_admitted(trio, token):
    c = trio
    leader = c.leader()
    before = _state(c, leader)
    bad = c.add(f"bad-{'none' if token is None else 'wrong'}", join=leader,
                cluster_token=token, start=False)
    bad.launch()
    code = bad.wait_exit(40)
    assert code != 0, f"a node whose join is refused must exit non-zero:\n{bad.log_tail()}"
    if token is not None:
        text = bad.log_text()
        assert "401" in text or "unauthorized" in text.lower(), \
            f"the join failure should say it was refused:\n{bad.log_tail()}"
    assert _state(c, c.leader()) == before
