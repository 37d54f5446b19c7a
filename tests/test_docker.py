"""docker/: the image's entry point, Dockerfiles, compose file and KubeRay manifests.

Docker cannot run here, so the files are checked by parsing them, the entry point with
shellcheck (where installed) and by its `--print` mode, whose command lines must be the
ones the README documents; the `sweep` role's command line also runs, on a local Ray.
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import sqlite3
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from cli_runs import explicit, tiny_sweep

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "docker"
ENTRYPOINT = DOCKER / "entrypoint.sh"
DOCKERFILES = [DOCKER / "Dockerfile", DOCKER / "Dockerfile.cuda"]
ENTRYPOINT_IN_IMAGE = "paretoctl-entrypoint"
INSTRUCTIONS = {"FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT",
                "VOLUME", "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK",
                "SHELL"}


def pins() -> dict[str, str]:
    """pyproject.toml's exact pins (name -> version)."""
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    found = {}
    for dep in deps:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==([^,;]+)", dep)
        if match:
            found[match.group(1)] = match.group(2)
    return found


def entrypoint(*args: str, cwd: Path | None = None, timeout: float = 30,
               **env: str) -> subprocess.CompletedProcess:
    """Run the entry point with ARGS, this environment's Ray and paretoctl settings replaced by ``env``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "PARETOCTL_"))}
    return subprocess.run(["bash", str(ENTRYPOINT), *args], cwd=cwd, env={**base, **env},
                          capture_output=True, text=True, timeout=timeout)


def printed(*args: str, **env: str) -> list[str]:
    """The argv the entry point would run (its --print line, shell-unquoted)."""
    out = entrypoint("--print", *args, **env)
    assert out.returncode == 0, out.stderr
    return shlex.split(out.stdout)


def dockerfile(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    lines, current = [], ""
    for raw in path.read_text().splitlines():
        if not current and (not raw.strip() or raw.lstrip().startswith("#")):
            continue
        if raw.rstrip().endswith("\\"):
            current += raw.rstrip()[:-1] + " "
            continue
        lines.append(current + raw)
        current = ""
    assert not current, f"{path.name}: dangling line continuation"
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1].strip()) for line in lines]


# --- the entry point --------------------------------------------------------------------

def test_entrypoint_passes_shellcheck():
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck not installed (Debian package `shellcheck`; CI installs it)")
    out = subprocess.run(["shellcheck", "--shell=bash", str(ENTRYPOINT)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout


def test_entrypoint_is_executable():
    assert os.access(ENTRYPOINT, os.X_OK)


HEAD = ["ray", "start", "--head", "--node-ip-address=172.18.0.3", "--port=6379",
        "--include-dashboard=false", "--disable-usage-stats", "--block"]
WORKER = ["ray", "start", "--address=head:6379", "--node-ip-address=172.18.0.4",
          "--disable-usage-stats", "--num-cpus=4", "--block"]
SWEEP = ["paretoctl", "sweep", "sweeps/quickstart.yaml", "--address", "head:6379"]


def test_roles_print_the_documented_commands():
    head = printed("head", RAY_NODE_IP="172.18.0.3")
    worker = printed("worker", RAY_NODE_IP="172.18.0.4", RAY_HEAD_ADDRESS="head:6379",
                     RAY_NUM_CPUS="4")
    sweep = printed("sweep", "sweeps/quickstart.yaml", RAY_HEAD_ADDRESS="head:6379",
                    PARETOCTL_DATA="/srv/paretoctl/data")
    assert (head, worker, sweep) == (HEAD, WORKER, SWEEP)
    readme = (ROOT / "README.md").read_text()
    for argv in (HEAD, WORKER, SWEEP):
        assert shlex.join(argv) in readme, shlex.join(argv)


def test_roles_pass_options_and_other_commands_through():
    assert printed("sweep", "my sweep.yaml", "--resume") == \
        ["paretoctl", "sweep", "my sweep.yaml", "--resume"]
    assert printed("head", RAY_NODE_IP="10.0.0.2", RAY_PORT="6380", RAY_NUM_GPUS="1")[4:6] == \
        ["--port=6380", "--include-dashboard=false"]
    assert "--num-gpus=1" in printed("head", RAY_NODE_IP="10.0.0.2", RAY_NUM_GPUS="1")
    assert printed("paretoctl", "front", "--dataset", "multidigits") == \
        ["paretoctl", "front", "--dataset", "multidigits"]


@pytest.mark.parametrize("args, env, field", [
    (["worker"], {}, "RAY_HEAD_ADDRESS"),
    (["sweep"], {}, "SPEC"),
    (["sweep", "s.yaml"], {"RAY_HEAD_ADDRESS": "head:6379"}, "PARETOCTL_DATA"),
    ([], {}, "usage"),
])
def test_missing_settings_are_one_line_exit_2(args, env, field):
    out = entrypoint(*args, **env)
    assert out.returncode == 2
    assert out.stdout == ""
    assert len(out.stderr.strip().splitlines()) == 1 and field in out.stderr


TINY = tiny_sweep("docker_tiny", [explicit("linear", [0, 0.5, 0.5])], splits=(200, 50, 50),
                  resources={"cpus_per_trial": 1, "max_concurrent": 1})


@pytest.mark.e2e
def test_sweep_role_runs_a_sweep_on_a_local_ray(tmp_path):
    """The `sweep` role's command line, run for real: without RAY_HEAD_ADDRESS the driver
    starts a local Ray; the store comes from PARETOCTL_STORE, as in the image."""
    (tmp_path / "tiny.yaml").write_text(TINY)
    out = entrypoint("sweep", "tiny.yaml", cwd=tmp_path, timeout=300,
                     PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
                     PARETOCTL_STORE=f"sqlite:///{tmp_path / 'store.db'}",
                     PARETOCTL_DATA=str(tmp_path / "data"), PARETOCTL_HOME=str(tmp_path / "home"))
    assert out.returncode == 0, out.stderr
    with sqlite3.connect(tmp_path / "store.db") as conn:
        assert conn.execute("SELECT status FROM trials").fetchall() == [("done",)]
        assert conn.execute("SELECT COUNT(*) FROM points").fetchone()[0] == 3


# --- Dockerfiles ------------------------------------------------------------------------

@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_instructions_and_bases(path):
    steps = dockerfile(path)
    assert {name for name, _ in steps} <= INSTRUCTIONS
    bases = [args.split()[0] for name, args in steps if name == "FROM"]
    assert bases and all(re.fullmatch(r"python:3\.11-slim-\w+", base) for base in bases), bases
    users = [args for name, args in steps if name == "USER"]
    assert users and users[-1] not in ("root", "0")
    # every COPY from the build context names something in the checkout
    for name, args in steps:
        if name == "COPY" and "--from=" not in args:
            sources = [a for a in args.split() if not a.startswith("--")][:-1]
            for source in sources:
                assert (ROOT / source).exists(), f"{path.name}: COPY {source}"
    # the console entry point is the checked script, in exec form
    assert (f"COPY docker/entrypoint.sh /usr/local/bin/{ENTRYPOINT_IN_IMAGE}"
            in [f"{n} {a}" for n, a in steps])
    assert ("ENTRYPOINT", f'["{ENTRYPOINT_IN_IMAGE}"]') in steps


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_installs_the_checkout_with_the_pinned_versions(path):
    text = path.read_text()
    steps = dockerfile(path)
    runs = " ".join(args for name, args in steps if name == "RUN")
    versions = pins()
    assert f"torch=={versions['torch']}" in runs
    assert f"torchvision=={versions['torchvision']}" in runs
    assert f"'ray[default]=={versions['ray']}'" in runs
    assert "'.[postgres]'" in runs
    cpu_index = "--index-url https://download.pytorch.org/whl/cpu"
    assert (cpu_index in runs) == (path.name == "Dockerfile")
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"]["find"]["include"]
    for package in packages:
        assert f"COPY {package.rstrip('*')} " in text, package


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_holds_no_secrets(path):
    for name, args in dockerfile(path):
        if name in ("ENV", "ARG"):
            assert not re.search(r"PASSWORD|TOKEN|SECRET|STORE", args, re.I), args
    assert "postgresql" not in path.read_text()


# --- compose ----------------------------------------------------------------------------

def compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def test_compose_services_and_roles():
    services = compose()["services"]
    assert set(services) == {"head", "worker", "postgres"}
    assert services["head"]["command"] == ["head"]
    assert services["worker"]["command"] == ["worker"]
    assert services["head"]["image"] == services["worker"]["image"]
    assert services["head"]["build"] == services["worker"]["build"]
    # `--scale worker=N` needs a worker without a fixed name or published ports
    assert "container_name" not in services["worker"] and "ports" not in services["worker"]
    assert services["head"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    # a Ray node drains for up to 30 s on SIGTERM: Docker's default 10 s would SIGKILL it
    assert services["head"]["stop_grace_period"] == services["worker"]["stop_grace_period"] == "45s"
    env = services["worker"]["environment"]
    assert env["RAY_HEAD_ADDRESS"] == "head:6379"
    assert env["RAY_AUTH_MODE"] == "token"
    assert env["PARETOCTL_STORE"].startswith("postgresql+psycopg://")
    assert "@postgres:5432/" in env["PARETOCTL_STORE"]


def test_compose_binds_ports_to_loopback_only():
    for name, service in compose()["services"].items():
        for port in service.get("ports", []):
            assert isinstance(port, str) and port.startswith("127.0.0.1:"), (name, port)
        assert "network_mode" not in service


def test_compose_shares_one_data_volume_at_the_same_path():
    doc = compose()
    mounts = {}
    for name in ("head", "worker"):
        service = doc["services"][name]
        volumes = dict(v.split(":", 1) for v in service["volumes"])
        mounts[name] = volumes
        data = service["environment"]["PARETOCTL_DATA"]
        assert any(data.startswith(path + "/") for path in volumes.values()), data
    assert mounts["head"] == mounts["worker"]
    assert set(mounts["head"]) <= set(doc["volumes"])


def test_compose_postgres_has_volume_healthcheck_and_no_password():
    doc = compose()
    pg = doc["services"]["postgres"]
    assert re.fullmatch(r"postgres:\d+(-\w+)?", pg["image"])
    assert any(v.endswith(":/var/lib/postgresql/data") for v in pg["volumes"])
    assert "pg_isready" in " ".join(pg["healthcheck"]["test"])
    # credentials come from docker/.env, never from this file
    for service in doc["services"].values():
        for key, value in (service.get("environment") or {}).items():
            if re.search(r"PASSWORD|TOKEN", key):
                assert re.fullmatch(r"\$\{\w+:\?[^}]*\}", str(value)), (key, value)


def test_env_example_names_every_required_variable_without_a_real_secret():
    required = set(re.findall(r"\$\{(\w+):\?", (DOCKER / "compose.yaml").read_text()))
    example = {}
    for line in (DOCKER / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, value = line.split("=", 1)
            example[key] = value
    assert required == set(example)
    assert example["POSTGRES_PASSWORD"] == example["RAY_AUTH_TOKEN"] == "CHANGE-ME"
    assert ".env" in (DOCKER / ".gitignore").read_text().split()


def test_compose_cuda_override_gives_workers_gpus():
    doc = yaml.safe_load((DOCKER / "compose.cuda.yaml").read_text())
    devices = doc["services"]["worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]


# --- KubeRay ----------------------------------------------------------------------------

def kuberay(name: str) -> list[dict]:
    return list(yaml.safe_load_all((DOCKER / "kuberay" / name).read_text()))


def check_cluster_spec(spec: dict, claims: set[str]) -> None:
    assert spec["rayVersion"] == pins()["ray"]
    assert spec["authOptions"]["mode"] == "token"
    head = spec["headGroupSpec"]
    groups = spec["workerGroupSpecs"]
    assert isinstance(head["rayStartParams"], dict) and groups
    pods = [head["template"]["spec"]] + [g["template"]["spec"] for g in groups]
    for group in groups:
        assert group["groupName"] and isinstance(group["rayStartParams"], dict)
        assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
    images = set()
    for pod in pods:
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] != 0
        container = pod["containers"][0]
        images.add(container["image"])
        env = {e["name"]: e for e in container["env"]}
        assert "secretKeyRef" in env["PARETOCTL_STORE"]["valueFrom"]
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        assert env["PARETOCTL_DATA"]["value"].startswith(mounts["shared"] + "/")
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["shared"]["persistentVolumeClaim"]["claimName"] in claims
    default_image = re.fullmatch(r"\$\{PARETOCTL_IMAGE:-([^}]+)\}",
                                 compose()["services"]["head"]["image"]).group(1)
    assert images == {default_image}


def test_raycluster_manifest():
    claim, cluster = kuberay("raycluster.yaml")
    assert (claim["apiVersion"], claim["kind"]) == ("v1", "PersistentVolumeClaim")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    assert (cluster["apiVersion"], cluster["kind"]) == ("ray.io/v1", "RayCluster")
    check_cluster_spec(cluster["spec"], {claim["metadata"]["name"]})


def test_rayjob_manifest_runs_the_sweep_role():
    (claim, _), (job,) = kuberay("raycluster.yaml"), kuberay("rayjob.yaml")
    assert (job["apiVersion"], job["kind"]) == ("ray.io/v1", "RayJob")
    spec = job["spec"]
    check_cluster_spec(spec["rayClusterSpec"], {claim["metadata"]["name"]})
    # the job server the submitter talks to listens beyond the head's loopback
    assert spec["rayClusterSpec"]["headGroupSpec"]["rayStartParams"]["dashboard-host"] == "0.0.0.0"
    argv = shlex.split(spec["entrypoint"])
    assert argv[0] == 'RAY_HEAD_ADDRESS=$RAY_ADDRESS'
    assert argv[1:3] == [ENTRYPOINT_IN_IMAGE, "sweep"]
    spec_file = Path(argv[3])
    assert spec_file.parent == Path("/app/sweeps") and (ROOT / "sweeps" / spec_file.name).is_file()
    assert printed(*argv[2:], RAY_HEAD_ADDRESS="10.0.0.1:6379", PARETOCTL_DATA="/srv/paretoctl/data") \
        == ["paretoctl", "sweep", str(spec_file), "--address", "10.0.0.1:6379"]
