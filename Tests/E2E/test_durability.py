"""Durability: acknowledged writes survive kill -9 and SIGTERM; backup + --restore."""

from __future__ import annotations

import http.client
import signal
import threading

from helpers import (assert_json_response, doc_path, index_of, jdumps,
                     snapshot_store, wait_until)

TOKEN = "durability-token"


def write_load(node, n_threads: int, per_thread: int, prefix: str, until_down: bool = False):
    """Start `n_threads` writers doing concurrent PUTs; returns (threads, acked, odd, lock).

    acked: {(collection, id): (rev, body, index)} for every write answered 2xx.
    odd: every non-2xx answer. Without `until_down`, every 10th id is also replaced
    (rev 2) and any error stops the writer; with `until_down`, each id is written once
    and a writer stops quietly when the server goes away or answers 503.
    """
    acked: dict = {}
    odd: list = []
    lock = threading.Lock()

    def worker(t):
        for k in range(per_thread):
            c = f"dur{t % 2}"
            i = f"{prefix}-{t}-{k}"
            for rev in ((1, 2) if k % 10 == 0 and not until_down else (1,)):
                body = jdumps({"t": t, "k": k, "rev": rev, "pad": "p" * (k % 50)})
                try:
                    r = node.request("PUT", doc_path(c, i), body,
                                     {"Content-Type": "application/json"}, timeout=30)
                except (OSError, http.client.HTTPException):
                    if not until_down:
                        raise
                    return  # server going away: this write was never acknowledged
                if r.status in (200, 201):
                    with lock:
                        acked[(c, i)] = (r.json()["rev"], body, index_of(r))
                else:
                    with lock:
                        odd.append(r)
                    return

    threads = [threading.Thread(target=worker, args=(t,), daemon=True) for t in range(n_threads)]
    for th in threads:
        th.start()
    return threads, acked, odd, lock


def verify(node, acked: dict):
    bad = []
    for (c, i), (rev, body, _) in sorted(acked.items()):
        g = node.get(doc_path(c, i))
        if g.status != 200 or g.body != body or g.headers.get("etag") != f'"{rev}"':
            bad.append(f"{c}/{i}: want rev {rev}; got {g.status} {g.headers.get('etag')} "
                       f"{g.body[:80]!r}")
    assert not bad, f"{len(bad)} acknowledged writes lost or wrong, e.g. {bad[:5]}"


def test_kill9_keeps_acknowledged_writes(node_factory):
    n = node_factory.new("n1")
    threads, acked, odd, _ = write_load(n, 4, 80, "k9")
    for th in threads:
        th.join(timeout=120)
        assert not th.is_alive(), "writers did not finish"
    assert not odd, [r.describe() for r in odd[:3]]
    assert len(acked) == 320
    max_idx = max(v[2] for v in acked.values())

    n.kill9()
    n.start()
    verify(n, acked)
    r = n.put_json(doc_path("dur0", "after-restart"), {})
    assert index_of(r) > max_idx, "write index must keep increasing across a restart"
    counts = {c["name"]: c["count"] for c in
              assert_json_response(n.get("/v1/collections"), 200)["collections"]}
    assert counts == {"dur0": 161, "dur1": 160}


def test_sigterm_restart_keeps_everything(node_factory):
    n = node_factory.new("n1")
    threads, acked, odd, _ = write_load(n, 4, 25, "st")
    for th in threads:
        th.join(timeout=120)
    assert not odd
    n.request("PUT", doc_path("bin", "b"), b"\x00\xffraw", {"Content-Type": "image/x-raw"})
    n.put_json(doc_path("dur0", "gone"), {})
    n.request("DELETE", doc_path("dur0", "gone"))
    known = {"dur0": [i for c, i in acked if c == "dur0"] + ["gone"],
             "dur1": [i for c, i in acked if c == "dur1"], "bin": ["b"]}
    before = snapshot_store(n, known)

    assert n.terminate() == 0, "SIGTERM must be a clean shutdown (exit code 0)"
    n.start()
    after = snapshot_store(n, known)
    assert after == before
    # the tombstone survived: re-creating continues the revision sequence
    r = n.put_json(doc_path("dur0", "gone"), {})
    assert r.status == 201 and r.headers.get("etag") == '"3"', r.describe()


def test_backup_and_restore(node_factory, tmp_path):
    a = node_factory.new("n1", admin_token=TOKEN)
    for k in range(30):
        a.put_json(doc_path("alpha", f"a{k}"), {"k": k, "even": k % 2 == 0})
    for k in range(5):
        a.put_json(doc_path("alpha", f"a{k}"), {"k": k, "v": 2})          # rev 2
    a.patch(doc_path("alpha", "a7"), {"patched": True})
    a.request("PUT", doc_path("beta", "img"), b"\x89PNG\r\n\x1a\n\x00\x01",
              {"Content-Type": "image/png"})
    a.put_json(doc_path("beta", "dead"), {})
    a.request("DELETE", doc_path("beta", "dead"))                          # tombstone rev 2
    a.put_json(doc_path("gamma", "only"), {"x": 1})
    a.request("DELETE", doc_path("gamma", "only"))                         # empty collection
    last = index_of(a.put_json(doc_path("beta", "last"), [1, 2, 3]))

    r = a.get("/admin/v1/backup", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)
    assert r.status == 200 and r.body.startswith(b"SQLite format 3\x00"), r.describe()[:300]
    backup_index = index_of(r)
    assert backup_index >= last
    f = tmp_path / "machdb-backup.sqlite"
    f.write_bytes(r.body)

    known = {"alpha": [f"a{k}" for k in range(30)], "beta": ["img", "dead", "last"],
             "gamma": ["only"]}
    want = snapshot_store(a, known)

    b = node_factory.new("n2", admin_token=TOKEN, start=False)
    assert not b.data_dir.exists() or not any(b.data_dir.iterdir())
    b.start(extra=["--restore", str(f)])
    got = snapshot_store(b, known)
    assert got["collections"] == want["collections"]
    assert got["queries"] == want["queries"]
    for k in want["raw"]:
        # X-Machdb-Index of each doc is part of the restored state too
        assert got["raw"][k] == want["raw"][k], f"{k}: {want['raw'][k]} -> {got['raw'][k]}"
    assert {c["name"] for c in got["collections"]["collections"]} == {"alpha", "beta"}

    # the restored node continues the index and the tombstones
    w = b.put_json(doc_path("beta", "dead"), {"back": True})
    assert w.status == 201 and w.headers.get("etag") == '"3"', w.describe()
    assert index_of(w) > backup_index
    # and the source is unaffected by the restored node's writes
    assert a.get(doc_path("beta", "dead")).status == 404

    # a restarted restored node starts normally (no --restore needed again)
    assert b.terminate() == 0
    b.start()
    assert b.get(doc_path("beta", "dead")).headers.get("etag") == '"3"'


def test_restore_into_existing_database_fails(node_factory, tmp_path):
    a = node_factory.new("n1", admin_token=TOKEN)
    a.put_json(doc_path("keep", "k"), {"v": "original"})
    r = a.get("/admin/v1/backup", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)
    assert r.status == 200
    f = tmp_path / "b.sqlite"
    f.write_bytes(r.body)
    a.put_json(doc_path("keep", "k"), {"v": "newer"})                      # rev 2, not in backup
    assert a.terminate() == 0

    log_before = len(a.log_text())
    a.launch(extra=["--restore", str(f)])
    code = a.wait_exit(15)
    assert code != 0, "--restore into a data dir that holds a database must fail"
    msg = a.log_text()[log_before:].lower()
    assert any(w in msg for w in ("exist", "already", "not empty", "refus")), \
        f"no clear message about the existing database: {msg[-1500:]!r}"

    a.start()
    g = a.get(doc_path("keep", "k"))
    assert g.status == 200 and g.body == b'{"v":"newer"}' and g.headers["etag"] == '"2"', \
        "a refused restore must leave the existing database untouched"


def test_sigterm_under_write_load(node_factory):
    n = node_factory.new("n1")
    threads, acked, odd, lock = write_load(n, 4, 100000, "load", until_down=True)
    wait_until(lambda: len(acked) >= 150, 60, "150 acknowledged writes")
    n.proc.send_signal(signal.SIGTERM)
    code = n.wait_exit(15)
    for th in threads:
        th.join(timeout=60)
        assert not th.is_alive()
    assert code == 0, f"SIGTERM under load must still exit 0 (got {code})"
    for r in odd:
        # the only acceptable refusal while shutting down is 503 (not-ready / overloaded)
        assert r.status == 503, r.describe()
        body = r.json()
        assert body.get("type") in ("urn:machdb:problem:not-ready",
                                    "urn:machdb:problem:overloaded"), r.describe()
        assert r.headers.get("retry-after") is not None, r.describe()
    with lock:
        snapshot = dict(acked)
    n.start()
    verify(n, snapshot)
