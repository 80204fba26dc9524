"""Moving a shard on real processes: a shard split off the meta shard moves to nodes of its
own under compare-and-set load through every node — add learner, catch up, promote, hand
leadership over, remove — the nodes it leaves drop its data, and routing, queries, counts
and backups keep working; kill -9 at points of the move loses nothing
(docs/ARCHITECTURE.md, "Moving a shard")."""
import threading
import time

from helpers import (LOCAL_READ, assert_problem, bucket_of, cluster_view, doc_path, jdumps, wait_until)
from test_sharding import COUNTERS, Ledger, admin, counters_and_inserts, shards_of, split


def move(c, node, shard, to):
    return node.request("POST", f"/admin/v1/shards/{shard}/move", jdumps({"to": to}), admin(c))


def held_shards(node) -> set[int]:
    """The shards whose groups this node runs, from its /metrics."""
    text = node.get("/metrics").body.decode()
    return {int(line.split('shard="')[1].split('"')[0]) for line in text.splitlines()
            if line.startswith("machdb_shard_applied_index{")}


def range_digest(node, lo: int, hi: int) -> dict:
    """The live documents `node` holds in buckets lo..hi (read locally, that range only)."""
    hdrs = {**LOCAL_READ, "X-Machdb-Buckets": f"{lo}-{hi}"}
    r = node.get("/v1/collections", headers=hdrs)
    assert r.status == 200, r.describe()
    out = {}
    for c in r.json()["collections"]:
        q = {"limit": 1000}
        while True:
            p = node.request("POST", f"/v1/collections/{c['name']}/query", jdumps(q),
                             {"Content-Type": "application/json", **hdrs})
            assert p.status == 200, p.describe()
            for d in p.json()["docs"]:
                out[(c["name"], d["id"])] = (d["rev"], d["bucket"], jdumps(d["doc"]))
            if not p.json().get("next"):
                break
            q["after"] = p.json()["next"]
    return out


def split_in_two(c, entry):
    for key in COUNTERS:
        r = entry.put_json(doc_path("counters", key), {"n": 0})
        assert r.status in (200, 201), r.describe()
    buckets = sorted(bucket_of(k) for k in COUNTERS)
    at = buckets[len(buckets) // 2]
    r = split(c, entry, at=at)
    assert r.status == 202, r.describe()
    wait_until(lambda: (lambda s: len(s) == 2 and all(x.get("leader") for x in s.values()))(shards_of(cluster_view(entry))),
               20, "two shards with Writers")
    return at


def wait_moved(c, node, shard, to, timeout=60.0):
    last = {}

    def ok():
        s = shards_of(cluster_view(node)).get(shard)
        last["seen"] = s
        if not s or s.get("moving") or sorted(s["voters"]) != sorted(to) or s["learners"] or s.get("leader") not in to:
            return None
        return s
    try:
        return wait_until(ok, timeout, f"shard {shard} on {to} only", interval=0.3)
    except AssertionError as e:
        raise AssertionError(f"{e}; last seen: {last.get('seen')}") from None


def check_load(c, record, entry, at):
    assert not record["errors"], record["errors"][:5]
    total = sum(record["acked"].values())
    assert total > 30, f"too little load got through: {record['acked']}"
    for key in COUNTERS:
        r = entry.get(doc_path("counters", key) + "?consistency=strong")
        assert r.status == 200, r.describe()
        final, acked, unknown = r.json()["n"], record["acked"][key], record["unknown"][key]
        assert acked <= final <= acked + unknown, (key, final, acked, unknown)
    for i, doc_id in enumerate(record["inserted"]):
        node = c.nodes[i % len(c.nodes)]
        r = wait_until(lambda: (lambda r: r if r.status != 503 else None)(
            node.get(doc_path("items", doc_id) + "?consistency=strong")), 10, "a read")
        assert r.status == 200, f"acknowledged insert {doc_id} lost: {r.describe()}"
    return total


def test_a_shard_moves_to_nodes_of_its_own_under_load(cluster_factory):
    c = cluster_factory()
    c.start(5)
    entry = c.nodes[-1]
    at = split_in_two(c, entry)
    stop = threading.Event()
    record, workers = counters_and_inserts(c, stop)
    time.sleep(2)
    to = ["n3", "n4", "n5"]
    r = move(c, c.nodes[0], at, to)
    assert r.status == 202, r.describe()
    assert r.json() == {"shard": at, "to": to, "version": 2}, r.describe()
    moved = wait_moved(c, entry, at, to)
    time.sleep(2)
    stop.set()
    for w in workers:
        w.join(30)
    # The nodes the shard left dropped it; the others still hold both.
    wait_until(lambda: all(at not in held_shards(n) for n in c.nodes[:2]), 20, "n1 and n2 dropped the moved shard")
    for n in c.nodes[2:]:
        assert held_shards(n) == {1, at}, n.node_id
    assert moved["placement"] == {"nodes": to, "version": 2}, moved
    total = check_load(c, record, entry, at)

    # Writes to the moved range through a node without it go to its Writer.
    high = next(k for k in (f"late-{i}" for i in range(1000)) if bucket_of(k) >= at)
    r = c.nodes[0].put_json(doc_path("probes", high), {"k": high})
    assert r.status == 201 and r.headers["x-machdb-served-by"] in to, r.describe()
    g = c.nodes[1].get(doc_path("probes", high))
    assert g.status == 200 and g.headers["x-machdb-served-by"] in to, g.describe()

    # Every replica of each shard holds the same documents.
    def agree(nodes, lo, hi):
        digests = {n.node_id: range_digest(n, lo, hi) for n in nodes}
        first = next(iter(digests.values()))
        return first if first and all(d == first for d in digests.values()) else None
    wait_until(lambda: agree(c.nodes, 1, at - 1), 20, "shard 1 agrees on every node")
    high_docs = wait_until(lambda: agree(c.nodes[2:], at, 1000), 20, "the moved shard agrees on its nodes")

    # Counts and queries through a node holding only shard 1 span both shards.
    low_docs = range_digest(c.nodes[2], 1, at - 1)
    expected = {}
    for (name, _), _v in list(low_docs.items()) + list(high_docs.items()):
        expected[name] = expected.get(name, 0) + 1
    r = c.nodes[0].get("/v1/collections", headers=LOCAL_READ)
    assert r.status == 200, r.describe()
    assert {x["name"]: x["count"] for x in r.json()["collections"]} == expected, r.describe()
    items = c.nodes[1].query_all("items", limit=37)
    assert sorted(d["id"] for d in items) == sorted(i for (name, i) in expected_ids(low_docs, high_docs) if name == "items")
    r = c.nodes[0].get("/v1/collections/items", headers=LOCAL_READ)
    assert r.status == 200 and r.json()["count"] == expected["items"], r.describe()

    # A backup asked of a node without the moved shard comes from one holding every shard.
    b = c.nodes[0].get("/admin/v1/backup", headers={"Authorization": f"Bearer {c.admin_token}"})
    assert b.status == 307 and b.headers["location"].rsplit("/admin", 1)[0] in [n.url for n in c.nodes[2:]], b.describe()

    # Refusals.
    assert_problem(move(c, entry, 1, to), 400, "invalid-request")
    assert_problem(move(c, entry, at, ["n9"]), 400, "invalid-request")
    assert_problem(move(c, entry, at, []), 400, "invalid-request")
    assert_problem(move(c, entry, at, ["n3", "n3"]), 400, "invalid-request")
    assert_problem(move(c, entry, 7, to), 404, "not-found")
    print(f"acknowledged increments {total}, inserts {len(record['inserted'])}, writer of {at}: {moved['leader']}")


def expected_ids(low, high):
    return list(low) + list(high)


def test_kill9_at_points_of_a_move_loses_nothing(cluster_factory):
    """Snapshots are slowed (128 KiB/s) so that each move takes a while; at each of three moves a node is
    killed with -9 right after the move is asked — the shard's Writer, a node the shard moves
    to (catching up from a snapshot), the meta shard's leader — and restarted. Every move
    completes, the nodes left behind drop the shard, nothing acknowledged is lost, and the
    holders of each shard agree."""
    c = cluster_factory(common_args=["--snapshot-rate", "131072"])
    c.start(5)
    entry = c.nodes[-1]
    pad = "x" * 1500
    for i in range(120):
        assert entry.put_json(doc_path("pad", f"p{i}"), {"i": i, "pad": pad}).status in (200, 201)
    r = split(c, entry, at=501)
    assert r.status == 202, r.describe()
    wait_until(lambda: (lambda s: len(s) == 2 and all(x.get("leader") for x in s.values()))(shards_of(cluster_view(entry))),
               20, "two shards with Writers")
    ledger = Ledger(c, "mv")
    wait_until(lambda: len(ledger.acked) >= 30, 20, "writes before the first move")

    def moved_with_a_kill(to, victim_of):
        asked = next(n for n in c.nodes if n.is_running())
        r = move(c, asked, 501, to)
        assert r.status == 202, r.describe()
        victim = c.node(victim_of())
        victim.kill9()
        time.sleep(1.5)
        victim.restart(graceful=False)
        return wait_moved(c, c.nodes[0] if c.nodes[0].is_running() else entry, 501, to, timeout=90)

    def writer_of(shard):
        return lambda: wait_until(lambda: shards_of(cluster_view(entry))[shard].get("leader"), 20, f"a Writer of shard {shard}",
                                  interval=0.05)

    # 1. The shard's Writer dies as the move starts.
    moved_with_a_kill(["n3", "n4", "n5"], writer_of(501))
    # 2. A node the shard moves to dies while it catches up.
    moved_with_a_kill(["n1", "n2", "n4"], lambda: "n1")
    # 3. The meta shard's leader (which writes the placement into the map) dies.
    moved_with_a_kill(["n2", "n3", "n5"], writer_of(1))
    ledger.finish()

    wait_until(lambda: all((501 in held_shards(n)) == (n.node_id in ("n2", "n3", "n5")) for n in c.nodes), 30,
               "only n2, n3 and n5 hold shard 501")
    for doc_id in sorted(ledger.acked):
        r = wait_until(lambda: (lambda r: r if r.status != 503 else None)(
            c.nodes[0].get(doc_path("ledger", doc_id) + "?consistency=strong")), 10, "a read")
        assert r.status == 200, f"acknowledged {doc_id} lost: {r.describe()}"

    def agree(nodes, lo, hi):
        digests = [range_digest(n, lo, hi) for n in nodes]
        return digests[0] if digests[0] and all(d == digests[0] for d in digests) else None
    low = wait_until(lambda: agree(c.nodes, 1, 500), 30, "shard 1 agrees on every node")
    high = wait_until(lambda: agree([c.node(i) for i in ("n2", "n3", "n5")], 501, 1000), 30, "shard 501 agrees on its nodes")
    present = {i for (name, i) in list(low) + list(high) if name == "ledger"}
    assert ledger.acked <= present
    assert present - ledger.acked <= ledger.unknown, "a write that certainly failed is present"
    print(f"acknowledged {len(ledger.acked)}, unknown {len(ledger.unknown)}")


def test_a_moved_shard_replaces_a_node_that_failed(cluster_factory):
    """A node of a moved shard dies for good: once the planner removes it (--remove-after), the
    shard's placement takes another active node, whose replica catches up; the shard is back
    to three voters that answer, and nothing acknowledged is lost."""
    c = cluster_factory(common_args=["--failure-timeout", "1000", "--remove-after", "3000"])
    c.start(5)
    entry = c.nodes[-1]
    assert split(c, entry, at=501).status == 202
    wait_until(lambda: (lambda s: len(s) == 2 and all(x.get("leader") for x in s.values()))(shards_of(cluster_view(entry))),
               20, "two shards with Writers")
    assert move(c, entry, 501, ["n2", "n3", "n4"]).status == 202
    wait_moved(c, entry, 501, ["n2", "n3", "n4"])
    ledger = Ledger(c, "rf")
    wait_until(lambda: len(ledger.acked) >= 30, 20, "writes before the failure")
    c.node("n3").kill9()

    def repaired():
        s = shards_of(cluster_view(entry)).get(501)
        nodes = (s or {}).get("placement", {}).get("nodes", [])
        if "n3" in nodes or len(nodes) != 3 or s.get("moving") or sorted(s["voters"]) != nodes:
            return None
        return s
    s = wait_until(repaired, 60, "shard 501 placed on three live nodes", interval=0.3)
    time.sleep(1)
    ledger.finish()
    holders = [c.node(i) for i in s["placement"]["nodes"]]
    assert all(501 in held_shards(n) for n in holders)
    for doc_id in sorted(ledger.acked):
        r = c.nodes[0].get(doc_path("ledger", doc_id) + "?consistency=strong")
        assert r.status == 200, f"acknowledged {doc_id} lost: {r.describe()}"

    def agree():
        digests = [range_digest(n, 501, 1000) for n in holders]
        return digests[0] if all(d == digests[0] for d in digests) else None
    wait_until(agree, 30, "the shard's holders agree")
    print(f"placement now {s['placement']['nodes']}, Writer {s['leader']}; acknowledged {len(ledger.acked)}")
