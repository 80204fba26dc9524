"""POST /v1/_bulk: per-operation results in order, one shared index, whole-request
rejection of malformed requests (API.md)."""

from __future__ import annotations

import json
import re

import pytest

from helpers import (assert_json_response, assert_problem, bucket_of, deep_json, doc_path,
                     index_of, jdumps)

BULK = "/v1/_bulk"


def bulk(node, ops):
    return node.post_json(BULK, {"ops": ops})


def listed(node) -> dict:
    body = assert_json_response(node.get("/v1/collections"), 200)
    return {c["name"]: c["count"] for c in body["collections"]}


def test_mixed_operations(node):
    c = "bulk_mixed"
    r0 = node.put_json(doc_path(c, "b1"), {"x": 1, "y": 1})
    assert r0.status == 201
    idx0 = index_of(r0)
    r = node.request("PUT", doc_path(c, "bin"), b"\x89PNG\x00\x01", {"Content-Type": "image/png"})
    assert r.status == 201

    ops = [
        {"op": "put", "collection": c, "id": "n1", "doc": {"new": True}},             # 201
        {"op": "put", "collection": c, "id": "b1", "doc": {"x": 2, "y": 2}},         # 200 rev 2
        {"op": "put", "collection": c, "id": "b1", "doc": {"x": 9}, "if_match": "1"},  # 412
        {"op": "delete", "collection": c, "id": "missing"},                           # 404
        {"op": "patch", "collection": c, "id": "bin", "patch": {"a": 1}},            # 409
        {"op": "create", "collection": c, "doc": {"made": 1}},                        # 201
        {"op": "patch", "collection": c, "id": "b1", "patch": {"y": None, "z": 3},
         "if_match": 2},                                                              # 200 rev 3
        {"op": "delete", "collection": c, "id": "n1"},                                # 200 rev 2
        {"op": "put", "collection": c, "id": "n1", "doc": [1], "if_none_match": "*"},  # 201 rev 3
        {"op": "put", "collection": c, "id": "b1", "doc": {}, "if_none_match": "*"},   # 412
        {"op": "patch", "collection": c, "id": "nope", "patch": {"a": 1}},           # 404
        {"op": "delete", "collection": c, "id": "b1", "if_match": "1"},               # 412
    ]
    r = bulk(node, ops)
    body = assert_json_response(r, 200)
    idx = index_of(r)
    assert idx > idx0
    assert set(body) == {"index", "results"} and body["index"] == idx, r.describe()
    res = body["results"]
    assert len(res) == len(ops), r.describe()

    def ok(n, status, i, rev):
        e = res[n]
        assert e.get("status") == status, f"op {n}: {e}"
        assert e.get("collection") == c and e.get("id") == i and e.get("rev") == rev, f"op {n}: {e}"
        assert e.get("bucket") == bucket_of(i), f"op {n}: {e}"
        assert "error" not in e, f"op {n}: {e}"

    def err(n, status, slug):
        e = res[n]
        assert e.get("status") == status, f"op {n}: {e}"
        p = e.get("error")
        assert isinstance(p, dict), f"op {n}: {e}"
        assert p.get("type") == f"urn:machdb:problem:{slug}" and p.get("status") == status, \
            f"op {n}: {e}"
        assert isinstance(p.get("title"), str) and p["title"], f"op {n}: {e}"

    ok(0, 201, "n1", 1)
    ok(1, 200, "b1", 2)
    err(2, 412, "precondition-failed")
    err(3, 404, "not-found")
    err(4, 409, "not-json")
    made = res[5].get("id")
    assert isinstance(made, str) and re.fullmatch(r"[0-9a-z]{20}", made), res[5]
    ok(5, 201, made, 1)
    ok(6, 200, "b1", 3)
    ok(7, 200, "n1", 2)
    ok(8, 201, "n1", 3)
    err(9, 412, "precondition-failed")
    err(10, 404, "not-found")
    err(11, 412, "precondition-failed")

    # Final state; every document written by this request carries the shared index.
    g = node.get(doc_path(c, "b1"))
    assert g.status == 200 and json.loads(g.body) == {"x": 2, "z": 3}, g.describe()
    assert g.headers["etag"] == '"3"' and index_of(g) == idx
    g = node.get(doc_path(c, "n1"))
    assert g.status == 200 and json.loads(g.body) == [1] and g.headers["etag"] == '"3"'
    assert index_of(g) == idx
    g = node.get(doc_path(c, made))
    assert g.status == 200 and json.loads(g.body) == {"made": 1} and index_of(g) == idx
    g = node.get(doc_path(c, "bin"))
    assert g.body == b"\x89PNG\x00\x01" and g.headers["etag"] == '"1"'
    assert node.get(doc_path(c, "missing")).status == 404
    assert listed(node)[c] == 4

    # the next write gets a larger index
    assert index_of(node.put_json(doc_path(c, "after"), {})) > idx


def test_bulk_json_docs_can_be_any_value_and_queryable(node):
    c = "bulk_values"
    r = bulk(node, [{"op": "put", "collection": c, "id": f"v{k}", "doc": v}
                    for k, v in enumerate([{"s": "a"}, [1], "x", 3, None, True])])
    body = assert_json_response(r, 200)
    assert [e["status"] for e in body["results"]] == [201] * 6
    g = node.get(doc_path(c, "v4"))
    assert g.status == 200 and json.loads(g.body) is None
    q = assert_json_response(node.query(c, {"filter": {"s": "a"}}), 200)
    assert [d["id"] for d in q["docs"]] == ["v0"]


GOOD = [{"op": "put", "collection": "bulk_bad", "id": "good-1", "doc": {"a": 1}},
        {"op": "create", "collection": "bulk_bad", "doc": {"a": 2}}]

BAD_OPS = {
    "unknown-op": {"op": "upsert", "collection": "bulk_bad", "id": "x", "doc": {}},
    "missing-op": {"collection": "bulk_bad", "id": "x", "doc": {}},
    "bad-id-slash": {"op": "put", "collection": "bulk_bad", "id": "a/b", "doc": {}},
    "bad-id-dotdot": {"op": "put", "collection": "bulk_bad", "id": "..", "doc": {}},
    "bad-id-long": {"op": "put", "collection": "bulk_bad", "id": "x" * 129, "doc": {}},
    "bad-collection": {"op": "put", "collection": "a b", "id": "x", "doc": {}},
    "missing-collection": {"op": "put", "id": "x", "doc": {}},
    "missing-doc": {"op": "put", "collection": "bulk_bad", "id": "x"},
    "missing-id": {"op": "put", "collection": "bulk_bad", "doc": {}},
    "patch-missing-patch": {"op": "patch", "collection": "bulk_bad", "id": "x"},
    "delete-missing-id": {"op": "delete", "collection": "bulk_bad"},
    "create-missing-doc": {"op": "create", "collection": "bulk_bad"},
    "deep-doc": {"op": "put", "collection": "bulk_bad", "id": "x",
                 "doc": json.loads(deep_json(100))},
    "deep-patch": {"op": "patch", "collection": "bulk_bad", "id": "good-1",
                   "patch": json.loads(deep_json(100, "object"))},
    "op-not-object": "put",
}


@pytest.mark.parametrize("name", list(BAD_OPS))
def test_malformed_operation_rejects_everything(node, name):
    before = listed(node)
    ops = GOOD + [BAD_OPS[name]] + [{"op": "put", "collection": "bulk_bad", "id": "good-2",
                                     "doc": {}}]
    r = bulk(node, ops)
    p = assert_problem(r, 400, "invalid-bulk")
    assert re.search(r"\b2\b", p["detail"]), f"detail must name operation 2: {p['detail']!r}"
    for i in ("good-1", "good-2", "x"):
        assert node.get(doc_path("bulk_bad", i)).status == 404, f"{i} written by a rejected bulk"
    assert listed(node) == before


@pytest.mark.parametrize("raw", [b'{"ops": {}}', b'{"ops": "x"}', b'{}', b'[]',
                                 b'{"operations": []}', b'null'])
def test_malformed_request_shape(node, raw):
    before = listed(node)
    r = node.request("POST", BULK, raw, {"Content-Type": "application/json"})
    assert_problem(r, 400, "invalid-bulk")
    assert listed(node) == before


def test_bulk_body_syntax_and_media_type(node):
    before = listed(node)
    r = node.request("POST", BULK, b'{"ops": [', {"Content-Type": "application/json"})
    assert_problem(r, 400, "invalid-json")
    r = node.request("POST", BULK, jdumps({"ops": GOOD}), {"Content-Type": "text/plain"})
    assert_problem(r, 415, "unsupported-media-type")
    assert listed(node) == before
    # no Content-Type = JSON
    r = node.request("POST", BULK, jdumps({"ops": [GOOD[0]]}))
    assert_json_response(r, 200)
    assert node.get(doc_path("bulk_bad", "good-1")).status == 200
    node.request("DELETE", doc_path("bulk_bad", "good-1"))


def test_operation_count_limit(node):
    c = "bulk_limit"
    before = listed(node)
    ops = [{"op": "put", "collection": c, "id": f"d{k}", "doc": {"k": k}} for k in range(1001)]
    assert_problem(bulk(node, ops), 413, "too-many-operations")
    assert listed(node) == before
    assert node.get(doc_path(c, "d0")).status == 404

    r = bulk(node, ops[:1000])
    body = assert_json_response(r, 200)
    assert [e["status"] for e in body["results"]] == [201] * 1000
    assert listed(node)[c] == 1000
    idx = index_of(r)
    for k in (0, 500, 999):
        g = node.get(doc_path(c, f"d{k}"))
        assert g.status == 200 and json.loads(g.body) == {"k": k} and index_of(g) == idx
