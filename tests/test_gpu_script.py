"""benchmarks/gpu.sh, the GPU checks run in one go on a lent GPU machine: valid bash,
every benchmark it calls takes the options it is given, and the pack benchmarks it calls
run (tiny, on the CPU)."""
from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

from benchmarks.__main__ import main, parser

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu.sh"


def benchmark_calls() -> list[list[str]]:
    """The argument lists of the script's ``python -m benchmarks`` calls."""
    return [shlex.split(match) for match in
            re.findall(r'-m benchmarks (.+)$', SCRIPT.read_text(), flags=re.MULTILINE)]


def test_the_script_is_valid_bash_that_stops_on_errors():
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)
    assert "set -euo pipefail" in SCRIPT.read_text()


def test_every_benchmark_the_script_calls_takes_its_options_on_cuda():
    calls = benchmark_calls()
    assert [call[2] for call in calls] == ["step", "pack-size", "pack"]
    for call in calls:
        args = parser().parse_args(call)
        assert args.device == "cuda"
    assert parser().parse_args(calls[-1]).k == 32


def test_the_pack_benchmarks_run_tiny_on_the_cpu_without_the_store(capsys, monkeypatch):
    # the GPU image has no SQLAlchemy, Ray or pydantic: the trainers' benchmarks need none
    for name in ("sqlalchemy", "store.db", "ray", "pydantic", "benchmarks.front_speed"):
        monkeypatch.setitem(sys.modules, name, None)
    assert main(["--device", "cpu", "pack", "--k", "2", "--repeats", "1", "--n-train", "64",
                 "--n-test", "32", "--batch-size", "32"]) == 0
    assert main(["--device", "cpu", "pack-size", "--k", "16"]) == 0
    out = capsys.readouterr().out
    assert "linear / lenet" in out and "linear / hps" in out
    assert "auto packs hold at most 8 members" in out
