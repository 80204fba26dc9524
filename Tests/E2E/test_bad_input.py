"""Hostile and malformed input: every bad request gets the exact problem response from
API.md, nothing it carries is stored, and the node stays up and healthy.

The module's node is seeded once; the last test compares a full snapshot of the store
with the one taken before the first bad request.
"""

from __future__ import annotations

import http.client
import json
import socket
import time

import pytest

from helpers import (assert_json_response, assert_problem, assert_served_by, deep_json,
                     doc_path, parse_allow, snapshot_store)

SEED = {
    "bad_a": {"a1": {"v": 1}, "a2": {"v": [1, 2, {"x": None}]}, "a3": "just a string"},
    "bad_b": {"b1": {"nested": {"k": "v"}}},
}
SEED_RAW = {"bad_b": {"b2": (b"\x00\x01\x02\xff", "application/octet-stream")}}
# Ids the bad requests below try to write: they must still be absent at the end.
PROBES = {"bad_a": ["new", "x", "big", "chunked", "deep", "deep-obj", "hdr"],
          "bad_b": ["x"]}


@pytest.fixture(scope="module")
def seeded(node):
    for c, docs in SEED.items():
        for i, d in docs.items():
            r = node.put_json(doc_path(c, i), d)
            assert r.status == 201, r.describe()
    for c, docs in SEED_RAW.items():
        for i, (raw, ct) in docs.items():
            r = node.request("PUT", doc_path(c, i), raw, {"Content-Type": ct})
            assert r.status == 201, r.describe()
    node.put_json(doc_path("bad_a", "a1"), {"v": 2})          # rev 2
    known = {c: list(SEED.get(c, {})) + list(SEED_RAW.get(c, {})) + PROBES.get(c, [])
             for c in set(SEED) | set(SEED_RAW) | set(PROBES)}
    node.snapshot_known = known
    node.snapshot_before = snapshot_store(node, known)
    return node


JSON_CT = {"Content-Type": "application/json"}


@pytest.mark.parametrize("raw", [b'{"a":', b"{'a': 1}", b'{"a": 1} x', b"[1,]", b"",
                                 b'"\xff\xfe"', b"NaN", b'{"a": 01}', b"\xef\xbb\xbf{}x",
                                 b'{"a":"\x01"}'])
def test_invalid_json(seeded, raw):
    assert_problem(seeded.request("PUT", doc_path("bad_a", "new"), raw, JSON_CT), 400,
                   "invalid-json")
    assert_problem(seeded.request("POST", "/v1/collections/bad_a/docs", raw, JSON_CT), 400,
                   "invalid-json")


@pytest.mark.parametrize("kind", ["array", "object"])
def test_json_nested_10000_deep(seeded, kind):
    i = "deep" if kind == "array" else "deep-obj"
    r = seeded.request("PUT", doc_path("bad_a", i), deep_json(10000, kind), JSON_CT)
    assert_problem(r, 400, "json-too-deep")
    r = seeded.request("PATCH", doc_path("bad_a", "a1"), deep_json(10000, kind),
                       {"Content-Type": "application/merge-patch+json"})
    assert_problem(r, 400, "json-too-deep")


def _stream_body(node, total: int, chunked: bool, chunk: int = 1 << 20):
    """Send a `total`-byte body; returns (response or None, bytes sent, error or None)."""
    sock = socket.create_connection(("127.0.0.1", node.port), timeout=15)
    conn = http.client.HTTPConnection("127.0.0.1", node.port, timeout=15)
    conn.sock = sock
    sent = 0
    err = None
    try:
        conn.putrequest("PUT", doc_path("bad_a", "chunked" if chunked else "big"))
        conn.putheader("Content-Type", "application/octet-stream")
        if chunked:
            conn.putheader("Transfer-Encoding", "chunked")
        else:
            conn.putheader("Content-Length", str(total))
        conn.endheaders()
        block = b"z" * chunk
        while sent < total:
            n = min(chunk, total - sent)
            data = block[:n]
            if chunked:
                data = b"%x\r\n" % n + data + b"\r\n"
            sock.sendall(data)
            sent += n
        if chunked:
            sock.sendall(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError, socket.timeout) as e:
        err = e
    try:
        resp = conn.getresponse()
        body = resp.read()
        headers = {k.lower(): v for k, v in resp.getheaders()}
        return (resp.status, headers, body), sent, err
    except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected,
            socket.timeout) as e:
        return None, sent, err or e
    finally:
        conn.close()


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_64mib_body_is_refused(seeded, chunked):
    resp, sent, err = _stream_body(seeded, 64 << 20, chunked)
    if resp is not None:
        status, headers, body = resp
        assert status == 413, (status, headers, body[:300])
        assert headers.get("content-type", "").split(";")[0] == "application/problem+json"
        assert "x-machdb-served-by" in headers
        assert json.loads(body)["type"] == "urn:machdb:problem:body-too-large"
    else:
        # The server may answer 413 and close while we are still sending; we then see a
        # reset. That is only acceptable if the server stopped reading early.
        assert err is not None and sent < (64 << 20), (sent, err)
    assert seeded.get("/healthz").status == 200, "server must survive a 64 MiB body"


def test_oversized_content_length_answered_before_body(seeded):
    """API.md: 413 `as soon as Content-Length says so` — no body byte is ever sent."""
    with socket.create_connection(("127.0.0.1", seeded.port), timeout=5) as s:
        s.sendall(b"PUT /v1/collections/bad_a/docs/big HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  b"Content-Type: application/json\r\nContent-Length: 67108864\r\n\r\n")
        resp = http.client.HTTPResponse(s, method="PUT")
        try:
            resp.begin()
        except socket.timeout:
            pytest.fail("no answer within 5 s to a request whose Content-Length exceeds the "
                        "limit (API.md: answered as soon as Content-Length says so)")
        assert resp.status == 413, resp.status
        body = resp.read(4096) if resp.length is None else resp.read()
        assert resp.getheader("Content-Type", "").split(";")[0] == "application/problem+json"
        assert resp.getheader("X-Machdb-Served-By") is not None
        assert b"urn:machdb:problem:body-too-large" in body


def test_expect_100_continue_with_oversized_length(seeded):
    with socket.create_connection(("127.0.0.1", seeded.port), timeout=5) as s:
        s.sendall(b"PUT /v1/collections/bad_a/docs/big HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  b"Content-Type: application/json\r\nExpect: 100-continue\r\n"
                  b"Content-Length: 67108864\r\n\r\n")
        head = b""
        try:
            while b"\r\n\r\n" not in head:
                chunk = s.recv(4096)
                if not chunk:
                    break
                head += chunk
        except socket.timeout:
            pass
        status_line = head.split(b"\r\n", 1)[0]
        assert status_line.startswith(b"HTTP/1.1 413"), \
            f"expected an immediate 413 (not 100 Continue) for an oversized body: {head[:200]!r}"


BAD_IDS = ["a%2Fb", "a%2fb", "a%20b", "..", "%2E%2E", "a..b", ".", "x" * 129, "%C3%A9",
           "a%00b", "a%3Fb", "a%23", "a+b", "a%25"]


@pytest.mark.parametrize("bad", BAD_IDS, ids=[b[:20] for b in BAD_IDS])
def test_invalid_document_ids(seeded, bad):
    p = doc_path("bad_a", bad)
    assert_problem(seeded.put_json(p, {"v": 1}), 400, "invalid-id")
    assert_problem(seeded.get(p), 400, "invalid-id")
    assert_problem(seeded.request("DELETE", p), 400, "invalid-id")
    assert_problem(seeded.patch(p, {"v": 1}), 400, "invalid-id")


BAD_COLLECTIONS = ["a%2Fb", "..", "%2e%2e", "a..b", "c" * 129, "a%20b", "%C3%A9"]


@pytest.mark.parametrize("bad", BAD_COLLECTIONS, ids=[b[:20] for b in BAD_COLLECTIONS])
def test_invalid_collection_names(seeded, bad):
    assert_problem(seeded.put_json(doc_path(bad, "x"), {"v": 1}), 400, "invalid-collection")
    assert_problem(seeded.get(doc_path(bad, "x")), 400, "invalid-collection")
    assert_problem(seeded.post_json(f"/v1/collections/{bad}/docs", {}), 400,
                   "invalid-collection")
    assert_problem(seeded.post_json(f"/v1/collections/{bad}/query", {}), 400,
                   "invalid-collection")


def test_wrong_patch_content_type(seeded):
    for ct in ("application/json", "text/plain", None):
        h = {"Content-Type": ct} if ct else {}
        r = seeded.request("PATCH", doc_path("bad_a", "a1"), b'{"v": 99}', h)
        assert_problem(r, 415, "unsupported-media-type")


def test_unknown_query_operator_and_bad_cursor(seeded):
    assert_problem(seeded.query("bad_a", {"filter": {"v": {"approx": 1}}}), 400, "invalid-query")
    assert_problem(seeded.query("bad_a", {"after": "not-a-cursor"}), 400, "invalid-cursor")


@pytest.mark.parametrize("name,value", [
    ("If-Match", "1"), ("If-Match", "2"), ("If-Match", '"1'), ("If-Match", "W/"),
    ("If-None-Match", "x"), ("If-None-Match", '"1'), ("If-Match", '"1" "2"'),
])
def test_malformed_precondition_headers(seeded, name, value):
    p = doc_path("bad_a", "a1")
    assert_problem(seeded.put_json(p, {"v": "hdr"}, {name: value}), 400, "invalid-header")
    assert_problem(seeded.put_json(doc_path("bad_a", "hdr"), {"v": 1}, {name: value}), 400,
                   "invalid-header")
    if name == "If-Match":
        assert_problem(seeded.request("DELETE", p, headers={name: value}), 400,
                       "invalid-header")
        assert_problem(seeded.patch(p, {"v": "hdr"}, {name: value}), 400, "invalid-header")
    else:
        assert_problem(seeded.get(p, headers={name: value}), 400, "invalid-header")


@pytest.mark.parametrize("value", ["1", "2", "x", '"1', '"2" "1"', "W/"])
def test_malformed_if_none_match_on_get(seeded, value):
    # entity-tags are quoted (RFC 9110 §8.8.3): an unquoted rev is malformed, not a rev
    r = seeded.get(doc_path("bad_a", "a1"), headers={"If-None-Match": value})
    assert_problem(r, 400, "invalid-header")


@pytest.mark.parametrize("value", ["abc", "-1", "1.5", "0x10", "1 2"])
def test_malformed_min_index(seeded, value):
    r = seeded.get(doc_path("bad_a", "a1"), headers={"X-Machdb-Min-Index": value})
    assert_problem(r, 400, "invalid-header")


@pytest.mark.parametrize("qs", ["consistency=sometimes", "consistency=eventually", "consistency="])
def test_bad_consistency_parameter(seeded, qs):
    assert_problem(seeded.get(doc_path("bad_a", "a1") + "?" + qs), 400, "invalid-parameter")


@pytest.mark.parametrize("method,path", [
    ("GET", "/"), ("GET", "/v1"), ("GET", "/v1/nope"), ("GET", "/v2/collections"),
    ("GET", "/v1/collections/bad_a/nope"), ("GET", "/v1/collections/bad_a/docs/a1/extra"),
    ("POST", "/v1/collections/bad_a/nope"), ("GET", "/admin/v1/nope"), ("GET", "/metricsx"),
    ("DELETE", "/nope"),
])
def test_unknown_route(seeded, method, path):
    assert_problem(seeded.request(method, path), 404, "not-found")


@pytest.mark.parametrize("method,path,must_allow", [
    ("DELETE", "/v1/collections", {"GET", "HEAD"}),
    ("POST", "/v1/collections", {"GET", "HEAD"}),
    ("GET", "/v1/_bulk", {"POST"}),
    ("PUT", "/v1/_bulk", {"POST"}),
    ("POST", "/v1/collections/bad_a/docs/a1", {"GET", "HEAD", "PUT", "PATCH", "DELETE"}),
    ("GET", "/v1/collections/bad_a/docs", {"POST"}),
    ("PUT", "/v1/collections/bad_a/docs", {"POST"}),
    ("GET", "/v1/collections/bad_a/query", {"POST"}),
    ("POST", "/healthz", {"GET", "HEAD"}),
    ("DELETE", "/readyz", {"GET", "HEAD"}),
    ("PUT", "/metrics", {"GET", "HEAD"}),
])
def test_wrong_method(seeded, method, path, must_allow):
    r = seeded.request(method, path, b"{}" if method in ("PUT", "POST") else None)
    assert_problem(r, 405, "method-not-allowed")
    allow = parse_allow(r)
    assert must_allow <= allow, f"Allow {allow} must include {must_allow}"
    assert method not in allow


def test_garbage_on_the_wire(seeded):
    """Raw protocol garbage must not take the server down."""
    for junk in (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,  # TLS hello
                 b"GET / HTTP/9.9\r\n\r\n", b"NOT HTTP AT ALL\r\n\r\n",
                 b"GET /v1/collections HTTP/1.1\r\nHost: x\r\n" + b"X: " + b"y" * 100000 + b"\r\n\r\n"):
        with socket.create_connection(("127.0.0.1", seeded.port), timeout=5) as s:
            try:
                s.sendall(junk)
                s.shutdown(socket.SHUT_WR)
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline and s.recv(65536):
                    pass
            except OSError:  # reset / not connected / timeout: the server hung up on us
                pass
    assert seeded.get("/healthz").status == 200


def test_zz_store_unchanged_and_node_healthy(seeded):
    # Runs last in this module (pytest keeps file order).
    after = snapshot_store(seeded, seeded.snapshot_known)
    before = seeded.snapshot_before
    assert after["collections"] == before["collections"]
    assert after["queries"] == before["queries"]
    for k in before["raw"]:
        assert after["raw"][k] == before["raw"][k], f"{k} changed: {before['raw'][k]} -> {after['raw'][k]}"
    for c, ids in PROBES.items():
        for i in ids:
            assert before["raw"][(c, i)][0] == 404
    assert seeded.is_running(), "the node process died"
    h = seeded.get("/healthz")
    assert assert_json_response(h, 200) == {"status": "ok", "node": seeded.node_id}
    assert assert_json_response(seeded.get("/readyz"), 200) == {"status": "ready"}
    w = seeded.put_json(doc_path("bad_c", "after"), {"ok": True})
    assert w.status == 201, w.describe()


def test_configured_limits(node_factory):
    n = node_factory.new("lim", extra_args=["--max-body-bytes", "1024", "--max-json-depth", "5"])
    ok = n.request("PUT", doc_path("c", "ok"), b"x" * 1024, {"Content-Type": "text/plain"})
    assert ok.status == 201, ok.describe()
    big = n.request("PUT", doc_path("c", "big"), b"x" * 1025, {"Content-Type": "text/plain"})
    assert_problem(big, 413, "body-too-large")
    assert n.get(doc_path("c", "big")).status == 404
    assert n.request("PUT", doc_path("c", "d5"), deep_json(5), JSON_CT).status == 201
    assert_problem(n.request("PUT", doc_path("c", "d6"), deep_json(6), JSON_CT), 400,
                   "json-too-deep")
    assert_problem(n.request("PUT", doc_path("c", "d6o"), deep_json(6, "object"), JSON_CT), 400,
                   "json-too-deep")
    assert n.get(doc_path("c", "d6")).status == 404
    assert_served_by(n.get("/healthz"))


def test_overloaded_write_queue(node_factory):
    """--write-queue 1 under 32 concurrent writers: some writes get 503 overloaded with
    Retry-After: 1; a refused write is not stored, an acknowledged one is."""
    import threading
    n = node_factory.new("ovl", extra_args=["--write-queue", "1"])
    results: dict = {}
    lock = threading.Lock()

    def writer(t):
        for k in range(40):
            i = f"d{t}-{k}"
            r = n.request("PUT", doc_path("ovl", i), b'{"x": "' + b"y" * 1000 + b'"}', JSON_CT)
            with lock:
                results[i] = r

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(32)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
        assert not th.is_alive()
    refused = [r for r in results.values() if r.status == 503]
    assert refused, "a one-slot write queue under 32 writers never answered 503 overloaded"
    for r in results.values():
        if r.status == 503:
            assert_problem(r, 503, "overloaded")
            assert r.headers.get("retry-after") == "1", r.describe()
        else:
            assert r.status == 201, r.describe()
    for i, r in results.items():
        g = n.get(doc_path("ovl", i))
        assert g.status == (200 if r.status == 201 else 404), f"{i}: write {r.status}, GET {g.status}"
    listed = assert_json_response(n.get("/v1/collections"), 200)["collections"]
    assert listed == [{"name": "ovl", "count": sum(r.status == 201 for r in results.values())}]
