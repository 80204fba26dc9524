"""Shard keys on real processes: a collection declares a field (`tenant`), its documents'
ids are `<tenant>:<id>` and share their tenant's bucket — declared on a single node, kept
when it grows into a cluster, seen by every node, and kept together by a split
(docs/ARCHITECTURE.md, "Shard keys")."""
from helpers import (assert_problem, bucket_of, cluster_view, doc_path, jdumps, wait_until)

SETTINGS = "/v1/collections/carts"
JSON_CT = {"Content-Type": "application/json"}


def declare(node, collection="carts", key="tenant"):
    return node.put_json(f"/v1/collections/{collection}", {"shard_key": key})


def test_a_declared_shard_key_puts_a_tenants_documents_in_one_bucket(node_factory):
    n = node_factory.new("solo")
    assert_problem(n.get(SETTINGS), 404, "not-found")
    r = declare(n)
    assert r.status == 200, r.describe()
    assert r.json()["shard_key"] == "tenant" and r.json()["count"] == 0, r.describe()
    assert int(r.headers["x-machdb-index"]) > 0, r.describe()
    r = n.get(SETTINGS)
    assert r.status == 200 and r.json() == {"name": "carts", "count": 0, "shard_key": "tenant"}, r.describe()
    assert {"name": "carts", "count": 0, "shard_key": "tenant"} in n.get("/v1/collections").json()["collections"]
    # Repeating the declaration writes nothing.
    r = declare(n)
    assert r.status == 200 and "index" not in r.json(), r.describe()

    r = n.put_json(doc_path("carts", "acme:cart-1"), {"tenant": "acme", "items": []})
    assert r.status == 201, r.describe()
    assert r.json()["bucket"] == bucket_of("acme"), r.describe()
    r = n.post_json("/v1/collections/carts/docs", {"tenant": "acme", "items": [1]})
    assert r.status == 201, r.describe()
    created = r.json()["id"]
    assert created.startswith("acme:") and r.json()["bucket"] == bucket_of("acme"), r.describe()
    r = n.get(doc_path("carts", created))
    assert r.status == 200 and r.json()["items"] == [1], r.describe()
    r = n.patch(doc_path("carts", "acme:cart-1"), {"items": [2], "tenant": "acme"})
    assert r.status == 200, r.describe()

    # A query for one tenant reads that tenant's bucket only, and finds its documents.
    r = n.query("carts", {"filter": {"tenant": "acme"}})
    assert r.status == 200 and sorted(d["id"] for d in r.json()["docs"]) == sorted(["acme:cart-1", created]), r.describe()
    assert n.query("carts", {"filter": {"tenant": "nobody"}}).json()["docs"] == []

    # Every way to break the rule is refused, and nothing is written.
    before = n.get(SETTINGS).json()["count"]
    assert_problem(n.put_json(doc_path("carts", "cart-9"), {"tenant": "acme"}), 400, "shard-key-mismatch")
    assert_problem(n.put_json(doc_path("carts", "acme:cart-9"), {"tenant": "globex"}), 400, "shard-key-mismatch")
    assert_problem(n.put_json(doc_path("carts", "acme:cart-9"), {"items": []}), 400, "shard-key-mismatch")
    assert_problem(n.put_json(doc_path("carts", "acme:cart-9"), ["acme"]), 400, "shard-key-mismatch")
    assert_problem(n.request("PUT", doc_path("carts", "acme:cart-9"), b"raw", {"Content-Type": "text/plain"}),
                   400, "shard-key-mismatch")
    assert_problem(n.post_json("/v1/collections/carts/docs", {"items": []}), 400, "shard-key-mismatch")
    assert_problem(n.patch(doc_path("carts", "acme:cart-1"), {"tenant": "globex"}), 400, "shard-key-mismatch")
    assert_problem(n.patch(doc_path("carts", "acme:cart-1"), {"tenant": None}), 400, "shard-key-mismatch")
    assert_problem(n.patch(doc_path("carts", "acme:cart-1"), ["x"]), 400, "shard-key-mismatch")
    assert n.get(SETTINGS).json()["count"] == before
    assert n.get(doc_path("carts", "acme:cart-1")).json()["tenant"] == "acme"

    # Bulk: per operation, the whole request refused on one bad operation.
    r = n.post_json("/v1/_bulk", {"ops": [
        {"op": "put", "collection": "carts", "id": "globex:c1", "doc": {"tenant": "globex"}},
        {"op": "create", "collection": "carts", "doc": {"tenant": "globex", "n": 2}},
    ]})
    assert r.status == 200, r.describe()
    results = r.json()["results"]
    assert [x["status"] for x in results] == [201, 201], r.describe()
    assert results[1]["id"].startswith("globex:") and {x["bucket"] for x in results} == {bucket_of("globex")}
    r = n.post_json("/v1/_bulk", {"ops": [
        {"op": "put", "collection": "carts", "id": "globex:c2", "doc": {"tenant": "globex"}},
        {"op": "put", "collection": "carts", "id": "c3", "doc": {"tenant": "globex"}},
    ]})
    assert_problem(r, 400, "invalid-bulk")
    assert n.get(doc_path("carts", "globex:c2")).status == 404

    # A collection without a declaration keeps ids without ':'.
    assert_problem(n.put_json(doc_path("plain", "a:b"), {"x": 1}), 400, "invalid-id")
    assert n.put_json(doc_path("plain", "a"), {"x": 1}).status == 201
    # Settings change only while the collection is empty.
    assert_problem(declare(n, "plain", "x"), 409, "collection-not-empty")
    assert_problem(declare(n, "carts", "owner"), 409, "collection-not-empty")
    r = declare(n, "empty", "owner")
    assert r.status == 200, r.describe()
    r = n.put_json("/v1/collections/empty", {"shard_key": None})
    assert r.status == 200 and r.json()["shard_key"] is None, r.describe()
    assert_problem(n.get("/v1/collections/empty"), 404, "not-found")
    # Bad declarations.
    for body in ({"shard_key": 5}, {"shard_key": "a.b"}, {"shard_key": ""}, {"other": "x"}, {},
                 {"shard_key": "x" * 65}, ["tenant"]):
        assert_problem(n.request("PUT", "/v1/collections/bad", jdumps(body), JSON_CT), 400, "invalid-request")
    # The settings' own collection is not for clients.
    for r in (n.get(doc_path("_machdb.collections", "carts")),
              n.put_json(doc_path("_machdb.collections", "x"), {"shard_key": "y"}),
              n.put_json("/v1/collections/_machdb.collections", {"shard_key": "y"}),
              n.post_json("/v1/collections/_machdb.collections/query", {}),
              n.post_json("/v1/_bulk", {"ops": [{"op": "delete", "collection": "_machdb.collections", "id": "carts"}]})):
        assert r.status == 400, r.describe()
    names = [c["name"] for c in n.get("/v1/collections").json()["collections"]]
    assert "_machdb.collections" not in names and "carts" in names

    # The declaration survives a restart.
    n.restart()
    assert n.get(SETTINGS).json()["shard_key"] == "tenant"
    assert_problem(n.put_json(doc_path("carts", "cart-10"), {"tenant": "acme"}), 400, "shard-key-mismatch")


def test_a_cluster_keeps_a_tenant_together_across_a_split(cluster_factory):
    c = cluster_factory()
    first = c.add(join=False)
    assert declare(first).status == 200  # declared while the node is alone
    for _ in range(2):
        c.wait_in_map(c.add(join=first).node_id)
    c.wait_stage(3)
    tenants = [f"t{i}" for i in range(40)]
    ids = {}
    for i, t in enumerate(tenants):
        for j in range(3):
            node = c.nodes[(i + j) % len(c.nodes)]
            r = wait_until(lambda: (lambda r: r if r.status in (200, 201) else None)(
                node.put_json(doc_path("carts", f"{t}:cart-{j}"), {"tenant": t, "j": j})), 20, "a keyed write")
            assert r.json()["bucket"] == bucket_of(t), r.describe()
            ids[f"{t}:cart-{j}"] = t
    for node in c.nodes:
        r = node.get(SETTINGS)
        assert r.status == 200 and r.json()["shard_key"] == "tenant", r.describe()
        assert_problem(node.put_json(doc_path("carts", "nokey"), {"tenant": "x"}), 400, "shard-key-mismatch")
    headers = {"Authorization": f"Bearer {c.admin_token}", "Content-Type": "application/json"}
    r = first.request("POST", "/admin/v1/shards/1/split", jdumps({"at": 501}), headers)
    assert r.status == 202, r.describe()
    wait_until(lambda: (lambda shards: len(shards) == 2 and all(s.get("leader") for s in shards))(
        cluster_view(first).get("shards") or []), 20, "two shards, each with a Writer")
    # Every document of a tenant reads back from every node, with its tenant's bucket: a
    # tenant's documents sit in one shard on either side of the split.
    for doc_id, t in ids.items():
        for node in c.nodes:
            g = wait_until(lambda: (lambda g: g if g.status != 503 else None)(
                node.get(doc_path("carts", doc_id) + "?consistency=strong")), 10, "a strong read")
            assert g.status == 200 and g.json()["tenant"] == t, g.describe()
            assert int(g.headers["x-machdb-bucket"]) == bucket_of(t), g.describe()
    sides = {t: bucket_of(t) >= 501 for t in tenants}
    assert len(set(sides.values())) == 2, "the tenants span both shards"
    # New keyed writes after the split go to their tenant's shard.
    for t in tenants[:6]:
        r = c.nodes[2].put_json(doc_path("carts", f"{t}:late"), {"tenant": t})
        assert r.status == 201 and r.json()["bucket"] == bucket_of(t), r.describe()
    r = c.nodes[1].query("carts", {"filter": {"tenant": tenants[0]}, "limit": 100})
    assert r.status == 200 and len(r.json()["docs"]) == 4, r.describe()
