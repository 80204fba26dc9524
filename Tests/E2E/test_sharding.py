"""Sharding on real processes: a shard split online under compare-and-set load through
every node, its routing, its refusals, a node joining after the split, a restart, and
paging a query across the split (docs/ARCHITECTURE.md, "Shards")."""
import random
import threading
import time

from helpers import (LOCAL_READ, bucket_of, cluster_view, content_of, doc_path, jdumps,
                     wait_until)

COUNTERS = [f"counter-{i}" for i in range(16)]


def admin(c):
    return {"Authorization": f"Bearer {c.admin_token}", "Content-Type": "application/json"}


def split(c, node, shard=1, at=None):
    body = b"" if at is None else jdumps({"at": at})
    return node.request("POST", f"/admin/v1/shards/{shard}/split", body, admin(c))


def shards_of(view) -> dict[int, dict]:
    return {s["id"]: s for s in view.get("shards") or []}


def wait_two_shards_apart(c, timeout=30.0):
    """Until the map shows two shards with known Writers on different nodes; returns
    {shard id: shard entry}."""
    def ok():
        found = c.find_leader(agree=False)
        if found is None:
            return None
        shards = shards_of(found[1])
        if len(shards) != 2:
            return None
        writers = [s.get("leader") for s in shards.values()]
        if None in writers or len(set(writers)) != 2:
            return None
        return shards
    return wait_until(ok, timeout, "two shards with Writers on different nodes", interval=0.2)


def counters_and_inserts(c, stop: threading.Event, threads: int = 8):
    """Clients incrementing counters with If-Match and inserting documents, through every
    node in turn. Returns the shared record, filled as they go."""
    record = {
        "acked": {k: 0 for k in COUNTERS},    # increments acknowledged
        "unknown": {k: 0 for k in COUNTERS},  # answered write-timeout: may or may not be applied
        "inserted": [],                       # ids acknowledged
        "insert_unknown": [],
        "errors": [],
        "lock": threading.Lock(),
    }

    def client(n: int):
        rng = random.Random(n)
        seq = 0
        while not stop.is_set():
            node = c.nodes[(n + seq) % len(c.nodes)]
            seq += 1
            if not node.is_running():
                continue
            try:
                if seq % 4 == 0:
                    doc_id = f"ins-{n}-{seq}"
                    r = node.put_json(doc_path("items", doc_id), {"by": n, "seq": seq})
                    with record["lock"]:
                        if r.status in (200, 201):
                            record["inserted"].append(doc_id)
                        elif r.status == 503 and r.headers.get("x-machdb-not-applied") == "true":
                            pass
                        elif r.status == 503:
                            record["insert_unknown"].append(doc_id)
                        else:
                            record["errors"].append(r.describe())
                    continue
                key = rng.choice(COUNTERS)
                g = node.get(doc_path("counters", key) + "?consistency=strong")
                if g.status != 200:
                    continue
                value = g.json()["n"]
                rev = g.headers["etag"]
                r = node.put_json(doc_path("counters", key), {"n": value + 1}, headers={"If-Match": rev})
                with record["lock"]:
                    if r.status == 200:
                        record["acked"][key] += 1
                    elif r.status == 412 or (r.status == 503 and r.headers.get("x-machdb-not-applied") == "true"):
                        pass  # certainly not applied
                    elif r.status == 503:
                        record["unknown"][key] += 1
                    else:
                        record["errors"].append(r.describe())
            except OSError:
                pass  # a connection dropped: nothing acknowledged; an increment may still be unknown
    workers = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(threads)]
    for w in workers:
        w.start()
    return record, workers


def local_digest(node, buckets: range) -> dict:
    content = content_of(node)
    return {k: v for k, v in content.items() if v[1] in buckets}


def test_split_under_compare_and_set_load_loses_and_doubles_nothing(cluster_factory):
    c = cluster_factory()
    c.start(4)
    entry = c.nodes[-1]
    for key in COUNTERS:
        r = entry.put_json(doc_path("counters", key), {"n": 0})
        assert r.status in (200, 201), r.describe()
    buckets = sorted(bucket_of(k) for k in COUNTERS)
    at = buckets[len(buckets) // 2]  # half the counters on each side
    assert 1 < at <= 1000

    stop = threading.Event()
    record, workers = counters_and_inserts(c, stop)
    time.sleep(3)
    r = split(c, entry, at=at)
    assert r.status == 202, r.describe()
    body = r.json()
    assert body["shard"] == 1 and body["new_shard"] == at and body["at"] == at, body
    assert body["buckets"] == [1, at - 1] and body["new_buckets"] == [at, 1000], body
    time.sleep(5)
    stop.set()
    for w in workers:
        w.join(30)
    assert not record["errors"], record["errors"][:5]

    shards = wait_two_shards_apart(c)
    assert shards[1]["buckets"] == [1, at - 1] and shards[at]["buckets"] == [at, 1000], shards
    assert shards[1]["version"] == 2 and shards[at]["version"] == 2, shards
    ids = sorted(n.node_id for n in c.nodes)
    for s in shards.values():
        assert sorted(s["voters"] + s["learners"]) == ids, s

    # Both shards serve writes, each through its own Writer.
    low = next(k for k in (f"probe-{i}" for i in range(1000)) if bucket_of(k) < at)
    high = next(k for k in (f"probe-{i}" for i in range(1000)) if bucket_of(k) >= at)
    for key, shard in ((low, 1), (high, at)):
        r = c.nodes[0].put_json(doc_path("probes", key), {"k": key})
        assert r.status in (200, 201), r.describe()
        assert r.headers["x-machdb-served-by"] == shards[shard]["leader"], (shard, r.describe())

    # Every acknowledged increment is there exactly once (give or take the unknown ones).
    total_acked = sum(record["acked"].values())
    assert total_acked > 50, f"too little load got through: {record['acked']}"
    for key in COUNTERS:
        r = entry.get(doc_path("counters", key) + "?consistency=strong")
        assert r.status == 200, r.describe()
        final = r.json()["n"]
        acked, unknown = record["acked"][key], record["unknown"][key]
        assert acked <= final <= acked + unknown, (key, final, acked, unknown)
        assert int(r.headers["etag"].strip('"')) == final + 1, r.describe()
    for doc_id in record["inserted"]:
        r = entry.get(doc_path("items", doc_id) + "?consistency=strong")
        assert r.status == 200, f"acknowledged insert {doc_id} lost: {r.describe()}"

    # Every replica of each shard holds the same documents.
    def converged():
        views = {n.node_id: cluster_view(n) for n in c.nodes}
        for shard in (1, at):
            applied = {shards_of(v)[shard].get("applied_index") for v in views.values()}
            commits = {shards_of(v)[shard].get("commit_index") for v in views.values()}
            if len(applied) != 1 or applied != commits:
                return None
        return views
    wait_until(converged, 20, "every replica applied everything of both shards", interval=0.3)
    for buckets_range in (range(1, at), range(at, 1001)):
        digests = {n.node_id: local_digest(n, buckets_range) for n in c.nodes}
        first = digests[c.nodes[0].node_id]
        assert first, "no documents in a shard's range"
        for node_id, digest in digests.items():
            assert digest == first, f"{node_id} differs in buckets {buckets_range}"
    print(f"acknowledged increments {total_acked}, unknown {sum(record['unknown'].values())}, "
          f"inserts {len(record['inserted'])}, writers {[s['leader'] for s in shards.values()]}")


def test_split_refusals_and_routing(cluster_factory):
    c = cluster_factory()
    c.start(3)
    n = c.nodes[0]
    for bad in (1, 0, 1001, "x"):
        r = split(c, n, at=bad)
        assert r.status == 400, r.describe()
        assert "invalid-split" in r.json()["type"], r.describe()
    r = n.request("POST", "/admin/v1/shards/7/split", b"", admin(c))
    assert r.status == 404, r.describe()
    r = n.request("POST", "/admin/v1/shards/1/split", b"", {"Content-Type": "application/json"})
    assert r.status == 401, r.describe()
    r = split(c, n)  # no load measured: the middle of the range
    assert r.status == 202, r.describe()
    assert r.json()["at"] == 501, r.describe()
    shards = wait_two_shards_apart(c)
    assert set(shards) == {1, 501}
    # A split of the new shard at its own first bucket would take nothing from it.
    r = split(c, n, shard=501, at=501)
    assert r.status == 400, r.describe()
    r = split(c, n, shard=501, at=751)
    assert r.status == 202, r.describe()
    view = wait_until(lambda: (lambda v: v if len(shards_of(v)) == 3 else None)(cluster_view(n)), 20,
                      "three shards")
    assert [s["buckets"] for s in sorted(shards_of(view).values(), key=lambda s: s["buckets"][0])] == \
        [[1, 500], [501, 750], [751, 1000]]
    # Writes to each range land and read back from every node.
    keys = {}
    for i in range(300):
        k = f"route-{i}"
        b = bucket_of(k)
        shard = 1 if b <= 500 else 501 if b <= 750 else 751
        keys.setdefault(shard, k)
    indexes = {}
    for shard, k in keys.items():
        r = c.nodes[2].put_json(doc_path("routes", k), {"shard": shard})
        assert r.status in (200, 201), r.describe()
        indexes[shard] = int(r.headers["x-machdb-index"])
        for node in c.nodes:
            g = node.get(doc_path("routes", k) + "?consistency=strong")
            assert g.status == 200 and g.json()["shard"] == shard, g.describe()
    # Session reads wait for the index of the document's own shard, on any node.
    for shard, k in keys.items():
        for node in c.nodes:
            g = node.get(doc_path("routes", k), headers={"X-Machdb-Min-Index": str(indexes[shard]), **LOCAL_READ})
            assert g.status == 200 and g.json()["shard"] == shard, g.describe()
    r = c.nodes[1].get("/v1/collections")
    assert r.status == 200 and {"name": "routes", "count": 3} in r.json()["collections"], r.describe()


def test_standalone_node_cannot_split(node_factory):
    n = node_factory.new("solo", admin_token="t0ken")
    r = n.request("POST", "/admin/v1/shards/1/split", b"",
                  {"Authorization": "Bearer t0ken", "Content-Type": "application/json"})
    assert r.status == 409, r.describe()
    assert "not-in-cluster" in r.json()["type"], r.describe()


def test_a_node_joining_after_a_split_gets_every_shard_and_restarts_with_them(cluster_factory):
    c = cluster_factory()
    c.start(3)
    for i in range(200):
        r = c.nodes[0].put_json(doc_path("docs", f"d{i}"), {"i": i})
        assert r.status in (200, 201), r.describe()
    r = split(c, c.nodes[0], at=400)
    assert r.status == 202, r.describe()
    wait_two_shards_apart(c)
    n4 = c.add("n4")

    def holds_both():
        v = cluster_view(c.nodes[0])
        shards = shards_of(v)
        if len(shards) != 2 or any("n4" not in s.get("members", []) for s in shards.values()):
            return None
        return v
    wait_until(holds_both, 40, "n4 a member of both shards", interval=0.3)

    def same_content():
        try:
            mine = content_of(n4)
        except AssertionError:
            return None  # still catching up (a shard not held yet answers 503)
        return mine if len(mine) == 200 and mine == content_of(c.nodes[0]) else None
    wait_until(same_content, 40, "n4 holds every document of both shards", interval=0.5)

    # kill -9 and restart: both groups come back from the file and catch up.
    n4.kill9()
    for i in range(200, 260):
        r = c.nodes[0].put_json(doc_path("docs", f"d{i}"), {"i": i})
        assert r.status in (200, 201), r.describe()
    n4.restart(graceful=False)
    log = n4.log_text()
    assert log.count("shard group started") >= 2, "the second shard's group was not reopened"
    wait_until(lambda: (lambda m: m if len(m) == 260 and m == content_of(c.nodes[0]) else None)(
        content_of(n4)), 40, "n4 caught up on both shards after a restart", interval=0.5)


def test_paging_a_query_across_a_split_returns_every_document_once(cluster_factory):
    c = cluster_factory()
    c.start(3)
    entry = c.nodes[-1]
    expected = set()
    for i in range(300):
        doc_id = f"p{i:03d}"
        r = entry.put_json(doc_path("pages", doc_id), {"rank": i % 37, "i": i})
        assert r.status in (200, 201), r.describe()
        expected.add(doc_id)
    seen: list[str] = []
    q = {"limit": 25, "sort": ["rank"]}
    split_done = False
    for page in range(100):
        h = {"Content-Type": "application/json"}
        r = entry.request("POST", "/v1/collections/pages/query", jdumps(q), h)
        assert r.status == 200, r.describe()
        body = r.json()
        seen += [d["id"] for d in body["docs"]]
        if page == 3 and not split_done:
            s = split(c, entry, at=600)
            assert s.status == 202, s.describe()
            split_done = True
            wait_two_shards_apart(c)
        if body["next"] is None:
            break
        q["after"] = body["next"]
    assert split_done
    assert len(seen) == len(set(seen)), "a document came twice"
    assert set(seen) == expected


def test_bulk_across_shards_applies_each_shards_part_and_says_where(cluster_factory):
    c = cluster_factory()
    c.start(3)
    r = split(c, c.nodes[0], at=500)
    assert r.status == 202, r.describe()
    wait_two_shards_apart(c)
    low = [k for k in (f"b{i}" for i in range(200)) if bucket_of(k) < 500][:3]
    high = [k for k in (f"b{i}" for i in range(200)) if bucket_of(k) >= 500][:3]
    ops = [{"op": "put", "collection": "bulk", "id": k, "doc": {"k": k}} for k in (low[0], high[0], low[1], high[1])]
    ops.append({"op": "put", "collection": "bulk", "id": high[2], "doc": {"k": 1}, "if_match": "7"})
    r = c.nodes[2].post_json("/v1/_bulk", {"ops": ops})
    assert r.status == 200, r.describe()
    body = r.json()
    results = body["results"]
    assert [x["status"] for x in results] == [201, 201, 201, 201, 412], body
    assert [x["id"] for x in results[:4]] == [low[0], high[0], low[1], high[1]], body
    # Each success names the index of its shard's command; the low ones share one, the high ones another.
    assert results[0]["index"] == results[2]["index"] == body["index"], body
    assert results[1]["index"] == results[3]["index"], body
    assert r.headers["x-machdb-index"] == str(body["index"]), r.describe()
    for k in low[:2] + high[:2]:
        g = c.nodes[1].get(doc_path("bulk", k) + "?consistency=strong")
        assert g.status == 200 and g.json() == {"k": k}, g.describe()


class Ledger:
    """A background writer through every running node: acknowledged ids and ids whose outcome
    is unknown (503 write-timeout, dropped connection)."""

    def __init__(self, c, prefix: str):
        self.c, self.prefix = c, prefix
        self.acked: set[str] = set()
        self.unknown: set[str] = set()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        seq = 0
        while not self.stop.is_set():
            seq += 1
            doc_id = f"{self.prefix}-{seq}"
            nodes = self.c.running()
            if not nodes:
                time.sleep(0.05)
                continue
            node = nodes[seq % len(nodes)]
            try:
                r = node.put_json(doc_path("ledger", doc_id), {"seq": seq})
            except OSError:
                self.unknown.add(doc_id)
                continue
            if r.status in (200, 201):
                self.acked.add(doc_id)
            elif r.status == 503 and r.headers.get("x-machdb-not-applied") != "true":
                self.unknown.add(doc_id)

    def finish(self):
        self.stop.set()
        self.thread.join(30)


def test_kill9_at_points_of_a_split_loses_nothing(cluster_factory):
    c = cluster_factory()
    c.start(3)
    ledger = Ledger(c, "k")
    wait_until(lambda: len(ledger.acked) >= 50, 20, "writes before the first split")

    # 1. A follower dies as the split is proposed; it applies the split from its log on restart.
    leader = c.leader()
    follower = next(n for n in c.nodes if n is not leader)
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("r", split(c, leader, at=300)))
    t.start()
    follower.kill9()
    t.join(30)
    assert result["r"].status == 202, result["r"].describe()
    follower.restart(graceful=False)

    # 2. The leader dies right after the split is applied (the new shard's group just started).
    wait_two_shards_apart(c)
    leader = c.leader()
    r = split(c, leader, shard=300, at=700)
    assert r.status == 202, r.describe()
    leader.kill9()
    time.sleep(1.0)
    leader.restart(graceful=False)

    # 3. A shard's leader dies while its split may or may not have been committed.
    owner = wait_until(lambda: shards_of(cluster_view(c.nodes[0]))[1].get("leader"), 20, "a leader of shard 1")
    node = c.node(owner)
    def split_into_a_kill():
        try:
            result["r3"] = split(c, node, at=100)
        except OSError as e:  # killed before it answered: the split may or may not be in
            result["r3"] = e
    t = threading.Thread(target=split_into_a_kill)
    t.start()
    time.sleep(0.005)
    node.kill9()
    t.join(30)
    node.restart(graceful=False)

    time.sleep(2)
    ledger.finish()
    # Every node agrees on the shards (with or without the third split), and holds every write.
    def agreed():
        views = [cluster_view(n) for n in c.nodes]
        layouts = {tuple(sorted((s["id"], tuple(s["buckets"]), s["version"]) for s in v["shards"])) for v in views}
        if len(layouts) != 1:
            return None
        for v in views:
            for s in v["shards"]:
                if s.get("leader") is None or s.get("applied_index") != s.get("commit_index"):
                    return None
        return layouts.pop()
    layout = wait_until(agreed, 40, "every node agrees on the shards and applied everything", interval=0.5)
    ids = [s[0] for s in layout]
    assert {1, 300, 700} <= set(ids), layout
    for doc_id in ledger.acked:
        r = c.nodes[0].get(doc_path("ledger", doc_id) + "?consistency=strong")
        assert r.status == 200, f"acknowledged {doc_id} lost: {r.describe()}"
    contents = [content_of(n) for n in c.nodes]
    assert all(x == contents[0] for x in contents), "replicas differ"
    present = {k[1] for k in contents[0] if k[0] == "ledger"}
    assert ledger.acked <= present
    assert present - ledger.acked <= ledger.unknown, "a write that certainly failed is present"
    print(f"layout {layout}; acknowledged {len(ledger.acked)}, unknown {len(ledger.unknown)}")


def test_a_newcomer_routes_writes_for_a_shard_it_has_not_received_yet(cluster_factory):
    """A node that joins after a split is the new entry point; snapshots are slow here, so for a
    while it holds an empty group for a shard. Writes for that shard through it are forwarded
    to the shard's leader (its group knows the leader before it has the data)."""
    c = cluster_factory(common_args=["--snapshot-entries", "64", "--snapshot-rate", "16384"])
    c.start(3)
    pad = "x" * 2000
    for i in range(150):
        r = c.nodes[0].put_json(doc_path("docs", f"d{i}"), {"i": i, "pad": pad})
        assert r.status in (200, 201), r.describe()
    assert split(c, c.nodes[0], at=400).status == 202
    wait_two_shards_apart(c)
    n4 = c.add("n4")
    high = [k for k in (f"new-{i}" for i in range(200)) if bucket_of(k) >= 400][:20]
    served_while_empty = 0
    for k in high:
        metrics = n4.get("/metrics").body.decode()
        empty = 'machdb_shard_first_bucket{shard="400"} 0' in metrics or 'shard="400"' not in metrics
        r = n4.put_json(doc_path("docs", k), {"k": k})
        assert r.status in (200, 201), r.describe()
        assert r.headers["x-machdb-served-by"] != "n4", r.describe()
        served_while_empty += 1 if empty else 0
    assert served_while_empty > 0, "the snapshot arrived before the first write: nothing was tested"
    print(f"{served_while_empty} of {len(high)} writes forwarded while n4 held no data of shard 400")
