"""`machdb operator`: the reference operator that closes the autoscaling loop (DESIGN §7).

A real `machdb serve` n1 (cluster and admin tokens) and a real `machdb operator` with
`--provision local`, both on free loopback ports. Recommendations are signed here with
hmac/hashlib exactly as the Load Manager signs them (X-Machdb-Signature: sha256=<hex>).
The operator runs in its own session, so teardown can kill it and any child it started
even if it hangs.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from helpers import (CLUSTER_ADMIN_TOKEN, CLUSTER_TOKEN, PROBLEM_PREFIX, READY_TIMEOUT, Response,
                     _collect_headers, jdumps, media_type, try_view, wait_until, free_port)

SECRET = "e2e-operator-secret-7c21"
JOIN_TIMEOUT = 60.0       # a provisioned node must be active in n1's map within this
LEAVE_TIMEOUT = 90.0      # the operator waits up to 60 s for the map, then stops the node
STOP_TIMEOUT = 45.0       # the operator's SIGTERM: children get 30 s, then SIGKILL


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def recommendation(kind: str, seq: int, target: dict, rec_id: str | None = None) -> bytes:
    return jdumps({
        "id": rec_id or f"rec-e2e-{seq}-{os.urandom(4).hex()}",
        "seq": seq, "kind": kind, "reason": "e2e test", "stage": "Mach I", "stage_number": 1,
        "target": target, "evidence": {"avg_ms": 3500, "window_s": 3600},
        "created_at": int(time.time() * 1000), "source": "n1",
    })


def pid_alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


class OperatorProcess:
    """One `machdb operator` process with its own data root and log file."""

    def __init__(self, binary: Path, base_dir: Path, *, node_prefix: str, max_nodes: int = 2,
                 provision: str = "local", secret_via_env: bool = False, hook_url: str | None = None):
        self.binary = Path(binary)
        self.base_dir = Path(base_dir)
        self.data_root = self.base_dir / "operator-data"
        self.log_path = self.base_dir / "operator.log"
        self.port = free_port()
        self.base_port = free_port()
        self.node_prefix = node_prefix
        self.max_nodes = max_nodes
        self.provision = provision
        self.secret_via_env = secret_via_env
        self.hook_url = hook_url
        self.proc: subprocess.Popen | None = None
        self._log = None

    def command(self) -> list[str]:
        secret = [] if self.secret_via_env else ["--secret", SECRET]
        return [str(self.binary), "operator", "--listen", f"127.0.0.1:{self.port}", *secret,
                "--provision", self.provision,
                "--base-port", str(self.base_port), "--binary", str(self.binary),
                "--data-root", str(self.data_root), "--cluster-token", CLUSTER_TOKEN,
                "--admin-token", CLUSTER_ADMIN_TOKEN, "--node-prefix", self.node_prefix,
                "--max-nodes", str(self.max_nodes), *(["--hook-url", self.hook_url] if self.hook_url else [])]

    def start(self) -> "OperatorProcess":
        assert self.proc is None or self.proc.poll() is not None, "operator already running"
        if self._log is not None:
            self._log.close()
        self._log = open(self.log_path, "ab", buffering=0)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MACHDB_")}
        if self.secret_via_env:
            env["MACHDB_OPERATOR_SECRET"] = SECRET
        self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, env=env, start_new_session=True)

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"operator exited with {self.proc.returncode}:\n{self.log_tail()}")
            return self.request("GET", "/healthz", timeout=1.0).status == 200
        wait_until(ready, READY_TIMEOUT, "the operator's /healthz")
        return self

    def request(self, method: str, target: str, body: bytes | None = None,
                headers: dict | None = None, timeout: float = 10.0) -> Response:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, target, body=body, headers=headers or {})
            resp = conn.getresponse()
            return Response(resp.status, _collect_headers(resp), resp.read(), method, target)
        finally:
            conn.close()

    def deliver(self, body: bytes, signature: str | None = "sign") -> Response:
        headers = {"Content-Type": "application/json"}
        if signature == "sign":
            headers["X-Machdb-Signature"] = sign(body)
        elif signature is not None:
            headers["X-Machdb-Signature"] = signature
        return self.request("POST", "/hook", body, headers)

    def decisions(self) -> list[dict]:
        r = self.request("GET", "/decisions")
        assert r.status == 200, r.describe()
        return r.json()["decisions"]

    def children(self) -> dict[str, dict]:
        r = self.request("GET", "/nodes")
        assert r.status == 200, r.describe()
        return {n["node"]: n for n in r.json()["nodes"]}

    def terminate(self, timeout: float = STOP_TIMEOUT) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"operator did not exit within {timeout:.0f}s:\n{self.log_tail()}")

    def close(self):
        """Teardown: kill the operator's whole session (it and any child left)."""
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, max_bytes: int = 8000) -> str:
        try:
            return self.log_path.read_bytes()[-max_bytes:].decode("utf-8", "replace")
        except OSError:
            return "<no log>"

    def child_log_tail(self, node: str, max_bytes: int = 4000) -> str:
        try:
            return (self.data_root / f"{node}.log").read_bytes()[-max_bytes:].decode("utf-8", "replace")
        except OSError:
            return "<no log>"


@pytest.fixture(scope="module")
def n1(module_cluster_factory):
    """A Mach I node with the cluster's tokens: the cluster the operator's nodes join."""
    cluster = module_cluster_factory()
    return cluster.add("n1", join=False)


@pytest.fixture
def operator_factory(machdb_bin, tmp_path_factory):
    made: list[OperatorProcess] = []

    def make(**kw) -> OperatorProcess:
        op = OperatorProcess(machdb_bin, tmp_path_factory.mktemp("operator"), **kw)
        made.append(op)
        return op.start()
    yield make
    for op in made:
        op.close()
        print(f"----- operator log {op.log_path}\n{op.log_tail()}")


def map_entry(n1, node_id: str) -> dict | None:
    view = try_view(n1)
    return None if view is None else view.entry(node_id)


def check_problem(resp: Response, status: int, slug: str):
    assert resp.status == status, resp.describe()
    assert media_type(resp.headers.get("content-type")) == "application/problem+json", resp.describe()
    body = resp.json()
    assert body.get("type") == PROBLEM_PREFIX + slug, resp.describe()
    assert body.get("status") == status, resp.describe()
    assert isinstance(body.get("title"), str) and body["title"], resp.describe()
    assert isinstance(body.get("detail"), str), resp.describe()
    assert body.get("instance") == resp.target, resp.describe()


def test_unsigned_or_badly_signed_deliveries_are_refused(operator_factory, n1):
    op = operator_factory(node_prefix="opx")
    body = recommendation("add_node", 1, {"join_url": n1.url, "level": 1})
    check_problem(op.deliver(body, signature=None), 401, "unauthorized")
    check_problem(op.deliver(body, signature=sign(body, "not-the-secret")), 401, "unauthorized")
    check_problem(op.deliver(body, signature=sign(body + b" ")), 401, "unauthorized")
    check_problem(op.deliver(body, signature=sign(body).replace("sha256=", "sha1=")), 401, "unauthorized")
    check_problem(op.deliver(body, signature=sign(body)[:-1]), 401, "unauthorized")
    # Signed, but not a recommendation.
    check_problem(op.deliver(b'{"hello": "world"}'), 400, "invalid-request")
    check_problem(op.deliver(b"not json"), 400, "invalid-request")
    assert op.decisions() == []
    assert op.children() == {}
    r = op.request("GET", "/hook")
    assert r.status == 405, r.describe()


def test_add_duplicate_and_remove_a_provisioned_node(operator_factory, n1):
    op = operator_factory(node_prefix="opa")
    body = recommendation("add_node", 1, {"join_url": n1.url, "level": 1})
    r = op.deliver(body)
    assert r.status == 200, r.describe()
    answer = r.json()
    assert answer["accepted"] is True and answer["action"] == "started", r.describe()
    child = answer["node"]
    assert child == "opa1", r.describe()
    assert answer["port"] >= op.base_port

    decisions = op.decisions()
    assert len(decisions) == 1, decisions
    assert decisions[0]["id"] == json.loads(body)["id"] and decisions[0]["action"] == "started"
    assert decisions[0]["node"] == child and decisions[0]["seq"] == 1

    def active():
        entry = map_entry(n1, child)
        return entry is not None and entry.get("state") == "active"
    try:
        wait_until(active, JOIN_TIMEOUT, f"{child} active in n1's cluster map", interval=0.2)
    except AssertionError as e:
        raise AssertionError(f"{e}\noperator log:\n{op.log_tail()}\n{child} log:\n{op.child_log_tail(child)}")

    # The same delivery again: a duplicate, nothing done.
    again = op.deliver(body)
    assert again.status == 200, again.describe()
    assert again.json().get("duplicate") is True, again.describe()
    assert len(op.decisions()) == 1
    assert list(op.children()) == [child]

    # A joined node is a learner (Mach II) before it can leave the Raft group.
    wait_until(lambda: (map_entry(n1, child) or {}).get("raft_state") in ("learner", "follower"),
               JOIN_TIMEOUT, f"{child} a member of the shard", interval=0.2)
    pid = op.children()[child]["pid"]
    assert pid_alive(pid)

    remove = recommendation("remove_node", 2, {"node": child, "join_url": n1.url})
    r = op.deliver(remove)
    assert r.status == 200, r.describe()
    assert r.json()["action"] == "removing", r.describe()

    try:
        wait_until(lambda: try_view(n1) is not None and map_entry(n1, child) is None, LEAVE_TIMEOUT,
                   f"{child} gone from n1's cluster map", interval=0.2)
        wait_until(lambda: op.children()[child]["state"] == "exited", LEAVE_TIMEOUT,
                   f"{child}'s process to exit", interval=0.2)
    except AssertionError as e:
        raise AssertionError(f"{e}\noperator log:\n{op.log_tail()}\n{child} log:\n{op.child_log_tail(child)}")
    assert not pid_alive(pid)
    assert op.children()[child]["exit_code"] == 0, op.children()
    # The outcome is a decision of its own, once the node is stopped (newest first).
    wait_until(lambda: [d["action"] for d in op.decisions()] == ["removed", "removing", "started"], 10.0,
               "the 'removed' decision")
    removed = op.decisions()[0]
    assert removed["id"] == json.loads(remove)["id"] and removed["node"] == child, removed
    assert removed["detail"] == f"left the cluster map; process {pid} exited with 0", removed

    # Removing a node this operator did not start is refused.
    r = op.deliver(recommendation("remove_node", 3, {"node": "n1", "join_url": n1.url}))
    assert r.status == 200 and r.json()["action"] == "skipped: not provisioned by this operator", r.describe()
    assert n1.is_running()


def test_operator_sigterm_stops_its_children(operator_factory, n1):
    # --hook-url: the nodes it starts post their recommendations to it too, signed with its secret.
    hook = "http://127.0.0.1:9/hook"
    op = operator_factory(node_prefix="opb", max_nodes=1, hook_url=hook)
    r = op.deliver(recommendation("add_node", 1, {"join_url": n1.url}))
    assert r.status == 200 and r.json()["action"] == "started", r.describe()
    child = r.json()["node"]
    # The child's log starts with the command line it was started with.
    started_with = op.child_log_tail(child, max_bytes=1 << 20).split("\n=====", 1)[-1].split("\n", 1)[0]
    assert f" --hook-url {hook} --hook-secret {SECRET}" in started_with, started_with
    # Past --max-nodes: refused.
    r = op.deliver(recommendation("add_node", 2, {"join_url": n1.url}))
    assert r.status == 200 and r.json()["action"] == "skipped: max nodes", r.describe()
    # No join_url: refused.
    r = op.deliver(recommendation("replace_node", 3, {"level": 2}))
    assert r.status == 200 and r.json()["action"] == "skipped: no join_url", r.describe()

    def active():
        entry = map_entry(n1, child)
        return entry is not None and entry.get("state") == "active"
    wait_until(active, JOIN_TIMEOUT, f"{child} active in n1's cluster map", interval=0.2)
    pid = op.children()[child]["pid"]
    assert pid_alive(pid)

    code = op.terminate()
    assert code == 0, f"operator exit code {code}:\n{op.log_tail()}"
    wait_until(lambda: not pid_alive(pid), 10.0, f"{child} (pid {pid}) to be gone with the operator")
    assert n1.is_running()


def test_dedupe_survives_a_restart_and_log_mode_only_logs(operator_factory, n1):
    op = operator_factory(node_prefix="opc", provision="log", secret_via_env=True)
    body = recommendation("add_node", 1, {"join_url": n1.url, "level": 2})
    r = op.deliver(body)
    assert r.status == 200 and r.json()["action"] == "logged", r.describe()
    r = op.deliver(recommendation("split_shard", 2, {"shard": 1}))
    assert r.status == 200 and r.json()["action"] == "logged", r.describe()
    r = op.deliver(recommendation("surge", 3, {}))  # informational in every mode
    assert r.status == 200 and r.json()["action"] == "noted", r.describe()
    assert op.children() == {}

    assert op.terminate() == 0, op.log_tail()
    op.start()
    again = op.deliver(body)
    assert again.status == 200 and again.json().get("duplicate") is True, again.describe()
    assert op.decisions() == []  # decisions are in memory; the seen ids are not
    assert (op.data_root / "seen.json").is_file()
