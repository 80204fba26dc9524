"""End-to-end harness for machdb: real processes on free loopback ports.

Modelled on rqlite's system_test/e2e/helpers.py: every node is the real `machdb serve`
binary on a free 127.0.0.1 port with its own data directory and its own log file; every
wait has an explicit deadline (no bare sleeps); logs are dumped when a test fails (see
conftest.py). Only the Python standard library is used (http.client, not requests), so
raw request targets such as `/v1/collections/c/docs/..` or `a%2Fb` go out exactly as
written.
"""

from __future__ import annotations

import email.utils
import http.client
import ssl
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable, Iterable

REPO_ROOT = Path(__file__).resolve().parents[2]

READY_TIMEOUT = 20.0      # seconds for a node to answer 200 on /readyz
STOP_TIMEOUT = 15.0       # seconds for a node to exit after SIGTERM / SIGKILL
REQUEST_TIMEOUT = 10.0    # default per-request socket timeout
CTL_TIMEOUT = 30.0        # seconds for a `machdb ctl` invocation

PROBLEM_PREFIX = "urn:machdb:problem:"


# --------------------------------------------------------------------------- binary


def binary_candidates() -> list[Path]:
    """Where the binary is looked for, in order: $MACHDB_BIN, release, debug."""
    out = []
    env = os.environ.get("MACHDB_BIN")
    if env:
        p = Path(env)
        out.append(p if p.is_absolute() else (REPO_ROOT / p))
    out.append(REPO_ROOT / ".build" / "release" / "machdb")
    out.append(REPO_ROOT / ".build" / "debug" / "machdb")
    return out


def find_binary() -> tuple[Path | None, str]:
    """The machdb binary to test, or None and a message saying what was tried."""
    env = os.environ.get("MACHDB_BIN")
    cands = binary_candidates()
    if env:
        # An explicit MACHDB_BIN must exist: never fall back silently to another build.
        p = cands[0]
        if p.is_file() and os.access(p, os.X_OK):
            return p, ""
        return None, f"MACHDB_BIN={env!r} is not an executable file ({p})"
    for p in cands:
        if p.is_file() and os.access(p, os.X_OK):
            return p, ""
    tried = ", ".join(str(p) for p in cands)
    return None, (f"machdb binary not found (tried {tried}); build it with "
                  f"`swift build -c release` or set MACHDB_BIN")


# --------------------------------------------------------------------------- misc


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1 (bind port 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate: Callable[[], object], timeout: float, what: str,
               interval: float = 0.02):
    """Poll `predicate` until it returns a truthy value or `timeout` passes.

    Returns the truthy value; raises AssertionError naming `what` on timeout.
    """
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while True:
        try:
            v = predicate()
            if v:
                return v
        except (OSError, http.client.HTTPException) as e:  # not up yet, reset, ...
            last_exc = e
        if time.monotonic() >= deadline:
            extra = f" (last error: {last_exc!r})" if last_exc else ""
            raise AssertionError(f"timed out after {timeout:.1f}s waiting for {what}{extra}")
        time.sleep(interval)


def fnv1a64(data: bytes) -> int:
    """FNV-1a, 64-bit (offset basis 0xcbf29ce484222325, prime 0x100000001b3)."""
    h = 0xCBF29CE484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def bucket_of(doc_id: str) -> int:
    """API.md: bucket = 1 + (FNV-1a-64(UTF-8 bytes of the shard key) mod 1000); the shard
    key is the id, or its part before ':' (collections that declare a shard key)."""
    return 1 + fnv1a64(doc_id.split(":", 1)[0].encode("utf-8")) % 1000


def media_type(content_type: str | None) -> str | None:
    """`Type/Sub; params` -> `type/sub` (lowercased), None stays None."""
    if content_type is None:
        return None
    return content_type.split(";", 1)[0].strip().lower()


def jdumps(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode("utf-8")


def deep_json(depth: int, kind: str = "array") -> bytes:
    """Valid JSON nested exactly `depth` levels (depth 1 = `[]` / `{"a":0}`)."""
    if kind == "array":
        return b"[" * depth + b"]" * depth
    return b'{"a":' * depth + b"0" + b"}" * depth


def parse_http_date(value: str) -> float:
    return email.utils.parsedate_to_datetime(value).timestamp()


# --------------------------------------------------------------------------- responses


class Response(tuple):
    """(status, headers, body): headers is a dict with lowercased names.

    Also carries the request (`method`, `target`) and the node id that should have
    answered, so assertions can check `instance` and `X-Machdb-Served-By`.
    """

    def __new__(cls, status: int, headers: dict, body: bytes, method: str = "",
                target: str = "", node_id: str | None = None, elapsed: float = 0.0):
        self = super().__new__(cls, (status, headers, body))
        self.method = method
        self.target = target
        self.node_id = node_id
        self.elapsed = elapsed
        return self

    @property
    def status(self) -> int:
        return self[0]

    @property
    def headers(self) -> dict:
        return self[1]

    @property
    def body(self) -> bytes:
        return self[2]

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError as e:
            raise AssertionError(f"response body is not JSON ({e}): {self.describe()}")

    def describe(self) -> str:
        body = self.body if len(self.body) <= 600 else self.body[:600] + b"..."
        return (f"{self.method} {self.target} -> {self.status} "
                f"headers={self.headers} body={body!r}")

    def __repr__(self) -> str:
        return f"<Response {self.describe()}>"


def _collect_headers(resp: http.client.HTTPResponse) -> dict:
    out: dict[str, str] = {}
    for k, v in resp.getheaders():
        k = k.lower()
        out[k] = f"{out[k]}, {v}" if k in out else v
    return out


# Titles are fixed per problem type (API.md): remember the first one seen per slug.
_TITLES: dict[str, str] = {}
_TITLES_LOCK = threading.Lock()


def is_read(resp: Response) -> bool:
    """GET/HEAD and queries: under the cluster map, a node without the replica role relays
    them to one that has it (docs/API.md, "Which node answers")."""
    return resp.method in ("GET", "HEAD") and "/admin/" not in (resp.target or "") \
        or (resp.method == "POST" and (resp.target or "").split("?")[0].endswith("/query"))


def assert_served_by(resp: Response):
    assert "x-machdb-served-by" in resp.headers, \
        f"X-Machdb-Served-By missing: {resp.describe()}"
    if resp.node_id is not None and not (is_read(resp) and resp.headers["x-machdb-served-by"]):
        assert resp.headers["x-machdb-served-by"] == resp.node_id, \
            f"X-Machdb-Served-By should be {resp.node_id!r}: {resp.describe()}"


def assert_problem(resp: Response, status: int, slug: str) -> dict:
    """Check an RFC 9457 problem response exactly as API.md defines it; return its body."""
    assert resp.status == status, f"expected {status} {slug}: {resp.describe()}"
    assert_served_by(resp)
    assert media_type(resp.headers.get("content-type")) == "application/problem+json", \
        f"expected Content-Type application/problem+json: {resp.describe()}"
    body = resp.json()
    assert isinstance(body, dict), f"problem body is not an object: {resp.describe()}"
    assert body.get("type") == PROBLEM_PREFIX + slug, \
        f"expected type {PROBLEM_PREFIX + slug}: {resp.describe()}"
    assert body.get("status") == status, f"problem 'status' != {status}: {resp.describe()}"
    title = body.get("title")
    assert isinstance(title, str) and title, f"problem without a title: {resp.describe()}"
    assert isinstance(body.get("detail"), str), f"problem without detail: {resp.describe()}"
    with _TITLES_LOCK:
        first = _TITLES.setdefault(slug, title)
    assert title == first, (f"title of {slug} must be fixed: saw {first!r} before, now "
                            f"{title!r}: {resp.describe()}")
    if resp.target:
        from urllib.parse import unquote
        path = resp.target.split("?", 1)[0]
        allowed = {path, unquote(path), resp.target}
        assert body.get("instance") in allowed, \
            f"problem 'instance' should be the request path {path!r}: {resp.describe()}"
    return body


def assert_json_response(resp: Response, status: int):
    """A successful JSON API response: status, served-by, application/json; returns body."""
    assert resp.status == status, f"expected {status}: {resp.describe()}"
    assert_served_by(resp)
    assert media_type(resp.headers.get("content-type")) == "application/json", \
        f"expected application/json: {resp.describe()}"
    return resp.json()


def index_of(resp: Response) -> int:
    """X-Machdb-Index as an int (must be present and a non-negative integer)."""
    v = resp.headers.get("x-machdb-index")
    assert v is not None and re.fullmatch(r"[0-9]+", v.strip()), \
        f"bad or missing X-Machdb-Index: {resp.describe()}"
    return int(v)


def parse_allow(resp: Response) -> set[str]:
    allow = resp.headers.get("allow")
    assert allow is not None, f"405 without Allow header: {resp.describe()}"
    return {m.strip().upper() for m in allow.split(",") if m.strip()}


# --------------------------------------------------------------------------- nodes


class NodeStartError(AssertionError):
    pass


class Node:
    """One `machdb serve` process; its data dir and log file live under `base_dir`."""

    # Every Node not yet closed; conftest dumps their log tails when a test fails.
    open_nodes: "list[Node]" = []
    _registry_lock = threading.Lock()

    def __init__(self, binary: Path, base_dir: Path, node_id: str = "n1", *,
                 admin_token: str | None = None, extra_args: Iterable[str] = (),
                 env: dict | None = None, data_dir: Path | None = None,
                 listen_host: str = "127.0.0.1", tls: "ssl.SSLContext | None" = None):
        self.binary = Path(binary)
        self.node_id = node_id
        self.base_dir = Path(base_dir)
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir = Path(data_dir) if data_dir else self.base_dir / f"{node_id}-data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.base_dir / f"{node_id}.log"
        self.admin_token = admin_token
        self.extra_args = list(extra_args)
        self.extra_env = dict(env or {})
        self.listen_host = listen_host
        self.tls = tls  # an HTTPS node (--tls-cert): requests verify it with this context
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self._log_file = None
        self.starts = 0
        with Node._registry_lock:
            Node.open_nodes.append(self)

    # -- addresses

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    # -- process control

    def command(self, extra: Iterable[str] = ()) -> list[str]:
        cmd = [str(self.binary), "serve", "--node-id", self.node_id,
               "--data-dir", str(self.data_dir),
               "--listen", f"{self.listen_host}:{self.port}",
               "--advertise", self.url]
        if self.admin_token is not None:
            cmd += ["--admin-token", self.admin_token]
        return cmd + self.extra_args + list(extra)

    def child_env(self) -> dict:
        # Never leak the runner's MACHDB_* settings into the server.
        env = {k: v for k, v in os.environ.items() if not k.startswith("MACHDB_")}
        env.update(self.extra_env)
        return env

    def launch(self, extra: Iterable[str] = ()) -> subprocess.Popen:
        """Start the process (appending to its log) without waiting for readiness."""
        assert not self.is_running(), f"{self.node_id} is already running"
        self._close_log()
        self.starts += 1
        self._log_file = open(self.log_path, "ab", buffering=0)
        cmd = self.command(extra)
        self._log_file.write(f"\n===== start #{self.starts}: {' '.join(cmd)}\n".encode())
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self._log_file,
                                     stderr=subprocess.STDOUT, env=self.child_env(),
                                     start_new_session=True)
        return self.proc

    def start(self, extra: Iterable[str] = (), timeout: float = READY_TIMEOUT) -> "Node":
        """Start and wait until GET /readyz answers 200; retries on a port clash."""
        for attempt in range(3):
            self.launch(extra)
            try:
                self.wait_ready(timeout)
                return self
            except NodeStartError:
                exited = self.proc is not None and self.proc.poll() is not None
                if exited and attempt < 2 and "in use" in self.log_tail(4000).lower():
                    self.port = free_port()  # someone took our port: try another
                    continue
                self.kill9()
                raise
        raise AssertionError("unreachable")

    def wait_ready(self, timeout: float = READY_TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            if self.proc is not None and self.proc.poll() is not None:
                raise NodeStartError(
                    f"node {self.node_id} exited with code {self.proc.returncode} before "
                    f"becoming ready; log tail:\n{self.log_tail()}")
            try:
                r = self.request("GET", "/readyz", timeout=1.0)
                if r.status == 200:
                    return
            except (OSError, http.client.HTTPException):
                pass
            if time.monotonic() >= deadline:
                raise NodeStartError(
                    f"node {self.node_id} not ready within {timeout:.0f}s on {self.url}; "
                    f"log tail:\n{self.log_tail()}")
            time.sleep(0.05)

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_exit(self, timeout: float = STOP_TIMEOUT) -> int:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"node {self.node_id} did not exit within {timeout:.0f}s; log tail:\n"
                f"{self.log_tail()}")

    def kill9(self):
        """SIGKILL the process (if running) and reap it."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=STOP_TIMEOUT)
        self._close_log()

    def terminate(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM, wait up to `timeout` for exit, return the exit code."""
        assert self.proc is not None, "node was never started"
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.wait_exit(timeout)
        except AssertionError:
            self.kill9()
            raise
        self._close_log()
        return code

    def restart(self, extra: Iterable[str] = (), graceful: bool = True) -> "Node":
        if self.is_running():
            if graceful:
                code = self.terminate()
                assert code == 0, f"SIGTERM exit code {code}; log:\n{self.log_tail()}"
            else:
                self.kill9()
        return self.start(extra)

    def close(self):
        """Final teardown: kill whatever is left and drop from the registry."""
        self.kill9()
        with Node._registry_lock:
            if self in Node.open_nodes:
                Node.open_nodes.remove(self)

    def _close_log(self):
        if self._log_file is not None:
            try:
                self._log_file.close()
            finally:
                self._log_file = None

    def log_tail(self, max_bytes: int = 12000) -> str:
        try:
            data = self.log_path.read_bytes()
        except OSError:
            return "<no log>"
        return data[-max_bytes:].decode("utf-8", "replace")

    def log_text(self) -> str:
        try:
            return self.log_path.read_bytes().decode("utf-8", "replace")
        except OSError:
            return ""

    # -- HTTP

    def request(self, method: str, target: str, body: bytes | str | None = None,
                headers: dict | None = None, timeout: float = REQUEST_TIMEOUT) -> Response:
        """One request on a fresh connection; `target` is sent exactly as given."""
        if isinstance(body, str):
            body = body.encode("utf-8")
        conn = (http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout, context=self.tls) if self.tls
                else http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout))
        t0 = time.monotonic()
        try:
            conn.putrequest(method, target, skip_accept_encoding=True)
            hdrs = dict(headers or {})
            lower = {k.lower() for k in hdrs}
            if body is not None and "content-length" not in lower \
                    and "transfer-encoding" not in lower:
                hdrs["Content-Length"] = str(len(body))
            elif body is None and method in ("PUT", "POST", "PATCH") \
                    and "content-length" not in lower:
                hdrs["Content-Length"] = "0"
            for k, v in hdrs.items():
                conn.putheader(k, v)
            try:
                conn.endheaders(body)
            except (BrokenPipeError, ConnectionResetError) as send_error:
                # The server may answer (e.g. 413) and close before reading the whole
                # body; its answer can still be waiting in our receive buffer.
                try:
                    resp = conn.getresponse()
                except (OSError, http.client.HTTPException):
                    raise send_error
            else:
                resp = conn.getresponse()
            data = resp.read()
            return Response(resp.status, _collect_headers(resp), data, method, target,
                            self.node_id, time.monotonic() - t0)
        finally:
            conn.close()

    def get(self, target, **kw):
        return self.request("GET", target, **kw)

    def put_json(self, target: str, obj, headers: dict | None = None) -> Response:
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        return self.request("PUT", target, jdumps(obj), h)

    def post_json(self, target: str, obj, headers: dict | None = None) -> Response:
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        return self.request("POST", target, jdumps(obj), h)

    def patch(self, target: str, obj, headers: dict | None = None) -> Response:
        h = {"Content-Type": "application/merge-patch+json"}
        h.update(headers or {})
        return self.request("PATCH", target, jdumps(obj), h)

    def query(self, collection: str, q: dict) -> Response:
        return self.post_json(f"/v1/collections/{collection}/query", q)

    def query_all(self, collection: str, q: dict | None = None, limit: int = 1000,
                  max_pages: int = 10000) -> list[dict]:
        """Follow `next` cursors until exhausted; returns every doc entry in order."""
        q = dict(q or {})
        q["limit"] = limit
        out: list[dict] = []
        for _ in range(max_pages):
            r = self.query(collection, q)
            body = assert_json_response(r, 200)
            out.extend(body["docs"])
            if not body.get("next"):
                return out
            q["after"] = body["next"]
        raise AssertionError(f"query on {collection} did not finish in {max_pages} pages")

    def admin_headers(self) -> dict:
        assert self.admin_token is not None
        return {"Authorization": f"Bearer {self.admin_token}"}

    def ctl(self, *args: str, token: str | None = None,
            timeout: float = CTL_TIMEOUT) -> subprocess.CompletedProcess:
        cmd = [str(self.binary), "ctl", "--url", self.url]
        if token is not None:
            cmd += ["--admin-token", token]
        cmd += list(args)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MACHDB_")}
        return subprocess.run(cmd, capture_output=True, timeout=timeout, env=env,
                              stdin=subprocess.DEVNULL)


def doc_path(collection: str, doc_id: str) -> str:
    return f"/v1/collections/{collection}/docs/{doc_id}"


def snapshot_store(node: Node, known: dict[str, Iterable[str]]) -> dict:
    """Everything observable about the store: the collections listing, every JSON doc
    via query, and raw GETs (status, bytes, type, ETag, index) of the given ids."""
    snap: dict = {}
    r = node.get("/v1/collections")
    snap["collections"] = assert_json_response(r, 200)
    names = {c["name"] for c in snap["collections"]["collections"]} | set(known)
    snap["queries"] = {n: node.query_all(n) for n in sorted(names)}
    raw = {}
    for c, ids in known.items():
        for i in ids:
            g = node.get(doc_path(c, i))
            raw[(c, i)] = (g.status, g.body if g.status == 200 else None,
                           g.headers.get("content-type") if g.status == 200 else None,
                           g.headers.get("etag"), g.headers.get("x-machdb-rev"),
                           g.headers.get("x-machdb-index") if g.status == 200 else None)
    snap["raw"] = raw
    return snap


# --------------------------------------------------------------------------- clusters
#
# A Cluster is a set of Nodes sharing a cluster token and an admin token: the first node
# starts alone (Mach I), the others with `--join <url>`. Every node keeps its own data dir
# and log file; Node.open_nodes holds them all, so conftest dumps every node's log tail
# when a test fails, and Cluster.close() kills whatever is still running.

CLUSTER_TOKEN = "e2e-cluster-token-51c9"
CLUSTER_ADMIN_TOKEN = "e2e-cluster-admin-token-0d2e"
CLUSTER_FORM_TIMEOUT = 45.0    # seconds for a joining node to become a voter
# A request already routed by another node is served from the receiving node's own copy:
# the way to check what one node holds (docs/API.md, "Which node answers").
LOCAL_READ = {"X-Machdb-Forwarded": "e2e-local-read"}
VOTER_STATES = ("leader", "follower")


class ClusterView(dict):
    """The JSON of GET /admin/v1/cluster, with accessors."""

    @property
    def shard(self) -> dict:
        shards = self.get("shards")
        assert isinstance(shards, list) and shards, f"cluster view without shards: {self}"
        return shards[0]

    @property
    def leader(self) -> str | None:
        return self.shard.get("leader")

    @property
    def term(self) -> int:
        return int(self.shard.get("term") or 0)

    @property
    def members(self) -> list[str]:
        return list(self.shard.get("members") or [])

    def entry(self, node_id: str) -> dict | None:
        for e in self.get("nodes") or []:
            if e.get("id") == node_id:
                return e
        return None

    def raft_state(self, node_id: str) -> str | None:
        e = self.entry(node_id)
        return None if e is None else e.get("raft_state")

    def voters(self) -> list[str]:
        return sorted(e["id"] for e in self.get("nodes") or []
                      if e.get("raft_state") in VOTER_STATES)

    def learners(self) -> list[str]:
        return sorted(e["id"] for e in self.get("nodes") or []
                      if e.get("raft_state") == "learner")

    def applied(self, node_id: str) -> int | None:
        e = self.entry(node_id)
        v = None if e is None else e.get("applied_index")
        return v if isinstance(v, int) else None


def replica_ids(view: dict) -> set[str]:
    """Nodes the cluster map gives the replica role (they serve reads)."""
    return {e["id"] for e in view.get("nodes", []) if "replica" in e.get("roles", [])
            and e.get("state") == "active"}


def cluster_view(node: "Node", timeout: float = 3.0, token: str | None = None) -> ClusterView:
    """GET /admin/v1/cluster on `node` (admin token); must be 200 JSON."""
    tok = token if token is not None else node.admin_token
    hdrs = {"Authorization": f"Bearer {tok}"} if tok is not None else {}
    r = node.get("/admin/v1/cluster", headers=hdrs, timeout=timeout)
    assert r.status == 200, f"cluster view of {node.node_id}: {r.describe()}"
    body = r.json()
    assert isinstance(body, dict), r.describe()
    return ClusterView(body)


def try_view(node: "Node", timeout: float = 2.0) -> ClusterView | None:
    """The node's cluster view, or None when it is down / not answering 200."""
    if not node.is_running():
        return None
    try:
        return cluster_view(node, timeout=timeout)
    except (OSError, http.client.HTTPException, AssertionError):
        return None


def self_leader(node: "Node", timeout: float = 2.0) -> ClusterView | None:
    """The node's view if the node reports itself as the leader of shard 1, else None."""
    v = try_view(node, timeout)
    if v is None:
        return None
    if v.leader == node.node_id and v.raft_state(node.node_id) == "leader":
        return v
    return None


def check_write(resp: Response, leader_id: str | None = None,
                statuses: tuple[int, ...] = (200, 201)) -> int:
    """A successful write (possibly forwarded): status, index in header == body index,
    served by `leader_id` when given. Returns the index."""
    assert resp.status in statuses, f"write failed: {resp.describe()}"
    assert "x-machdb-served-by" in resp.headers, f"no X-Machdb-Served-By: {resp.describe()}"
    if leader_id is not None:
        assert resp.headers["x-machdb-served-by"] == leader_id, \
            f"a write must be served by the leader {leader_id!r}: {resp.describe()}"
    idx = index_of(resp)
    body = resp.json()
    assert body.get("index") == idx, f"body index != X-Machdb-Index: {resp.describe()}"
    return idx


def parse_metric_values(text: str) -> dict[str, float]:
    """Unlabelled samples of a Prometheus text page: {name: value}."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*) ([-+0-9.eE]+|NaN)$", line.strip())
        if m:
            out[m.group(1)] = float(m.group(2))
    return out


def content_of(node: "Node", min_index: int | None = None, consistency: str | None = None,
               timeout: float = REQUEST_TIMEOUT) -> dict:
    """Every live JSON document on `node`: {(collection, id): (rev, bucket, updated_at,
    canonical JSON)} via GET /v1/collections and paginated queries. With `min_index`,
    every read carries X-Machdb-Min-Index."""
    hdrs = {"X-Machdb-Min-Index": str(min_index)} if min_index is not None else {}
    hdrs.update(LOCAL_READ)
    qs = f"?consistency={consistency}" if consistency else ""
    r = node.get("/v1/collections" + qs, headers=hdrs, timeout=timeout)
    assert r.status == 200, f"{node.node_id}: {r.describe()}"
    out: dict = {}
    for c in r.json()["collections"]:
        name = c["name"]
        q: dict = {"limit": 1000}
        seen = 0
        for _ in range(100000):
            h = {"Content-Type": "application/json"}
            h.update(hdrs)
            p = node.request("POST", f"/v1/collections/{name}/query" + qs, jdumps(q), h,
                             timeout=timeout)
            assert p.status == 200, f"{node.node_id}: {p.describe()}"
            body = p.json()
            for d in body["docs"]:
                key = (name, d["id"])
                assert key not in out, f"{node.node_id}: {key} returned twice by the query"
                out[key] = (d["rev"], d["bucket"], d.get("updated_at"),
                            json.dumps(d["doc"], sort_keys=True, separators=(",", ":")))
                seen += 1
            if not body.get("next"):
                break
            q["after"] = body["next"]
        assert seen == c["count"], (f"{node.node_id}: /v1/collections says {name} holds "
                                    f"{c['count']} docs, the query returned {seen}")
    return out


def digest_of(content: dict) -> str:
    import hashlib
    h = hashlib.sha256()
    for key in sorted(content):
        h.update(repr((key, content[key])).encode())
    return h.hexdigest()[:16]


def diff_contents(a: dict, b: dict, limit: int = 5) -> str:
    only_a = sorted(set(a) - set(b))
    only_b = sorted(set(b) - set(a))
    differ = sorted(k for k in set(a) & set(b) if a[k] != b[k])
    return (f"{len(only_a)} only in first (e.g. {only_a[:limit]}), {len(only_b)} only in "
            f"second (e.g. {only_b[:limit]}), {len(differ)} differ (e.g. "
            f"{[(k, a[k], b[k]) for k in differ[:limit]]})")


class Cluster:
    """Nodes of one cluster: `add()` one at a time or `start(n)`; `close()` kills all."""

    def __init__(self, binary: Path, dir_fn: Callable[[str], Path], *,
                 cluster_token: str = CLUSTER_TOKEN, admin_token: str = CLUSTER_ADMIN_TOKEN,
                 common_args: Iterable[str] = (), tls: "ssl.SSLContext | None" = None):
        self.binary = Path(binary)
        self.dir_fn = dir_fn
        self.cluster_token = cluster_token
        self.admin_token = admin_token
        self.common_args = list(common_args)
        self.tls = tls
        self.nodes: list[Node] = []

    # -- membership

    def node(self, node_id: str) -> Node:
        for n in self.nodes:
            if n.node_id == node_id:
                return n
        raise KeyError(node_id)

    def running(self) -> list[Node]:
        return [n for n in self.nodes if n.is_running()]

    def seed(self) -> Node:
        for n in self.nodes:
            if n.is_running():
                return n
        raise AssertionError("no running node to join through")

    def add(self, node_id: str | None = None, *, join: "Node | str | bool" = True,
            level: int | None = None, extra_args: Iterable[str] = (),
            cluster_token: str | None = "", start: bool = True,
            timeout: float = READY_TIMEOUT) -> Node:
        """Create (and start) a node. join=True joins through the first running node,
        a Node or URL joins there, False starts it alone. cluster_token="" means the
        cluster's token, None none at all."""
        node_id = node_id or f"n{len(self.nodes) + 1}"
        tok = self.cluster_token if cluster_token == "" else cluster_token
        args: list[str] = []
        if tok is not None:
            args += ["--cluster-token", tok]
        if level is not None:
            args += ["--level", str(level)]
        if join is True:
            args += ["--join", self.seed().url]
        elif isinstance(join, Node):
            args += ["--join", join.url]
        elif isinstance(join, str):
            args += ["--join", join]
        args += self.common_args + list(extra_args)
        n = Node(self.binary, self.dir_fn(node_id), node_id, admin_token=self.admin_token,
                 extra_args=args, tls=self.tls)
        self.nodes.append(n)
        if start:
            n.start(timeout=timeout)
        return n

    def start(self, count: int, timeout: float = CLUSTER_FORM_TIMEOUT, **kw) -> list[Node]:
        """n1 alone, then n2..n<count> joining one after another (each waited for in the
        cluster map before the next starts), then until the map shows Mach <count> with its
        planned voters (Mach II: one voter and a learner; from Mach III: every node a voter,
        up to 5); returns the nodes."""
        first = self.add(join=False, **kw)
        for _ in range(count - 1):
            n = self.add(join=first, **kw)
            self.wait_in_map(n.node_id, timeout=timeout)
        self.wait_stage(count, timeout=timeout)
        return list(self.nodes)

    def wait_in_map(self, node_id: str, timeout: float = CLUSTER_FORM_TIMEOUT) -> ClusterView:
        """Until the leader's cluster map lists `node_id` as an active node."""
        def ok():
            found = self.find_leader(agree=False)
            if found is None:
                return None
            e = found[1].entry(node_id)
            return found[1] if e is not None and e.get("state") == "active" else None
        return wait_until(ok, timeout, f"{node_id} in the cluster map ({self.describe()})", interval=0.1)

    def wait_stage(self, count: int, timeout: float = CLUSTER_FORM_TIMEOUT) -> ClusterView:
        """Until the leader's map shows `count` active nodes, the planned number of voters,
        and every node's planned roles in place (no node left without a role)."""
        voters = 1 if count <= 2 else min(count, 5)

        def ok():
            found = self.find_leader(agree=False)
            if found is None:
                return None
            v = found[1]
            active = [e for e in v.get("nodes", []) if e.get("state") == "active"]
            if len(active) != count or len(v.voters()) != voters:
                return None
            if any(not e.get("roles") for e in active):
                return None
            return v
        return wait_until(ok, timeout, f"Mach {count} with {voters} voters ({self.describe()})",
                          interval=0.1)

    # -- observation

    def views(self, nodes: Iterable[Node] | None = None) -> dict[str, ClusterView | None]:
        return {n.node_id: try_view(n) for n in (nodes if nodes is not None else self.running())}

    def find_leader(self, among: Iterable[Node] | None = None, agree: bool = True,
                    min_term: int = 0) -> tuple[Node, ClusterView] | None:
        """A node that reports itself leader (term >= min_term); with `agree`, every other
        running node of `among` names the same leader."""
        among = [n for n in (among if among is not None else self.nodes) if n.is_running()]
        for n in among:
            v = self_leader(n)
            if v is None or v.term < min_term:
                continue
            if agree:
                for o in among:
                    if o is n:
                        continue
                    ov = try_view(o)
                    if ov is None or ov.leader != n.node_id:
                        break
                else:
                    return n, v
            else:
                return n, v
        return None

    def leader(self, timeout: float = 20.0, **kw) -> Node:
        return self.leader_and_view(timeout, **kw)[0]

    def leader_and_view(self, timeout: float = 20.0, **kw) -> tuple[Node, ClusterView]:
        return wait_until(lambda: self.find_leader(**kw), timeout,
                          f"a leader agreed on by the running nodes ({self.describe()})",
                          interval=0.05)

    def followers(self, leader: Node) -> list[Node]:
        return [n for n in self.running() if n is not leader]

    def wait_voter(self, node_id: str, timeout: float = CLUSTER_FORM_TIMEOUT) -> ClusterView:
        """Until the leader's view lists `node_id` as a voter."""
        def ok():
            found = self.find_leader(agree=False)
            if found and found[1].raft_state(node_id) in VOTER_STATES:
                return found[1]
            return None
        return wait_until(ok, timeout, f"{node_id} to be a voter ({self.describe()})",
                          interval=0.1)

    def wait_voters(self, count: int, timeout: float = CLUSTER_FORM_TIMEOUT
                    ) -> tuple[Node, ClusterView]:
        """Until a leader's view shows `count` voters and every running node agrees."""
        def ok():
            found = self.find_leader(agree=True)
            if found and len(found[1].voters()) >= count:
                return found
            return None
        return wait_until(ok, timeout, f"{count} voters ({self.describe()})", interval=0.1)

    def applied_index(self, node: Node) -> int | None:
        v = try_view(node)
        return None if v is None else v.applied(node.node_id)

    def wait_applied(self, node: Node, index: int, timeout: float = 30.0):
        """Until `node` reports (in its own view) having applied `index`."""
        def ok():
            a = self.applied_index(node)
            return a is not None and a >= index
        wait_until(ok, timeout, f"{node.node_id} to apply index {index} "
                   f"(now {self.applied_index(node)})", interval=0.05)

    def describe(self) -> str:
        parts = []
        for n in self.nodes:
            if not n.is_running():
                parts.append(f"{n.node_id}: down")
                continue
            v = try_view(n, timeout=1.0)
            if v is None:
                parts.append(f"{n.node_id}: no view")
            else:
                parts.append(f"{n.node_id}: leader={v.leader} term={v.term} "
                             f"states={[(e.get('id'), e.get('raft_state'), e.get('applied_index')) for e in v.get('nodes', [])]}")
        return "; ".join(parts)

    def close(self):
        for n in self.nodes:
            n.close()


class WriteLoad:
    """Threads PUTting distinct documents through `targets` (thread t uses
    targets[t % len]). A write counts as acknowledged only on a 2xx answer.

    retry=True: a 503 or a connection error/timeout is retried (same id, same body) until
    `give_up_after` seconds have passed for that write; any other answer is recorded in
    `unexpected`. retry=False: every non-2xx answer and every exception is a failure.
    per_thread=None writes until stop() is called.
    """

    def __init__(self, targets: list[Node], *, threads: int, per_thread: int | None,
                 prefix: str, collection: str = "load", retry: bool = True,
                 give_up_after: float = 60.0, request_timeout: float = 30.0,
                 pad: int = 40):
        self.targets = list(targets)
        self.n_threads = threads
        self.per_thread = per_thread
        self.prefix = prefix
        self.collection = collection
        self.retry = retry
        self.give_up_after = give_up_after
        self.request_timeout = request_timeout
        self.pad = pad
        self.lock = threading.Lock()
        self.acked: dict[str, tuple] = {}     # id -> (rev, body bytes, index, served_by, t)
        self.unexpected: list[str] = []       # non-retryable answers (descriptions)
        self.gave_up: list[str] = []
        self.failures: list[str] = []         # retry=False: every failed attempt
        self.retried_503: list[tuple] = []   # (id, problem type, detail, served by)
        self.retried_conn: list[str] = []
        # id -> outcomes of the failed attempts before the last one ("503:<type>", "conn")
        self.failed_attempts: dict[str, list[str]] = {}
        self.stop_event = threading.Event()
        self.threads: list[threading.Thread] = []

    def body(self, t: int, k: int) -> bytes:
        return jdumps({"t": t, "k": k, "p": self.prefix, "pad": "x" * (self.pad + k % 17)})

    def _worker(self, t: int):
        node = self.targets[t % len(self.targets)]
        k = 0
        while not self.stop_event.is_set() and (self.per_thread is None or k < self.per_thread):
            doc_id = f"{self.prefix}-{t}-{k}"
            body = self.body(t, k)
            first = time.monotonic()
            while True:
                try:
                    r = node.request("PUT", doc_path(self.collection, doc_id), body,
                                     {"Content-Type": "application/json"},
                                     timeout=self.request_timeout)
                except (OSError, http.client.HTTPException) as e:
                    if not self.retry:
                        with self.lock:
                            self.failures.append(f"{doc_id} via {node.node_id}: {e!r}")
                        break
                    with self.lock:
                        self.retried_conn.append(f"{doc_id}: {e!r}")
                        self.failed_attempts.setdefault(doc_id, []).append("conn")
                else:
                    if r.status in (200, 201):
                        try:
                            idx = index_of(r)
                            rev = r.json()["rev"]
                        except (AssertionError, KeyError, TypeError) as e:
                            with self.lock:
                                self.unexpected.append(f"{doc_id}: bad 2xx ({e}): "
                                                       f"{r.describe()}")
                            break
                        with self.lock:
                            self.acked[doc_id] = (rev, body, idx,
                                                  r.headers.get("x-machdb-served-by"),
                                                  time.monotonic())
                        break
                    if not self.retry:
                        with self.lock:
                            self.failures.append(f"{doc_id} via {node.node_id}: "
                                                 f"{r.describe()}")
                        break
                    if r.status == 503:
                        problem = problem_slug(r)
                        if r.headers.get("retry-after") is None or problem not in (
                                "no-leader", "write-timeout", "not-ready", "overloaded"):
                            with self.lock:
                                self.unexpected.append(f"{doc_id}: 503 without Retry-After "
                                                       f"or of an unexpected type: "
                                                       f"{r.describe()}")
                        try:
                            detail = json.loads(r.body).get("detail")
                        except (ValueError, AttributeError):
                            detail = None
                        with self.lock:
                            self.retried_503.append((doc_id, problem, detail,
                                                     r.headers.get("x-machdb-served-by")))
                            self.failed_attempts.setdefault(doc_id, []).append(f"503:{problem}")
                    else:
                        with self.lock:
                            self.unexpected.append(f"{doc_id}: {r.describe()}")
                        break
                if time.monotonic() - first > self.give_up_after or self.stop_event.is_set():
                    with self.lock:
                        self.gave_up.append(doc_id)
                    break
                time.sleep(0.05)   # back off a little before retrying the same write
            k += 1

    def start(self) -> "WriteLoad":
        self.threads = [threading.Thread(target=self._worker, args=(t,), daemon=True,
                                         name=f"writer-{self.prefix}-{t}")
                        for t in range(self.n_threads)]
        for th in self.threads:
            th.start()
        return self

    def count(self) -> int:
        with self.lock:
            return len(self.acked)

    def stop(self):
        self.stop_event.set()

    def join(self, timeout: float):
        deadline = time.monotonic() + timeout
        for th in self.threads:
            th.join(timeout=max(0.0, deadline - time.monotonic()))
        alive = [th.name for th in self.threads if th.is_alive()]
        assert not alive, f"writer threads still running after {timeout:.0f}s: {alive}"

    def snapshot(self) -> dict:
        with self.lock:
            return dict(self.acked)

    def max_index(self) -> int:
        with self.lock:
            return max((v[2] for v in self.acked.values()), default=0)

    def summary(self) -> str:
        with self.lock:
            return (f"{len(self.acked)} acknowledged, {len(self.retried_503)} retried 503s, "
                    f"{len(self.retried_conn)} retried connection errors, "
                    f"{len(self.unexpected)} unexpected answers, {len(self.gave_up)} given up, "
                    f"{len(self.failures)} failures")


def problem_slug(resp: Response) -> str | None:
    try:
        t = json.loads(resp.body).get("type", "")
    except (ValueError, AttributeError):
        return None
    return t[len(PROBLEM_PREFIX):] if isinstance(t, str) and t.startswith(PROBLEM_PREFIX) else t


def verify_acked(node: Node, acked: dict, collection: str, min_index: int,
                 threads: int = 4) -> list[str]:
    """GET every acknowledged doc on `node` (X-Machdb-Min-Index = min_index): right bytes
    and rev. Returns a list of problems (empty when all is well)."""
    items = sorted(acked.items())
    bad: list[str] = []
    lock = threading.Lock()

    def work(part):
        for doc_id, (rev, body, idx, _, _) in part:
            try:
                g = node.get(doc_path(collection, doc_id),
                             headers={"X-Machdb-Min-Index": str(min_index), **LOCAL_READ}, timeout=15)
            except (OSError, http.client.HTTPException) as e:
                with lock:
                    bad.append(f"{doc_id}: {e!r}")
                continue
            if g.status != 200 or g.body != body or g.headers.get("etag") != f'"{rev}"':
                with lock:
                    bad.append(f"{doc_id} (acked rev {rev} index {idx}): got {g.status} "
                               f"etag={g.headers.get('etag')} body={g.body[:100]!r}")

    parts = [items[i::threads] for i in range(threads)]
    ths = [threading.Thread(target=work, args=(p,), daemon=True) for p in parts]
    for th in ths:
        th.start()
    for th in ths:
        th.join(timeout=300)
    return bad
