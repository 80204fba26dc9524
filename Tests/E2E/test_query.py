"""POST /v1/collections/{c}/query: operators, sort, limit, keyset pagination (API.md).

Every filter/sort result is compared with a small reference evaluator written from API.md,
and the type rules (booleans vs 1, null, int vs real, strings vs numbers) are also pinned
down by hand-written expectations.
"""

from __future__ import annotations

import random
import re
import threading
import time

import pytest

from helpers import (assert_json_response, assert_problem, bucket_of, doc_path, jdumps,
                     wait_until)

# --------------------------------------------------------------------------- reference

_SEG = re.compile(r"([A-Za-z0-9_-]+)((?:\[[0-9]+\])*)")
MISSING = object()


def lookup(doc, path: str):
    cur = doc
    for seg in path.split("."):
        m = _SEG.fullmatch(seg)
        assert m, f"reference evaluator: bad path {path!r}"
        if not isinstance(cur, dict) or m.group(1) not in cur:
            return MISSING
        cur = cur[m.group(1)]
        for idx in re.findall(r"\[([0-9]+)\]", m.group(2)):
            if not isinstance(cur, list) or int(idx) >= len(cur):
                return MISSING
            cur = cur[int(idx)]
    return cur


def is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def j_eq(a, b) -> bool:
    if is_num(a) and is_num(b):
        return a == b
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if a is None or b is None:
        return a is None and b is None
    return type(a) is type(b) and a == b


def j_cmp(a, b):
    """-1/0/1 when comparable under API.md's rules (numbers, or strings), else None."""
    if is_num(a) and is_num(b):
        return (a > b) - (a < b)
    if isinstance(a, str) and isinstance(b, str):
        ab, bb = a.encode(), b.encode()
        return (ab > bb) - (ab < bb)
    return None


def op_match(v, op, arg) -> bool:
    if op == "exists":
        return (v is not MISSING) == arg
    if op == "ne":
        return v is MISSING or not j_eq(v, arg)
    if v is MISSING:
        return False
    if op == "eq":
        return j_eq(v, arg)
    if op == "in":
        return any(j_eq(v, a) for a in arg)
    c = j_cmp(v, arg)
    if c is None:
        return False
    return {"lt": c < 0, "lte": c <= 0, "gt": c > 0, "gte": c >= 0}[op]


def matches(doc, flt: dict) -> bool:
    for path, cond in flt.items():
        v = lookup(doc, path)
        ops = cond if isinstance(cond, dict) else {"eq": cond}
        if not all(op_match(v, op, arg) for op, arg in ops.items()):
            return False
    return True


def expected_ids(docs: dict, flt: dict | None = None, sort: list | None = None) -> list[str]:
    ids = sorted((i for i, d in docs.items() if matches(d, flt or {})),
                 key=lambda s: s.encode())
    for key in reversed(sort or []):
        desc = key.startswith("-")
        path = key[1:] if desc else key

        def k(i, path=path):
            v = lookup(docs[i], path)
            return (0, 0) if v is MISSING else (1, v)
        ids.sort(key=k, reverse=desc)  # stable; missing first asc / last desc
    return ids


# --------------------------------------------------------------------------- data

C = "carts"
NAMES = ["ann", "bob", "cyd", "dee", "eve", "Zed", "mo"]


def make_carts(n=60) -> dict:
    rng = random.Random(20240611)
    docs = {}
    for k in range(n):
        doc = {
            "status": ["open", "closed", "pending"][k % 3],
            # ints and reals mixed; 20 and 20.0 both present; many ties
            "total": [5, 10, 12.5, 20, 20.0, 35, 50, 99.99, 100, 250][rng.randrange(10)],
            "customer": {"name": rng.choice(NAMES)},
            "items": [{"sku": f"sku-{rng.randint(1, 4)}", "qty": rng.randint(1, 3)}
                      for _ in range(rng.randint(0, 3))],
        }
        if k % 4:
            doc["customer"]["tier"] = rng.choice(["gold", "silver", "bronze"])
        if k % 5 == 0:
            doc["priority"] = rng.randint(1, 3)
        if k % 7 == 0:
            doc["flags"] = {"vip": k % 2 == 0}
        docs[f"cart-{k:03d}"] = doc
    return docs


CARTS = make_carts()


@pytest.fixture(scope="module")
def seeded(node):
    for i, d in CARTS.items():
        r = node.put_json(doc_path(C, i), d)
        assert r.status == 201, r.describe()
    # Non-JSON documents in the same collection must never show up in results.
    for i, (raw, ct) in {"cart-bin-1": (b"\x89PNG\x00", "image/png"),
                         "cart-txt-1": (b'{"status": "open"}', "text/plain")}.items():
        r = node.request("PUT", doc_path(C, i), raw, {"Content-Type": ct})
        assert r.status == 201, r.describe()
    return node


def run(node, q: dict, collection: str = C) -> dict:
    r = node.query(collection, q)
    body = assert_json_response(r, 200)
    assert set(body) == {"docs", "count", "next"}, r.describe()
    assert body["count"] == len(body["docs"]), r.describe()
    limit = q.get("limit", 100)
    assert len(body["docs"]) <= limit
    if len(body["docs"]) < limit:
        assert body["next"] is None, f"short page must end pagination: {r.describe()}"
    else:
        assert body["next"] is None or isinstance(body["next"], str), r.describe()
    return body


def check_entries(body, docs: dict):
    now_ms = time.time() * 1000
    for e in body["docs"]:
        assert set(e) == {"id", "rev", "bucket", "updated_at", "doc"}, e
        assert e["bucket"] == bucket_of(e["id"])
        assert isinstance(e["rev"], int) and e["rev"] >= 1
        assert isinstance(e["updated_at"], int), e
        assert now_ms - 3_600_000 < e["updated_at"] <= now_ms + 60_000, \
            f"updated_at {e['updated_at']} is not epoch milliseconds of a recent write"
        if e["id"] in docs:
            assert e["doc"] == docs[e["id"]], e


def ids_of(body) -> list[str]:
    return [e["id"] for e in body["docs"]]


# --------------------------------------------------------------------------- operators

FILTERS = [
    {},
    {"status": "open"},
    {"status": {"eq": "open"}},
    {"status": {"ne": "open"}},
    {"priority": {"ne": 2}},                      # missing path matches ne
    {"priority": 2},
    {"total": {"lt": 20}},
    {"total": {"lte": 20}},
    {"total": {"gt": 20}},
    {"total": {"gte": 20}},
    {"total": 20},                                # matches 20 and 20.0
    {"total": {"eq": 20.0}},
    {"total": {"gt": 12.4, "lt": 12.6}},
    {"total": {"gte": 10, "lt": 100}},
    {"total": {"lte": 99.99}},
    {"total": {"in": [5, 100.0, 250]}},
    {"customer.tier": {"in": ["gold", "silver"]}},
    {"customer.tier": {"exists": True}},
    {"customer.tier": {"exists": False}},
    {"customer.name": {"lt": "cyd"}},             # bytes: "Zed" < "ann"
    {"customer.name": {"gte": "d"}},
    {"items[0].sku": "sku-1"},
    {"items[0].sku": {"exists": True}},
    {"items[0].sku": {"exists": False}},          # empty items
    {"items[1].qty": {"gte": 2}},
    {"items[2]": {"exists": True}},
    {"flags.vip": True},
    {"flags.vip": {"ne": True}},
    {"status": "open", "total": {"gte": 10, "lt": 100}, "customer.tier": {"in": ["gold"]}},
    {"status": {"in": ["open", "pending"]}, "priority": {"exists": True, "gte": 2}},
    {"nope": {"exists": False}},
    {"nope": "x"},
]


@pytest.mark.parametrize("flt", FILTERS, ids=[jdumps(f).decode() for f in FILTERS])
def test_filter_matches_reference(seeded, flt):
    body = run(seeded, {"filter": flt, "limit": 1000})
    check_entries(body, CARTS)
    assert ids_of(body) == expected_ids(CARTS, flt), \
        f"filter {flt}: got {ids_of(body)}, want {expected_ids(CARTS, flt)}"


def test_reference_is_not_vacuous():
    # Guard against a test-data change that would make the filters above trivially empty.
    for flt in FILTERS[1:-2]:
        n = len(expected_ids(CARTS, flt))
        assert 0 < n < len(CARTS) or flt in ({"nope": {"exists": False}},), (flt, n)


def test_shorthand_equals_eq(seeded):
    for v in ["open", 20, 12.5, True]:
        path = "flags.vip" if v is True else ("status" if v == "open" else "total")
        a = ids_of(run(seeded, {"filter": {path: v}, "limit": 1000}))
        b = ids_of(run(seeded, {"filter": {path: {"eq": v}}, "limit": 1000}))
        assert a == b and a, (path, v)


T = "types"
TYPE_DOCS = {
    "t-true": {"v": True}, "t-false": {"v": False}, "t-one": {"v": 1}, "t-onef": {"v": 1.0},
    "t-zero": {"v": 0}, "t-neg": {"v": -2.5}, "t-ten": {"v": 10}, "t-null": {"v": None},
    "t-missing": {"w": 1}, "t-str1": {"v": "1"}, "t-strtrue": {"v": "true"},
    "t-empty": {"v": ""}, "t-arr": {"v": [1]}, "t-obj": {"v": {"x": 1}},
}
ALL_T = sorted(TYPE_DOCS)
TYPE_CASES = [
    ({"v": True}, ["t-true"]),
    ({"v": False}, ["t-false"]),
    ({"v": 1}, ["t-one", "t-onef"]),
    ({"v": 1.0}, ["t-one", "t-onef"]),
    ({"v": 0}, ["t-zero"]),
    ({"v": None}, ["t-null"]),
    ({"v": {"eq": None}}, ["t-null"]),
    ({"v": {"ne": None}}, [i for i in ALL_T if i != "t-null"]),
    ({"v": {"ne": 1}}, [i for i in ALL_T if i not in ("t-one", "t-onef")]),
    ({"v": {"ne": True}}, [i for i in ALL_T if i != "t-true"]),
    ({"v": "1"}, ["t-str1"]),
    ({"v": "true"}, ["t-strtrue"]),
    ({"v": {"gt": 0}}, ["t-one", "t-onef", "t-ten"]),
    ({"v": {"gte": 1}}, ["t-one", "t-onef", "t-ten"]),
    ({"v": {"lt": 1}}, ["t-neg", "t-zero"]),
    ({"v": {"lte": 0}}, ["t-neg", "t-zero"]),
    ({"v": {"gte": ""}}, ["t-empty", "t-str1", "t-strtrue"]),
    ({"v": {"lt": "2"}}, ["t-empty", "t-str1"]),
    ({"v": {"in": [True, "1"]}}, ["t-str1", "t-true"]),
    ({"v": {"in": [0, None]}}, ["t-null", "t-zero"]),
    ({"v": {"exists": True}}, [i for i in ALL_T if i != "t-missing"]),
    ({"v": {"exists": False}}, ["t-missing"]),
]


@pytest.fixture(scope="module")
def typed(node):
    for i, d in TYPE_DOCS.items():
        r = node.put_json(doc_path(T, i), d)
        assert r.status == 201, r.describe()
    return node


@pytest.mark.parametrize("flt,want", TYPE_CASES, ids=[jdumps(f).decode() for f, _ in TYPE_CASES])
def test_type_semantics(typed, flt, want):
    body = run(typed, {"filter": flt, "limit": 1000}, collection=T)
    got = ids_of(body)
    assert got == sorted(want), f"filter {flt}: got {got}, want {sorted(want)} (API.md: " \
        f"numbers compare numerically, strings by bytes, true/false/null match only themselves)"
    assert got == expected_ids(TYPE_DOCS, flt), "reference evaluator disagrees with the table"


# --------------------------------------------------------------------------- sort / limit

SORTS = [
    ["total"], ["-total"], ["-total", "customer.name"], ["customer.name", "-total"],
    ["priority"], ["-priority"], ["customer.tier", "-priority"],
    ["status", "-total", "customer.name", "items[0].sku"], ["items[0].qty"], ["-items[0].qty"],
]


@pytest.mark.parametrize("sort", SORTS, ids=[",".join(s) for s in SORTS])
def test_sort_matches_reference(seeded, sort):
    body = run(seeded, {"sort": sort, "limit": 1000})
    want = expected_ids(CARTS, None, sort)
    assert ids_of(body) == want, f"sort {sort}"
    body = run(seeded, {"filter": {"status": {"ne": "closed"}}, "sort": sort, "limit": 1000})
    assert ids_of(body) == expected_ids(CARTS, {"status": {"ne": "closed"}}, sort)


def test_sort_missing_first_asc_last_desc(seeded):
    asc = ids_of(run(seeded, {"sort": ["priority"], "limit": 1000}))
    desc = ids_of(run(seeded, {"sort": ["-priority"], "limit": 1000}))
    has = {i for i, d in CARTS.items() if "priority" in d}
    k = len(CARTS) - len(has)
    assert set(asc[:k]) == set(CARTS) - has and set(asc[k:]) == has
    assert set(desc[:len(has)]) == has and set(desc[len(has):]) == set(CARTS) - has
    # ties (all missing) are broken by id ascending in both directions
    assert asc[:k] == sorted(asc[:k]) and desc[len(has):] == sorted(desc[len(has):])


def test_limit_and_default_limit(seeded):
    body = run(seeded, {"limit": 5})
    assert body["count"] == 5 and isinstance(body["next"], str)
    assert ids_of(body) == expected_ids(CARTS)[:5]
    body = run(seeded, {"limit": 1})
    assert ids_of(body) == expected_ids(CARTS)[:1]
    body = run(seeded, {"limit": 1000})
    assert body["count"] == 60 and body["next"] is None

    many = {f"m{k:04d}": {"k": k} for k in range(150)}
    ops = [{"op": "put", "collection": "many", "id": i, "doc": d} for i, d in many.items()]
    r = seeded.post_json("/v1/_bulk", {"ops": ops})
    assert r.status == 200, r.describe()
    body = run(seeded, {}, collection="many")
    assert body["count"] == 100 and isinstance(body["next"], str), "default limit is 100"
    assert ids_of(body) == sorted(many)[:100]
    rest = run(seeded, {"after": body["next"]}, collection="many")
    assert ids_of(rest) == sorted(many)[100:] and rest["next"] is None


def test_empty_collection(seeded):
    body = run(seeded, {"filter": {"a": 1}}, collection="never-written")
    assert body == {"docs": [], "count": 0, "next": None}


# --------------------------------------------------------------------------- pagination

PAGINATIONS = [
    (None, None, 7), ({"status": "open"}, ["-total"], 3), (None, ["priority", "-customer.name"], 10),
    ({"total": {"gte": 20}}, ["total", "-items[0].sku"], 1), (None, ["-priority"], 9),
    ({"customer.tier": {"exists": False}}, ["customer.name"], 4),
]


@pytest.mark.parametrize("flt,sort,limit", PAGINATIONS)
def test_pagination_covers_everything_once(seeded, flt, sort, limit):
    q = {"limit": limit}
    if flt is not None:
        q["filter"] = flt
    if sort is not None:
        q["sort"] = sort
    got: list[str] = []
    pages = 0
    while True:
        body = run(seeded, q)
        check_entries(body, CARTS)
        got.extend(ids_of(body))
        pages += 1
        assert pages <= len(CARTS) + 2, "pagination does not terminate"
        if body["next"] is None:
            break
        q["after"] = body["next"]
    assert got == expected_ids(CARTS, flt, sort), f"pages of {limit}: {got}"


def test_pagination_during_concurrent_writes(node):
    c = "live"
    base = {f"base-{k:03d}": {"status": "open", "total": (k * 7) % 40, "touch": 0}
            for k in range(90)}
    r = node.post_json("/v1/_bulk", {"ops": [{"op": "put", "collection": c, "id": i, "doc": d}
                                             for i, d in base.items()]})
    assert r.status == 200, r.describe()

    stop = threading.Event()
    writes = [0]
    errors: list[str] = []
    lock = threading.Lock()

    def writer():
        rng = random.Random(5)
        k = 0
        while not stop.is_set():
            k += 1
            try:
                ops = [
                    # new matching docs, sort values anywhere in the range
                    node.put_json(doc_path(c, f"new-{k:05d}"),
                                  {"status": "open", "total": rng.randrange(40), "touch": k}),
                    # new non-matching docs
                    node.put_json(doc_path(c, f"other-{k:05d}"),
                                  {"status": "closed", "total": rng.randrange(40)}),
                    # update a pre-existing matching doc WITHOUT changing its sort value
                    node.patch(doc_path(c, f"base-{rng.randrange(90):03d}"), {"touch": k}),
                    # update an earlier new matching doc, sort value unchanged
                    node.patch(doc_path(c, f"new-{max(1, k - 1):05d}"), {"touch": -k}),
                    # churn a non-matching doc's sort value
                    node.patch(doc_path(c, f"other-{k:05d}"), {"total": rng.randrange(40)}),
                ]
                for w in ops:
                    if w.status not in (200, 201):
                        errors.append(w.describe())
            except Exception as e:  # pragma: no cover - reported below
                errors.append(repr(e))
            with lock:
                writes[0] += 1

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    try:
        q = {"filter": {"status": "open"}, "sort": ["total"], "limit": 6}
        seen: list[tuple] = []
        pages = 0
        while True:
            with lock:
                before = writes[0]
            body = run(node, q, collection=c)
            seen.extend((e["doc"]["total"], e["id"]) for e in body["docs"])
            pages += 1
            assert pages < 1000
            if body["next"] is None:
                break
            q["after"] = body["next"]
            # make sure writes really interleave with the pages
            wait_until(lambda: writes[0] >= before + 2, 10, "the writer to make progress")
    finally:
        stop.set()
        t.join(timeout=30)
    assert not t.is_alive()
    assert not errors, errors[:5]
    ids = [i for _, i in seen]
    dups = {i for i in ids if ids.count(i) > 1}
    assert not dups, f"documents returned twice across pages: {sorted(dups)}"
    missing = set(base) - set(ids)
    assert not missing, f"pre-existing matching documents never returned: {sorted(missing)}"
    assert seen == sorted(seen), "pages must follow the sort order (total, then id)"
    assert writes[0] >= pages - 1


# --------------------------------------------------------------------------- invalid

INVALID_QUERIES = [
    {"filter": {"status": {"regex": "o.*"}}},
    {"filter": {"status": {}}},
    {"filter": {"status": {"eq": "open", "like": "x"}}},
    {"filter": {"a..b": 1}},
    {"filter": {"a b": 1}},
    {"filter": {"items[x].sku": 1}},
    {"filter": {"$.status": 1}},
    {"filter": {"a.": 1}},
    {"filter": {"": 1}},
    {"filter": {".".join(["a"] * 17): 1}},
    {"filter": {"a" * 257: 1}},
    {"filter": {"status": {"in": []}}},
    {"filter": {"status": {"in": "open"}}},
    {"filter": {"status": {"in": list(range(101))}}},
    {"filter": {"status": {"exists": "yes"}}},
    {"filter": ["status", "open"]},
    {"sort": ["a", "b", "c", "d", "e"]},
    {"sort": ["a b"]},
    {"sort": "total"},
    {"sort": [5]},
    {"limit": 0},
    {"limit": 1001},
    {"limit": "x"},
    {"limit": -1},
    {"limit": 1.5},
]


@pytest.mark.parametrize("q", INVALID_QUERIES, ids=[jdumps(q).decode()[:60] for q in INVALID_QUERIES])
def test_invalid_query(seeded, q):
    assert_problem(seeded.query(C, q), 400, "invalid-query")


def test_valid_boundaries(seeded):
    run(seeded, {"filter": {".".join(["a"] * 16): 1}})
    run(seeded, {"filter": {"a" * 256: 1}})
    run(seeded, {"filter": {"status": {"in": list(range(100))}}})
    run(seeded, {"sort": ["a", "b", "c", "d"]})
    run(seeded, {"limit": 1000})


def test_invalid_cursor(seeded):
    for after in ["garbage!!", "", "eyJ4IjoxfQ==", "A" * 200]:
        assert_problem(seeded.query(C, {"after": after, "sort": ["total"]}), 400,
                       "invalid-cursor")
    first = run(seeded, {"sort": ["total"], "limit": 5})
    assert first["next"]
    assert_problem(seeded.query(C, {"sort": ["-total"], "after": first["next"], "limit": 5}),
                   400, "invalid-cursor")
    assert_problem(seeded.query(C, {"after": first["next"], "limit": 5}), 400, "invalid-cursor")
    # the same cursor with its own sort is fine
    run(seeded, {"sort": ["total"], "after": first["next"], "limit": 5})


def test_query_body_media_type_and_syntax(seeded):
    p = f"/v1/collections/{C}/query"
    r = seeded.request("POST", p, b'{"filter": {}}', {"Content-Type": "text/plain"})
    assert_problem(r, 415, "unsupported-media-type")
    r = seeded.request("POST", p, b"\x00\x01", {"Content-Type": "application/octet-stream"})
    assert_problem(r, 415, "unsupported-media-type")
    r = seeded.request("POST", p, b'{"filter": ', {"Content-Type": "application/json"})
    assert_problem(r, 400, "invalid-json")
    r = seeded.request("POST", p, b'{"filter": ')  # no Content-Type = JSON
    assert_problem(r, 400, "invalid-json")
    r = seeded.request("POST", p, b'{"filter": {"status": "open"}, "limit": 1000}')
    body = assert_json_response(r, 200)
    assert ids_of(body) == expected_ids(CARTS, {"status": "open"})


def test_query_body_size_limit(seeded):
    p = f"/v1/collections/{C}/query"
    q = jdumps({"filter": {"customer.name": {"in": ["x" * 600] * 100}}, "limit": 1})
    assert len(q) < 65536
    exact = q + b" " * (65536 - len(q))
    r = seeded.request("POST", p, exact, {"Content-Type": "application/json"})
    assert_json_response(r, 200)
    over = q + b" " * (65537 - len(q))
    assert_problem(seeded.request("POST", p, over, {"Content-Type": "application/json"}),
                   413, "body-too-large")
    big = jdumps({"filter": {"customer.name": {"in": ["y" * 700] * 100}}})
    assert len(big) > 65536
    assert_problem(seeded.request("POST", p, big, {"Content-Type": "application/json"}),
                   413, "body-too-large")


def test_query_timeout(node_factory):
    """A query running past --query-timeout answers 503 query-timeout (API.md)."""
    n = node_factory.new("qt", extra_args=["--query-timeout", "1"])
    rng = random.Random(3)
    for b in range(30):
        ops = [{"op": "put", "collection": "big", "id": f"d{b:02d}-{k:04d}",
                "doc": {"a": {"b": [rng.random() for _ in range(8)]}, "s": "x" * 200,
                        "n": rng.randrange(10**6)}} for k in range(1000)]
        r = n.post_json("/v1/_bulk", {"ops": ops})
        assert r.status == 200, r.describe()
    q = {"filter": {"a.b[3]": {"gte": 0.0}, "s": {"ne": "y"}}, "sort": ["-a.b[7]", "n"],
         "limit": 1000}
    r = n.query("big", q)
    p = assert_problem(r, 503, "query-timeout")
    assert p["detail"]
    assert n.get("/healthz").status == 200
