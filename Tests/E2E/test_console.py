"""The browser console (`GET /console`, docs/API.md "Console") in a real headless Chromium
against a real 3-node cluster, driven through chromedriver (selenium); the browser's own
network log (Chrome DevTools performance log) records every request the page makes.

- the page, its script and style sheet: content types and security headers (no browser);
  the load history and the map long-poll it reads;
- Mach I on a node without an admin token (loopback): no sign-in, the empty states say what
  to do; the node killed -> a banner;
- without the token: the page asks for it and no admin data reaches the browser;
- with the token: Mach III with the planned roles per node; a write load moves the latency
  chart; the Load Manager killed -> the new entry point shows within 20 s, without a reload;
- a snapshot sent to a joining node shows as a progress bar with its ETA; once that node
  has left, its own console says it was removed from its cluster;
- the page never makes a request outside the node it was served from.

Screenshots are saved under the test's temporary directory and their paths printed (run
pytest with -s to see them). With CONSOLE_SCREENSHOT=<path> a Mach III screenshot taken after
CONSOLE_SCREENSHOT_LOAD_SECONDS (30) of load is also copied there (scripts/console-screenshot
regenerates docs/console.png so).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from helpers import WriteLoad, media_type, wait_until

FAST = ["--failure-timeout", "1500", "--remove-after", "3000"]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


# --------------------------------------------------------------------------- page over HTTP


def test_console_page_and_assets_are_served_with_security_headers(node):
    page = node.get("/console")
    assert page.status == 200, page.describe()
    assert media_type(page.headers.get("content-type")) == "text/html", page.describe()
    csp = page.headers.get("content-security-policy", "")
    directives = {d.strip().split(" ", 1)[0]: d.strip() for d in csp.split(";") if d.strip()}
    assert directives.get("default-src") == "default-src 'none'", csp
    for name in ("script-src", "style-src", "connect-src"):
        assert directives.get(name) == f"{name} 'self'", csp
    assert directives.get("frame-ancestors") == "frame-ancestors 'none'", csp
    assert page.headers.get("x-content-type-options") == "nosniff"
    assert page.headers.get("x-frame-options") == "DENY"
    assert page.headers.get("referrer-policy") == "no-referrer"
    assert page.headers.get("cache-control") == "no-store"
    html = page.body.decode()
    # Structure only: no inline script or style, nothing from elsewhere, no cluster data.
    assert "<script src=\"/console/console.js\"" in html and "<script>" not in html and "style=" not in html
    assert "http://" not in html and "https://" not in html.replace("http://www.w3.org", "")
    assert node.url not in html and "Mach" not in html
    for path, kind in (("/console/console.js", "text/javascript"), ("/console/console.css", "text/css")):
        r = node.get(path)
        assert r.status == 200 and media_type(r.headers.get("content-type")) == kind, r.describe()
        assert r.headers.get("content-security-policy") == csp and r.headers.get("x-content-type-options") == "nosniff"
    script = node.get("/console/console.js").body.decode()
    assert "sessionStorage" in script and "localStorage" not in script
    # It calls only paths of its own origin (the browser test checks what it really requests).
    calls = re.findall(r"""(?:fetch|api)\(\s*(['"`][^'"`]*)""", script)
    assert calls and all(c[1:].startswith("/") for c in calls), calls
    head = node.request("HEAD", "/console")
    assert head.status == 200 and head.body == b""
    assert node.get("/console/other.js").status == 404


def test_load_history_is_an_admin_route_bounded_and_in_metrics(node_factory):
    n = node_factory.new("hist", admin_token="hist-token")
    assert n.get("/admin/v1/scaling/history").status == 401
    auth = {"Authorization": "Bearer hist-token"}
    for i in range(20):
        assert n.request("PUT", f"/v1/collections/h/docs/d{i}", b'{"i":1}', {"Content-Type": "application/json"}).status in (200, 201)

    def sampled():
        r = n.request("GET", "/admin/v1/scaling/history?after=0", headers=auth)
        assert r.status == 200, r.describe()
        body = r.json()
        assert body["capacity"] == 600 and body["interval_seconds"] == 1
        return body if sum(s["all"]["requests"] for s in body["samples"]) >= 20 else None
    body = wait_until(sampled, 10, "the 20 writes in the per-second history")
    busy = [s for s in body["samples"] if s["all"]["requests"]]
    assert all(s["write"]["p99_seconds"] > 0 and s["all"]["writes"] == s["write"]["requests"] for s in busy), busy
    times = [s["at"] for s in body["samples"]]
    assert times == sorted(times) and abs(times[-1] / 1000 - time.time()) < 5, times[-3:]
    later = n.request("GET", f"/admin/v1/scaling/history?after={times[-1]}", headers=auth).json()
    assert all(s["at"] > times[-1] for s in later["samples"])
    assert n.request("GET", "/admin/v1/scaling/history?after=-1", headers=auth).status == 400
    metrics = n.get("/metrics").body.decode()
    assert "machdb_load_history_capacity 600" in metrics and "machdb_load_history_samples " in metrics
    # The admin cluster view as a long-poll: at once when the map is newer, else after `wait`.
    version = n.request("GET", "/admin/v1/cluster", headers=auth).json()["version"]
    t0 = time.monotonic()
    assert n.request("GET", f"/admin/v1/cluster?after={version - 1}&wait=5", headers=auth).status == 200
    assert time.monotonic() - t0 < 2
    t0 = time.monotonic()
    r = n.request("GET", f"/admin/v1/cluster?after={version}&wait=1", headers=auth)
    assert r.status == 200 and r.json()["version"] == version and 0.9 < time.monotonic() - t0 < 5
    assert n.request("GET", "/admin/v1/cluster?after=x", headers=auth).status == 400
    assert n.request("GET", f"/admin/v1/cluster?after={version}&wait=61", headers=auth).status == 400


# --------------------------------------------------------------------------- browser


class Browser:
    """Headless Chromium through chromedriver, with the DevTools network log on."""

    def __init__(self, workdir: Path):
        try:
            from selenium import webdriver
            from selenium.webdriver.chrome.service import Service
        except ImportError as e:
            pytest.fail(f"selenium is missing ({e}); run scripts/setup --test", pytrace=False)
        for path in (CHROMIUM, CHROMEDRIVER):
            if not os.access(path, os.X_OK):
                pytest.fail(f"{path} is missing; run scripts/setup --test (Debian chromium, chromium-driver)", pytrace=False)
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--window-size=1280,1900", "--no-first-run", "--disable-extensions",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={workdir / 'profile'}"):
            options.add_argument(arg)
        options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER, log_output=str(workdir / "chromedriver.log")),
                                       options=options)
        self.driver.set_page_load_timeout(30)
        self.driver.get("about:blank")
        self.workdir = workdir
        self.requests: list[tuple[str, str]] = []   # (URL, the URL of the page that asked)
        self.responses: list[tuple[str, int]] = []
        self.shots: list[Path] = []

    def close(self):
        try:
            self.driver.quit()
        except Exception:
            pass

    def network(self):
        """Requests and responses since the last call, added to `requests`/`responses`."""
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            params = message.get("params", {})
            if message.get("method") == "Network.requestWillBeSent":
                # The browser's own pages (its start tab: chrome://...) are not the console's.
                document = params.get("documentURL", "")
                if not document.startswith(("chrome:", "chrome-", "about:")):
                    self.requests.append((params["request"]["url"], document))
            elif message.get("method") == "Network.responseReceived":
                self.responses.append((params["response"]["url"], params["response"]["status"]))

    def js(self, script, *args):
        return self.driver.execute_script(script, *args)

    def text(self, element_id):
        return self.js("const e = document.getElementById(arguments[0]); return e ? e.textContent : null;", element_id)

    def data(self, element_id, key):
        return self.js("const e = document.getElementById(arguments[0]); return e ? (e.dataset[arguments[1]] || '') : '';",
                       element_id, key)

    def visible(self, element_id):
        return self.js("const e = document.getElementById(arguments[0]); return !!e && !e.hidden && e.offsetParent !== null;",
                       element_id)

    def shot(self, name) -> Path:
        path = self.workdir / f"{name}.png"
        self.driver.save_screenshot(str(path))
        self.shots.append(path)
        print(f"console screenshot: {path}")
        return path

    def node_roles(self) -> dict[str, list[str]]:
        return self.js("""const out = {};
            for (const r of document.querySelectorAll('#nodes-table tbody tr')) out[r.dataset.node] = (r.dataset.roles || '').split(' ').filter(Boolean).sort();
            return out;""")

    def assert_same_origin(self, *origins: str):
        """Every request a console page made went to the node that served that page, and every
        page came from one of `origins`."""
        self.network()
        assert self.requests, "the network log recorded no request"
        origin = lambda u: "{0.scheme}://{0.netloc}".format(urlsplit(u))  # noqa: E731
        foreign = [(u, d) for u, d in self.requests if origin(u) != origin(d) or origin(d) not in origins]
        assert not foreign, f"requests outside the page's node {origins}: {foreign}"


@pytest.fixture(scope="module")
def cluster(module_cluster_factory):
    c = module_cluster_factory(common_args=FAST)
    c.start(3)
    return c


@pytest.fixture
def browser(tmp_path, capsys):
    b = Browser(tmp_path)
    yield b
    b.close()
    if b.shots:
        with capsys.disabled():  # shown even without -s
            print("\nconsole screenshots: " + ", ".join(str(p) for p in b.shots))


def test_mach1_without_an_admin_token_shows_what_to_do_and_a_banner_when_the_node_is_gone(node_factory, browser):
    # A node without --admin-token (loopback only) serves admin routes without one: so does the console.
    n = node_factory.new("solo")
    browser.driver.get(n.url + "/console")
    wait_until(lambda: browser.visible("app"), 15, "the console without a sign-in")
    assert not browser.visible("login") and not browser.visible("sign-out")
    wait_until(lambda: browser.data("stage-summary", "stage") == "Mach I", 15, "Mach I on the page")
    assert browser.node_roles() == {"solo": ["load_manager", "replica", "writer"]}
    assert browser.data("entry-point", "node") == "solo"
    empty = browser.text("stage-empty")
    assert browser.visible("stage-empty") and "one node does everything" in empty and f"--join {n.url}" in empty, empty
    wait_until(lambda: browser.visible("latency-empty") and browser.visible("recs-empty"), 10, "the empty states")
    assert "No recommendations yet" in browser.text("recs-empty") and "3.00 s" in browser.text("recs-empty")
    assert "Nothing to catch up" in browser.text("transfers")
    browser.shot("console-mach1")
    n.kill9()
    wait_until(lambda: "does not answer" in (browser.text("banners") or ""), 15,
               f"a banner saying the node is gone (banners: {browser.text('banners')!r})", interval=0.2)
    assert browser.text("status") == "attention"
    browser.shot("console-node-gone")
    browser.assert_same_origin(n.url)


def test_without_the_token_the_page_asks_for_it_and_shows_no_admin_data(cluster, browser):
    n1 = cluster.node("n1")
    browser.driver.get(n1.url + "/console")
    wait_until(lambda: browser.visible("login"), 15, "the login form")
    time.sleep(1.5)  # the page would have started polling by now if it were going to
    assert not browser.visible("app"), "the console shows without a token"
    assert browser.js("return sessionStorage.getItem('machdb.adminToken')") is None
    body = browser.js("return document.body.innerText")
    for leak in ("Mach", "n2", "n3", "Writer", "load_manager", "applied"):
        assert leak not in body, f"{leak!r} on the page without a token: {body}"
    # A wrong token is refused, and nothing is kept.
    browser.driver.find_element("id", "token").send_keys("not-the-token")
    browser.driver.find_element("css selector", "#login-form button").click()
    wait_until(lambda: "refused" in (browser.text("login-error") or ""), 10, "the refusal of a wrong token")
    assert browser.js("return sessionStorage.getItem('machdb.adminToken')") is None
    browser.shot("console-no-token")
    browser.network()
    admin = [(u, s) for u, s in browser.responses if urlsplit(u).path.startswith("/admin/")]
    assert admin and all(s == 401 for _, s in admin), f"admin answers without the token: {admin}"
    data = [u for u, s in browser.responses if urlsplit(u).path in ("/metrics",)]
    assert not data, f"the page fetched {data} without the token"
    assert "not-the-token" not in browser.driver.current_url
    browser.assert_same_origin(n1.url)


def sign_in(browser, node, token):
    browser.driver.get(node.url + "/console")
    wait_until(lambda: browser.visible("login"), 15, "the login form")
    browser.driver.find_element("id", "token").send_keys(token)
    browser.driver.find_element("css selector", "#login-form button").click()
    wait_until(lambda: browser.visible("app"), 15, "the console after signing in")
    assert token not in browser.driver.current_url
    assert browser.js("return sessionStorage.getItem('machdb.adminToken')") == token


def test_console_live_stage_latency_and_failover(cluster, browser):
    n1 = cluster.node("n1")
    sign_in(browser, n1, cluster.admin_token)

    expected = {"n1": ["writer"], "n2": ["replica"], "n3": ["load_manager"]}
    wait_until(lambda: browser.data("stage-summary", "stage") == "Mach III" and browser.node_roles() == expected,
               30, f"Mach III with roles {expected} (page: {browser.text('stage-summary')} {browser.node_roles()})")
    assert browser.data("entry-point", "node") == "n3", browser.text("entry-point")
    diagram = browser.js("""return [...document.querySelectorAll('#stage-diagram g.node')].map(
        g => [g.dataset.node, g.dataset.roles, g.dataset.entry, g.textContent]);""")
    boxes = {node: (roles, entry, text) for node, roles, entry, text in diagram}
    assert set(boxes) == {"n1", "n2", "n3"}, diagram
    assert "Writer" in boxes["n1"][2] and "Read Replica" in boxes["n2"][2] and "Load Manager" in boxes["n3"][2]
    assert boxes["n3"][1] == "true" and "entry point" in boxes["n3"][2] and boxes["n1"][1] == "false"
    assert all("Raft " in text and "applied " in text and "level " in text for _, _, text in boxes.values()), diagram
    assert "1–1000" in browser.text("shards-table")

    # A write load through the page's node moves the latency chart.
    before = browser.js("return document.getElementById('latency-chart').toDataURL()")
    points_before = int(browser.data("latency-chart", "points") or 0)
    load = WriteLoad([n1], threads=2, per_thread=None, prefix="console", collection="console", retry=True).start()
    try:
        wait_until(lambda: int(browser.data("latency-chart", "points") or 0) >= points_before + 3
                   and int(browser.data("latency-summary", "requests") or 0) > 0, 30,
                   f"the latency chart to move (points {browser.data('latency-chart', 'points')}, "
                   f"summary {browser.text('latency-summary')})")
        after = browser.js("return document.getElementById('latency-chart').toDataURL()")
        assert after != before, "the chart's pixels did not change under load"
        assert "ms" in browser.text("latency-summary") and "requests" in browser.text("latency-summary")
        browser.shot("console-mach3-under-load")
        target = os.environ.get("CONSOLE_SCREENSHOT")
        if target:  # scripts/console-screenshot: a fuller chart for the README
            seconds = int(os.environ.get("CONSOLE_SCREENSHOT_LOAD_SECONDS", "30"))
            wait_until(lambda: int(browser.data("latency-chart", "points") or 0) >= points_before + seconds,
                       seconds + 30, f"{seconds} s of load on the chart", interval=0.5)
            browser.driver.execute_script("window.scrollTo(0, 0)")
            shutil.copyfile(browser.shot("console-readme"), target)
            print(f"console screenshot copied to {target}")
        # Table view: the text alternative.
        browser.driver.find_element("id", "view-toggle").click()
        assert browser.js("return document.getElementById('view-toggle').getAttribute('aria-pressed')") == "true"
        assert browser.visible("windows-table") and not browser.visible("latency-chart")
        assert "requests" in browser.text("windows-table")
        browser.shot("console-table-view")
        browser.driver.find_element("id", "view-toggle").click()
    finally:
        load.stop()
        load.join(timeout=60)
    assert load.count() > 0, load.summary()

    # The Load Manager is lost: the page shows the new entry point without a reload.
    browser.js("window.__sameDocument = 'yes'")
    cluster.node("n3").kill9()
    t0 = time.monotonic()
    wait_until(lambda: browser.data("entry-point", "node") == "n2", 20,
               f"the new entry point n2 on the page (page says: {browser.text('entry-point')})", interval=0.2)
    moved = time.monotonic() - t0
    assert browser.js("return window.__sameDocument") == "yes", "the page was reloaded"
    print(f"the console showed the new entry point {moved:.1f} s after the Load Manager was killed")
    wait_until(lambda: browser.node_roles().get("n2") == ["load_manager"], 20, f"n2 as Load Manager ({browser.node_roles()})")
    # The planner's replace_node for the lost node reaches the recommendation timeline.
    wait_until(lambda: browser.js("""return [...document.querySelectorAll('#recommendations li[data-kind="replace_node"]')]
        .some(li => li.textContent.includes('n3'))"""), 20, f"replace_node n3 on the timeline ({browser.text('recommendations')!r})")
    assert not browser.visible("recs-empty")
    browser.shot("console-after-lm-lost")
    browser.assert_same_origin(n1.url)


def test_snapshot_transfer_shows_a_progress_bar(cluster_factory, browser):
    # As in test_cluster_snapshot: a node joining after log compaction gets a rate-limited
    # snapshot (about 300 KB at 50 KB/s: several seconds), sent by the leader.
    c = cluster_factory(common_args=["--snapshot-entries", "64", "--snapshot-rate", "50000"])
    n1 = c.add("n1", join=False)
    c.add("n2", join=n1)
    c.wait_in_map("n2")
    leader = c.leader()
    load = WriteLoad([leader], threads=4, per_thread=100, prefix="s", collection="snap", retry=False, pad=700).start()
    load.join(timeout=120)
    assert load.count() == 400 and not load.failures, load.summary()
    sign_in(browser, leader, c.admin_token)
    wait_until(lambda: "Nothing to catch up" in (browser.text("transfers") or ""), 15, "no transfer before the join")
    n3 = c.add("n3", join=n1, start=False)
    n3.launch()  # not start(): n3 is ready only once the snapshot is installed

    def bars():
        return browser.js("return [...document.querySelectorAll('#transfers .bar')].map(b => b.textContent)")
    seen = wait_until(lambda: [b for b in bars() if b.startswith("Snapshot sending")], 30,
                      f"a snapshot progress bar (transfers: {browser.text('transfers')!r})", interval=0.2)
    assert "KiB of " in seen[0] and "%" in seen[0] and "ETA" in seen[0], seen
    assert browser.js("return document.querySelector('#transfers progress') !== null")
    browser.shot("console-snapshot-transfer")
    n3.wait_ready(60)
    wait_until(lambda: "Nothing to catch up" in (browser.text("transfers") or ""), 60,
               f"the transfer to end on the page (transfers: {browser.text('transfers')!r})", interval=0.5)

    # n3 leaves: its own console (signed in anew: another origin) says it was removed.
    auth = {"Authorization": f"Bearer {c.admin_token}"}
    r = leader.request("POST", "/admin/v1/nodes/n3/leave", headers=auth)
    assert r.status == 202, r.describe()
    wait_until(lambda: n3.get("/readyz").status == 503, 30, "n3 to know it was removed")
    sign_in(browser, n3, c.admin_token)
    wait_until(lambda: "removed from its cluster" in (browser.text("banners") or ""), 15,
               f"the removed banner on n3's console (banners: {browser.text('banners')!r})", interval=0.2)
    assert browser.text("status") == "attention"
    browser.shot("console-removed-node")
    browser.assert_same_origin(leader.url, n3.url)


def test_a_moved_shard_shows_where_it_lives(cluster_factory, browser):
    """Split, then move the new shard to three of four nodes: the shards table and the diagram
    say where it lives, live, and that it is no longer moving."""
    c = cluster_factory()
    c.start(4)
    entry = c.nodes[-1]
    auth = {"Authorization": f"Bearer {c.admin_token}", "Content-Type": "application/json"}
    assert entry.request("POST", "/admin/v1/shards/1/split", b'{"at": 501}', auth).status == 202
    sign_in(browser, entry, c.admin_token)
    wait_until(lambda: browser.js("return document.querySelectorAll('#shards-table tbody tr').length") == 2, 20,
               "two shards on the page")
    assert "every node" in browser.text("shards-table")
    r = entry.request("POST", "/admin/v1/shards/501/move", b'{"to": ["n2", "n3", "n4"]}', auth)
    assert r.status == 202, r.describe()

    def row():
        return browser.js("const r = document.querySelector('#shards-table tr[data-shard=\"501\"]'); return r && r.textContent")
    wait_until(lambda: "n2, n3, n4" in (row() or "") and "moving" not in row(), 30,
               f"shard 501 placed on n2, n3, n4 (row: {row()!r})", interval=0.3)
    label = browser.js("return document.querySelector('svg g.shard[data-shard=\"501\"] text').textContent")
    assert "on n2, n3, n4" in label, label
    browser.shot("console-moved-shard")
