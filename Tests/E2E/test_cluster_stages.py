"""Mach stages with real processes (issue 4): the cluster grows 1 -> 5 by --join with the
planned roles at every stage; the failure rows (Writer, only Read Replica, Load Manager
lost); a bigger node joining takes over as Writer without a failed client write."""

from __future__ import annotations

import time

from helpers import (LOCAL_READ, WriteLoad, cluster_view, doc_path, jdumps, try_view, verify_acked,
                     wait_until)

# Fast failure detection for the tests; removal of dead nodes after 3 s.
FAST = ["--failure-timeout", "1500", "--remove-after", "3000"]
ROMAN = {1: "I", 2: "II", 3: "III", 4: "IV", 5: "V"}


def roles_of(view) -> dict[str, list[str]]:
    return {e["id"]: sorted(e.get("roles", [])) for e in view.get("nodes", []) if e.get("state") == "active"}


def writers(view) -> list[str]:
    return [i for i, r in roles_of(view).items() if "writer" in r]


def primary_lm(view) -> str | None:
    found = [e["id"] for e in view.get("nodes", []) if e.get("primary_load_manager")]
    assert len(found) <= 1, f"two primary load managers: {view}"
    return found[0] if found else None


def expected_roles(order: list[str]) -> dict[str, list[str]]:
    """The growth rows of DESIGN §4 for nodes in join order, the first one leading."""
    w, rest = order[0], order[1:]
    if not rest:
        return {w: sorted(["writer", "replica", "load_manager"])}
    lm, replicas = rest[-1], rest[:-1]
    out = {w: ["writer"] if replicas else sorted(["writer", "replica"]), lm: ["load_manager"]}
    for r in replicas:
        out[r] = ["replica"]
    return out


def map_of(c, timeout=3.0):
    """The leader's view (any node's admin view is relayed to the leader)."""
    for n in c.running():
        v = try_view(n, timeout=timeout)
        if v is not None:
            return v
    return None


def wait_roles(c, expected: dict[str, list[str]], timeout: float, what: str, voters: list[str] | None = None):
    def ok():
        v = map_of(c)
        if v is None:
            return None
        if voters is not None and sorted(v.voters()) != voters:
            return None
        return v if roles_of(v) == expected and len(writers(v)) == 1 else None
    return wait_until(ok, timeout, f"{what}: roles {expected} (now {roles_of(map_of(c) or {})})", interval=0.1)


def put(node, coll, doc_id, body, timeout=15.0):
    r = node.request("PUT", doc_path(coll, doc_id), jdumps(body), {"Content-Type": "application/json"},
                     timeout=timeout)
    assert r.status in (200, 201), r.describe()
    return r


def test_grow_one_to_five(cluster_factory):
    c = cluster_factory(common_args=FAST)
    order = ["n1"]
    n1 = c.add(join=False)
    v = cluster_view(n1)
    assert v["stage"] == "Mach I" and roles_of(v) == expected_roles(order), v
    written: dict[str, dict] = {}
    for step in range(2, 6):
        # Data written through the entry point of the previous stage.
        entry = c.node(order[-1])
        for k in range(20):
            doc = {"step": step, "k": k, "items": [{"sku": f"s{k}", "qty": k}]}
            put(entry, "carts", f"s{step}-{k}", doc)
            written[f"s{step}-{k}"] = doc
        new = c.add(f"n{step}", join=c.node(order[-1]))
        order.append(new.node_id)
        v = wait_roles(c, expected_roles(order), 60, f"Mach {ROMAN[step]}",
                       voters=["n1"] if step == 2 else sorted(order))
        assert v["stage"] == f"Mach {ROMAN[step]}", v
        assert primary_lm(v) == new.node_id, f"the newest node must be the entry point: {v}"
        voters = sorted(v.voters())
        assert voters == (["n1"] if step == 2 else sorted(order)), f"voters at Mach {ROMAN[step]}: {voters}"
        if step == 2:
            assert v.learners() == ["n2"], v
        # Every earlier document readable through every node (proxied where needed).
        for n in c.running():
            for doc_id, doc in written.items():
                g = n.get(doc_path("carts", doc_id))
                assert g.status == 200 and g.json() == doc, f"{doc_id} via {n.node_id}: {g.describe()}"
        # Node roles are obeyed: a node without the replica role relays reads to one that has it.
        lm = c.node(new.node_id)
        g = lm.get(doc_path("carts", next(iter(written))))
        served_by = g.headers.get("x-machdb-served-by")
        assert "replica" in roles_of(v)[served_by], f"read via the LM served by {served_by}: {roles_of(v)}"
    # The human view: `machdb ctl cluster` prints the table.
    out = c.node("n5").ctl("cluster", token=c.admin_token)
    text = out.stdout.decode()
    assert out.returncode == 0 and "Mach V" in text and "load_manager (entry point)" in text, text + out.stderr.decode()


def test_mach4_writer_lost_then_only_replica_lost(cluster_factory):
    c = cluster_factory(common_args=FAST)
    c.start(4)
    v = wait_roles(c, expected_roles(["n1", "n2", "n3", "n4"]), 60, "Mach IV")
    lm = c.node("n4")
    load = WriteLoad([lm], threads=4, per_thread=150, prefix="w", collection="mach4", retry=True,
                     give_up_after=60).start()
    wait_until(lambda: load.count() >= 100, 60, f"writes before the kill ({load.summary()})")
    t0 = time.monotonic()
    c.node("n1").kill9()

    def new_writer():
        v = map_of(c)
        if v is None:
            return None
        w = writers(v)
        return v if len(w) == 1 and w[0] in ("n2", "n3") and v.shard.get("leader") == w[0] else None
    v = wait_until(new_writer, 30, "a new Writer among the live voters")
    elected = time.monotonic() - t0
    assert elected < 10.0, f"new Writer after {elected:.1f}s"
    load.join(timeout=120)
    acked = load.snapshot()
    assert not load.unexpected and not load.gave_up, load.summary()
    assert len(acked) == 600, load.summary()
    top = max(x[2] for x in acked.values())
    for n in c.running():
        bad = verify_acked(n, acked, "mach4", top)
        assert not bad, f"{n.node_id} misses acknowledged writes: {bad[:5]}"
    wait_until(lambda: any(r["kind"] == "replace_node" and r["target"] == "n1"
                           for r in (map_of(c) or {}).get("recommendations", [])),
               10, "a replace_node recommendation for n1")

    # n1 is removed after --remove-after; the cluster is Mach III: Writer, one replica, LM.
    def mach3():
        v = map_of(c)
        return v if v is not None and v["stage"] == "Mach III" and "n1" not in v.members \
            and len(writers(v)) == 1 else None
    v = wait_until(mach3, 30, "n1 removed: Mach III")
    writer = writers(v)[0]
    replicas = [i for i, r in roles_of(v).items() if r == ["replica"]]
    assert len(replicas) == 1 and primary_lm(v) == "n4", v
    c.node(replicas[0]).kill9()

    def writer_reads():
        v = map_of(c)
        return v if v is not None and roles_of(v).get(writer) == ["replica", "writer"] else None
    v = wait_until(writer_reads, 20, f"the Writer {writer} serves reads too")
    g = lm.get(doc_path("mach4", next(iter(acked))))
    assert g.status == 200 and g.headers.get("x-machdb-served-by") == writer, g.describe()
    assert put(lm, "mach4", "after", {"ok": True}).status in (200, 201)


def test_load_manager_lost(cluster_factory):
    c = cluster_factory(common_args=FAST)
    c.start(4)
    wait_roles(c, expected_roles(["n1", "n2", "n3", "n4"]), 60, "Mach IV")
    put(c.node("n4"), "lm", "before", {"v": 1})
    t0 = time.monotonic()
    c.node("n4").kill9()
    wait_roles(c, {"n1": ["writer"], "n2": ["replica"], "n3": ["load_manager"]}, 20,
               "the newest Read Replica takes the LM role")
    assert time.monotonic() - t0 < 20
    v = map_of(c)
    assert primary_lm(v) == "n3", v
    for n in c.running():
        g = n.get(doc_path("lm", "before"))
        assert g.status == 200 and g.json() == {"v": 1}, f"via {n.node_id}: {g.describe()}"
        assert put(n, "lm", f"via-{n.node_id}", {"v": n.node_id}).status in (200, 201)
    # n3 no longer serves reads: it relays them to the Read Replica.
    g = c.node("n3").get(doc_path("lm", "before"))
    assert g.headers.get("x-machdb-served-by") == "n2", g.describe()


def test_bigger_node_becomes_writer(cluster_factory):
    c = cluster_factory(common_args=FAST)
    c.start(3, level=2)
    wait_roles(c, expected_roles(["n1", "n2", "n3"]), 60, "Mach III")
    load = WriteLoad([c.node("n1"), c.node("n2"), c.node("n3")], threads=3, per_thread=None, prefix="b",
                     collection="bigger", retry=False).start()
    wait_until(lambda: load.count() >= 50, 30, f"writes before the join ({load.summary()})")
    big = c.add("n4", join=c.node("n3"), level=5)

    def big_leads():
        v = map_of(c)
        return v if v is not None and writers(v) == ["n4"] and v.shard.get("leader") == "n4" else None
    v = wait_until(big_leads, 60, "the level-5 node to become the Writer")
    time.sleep(1.0)  # writes keep flowing across the hand-off
    load.stop()
    load.join(timeout=60)
    assert not load.failures and not load.unexpected, f"failed client writes: {load.failures[:5]} {load.unexpected[:5]}"
    assert load.count() > 50, load.summary()
    # The old Writer serves reads now; the entry point moved to the newest other node.
    assert "writer" not in roles_of(v)["n1"] and primary_lm(v) == "n3", v
    acked = load.snapshot()
    top = max(x[2] for x in acked.values())
    bad = verify_acked(big, acked, "bigger", top)
    assert not bad, bad[:5]


def test_a_node_that_left_knows_it(cluster_factory):
    c = cluster_factory(common_args=FAST)
    c.start(4)
    wait_roles(c, expected_roles(["n1", "n2", "n3", "n4"]), 60, "Mach IV")
    out = c.node("n1").ctl("leave", "--node", "n2", token=c.admin_token)
    assert out.returncode == 0, out.stderr.decode()

    def gone():
        v = map_of(c)
        return v if v is not None and "n2" not in [e["id"] for e in v["nodes"]] and v["stage"] == "Mach III" else None
    v = wait_until(gone, 30, "n2 to leave the map")
    assert roles_of(v) == {"n1": ["writer"], "n3": ["replica"], "n4": ["load_manager"]}, v
    n2 = c.node("n2")
    # n2 no longer gets the log; it learns from the others that it is out, and stops serving.
    r = wait_until(lambda: (lambda r: r if r.status == 503 else None)(n2.get("/readyz")), 15,
                   "n2's /readyz to say it was removed")
    assert "removed" in r.json()["detail"], r.describe()
    g = n2.get(doc_path("x", "y"))
    assert g.status == 503 and "removed" in g.json()["detail"], g.describe()
    assert n2.get("/healthz").status == 200
    # The cluster goes on without it.
    assert put(c.node("n4"), "left", "after", {"ok": True}).status in (200, 201)
