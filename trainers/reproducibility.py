"""What makes a CPU trial bit-reproducible, set in one place before the trial builds
anything (``trainers.trial.run_trial`` calls :func:`reproducible`).

- One fixed thread count per trial (``runtime.threads``, the sweep's ``cpus_per_trial``):
  intra-op threads split reductions (matmul, convolution, sums) into per-thread partial
  sums, so another count changes the last bits of every result. Inter-op threads are set
  to the same count where torch still allows it (once per process, before any parallel
  work: always so in a fresh Ray worker); trials start no inter-op tasks
  (``torch.jit.fork``), so where it is too late they cannot change a result.
- Deterministic algorithms (``torch.use_deterministic_algorithms``) for CPU trials: an
  operation without a deterministic implementation raises instead of varying. Its NaN
  fill of every fresh allocation is turned off: it only exposes reads of memory an
  operation never wrote, which the trainers do not make, and costs every step.
- Every random number comes from the trial's seed: torch's global generator
  (initialisation, WC-AL's normal draw of t), Python's ``random`` and numpy's legacy
  global state (seeded too, for any library that draws from them), and a separate
  ``torch.Generator`` for batch order and LSUV; numpy Generators (data sets, training
  rays) and scikit-learn's ``random_state`` (Affinity Propagation) are seeded where they
  are made.

What stays machine-dependent (README, "Reproducibility"): the CPU's instruction set
selects different vectorised kernels (AVX2, AVX-512), and other torch / numpy versions
change kernels; results are exact for the same thread count, versions and CPU type. GPU
trials are not made deterministic (cuDNN and atomics vary between runs).
"""
from __future__ import annotations

import random

import numpy as np
import torch


def set_threads(threads: int) -> None:
    """``threads`` intra-op threads, and inter-op threads where torch still allows it."""
    torch.set_num_threads(threads)
    if torch.get_num_interop_threads() != threads:
        try:
            torch.set_num_interop_threads(threads)
        except RuntimeError:  # too late in this process: inter-op threads run no trial work
            pass


def seed_everything(seed: int) -> torch.Generator:
    """Seed torch's global RNG, Python's and numpy's global state; return a separate
    generator for batch order (and LSUV)."""
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


def reproducible(seed: int, threads: int | None, device: torch.device) -> torch.Generator:
    """Fix threads and algorithms for this process's trial and seed every RNG; returns
    the batch-order generator."""
    if threads:
        set_threads(int(threads))
    # process-wide; a CPU trial wants it, and only CPU trials ask (GPU: see above)
    torch.use_deterministic_algorithms(device.type == "cpu")
    torch.utils.deterministic.fill_uninitialized_memory = False  # a debugging aid, not a result
    return seed_everything(seed)
