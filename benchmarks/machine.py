"""The machine a figure came from: CPU model, cores, bf16 matrix units, torch threads,
load average, and the fp32 and bf16 matmul GFLOP/s it reaches (2048x2048, timed).

Every benchmark prints these lines first, so a table never travels without its machine.
"""
from __future__ import annotations

import os
import platform
import statistics
import subprocess
import time
from pathlib import Path

import torch


def load_average() -> str:
    """The 1, 5 and 15 minute load averages (the machine may be shared)."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or "unknown CPU"


def cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_gflops(dtype: torch.dtype, device: torch.device, n: int = 2048,
                  repeats: int = 5) -> float:
    """Median GFLOP/s of an n x n matmul in ``dtype`` (2 n^3 flops each)."""
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    a @ b  # warm-up: kernel choice, allocation
    sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        sync(device)
        times.append(time.perf_counter() - start)
    return 2 * n ** 3 / statistics.median(times) / 1e9


def describe(device: torch.device) -> list[str]:
    """Lines naming the machine (and the GPU when timing on one)."""
    flags = cpu_flags()
    units = ", ".join(f for f in ("amx_bf16", "avx512_bf16") if f in flags) or "none"
    lines = [f"cpu: {cpu_model()}; {os.cpu_count()} cores; bf16 units: {units}; "
             f"torch {torch.__version__}, {torch.get_num_threads()} threads"]
    if device.type == "cuda":
        lines.append(f"gpu: {torch.cuda.get_device_name(device)}")
    lines.append(f"load average: {load_average()}")
    return lines


def run(device: torch.device, size: int = 2048) -> None:
    for line in describe(device):
        print(line)
    print(f"{'matmul':<8} {'n':>5} {'GFLOP/s':>9}")
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        print(f"{name:<8} {size:>5} {matmul_gflops(dtype, device, size):>9.1f}")
    print(f"load average after: {load_average()}")
