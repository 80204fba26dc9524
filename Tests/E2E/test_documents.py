"""Documents: PUT / POST / GET / HEAD / PATCH / DELETE and GET /v1/collections (API.md)."""

from __future__ import annotations

import json
import random
import re
import time

import pytest

from helpers import (assert_json_response, assert_problem, assert_served_by, bucket_of,
                     deep_json, doc_path, fnv1a64, index_of, media_type,
                     parse_http_date)

WRITE_KEYS = {"collection", "id", "rev", "bucket", "index"}


def check_write(r, status, collection, doc_id, rev):
    """A PUT/POST/PATCH response: status, ETag, X-Machdb-Index, exact body; returns index."""
    body = assert_json_response(r, status)
    idx = index_of(r)
    assert r.headers.get("etag") == f'"{rev}"', r.describe()
    assert set(body) == WRITE_KEYS, f"write body keys {sorted(body)}: {r.describe()}"
    assert body == {"collection": collection, "id": doc_id, "rev": rev,
                    "bucket": bucket_of(doc_id), "index": idx}, r.describe()
    if status == 201:
        loc = r.headers.get("location")
        assert loc is not None, f"201 without Location: {r.describe()}"
    return idx


def location_path(node, r) -> str:
    loc = r.headers["location"]
    if loc.startswith(node.url):
        loc = loc[len(node.url):]
    assert loc.startswith("/"), f"Location neither a path nor on {node.url}: {loc!r}"
    return loc


def test_fnv1a64_reference_vectors():
    # The harness's own hash must match the published vectors before it judges the server.
    assert fnv1a64(b"") == 0xCBF29CE484222325
    assert fnv1a64(b"a") == 0xAF63DC4C8601EC8C
    assert fnv1a64(b"foobar") == 0x85944171F73967E8


def test_put_create_then_replace(node):
    c, i = "docs_put", "alpha"
    r1 = node.request("PUT", doc_path(c, i), b'{"v":1}', {"Content-Type": "application/json"})
    idx1 = check_write(r1, 201, c, i, 1)
    assert location_path(node, r1) == doc_path(c, i)

    r2 = node.request("PUT", doc_path(c, i), b'{"v":2}', {"Content-Type": "application/json"})
    idx2 = check_write(r2, 200, c, i, 2)
    assert idx2 > idx1

    g = node.get(doc_path(c, i))
    assert g.status == 200 and g.body == b'{"v":2}', g.describe()
    assert g.headers.get("etag") == '"2"'


def test_get_is_byte_exact_with_headers(node):
    c, i = "docs_get", "exact-1"
    raw = b'{ "b" : [1, 2,  3],\n  "a": "x\\u00e9",  "n": 1.50 }'
    t0 = time.time()
    w = node.request("PUT", doc_path(c, i), raw, {"Content-Type": "application/json"})
    widx = check_write(w, 201, c, i, 1)

    g = node.get(doc_path(c, i))
    assert g.status == 200, g.describe()
    assert_served_by(g)
    assert g.body == raw
    assert g.headers.get("content-type") == "application/json", g.describe()
    assert g.headers.get("etag") == '"1"'
    assert g.headers.get("x-machdb-rev") == "1"
    assert g.headers.get("x-machdb-bucket") == str(bucket_of(i))
    assert index_of(g) == widx, "GET X-Machdb-Index must be the index of the last write"
    lm = g.headers.get("last-modified")
    assert lm is not None, g.describe()
    assert abs(parse_http_date(lm) - t0) < 120, f"Last-Modified {lm!r} far from now"
    if "content-length" in g.headers:
        assert int(g.headers["content-length"]) == len(raw)


def test_head_matches_get_without_body(node):
    c, i = "docs_head", "h1"
    node.request("PUT", doc_path(c, i), b'[1,2,3]', {"Content-Type": "application/json"})
    g = node.get(doc_path(c, i))
    h = node.request("HEAD", doc_path(c, i))
    assert h.status == 200 and h.body == b"", h.describe()
    assert_served_by(h)
    for k in ("content-type", "etag", "x-machdb-rev", "x-machdb-bucket", "x-machdb-index",
              "last-modified"):
        assert h.headers.get(k) == g.headers.get(k), f"HEAD {k}: {h.describe()}"
    if "content-length" in h.headers:
        assert int(h.headers["content-length"]) == len(g.body)

    missing = node.request("HEAD", doc_path(c, "nope"))
    assert missing.status == 404 and missing.body == b"", missing.describe()
    assert_served_by(missing)


def test_post_creates_with_server_id(node):
    c = "docs_post"
    body = b'{"x": 1}'
    r = node.request("POST", f"/v1/collections/{c}/docs", body,
                     {"Content-Type": "application/json"})
    b = assert_json_response(r, 201)
    new_id = b.get("id")
    assert isinstance(new_id, str) and re.fullmatch(r"[0-9a-z]{20}", new_id), r.describe()
    check_write(r, 201, c, new_id, 1)
    loc = location_path(node, r)
    assert loc == doc_path(c, new_id)
    g = node.get(loc)
    assert g.status == 200 and g.body == body, g.describe()

    ids = {new_id}
    for _ in range(10):
        r = node.request("POST", f"/v1/collections/{c}/docs", body,
                         {"Content-Type": "application/json"})
        ids.add(assert_json_response(r, 201)["id"])
    assert len(ids) == 11, "server-chosen ids must be unique"


def test_post_ids_are_time_ordered(node):
    c = "docs_post_order"
    ids = []
    for _ in range(3):
        r = node.post_json(f"/v1/collections/{c}/docs", {"k": 1})
        ids.append(assert_json_response(r, 201)["id"])
        # Let the wall clock move on by >= 5 ms (busy-wait with an explicit bound).
        t = time.time()
        deadline = time.monotonic() + 1.0
        while time.time() < t + 0.005 and time.monotonic() < deadline:
            pass
    assert ids == sorted(ids), f"ids created ms apart must sort in creation order: {ids}"


def test_any_json_value_is_a_document(node):
    c = "docs_values"
    for n, raw in enumerate([b"[1,2]", b'"str"', b"42", b"-0.5e3", b"null", b"true", b"{}"]):
        i = f"v{n}"
        r = node.request("PUT", doc_path(c, i), raw, {"Content-Type": "application/json"})
        check_write(r, 201, c, i, 1)
        g = node.get(doc_path(c, i))
        assert g.status == 200 and g.body == raw, g.describe()


JSON_MEDIA_TYPES = ["application/json", "application/json; charset=utf-8", "Application/JSON",
                    "application/vnd.machdb.test+json", "application/problem+json; charset=UTF-8"]


@pytest.mark.parametrize("n,ctype", list(enumerate(JSON_MEDIA_TYPES)))
def test_json_media_types_are_validated(node, n, ctype):
    c = "docs_mt"
    i = f"mt{n}"
    r = node.request("PUT", doc_path(c, i), b'{"a":', {"Content-Type": ctype})
    assert_problem(r, 400, "invalid-json")
    assert node.get(doc_path(c, i)).status == 404
    ok = node.request("PUT", doc_path(c, i), b'{"a":1}', {"Content-Type": ctype})
    check_write(ok, 201, c, i, 1)
    g = node.get(doc_path(c, i))
    assert g.body == b'{"a":1}' and g.headers.get("content-type") == ctype, g.describe()


def test_json_without_content_type_is_json(node):
    c, i = "docs_noctype", "nc1"
    r = node.request("PUT", doc_path(c, i), b'{"n": 7}')  # no Content-Type at all
    check_write(r, 201, c, i, 1)
    g = node.get(doc_path(c, i))
    assert g.status == 200 and g.body == b'{"n": 7}', g.describe()
    assert media_type(g.headers.get("content-type")) == "application/json", g.describe()
    q = assert_json_response(node.query(c, {"filter": {"n": 7}}), 200)
    assert [d["id"] for d in q["docs"]] == [i], "a body without Content-Type is JSON"

    bad = node.request("PUT", doc_path(c, "nc2"), b"not json")
    assert_problem(bad, 400, "invalid-json")
    empty = node.request("PUT", doc_path(c, "nc3"), b"")
    assert_problem(empty, 400, "invalid-json")
    assert node.get(doc_path(c, "nc2")).status == 404
    assert node.get(doc_path(c, "nc3")).status == 404


def test_non_json_bodies_are_byte_exact(node):
    c = "docs_bin"
    rng = random.Random(7)
    png = b"\x89PNG\r\n\x1a\n" + bytes(rng.getrandbits(8) for _ in range(70000)) + b"\x00\xff"
    cases = [
        ("img", png, "image/png"),
        ("txt", "héllo wörld\n{not json".encode("utf-8"), "text/plain; charset=utf-8"),
        ("empty", b"", "application/octet-stream"),
        ("nulls", b"\x00" * 1000, "application/octet-stream"),
    ]
    for i, raw, ctype in cases:
        r = node.request("PUT", doc_path(c, i), raw, {"Content-Type": ctype})
        check_write(r, 201, c, i, 1)
        g = node.get(doc_path(c, i))
        assert g.status == 200, g.describe()
        assert g.body == raw, f"{i}: stored bytes differ (len {len(g.body)} vs {len(raw)})"
        assert g.headers.get("content-type") == ctype, g.describe()
        assert g.headers.get("x-machdb-bucket") == str(bucket_of(i))
    # Non-JSON documents never take part in queries.
    q = assert_json_response(node.query(c, {}), 200)
    assert q["docs"] == [] and q["count"] == 0, q


def test_name_limits(node):
    c = "docs_names"
    for i in ["a", "A-Z_a.z~0-9", "x" * 128, "a.b", ".hidden", "~"]:
        r = node.put_json(doc_path(c, i), {"id": i})
        check_write(r, 201, c, i, 1)
        assert node.get(doc_path(c, i)).status == 200
    long_c = "c" * 128
    r = node.put_json(doc_path(long_c, "x"), {})
    check_write(r, 201, long_c, "x", 1)


def test_path_segments_are_percent_decoded(node):
    r = node.request("PUT", "/v1/collections/pct%5Fc%6Fll/docs/%61%62c~%2D1", b'{"p":1}')
    check_write(r, 201, "pct_coll", "abc~-1", 1)
    for target in ("/v1/collections/pct_coll/docs/abc~-1", "/v1/collections/pct%5fcoll/docs/abc%7E-1"):
        g = node.get(target)
        assert g.status == 200 and g.body == b'{"p":1}', g.describe()


def test_default_body_limit_16mib(node):
    c = "docs_body_limit"
    limit = 16 * 1024 * 1024
    ok = node.request("PUT", doc_path(c, "exact"), b"x" * limit,
                      {"Content-Type": "application/octet-stream"}, timeout=60)
    check_write(ok, 201, c, "exact", 1)
    g = node.get(doc_path(c, "exact"), timeout=60)
    assert g.status == 200 and len(g.body) == limit and g.body == b"x" * limit
    over = node.request("PUT", doc_path(c, "over"), b"x" * (limit + 1),
                        {"Content-Type": "application/octet-stream"}, timeout=60)
    assert_problem(over, 413, "body-too-large")
    assert node.get(doc_path(c, "over")).status == 404


def test_json_depth_limit_default_64(node):
    c = "docs_depth"
    for kind in ("array", "object"):
        ok = node.request("PUT", doc_path(c, f"d64{kind}"), deep_json(64, kind),
                          {"Content-Type": "application/json"})
        check_write(ok, 201, c, f"d64{kind}", 1)
        bad = node.request("PUT", doc_path(c, f"d65{kind}"), deep_json(65, kind),
                           {"Content-Type": "application/json"})
        assert_problem(bad, 400, "json-too-deep")
        assert node.get(doc_path(c, f"d65{kind}")).status == 404


def test_if_match(node):
    c, i = "docs_ifmatch", "m1"
    p = doc_path(c, i)
    check_write(node.put_json(p, {"v": 1}), 201, c, i, 1)
    check_write(node.put_json(p, {"v": 2}, {"If-Match": '"1"'}), 200, c, i, 2)

    stale = node.put_json(p, {"v": "stale"}, {"If-Match": '"1"'})
    assert_problem(stale, 412, "precondition-failed")
    g = node.get(p)
    assert g.body == b'{"v":2}' and g.headers["etag"] == '"2"', "412 must not change data"

    check_write(node.put_json(p, {"v": 3}, {"If-Match": '"7", "2", "9"'}), 200, c, i, 3)
    assert_problem(node.put_json(p, {"v": 0}, {"If-Match": '"7", "8"'}), 412,
                   "precondition-failed")
    check_write(node.put_json(p, {"v": 4}, {"If-Match": "*"}), 200, c, i, 4)

    # `*` means "must exist"; a specific rev cannot match a missing document either.
    for hdr in ("*", '"1"'):
        m = doc_path(c, "missing-" + ("star" if hdr == "*" else "rev"))
        assert_problem(node.put_json(m, {"v": 1}, {"If-Match": hdr}), 412,
                       "precondition-failed")
        assert node.get(m).status == 404, "412 must not create the document"
    assert node.get(p).headers["etag"] == '"4"'


def test_if_none_match_star_on_put(node):
    c, i = "docs_inm", "n1"
    p = doc_path(c, i)
    check_write(node.put_json(p, {"v": 1}, {"If-None-Match": "*"}), 201, c, i, 1)
    r = node.put_json(p, {"v": 2}, {"If-None-Match": "*"})
    assert_problem(r, 412, "precondition-failed")
    g = node.get(p)
    assert g.body == b'{"v":1}' and g.headers["etag"] == '"1"'


def test_get_if_none_match_304(node):
    c, i = "docs_304", "c1"
    p = doc_path(c, i)
    node.put_json(p, {"v": 1})
    for hdr in ('"1"', '"5", "1"', "*"):
        r = node.get(p, headers={"If-None-Match": hdr})
        assert r.status == 304, f"If-None-Match {hdr}: {r.describe()}"
        assert r.body == b"" and r.headers.get("etag") == '"1"', r.describe()
        assert_served_by(r)
    r = node.get(p, headers={"If-None-Match": '"2"'})
    assert r.status == 200 and r.body == b'{"v":1}', r.describe()
    h = node.request("HEAD", p, headers={"If-None-Match": '"1"'})
    assert h.status == 304 and h.headers.get("etag") == '"1"', h.describe()


RFC7396_CASES = [
    ('{"a":"b"}', '{"a":"c"}', '{"a":"c"}'),
    ('{"a":"b"}', '{"b":"c"}', '{"a":"b","b":"c"}'),
    ('{"a":"b"}', '{"a":null}', '{}'),
    ('{"a":"b","b":"c"}', '{"a":null}', '{"b":"c"}'),
    ('{"a":["b"]}', '{"a":"c"}', '{"a":"c"}'),
    ('{"a":"c"}', '{"a":["b"]}', '{"a":["b"]}'),
    ('{"a":{"b":"c"}}', '{"a":{"b":"d","c":null}}', '{"a":{"b":"d"}}'),
    ('{"a":[{"b":"c"}]}', '{"a":[1]}', '{"a":[1]}'),
    ('["a","b"]', '["c","d"]', '["c","d"]'),
    ('{"a":"b"}', '["c"]', '["c"]'),
    ('{"a":"foo"}', 'null', 'null'),
    ('{"a":"foo"}', '"bar"', '"bar"'),
    ('{"e":null}', '{"a":1}', '{"e":null,"a":1}'),
    ('[1,2]', '{"a":"b","c":null}', '{"a":"b"}'),
    ('{}', '{"a":{"bb":{"ccc":null}}}', '{"a":{"bb":{}}}'),
]


@pytest.mark.parametrize("n,case", list(enumerate(RFC7396_CASES)))
def test_patch_rfc7396_appendix_a(node, n, case):
    original, patch, expected = case
    c, i = "docs_rfc7396", f"case{n}"
    p = doc_path(c, i)
    check_write(node.request("PUT", p, original.encode(), {"Content-Type": "application/json"}),
                201, c, i, 1)
    r = node.request("PATCH", p, patch.encode(),
                     {"Content-Type": "application/merge-patch+json"})
    check_write(r, 200, c, i, 2)
    g = node.get(p)
    assert g.status == 200, g.describe()
    assert json.loads(g.body) == json.loads(expected), \
        f"merge {original} with {patch}: got {g.body!r}, want {expected}"
    assert media_type(g.headers.get("content-type")) == "application/json"


def test_patch_merge_semantics_and_etag(node):
    c, i = "docs_patch", "p1"
    p = doc_path(c, i)
    orig = {"a": {"b": 1, "c": {"d": 2}}, "keep": True, "gone": 1, "arr": [1, 2, 3]}
    w = node.put_json(p, orig)
    idx1 = check_write(w, 201, c, i, 1)
    patch = {"a": {"c": {"e": 3}, "b": None}, "gone": None, "arr": [9], "new": "x"}
    r = node.patch(p, patch, {"If-Match": '"1"'})
    idx2 = check_write(r, 200, c, i, 2)
    assert idx2 > idx1
    g = node.get(p)
    assert json.loads(g.body) == {"a": {"c": {"d": 2, "e": 3}}, "keep": True, "arr": [9],
                                  "new": "x"}
    assert g.headers["etag"] == '"2"' and index_of(g) == idx2

    stale = node.patch(p, {"z": 1}, {"If-Match": '"1"'})
    assert_problem(stale, 412, "precondition-failed")
    assert node.get(p).body == g.body


def test_patch_errors(node):
    c = "docs_patch_err"
    p = doc_path(c, "j")
    node.put_json(p, {"a": 1})
    before = node.get(p)

    for hdrs in ({"Content-Type": "application/json"}, {}, {"Content-Type": "text/plain"}):
        r = node.request("PATCH", p, b'{"a":2}', hdrs)
        assert_problem(r, 415, "unsupported-media-type")

    r = node.request("PATCH", p, b'{"a":', {"Content-Type": "application/merge-patch+json"})
    assert_problem(r, 400, "invalid-patch")
    r = node.request("PATCH", p, deep_json(65), {"Content-Type": "application/merge-patch+json"})
    assert_problem(r, 400, "json-too-deep")

    after = node.get(p)
    assert (after.body, after.headers["etag"]) == (before.body, before.headers["etag"])

    assert_problem(node.patch(doc_path(c, "absent"), {"a": 1}), 404, "not-found")
    assert node.get(doc_path(c, "absent")).status == 404

    b = doc_path(c, "blob")
    node.request("PUT", b, b"\x01\x02binary", {"Content-Type": "application/octet-stream"})
    assert_problem(node.patch(b, {"a": 1}), 409, "not-json")
    t = doc_path(c, "text")
    node.request("PUT", t, b'{"looks": "like json"}', {"Content-Type": "text/plain"})
    assert_problem(node.patch(t, {"a": 1}), 409, "not-json")
    g = node.get(b)
    assert g.body == b"\x01\x02binary" and g.headers["etag"] == '"1"'


def test_delete_and_tombstone(node):
    c, i = "docs_del", "d1"
    p = doc_path(c, i)
    check_write(node.put_json(p, {"v": 1}), 201, c, i, 1)

    assert_problem(node.request("DELETE", p, headers={"If-Match": '"9"'}), 412,
                   "precondition-failed")
    assert node.get(p).status == 200

    r = node.request("DELETE", p, headers={"If-Match": '"1"'})
    body = assert_json_response(r, 200)
    idx = index_of(r)
    assert body == {"collection": c, "id": i, "rev": 2, "bucket": bucket_of(i), "index": idx,
                    "deleted": True}, r.describe()

    assert_problem(node.get(p), 404, "not-found")
    h = node.request("HEAD", p)
    assert h.status == 404 and h.body == b""
    assert_problem(node.request("DELETE", p), 404, "not-found")
    assert_problem(node.patch(p, {"v": 2}), 404, "not-found")

    # Re-creating continues after the tombstone's rev; If-None-Match * is satisfied.
    r = node.put_json(p, {"v": "again"}, {"If-None-Match": "*"})
    check_write(r, 201, c, i, 3)
    g = node.get(p)
    assert g.headers["etag"] == '"3"' and g.headers["x-machdb-rev"] == "3"

    r = node.request("DELETE", p)
    b2 = assert_json_response(r, 200)
    assert b2["rev"] == 4 and b2["deleted"] is True
    check_write(node.put_json(p, {"v": 5}), 201, c, i, 5)


def test_write_indexes_strictly_increase(node):
    c = "docs_idx"
    seen = []
    r = node.put_json(doc_path(c, "a"), {"n": 0})
    seen.append(index_of(r))
    r = node.post_json(f"/v1/collections/{c}/docs", {"n": 1})
    seen.append(index_of(r))
    r = node.patch(doc_path(c, "a"), {"n": 2})
    seen.append(index_of(r))
    r = node.request("PUT", doc_path(c, "b"), b"raw", {"Content-Type": "text/plain"})
    seen.append(index_of(r))
    r = node.request("DELETE", doc_path(c, "b"))
    seen.append(index_of(r))
    r = node.post_json("/v1/_bulk", {"ops": [{"op": "put", "collection": c, "id": "c",
                                              "doc": {}}]})
    seen.append(index_of(r))
    for k in range(10):
        seen.append(index_of(node.put_json(doc_path(c, "a"), {"n": k})))
    assert all(a < b for a, b in zip(seen, seen[1:])), f"indexes not increasing: {seen}"


def test_collections_listing(node_factory):
    n = node_factory.new("n1")
    r = n.get("/v1/collections")
    assert assert_json_response(r, 200) == {"collections": []}

    for i in range(3):
        n.put_json(doc_path("zeta", f"z{i}"), {"i": i})
    n.put_json(doc_path("zeta", "z0"), {"i": "replaced"})         # replace: same count
    n.put_json(doc_path("alpha", "a0"), {})
    n.request("PUT", doc_path("alpha", "a1"), b"\x00bin", {"Content-Type": "image/png"})
    n.put_json(doc_path("alpha", "a2"), [1])
    n.put_json(doc_path("alpha", "gone"), {})
    n.request("DELETE", doc_path("alpha", "gone"))                 # deleted: not counted
    n.put_json(doc_path("mid", "m0"), {})
    n.request("DELETE", doc_path("mid", "m0"))                     # now empty: not listed
    n.put_json(doc_path("Upper", "u"), {})
    # failed writes create nothing
    n.request("PUT", doc_path("failed", "x"), b"{", {"Content-Type": "application/json"})

    r = n.get("/v1/collections")
    assert assert_json_response(r, 200) == {"collections": [
        {"name": "Upper", "count": 1},
        {"name": "alpha", "count": 3},
        {"name": "zeta", "count": 3},
    ]}, r.describe()
    h = n.request("HEAD", "/v1/collections")
    assert h.status == 200 and h.body == b""
