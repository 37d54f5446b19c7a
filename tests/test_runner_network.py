"""A local Ray listens on the loopback interface only, only --address joins a cluster,
and a local Ray has exactly the CPUs and GPUs the sweep's resources check counted.

A subprocess starts Ray the way a sweep does (orchestrator.runner.init_ray with no
address) with RAY_ADDRESS pointing at a cluster that is not there, runs tasks so that
workers start, and lists the listening sockets of every process in its tree (GCS,
raylet, agents, workers, the driver itself).
"""
from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap

import pytest

pytestmark = pytest.mark.e2e

PROBE = textwrap.dedent("""
    import json, os, time
    from orchestrator.capacity import local_resources
    from orchestrator.runner import cluster_nodes, init_ray

    init_ray(None, *local_resources())  # as a sweep does
    import psutil  # shipped with Ray (on the path once ray is imported)
    import ray

    @ray.remote
    def pid():
        time.sleep(0.5)
        return os.getpid()

    workers = set(ray.get([pid.remote() for _ in range(4)]))
    time.sleep(2)  # agents that bind late
    tree = {os.getpid()} | {p.pid for p in psutil.Process().children(recursive=True)}
    listening = [{"pid": c.pid, "name": psutil.Process(c.pid).name(), "ip": c.laddr.ip,
                  "port": c.laddr.port}
                 for c in psutil.net_connections(kind="inet")
                 if c.status == psutil.CONN_LISTEN and c.pid in tree]
    print(json.dumps({"listening": listening, "workers": sorted(workers),
                      "tree": sorted(tree), "node_ip": ray.util.get_node_ip_address(),
                      "resources": ray.cluster_resources(), "checked": local_resources(),
                      "nodes": cluster_nodes()}))
    ray.shutdown()
""")


def is_loopback(ip: str) -> bool:
    address = ipaddress.ip_address(ip)
    if address.version == 6 and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_loopback


def test_local_ray_listens_on_loopback_only(tmp_path):
    # Ray's socket paths must stay under 108 bytes: a short folder of its own in /tmp
    ray_tmp = tempfile.mkdtemp(prefix="prt-", dir="/tmp")
    env = {**os.environ, "RAY_ADDRESS": "127.0.0.1:9", "PARETOCTL_RAY_TMP": ray_tmp}
    try:
        result = subprocess.run([sys.executable, "-c", PROBE], env=env, cwd=tmp_path,
                                capture_output=True, text=True, timeout=180)
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert result.returncode == 0, result.stderr
    probe = json.loads(result.stdout.strip().splitlines()[-1])
    names = {s["name"] for s in probe["listening"]}
    assert {"gcs_server", "raylet"} <= names  # the servers that took jobs from anywhere
    assert set(probe["workers"]) <= set(probe["tree"])
    assert any(s["pid"] in probe["workers"] for s in probe["listening"])
    outside = [s for s in probe["listening"] if not is_loopback(s["ip"])]
    assert outside == [], f"Ray listens beyond loopback: {outside}"
    assert is_loopback(probe["node_ip"])
    # the Ray started is the one the resources check saw
    cpus, gpus = probe["checked"]
    assert probe["resources"]["CPU"] == cpus and probe["resources"].get("GPU", 0) == gpus
    assert probe["nodes"] == [[cpus, gpus]]  # what a cluster's check reads, node by node


@pytest.mark.parametrize("ip, loopback", [("127.0.0.1", True), ("::ffff:127.0.0.1", True),
                                          ("::1", True), ("::", False), ("0.0.0.0", False),
                                          ("192.0.2.2", False)])
def test_is_loopback(ip, loopback):
    assert is_loopback(ip) is loopback
