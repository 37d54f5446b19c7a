"""Which arithmetic a trial runs in (``train.precision``), and the fast path it implies.

``fp32`` is the plain computation: float32, NCHW, bit for bit the results of the loop
before the fast path existed (a stored result reruns to the same numbers). ``bf16`` is the
fast path: the step's forward pass and evaluation under ``torch.autocast(bfloat16)`` with
float32 master weights, optimiser state and losses, and convolutional models and their
input batches in channels-last memory format (bf16 convolutions are slow in NCHW on CPU).

``auto`` (the default) picks bf16 only where it is native and measured to pay:

- native: the CPU has ``amx_bf16`` or ``avx512_bf16`` (/proc/cpuinfo), or the CUDA device
  says ``torch.cuda.is_bf16_supported()``; elsewhere bf16 is emulated and slower than fp32;
- measured: the architecture is one of ``BF16_ARCHITECTURES``. MTAN, for one, ran a
  trial 1.6-1.9x *slower* in bf16 than in fp32 on the machine below, so a network's cost
  alone does not predict the gain; an architecture joins the list once measured;
- pays: the network's forward pass costs at least ``BF16_MIN_MFLOP`` MFLOP per sample.
  Measured on a 2-core AMD EPYC with AVX512-BF16 (batch 256, one thread, against the
  plain fp32 step): LeNet on 36x36 (2.0 MFLOP) 1.8x, HPS on 36x36 (0.93) 2.3x, MDMTN
  (2.8) 1.9x, HPS on 24x24 (0.39) 2.5x; but HPS at width 0.5 on 10x10 (0.019, the
  quickstart) 1.0x and LeNet on 16x16 (0.12) 1.4x, about what channels-last alone gives.
  Below the threshold the arithmetic is not what costs, and fp32 keeps the small sweeps'
  (and the test suite's) numbers the same on every machine.

``bf16`` asked for where it is not native runs fp32 with a one-line warning (the expansion
runs on the head node and cannot know the CPU of the node a trial lands on); the trial
stores the precision that ran. The active fast path is a context variable that
``trainers/trial.py`` sets around fitting and evaluation; the loop reads it (``current``),
so methods calling ``loop.step`` and ``loop.evaluate`` get it without passing it along.
"""
from __future__ import annotations

import contextlib
import warnings
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import torch
from torch import nn

#: forward MFLOP per sample from which ``auto`` picks bf16 (see the module docstring)
BF16_MIN_MFLOP = 0.25
#: architectures measured faster in bf16 (with channels-last) than in fp32
BF16_ARCHITECTURES = frozenset({"lenet", "hps", "mdmtn"})
#: CPU flags of native bf16 arithmetic, best first
CPU_BF16_FLAGS = ("amx_bf16", "avx512_bf16")


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str]:
    """The CPU's feature flags (empty where /proc/cpuinfo is missing)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return set()


def cpu_bf16_unit() -> str | None:
    """``amx_bf16``, ``avx512_bf16`` or None (no native bf16 on this CPU)."""
    flags = cpu_flags()
    for flag in CPU_BF16_FLAGS:
        if flag in flags:
            return flag
    if not flags and "AMX" in torch.backends.cpu.get_cpu_capability():  # no /proc (not Linux)
        return "amx_bf16"
    return None


def bf16_unit(device: torch.device) -> str | None:
    """What runs bf16 natively on ``device`` (a name for messages), or None."""
    if device.type == "cuda":
        # emulated bf16 (pre-Ampere) is slower than fp32: only the native one counts
        return "cuda_bf16" if torch.cuda.is_bf16_supported(including_emulation=False) else None
    if device.type == "cpu":
        return cpu_bf16_unit()
    return None


def resolve(requested: str, unit: str | None, mflop: Callable[[], float | None],
            measured: bool = True, unsafe: str | None = None) -> str:
    """The precision that runs: ``fp32`` or ``bf16``. ``unit`` is the device's native bf16
    (``bf16_unit``); ``mflop`` gives the forward MFLOP per sample (None: unknown), asked
    only when ``auto`` has a unit to decide for; ``measured``: the architecture is in
    ``BF16_ARCHITECTURES``; ``unsafe``: why the method cannot run under autocast, if so."""
    if requested == "fp32":
        return "fp32"
    if requested == "bf16":
        refusal = unsafe or (None if unit else "bf16 is not native on this device")
        if refusal:
            warnings.warn(f"train.precision: {refusal}; running fp32", RuntimeWarning,
                          stacklevel=2)
            return "fp32"
        return "bf16"
    if requested != "auto":
        raise ValueError(f"train.precision: expected auto, fp32 or bf16, got {requested!r}")
    if unit is None or not measured or unsafe:
        return "fp32"
    cost = mflop()
    return "bf16" if cost is not None and cost >= BF16_MIN_MFLOP else "fp32"


def forward_mflop(build: Callable[[], nn.Module], input_shape: tuple[int, ...]) -> float | None:
    """Forward MFLOP per sample of the network ``build`` makes (counted by
    torch.utils.flop_counter on a batch of two zeros). The RNG state is restored, so a
    trial's own weights and batches do not change; None where the count fails."""
    from torch.utils.flop_counter import FlopCounterMode

    with torch.random.fork_rng(devices=[]), torch.no_grad():
        try:
            net = build().eval()
            with FlopCounterMode(display=False) as counter:
                net(torch.zeros(2, *input_shape))
        except Exception:  # a cost that cannot be counted means fp32, not a failed trial
            return None
    return counter.get_total_flops() / 2 / 1e6


def has_conv2d(model: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv2d) for m in model.modules())


@dataclass(frozen=True)
class FastPath:
    """How the loop computes: ``precision`` (fp32 or bf16) on ``device_type``, and whether
    image batches go channels-last (the model must then be converted too: ``prepare``)."""

    precision: str = "fp32"
    channels_last: bool = False
    device_type: str = "cpu"

    def autocast(self) -> contextlib.AbstractContextManager:
        """bf16 autocast for bf16, nothing at all for fp32 (the plain computation)."""
        if self.precision == "bf16":
            return torch.autocast(self.device_type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def batch(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` in the layout the model computes in (a no-op when already there)."""
        if self.channels_last and x.dim() == 4:
            return x.contiguous(memory_format=torch.channels_last)
        return x

    def prepare(self, model: nn.Module) -> nn.Module:
        """``model`` in the fast layout (in place; returned for chaining)."""
        if self.channels_last:
            model.to(memory_format=torch.channels_last)
        return model


#: the plain computation: what the loop does outside a trial's fast path
PLAIN = FastPath()


def choose(precision: str, model: nn.Module, device: torch.device) -> FastPath:
    """The fast path of a trial that resolved to ``precision``: channels-last goes with
    bf16 on a network with 2-D convolutions."""
    bf16 = precision == "bf16"
    return FastPath(precision, bf16 and has_conv2d(model), device.type)


_ACTIVE: ContextVar[FastPath] = ContextVar("fast_path", default=PLAIN)


def current() -> FastPath:
    """The fast path the loop uses now (``PLAIN`` outside ``using``)."""
    return _ACTIVE.get()


@contextlib.contextmanager
def using(path: FastPath) -> Iterator[FastPath]:
    """Run the enclosed fitting and evaluation on ``path``."""
    token = _ACTIVE.set(path)
    try:
        yield path
    finally:
        _ACTIVE.reset(token)
