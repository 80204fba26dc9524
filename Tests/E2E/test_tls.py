"""TLS: nodes serve HTTPS (--tls-cert/--tls-key) and verify each other with a cluster CA
(--tls-ca); certificates are made with openssl at run time."""
import http.client
import json
import ssl
import subprocess

import pytest

from helpers import CLUSTER_TOKEN, doc_path, free_port, wait_until


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca(directory, name):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2", "-subj", f"/CN={name}", cwd=directory)
    return directory / f"{name}.pem"


def make_cert(directory, ca, node):
    (directory / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                                       "extendedKeyUsage=serverAuth,clientAuth\n")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", f"{node}.key", "-out", f"{node}.csr", "-subj", f"/CN={node}", cwd=directory)
    openssl("x509", "-req", "-in", f"{node}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key", "-CAcreateserial",
            "-out", f"{node}.pem", "-days", "2", "-extfile", "ext.cnf", cwd=directory)
    return ["--tls-cert", str(directory / f"{node}.pem"), "--tls-key", str(directory / f"{node}.key"),
            "--tls-ca", str(directory / "cluster-ca.pem")]


@pytest.fixture
def pki(tmp_path):
    d = tmp_path / "pki"
    d.mkdir()
    ca = make_ca(d, "cluster-ca")
    make_ca(d, "rogue-ca")
    args = {n: make_cert(d, "cluster-ca", n) for n in ("n1", "n2", "n3")}
    rogue = make_cert(d, "rogue-ca", "n4")
    context = ssl.create_default_context(cafile=str(ca))
    return {"dir": d, "ca": ca, "args": args, "rogue": rogue, "context": context}


def tls_cluster(cluster_factory, pki, count=3, common_args=()):
    c = cluster_factory(tls=pki["context"], common_args=list(common_args))
    n1 = c.add("n1", join=False, extra_args=pki["args"]["n1"])
    for n in range(2, count + 1):
        node = c.add(f"n{n}", join=n1, extra_args=pki["args"][f"n{n}"])
        c.wait_in_map(node.node_id)
    if count > 1:
        c.wait_stage(count)
    return c


def test_a_tls_cluster_forms_replicates_and_fails_over(cluster_factory, pki):
    c = tls_cluster(cluster_factory, pki)
    view = c.nodes[0].get("/admin/v1/cluster", headers=c.nodes[0].admin_headers()).json()
    assert view["stage"] == "Mach III" and all(n["url"].startswith("https://") for n in view["nodes"]), view["nodes"]
    entry = c.node(next(n["id"] for n in view["nodes"] if n["primary_load_manager"]))
    for i in range(20):
        r = entry.put_json(doc_path("tls", f"d{i}"), {"i": i})
        assert r.status == 201, r.describe()
    index = int(r.headers["x-machdb-index"])
    for node in c.nodes:
        g = node.get(doc_path("tls", "d19"), headers={"X-Machdb-Min-Index": str(index)})
        assert g.status == 200 and g.json() == {"i": 19}, g.describe()

    leader = c.leader()
    leader.kill9()
    survivors = [n for n in c.nodes if n is not leader]
    new = wait_until(lambda: c.find_leader(among=survivors, agree=False), 20, "a new leader over TLS")
    assert new[0].node_id != leader.node_id
    writer = next(n for n in survivors)
    r = wait_until(lambda: (lambda w: w if w.status == 201 else None)(writer.put_json(doc_path("tls", "after"), {"after": 1})),
                   20, "a write after the failover")
    for node in survivors:
        # Right after a failover, a strong read may be answered 503 no-leader (retry) while
        # leadership settles: retried as a client would.
        g = wait_until(lambda: (lambda r: r if r.status != 503 else None)(node.get(doc_path("tls", "after") + "?consistency=strong")),
                       20, f"a strong read at {node.node_id} after the failover")
        assert g.status == 200 and g.json() == {"after": 1}, g.describe()


def test_plain_http_and_untrusted_peers_are_refused_and_curl_cacert_works(cluster_factory, pki):
    c = tls_cluster(cluster_factory, pki, count=1)
    n1 = c.nodes[0]
    # Plain HTTP to the TLS port: no HTTP answer.
    conn = http.client.HTTPConnection("127.0.0.1", n1.port, timeout=5)
    with pytest.raises((OSError, http.client.HTTPException)):
        conn.request("GET", "/readyz")
        conn.getresponse().read()
    conn.close()

    # curl as in the README: with the cluster CA it works, without it the certificate is refused.
    ok = subprocess.run(["curl", "-sS", "--cacert", str(pki["ca"]), f"{n1.url}/readyz"], capture_output=True, text=True)
    assert ok.returncode == 0 and json.loads(ok.stdout)["status"] == "ready", ok
    bad = subprocess.run(["curl", "-sS", f"{n1.url}/readyz"], capture_output=True, text=True)
    assert bad.returncode == 60, bad  # peer certificate cannot be authenticated
    table = subprocess.run([str(n1.binary), "ctl", "cluster", "--url", n1.url, "--admin-token", n1.admin_token,
                            "--tls-ca", str(pki["ca"])], capture_output=True, text=True)
    assert table.returncode == 0 and "Mach I" in table.stdout, table

    # Node-to-node routes need a client certificate the cluster CA signed, besides the token.
    r = n1.get("/internal/v1/cluster-map?after=0&wait=0", headers={"Authorization": f"Bearer {CLUSTER_TOKEN}"})
    assert r.status == 401 and "client certificate" in r.json()["detail"], r.describe()
    signed = subprocess.run(["curl", "-sS", "--cacert", str(pki["ca"]), "--cert", str(pki["dir"] / "n2.pem"),
                             "--key", str(pki["dir"] / "n2.key"), "-H", f"Authorization: Bearer {CLUSTER_TOKEN}",
                             f"{n1.url}/internal/v1/cluster-map?after=0&wait=0"], capture_output=True, text=True)
    assert signed.returncode == 0 and json.loads(signed.stdout)["nodes"][0]["id"] == "n1", signed

    # A node whose certificate another CA signed cannot join: refused, not in the map.
    rogue = c.add("n4", join=n1, extra_args=pki["rogue"], start=False)
    rogue.launch()
    code = rogue.wait_exit(timeout=30)
    assert code == 3, rogue.log_tail()
    assert "client certificate signed by the cluster CA" in rogue.log_text(), rogue.log_tail()
    view = n1.get("/admin/v1/cluster", headers=n1.admin_headers()).json()
    assert [n["id"] for n in view["nodes"]] == ["n1"], view["nodes"]


def test_the_operator_hook_may_be_https(cluster_factory, pki, machdb_bin, tmp_path):
    """machdb operator serves its hook over HTTPS (a certificate the cluster CA signed); the
    nodes post their signed recommendations there."""
    d = pki["dir"]
    make_cert(d, "cluster-ca", "hook")
    port = free_port()
    secret = "tls-hook-secret"
    log = open(tmp_path / "operator.log", "wb")
    operator = subprocess.Popen(
        [str(machdb_bin), "operator", "--listen", f"127.0.0.1:{port}", "--secret", secret, "--provision", "log",
         "--data-root", str(tmp_path / "operator-data"), "--tls-cert", str(d / "hook.pem"), "--tls-key", str(d / "hook.key"),
         "--tls-ca", str(pki["ca"])], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def decisions():
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=5, context=pki["context"])
        try:
            conn.request("GET", "/decisions")
            return json.loads(conn.getresponse().read())["decisions"]
        finally:
            conn.close()
    try:
        wait_until(lambda: decisions() is not None, 20, "the operator over HTTPS")
        c = tls_cluster(cluster_factory, pki, common_args=[
            "--hook-url", f"https://127.0.0.1:{port}/hook", "--hook-secret", secret])
        # A Read Replica lost: the planner records replace_node; the entry point delivers it.
        view = c.nodes[0].get("/admin/v1/cluster", headers=c.nodes[0].admin_headers()).json()
        victim = next(n["id"] for n in view["nodes"] if n["roles"] == ["replica"])
        c.node(victim).kill9()
        found = wait_until(lambda: [x for x in decisions() if x["kind"] == "replace_node"], 30,
                           "the operator to receive a replace_node over HTTPS")
        assert found[0]["action"] == "logged", found  # signature verified: only then is it decided on
        assert victim in found[0]["detail"] or found[0].get("node") == victim, found
    finally:
        operator.terminate()
        operator.wait(timeout=15)
        log.close()
