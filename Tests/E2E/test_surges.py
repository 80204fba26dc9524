"""Surges are reported, not answered with a scale-out (issue 12, DESIGN §7).

A Mach I node with a tiny scaling policy (seconds, real surge detection) posts to a real
`machdb operator`. A calm baseline of fast reads runs throughout; slow reads (each waits
`--read-wait` for an index never reached and times out) make the load:

- a short burst (shorter than the surge window) is one surge episode: one signed `surge` post
  that the operator notes and acts on with nothing, one entry in the recommendation history,
  `machdb_scaling_surges_total` + 1, `machdb_scaling_surging` 1 while it lasts, no `add_node`;
- a sustained rise starts as a surge too (the short window far above the long one), but once
  the long window catches up the rise holds the up condition for `sustain_up_seconds`: one
  `add_node`, and the surge is dropped, never reported.

Timing is left to the engine: the tests wait for outcomes with generous timeouts and assert
counts, never how many seconds something took."""

from __future__ import annotations

import json
import threading
import time

from helpers import doc_path, parse_metric_values, wait_until
from test_autoscaling import TINY_POLICY, recommendations
from test_operator import SECRET, OperatorProcess

SURGE_WINDOW = 6
SURGE_POLICY = {**TINY_POLICY, "surge_window_seconds": SURGE_WINDOW, "surge_factor": 4.0,
                "surge_minimum_seconds": 0.05}
READ_WAIT_MS = 500
BURST_SECONDS = 2.5               # well inside the surge window, even with slow threads


class Load:
    """A calm baseline (one thread of fast reads, about 20 a second) and, on demand, slow reads
    from 8 threads that time out after --read-wait."""

    def __init__(self, node):
        self.node = node
        self.stopped = threading.Event()
        self.slow_on = threading.Event()
        self.threads = [threading.Thread(target=self._calm, daemon=True)]
        self.threads += [threading.Thread(target=self._slow, daemon=True) for _ in range(8)]
        for t in self.threads:
            t.start()

    def _calm(self):
        while not self.stopped.is_set():
            try:
                self.node.get(doc_path("surge", "x"), timeout=5)
            except OSError:
                pass
            self.stopped.wait(0.05)

    def _slow(self):
        while not self.stopped.is_set():
            if not self.slow_on.wait(0.1):
                continue
            try:
                self.node.get(doc_path("surge", "x"), headers={"X-Machdb-Min-Index": str(10 ** 12)}, timeout=5)
            except OSError:
                pass

    def close(self):
        self.stopped.set()
        self.slow_on.set()
        for t in self.threads:
            t.join(timeout=10)


def metrics(node) -> dict[str, float]:
    r = node.get("/metrics")
    assert r.status == 200, r.describe()
    return parse_metric_values(r.body.decode())


def kinds(recs: list[dict]) -> list[str]:
    return [r.get("kind") for r in recs]


def start(cluster_factory, machdb_bin, tmp_path, provision: str):
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps(SURGE_POLICY))
    (tmp_path / "op").mkdir()
    operator = OperatorProcess(machdb_bin, tmp_path / "op", node_prefix="surge", max_nodes=2, provision=provision)
    operator.start()
    n1 = cluster_factory().add("n1", join=False, extra_args=[
        "--hook-url", f"http://127.0.0.1:{operator.port}/hook", "--hook-secret", SECRET,
        "--scaling-policy", str(policy), "--read-wait", str(READ_WAIT_MS)])
    assert n1.put_json(doc_path("surge", "x"), {"x": 1}).status == 201
    return n1, operator


def calm_baseline(n1):
    """Waits until the up window holds calm requests older than 10 s (so the baseline before
    the surge window is not empty: a cold start is no surge)."""
    def older():
        view = n1.get("/admin/v1/scaling", headers=n1.admin_headers()).json()
        windows = view["measurement"]["windows"]
        return view if windows["60"]["all"]["requests"] - windows["10"]["all"]["requests"] >= 20 else None
    view = wait_until(older, 60, "a calm baseline older than the surge window", interval=0.5)
    assert view["evaluation"]["surging"] is False and not view["evaluation"]["proposals"], view["evaluation"]


def test_a_short_burst_is_one_surge_report_and_no_add_node(cluster_factory, machdb_bin, tmp_path):
    n1, operator = start(cluster_factory, machdb_bin, tmp_path, provision="local")
    load = Load(n1)
    try:
        calm_baseline(n1)
        before = metrics(n1)
        assert before["machdb_scaling_surging"] == 0 and before["machdb_scaling_surges_total"] == 0, before

        load.slow_on.set()
        time.sleep(BURST_SECONDS)  # the burst's length is the point of this test, not a wait for an outcome
        load.slow_on.clear()

        # The gauge shows the surge while it lasts (it ends once the burst leaves the surge window).
        wait_until(lambda: metrics(n1)["machdb_scaling_surging"] == 1, 15, "machdb_scaling_surging 1", interval=0.2)
        wait_until(lambda: metrics(n1)["machdb_scaling_surging"] == 0, 30, "the surge to end (machdb_scaling_surging 0)",
                   interval=0.2)
        noted = wait_until(lambda: [d for d in operator.decisions() if d.get("kind") == "surge"] or None,
                           45, "the operator to note one surge", interval=0.2)

        # One episode, one report: give a second report or an add_node the time to show up.
        time.sleep(SURGE_WINDOW + 4)
        decisions = operator.decisions()
        assert kinds(decisions) == ["surge"], decisions
        assert noted[0]["action"] == "noted" and noted[0]["node"] is None, noted
        assert operator.children() == {}, "a surge starts no node"
        recs = recommendations(n1)
        assert kinds(recs) == ["surge"], recs
        rec = recs[0]
        assert rec["state"] == "delivered" and rec["id"] == noted[0]["id"], rec
        body = rec["body"]
        print(f"\nsurge report: {json.dumps(body)}")
        assert body["target"] == {} and body["stage"] == "Mach I", body
        episode = body["episode"]
        assert episode["duration_seconds"] >= 1, episode
        assert episode["started_at"] < episode["ended_at"] <= body["created_at"], (episode, body["created_at"])
        evidence = body["evidence"]
        base = SURGE_POLICY["up_average_window_seconds"] - SURGE_WINDOW
        assert evidence["duration_seconds"] == episode["duration_seconds"], body
        assert evidence[f"peak_average_seconds_{SURGE_WINDOW}"] > SURGE_POLICY["surge_minimum_seconds"], evidence
        assert evidence[f"peak_average_seconds_{SURGE_WINDOW}"] > 4 * evidence[f"baseline_average_seconds_{base}"], evidence
        assert evidence[f"peak_timeout_rate_{SURGE_WINDOW}"] > 0, evidence
        assert evidence[f"baseline_requests_{base}"] > 0, evidence
        assert body["reason"].startswith("Surge: "), body["reason"]

        after = metrics(n1)
        assert after["machdb_scaling_surges_total"] == 1 and after["machdb_scaling_surging"] == 0, after
        view = n1.get("/admin/v1/scaling", headers=n1.admin_headers()).json()
        state = view["evaluation"]["state"]
        assert state["last_recommendation"] is None and state["surge_episode"] is None, state
    finally:
        load.close()
        operator.close()
        print(f"----- operator log\n{operator.log_tail()}")


def test_a_sustained_rise_is_one_add_node_and_no_surge_report(cluster_factory, machdb_bin, tmp_path):
    n1, operator = start(cluster_factory, machdb_bin, tmp_path, provision="log")
    load = Load(n1)
    try:
        calm_baseline(n1)
        load.slow_on.set()
        surged = threading.Event()

        def add_node():
            if metrics(n1)["machdb_scaling_surging"] == 1:
                surged.set()
            return [d for d in operator.decisions() if d.get("kind") == "add_node"] or None
        added = wait_until(add_node, 60, "the operator to receive an add_node", interval=0.2)
        assert added[0]["action"] == "logged", added
        view = n1.get("/admin/v1/scaling", headers=n1.admin_headers()).json()
        assert view["evaluation"]["state"]["surge_episode"] is None, view["evaluation"]["state"]

        # The rise goes on; nothing else is reported (the cooldown holds scale-ups, and the
        # surge it started as was dropped).
        time.sleep(SURGE_WINDOW + 4)
        decisions = operator.decisions()
        assert kinds(decisions) == ["add_node"], decisions
        recs = recommendations(n1)
        assert kinds(recs) == ["add_node"], recs
        print(f"\nadd_node: {json.dumps(recs[0]['body'])[:400]}")
        assert metrics(n1)["machdb_scaling_surges_total"] == 0
        assert surged.is_set(), "the rise started as a surge (machdb_scaling_surging 1), then was not reported as one"
    finally:
        load.close()
        operator.close()
        print(f"----- operator log\n{operator.log_tail()}")
