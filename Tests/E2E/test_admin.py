"""Health, metrics, admin routes (bearer token), and `machdb ctl` (API.md)."""

from __future__ import annotations

import re
import sqlite3

import pytest

from helpers import (assert_json_response, assert_problem, assert_served_by, doc_path,
                     index_of, media_type)

TOKEN = "e2e-admin-token-7f3a"


@pytest.fixture(scope="module")
def anode(module_node_factory):
    n = module_node_factory.new("n1", admin_token=TOKEN)
    r = n.put_json(doc_path("adm", "first"), {"hello": "admin"})
    assert r.status == 201, r.describe()
    return n


def auth(token=TOKEN):
    return {"Authorization": f"Bearer {token}"}


def test_healthz_readyz(anode):
    assert assert_json_response(anode.get("/healthz"), 200) == {"status": "ok", "node": "n1"}
    assert assert_json_response(anode.get("/readyz"), 200) == {"status": "ready"}
    for p in ("/healthz", "/readyz"):
        h = anode.request("HEAD", p)
        assert h.status == 200 and h.body == b"", h.describe()


# --------------------------------------------------------------------------- metrics

_SAMPLE = re.compile(
    r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})?'
    r' ([-+]?(?:[0-9.eE+-]+|NaN|\+Inf|-Inf|Inf))( [0-9]+)?$')


def parse_metrics(text: str):
    """-> (types {family: type}, samples [(name, labels-str, value)])."""
    types, samples = {}, []
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith("#"):
            m = re.match(r"# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (\w+)$", line)
            if m:
                types[m.group(1)] = m.group(2)
            continue
        m = _SAMPLE.match(line)
        assert m, f"not Prometheus text format: {line!r}"
        samples.append((m.group(1), m.group(2) or "", float(m.group(3))))
    return types, samples


def scrape(node):
    r = node.get("/metrics")
    assert r.status == 200, r.describe()
    assert_served_by(r)
    ct = r.headers.get("content-type", "")
    assert media_type(ct) == "text/plain" and "version=0.0.4" in ct.replace(" ", ""), ct
    return parse_metrics(r.body.decode("utf-8"))


def families(types, kind, *needles):
    return [f for f, t in types.items() if t == kind
            and all(re.search(n, f) for n in needles)]


def total(samples, name):
    return sum(v for n, _, v in samples if n == name)


def family_total(samples, family):
    """Sum of a counter family (exposed as `family` or `family_total`)."""
    return sum(v for n, _, v in samples if n in (family, family + "_total"))


def labels(lbl: str) -> dict:
    return dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', lbl))


def test_metrics_exposition(anode):
    types, samples = scrape(anode)
    # every sample belongs to a declared family
    for name, _, _ in samples:
        base = re.sub(r"_(bucket|sum|count|total|created)$", "", name)
        assert name in types or base in types, f"sample {name} has no # TYPE line"

    reqs = families(types, "counter", "request")
    assert reqs, f"no request counter among {sorted(types)}"

    lat = families(types, "histogram", "(duration|latency|seconds)")
    assert lat, f"no latency histogram among {sorted(types)}"
    batch = families(types, "histogram", "batch")
    assert batch, f"no group-commit batch-size histogram among {sorted(types)}"
    size = [f for f, t in types.items() if t == "gauge"
            and re.search(r"(storage|db|database|sqlite|wal|disk)", f)
            and re.search(r"(size|bytes)", f)]
    assert size, f"no storage size gauge among {sorted(types)}"
    assert total(samples, size[0]) > 0

    for h in lat + batch:
        buckets = [(lbl, v) for n, lbl, v in samples if n == f"{h}_bucket"]
        assert buckets, f"{h}: no _bucket{{ lines"
        assert any('le="+Inf"' in lbl for lbl, _ in buckets), f"{h}: no le=\"+Inf\" bucket"
        # per label set (minus le): counts are cumulative and +Inf equals _count
        series: dict[frozenset, list] = {}
        for lbl, v in buckets:
            lab = labels(lbl)
            le = lab.pop("le")
            series.setdefault(frozenset(lab.items()), []).append(
                (float(le.replace("+Inf", "inf")), v))
        for key, pts in series.items():
            pts.sort()
            assert all(a[1] <= b[1] for a, b in zip(pts, pts[1:])), f"{h}{set(key)} not cumulative"
            cnt = [v for n, lbl, v in samples
                   if n == f"{h}_count" and frozenset(labels(lbl).items()) == key]
            assert cnt and cnt[0] == pts[-1][1], f"{h}{set(key)}: +Inf bucket != _count"


def test_metrics_change_with_traffic(anode):
    types, s1 = scrape(anode)
    reqs = families(types, "counter", "request")
    lat = families(types, "histogram", "(duration|latency|seconds)")
    batch = families(types, "histogram", "batch")
    size = [f for f, t in types.items() if t == "gauge"
            and re.search(r"(storage|db|database|sqlite|wal|disk)", f)
            and re.search(r"(size|bytes)", f)]
    before = {f: family_total(s1, f) for f in reqs}
    for k in range(20):
        r = anode.put_json(doc_path("adm_traffic", f"t{k}"), {"k": k, "pad": "x" * 4000})
        assert r.status == 201
        assert anode.get(doc_path("adm_traffic", f"t{k}")).status == 200
    _, s2 = scrape(anode)
    after = {f: family_total(s2, f) for f in reqs}
    assert sum(after.values()) >= sum(before.values()) + 40, (before, after)
    assert sum(total(s2, f"{h}_count") for h in lat) >= \
        sum(total(s1, f"{h}_count") for h in lat) + 40
    assert sum(total(s2, f"{h}_count") for h in batch) > \
        sum(total(s1, f"{h}_count") for h in batch), "group commits not observed"
    # 80 KB of documents were added: the storage size is positive and did not shrink
    assert total(s2, size[0]) >= total(s1, size[0]) > 0


# --------------------------------------------------------------------------- admin auth


@pytest.mark.parametrize("path", ["/admin/v1/cluster", "/admin/v1/backup"])
@pytest.mark.parametrize("headers", [
    {}, auth("wrong"), auth(TOKEN + "x"), auth(TOKEN[:-1]), {"Authorization": TOKEN},
    {"Authorization": f"Basic {TOKEN}"}, {"Authorization": "Bearer"},
    {"X-Admin-Token": TOKEN},
], ids=["none", "wrong", "longer", "prefix", "no-scheme", "basic", "empty-bearer", "other-header"])
def test_admin_requires_token(anode, path, headers):
    r = anode.get(path, headers=headers)
    assert_problem(r, 401, "unauthorized")
    www = r.headers.get("www-authenticate")
    assert www is not None and www.strip().lower().startswith("bearer"), r.describe()


def test_cluster_view(anode):
    w = anode.put_json(doc_path("adm", "second"), {"n": 2})
    widx = index_of(w)
    r = anode.get("/admin/v1/cluster", headers=auth())
    body = assert_json_response(r, 200)
    assert body.get("version") == 1 and body.get("stage") == "Mach I", body
    nodes = body.get("nodes")
    assert isinstance(nodes, list) and len(nodes) == 1, body
    me = nodes[0]
    assert {"id", "url", "level", "roles", "state", "applied_index"} <= set(me), me
    assert me["id"] == "n1" and me["url"] == anode.url and me["state"] == "active", me
    assert sorted(me["roles"]) == sorted(["writer", "replica", "load_manager"]), me
    assert isinstance(me["applied_index"], int) and me["applied_index"] >= widx, me
    shards = body.get("shards")
    assert isinstance(shards, list) and len(shards) == 1, body
    assert {k: shards[0].get(k) for k in ("id", "buckets", "leader", "members")} == {
        "id": 1, "buckets": [1, 1000], "leader": "n1", "members": ["n1"]}, body


def test_head_on_admin_and_metrics(anode):
    for path, hdrs in (("/metrics", {}), ("/admin/v1/cluster", auth())):
        g = anode.get(path, headers=hdrs)
        h = anode.request("HEAD", path, headers=hdrs)
        assert h.status == 200 and h.body == b"", h.describe()
        assert_served_by(h)
        assert h.headers.get("content-type") == g.headers.get("content-type")
    h = anode.request("HEAD", "/admin/v1/cluster")
    assert h.status == 401 and h.body == b"" and "www-authenticate" in h.headers, h.describe()


def test_auth_scheme_is_case_insensitive(anode):
    # RFC 9110 §11.1: the authentication scheme name is case-insensitive.
    for scheme in ("bearer", "BEARER"):
        r = anode.get("/admin/v1/cluster", headers={"Authorization": f"{scheme} {TOKEN}"})
        assert r.status == 200, r.describe()


def check_sqlite_file(path, min_docs=1):
    with open(path, "rb") as f:
        assert f.read(16) == b"SQLite format 3\x00"
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        assert tables, "backup holds no tables"
    finally:
        con.close()


def test_backup(anode, tmp_path):
    w = anode.put_json(doc_path("adm", "third"), {"n": 3})
    widx = index_of(w)
    r = anode.get("/admin/v1/backup", headers=auth(), timeout=60)
    assert r.status == 200, r.describe()
    assert_served_by(r)
    assert media_type(r.headers.get("content-type")) == "application/vnd.sqlite3", r.headers
    assert r.body.startswith(b"SQLite format 3\x00"), r.body[:32]
    assert index_of(r) >= widx
    f = tmp_path / "backup.sqlite"
    f.write_bytes(r.body)
    check_sqlite_file(f)


def test_ctl_cluster(anode):
    p = anode.ctl("cluster", token=TOKEN)
    out = p.stdout.decode("utf-8", "replace")
    assert p.returncode == 0, f"rc={p.returncode} stdout={out} stderr={p.stderr!r}"
    assert "n1" in out and "Mach I" in out, out

    p = anode.ctl("cluster")
    assert p.returncode != 0, "ctl without the token must fail against a token-protected node"
    p = anode.ctl("cluster", token="wrong")
    assert p.returncode != 0, "ctl with a wrong token must fail"


def test_ctl_backup(anode, tmp_path):
    f = tmp_path / "ctl-backup.sqlite"
    p = anode.ctl("backup", str(f), token=TOKEN, timeout=60)
    assert p.returncode == 0, f"rc={p.returncode} stdout={p.stdout!r} stderr={p.stderr!r}"
    check_sqlite_file(f)


# --------------------------------------------------------------------------- configuration


def test_admin_token_from_environment(node_factory):
    n = node_factory.new("n1", env={"MACHDB_ADMIN_TOKEN": "from-env"})
    assert_problem(n.get("/admin/v1/cluster"), 401, "unauthorized")
    assert n.get("/admin/v1/cluster", headers=auth("from-env")).status == 200


def test_loopback_without_token_serves_admin(node_factory):
    n = node_factory.new("n1")
    r = n.get("/admin/v1/cluster")
    body = assert_json_response(r, 200)
    assert body["stage"] == "Mach I"
    r = n.get("/admin/v1/backup")
    assert r.status == 200 and r.body.startswith(b"SQLite format 3\x00"), r.describe()[:300]


def test_refuses_non_loopback_without_token(node_factory):
    n = node_factory.new("n1", start=False, listen_host="0.0.0.0")
    n.launch()
    try:
        code = n.wait_exit(15)
    except AssertionError:
        n.kill9()
        pytest.fail("a node listening on 0.0.0.0 without --admin-token must refuse to start")
    assert code != 0
    log = n.log_text().lower()
    assert "token" in log, f"the refusal must say why; log:\n{n.log_text()[-2000:]}"
