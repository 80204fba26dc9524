"""Checks deploy/kubernetes/ without a Kubernetes API server (none runs here): every manifest
validates against the Kubernetes OpenAPI schemas that kubernetes-validate ships (strict: an
unknown field fails), the objects fit together (selectors, ports, secrets, service accounts,
RBAC), and the two shell scripts in the StatefulSet (the entry point and the preStop hook)
build the right `machdb` command lines, run under /bin/sh with stand-ins for `machdb` and
`curl`. Offline and quick; needs no machdb binary."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from kubernetes_validate import utils as kv

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "kubernetes"
# The newest Kubernetes schema kubernetes-validate 1.37.0 ships (scripts/setup pins it), and
# an older one the manifests must also fit (no field newer than that).
KUBERNETES_VERSIONS = ["1.37", "1.30"]
NEWEST = KUBERNETES_VERSIONS[0]
MANIFESTS = sorted(p.name for p in DEPLOY.glob("*.yaml") if p.name != "kustomization.yaml")
NODE_PORT = 8080


def _docs(name):
    return [d for d in yaml.safe_load_all((DEPLOY / name).read_text()) if d]


@pytest.fixture(scope="module")
def objects():
    """(kind, name) -> object, over every manifest."""
    found = {}
    for name in MANIFESTS:
        for doc in _docs(name):
            key = (doc["kind"], doc["metadata"]["name"])
            assert key not in found, f"{key} defined twice"
            found[key] = doc
    return found


@pytest.fixture(scope="module")
def sts(objects):
    return objects[("StatefulSet", "machdb")]


@pytest.fixture(scope="module")
def node_container(sts):
    (container,) = sts["spec"]["template"]["spec"]["containers"]
    return container


@pytest.fixture(scope="module")
def operator(objects):
    return objects[("Deployment", "machdb-operator")]


def _pod_matches(selector, labels):
    return all(labels.get(k) == v for k, v in selector.items())


def _env(container):
    return {e["name"]: e for e in container.get("env", [])}


def _named_port(container, port):
    if isinstance(port, int):
        return port
    (match,) = [p["containerPort"] for p in container["ports"] if p["name"] == port]
    return match


# -- schema validation ------------------------------------------------------------------------

def test_kustomization_lists_every_manifest():
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    assert kustomization["kind"] == "Kustomization"
    assert sorted(kustomization["resources"]) == MANIFESTS


def test_validator_ships_the_schemas():
    versions = {kv.major_minor(v) for v in kv.all_versions()}
    assert set(KUBERNETES_VERSIONS) <= versions
    assert kv.major_minor(kv.latest_version()) == NEWEST  # the newest it has


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("name", MANIFESTS)
def test_manifest_validates_strictly(name, version):
    docs = _docs(name)
    assert docs, f"{name} holds no object"
    for doc in docs:
        # Raises ValidationError (bad or unknown field) or SchemaNotFoundError (unknown
        # kind/apiVersion: the CLI would only warn about that; here it fails).
        assert kv.validate(doc, version, strict=True) == version, f"{name}: {doc['kind']}"


def test_cli_validates_every_manifest():
    """The command README names: exit 0 and one INFO line per object."""
    result = subprocess.run(
        [sys.executable, "-m", "kubernetes_validate", "--strict", "-k", NEWEST, *MANIFESTS],
        cwd=DEPLOY, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    count = sum(len(_docs(n)) for n in MANIFESTS)
    assert result.stdout.count(" passed for resource ") == count, result.stdout
    assert "WARN" not in result.stdout and "ERROR" not in result.stdout, result.stdout


def test_a_misspelt_field_fails(tmp_path):
    """The validator can fail: readinessProbe spelt readinesProbe."""
    text = (DEPLOY / "statefulset.yaml").read_text()
    assert text.count("readinessProbe:") == 1
    bad = tmp_path / "statefulset.yaml"
    bad.write_text(text.replace("readinessProbe:", "readinesProbe:"))
    with pytest.raises(kv.ValidationError, match="readinesProbe"):
        kv.validate(yaml.safe_load(bad.read_text()), NEWEST, strict=True)
    result = subprocess.run(
        [sys.executable, "-m", "kubernetes_validate", "--strict", "-k", NEWEST, str(bad)],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "ERROR" in result.stdout and "readinesProbe" in result.stdout, result.stdout


def test_an_unknown_kind_fails():
    with pytest.raises(kv.SchemaNotFoundError):
        kv.validate({"apiVersion": "apps/v1", "kind": "StatefullSet", "metadata": {"name": "x"}},
                    NEWEST, strict=True)


# -- how the objects fit together ---------------------------------------------------------------

def test_everything_in_one_namespace(objects):
    (namespace,) = [name for kind, name in objects if kind == "Namespace"]
    for (kind, name), obj in objects.items():
        if kind != "Namespace":
            assert obj["metadata"].get("namespace") == namespace, f"{kind}/{name}"
        if kind == "RoleBinding":
            assert all(s["namespace"] == namespace for s in obj["subjects"]), name


def test_statefulset_identity_and_volume(sts, node_container, objects):
    spec = sts["spec"]
    assert spec["replicas"] == 3
    assert spec["podManagementPolicy"] == "OrderedReady"
    labels = spec["template"]["metadata"]["labels"]
    assert _pod_matches(spec["selector"]["matchLabels"], labels)
    # stable DNS names come from the headless service named in serviceName
    headless = objects[("Service", spec["serviceName"])]["spec"]
    assert headless["clusterIP"] == "None"
    assert headless["publishNotReadyAddresses"] is True
    # one PersistentVolumeClaim per pod, mounted where the node keeps its data
    (claim,) = spec["volumeClaimTemplates"]
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert claim["spec"]["resources"]["requests"]["storage"]
    data_dir = _env(node_container)["MACHDB_DATA_DIR"]["value"]
    assert {"name": claim["metadata"]["name"], "mountPath": data_dir} in node_container["volumeMounts"]
    # a node that left comes back only with an empty data dir: its claim goes with it
    assert spec["persistentVolumeClaimRetentionPolicy"]["whenScaled"] == "Delete"
    assert _named_port(node_container, "http") == NODE_PORT


def test_probes(node_container):
    ready, live = node_container["readinessProbe"]["httpGet"], node_container["livenessProbe"]["httpGet"]
    assert ready["path"] == "/readyz"
    assert live["path"] == "/healthz"
    assert _named_port(node_container, ready["port"]) == _named_port(node_container, live["port"]) == NODE_PORT


def test_prestop_and_grace_period(sts, node_container):
    command = node_container["lifecycle"]["preStop"]["exec"]["command"]
    assert command[:2] == ["/bin/sh", "-c"]
    assert "machdb ctl leave --node" in command[2]
    # the hook waits up to 90 s for the removal, the shutdown after SIGTERM up to 30 s
    assert sts["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= 120


def test_services_select_the_node_pods(objects, sts, operator):
    node_labels = sts["spec"]["template"]["metadata"]["labels"]
    operator_labels = operator["spec"]["template"]["metadata"]["labels"]
    for name in ("machdb", "machdb-peers"):
        spec = objects[("Service", name)]["spec"]
        assert _pod_matches(spec["selector"], node_labels), name
        assert not _pod_matches(spec["selector"], operator_labels), name
        (port,) = spec["ports"]
        assert port["port"] == NODE_PORT and port["targetPort"] == "http"
    assert objects[("Service", "machdb")]["spec"].get("clusterIP") != "None"
    op = objects[("Service", "machdb-operator")]["spec"]
    assert _pod_matches(op["selector"], operator_labels)
    assert not _pod_matches(op["selector"], node_labels)


def test_pdb_keeps_a_quorum(objects, sts):
    pdb = objects[("PodDisruptionBudget", "machdb")]["spec"]
    assert pdb["selector"]["matchLabels"] == sts["spec"]["selector"]["matchLabels"]
    assert _pod_matches(pdb["selector"]["matchLabels"], sts["spec"]["template"]["metadata"]["labels"])
    replicas = sts["spec"]["replicas"]
    available = pdb["minAvailable"] if "minAvailable" in pdb else replicas - pdb["maxUnavailable"]
    assert available >= replicas // 2 + 1


def test_secret_references_exist(objects, node_container, operator):
    secrets = {name: set(obj.get("stringData", {})) | set(obj.get("data", {}))
               for (kind, name), obj in objects.items() if kind == "Secret"}
    containers = [node_container, *operator["spec"]["template"]["spec"]["containers"]]
    refs = [e["valueFrom"]["secretKeyRef"] for c in containers for e in c.get("env", [])
            if "secretKeyRef" in e.get("valueFrom", {})]
    assert len(refs) == 4  # admin token, cluster token, hook secret (node); hook secret (operator)
    for ref in refs:
        assert ref["key"] in secrets.get(ref["name"], set()), ref
    env = _env(node_container)
    assert {"MACHDB_ADMIN_TOKEN", "MACHDB_CLUSTER_TOKEN", "MACHDB_HOOK_SECRET"} <= env.keys()
    op_env = _env(operator["spec"]["template"]["spec"]["containers"][0])
    # nodes sign with the secret the operator verifies with
    assert op_env["MACHDB_OPERATOR_SECRET"]["valueFrom"] == env["MACHDB_HOOK_SECRET"]["valueFrom"]


def test_hook_url_points_at_the_operator(objects, node_container):
    names = [e["name"] for e in node_container["env"]]
    hook = _env(node_container)["MACHDB_HOOK_URL"]["value"]
    # $(POD_NAMESPACE) is expanded by Kubernetes only if defined earlier in the list
    assert names.index("POD_NAMESPACE") < names.index("MACHDB_HOOK_URL")
    (port,) = objects[("Service", "machdb-operator")]["spec"]["ports"]
    assert hook == f"http://machdb-operator.$(POD_NAMESPACE).svc.cluster.local:{port['port']}/hook"


def test_operator_logs_only(operator):
    (container,) = operator["spec"]["template"]["spec"]["containers"]
    args = container["args"]
    assert args[0] == "operator"
    assert args[args.index("--provision") + 1] == "log"
    assert args[args.index("--listen") + 1] == f"0.0.0.0:{_named_port(container, 'http')}"
    assert operator["spec"]["replicas"] == 1


def _rules(role):
    granted = set()
    for rule in role["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    granted.add((group, resource, verb))
    return granted


def _bound_role(objects, service_account):
    roles = [obj["roleRef"]["name"] for (kind, _), obj in objects.items() if kind == "RoleBinding"
             and {"kind": "ServiceAccount", "name": service_account} in
             [{"kind": s["kind"], "name": s["name"]} for s in obj["subjects"]]]
    assert len(roles) == 1, (service_account, roles)
    return objects[("Role", roles[0])]


def test_operator_rbac_can_scale_the_statefulset(objects, operator):
    sa = operator["spec"]["template"]["spec"]["serviceAccountName"]
    assert ("ServiceAccount", sa) in objects
    granted = _rules(_bound_role(objects, sa))
    for resource in ("statefulsets", "statefulsets/scale"):
        for verb in ("get", "list", "watch", "patch", "update"):
            assert ("apps", resource, verb) in granted, (resource, verb)
    assert {("", "pods", "get"), ("", "pods", "list")} <= granted


def test_node_rbac_reads_the_replica_count(objects, sts):
    sa = sts["spec"]["template"]["spec"]["serviceAccountName"]
    assert ("ServiceAccount", sa) in objects
    role = _bound_role(objects, sa)
    assert _rules(role) == {("apps", "statefulsets/scale", "get")}
    assert role["rules"][0]["resourceNames"] == [sts["metadata"]["name"]]


def test_images_and_security_match_the_docker_image(sts, operator):
    compose = (ROOT / "docker" / "compose.yaml").read_text()
    (image,) = set(re.findall(r"image: \$\{MACHDB_IMAGE:-([^}]+)\}", compose))
    uid = int(re.search(r"useradd [^\n]*--uid (\d+)", (ROOT / "docker" / "Dockerfile").read_text()).group(1))
    for pod in (sts["spec"]["template"]["spec"], operator["spec"]["template"]["spec"]):
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == uid
        # machdb reads MACHDB_* variables as flags: no Service variables in the environment
        assert pod["enableServiceLinks"] is False
        for container in pod["containers"]:
            assert container["image"] == image
            assert container["imagePullPolicy"] == "IfNotPresent"
            assert container["resources"]["requests"] and container["resources"]["limits"]
            assert container["securityContext"]["allowPrivilegeEscalation"] is False


# -- the StatefulSet's shell scripts, run with stand-ins for machdb and curl ----------------------

FAKE_MACHDB = """#!/bin/sh
printf '%s\\n' "$*" >> "$FAKE_LOG/machdb"
"""
# curl: the client Service's /readyz answers if $FAKE_CLUSTER_UP; the scale subresource
# prints $FAKE_SCALE (fails when empty); the node's own /readyz prints 503 (removed).
FAKE_CURL = """#!/bin/sh
printf '%s\\n' "$*" >> "$FAKE_LOG/curl"
for last; do :; done
case "$last" in
  */statefulsets/machdb/scale) [ -n "$FAKE_SCALE" ] || exit 22; printf '%s' "$FAKE_SCALE" ;;
  http://127.0.0.1:8080/readyz) printf 503 ;;
  */readyz) [ -n "$FAKE_CLUSTER_UP" ] || exit 7 ;;
  *) exit 6 ;;
esac
"""


def _script(command):
    assert command[:2] == ["/bin/sh", "-c"]
    return command[2]


def test_scripts_survive_kubernetes_expansion(node_container):
    """Kubernetes expands $(VAR) for the container's variables in command and args, and turns $$
    into $: the scripts must use neither, so what runs is what the file says."""
    prestop = node_container["lifecycle"]["preStop"]["exec"]["command"]
    for script in (_script(node_container["command"]), _script(prestop)):
        assert "$$" not in script
        for name in _env(node_container):
            assert f"$({name})" not in script, name
        subprocess.run(["/bin/sh", "-n", "-c", script], check=True)


def _run(tmp_path, script, pod, **fake):
    bin_dir, log = tmp_path / "bin", tmp_path / "log"
    bin_dir.mkdir(exist_ok=True)
    log.mkdir(exist_ok=True)
    for name, body in (("machdb", FAKE_MACHDB), ("curl", FAKE_CURL)):
        (bin_dir / name).write_text(body)
        (bin_dir / name).chmod(0o755)
    for name in ("machdb", "curl"):
        (log / name).write_text("")
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "POD_NAME": pod, "POD_NAMESPACE": "ns1",
           "MACHDB_DATA_DIR": str(data), "FAKE_LOG": str(log),
           "FAKE_SCALE": fake.get("scale", ""), "FAKE_CLUSTER_UP": fake.get("cluster_up", "")}
    # the hook logs to PID 1's stderr (the container's log); here, to a file
    script = script.replace("/proc/1/fd/2", str(log / "hook-output"))
    (log / "hook-output").write_text("")
    result = subprocess.run(["/bin/sh", "-c", script], env=env, capture_output=True, text=True, timeout=20)
    assert result.returncode == 0, result.stdout + result.stderr
    return (log / "machdb").read_text().splitlines(), (log / "curl").read_text().splitlines(), data


PEERS = "machdb-peers.ns1.svc.cluster.local"


def _serve_args(pod):
    return (f"serve --node-id {pod} --listen 0.0.0.0:{NODE_PORT} "
            f"--advertise http://{pod}.{PEERS}:{NODE_PORT}")


def test_entrypoint_first_pod_bootstraps(tmp_path, node_container, sts):
    assert sts["spec"]["serviceName"] == PEERS.split(".")[0]
    machdb, _, _ = _run(tmp_path, _script(node_container["command"]), "machdb-0")
    assert machdb == [_serve_args("machdb-0")]


def test_entrypoint_other_pods_join_the_first(tmp_path, node_container):
    for pod in ("machdb-1", "machdb-2", "machdb-12"):
        machdb, _, _ = _run(tmp_path, _script(node_container["command"]), pod, cluster_up="1")
        assert machdb == [_serve_args(pod) + f" --join http://machdb-0.{PEERS}:{NODE_PORT}"], pod


def test_entrypoint_first_pod_without_volume_joins_a_running_cluster(tmp_path, node_container):
    machdb, _, data = _run(tmp_path, _script(node_container["command"]), "machdb-0", cluster_up="1")
    assert machdb == [_serve_args("machdb-0") + f" --join http://machdb.ns1.svc.cluster.local:{NODE_PORT}"]
    # with its database in place it restarts as what it was, whatever else runs
    (data / "machdb.sqlite").write_text("")
    machdb, _, _ = _run(tmp_path, _script(node_container["command"]), "machdb-0", cluster_up="1")
    assert machdb == [_serve_args("machdb-0")]


def test_prestop_leaves_only_on_scale_down(tmp_path, node_container):
    script = _script(node_container["lifecycle"]["preStop"]["exec"]["command"])
    # a restart or rollout: still wanted, no leave
    machdb, curl, _ = _run(tmp_path, script, "machdb-2", scale='{"kind":"Scale","spec":{"replicas":3}}')
    assert machdb == []
    assert any("/apis/apps/v1/namespaces/ns1/statefulsets/machdb/scale" in c for c in curl)
    # the API cannot be asked: no leave (the node stays a member; SIGTERM still hands off)
    machdb, _, _ = _run(tmp_path, script, "machdb-2")
    assert machdb == []
    # scaled down to 2 (the API server's pretty-printed answer): machdb-2 leaves, waits for it
    pretty = '{\n  "kind": "Scale",\n  "spec": {\n    "replicas": 2\n  },\n  "status": {\n    "replicas": 3\n  }\n}'
    machdb, curl, _ = _run(tmp_path, script, "machdb-2", scale=pretty)
    assert machdb == ["ctl leave --node machdb-2"]
    assert any(c.endswith("http://127.0.0.1:8080/readyz") for c in curl)
    # machdb-1 stays when going from 3 to 2
    machdb, _, _ = _run(tmp_path, script, "machdb-1", scale=pretty)
    assert machdb == []
