"""A node joining after log compaction receives a snapshot of the leader's database
(streamed at --snapshot-rate, with progress in the cluster view and the log) and converges
to the same content as every other node."""

from __future__ import annotations

import re
import time

from helpers import (WriteLoad, check_write, content_of, diff_contents, digest_of, doc_path,
                     try_view, wait_until)

SNAPSHOT_ENTRIES = 64
SNAPSHOT_RATE = 200_000     # bytes/s: a few hundred KB take a second or more to stream


def test_join_after_compaction_receives_a_snapshot(cluster_factory):
    c = cluster_factory(common_args=["--snapshot-entries", str(SNAPSHOT_ENTRIES),
                                     "--snapshot-rate", str(SNAPSHOT_RATE)])
    n1 = c.add("n1", join=False)
    n2 = c.add("n2", join=n1)
    c.wait_in_map("n2")   # Mach II: n2 is a learner
    leader = c.leader()

    # ~500 documents of ~700 bytes, one write each: the log passes 64 entries many times
    load = WriteLoad([leader], threads=4, per_thread=125, prefix="s", collection="snap",
                     retry=False, pad=700).start()
    load.join(timeout=120)
    assert not load.failures and not load.unexpected, (load.failures[:3], load.unexpected[:3])
    assert load.count() == 500
    # revisions and tombstones travel in the snapshot too
    for k in range(20):
        check_write(leader.put_json(doc_path("snap", f"s-0-{k}"), {"v": 2, "k": k}),
                    leader.node_id, statuses=(200,))
    last = 0
    for k in range(20, 30):
        last = check_write(leader.request("DELETE", doc_path("snap", f"s-0-{k}")),
                           leader.node_id)
    assert last > SNAPSHOT_ENTRIES * 4
    c.wait_applied(n2, last, timeout=30)
    compacted = [ln for ln in leader.log_text().splitlines() if "compact" in ln.lower()]
    print(f"\n{leader.node_id} wrote up to index {last}; compaction log lines: "
          f"{len(compacted)} (last: {compacted[-1].strip() if compacted else None})")

    # n3 joins now: the entries it needs are gone from the leader's log
    t0 = time.monotonic()
    n3 = c.add("n3", join=n1)
    transfers = []
    n3_states_during_transfer = set()

    def n3_voter():
        moving = False
        for n in c.running():
            v = try_view(n, timeout=1.0)
            if v is not None and v.shard.get("snapshot_transfer"):
                t = v.shard["snapshot_transfer"]
                transfers.append((n.node_id, t))
                moving = moving or t.get("bytes", 0) < t.get("total", 0)
        found = c.find_leader(agree=False)
        # n3 is receiving while the leader's progress for it is in the snapshot state (n2, a
        # Mach II learner, may be fetching one too: the shard-wide progress is not n3's alone).
        e3 = found[1].entry("n3") if found else None
        if found and moving and e3 is not None and e3.get("replication") == "snapshot":
            n3_states_during_transfer.add(found[1].raft_state("n3"))
        return found if found and found[1].raft_state("n3") in ("leader", "follower") else None

    wait_until(n3_voter, 60, f"n3 to become a voter ({c.describe()})", interval=0.05)
    joined_after = time.monotonic() - t0
    c.wait_applied(n3, last, timeout=30)

    log3 = n3.log_text()
    complete = re.findall(r"snapshot \S+: complete[^\n]*", log3)
    print(f"n3 a voter after {joined_after:.2f}s; snapshot log: {complete}; progress samples "
          f"in the cluster view: {len(transfers)} (e.g. {transfers[:2]}); n3 in the leader's "
          f"view meanwhile: {n3_states_during_transfer}")
    assert complete, "n3's log does not show a completed snapshot download"
    assert transfers, ("no snapshot_transfer progress seen in any node's cluster view while "
                       f"n3 received a rate-limited ({SNAPSHOT_RATE} B/s) snapshot")
    assert n3_states_during_transfer <= {"learner", None}, \
        (f"n3 must stay a learner while it receives the snapshot; the leader's view showed "
         f"{n3_states_during_transfer}")
    for _, t in transfers:
        assert {"bytes", "total", "percent"} <= set(t), t
        assert 0 <= t["bytes"] <= t["total"] and 0 <= t["percent"] <= 100, t

    # converged: the same content (revisions, buckets, timestamps, bodies) everywhere
    contents = {n.node_id: content_of(n, min_index=last, timeout=20) for n in c.nodes}
    ref = contents[leader.node_id]
    assert len(ref) == 490, f"expected 500 - 10 deleted docs, got {len(ref)}"
    for nid, cont in contents.items():
        assert cont == ref, f"{nid} differs from the leader: {diff_contents(cont, ref)}"
    print(f"digest {digest_of(ref)} ({len(ref)} docs) on n1, n2, n3")
    assert all(ref[("snap", f"s-0-{k}")][0] == 2 for k in range(20))
    for k in range(20, 30):
        g = n3.get(doc_path("snap", f"s-0-{k}"))
        assert g.status == 404, g.describe()

    # and n3 keeps up with new writes afterwards
    m = check_write(n3.put_json(doc_path("snap", "after"), {"after": True}), leader.node_id)
    r = n3.get(doc_path("snap", "after"), headers={"X-Machdb-Min-Index": str(m)})
    assert r.status == 200 and r.body == b'{"after":true}', r.describe()
