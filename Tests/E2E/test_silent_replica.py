"""A Load Manager's silent replica catches up throttled (the cluster's
silent_replica_bytes_per_second), and at full speed once the planner needs the node."""
import re
import threading
import time

from helpers import doc_path, wait_until

RATE = 1_000_000  # bytes/s


def snapshot_sending(node):
    r = node.get("/admin/v1/cluster", headers=node.admin_headers(), timeout=2)
    if r.status != 200:
        return None, None
    view = r.json()
    shard = next((s for s in view.get("shards", []) if s.get("id") == 1), {})
    return shard.get("snapshot_transfer"), view


def metric(node, name):
    text = node.get("/metrics").body.decode()
    m = re.search(rf"^{name} (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


def test_a_silent_replica_catches_up_at_the_rate_and_promotion_lifts_it(cluster_factory):
    c = cluster_factory()
    n1 = c.add("n1", join=False, extra_args=["--silent-replica-rate", str(RATE)])
    # About 9 MB of documents: a 9-second snapshot at 1 MB/s.
    pad = "x" * 30_000
    errors = []

    def writer(part):
        for i in range(part, 300, 4):
            r = n1.put_json(doc_path("bulk", f"d{i}"), {"i": i, "pad": pad})
            if r.status not in (200, 201):
                errors.append(r.describe())
    threads = [threading.Thread(target=writer, args=(p,)) for p in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:2]

    n2 = c.add("n2", join=n1)
    samples = []

    def sample_until(fraction):
        def reached():
            transfer, view = snapshot_sending(n1)
            if transfer and transfer.get("direction") == "sending" and transfer["total"] > 0:
                samples.append((time.monotonic(), transfer["bytes"], transfer["total"]))
                if transfer["bytes"] >= fraction * transfer["total"]:
                    return transfer, view
            return None
        return wait_until(reached, 60, f"the snapshot to n2 to pass {fraction:.0%}", interval=0.1)

    first, _ = sample_until(0.15)
    t1, b1 = samples[-1][0], samples[-1][1]
    second, view = sample_until(0.45)
    t2, b2, total = samples[-1]
    rate = (b2 - b1) / (t2 - t1)
    print(f"\nsnapshot to n2: {total} bytes; {b1}..{b2} bytes in {t2 - t1:.2f} s: {rate:,.0f} B/s (configured {RATE:,})")
    assert 0.9 * RATE <= rate <= 1.1 * RATE, f"measured {rate:,.0f} B/s, configured {RATE:,}"
    # Shown where operators look: the cluster view (ctl cluster) and /metrics.
    n2_entry = next(n for n in view["nodes"] if n["id"] == "n2")
    assert n2_entry["catch_up_bytes_per_second"] == RATE, n2_entry
    assert metric(n1, "machdb_silent_replica_throttled") == 1
    assert metric(n1, "machdb_silent_replica_rate_bytes") == RATE
    table = n1.ctl("cluster", token=n1.admin_token).stdout.decode()
    assert "silent, 1.0 MB/s" in table, table
    assert re.search(r"shard 1 snapshot sending: [0-9.]+ % of [0-9.]+ MB, ETA \d+ s", table), table

    # n3 joins: Mach III needs n2 as a Read Replica (a voter), so its catch-up is no longer
    # throttled: the rest of the snapshot comes at full speed.
    remaining = total - b2
    t3 = time.monotonic()
    c.add("n3", join=n1)
    wait_until(lambda: re.search(r"snapshot \S+: complete", n2.log_text()), 60, "n2's snapshot to complete", interval=0.1)
    took = time.monotonic() - t3
    print(f"n3 joined with {remaining} bytes left for n2 ({remaining / RATE:.1f} s at the rate): n2 done in {took:.2f} s")
    assert took < 0.5 * remaining / RATE, f"n2 took {took:.2f} s for {remaining} bytes: still throttled?"
    _, view = snapshot_sending(n1)
    assert all(n.get("catch_up_bytes_per_second") is None for n in view["nodes"]), view["nodes"]
    wait_until(lambda: metric(n1, "machdb_silent_replica_throttled") == 0 or None, 5, "the throttle to be lifted")
    assert metric(n1, "machdb_silent_replica_paced_bytes_total") >= b2 - b1
