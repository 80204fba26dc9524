"""Property-based API tests: schemathesis drives a live node from OpenAPI/machdb.yaml.

The spec is the oracle. Every operation a single node can safely serve is called with
generated requests (positive and negative data: schema examples, the coverage phase's
boundary values, then a fixed number of fuzzed examples), and every response must pass
five checks:

  not_a_server_error            no 5xx
  status_code_conformance       the status is one the operation documents
  content_type_conformance      the Content-Type is one documented for that status
  response_headers_conformance  required response headers present and well formed
  response_schema_conformance   the body validates against the documented schema

A stateful run follows the links schemathesis finds between operations (an id returned by
a create fed into GET/PUT/PATCH/DELETE), with the same checks. Afterwards the node must
still answer /healthz and its log must hold no critical or fatal line.

Bounded: fixed seed, deterministic generation, MAX_EXAMPLES fuzzed cases per operation,
no shrinking, no example database, a per-request timeout; 25-40 s on 2 cores.

Excluded operations (and why):
- POST /admin/v1/nodes/{node}/leave: would make the node leave (on a single node it is a
  409, but a generated `node` equal to the node id must never be able to stop the run).
- POST /internal/v1/cluster/join: admits a node, turning the standalone node into a Raft
  group with a member that never exists; the rest of the run would test a degraded
  cluster, not the API.
The other internal routes are included with the cluster token configured (the node runs
with --cluster-token): the cluster-map long-poll (its `wait` is forced to 0 so no request
waits up to 60 s; so is the admin cluster view's), snapshot chunks (no snapshot exists: 404/400) and Raft message batches
(a standalone node refuses them: 409/400). The operator webhook is not an operation the
node serves (schemathesis does not call `webhooks`). GET /admin/v1/backup is included;
its binary body cannot be schema-checked, so the test checks the SQLite magic itself.

Generated values the node cannot satisfy by design are bounded before sending:
`X-Machdb-Min-Index` above the node's applied index makes a read wait `--read-wait` and
answer the documented 504 `index-not-reached`, so it is clamped to an index the node has
applied; test_unreached_min_index_is_the_documented_504 covers that 504 explicitly.
"""

from __future__ import annotations

import atexit
import re
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from helpers import assert_json_response, doc_path, index_of

try:
    import hypothesis
    import hypothesis.configuration
    import hypothesis.errors
    import schemathesis
except ImportError as e:  # installed by `scripts/setup --test`
    schemathesis = None
    _IMPORT_ERROR = e
else:
    # Hypothesis keeps caches in ./.hypothesis; keep the working tree clean.
    _HYPOTHESIS_HOME = tempfile.mkdtemp(prefix="machdb-hypothesis-")
    hypothesis.configuration.set_hypothesis_home_dir(_HYPOTHESIS_HOME)
    atexit.register(shutil.rmtree, _HYPOTHESIS_HOME, True)

SPEC_PATH = Path(__file__).resolve().parents[2] / "OpenAPI" / "machdb.yaml"
ADMIN_TOKEN = "st-admin-token-5b1e"
CLUSTER_TOKEN = "st-cluster-token-9c2d"
SEED = 20251121
MAX_EXAMPLES = 25           # fuzzed examples per operation (examples + coverage come on top)
STATEFUL_SCENARIOS = 25     # state machine runs ...
STATEFUL_STEPS = 10         # ... of at most this many calls each
REQUEST_TIMEOUT = 10.0      # seconds; no answer may take longer (query timeout: 5 s)

CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_headers_conformance", "response_schema_conformance")

EXCLUDED = [
    ("POST", "/admin/v1/nodes/{node}/leave"),
    ("POST", "/internal/v1/cluster/join"),
]

SQLITE_MAGIC = b"SQLite format 3\x00"


if schemathesis is None:
    def test_schemathesis_installed():
        pytest.fail(f"schemathesis is not installed ({_IMPORT_ERROR}); run scripts/setup --test",
                    pytrace=False)
else:
    CONFIG = schemathesis.Config.from_dict({
        "seed": SEED,
        "suppress-health-check": ["all"],
        "generation": {
            "mode": "all",                # positive and negative data
            "max-examples": MAX_EXAMPLES,
            "deterministic": True,
            "no-shrink": True,            # bounded time even when something fails
            "database": "none",           # nothing written under the repository
        },
        "phases": {"stateful": {"max-steps": STATEFUL_STEPS}},
        "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
        "auth": {"openapi": {"adminToken": {"bearer": ADMIN_TOKEN},
                             "clusterToken": {"bearer": CLUSTER_TOKEN}}},
        "request-timeout": REQUEST_TIMEOUT,
    })
    schema = schemathesis.openapi.from_path(SPEC_PATH, config=CONFIG)
    for _method, _path in EXCLUDED:
        schema = schema.exclude(method=_method, path=_path)

    from schemathesis.openapi.checks import ContentDeserializationError, JsonSchemaError

    @schema.hook
    def filter_failure(context, failure, case, response):
        """Drop one schemathesis artefact, nothing else.

        A document is stored byte-exact with any Content-Type and read back with it; for a
        type other than JSON the spec's 200 response is `*/*` with the `Binary` schema (any
        bytes), so there is nothing to validate. schemathesis 4.32.5 still parses a body it
        has a deserializer for (YAML types such as `text/yaml`, `text/event-stream`) and
        validates the parsed value against `{type: string, format: binary}`: a YAML mapping
        fails (ST108), bytes that are not UTF-8 fail to decode (ST110). Only those two
        failures, only for a non-JSON document read, are dropped.
        """
        if not isinstance(failure, (JsonSchemaError, ContentDeserializationError)):
            return True
        if case.operation.path != "/v1/collections/{collection}/docs/{id}" \
                or case.method.upper() != "GET" or response.status_code != 200:
            return True
        ctype = (response.headers.get("content-type") or [""])
        ctype = (ctype[0] if isinstance(ctype, list) else ctype).split(";", 1)[0].strip().lower()
        return ctype == "application/json" or ctype.endswith("+json")


# --------------------------------------------------------------------------- the node


class _State:
    node = None
    applied_floor = 0   # an index the node has certainly applied


@pytest.fixture(scope="module")
def st_node(module_node_factory):
    n = module_node_factory.new("n1", admin_token=ADMIN_TOKEN,
                                extra_args=["--cluster-token", CLUSTER_TOKEN])
    # Data for the spec's example ids (collection `carts`, id `c1`), a non-JSON document,
    # and a few more, so reads, patches and queries reach their 200 paths too.
    seed = [("carts", "c1", {"customer": "alice", "status": "open",
                             "items": [{"sku": "apple", "qty": 3, "price": 0.5}], "total": 1.5}),
            ("carts", "c2", {"customer": "bob", "status": "closed", "items": [], "total": 0}),
            ("c1", "c1", {"a": 1}), ("customers", "alice", {"tier": "gold"})]
    for c, i, body in seed:
        r = n.put_json(doc_path(c, i), body)
        assert r.status in (200, 201), r.describe()
    r = n.request("PUT", doc_path("carts", "receipt"), b"%PDF-1.4 not json",
                  {"Content-Type": "application/pdf"})
    assert r.status in (200, 201), r.describe()
    _State.node = n
    _State.applied_floor = index_of(r)
    yield n
    _State.node = None


def _bound(case) -> None:
    """Keep generated values the node cannot satisfy by design from stalling the run."""
    headers = case.headers
    if headers:
        for name in list(headers):
            if name.lower() == "x-machdb-min-index":
                v = headers[name]
                if isinstance(v, int) and not isinstance(v, bool) or \
                        isinstance(v, str) and re.fullmatch(r"[0-9]+", v):
                    if int(v) > _State.applied_floor:
                        headers[name] = str(_State.applied_floor)
    if case.operation.path in ("/internal/v1/cluster-map", "/admin/v1/cluster"):
        query = case.query if case.query is not None else {}
        w = query.get("wait")
        if w is None or isinstance(w, int) and not isinstance(w, bool) and 0 <= w <= 60 or \
                isinstance(w, str) and re.fullmatch(r"[0-9]+", w) and int(w) <= 60:
            query["wait"] = 0          # answer at once (304 or 200), never a long-poll
            case.query = query


def _extra_checks(case, response) -> None:
    """What the spec cannot say about a binary body."""
    if case.operation.path == "/admin/v1/backup" and case.method.upper() == "GET" \
            and response.status_code == 200:
        assert response.content.startswith(SQLITE_MAGIC), \
            f"backup is not a SQLite file: {response.content[:32]!r}"


# --------------------------------------------------------------------------- tests

if schemathesis is not None:

    @schema.parametrize()
    def test_operation_conforms(case, st_node):
        """Every operation, generated requests: the five checks on every response."""
        _bound(case)
        response = case.call(base_url=st_node.url, timeout=REQUEST_TIMEOUT)
        case.validate_response(response)
        _extra_checks(case, response)

    class _Stateful:
        completed = 0       # scenarios run to their end
        failures: list = []  # every check failure seen, even if Hypothesis cannot replay it

    class _Machine(schema.as_state_machine()):
        def before_call(self, case):
            _bound(case)

        def get_call_kwargs(self, case):
            return {"base_url": _State.node.url, "timeout": REQUEST_TIMEOUT}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            try:
                super().validate_response(response, case, additional_checks, **kwargs)
                _extra_checks(case, response)
            except Exception as e:
                _Stateful.failures.append(e)
                raise

        def teardown(self):
            _Stateful.completed += 1
            super().teardown()

    def _replay_inconsistency(e: BaseException) -> bool:
        """Hypothesis noticed that the same choices led to different rules: the server's
        state moved on (a PUT with If-None-Match: * answered 201, then 412). Inherent to a
        stateful run against a live store; schemathesis' own runner treats it the same way."""
        if isinstance(e, hypothesis.errors.FlakyStrategyDefinition):
            return True
        tb = e.__traceback__
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        return isinstance(e, AssertionError) and tb is not None and \
            tb.tb_frame.f_globals.get("__name__") == "hypothesis.internal.conjecture.datatree"

    def test_stateful_links(st_node):
        """Sequences that feed one answer into the next request (links schemathesis infers
        from the spec: the id a create returns, then GET/PUT/PATCH/DELETE of it; the shard of
        the cluster map, then transfer-leader); same checks. Bounded: STATEFUL_SCENARIOS
        scenarios of at most STATEFUL_STEPS calls; when Hypothesis stops early on a replay
        inconsistency it starts again (another root-rule order) for the scenarios left."""
        _Stateful.completed, _Stateful.failures = 0, []
        deadline = time.monotonic() + 60
        for attempt in range(8):
            left = STATEFUL_SCENARIOS - _Stateful.completed
            if left <= 0 or time.monotonic() > deadline:
                break
            machine = type(f"_Machine{attempt}", (_Machine,), {"rule_order_seed": SEED + attempt})
            settings = hypothesis.settings(
                max_examples=left, stateful_step_count=STATEFUL_STEPS,
                derandomize=True, database=None, deadline=None, print_blob=False,
                suppress_health_check=list(hypothesis.HealthCheck),
                phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate])
            try:
                machine.run(settings=settings)
            except Exception as e:
                if _Stateful.failures or not _replay_inconsistency(e):
                    raise
        assert not _Stateful.failures, _Stateful.failures[0]
        assert _Stateful.completed >= STATEFUL_SCENARIOS // 2, \
            f"only {_Stateful.completed} stateful scenarios ran"

    def test_unreached_min_index_is_the_documented_504(st_node):
        """The one 5xx the run steers around: an index the node never applied. It must be
        exactly the documented answer (504 index-not-reached, conforming to the spec)."""
        far = str(_State.applied_floor + 1_000_000)
        doc = schema["/v1/collections/{collection}/docs/{id}"]
        cases = [
            doc["GET"].Case(path_parameters={"collection": "carts", "id": "c1"},
                            headers={"X-Machdb-Min-Index": far}),
            doc["HEAD"].Case(path_parameters={"collection": "carts", "id": "c1"},
                             headers={"X-Machdb-Min-Index": far}),
            schema["/v1/collections/{collection}/query"]["POST"].Case(
                path_parameters={"collection": "carts"}, headers={"X-Machdb-Min-Index": far},
                body={"filter": {"status": "open"}}, media_type="application/json"),
        ]
        from schemathesis.checks import not_a_server_error
        for case in cases:
            t0 = time.monotonic()
            response = case.call(base_url=st_node.url, timeout=REQUEST_TIMEOUT)
            assert response.status_code == 504, (case.method, response.status_code,
                                                 response.content[:300])
            assert time.monotonic() - t0 < 10, "the wait must be bounded by --read-wait"
            # The other four checks: status, Content-Type, headers and body as documented.
            case.validate_response(response, excluded_checks=[not_a_server_error])
            if case.method.upper() != "HEAD":
                assert response.json()["type"] == "urn:machdb:problem:index-not-reached"

    def test_node_survived(st_node):
        """No crash: still alive and answering, and nothing critical or fatal logged."""
        assert st_node.is_running(), f"node exited: {st_node.log_tail()}"
        r = st_node.get("/healthz")
        assert assert_json_response(r, 200) == {"status": "ok", "node": "n1"}
        assert st_node.get("/readyz").status == 200
        bad = [line for line in st_node.log_text().splitlines()
               if re.search(r"(?i)\b(critical|fatal)\b", line)]
        assert not bad, "critical/fatal lines in the node log:\n" + "\n".join(bad[:20])
