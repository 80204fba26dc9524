"""Session reads: X-Machdb-Min-Index waits bounded by --read-wait; consistency levels."""

from __future__ import annotations

import threading
import time

import pytest

from helpers import assert_problem, doc_path, index_of

READ_WAIT_MS = 300


@pytest.fixture(scope="module")
def snode(module_node_factory):
    return module_node_factory.new("n1", extra_args=["--read-wait", str(READ_WAIT_MS)])


def test_min_index_already_applied(snode):
    w = snode.put_json(doc_path("s", "a"), {"v": 1})
    idx = index_of(w)
    for mi in (idx, idx - 1, 0):
        t0 = time.monotonic()
        r = snode.get(doc_path("s", "a"), headers={"X-Machdb-Min-Index": str(mi)})
        assert r.status == 200 and r.body == b'{"v":1}', r.describe()
        assert time.monotonic() - t0 < READ_WAIT_MS / 1000, "must not wait for an applied index"
    # the index of the latest write of another document also counts
    w2 = snode.put_json(doc_path("s", "b"), {"v": 2})
    r = snode.get(doc_path("s", "a"), headers={"X-Machdb-Min-Index": str(index_of(w2))})
    assert r.status == 200, r.describe()
    # a reached index does not hide a 404
    assert_problem(snode.get(doc_path("s", "nope"), headers={"X-Machdb-Min-Index": str(idx)}),
                   404, "not-found")


def test_min_index_in_the_future_times_out(snode):
    w = snode.put_json(doc_path("s", "c"), {"v": 3})
    future = index_of(w) + 1_000_000
    t0 = time.monotonic()
    r = snode.get(doc_path("s", "c"), headers={"X-Machdb-Min-Index": str(future)})
    elapsed = time.monotonic() - t0
    assert_problem(r, 504, "index-not-reached")
    assert elapsed >= (READ_WAIT_MS / 1000) * 0.9, f"answered after {elapsed:.3f}s, before " \
        f"--read-wait {READ_WAIT_MS} ms elapsed"
    assert elapsed < 1.0, f"504 took {elapsed:.3f}s with --read-wait {READ_WAIT_MS} ms"
    for c in ("eventual", "session", "strong"):
        r = snode.get(doc_path("s", "c") + f"?consistency={c}",
                      headers={"X-Machdb-Min-Index": str(future)})
        assert_problem(r, 504, "index-not-reached")


def test_min_index_reached_while_waiting(snode):
    idx = index_of(snode.put_json(doc_path("s", "d"), {"v": 4}))
    out = {}

    def reader():
        out["r"] = snode.get(doc_path("s", "d"), headers={"X-Machdb-Min-Index": str(idx + 1)})

    t = threading.Thread(target=reader)
    t.start()
    w = snode.put_json(doc_path("s", "d"), {"v": 5})   # index idx+1 (nothing else writes)
    assert index_of(w) == idx + 1
    t.join(timeout=10)
    assert not t.is_alive()
    r = out["r"]
    assert r.status == 200 and r.body == b'{"v":5}', r.describe()


@pytest.mark.parametrize("consistency", ["eventual", "session", "strong"])
def test_consistency_levels(snode, consistency):
    w = snode.put_json(doc_path("s", "lvl"), {"c": consistency})
    r = snode.get(doc_path("s", "lvl") + f"?consistency={consistency}")
    assert r.status == 200, r.describe()
    assert r.headers.get("etag") == w.headers.get("etag")
    assert r.body == ('{"c":"%s"}' % consistency).encode()
    h = snode.request("HEAD", doc_path("s", "lvl") + f"?consistency={consistency}")
    assert h.status == 200 and h.body == b""
    r = snode.get(doc_path("s", "lvl") + f"?consistency={consistency}",
                  headers={"X-Machdb-Min-Index": str(index_of(w))})
    assert r.status == 200, r.describe()
