"""Cluster formation: a standalone node is Mach I; `--join` turns it into a Raft group
(Mach II with two members, Mach III with three voters); pre-cluster documents reach the
joining nodes and the write index keeps increasing."""

from __future__ import annotations

from helpers import (check_write, cluster_view, doc_path, try_view, wait_until)


def test_standalone_then_first_and_second_join(cluster_factory):
    c = cluster_factory()
    n1 = c.add("n1", join=False)

    v = cluster_view(n1)
    assert v.get("stage") == "Mach I", v
    assert [e.get("id") for e in v.get("nodes", [])] == ["n1"], v
    assert v.leader == "n1" and v.members == ["n1"], v

    # documents written before there is a cluster
    pre = {}
    for k in range(20):
        body = f'{{"k":{k},"pre":true}}'.encode()
        r = n1.request("PUT", doc_path("pre", f"p{k}"), body,
                       {"Content-Type": "application/json"})
        pre[f"p{k}"] = (body, check_write(r, "n1", statuses=(201,)))
    pre_max = max(i for _, i in pre.values())

    # the first join: two members, Mach II, n2 a learner or already a voter
    n2 = c.add("n2", join=n1)

    def two_members():
        v = try_view(n1)
        if v is not None and sorted(v.members) == ["n1", "n2"] \
                and len(v.get("nodes", [])) == 2:
            return v
        return None

    v = wait_until(two_members, 30, f"n1's view to list n1 and n2 ({c.describe()})")
    assert v.get("stage") == "Mach II", v
    assert v.leader == "n1" and v.raft_state("n1") == "leader", v
    assert v.raft_state("n2") in ("learner", "follower"), v
    e2 = v.entry("n2")
    assert e2.get("url") == n2.url and e2.get("level") == 1, e2

    def n2_sees_two():
        w = try_view(n2)
        return w if w is not None and sorted(w.members) == ["n1", "n2"] else None

    w = wait_until(n2_sees_two, 30, "n2's own view to list both members")
    assert w.get("stage") == "Mach II", w
    assert w.leader == "n1", w

    # the pre-cluster documents reach n2 (by snapshot), readable with their index
    def n2_has_pre():
        r = n2.get(doc_path("pre", "p19"), headers={"X-Machdb-Min-Index": str(pre_max)})
        return r if r.status == 200 else None

    wait_until(n2_has_pre, 30, "n2 to apply the pre-cluster documents")
    for doc_id, (body, idx) in pre.items():
        r = n2.get(doc_path("pre", doc_id), headers={"X-Machdb-Min-Index": str(pre_max)})
        assert r.status == 200 and r.body == body, r.describe()
        assert r.headers.get("etag") == '"1"', r.describe()
        assert r.headers.get("x-machdb-index") == str(idx), \
            f"the document's index must survive the snapshot (wrote at {idx}): {r.describe()}"

    # the index keeps increasing across the switch to Raft; a write through n2 is forwarded
    r = n2.put_json(doc_path("pre", "after-join"), {"after": True})
    idx = check_write(r, "n1", statuses=(201,))
    assert idx > pre_max, f"index went backwards: {idx} <= {pre_max}"

    # the second join (asked through the follower n2): three voters, Mach III
    n3 = c.add("n3", join=n2)
    leader, v = c.wait_voters(3)
    assert v.get("stage") == "Mach III", v
    assert sorted(v.members) == ["n1", "n2", "n3"], v
    assert v.voters() == ["n1", "n2", "n3"] and v.learners() == [], v
    for n in c.nodes:
        def three_voters(n=n):
            x = try_view(n)
            return x if x is not None and len(x.voters()) == 3 else None

        w = wait_until(three_voters, 15, f"{n.node_id}'s view to show 3 voters")
        assert w.get("stage") == "Mach III" and w.leader == leader.node_id, w

    # and n3 holds everything
    c.wait_applied(n3, idx)
    r = n3.get(doc_path("pre", "after-join"), headers={"X-Machdb-Min-Index": str(idx)})
    assert r.status == 200 and r.body == b'{"after":true}', r.describe()
    r = n3.get(doc_path("pre", "p0"), headers={"X-Machdb-Min-Index": str(idx)})
    assert r.status == 200 and r.body == pre["p0"][0], r.describe()


def test_higher_level_voter_takes_the_lead(cluster_factory):
    # Smart Raft (issue 3): a leader that sees a caught-up voter of a higher level hands
    # leadership to it.
    c = cluster_factory()
    n1 = c.add("n1", join=False)
    c.add("n2", join=n1)
    c.wait_in_map("n2")   # Mach II: n2 is the Load Manager, a learner
    assert c.leader().node_id == "n1"
    c.add("n3", join=n1, level=5)
    c.wait_voter("n3")

    def n3_leads():
        found = c.find_leader(agree=True)
        return found if found and found[0].node_id == "n3" else None

    lead, v = wait_until(n3_leads, 30, f"the level-5 node n3 to lead ({c.describe()})")
    assert v.entry("n3").get("level") == 5 and v.entry("n1").get("level") == 1, v
    w = n1.put_json(doc_path("lvl", "a"), {"a": 1})
    check_write(w, "n3", statuses=(201,))


def test_a_second_process_cannot_take_a_live_members_id(cluster_factory):
    c = cluster_factory()
    n1 = c.add("n1", join=False)
    n2 = c.add("n2", join=n1)
    c.wait_in_map("n2")
    impostor = c.add("n2", join=n1, start=False)   # same id, another port and data dir
    impostor.launch()
    code = impostor.wait_exit(timeout=30)
    assert code != 0, "a second n2 must not be admitted"
    assert "node-id-in-use" in impostor.log_text() or "live member" in impostor.log_text(), impostor.log_tail()
    v = cluster_view(n1)
    assert v.entry("n2")["url"] == n2.url, v
    check_write(n2.put_json(doc_path("ids", "still-n2"), {"ok": True}), "n1", statuses=(201,))
