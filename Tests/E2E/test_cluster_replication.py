"""A 3-node cluster formed by --join: writes through any node (forwarded to the leader or
307 on request), session reads with X-Machdb-Min-Index and strong reads on every node,
the cluster view and the Raft metrics."""

from __future__ import annotations

import itertools
import json
import time

import pytest

from helpers import (assert_problem, check_write, cluster_view, replica_ids,
                     content_of, diff_contents, digest_of, doc_path, index_of,
                     parse_metric_values, wait_until)


@pytest.fixture(scope="module")
def trio(module_cluster_factory):
    c = module_cluster_factory()
    c.start(3)
    c.wait_voters(3)
    return c


def test_three_voters_and_cluster_views(trio):
    c = trio
    leader, v = c.wait_voters(3)
    w = leader.put_json(doc_path("view", "v1"), {"v": 1})
    idx = check_write(w, leader.node_id, statuses=(201,))

    v = cluster_view(leader)
    assert v.get("version", 0) >= 2 and v.get("stage") == "Mach III", v
    assert sorted(e.get("id") for e in v["nodes"]) == ["n1", "n2", "n3"], v
    for n in c.nodes:
        e = v.entry(n.node_id)
        assert {"id", "url", "level", "roles", "state", "raft_state"} <= set(e), e
        assert e["url"] == n.url and e["level"] == 1 and e["state"] == "active", e
    assert v.raft_state(leader.node_id) == "leader", v
    assert sorted(v.voters()) == ["n1", "n2", "n3"] and not v.learners(), v
    s = v.shard
    assert s.get("id") == 1 and s.get("buckets") == [1, 1000], s
    assert s.get("leader") == leader.node_id and sorted(s.get("members")) == ["n1", "n2", "n3"], s
    assert isinstance(s.get("term"), int) and s["term"] >= 1, s
    assert isinstance(s.get("commit_index"), int), s

    # the leader shows each member's replicated index, which reaches the write
    def all_replicated():
        x = cluster_view(leader)
        got = {n.node_id: x.applied(n.node_id) for n in c.nodes}
        return got if all(a is not None and a >= idx for a in got.values()) else None

    wait_until(all_replicated, 15, f"the leader's view to show every member at >= {idx}")

    # every follower names the same leader, the same stage and term, and its own applied index
    for f in c.followers(leader):
        fv = cluster_view(f)
        assert fv.get("stage") == "Mach III" and fv.leader == leader.node_id, fv
        assert fv.raft_state(f.node_id) == "follower", fv
        assert fv.term == v.term, (fv.shard, v.shard)
        assert isinstance(fv.applied(f.node_id), int), fv


def test_view_and_metrics_include_the_acknowledged_write(trio):
    # Once a write is acknowledged with index N (applied on the leader: a read there with
    # X-Machdb-Min-Index N is served at once), the leader's own cluster view and metrics
    # must not report a commit / applied index below N.
    c = trio
    leader = c.leader()
    stale = []
    for k in range(20):
        idx = check_write(leader.put_json(doc_path("fresh", f"f{k}"), {"k": k}), leader.node_id)
        v = cluster_view(leader)
        m = parse_metric_values(leader.get("/metrics").body.decode())
        got = (v.shard.get("commit_index"), v.applied(leader.node_id),
               m.get("machdb_raft_commit_index"))
        if not all(x is not None and x >= idx for x in got):
            stale.append(f"write index {idx}: view commit_index={got[0]} applied_index={got[1]}"
                         f", metric commit_index={got[2]}")
    assert not stale, (f"{len(stale)}/20 acknowledged writes not yet in the leader's own "
                       f"view/metrics: {stale[:4]}")


def test_write_through_each_node_is_readable_everywhere_with_session(trio):
    c = trio
    leader = c.leader()
    for writer in c.nodes:
        body = json.dumps({"written_via": writer.node_id, "t": time.time()}).encode()
        r = writer.request("PUT", doc_path("sess", f"via-{writer.node_id}"), body,
                           {"Content-Type": "application/json"})
        idx = check_write(r, leader.node_id, statuses=(201,))
        for reader in c.nodes:
            for q in ("", "?consistency=session"):
                g = reader.get(doc_path("sess", f"via-{writer.node_id}") + q,
                               headers={"X-Machdb-Min-Index": str(idx)})
                assert g.status == 200, (f"write via {writer.node_id} at index {idx}, read on "
                                         f"{reader.node_id}: {g.describe()}")
                assert g.body == body and g.headers.get("etag") == '"1"', g.describe()
                assert g.headers.get("x-machdb-served-by") in replica_ids(cluster_view(leader)), \
                    f"a read is served by a Read Replica: {g.describe()}"
                assert index_of(g) == idx, f"doc index should be {idx}: {g.describe()}"
        # a query with the index sees it too
        for reader in c.nodes:
            q = reader.request("POST", "/v1/collections/sess/query",
                               json.dumps({"filter": {"written_via": writer.node_id}}),
                               {"Content-Type": "application/json",
                                "X-Machdb-Min-Index": str(idx)})
            assert q.status == 200, q.describe()
            assert [d["id"] for d in q.json()["docs"]] == [f"via-{writer.node_id}"], q.describe()


def test_strong_read_right_after_write_for_every_node_pair(trio):
    c = trio
    leader = c.leader()
    path = doc_path("strong", "x")
    seq = 0
    for writer, reader in itertools.product(c.nodes, c.nodes):
        seq += 1
        body = json.dumps({"seq": seq, "w": writer.node_id, "r": reader.node_id}).encode()
        r = writer.request("PUT", path, body, {"Content-Type": "application/json"})
        idx = check_write(r, leader.node_id)
        g = reader.get(path + "?consistency=strong")
        assert g.status == 200 and g.body == body, \
            (f"strong read on {reader.node_id} right after the write #{seq} (index {idx}) via "
             f"{writer.node_id} must see it: {g.describe()}")
        assert g.headers.get("etag") == f'"{seq}"', g.describe()
        assert g.headers.get("x-machdb-served-by") in replica_ids(cluster_view(leader)), g.describe()
        # the strong query agrees
        q = reader.request("POST", "/v1/collections/strong/query?consistency=strong",
                           b'{"filter":{"seq":{"gte":0}}}', {"Content-Type": "application/json"})
        assert q.status == 200, q.describe()
        docs = q.json()["docs"]
        assert len(docs) == 1 and docs[0]["doc"]["seq"] == seq, q.describe()


def test_eventual_read_converges(trio):
    c = trio
    w = c.nodes[1].put_json(doc_path("ev", "e"), {"e": 1})
    check_write(w, c.leader().node_id, statuses=(201,))
    for n in c.nodes:
        wait_until(lambda n=n: n.get(doc_path("ev", "e") + "?consistency=eventual").body
                   == b'{"e":1}', 10, f"eventual read on {n.node_id}")


def test_follower_redirects_on_request_and_forwards_otherwise(trio):
    c = trio
    leader = c.leader()
    f = c.followers(leader)[0]
    path = doc_path("redir", "r1")
    r = f.request("PUT", path, b'{"r":1}', {"Content-Type": "application/json",
                                             "X-Machdb-Redirect": "true"})
    assert r.status == 307, f"a follower asked for a redirect answers 307: {r.describe()}"
    assert r.headers.get("location") == leader.url + path, r.describe()
    # nothing was written by the 307
    g = leader.get(path + "?consistency=strong")
    assert_problem(g, 404, "not-found")
    # following the redirect (same method and body) works
    r2 = leader.request("PUT", path, b'{"r":1}', {"Content-Type": "application/json",
                                                   "X-Machdb-Redirect": "true"})
    check_write(r2, leader.node_id, statuses=(201,))
    # without the header a follower forwards: every write kind
    p = f.patch(path, {"p": 2})
    check_write(p, leader.node_id)
    assert p.headers.get("etag") == '"2"', p.describe()
    d = f.request("DELETE", path, headers={"If-Match": '"2"'})
    idx = check_write(d, leader.node_id)
    assert d.json().get("deleted") is True, d.describe()
    post = f.post_json("/v1/collections/redir/docs", {"server": "id"})
    check_write(post, leader.node_id, statuses=(201,))
    loc = post.headers.get("location")
    assert loc and "/v1/collections/redir/docs/" in loc, post.describe()
    bulk = f.post_json("/v1/_bulk", {"ops": [
        {"op": "put", "collection": "redir", "id": "b1", "doc": {"b": 1}},
        {"op": "put", "collection": "redir", "id": "b2", "doc": {"b": 2}}]})
    bidx = check_write(bulk, leader.node_id, statuses=(200,))
    assert bidx > idx
    assert [x["status"] for x in bulk.json()["results"]] == [201, 201], bulk.describe()
    # a forwarded conditional write keeps its precondition
    pre = f.request("PUT", doc_path("redir", "b1"), b'{"b":9}',
                    {"Content-Type": "application/json", "If-Match": '"7"'})
    assert pre.status == 412, pre.describe()
    g = f.get(doc_path("redir", "b1"), headers={"X-Machdb-Min-Index": str(bidx)})
    assert g.status == 200 and g.body == b'{"b":1}', g.describe()


def test_validation_happens_on_the_receiving_follower(trio):
    # API.md: "Validation (400, 413, 415) happens on the node that received the request."
    c = trio
    f = c.followers(c.leader())[0]
    r = f.request("PUT", doc_path("val", "v"), b'{"broken":', {"Content-Type": "application/json"})
    assert_problem(r, 400, "invalid-json")           # also checks served-by == the follower
    r = f.request("PATCH", doc_path("val", "v"), b'{"a":1}', {"Content-Type": "application/json"})
    assert_problem(r, 415, "unsupported-media-type")
    r = f.request("PUT", doc_path("val", "a%2Fb"), b'{}', {"Content-Type": "application/json"})
    assert_problem(r, 400, "invalid-id")
    r = f.post_json("/v1/_bulk", {"ops": [{"op": "nope"}]})
    assert_problem(r, 400, "invalid-bulk")


def test_min_index_never_reached_on_a_follower(trio):
    c = trio
    f = c.followers(c.leader())[0]
    t0 = time.monotonic()
    r = f.get(doc_path("sess", "via-n1"), headers={"X-Machdb-Min-Index": "999999999"},
              timeout=15)
    elapsed = time.monotonic() - t0
    assert_problem(r, 504, "index-not-reached")
    assert 1.5 <= elapsed < 6, f"--read-wait is 2000 ms by default; answered after {elapsed:.2f}s"


def test_raft_metrics(trio):
    c = trio
    leader = c.leader()
    idx = check_write(leader.put_json(doc_path("met", "m"), {"m": 1}), leader.node_id)
    for n in c.nodes:
        c.wait_applied(n, idx, timeout=10)
    terms = set()
    for n in c.nodes:
        r = n.get("/metrics")
        assert r.status == 200, r.describe()
        m = parse_metric_values(r.body.decode())
        for name in ("machdb_raft_term", "machdb_raft_commit_index", "machdb_raft_is_leader",
                     "machdb_raft_members"):
            assert name in m, f"{n.node_id}: {name} missing from /metrics"
        assert m["machdb_raft_is_leader"] == (1 if n is leader else 0), (n.node_id, m)
        assert m["machdb_raft_members"] == 3, (n.node_id, m)
        assert m["machdb_raft_commit_index"] >= idx, (n.node_id, idx, m)
        terms.add(m["machdb_raft_term"])
    assert len(terms) == 1 and terms.pop() >= 1, f"the nodes disagree on the term: {terms}"


def test_all_nodes_hold_the_same_content(trio):
    c = trio
    leader = c.leader()
    idx = check_write(leader.put_json(doc_path("view", "last"), {"last": True}), leader.node_id)
    contents = {n.node_id: content_of(n, min_index=idx) for n in c.nodes}
    ref = contents[leader.node_id]
    assert ref, "no documents at all"
    for nid, cont in contents.items():
        assert cont == ref, f"{nid} differs from the leader: {diff_contents(cont, ref)}"
    print(f"content digest {digest_of(ref)} ({len(ref)} docs) on every node")

