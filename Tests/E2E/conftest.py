"""pytest wiring for the machdb end-to-end suite (see helpers.py for the harness).

Fixtures:
  machdb_bin   the binary under test ($MACHDB_BIN, .build/release, .build/debug); a test
               that needs it FAILS with a clear message when it is missing.
  node         one node per test module (tests in a module share it; use unique names).
  node_factory make more nodes (custom flags, restarts); all killed at teardown.
  cluster_factory        per test: `cluster_factory(common_args=[...])` -> a Cluster
                         (helpers.py): nodes sharing a cluster and an admin token, the
                         first alone, the rest with --join; every node killed at teardown.
  module_cluster_factory the same, shared by the tests of one module.
On any failing test the log tail of every live node is attached to the report.
"""

from __future__ import annotations

import atexit

import pytest

from helpers import Cluster, Node, find_binary


@atexit.register
def _kill_leftovers():
    # Belt and braces: never leave a server running after the session.
    for n in list(Node.open_nodes):
        try:
            n.close()
        except Exception:
            pass


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for n in list(Node.open_nodes):
            state = "running" if n.is_running() else (
                f"exited {n.proc.returncode}" if n.proc is not None else "never started")
            report.sections.append(
                (f"machdb node {n.node_id} ({n.url}, {state}) log {n.log_path}",
                 n.log_tail()))


@pytest.fixture(scope="session")
def machdb_bin():
    path, why = find_binary()
    if path is None:
        pytest.fail(why, pytrace=False)
    return path


class NodeFactory:
    def __init__(self, binary, tmp_dir_fn):
        self.binary = binary
        self._tmp_dir_fn = tmp_dir_fn
        self.nodes: list[Node] = []

    def new(self, node_id: str = "n1", *, start: bool = True, **kw) -> Node:
        n = Node(self.binary, self._tmp_dir_fn(node_id), node_id, **kw)
        self.nodes.append(n)
        if start:
            n.start()
        return n

    def close(self):
        for n in self.nodes:
            n.close()


@pytest.fixture
def node_factory(machdb_bin, tmp_path_factory):
    f = NodeFactory(machdb_bin, lambda nid: tmp_path_factory.mktemp(nid))
    yield f
    f.close()


@pytest.fixture(scope="module")
def module_node_factory(machdb_bin, tmp_path_factory):
    f = NodeFactory(machdb_bin, lambda nid: tmp_path_factory.mktemp(nid))
    yield f
    f.close()


@pytest.fixture(scope="module")
def node(module_node_factory):
    """A plain node (default flags) shared by the tests of one module."""
    return module_node_factory.new("n1")


class ClusterFactory:
    def __init__(self, binary, tmp_path_factory):
        self.binary = binary
        self._tmp = tmp_path_factory
        self.clusters: list[Cluster] = []

    def __call__(self, **kw) -> Cluster:
        c = Cluster(self.binary, lambda nid: self._tmp.mktemp(nid), **kw)
        self.clusters.append(c)
        return c

    def close(self):
        for c in self.clusters:
            c.close()


@pytest.fixture
def cluster_factory(machdb_bin, tmp_path_factory):
    f = ClusterFactory(machdb_bin, tmp_path_factory)
    yield f
    f.close()


@pytest.fixture(scope="module")
def module_cluster_factory(machdb_bin, tmp_path_factory):
    f = ClusterFactory(machdb_bin, tmp_path_factory)
    yield f
    f.close()
