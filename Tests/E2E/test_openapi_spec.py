"""Checks OpenAPI/machdb.yaml: a valid OpenAPI 3.1 document that describes exactly the
routes the server serves, with the conventions every route shares (docs/API.md)."""

from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

SPEC_PATH = Path(__file__).resolve().parents[2] / "OpenAPI" / "machdb.yaml"

DOC = "/v1/collections/{collection}/docs/{id}"

# Every (method, path) the server serves. A route added to the server or to the spec
# without the other fails test_operations_match_served_routes.
# HEAD is served wherever GET is (docs/API.md, "Common rules"), except on the internal
# snapshot route.
SERVED_ROUTES = {
    ("PUT", DOC),
    ("GET", DOC),
    ("HEAD", DOC),
    ("PATCH", DOC),
    ("DELETE", DOC),
    ("POST", "/v1/collections/{collection}/docs"),
    ("POST", "/v1/collections/{collection}/query"),
    ("POST", "/v1/_bulk"),
    ("GET", "/v1/collections"),
    ("HEAD", "/v1/collections"),
    ("PUT", "/v1/collections/{collection}"),
    ("POST", "/admin/v1/shards/{shard}/move"),
    ("POST", "/internal/v1/shards/{shard}/report"),
    ("GET", "/v1/collections/{collection}"),
    ("HEAD", "/v1/collections/{collection}"),
    ("GET", "/healthz"),
    ("HEAD", "/healthz"),
    ("GET", "/readyz"),
    ("HEAD", "/readyz"),
    ("GET", "/metrics"),
    ("HEAD", "/metrics"),
    ("GET", "/admin/v1/cluster"),
    ("HEAD", "/admin/v1/cluster"),
    ("GET", "/admin/v1/backup"),
    ("HEAD", "/admin/v1/backup"),
    ("POST", "/admin/v1/shards/{shard}/transfer-leader"),
    ("POST", "/admin/v1/shards/{shard}/split"),
    ("POST", "/admin/v1/nodes/{node}/leave"),
    ("GET", "/admin/v1/scaling"),
    ("HEAD", "/admin/v1/scaling"),
    ("GET", "/admin/v1/scaling/policy"),
    ("HEAD", "/admin/v1/scaling/policy"),
    ("PUT", "/admin/v1/scaling/policy"),
    ("GET", "/admin/v1/topology/settings"),
    ("HEAD", "/admin/v1/topology/settings"),
    ("PUT", "/admin/v1/topology/settings"),
    ("GET", "/admin/v1/scaling/recommendations"),
    ("HEAD", "/admin/v1/scaling/recommendations"),
    ("GET", "/admin/v1/scaling/history"),
    ("HEAD", "/admin/v1/scaling/history"),
    # The browser console (no token: the page holds no cluster data).
    ("GET", "/console"),
    ("HEAD", "/console"),
    ("GET", "/console/console.js"),
    ("HEAD", "/console/console.js"),
    ("GET", "/console/console.css"),
    ("HEAD", "/console/console.css"),
    # Node-to-node routes (cluster token). The snapshot route is GET only: no HEAD
    # (Route.allowedMethods).
    ("GET", "/internal/v1/raft/stream"),
    ("GET", "/internal/v1/raft/{shard}/snapshots/{token}"),
    ("POST", "/internal/v1/cluster/join"),
    ("GET", "/internal/v1/cluster-map"),
    ("HEAD", "/internal/v1/cluster-map"),
}

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


@pytest.fixture(scope="module")
def spec():
    with SPEC_PATH.open(encoding="utf-8") as f:
        return yaml.safe_load(f)


def resolve(spec, node):
    """Follow local `$ref`s ("#/a/b") until a non-reference object."""
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), f"only local references are used: {ref}"
        node = spec
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def operations(spec):
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method in HTTP_METHODS:
                yield method.upper(), path, op


def test_spec_is_valid_openapi_3_1(spec):
    assert spec["openapi"] == "3.1.0"
    assert spec["info"]["version"] == "0.1.0"
    validate(spec)


def test_every_reference_resolves(spec):
    # openapi-spec-validator does not follow every $ref (e.g. under response headers).
    def walk(node, where):
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                try:
                    resolve(spec, {"$ref": node["$ref"]})
                except KeyError:
                    pytest.fail(f"{where}: dangling $ref {node['$ref']}")
            for key, value in node.items():
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{where}[{i}]")

    walk(spec, "")


def test_operations_match_served_routes(spec):
    in_spec = {(method, path) for method, path, _ in operations(spec)}
    assert in_spec - SERVED_ROUTES == set(), "in the spec but not served"
    assert SERVED_ROUTES - in_spec == set(), "served but not in the spec"


def test_every_response_names_the_serving_node(spec):
    for method, path, op in operations(spec):
        for status, response in op["responses"].items():
            headers = resolve(spec, response).get("headers", {})
            assert "X-Machdb-Served-By" in headers, f"{method} {path} {status}"


def test_errors_are_problems_and_405_is_not_per_operation(spec):
    problem = "#/components/schemas/Problem"
    for method, path, op in operations(spec):
        assert "405" not in op["responses"], f"{method} {path}"
        for status, response in op["responses"].items():
            if int(status) < 400 or method == "HEAD":
                continue
            content = resolve(spec, response)["content"]
            assert list(content) == ["application/problem+json"], f"{method} {path} {status}"
            assert content["application/problem+json"]["schema"]["$ref"] == problem


def test_admin_routes_need_the_admin_token_internal_the_cluster_token_and_others_none(spec):
    assert spec.get("security") == []
    schemes = spec["components"]["securitySchemes"]
    for name in ("adminToken", "clusterToken"):
        assert schemes[name] == {**schemes[name], "type": "http", "scheme": "bearer"}
    for method, path, op in operations(spec):
        if path.startswith("/admin/"):
            assert op.get("security") == [{"adminToken": []}], f"{method} {path}"
            assert "401" in op["responses"], f"{method} {path}"
        elif path.startswith("/internal/"):
            assert op.get("security") == [{"clusterToken": []}], f"{method} {path}"
            assert "401" in op["responses"], f"{method} {path}"
        else:
            assert "security" not in op, f"{method} {path}"


def test_name_schema_follows_the_naming_rule(spec):
    name = Draft202012Validator(spec["components"]["schemas"]["Name"])
    for good in ("carts", "c1", "a.b", "A-Z_0~9", "x" * 128, "0ujsswthiy4xgbu0t1q2"):
        assert name.is_valid(good), good
    for bad in ("", ".", "..", "a..b", "a/b", "a%2Fb", "x" * 129, "ü"):
        assert not name.is_valid(bad), bad


def test_examples_match_their_schemas(spec):
    root = {"components": spec["components"]}
    checked = 0

    def check(where, media):
        nonlocal checked
        schema = media.get("schema")
        if schema is None:
            return
        validator = Draft202012Validator({**root, **schema})
        examples = [resolve(spec, e)["value"] for e in media.get("examples", {}).values()]
        if "example" in media:
            examples.append(media["example"])
        for example in examples:
            errors = [e.message for e in validator.iter_errors(example)]
            assert errors == [], f"{where}: {errors}"
            checked += 1

    for method, path, op in operations(spec):
        body = resolve(spec, op.get("requestBody", {}))
        for media_type, media in body.get("content", {}).items():
            check(f"{method} {path} request {media_type}", media)
        for status, response in op["responses"].items():
            for media_type, media in resolve(spec, response).get("content", {}).items():
                check(f"{method} {path} {status} {media_type}", media)
    for name, response in spec["components"]["responses"].items():
        for media_type, media in response.get("content", {}).items():
            check(f"components/responses/{name} {media_type}", media)
    assert checked > 10


def test_query_and_bulk_schemas(spec):
    root = {"components": spec["components"]}

    def validator(name):
        return Draft202012Validator({**root, "$ref": f"#/components/schemas/{name}"})

    query = validator("Query")
    assert query.is_valid({"filter": {"status": "open", "total": {"gte": 10, "lt": 100},
                                      "customer.tier": {"in": ["gold", "silver"]},
                                      "items[0].sku": {"exists": True}},
                           "sort": ["-total", "customer.name"], "limit": 50, "after": "x"})
    assert not query.is_valid({"filter": {"total": {"between": [1, 2]}}})
    assert not query.is_valid({"filter": {"total": {}}})
    assert not query.is_valid({"filter": {"a..b": 1}})
    assert not query.is_valid({"sort": ["a", "b", "c", "d", "e"]})
    assert not query.is_valid({"limit": 0})
    assert not query.is_valid({"limit": 1001})

    bulk = validator("BulkRequest")
    assert bulk.is_valid({"ops": [{"op": "delete", "collection": "carts", "id": "c1"}] * 1000})
    assert not bulk.is_valid({"ops": [{"op": "delete", "collection": "carts", "id": "c1"}] * 1001})
    assert not bulk.is_valid({"ops": [{"op": "upsert", "collection": "carts", "id": "c1"}]})
    assert not bulk.is_valid({"ops": [{"op": "put", "collection": "carts", "id": "c1"}]})


# Sample values for path parameters: valid names, so the route matches and only the method
# decides the answer.
SAMPLE_PARAMS = {"collection": "carts", "id": "c1", "shard": "1", "token": "snap-1-1", "node": "n1"}


def test_every_spec_path_allows_exactly_the_spec_methods_on_a_live_node(spec, node):
    """Ties the spec to the server's own routing table: for every path in the spec, a method
    the server does not serve gets 405 with `Allow` listing what it serves (Route.allowedMethods);
    that list must equal the spec's operations for the path. And a path the spec lacks is 404."""
    for path, item in spec["paths"].items():
        concrete = path
        for name, value in SAMPLE_PARAMS.items():
            concrete = concrete.replace("{" + name + "}", value)
        assert "{" not in concrete, f"no sample value for a parameter of {path}"
        r = node.request("TRACE", concrete)
        assert r.status == 405, f"TRACE {concrete}: {r.describe()}"
        served = {m.strip().upper() for m in r.headers.get("allow", "").split(",") if m.strip()}
        in_spec = {m.upper() for m in item if m in HTTP_METHODS}
        assert served == in_spec, f"{path}: the server allows {sorted(served)}, the spec documents {sorted(in_spec)}"
    for unknown in ["/v1/nope", "/admin/v1/nope", "/internal/v1/nope"]:
        assert node.request("GET", unknown).status == 404
