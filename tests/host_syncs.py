"""Count, on the CPU, what would make the host wait for the GPU in a training epoch.

A ``TorchFunctionMode`` follows every tensor as *host* or *device*, as it would be on
CUDA with the CPU standing in for the device: host tensors are made without a device
(``torch.zeros(k, dtype=torch.bool)``, ``torch.randperm(n, generator=g)``), or on a host
tensor's ``.device``, or from host tensors only; ``.cpu()`` and ``.to("cpu")`` bring
tensors to the host, ``.to(device)`` (a ``torch.device`` not taken from a host tensor) or
``.to(tensor)`` send them where that is; ``torch.get_rng_state()`` is on the host;
everything else, including what ``vmap`` returns, is on the device. What it counts, while
``counting``:
a device value read on the host (``item``, ``tolist``, ``bool``, ``float``, ``int``,
``numpy``), a copy between host and device (``.cpu()``, ``.to``, ``copy_``, an indexed
assignment across them, ``torch.tensor(..., device=)``: blocking copies wait for the
device), and ops whose output size depends on device values (``nonzero``, ``equal``,
``masked_select``, ``unique``, a boolean mask index).
"""
from __future__ import annotations

import traceback
from typing import Any

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_leaves
from torch.utils.weak import WeakIdKeyDictionary

READS = {"__bool__", "__float__", "__int__", "__index__", "__complex__", "item", "tolist",
         "numpy"}
DATA_SHAPED = {"nonzero", "argwhere", "equal", "masked_select", "unique", "unique_consecutive"}
FACTORIES = {"tensor", "as_tensor", "zeros", "ones", "empty", "full", "arange", "linspace",
             "randperm", "randn", "rand", "randint", "eye", "scalar_tensor"}


def in_place(name: str) -> bool:
    """``add_``, ``copy_``, ``__iadd__``: the op writes into its first argument."""
    if name.startswith("__"):
        return name.startswith("__i") and name not in ("__int__", "__index__", "__invert__")
    return name.endswith("_")


def tensors(*values: Any) -> list[torch.Tensor]:
    return [v for v in tree_leaves(list(values)) if isinstance(v, torch.Tensor)]


class HostSyncs(TorchFunctionMode):
    """Tracks host tensors (everything else is on the device) and, while ``counting``,
    records each would-be sync as (kind, the repository frame that caused it)."""

    def __init__(self) -> None:
        super().__init__()
        self.host = WeakIdKeyDictionary()
        self.counting = False
        self.syncs: list[tuple[str, str]] = []
        #: the ``.device`` objects handed out, kept alive, and whether they are the host's
        self.devices: dict[int, tuple[torch.device, bool]] = {}

    def on_host(self, tensor: torch.Tensor) -> bool:
        return tensor in self.host

    def mark(self, value: Any, host: bool) -> None:
        for tensor in tensors(value):
            if host:
                self.host[tensor] = True
            else:
                self.host.pop(tensor, None)

    def count(self, kind: str) -> None:
        if not self.counting:
            return
        stack = traceback.extract_stack()[:-2]
        if any("/torch/optim/" in f.filename for f in stack):
            return   # torch's CPU optimiser reads its step counts; on CUDA it is fused
        frames = [f for f in stack if "/trainers/" in f.filename]
        where = f"{frames[-1].filename.split('/trainers/')[-1]}:{frames[-1].lineno}" \
            if frames else "?"
        self.syncs.append((kind, where))

    def host_device(self, value: Any) -> bool | None:
        """Whether ``value`` names the host: a tensor on it, the string ``"cpu"``, the
        ``.device`` of a host tensor; any other device is the device; None: no device."""
        if isinstance(value, torch.Tensor):
            return self.on_host(value)
        if isinstance(value, str):
            return value == "cpu"
        if isinstance(value, torch.device):
            return self.devices.get(id(value), (None, False))[1]
        return None

    def target_host(self, args: tuple, kwargs: dict) -> bool | None:
        """Where ``.to(...)`` sends a tensor: host (True), device (False), or None (a dtype)."""
        for value in list(args[1:]) + list(kwargs.values()):
            host = self.host_device(value)
            if host is not None:
                return host
        return None

    def __enter__(self):
        # a generator's state is copied on the host without the device (torch does not
        # route it through this mode): what torch.get_rng_state returns is a host tensor
        get_rng_state = self.get_rng_state = torch.get_rng_state

        def host_rng_state() -> torch.Tensor:
            state = get_rng_state()
            self.mark(state, True)
            return state

        torch.get_rng_state = host_rng_state
        return super().__enter__()

    def __exit__(self, *exc):
        torch.get_rng_state = self.get_rng_state
        return super().__exit__(*exc)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        owner = getattr(getattr(func, "__self__", None), "__name__", "")
        if name == "__set__" and owner == "data":      # param.data = value
            out = func(*args, **kwargs)
            self.mark(args[0], self.on_host(args[1]))
            return out
        if name == "__get__" and owner == "device":      # x.device: remember whose
            out = func(*args, **kwargs)
            self.devices[id(out)] = (out, self.on_host(args[0]))
            return out
        inputs = tensors(args, kwargs)
        on_device = [t for t in inputs if not self.on_host(t)]
        if name in READS and args and isinstance(args[0], torch.Tensor) \
                and not self.on_host(args[0]):
            self.count(f"{name}()")
        if name in DATA_SHAPED and on_device:
            self.count(f"{name}()")
        if name == "__getitem__" and any(t.dtype == torch.bool for t in tensors(args[1:])
                                         if not self.on_host(t)):
            self.count("boolean mask index")
        if name in ("__setitem__", "copy_") and len(inputs) >= 2:
            if self.on_host(args[0]) != self.on_host(inputs[-1]) and inputs[-1].numel() > 0:
                self.count(f"{name} across host and device")
        out = func(*args, **kwargs)
        if name in ("cpu", "to") and isinstance(args[0], torch.Tensor):
            host = True if name == "cpu" else self.target_host(args, kwargs)
            if host is None:
                host = self.on_host(args[0])
            if host != self.on_host(args[0]):
                self.count(f"{'.cpu()' if name == 'cpu' else '.to'} "
                           f"{'to the host' if host else 'to the device'}")
                if out is args[0]:  # a real transfer makes a new tensor
                    out = out.clone()
            self.mark(out, host)
        elif name in FACTORIES and not (inputs and on_device):
            device = kwargs.get("device")
            host = device is None or bool(self.host_device(device))
            self.mark(out, host)
            if not host and name in ("tensor", "as_tensor"):
                self.count(f"torch.{name}(..., device=) to the device")
        elif name == "__setitem__" or in_place(name):
            pass   # the tensor stays where it is
        else:   # made from host values (Python, numpy) or from tensors: where they are
            self.mark(out, not on_device)
        return out
