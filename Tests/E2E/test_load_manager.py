"""The Load Manager's gateway with real processes (issue 5): thousands of idle connections and
a burst of slow requests against a small upstream limit; a leader killed under write load."""

from __future__ import annotations

import socket
import threading
import time

from helpers import (WriteLoad, cluster_view, doc_path, jdumps, problem_slug, verify_acked, wait_until)

FAST = ["--failure-timeout", "1500", "--remove-after", "60000"]


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def entry_point(c):
    v = cluster_view(c.nodes[0])
    lm = [e["id"] for e in v["nodes"] if e.get("primary_load_manager")]
    assert len(lm) == 1, v
    return c.node(lm[0]), v


def test_idle_connections_and_slow_requests_against_a_small_upstream_limit(cluster_factory):
    c = cluster_factory(common_args=FAST + ["--upstream-limit", "4", "--wait-queue", "40", "--read-wait", "3000",
                                            "--request-deadline", "10000"])
    c.start(3)
    lm, v = entry_point(c)
    assert lm.put_json(doc_path("bp", "x"), {"x": 1}).status == 201
    rss_before = rss_kib(lm.proc.pid)

    idle: list[socket.socket] = []
    try:
        host, port = lm.host, int(lm.url.rsplit(":", 1)[1])
        for _ in range(2000):
            s = socket.create_connection((host, port), timeout=5)
            idle.append(s)
        # Slow clients (slowloris): requests that never finish arriving hold no upstream slot.
        for k in range(50):
            s = socket.create_connection((host, port), timeout=5)
            s.sendall(f"GET /v1/collections/bp/docs/x HTTP/1.1\r\nHost: lm\r\nX-Slow-{k}: ".encode())
            idle.append(s)
        t0 = time.monotonic()
        g = lm.get(doc_path("bp", "x"))
        assert g.status == 200 and time.monotonic() - t0 < 1.0, g.describe()
        metrics = lm.get("/metrics").body.decode()
        assert not [ln for ln in metrics.splitlines() if ln.startswith("machdb_gateway_outstanding{") and not ln.endswith(" 0")], \
            "slow clients hold upstream slots"
        # 200 slow reads: the replica waits --read-wait for an index that never comes.
        results: list[tuple[int, dict, float]] = []
        lock = threading.Lock()

        def slow():
            t0 = time.monotonic()
            try:
                r = lm.get(doc_path("bp", "x"), headers={"X-Machdb-Min-Index": str(10 ** 12)}, timeout=30)
                out = (r.status, {"retry-after": r.headers.get("retry-after"), "type": problem_slug(r)},
                       time.monotonic() - t0)
            except OSError as e:
                out = (0, {"error": repr(e)}, time.monotonic() - t0)
            with lock:
                results.append(out)

        threads = [threading.Thread(target=slow, daemon=True) for _ in range(200)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        # The health probe never waits behind them.
        for _ in range(5):
            t0 = time.monotonic()
            h = lm.get("/healthz", timeout=5)
            took = time.monotonic() - t0
            assert h.status == 200 and took < 1.0, f"/healthz took {took:.2f}s: {h.describe()}"
            time.sleep(0.2)
        metrics = lm.get("/metrics").body.decode()
        assert 'machdb_gateway_waiting{class="read"}' in metrics, metrics[-2000:]
        assert "machdb_gateway_upstream_limit 4" in metrics
        for t in threads:
            t.join(timeout=60)
        statuses = [r[0] for r in results]
        refused = [r for r in results if r[0] == 503]
        assert len(results) == 200, statuses
        assert refused, f"no request was refused: {sorted(set(statuses))}"
        assert all(r[1]["retry-after"] and r[1]["type"] == "overloaded" for r in refused), refused[:3]
        # At most limit + queue were admitted; they end in 504 (index not reached or deadline).
        admitted = [r for r in results if r[0] != 503]
        assert len(admitted) <= 4 + 40, f"{len(admitted)} admitted past the bounds: {sorted(set(statuses))}"
        assert all(r[0] == 504 for r in admitted), sorted(set(statuses))
        print(f"\n200 slow reads with 2000 idle connections: {len(refused)} refused at once (503 + Retry-After), "
              f"{len(admitted)} admitted; RSS {rss_before} -> {rss_kib(lm.proc.pid)} KiB")
        assert rss_kib(lm.proc.pid) < rss_before + 200_000, "memory grew by more than 200 MB"
        # Still serving normally once the burst is over.
        g = lm.get(doc_path("bp", "x"))
        assert g.status == 200 and g.json() == {"x": 1}, g.describe()
    finally:
        for s in idle:
            s.close()


def test_leader_killed_under_write_load_through_the_load_manager(cluster_factory):
    c = cluster_factory(common_args=FAST + ["--leaderless-wait", "8000"])
    c.start(4)
    lm, v = entry_point(c)
    writer = v.shard["writer"]
    assert lm.node_id != writer
    load = WriteLoad([lm], threads=8, per_thread=None, prefix="lk", collection="lk", retry=False).start()
    wait_until(lambda: load.count() >= 300, 60, f"writes before the kill ({load.summary()})")
    c.node(writer).kill9()
    wait_until(lambda: (cluster_view(lm).shard.get("leader") not in (None, writer)), 20, "a new leader")
    time.sleep(1.0)
    load.stop()
    load.join(timeout=60)
    acked = load.snapshot()
    # A write either succeeded, or failed cleanly: nothing else.
    clean = ("no-leader", "write-timeout")
    bad = [f for f in load.failures if not any(k in f for k in clean)]
    assert not bad and not load.unexpected, f"unclean failures: {bad[:3]} {load.unexpected[:3]}"
    print(f"\n{len(acked)} acknowledged, {len(load.failures)} failed cleanly across the leader's death")
    assert len(load.failures) <= len(acked) // 10, f"too many failures: {load.failures[:5]}"
    top = max(x[2] for x in acked.values())
    for n in c.running():
        missing = verify_acked(n, acked, "lk", top)
        assert not missing, f"{n.node_id} lost acknowledged writes: {missing[:5]}"


def test_scatter_gather_query_pages_and_a_missing_shard(cluster_factory):
    # A long failure timeout: the map keeps naming the dead replica while we query.
    c = cluster_factory(common_args=["--failure-timeout", "20000", "--remove-after", "60000"])
    c.start(3)
    lm, v = entry_point(c)
    for k in range(25):
        assert lm.put_json(doc_path("sg", f"d{k:02d}"), {"k": k, "odd": k % 2}).status == 201
    # Pages through the Load Manager (merged from every shard) equal the replica's own.
    def pages(node, headers):
        out, after = [], None
        while True:
            q = {"sort": ["-odd", "k"], "limit": 4}
            if after:
                q["after"] = after
            r = node.request("POST", "/v1/collections/sg/query", jdumps(q),
                             {"Content-Type": "application/json", **headers})
            assert r.status == 200, r.describe()
            body = r.json()
            assert "pos" not in str(body["docs"][:1]) or all("pos" not in d for d in body["docs"]), body
            out += [d["id"] for d in body["docs"]]
            after = body["next"]
            if not after:
                return out
    replica = [e["id"] for e in v["nodes"] if e["roles"] == ["replica"]][0]
    merged = pages(lm, {})
    local = pages(c.node(replica), {"X-Machdb-Forwarded": "e2e-local-read"})
    assert merged == local and len(merged) == 25, (merged, local)
    assert lm.request("POST", "/v1/collections/sg/query?partial=maybe", b"{}",
                      {"Content-Type": "application/json"}).status == 400
    # The only Read Replica dies: its shard does not answer.
    c.node(replica).kill9()
    r = lm.request("POST", "/v1/collections/sg/query", b'{"limit": 5}', {"Content-Type": "application/json"})
    assert r.status == 503 and problem_slug(r) == "replica-unavailable", r.describe()
    r = lm.request("POST", "/v1/collections/sg/query?partial=allow", b'{"limit": 5}',
                   {"Content-Type": "application/json"})
    assert r.status == 200, r.describe()
    body = r.json()
    assert body["partial"] is True and body["missing_shards"] == [1] and body["docs"] == [], body
