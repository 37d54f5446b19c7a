"""Ray workers run one trial after another (reuse_actors): a trial's result must not
depend on what ran before it in the same process. run_trial resets the process-wide
state a trial touches (torch's thread count and global RNG); here a trial with other
threads, seed and method runs in between, and the first trial run again gives the
same points."""
from __future__ import annotations

from typing import Any

import torch

from tiny_trials import tiny_config
from trainers.trial import run_trial


def evaluated(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The points without their wall-clock times."""
    return [{k: v for k, v in point.items() if not k.startswith("time_")}
            for point in result["points"]]


def test_a_trial_gives_the_same_points_after_another_trial_in_the_same_process():
    first = tiny_config("linear", preference=[0.0, 0.7, 0.3], seed=3)
    other = tiny_config("cosmos", params={"test_rays": 3}, seed=11,
                        train={"epochs": 1}) | {"runtime": {"threads": 2}}
    alone = run_trial(first)
    torch.rand(1000)  # leave the global generator elsewhere, as any earlier work would
    run_trial(other)
    assert torch.get_num_threads() == 2
    again = run_trial(first)
    assert torch.get_num_threads() == 1
    assert evaluated(again) == evaluated(alone)
    assert again["info"]["best_epoch"] == alone["info"]["best_epoch"]
