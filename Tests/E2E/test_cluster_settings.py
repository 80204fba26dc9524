"""One cluster-wide configuration: the scaling policy and the topology settings live in the
replicated cluster map, read and changed on any node; flags only seed a new cluster."""
import json
import threading

from helpers import wait_until

POLICY = "/admin/v1/scaling/policy"
SETTINGS = "/admin/v1/topology/settings"


def get_json(node, path):
    r = node.get(path, headers=node.admin_headers())
    assert r.status == 200, r.describe()
    return r.json()


def put_json(node, path, body):
    return node.request("PUT", path, json.dumps(body), {**node.admin_headers(), "Content-Type": "application/json"})


def entry_point(c):
    view = get_json(c.nodes[0], "/admin/v1/cluster")
    return next(n["id"] for n in view["nodes"] if n.get("primary_load_manager"))


def test_a_policy_set_on_one_node_is_what_every_entry_point_evaluates(cluster_factory):
    c = cluster_factory()
    n1, n2, n3 = c.start(3)
    assert entry_point(c) == "n3"
    r = put_json(n1, POLICY, {"cooldown_seconds": 1234, "sustain_up_seconds": 77})
    assert r.status == 200, r.describe()
    assert r.json()["cooldown_seconds"] == 1234
    # Every node answers the cluster's policy, and the entry point evaluates with it.
    for node in c.nodes:
        assert get_json(node, POLICY)["cooldown_seconds"] == 1234, node.node_id
    scaling = wait_until(lambda: (lambda v: v if v.get("evaluator") else None)(get_json(n3, "/admin/v1/scaling")),
                         10, "n3 to evaluate")
    assert scaling["policy"]["cooldown_seconds"] == 1234 and scaling["policy"]["sustain_up_seconds"] == 77
    assert get_json(n3, "/admin/v1/cluster")["settings"]["scaling_policy"]["cooldown_seconds"] == 1234

    # The entry point is lost: the next one evaluates with the same policy.
    n3.kill9()
    wait_until(lambda: entry_point(c) != "n3" or None, 30, "a new entry point")
    new = c.node(entry_point(c))
    scaling = wait_until(lambda: (lambda v: v if v.get("evaluator") else None)(get_json(new, "/admin/v1/scaling")),
                         15, f"{new.node_id} to evaluate")
    assert scaling["policy"]["cooldown_seconds"] == 1234, scaling["policy"]

    # A change asked of a follower is forwarded to the meta shard's leader and in force at once.
    follower = next(n for n in (n1, n2) if n.node_id != c.leader().node_id)
    r = put_json(follower, POLICY, {"cooldown_seconds": 99})
    assert r.status == 200, r.describe()
    for node in (n1, n2):
        policy = get_json(node, POLICY)
        assert policy["cooldown_seconds"] == 99 and policy["sustain_up_seconds"] == 77, node.node_id


def test_topology_settings_change_on_any_node_and_reach_the_planner(cluster_factory):
    c = cluster_factory()
    c.start(4)
    # Mach IV with the defaults: two Read Replicas.
    view = get_json(c.nodes[0], "/admin/v1/cluster")
    assert view["settings"]["max_replicas"] == 4
    replicas = [n["id"] for n in view["nodes"] if "replica" in n["roles"] and "writer" not in n["roles"]]
    assert len(replicas) == 2, view["nodes"]
    leader = c.leader()
    follower = next(n for n in c.nodes if n is not leader)
    r = put_json(follower, SETTINGS, {"max_replicas": 1, "remove_after_ms": 60000})
    assert r.status == 200, r.describe()
    assert r.json() == {"max_voters": 5, "max_replicas": 1, "failure_timeout_ms": 3000, "remove_after_ms": 60000,
                        "silent_replica_bytes_per_second": 32 << 20}
    for node in c.nodes:
        assert get_json(node, SETTINGS)["max_replicas"] == 1, node.node_id
    again = put_json(leader, SETTINGS, {"max_replicas": 1})  # nothing to change: answered at once
    assert again.status == 200 and again.json()["max_replicas"] == 1 and again.elapsed < 2, again.describe()

    # The planner (on the meta shard's leader) now keeps one Read Replica: the other becomes a
    # secondary Load Manager.
    def one_replica():
        v = get_json(c.nodes[0], "/admin/v1/cluster")
        rr = [n["id"] for n in v["nodes"] if "replica" in n["roles"] and "writer" not in n["roles"]]
        return v if len(rr) == 1 else None
    wait_until(one_replica, 20, "the planner to apply max_replicas 1")


def test_bad_settings_are_refused_and_change_nothing(cluster_factory):
    c = cluster_factory()
    n1, n2 = c.start(2)
    before = get_json(n2, SETTINGS)
    for body, words in [
        ({"max_replicas": 0}, "max_replicas"),
        ({"max_replicas": 5}, "max_replicas"),
        ({"failure_timeout_ms": 10}, "failure_timeout_ms"),
        ({"remove_after_ms": -1}, "remove_after_ms"),
        ({"max_voters": "5"}, "max_voters"),
        ({"max_voters": 5.0}, "max_voters"),
        ({"bogus": 1}, "bogus"),
        ({"silent_replica_bytes_per_second": 100}, "silent_replica_bytes_per_second"),
        ([1, 2], "object"),
    ]:
        r = put_json(n2, SETTINGS, body)
        assert r.status == 400, (body, r.describe())
        assert r.headers["content-type"].startswith("application/problem+json")
        assert words in r.json()["detail"], (body, r.json())
    r = put_json(n2, POLICY, {"cooldown_seconds": -5})
    assert r.status == 400, r.describe()
    assert get_json(n1, SETTINGS) == before
    assert get_json(n2, SETTINGS) == before


def test_a_joining_node_with_other_flags_takes_the_clusters_values(cluster_factory, tmp_path):
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"cooldown_seconds": 4321}))
    c = cluster_factory()
    n1 = c.add(join=False, extra_args=["--max-replicas", "3", "--scaling-policy", str(policy)])
    # A single node's own settings: its flags, changed by a PUT; they seed the cluster.
    assert get_json(n1, SETTINGS)["max_replicas"] == 3
    r = put_json(n1, SETTINGS, {"max_replicas": 2})
    assert r.status == 200 and r.json()["max_replicas"] == 2, r.describe()
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"cooldown_seconds": 11}))
    n2 = c.add(join=n1, extra_args=["--max-replicas", "1", "--scaling-policy", str(other)])
    c.wait_in_map("n2")
    settings = wait_until(lambda: get_json(n2, "/admin/v1/cluster").get("settings"), 15, "the map's settings at n2")
    assert settings["max_replicas"] == 2 and settings["scaling_policy"]["cooldown_seconds"] == 4321, settings
    assert get_json(n2, SETTINGS)["max_replicas"] == 2
    assert get_json(n2, POLICY)["cooldown_seconds"] == 4321
    wait_until(lambda: "differ from the cluster's settings" in n2.log_text() or None, 10,
               "n2 to say its flags differ from the cluster's")
    # Its own flags do not come back with a restart.
    n2.restart()
    assert get_json(n2, SETTINGS)["max_replicas"] == 2


def test_concurrent_changes_of_different_settings_all_land(cluster_factory):
    c = cluster_factory()
    nodes = c.start(3)
    bodies = [(POLICY, {"cooldown_seconds": 111 + i}) if i % 2 == 0 else (SETTINGS, {"remove_after_ms": 40000 + i})
              for i in range(6)]
    answers = {}

    def put(i):
        path, body = bodies[i]
        answers[i] = put_json(nodes[i % 3], path, body)
    threads = [threading.Thread(target=put, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(answers) == 6 and all(r.status == 200 for r in answers.values()), [r.describe() for r in answers.values()]
    # The policy changes and the topology changes all landed (neither kind overwrote the
    # other), the same on every node once applied.
    def agreed():
        views = [get_json(n, "/admin/v1/cluster")["settings"] for n in nodes]
        return views[0] if all(v == views[0] for v in views) else None
    view = wait_until(agreed, 10, "every node to apply the same settings")
    assert view["scaling_policy"]["cooldown_seconds"] in (111, 113, 115), view
    assert view["remove_after_ms"] in (40001, 40003, 40005), view
