"""scripts/test.sh leaves no PostgreSQL server behind unless asked to keep it."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from ports import free_port

ROOT = Path(__file__).resolve().parents[1]


def server_running(pg_dir: Path) -> bool:
    pid_file = pg_dir / "data" / "postmaster.pid"
    if not pid_file.is_file():
        return False
    pid = int(pid_file.read_text().split()[0])
    return Path(f"/proc/{pid}").exists()


@pytest.mark.postgres
@pytest.mark.parametrize("keep", [False, True])
def test_test_script_stops_its_postgres_unless_asked_to_keep_it(keep):
    # under /tmp itself: the postgres user must reach the folder (pytest's tmp_path is 0700)
    pg_dir = Path(tempfile.mkdtemp(prefix="paretoctl-pg-test-"))
    pg_dir.chmod(0o755)
    port = str(free_port())  # not a fixed one: another run's server may hold it
    env = {**os.environ, "PARETOCTL_PG_DIR": str(pg_dir), "PARETOCTL_PG_PORT": port,
           "PARETOCTL_KEEP_PG": "1" if keep else "0"}
    try:
        done = subprocess.run(["bash", "scripts/test.sh", "--collect-only", "-q",
                               "tests/test_registry.py"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        assert port in done.stderr or (pg_dir / "data" / "PG_VERSION").is_file()
        assert server_running(pg_dir) is keep
    finally:
        subprocess.run(["bash", "scripts/stop-postgres.sh"], env=env, capture_output=True)
        stopped = not server_running(pg_dir)
        shutil.rmtree(pg_dir, ignore_errors=True)
    assert stopped
