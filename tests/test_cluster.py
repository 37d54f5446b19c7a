"""A real Ray cluster on this machine: a head and a second node started with the docker
image's entry point (`docker/entrypoint.sh head|worker`, i.e. `ray start ... --block`), with
token authentication, and sweeps run by `entrypoint.sh sweep` (`paretoctl sweep --address`)
into a PostgreSQL store (needs PARETOCTL_TEST_PG_URL; each test gets its own schema).

Checked: trials run on both nodes and each trial row names its node (Ray's node id; both
nodes have this machine's address); every trial is stored once; two sweeps at once into
one store with readers (`front`, `trials`) during both; a node lost in the middle of a
trial fails that trial with the reason while the sweep goes on; a node that does not see
the data folder fails its trial naming the node and the path; an address where no cluster
answers is one line and exit 2. Every Ray process the tests start is in a process group of
its own, ended by the fixtures even when a test fails.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Callable

import pytest

from ports import free_port

ROOT = Path(__file__).resolve().parents[1]
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
BIN = Path(sys.executable).parent
PARETOCTL = str(BIN / "paretoctl")
NODE_START_S = 180


def sweep_spec(name: str, seeds: list[int], concurrent: int, max_failures: int = 0,
               dataset: str = "{name: multidigits, n_train: 200, n_val: 60, n_test: 60}",
               epochs: int = 1) -> str:
    return f"""
name: {name}
datasets: [{dataset}]
architectures: [{{name: hps, width: 0.5}}]
methods: [{{name: linear, preferences: {{explicit: [[0, 0.5, 0.5]]}}}}]
seeds: {seeds}
train: {{epochs: {epochs}, batch_size: 64}}
resources: {{cpus_per_trial: 1, max_concurrent: {concurrent}, max_failures: {max_failures}}}
"""


def base_env() -> dict[str, str]:
    """This environment without any Ray or store setting, the worktree first on the path
    (Ray's workers import paretoctl from there) and the venv's `ray` and `paretoctl`."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("RAY_") and k != "PARETOCTL_STORE"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["PATH"] = os.pathsep.join([str(BIN), env.get("PATH", "")])
    return env


class Node:
    """One `ray start --block` (head or worker) in a session of its own; ``stop`` ends
    every process of that session."""

    def __init__(self, role: str, env: dict[str, str], log: Path,
                 wrap: list[str] | None = None) -> None:
        self.role, self.log = role, log
        with open(log, "wb") as out:
            self.proc = subprocess.Popen([*(wrap or []), "bash", str(ENTRYPOINT), role], env=env,
                                         stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        self.pgid = self.proc.pid

    def wait_started(self) -> None:
        deadline = time.monotonic() + NODE_START_S
        while time.monotonic() < deadline:
            text = self.log.read_text(errors="replace")
            if "Ray runtime started" in text and self.node_id():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.5)
        raise RuntimeError(f"ray node ({self.role}) did not start: {self.log.read_text()[-3000:]}")

    def pids(self) -> list[int]:
        """Every process of this node: its session, and what those started (the raylet
        starts its workers in sessions of their own)."""
        parents, group = {}, set()
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                except (OSError, IndexError):
                    continue
                parents[int(entry.name)] = int(stat[1])
                if int(stat[2]) == self.pgid:
                    group.add(int(entry.name))
        found, grew = set(group), True
        while grew:
            children = {pid for pid, parent in parents.items() if parent in found} - found
            found |= children
            grew = bool(children)
        return sorted(found)

    def node_id(self) -> str | None:
        """Ray's id of this node, from its raylet's command line."""
        for pid in self.pids():
            try:
                args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if args and args[0].endswith(b"/raylet"):
                for arg in args:
                    if arg.startswith(b"--node_id="):
                        return arg.split(b"=", 1)[1].decode()
        return None

    def trial_workers(self, training: bool = False) -> list[int]:
        """This node's Ray workers that hold a Tune trial; ``training``: only those inside
        a call of the trial's ``train`` (Ray titles the process ``ray::ImplicitFunc.train``
        then), not a worker Tune started and may yet hand no trial (it reuses actors)."""
        title = b"ray::ImplicitFunc.train" if training else b"ray::ImplicitFunc"
        found = []
        for pid in self.pids():
            try:
                if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(title):
                    found.append(pid)
            except OSError:
                pass
        return found

    def kill(self, pids: set[int] | None = None) -> None:
        """The node is lost: every process of it dies at once."""
        for pid in set(self.pids()) | (pids or set()):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def stop(self) -> None:
        """SIGTERM (`ray start --block` then stops its processes), SIGKILL what is left;
        processes seen before are killed too, should they have been re-parented."""
        known = set(self.pids())
        try:
            os.killpg(self.pgid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            known |= set(self.pids())
            if not any(Path(f"/proc/{pid}").exists() for pid in known):
                break
            time.sleep(0.5)
        self.kill({pid for pid in known if Path(f"/proc/{pid}").exists()})
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


class Cluster:
    """A head on 127.0.0.1 (Ray 2.60 records this machine's routable address for it) and
    the nodes joined to it; token authentication with the cluster's own token."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.port, self.nodes = folder, free_port(), []
        self.address = f"127.0.0.1:{self.port}"
        self.token = folder / "token"
        self.token.write_text(uuid.uuid4().hex + uuid.uuid4().hex)
        self.env = {**base_env(), "RAY_TMPDIR": str(folder),
                    "RAY_AUTH_TOKEN_PATH": str(self.token)}

    def start(self, role: str, wrap: list[str] | None = None, **env: str) -> Node:
        node_env = {**self.env, "RAY_AUTH_MODE": "token", "RAY_NODE_IP": "127.0.0.1",
                    "RAY_NUM_CPUS": "1", "RAY_PORT": str(self.port),
                    "RAY_HEAD_ADDRESS": self.address, **env}
        node = Node(role, node_env, self.folder / f"{role}-{len(self.nodes)}.log", wrap)
        self.nodes.append(node)
        node.wait_started()
        return node

    def driver_env(self, store_url: str, workdir: Path) -> dict[str, str]:
        """What `entrypoint.sh sweep` and the readers run with: the token where Ray looks
        for it but no RAY_AUTH_MODE (paretoctl turns token authentication on itself)."""
        return {**self.env, "RAY_HEAD_ADDRESS": self.address, "PARETOCTL_STORE": store_url,
                "PARETOCTL_DATA": str(workdir / "data"),
                "PARETOCTL_HOME": str(workdir / ".paretoctl")}

    def stop(self) -> None:
        for node in reversed(self.nodes):
            node.stop()


def hold_training(nodes: list[Node], enough: Callable[[set[Node]], bool],
                  sweeps: list[subprocess.Popen], timeout: float = 300) -> set[int]:
    """Stop (SIGSTOP) each trial worker of ``nodes`` as soon as it is inside ``train``,
    until ``enough(the nodes holding a stopped one)``; returns the stopped pids (for
    ``release``). A trial so held stays on its node and cannot end, so Tune cannot hand
    another trial to its worker (it reuses actors) before a slower node's worker is up,
    however fast the trials train."""
    held: dict[int, Node] = {}
    deadline = time.monotonic() + timeout
    while not enough(set(held.values())):
        if time.monotonic() > deadline or any(p.poll() is not None for p in sweeps):
            release(set(held))
            for p in sweeps:
                p.kill()
            pytest.fail(f"trials held on {len(set(held.values()))} node(s) only: "
                        f"{[p.communicate()[1] for p in sweeps]}")
        for node in nodes:
            for pid in node.trial_workers(training=True):
                if pid not in held:
                    os.kill(pid, signal.SIGSTOP)
                    held[pid] = node
        time.sleep(0.05)
    return set(held)


def release(pids: set[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass


@pytest.fixture(scope="module")
def cluster():
    # short: Ray's Unix sockets live under it (paths of at most ~100 characters)
    folder = Path(tempfile.mkdtemp(prefix="pcl-", dir="/tmp"))
    running = Cluster(folder)
    try:
        running.start("head")
        running.start("worker")
        yield running
    finally:
        running.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def pg_store():
    """A store URL in a schema of its own on the test server (other tests share it)."""
    from sqlalchemy import create_engine, make_url, text

    base = os.environ.get("PARETOCTL_TEST_PG_URL")
    if not base:
        pytest.skip("PARETOCTL_TEST_PG_URL not set: run scripts/start-postgres.sh (CI does)")
    schema = f"cluster_{uuid.uuid4().hex[:10]}"
    engine = create_engine(base)
    with engine.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()


def query(url: str, sql: str) -> list[tuple]:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(sql))]
    finally:
        engine.dispose()


def sweep(cluster: Cluster, spec: Path, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(["bash", str(ENTRYPOINT), "sweep", str(spec)], cwd=spec.parent,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen, timeout: float = 420) -> tuple[int, str]:
    try:
        _, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, stderr = proc.communicate()
        pytest.fail(f"sweep did not end in {timeout} s: {stderr}")
    return proc.returncode, stderr


def trial_rows(url: str, sweep_name: str) -> list[tuple]:
    return query(url, "SELECT t.key, t.status, t.node, t.attempts, t.error FROM trials t "
                      "JOIN sweep_trials st ON st.trial_id = t.id "
                      f"JOIN sweeps s ON s.id = st.sweep_id WHERE s.name = '{sweep_name}'")


def has_failed(url: str, sweep_name: str) -> bool:
    """A trial of the sweep is stored failed (False while the store is being made)."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        return any(status == "failed" for _, status, _, _, _ in trial_rows(url, sweep_name))
    except SQLAlchemyError:
        return False


def node_ids(rows: list[tuple]) -> Counter:
    """How many trials reported from each node id (``IP/NODE_ID`` in trials.node)."""
    return Counter(node.split("/", 1)[1] for _, _, node, _, _ in rows if node)


@pytest.mark.e2e
@pytest.mark.postgres
def test_a_sweep_runs_on_both_nodes_and_stores_every_trial_once(cluster, pg_store, workdir):
    (workdir / "spec.yaml").write_text(sweep_spec("twonodes", [0, 1, 2, 3], concurrent=2))
    env = cluster.driver_env(pg_store, workdir)
    proc = sweep(cluster, workdir / "spec.yaml", env)
    # each node's first trial held until the other node has one: neither node's worker
    # can take all the trials before the other's is up
    nodes = [node for node in cluster.nodes if node.proc.poll() is None]
    release(hold_training(nodes, lambda holding: len(holding) == len(nodes), [proc]))
    code, stderr = finish(proc)
    assert code == 0, stderr
    assert "done 4, failed 0" in stderr
    rows = trial_rows(pg_store, "twonodes")
    assert len(rows) == 4 and {status for _, status, _, _, _ in rows} == {"done"}, rows
    # two trials at a time on two one-CPU nodes: both nodes ran trials
    assert set(node_ids(rows)) == {node.node_id() for node in nodes}, rows
    assert {attempts for _, _, _, attempts, _ in rows} == {1}
    assert all(re.fullmatch(r"[0-9.]+/[0-9a-f]{56}", node) for _, _, node, _, _ in rows), rows
    # each trial once: its points once per split, nothing else written
    assert query(pg_store, "SELECT COUNT(*) FROM trials") == [(4,)]
    points = query(pg_store, "SELECT trial_id, split, COUNT(*) FROM points "
                             "GROUP BY trial_id, split")
    assert len(points) == 12 and {n for _, _, n in points} == {1}, points


@pytest.mark.e2e
@pytest.mark.postgres
def test_two_sweeps_at_once_with_readers_during_both(cluster, pg_store, workdir):
    from store.db import open_store
    from test_store_postgres import point, result, trial

    # an earlier sweep's trial, so that `front` has points from the first moment on
    with open_store(pg_store, create=True) as db:
        db.register_sweep("earlier", "name: earlier\n", {"name": "earlier"}, {})
        db.add_trials("earlier", [trial(1, dataset="multidigits")])
        db.record_result(f"{1:016x}", result(point("test"), point("val"), point("train")))
    env = cluster.driver_env(pg_store, workdir)
    procs = {}
    for name, seeds in (("first", [10, 11, 12, 13]), ("second", [20, 21, 22, 23])):
        (workdir / f"{name}.yaml").write_text(sweep_spec(name, seeds, concurrent=1))
        procs[name] = sweep(cluster, workdir / f"{name}.yaml", env)
    readers, during_both = [], Counter()

    def read_both() -> None:
        """One `trials` and one `front` at once; counted in ``during_both`` when both
        sweeps ran from before the readers started until after they ended."""
        commands = [["trials"], ["front", "--dataset", "multidigits"]]
        both_before = all(p.poll() is None for p in procs.values())
        running = [(args[0], subprocess.Popen([PARETOCTL, *args], cwd=workdir, env=env,
                                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                              text=True)) for args in commands]
        for command, reader in running:
            _, stderr = reader.communicate(timeout=300)
            readers.append((command, reader.returncode, stderr))
        if both_before and all(p.poll() is None for p in procs.values()):
            during_both.update(command for command, _ in running)

    # one trial of each sweep held (one at a time each, on two one-CPU nodes: two held
    # trials are one per sweep), so that neither sweep can end during the first readers
    live = [node for node in cluster.nodes if node.proc.poll() is None]
    held = hold_training(live, lambda holding: len(holding) == 2, list(procs.values()))
    try:
        read_both()
    finally:
        release(held)
    while any(p.poll() is None for p in procs.values()):
        read_both()
    results = {name: finish(proc) for name, proc in procs.items()}
    for name, (code, stderr) in results.items():
        assert code == 0, (name, stderr)
        assert "done 4, failed 0" in stderr
    assert readers and all(code == 0 for _, code, _ in readers), readers
    # a front and a trials list each ran from start to end while both sweeps ran
    assert during_both["front"] >= 1 and during_both["trials"] >= 1, (during_both, readers)
    for name in procs:
        rows = trial_rows(pg_store, name)
        assert len(rows) == 4 and {status for _, status, _, _, _ in rows} == {"done"}, rows
    assert query(pg_store, "SELECT COUNT(*), COUNT(DISTINCT key) FROM trials") == [(9, 9)]
    assert query(pg_store, "SELECT COUNT(*) FROM sweep_trials") == [(9,)]
    points = query(pg_store, "SELECT COUNT(*), COUNT(DISTINCT (trial_id, split)) FROM points")
    assert points == [(27, 27)]


@pytest.mark.e2e
@pytest.mark.postgres
def test_a_lost_node_fails_its_trial_with_the_reason_and_the_sweep_goes_on(cluster, pg_store,
                                                                          workdir):
    doomed = cluster.start("worker")
    try:
        # more trials than nodes; each long enough (many epochs) to be still training
        # when the node dies, a moment after its worker is seen inside train
        (workdir / "spec.yaml").write_text(sweep_spec("lostnode", list(range(30, 36)),
                                                      concurrent=3, epochs=500))
        env = cluster.driver_env(pg_store, workdir)
        proc = sweep(cluster, workdir / "spec.yaml", env)
        # the other nodes' trials held until the doomed node has one: their workers
        # cannot take its trial before its own worker is up (Tune reuses actors)
        others = [node for node in cluster.nodes if node is not doomed and node.proc.poll() is None]
        held = hold_training(others, lambda holding: bool(doomed.trial_workers(training=True)),
                             [proc])
        try:
            lost = doomed.node_id()
            doomed.kill()
        finally:
            release(held)
        code, stderr = finish(proc)
    finally:
        doomed.stop()
    assert code == 1, stderr
    assert "done 5, failed 1" in stderr
    rows = trial_rows(pg_store, "lostnode")
    [failed] = [row for row in rows if row[1] == "failed"]
    # Ray reports the worker gone at once; its node counts as lost once health checks fail
    assert re.match(rf"(worker process died on node|node lost:) [0-9.]+/{lost} after 0 retries",
                    failed[4]), failed
    assert failed[2].endswith(f"/{lost}"), failed
    assert {status for _, status, _, _, _ in rows} == {"done", "failed"}
    # the others finished on the nodes still there
    assert lost not in node_ids([row for row in rows if row[1] == "done"])


@pytest.mark.e2e
@pytest.mark.postgres
def test_a_node_without_the_data_folder_fails_its_trial_naming_node_and_path(cluster, pg_store,
                                                                             workdir):
    """The third node sees an empty folder where the others have the data (a mount
    namespace of its own, as a machine without the shared mount would)."""
    from test_datasets_fakes import write_mnist

    if shutil.which("unshare") is None:
        pytest.skip("needs unshare (util-linux) for a node with its own mounts")
    data = workdir / "data"
    write_mnist(data / "MNIST" / "raw", n_train=120, n_test=40)
    root = ["unshare", "--mount"] if os.geteuid() == 0 else ["unshare", "--mount",
                                                              "--map-root-user"]
    hide = f"mount -t tmpfs none {data} && exec \"$@\""
    elsewhere = cluster.start("worker", wrap=[*root, "sh", "-c", hide, "sh"])
    try:
        dataset = "{name: multimnist}"
        (workdir / "spec.yaml").write_text(sweep_spec("nodata", [40, 41, 42], concurrent=3,
                                                      dataset=dataset))
        proc = sweep(cluster, workdir / "spec.yaml", cluster.driver_env(pg_store, workdir))
        # the other nodes' trials held until the third node's has failed: their workers
        # cannot take its trial before its own worker is up
        others = [node for node in cluster.nodes if node is not elsewhere]
        release(hold_training(others, lambda holding: has_failed(pg_store, "nodata"), [proc]))
        code, stderr = finish(proc)
        missing_on = elsewhere.node_id()
    finally:
        elsewhere.stop()
    assert code == 1, stderr
    rows = trial_rows(pg_store, "nodata")
    [failed] = [row for row in rows if row[1] == "failed"]
    assert failed[2].endswith(missing_on), failed  # the node it reported from
    assert "DataError" in failed[4] and str(data) in failed[4], failed
    assert f"on node {failed[2]}" in failed[4], failed
    assert sorted(status for _, status, _, _, _ in rows) == ["done", "done", "failed"]


@pytest.mark.e2e
def test_an_address_where_no_cluster_answers_is_one_line_and_exit_2(workdir):
    (workdir / "spec.yaml").write_text(sweep_spec("nowhere", [0], concurrent=1))
    port = free_port()  # nothing listens there
    out = subprocess.run([PARETOCTL, "sweep", "spec.yaml", "--address", f"127.0.0.1:{port}",
                          "--store", "sqlite:///paretoctl.db"],
                         cwd=workdir, env={**base_env(), "PARETOCTL_DATA": str(workdir / "data")},
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: --address 127.0.0.1:{port}: "), lines
    assert not (workdir / "paretoctl.db").exists()  # nothing written, no trial left running


@pytest.mark.e2e
def test_a_driver_without_the_cluster_token_is_one_line_and_exit_2(cluster, workdir):
    (workdir / "spec.yaml").write_text(sweep_spec("refused", [0], concurrent=1))
    env = {**cluster.driver_env("sqlite:///paretoctl.db", workdir),
           "RAY_AUTH_TOKEN": uuid.uuid4().hex}  # Ray prefers it to RAY_AUTH_TOKEN_PATH
    out = subprocess.run(["bash", str(ENTRYPOINT), "sweep", "spec.yaml"], cwd=workdir, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"error: --address {cluster.address}: the Ray cluster refused "
                               "this machine's token; "), lines
    assert not (workdir / "paretoctl.db").exists()


@pytest.mark.parametrize("env, token_file, expected", [
    ({}, None, None),                                            # no token anywhere
    ({}, "home", "token"),                                       # ~/.ray/auth_token
    ({"RAY_AUTH_TOKEN": "abc"}, None, "token"),
    ({"RAY_AUTH_TOKEN_PATH": "{tmp}/t"}, "path", "token"),
    ({"RAY_AUTH_TOKEN_PATH": "{tmp}/missing"}, "home", None),   # Ray reads only that file
    ({"RAY_AUTH_MODE": "disabled"}, "home", "disabled"),        # an explicit choice stays
])
def test_the_driver_uses_token_authentication_when_a_token_is_available(
        tmp_path, monkeypatch, env, token_file, expected):
    from orchestrator.runner import use_token_if_available

    for name in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    for name, value in env.items():
        monkeypatch.setenv(name, value.format(tmp=tmp_path))
    if token_file == "home":
        (tmp_path / ".ray").mkdir()
        (tmp_path / ".ray" / "auth_token").write_text("secret\n")
    elif token_file == "path":
        (tmp_path / "t").write_text("secret")
    use_token_if_available()
    assert os.environ.get("RAY_AUTH_MODE") == expected


def test_only_host_port_addresses_are_probed():
    from orchestrator.runner import _host_port

    assert _host_port("127.0.0.1:6390") == ("127.0.0.1", 6390)
    assert _host_port("[::1]:6390") == ("::1", 6390)
    assert _host_port("head:6379") == ("head", 6379)
    assert _host_port("ray://head:10001") is None and _host_port("auto") is None
