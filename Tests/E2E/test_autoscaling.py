"""The closed autoscaling loop (issue 5): a Mach I node with a tiny scaling policy (seconds
instead of minutes) and `machdb operator --provision local`. Sustained timeouts make the
Load Manager recommend exactly one signed `add_node`; the operator, down at first, gets it
late but gets it (the outbox retries); it starts a node that joins, and the stage advances."""

from __future__ import annotations

import json
import threading
import time

from helpers import bucket_of, doc_path, wait_until
from test_operator import SECRET, OperatorProcess

TINY_POLICY = {
    "up_average_window_seconds": 60, "up_timeout_window_seconds": 10, "up_timeout_rate": 0.05,
    "down_average_window_seconds": 60, "sustain_up_seconds": 3, "sustain_down_seconds": 600,
    "cooldown_seconds": 600, "down_cooldown_seconds": 1800, "surge_window_seconds": 5,
    "surge_factor": 1000.0, "minimum_requests": 20,
}


def recommendations(node) -> list[dict]:
    r = node.get("/admin/v1/scaling/recommendations", headers=node.admin_headers())
    assert r.status == 200, r.describe()
    return r.json()["recommendations"]


def test_sustained_timeouts_add_one_node_through_the_operator(cluster_factory, machdb_bin, tmp_path):
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps(TINY_POLICY))
    operator = OperatorProcess(machdb_bin, tmp_path / "op", node_prefix="auto", max_nodes=3)
    (tmp_path / "op").mkdir()
    c = cluster_factory()
    n1 = c.add("n1", join=False, extra_args=[
        "--hook-url", f"http://127.0.0.1:{operator.port}/hook", "--hook-secret", SECRET,
        "--scaling-policy", str(policy), "--read-wait", "200"])
    assert n1.put_json(doc_path("auto", "x"), {"x": 1}).status == 201

    # Reads that wait for an index never reached: each times out (504) after --read-wait.
    stop = threading.Event()

    def slow_reads():
        while not stop.is_set():
            try:
                n1.get(doc_path("auto", "x"), headers={"X-Machdb-Min-Index": str(10 ** 12)}, timeout=5)
            except OSError:
                pass
    threads = [threading.Thread(target=slow_reads, daemon=True) for _ in range(8)]
    for t in threads:
        t.start()
    try:
        # The operator is down: the recommendation waits in the outbox, retried.
        def add_recorded():
            recs = [r for r in recommendations(n1) if r.get("kind") == "add_node"]
            return recs if recs and recs[0].get("attempts", 0) >= 2 else None
        recs = wait_until(add_recorded, 60, "an add_node recommendation, retried while the operator is down")
        assert recs[0].get("delivered_at") is None, recs[0]
        body = recs[0]["body"] if "body" in recs[0] else recs[0]
        print(f"\nrecommended while the hook was down: {json.dumps(body)[:400]}")

        operator.start()
        decisions = wait_until(lambda: [d for d in operator.decisions() if d.get("kind") == "add_node"] or None,
                               60, "the operator to receive the add_node")
        assert len(decisions) == 1 and decisions[0].get("action") == "started", decisions

        # The new node joins: Mach II, the new node the entry point.
        def mach2():
            r = n1.get("/admin/v1/cluster", headers=n1.admin_headers())
            v = r.json() if r.status == 200 else {}
            return v if v.get("stage") == "Mach II" and any(
                e.get("primary_load_manager") and e["id"].startswith("auto") for e in v.get("nodes", [])) else None
        v = wait_until(mach2, 90, "the provisioned node to join (Mach II)")
        print(f"stage {v['stage']}: {[(e['id'], e['roles']) for e in v['nodes']]}")
        # Delivered, once: the sustained condition does not produce a second add_node
        # within the cooldown.
        time.sleep(5)
        adds = [r for r in recommendations(n1) if r.get("kind") == "add_node"]
        assert len(adds) == 1 and adds[0].get("delivered_at"), adds
        assert len([d for d in operator.decisions() if d.get("kind") == "add_node"]) == 1
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=10)
        operator.close()
        print(f"----- operator log\n{operator.log_tail()}")


def test_read_heavy_load_at_max_replicas_splits_the_shard_through_the_operator(cluster_factory, machdb_bin, tmp_path):
    """Mach III with --max-replicas 1: the one Read Replica is the limit. Slow reads spread
    over many documents make the entry point recommend split_shard with a boundary from the
    measured load; the operator (--provision local) starts three nodes, asks the cluster to
    split, then to move the new shard onto them (Figure 7): two shards, each with a Writer of
    its own, the new one on the new nodes only, which the old nodes dropped."""
    policy = tmp_path / "policy.json"
    # A new entry point starts in cooldown: a short one here.
    policy.write_text(json.dumps({**TINY_POLICY, "cooldown_seconds": 3}))
    operator = OperatorProcess(machdb_bin, tmp_path / "op", node_prefix="auto", max_nodes=3)
    (tmp_path / "op").mkdir()
    operator.start()
    c = cluster_factory(common_args=[
        "--hook-url", f"http://127.0.0.1:{operator.port}/hook", "--hook-secret", SECRET,
        "--scaling-policy", str(policy), "--read-wait", "200", "--max-replicas", "1"])
    try:
        c.start(3)
        entry = c.nodes[-1]
        ids = [f"r{i}" for i in range(200)]
        for doc_id in ids:
            assert entry.put_json(doc_path("reads", doc_id), {"i": doc_id}).status in (200, 201)
        stop = threading.Event()

        def slow_reads(n):
            i = n
            while not stop.is_set():
                i += 8
                try:
                    entry.get(doc_path("reads", ids[i % len(ids)]), headers={"X-Machdb-Min-Index": str(10 ** 12)}, timeout=5)
                except OSError:
                    pass
        threads = [threading.Thread(target=slow_reads, args=(n,), daemon=True) for n in range(8)]
        for t in threads:
            t.start()
        try:
            # The operator logs "splitting", then one "started" per node as each starts:
            # wait for the three, or for any decision that is neither.
            def split_decisions():
                ds = [d for d in operator.decisions() if d.get("kind") == "split_shard"]
                done = len([d for d in ds if d.get("action") == "started"]) >= 3 or any(
                    d.get("action") not in ("splitting", "started") for d in ds)
                return ds if done else None
            decisions = wait_until(split_decisions, 90, "the operator to start three nodes for a split_shard")
            assert [d for d in decisions if d.get("action") == "splitting"], decisions
            started = sorted(d["node"] for d in decisions if d.get("action") == "started")
            assert started == ["auto1", "auto2", "auto3"], decisions

            def split():
                r = entry.get("/admin/v1/cluster", headers=entry.admin_headers())
                shards = r.json().get("shards", []) if r.status == 200 else []
                leaders = [s.get("leader") for s in shards]
                if len(shards) != 2 or None in leaders or len(set(leaders)) != 2:
                    return None
                new = shards[1]
                if new.get("moving") or (new.get("placement") or {}).get("nodes") != started:
                    return None
                if sorted(new["voters"]) != started or new["learners"] or new["leader"] not in started:
                    return None
                return shards
            shards = wait_until(split, 120, "two shards, the new one on the operator's nodes with its own Writer")
            assert shards[0]["leader"] in ("n1", "n2", "n3"), shards
            # The new shard's own nodes serve it: writes at its Writer, reads at its other voters.
            key = next(k for k in (f"f7-{i}" for i in range(5000)) if bucket_of(k) >= shards[1]["buckets"][0])
            w = entry.put_json(doc_path("f7", key), {"k": key})
            assert w.status == 201 and w.headers["x-machdb-served-by"] == shards[1]["leader"], w.describe()
            g = entry.get(doc_path("f7", key))
            assert g.status == 200 and g.headers["x-machdb-served-by"] in set(started) - {shards[1]["leader"]}, g.describe()
            recs = [r for r in recommendations(entry) if r.get("kind") == "split_shard"]
            body = recs[0]["body"] if "body" in recs[0] else recs[0]
            at = body["target"]["at"]
            assert [s["buckets"] for s in shards] == [[1, at - 1], [at, 1000]], (shards, body)
            print(f"\nsplit at bucket {at}: {[(s['id'], s['buckets'], s['leader']) for s in shards]}")
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=10)
    finally:
        operator.close()
        print(f"----- operator log\n{operator.log_tail()}")
