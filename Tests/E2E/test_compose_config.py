"""Checks docker/compose.yaml and docker/Dockerfile without a docker daemon (the daemon test
is docker/test-compose.sh): docker-compose accepts the file, and the file does what README's
"The Mach stages with docker-compose" says — plain `up` (docker/.env: COMPOSE_PROFILES=demo)
runs n1 with the demo policy, the operator with `--provision docker` and the Docker socket,
and the load generator; profiles mach1..mach4 step by hand with the right nodes and no load;
ports on 127.0.0.1 only, healthchecks, joins through n1 once the nodes before are healthy."""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker" / "compose.yaml"
DOCKERFILE = ROOT / "docker" / "Dockerfile"
DOTENV = ROOT / "docker" / ".env"
DEMO = ROOT / "docker" / "demo"

NODES = ["n1", "n2", "n3", "n4"]
# profile -> the services it runs (n1 and the operator have no profile: they always run)
PROFILES = {f"mach{k}": set(NODES[:k]) | {"operator"} for k in range(1, 5)}
PROFILES["demo"] = {"n1", "operator", "load"}


def _with_defaults(text):
    """The file as docker-compose reads it with no MACHDB_* variable set: ${VAR:-default} -> default."""
    return re.sub(r"\$\{[A-Z0-9_]+:-([^}]*)\}", r"\1", text)


@pytest.fixture(scope="module")
def raw():
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load(_with_defaults(COMPOSE.read_text()))


def _flag(command, name):
    """The value after `name` in a command list, or None."""
    if name in command:
        i = command.index(name)
        return command[i + 1] if i + 1 < len(command) else None
    return None


def test_docker_compose_config_validates():
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.skip("docker-compose is not installed (apt-get install docker-compose): "
                    "`docker-compose config -q` not run; the YAML checks below still run")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MACHDB_")}
    for args in ([], ["--profile", "mach4"], ["--profile", "demo"]):
        r = subprocess.run([exe, "-f", str(COMPOSE), *args, "config", "-q"], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, f"docker-compose {' '.join(args)} config -q failed:\n{r.stdout}{r.stderr}"


def test_file_format_supports_healthy_conditions(compose):
    # docker-compose 1.29 honours `condition: service_healthy` in the 2.x format.
    assert str(compose.get("version", "")).startswith("2."), compose.get("version")


def test_profiles_select_the_stage_nodes(compose):
    services = compose["services"]
    assert set(services) == {"operator", "load", *NODES}
    for profile, want in PROFILES.items():
        enabled = {name for name, svc in services.items() if not svc.get("profiles") or profile in svc["profiles"]}
        assert enabled == want, f"profile {profile} runs {sorted(enabled)}"
    # Only n1 and the operator run in every profile; the load generator only in the demo.
    assert {name for name, svc in services.items() if not svc.get("profiles")} == {"n1", "operator"}
    assert services["load"]["profiles"] == ["demo"]


def test_plain_up_is_the_demo():
    # docker-compose reads docker/.env next to the file: with no --profile, the demo profile runs.
    settings = dict(line.split("=", 1) for line in DOTENV.read_text().splitlines() if line and not line.startswith("#"))
    assert settings["COMPOSE_PROFILES"] == "demo"
    assert settings["COMPOSE_PROJECT_NAME"] == "machdb"


def test_ports_are_published_on_loopback_only(raw, compose):
    seen = {}
    for name, svc in compose["services"].items():
        raw_ports = raw["services"][name].get("ports") or []
        if name == "load":
            assert not raw_ports, "the load generator publishes nothing"
            continue
        assert raw_ports, f"{name} publishes no port"
        for p in raw_ports:
            # The address is literal: no variable can widen it.
            assert isinstance(p, str) and p.startswith("127.0.0.1:"), f"{name} publishes {p!r} beyond loopback"
        for p in svc["ports"]:
            host_ip, host_port, container_port = p.split(":")
            assert host_ip == "127.0.0.1"
            seen[name] = (host_port, container_port)
    assert seen == {"n1": ("7101", "8080"), "n2": ("7102", "8080"), "n3": ("7103", "8080"),
                    "n4": ("7104", "8080"), "operator": ("7900", "7900")}


def test_every_service_has_a_healthcheck(compose):
    for name, svc in compose["services"].items():
        hc = svc.get("healthcheck")
        if name == "load":
            # Not a server: the image's /readyz healthcheck would call it unhealthy.
            assert hc == {"disable": True}, hc
            continue
        assert hc and hc.get("test"), f"{name} has no healthcheck"
        test = " ".join(hc["test"]) if isinstance(hc["test"], list) else hc["test"]
        path = "/healthz" if name == "operator" else "/readyz"
        assert "curl" in test and f"127.0.0.1:{'7900' if name == 'operator' else '8080'}{path}" in test, test
        for key in ("interval", "timeout", "retries"):
            assert key in hc, f"{name} healthcheck has no {key}"


def test_nodes_join_through_n1_after_the_nodes_before_are_healthy(compose):
    services = compose["services"]
    for i, n in enumerate(NODES):
        svc = services[n]
        cmd = svc["command"]
        assert cmd[0] == "serve", cmd
        assert _flag(cmd, "--node-id") == n
        assert _flag(cmd, "--advertise") == f"http://{n}:8080"
        deps = svc.get("depends_on") or {}
        assert isinstance(deps, dict), f"{n}: depends_on must use conditions"
        for dep, cond in deps.items():
            assert cond == {"condition": "service_healthy"}, f"{n} depends on {dep} with {cond}"
        if n == "n1":
            assert _flag(cmd, "--join") is None
            assert set(deps) == {"operator"}
        else:
            assert _flag(cmd, "--join") == "http://n1:8080"
            assert set(deps) == set(NODES[:i]), f"{n} waits for {sorted(deps)}"


def test_nodes_listen_everywhere_with_tokens_and_the_hook(compose):
    services = compose["services"]
    for n in NODES:
        env = services[n]["environment"]
        assert env["MACHDB_LISTEN"] == "0.0.0.0:8080"
        # A node on a non-loopback address refuses to start without an admin token.
        assert env["MACHDB_ADMIN_TOKEN"] and env["MACHDB_CLUSTER_TOKEN"]
        assert env["MACHDB_HOOK_URL"] == "http://operator:7900/hook"
        assert env["MACHDB_HOOK_SECRET"]
        vols = services[n]["volumes"]
        want = [f"{n}-data:/data"] + (["./demo/policy.json:/etc/machdb/policy.json:ro"] if n == "n1" else [])
        assert vols == want, vols
    assert set(compose["volumes"]) == {"operator-data", *(f"{n}-data" for n in NODES)}


def test_the_founder_carries_the_demo_policy(compose):
    cmd = compose["services"]["n1"]["command"]
    assert _flag(cmd, "--scaling-policy") == "/etc/machdb/policy.json"
    assert _flag(cmd, "--read-wait") == "200"
    policy = json.loads((DEMO / "policy.json").read_text())
    # Seconds, not minutes: a few seconds of timeouts add a node; a new entry point waits 10 s.
    assert policy["sustain_up_seconds"] <= 5 and policy["cooldown_seconds"] <= 15 and policy["up_timeout_window_seconds"] <= 10
    assert policy["minimum_requests"] <= 20


def test_the_operator_provisions_containers_on_the_compose_network(compose):
    services = compose["services"]
    op = services["operator"]
    cmd = op["command"]
    assert cmd[0] == "operator"
    assert _flag(cmd, "--provision") == "docker"
    assert _flag(cmd, "--listen") == "0.0.0.0:7900"
    # Its containers share the compose network (named, so the operator can name it) and image.
    assert _flag(cmd, "--docker-network") == compose["networks"]["default"]["name"] == "machdb"
    assert _flag(cmd, "--docker-image") == op["image"] == services["n1"]["image"]
    assert _flag(cmd, "--hook-url") == "http://operator:7900/hook"
    assert _flag(cmd, "--cluster-token") == services["n1"]["environment"]["MACHDB_CLUSTER_TOKEN"]
    assert _flag(cmd, "--admin-token") == services["n1"]["environment"]["MACHDB_ADMIN_TOKEN"]
    assert int(_flag(cmd, "--max-nodes")) == 3  # n1 + 3 = Mach IV
    assert "--extra-arg=--read-wait" in cmd and "--extra-arg=200" in cmd
    assert op["environment"]["MACHDB_OPERATOR_SECRET"] == services["n1"]["environment"]["MACHDB_HOOK_SECRET"]
    assert "/var/run/docker.sock:/var/run/docker.sock" in op["volumes"]
    assert op["user"] == "root"  # the socket is root's


def test_the_load_generator_follows_the_entry_point(compose):
    load = compose["services"]["load"]
    assert load["entrypoint"] == ["/bin/bash", "/demo/load.sh"]
    assert load["volumes"] == ["./demo:/demo:ro"]
    assert load["environment"]["MACHDB_URL"] == "http://n1:8080"
    assert load["environment"]["MACHDB_ADMIN_TOKEN"] == compose["services"]["n1"]["environment"]["MACHDB_ADMIN_TOKEN"]
    assert load["depends_on"] == {"n1": {"condition": "service_healthy"}}
    script = (DEMO / "load.sh").read_text()
    assert "X-Machdb-Min-Index" in script and "machdb ctl" in script and "entry point" in script
    if shutil.which("bash"):
        r = subprocess.run(["bash", "-n", str(DEMO / "load.sh")], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr


def test_dockerfile_runtime_image():
    text = DOCKERFILE.read_text()
    lines = [l.strip() for l in text.splitlines() if l.strip() and not l.lstrip().startswith("#")]
    assert lines[0] == "FROM debian:bookworm-slim"
    for pkg in ("libmicrohttpd12", "libjansson4", "libsqlite3-0", "libcurl4", "libssl3", "ca-certificates", "curl"):
        assert re.search(rf"\s{re.escape(pkg)}(\s|$)", text), f"{pkg} is not installed"
    assert "rm -rf /var/lib/apt/lists/*" in text
    assert "COPY machdb /usr/local/bin/machdb" in lines
    assert "USER machdb" in lines
    assert 'VOLUME ["/data"]' in lines
    assert "EXPOSE 8080" in lines
    assert re.search(r"HEALTHCHECK .*\n?.*curl -fsS http://127\.0\.0\.1:8080/readyz", text)
    assert 'ENTRYPOINT ["/usr/local/bin/machdb"]' in lines
