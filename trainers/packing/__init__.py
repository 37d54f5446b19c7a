"""Packed trials: many preferences (and seeds) of one trial trained at once as one
batched model (docs/packing.md). ``packable`` says whether trials pack, ``train_packed``
trains them and returns each member's own result."""
from trainers.packing.train import MemberOutcome, packable, train_packed

__all__ = ["MemberOutcome", "packable", "train_packed"]
