"""Without a quorum nothing is acknowledged and nothing stale is called strong: a leader
left alone refuses writes and strong reads (503 problem+json, never 200), still serves
eventual reads locally, and recovers once a majority is back."""

from __future__ import annotations

import time

from helpers import check_write, doc_path, media_type, problem_slug


def test_lone_leader_refuses_writes_and_strong_reads(cluster_factory):
    c = cluster_factory()
    c.start(3)
    leader, _ = c.wait_voters(3)
    idx = check_write(leader.put_json(doc_path("q", "a"), {"a": 1}), leader.node_id,
                      statuses=(201,))
    for n in c.nodes:
        c.wait_applied(n, idx, timeout=10)
    followers = c.followers(leader)
    for f in followers:
        f.kill9()

    t0 = time.monotonic()
    w = leader.request("PUT", doc_path("q", "b"), b'{"b":1}',
                       {"Content-Type": "application/json"}, timeout=40)
    took = time.monotonic() - t0
    assert w.status == 503, f"a write without a quorum must not be acknowledged: {w.describe()}"
    assert media_type(w.headers.get("content-type")) == "application/problem+json", w.describe()
    assert problem_slug(w) in ("no-leader", "write-timeout"), w.describe()
    assert w.headers.get("retry-after"), f"503 without Retry-After: {w.describe()}"
    print(f"\nwrite without quorum: {w.status} {problem_slug(w)} after {took:.2f}s")

    t0 = time.monotonic()
    s = leader.get(doc_path("q", "a") + "?consistency=strong", timeout=30)
    took = time.monotonic() - t0
    assert s.status == 503 and problem_slug(s) == "no-leader", \
        f"a strong read cannot be confirmed without a majority (API.md: 503 no-leader): " \
        f"{s.describe()}"
    assert media_type(s.headers.get("content-type")) == "application/problem+json", s.describe()
    assert s.headers.get("retry-after"), s.describe()
    assert took < 6, f"--read-wait is 2 s; the strong read took {took:.2f}s"
    print(f"strong read without quorum: {s.status} {problem_slug(s)} after {took:.2f}s")

    e = leader.get(doc_path("q", "a") + "?consistency=eventual")
    assert e.status == 200 and e.body == b'{"a":1}', e.describe()
    e = leader.get(doc_path("q", "a"), headers={"X-Machdb-Min-Index": str(idx)})
    assert e.status == 200 and e.body == b'{"a":1}', e.describe()

    # one follower back: a majority again, writes and strong reads work
    followers[0].start()
    lead = c.leader(timeout=20)
    w = lead.put_json(doc_path("q", "c"), {"c": 1})
    m = check_write(w, lead.node_id, statuses=(201,))
    for n in c.running():
        r = n.get(doc_path("q", "c") + "?consistency=strong", timeout=15)
        assert r.status == 200 and r.body == b'{"c":1}', r.describe()
        c.wait_applied(n, m, timeout=15)
