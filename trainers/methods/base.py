"""The interface a method implements, and how its parameters get their defaults.

Parameters are declared in one table per method, ``param_table`` (name -> default, kind
and range; trainers/methods/params.py), and resolve in layers: the table's defaults <
the presets of the method on the data set and architecture (one table for every method,
trainers/presets.py, with each value's source) < the sweep's ``params``; every resolved
value is then checked against its declaration. Training settings resolve likewise:
global defaults < the presets (``train_preset``) < the sweep's ``train`` < the sweep's
search axes.
Unknown parameter names are errors, so a typo never silently runs the default.

The training step is the loop's (trainers/loop.py ``step``): it asks the method for the
mini-batch's loss (``batch_loss``), then zeroes the gradients, differentiates that loss
and steps the optimiser. A method only says what the loss is, in one of two ways:

- a *scalarising* method (``ScalarisingMethod``) implements ``loss(objectives)``: the
  scalar of the objective vector (L0, L1, ..., Lm) of one mini-batch; where it can, as
  the pure ``scalarise(objectives, preference, state)`` with its state one explicit
  object (``step_state``: WC-AL's ``ALState``), which packed trials vmap over many
  preferences (trainers/packing/, docs/packing.md);
- a *gradient-combining* method (``GradientCombiningMethod``) implements
  ``weights_from_gram(gram, losses)``: constant task weights w from the Gram matrix of
  the per-task gradients (over the parameters or representation ``gram_inputs`` names);
  one shared path (trainers/methods/task_gradients.py) builds the Gram matrix and
  returns sum_t w_t L_t (MGDA, Pareto MTL, PHN-EPO).

What a method carries between steps (WC-AL's t, lambda and mu; Pareto MTL's phase; MGDA's
last alpha) is plain data on the instance, read by the step; ``state`` reports it.
``loss`` itself has no side effects. A method whose state moves between steps says so
in one place, ``stage_hooks``: the tensors every stage optimises and checkpoints with
the weights, and hooks the stage runs before every epoch and after every iteration
(WC-AL alone: t, and its multiplier step from what ``observe`` recorded of each batch;
a new phase of its own two-phase schedule also restarts lambda and mu). Apart from that
and a front method's per-batch ray, the loss is a function of (parameters, batch,
preference, state), which is what lets many preferences train as one batched model.

The loop also owns the schedule (``fit``: one stage, ``initialise`` first, the
``checkpoint`` rule), the learning-rate schedule, evaluation and checkpointing. Only
genuinely multi-stage methods override ``fit``: WC-AL with k0 > 0 (GrOWL phase, tying,
retraining), Pareto MTL (the feasibility phase, then the descent) and KDMTL (teachers,
then the student). ``stl`` (one independent network per task) is one stage with its own
checkpoint rule, so it overrides ``checkpoint`` and not ``fit``.

Other hooks:

- ``build_model`` wraps or replaces the architecture's network (COSMOS conditions the
  input on the ray, PHN generates the target network's weights from a hypernetwork);
- ``eval_rays`` and ``condition`` say which preference rays a trained model is evaluated
  on and how the model is set to one (one stored point per ray and split);
- ``validation_score`` is the number the checkpoint rule maximises (a front-learning
  method averages it over rays);
- ``lr_scheduler`` makes a stage's learning-rate schedule (exponential decay per
  iteration by default; COSMOS' step milestones).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Callable, ClassVar

import torch
from torch import nn

from trainers import loop, presets
from trainers.datasets import Split, Task
from trainers.methods.params import Param, ParamError, check_values, defaults, real
from trainers.methods.task_gradients import combined_loss

__all__ = ["GradientCombiningMethod", "Method", "Param", "ParamError", "SPARSITY_PARAMS", "SPARSITY_TABLE",
           "ScalarisingMethod"]

#: GrOWL spike weights of the sparsity objective L0 (paper values): parameters of the
#: methods that train L0 (``linear``, ``wc_al``: a preference with k0 > 0), which merge this
#: table into their ``param_table``, so they enter only those methods' trial keys. The
#: ``sparsity`` metric of a method without them is L0 at these defaults.
SPARSITY_TABLE: dict[str, Param] = {"beta1": real(0.8, 0.0), "beta2": real(0.2, 0.0)}
SPARSITY_PARAMS: dict[str, Any] = defaults(SPARSITY_TABLE)


class Method(ABC):
    """Says what one trial trains and on which loss; one instance per trial."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    #: False for methods that need no preference vector (MGDA, single task)
    uses_preference: ClassVar[bool] = True
    #: the architectures the method can train (None: any); the expansion refuses others
    architectures: ClassVar[tuple[str, ...] | None] = None
    #: every parameter of the method: name -> Param (default, kind, range)
    param_table: ClassVar[dict[str, Param]] = {}
    #: the table's defaults (derived: declare parameters in ``param_table`` only)
    default_params: ClassVar[dict[str, Any]] = {}
    #: per-task scores of the last validation pass when it evaluated one model (the epoch
    #: record's val_loss/val_acc); None after a front learner's pass over several rays
    val_scores: loop.SplitScores | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "default_params" in cls.__dict__:
            raise TypeError(f"{cls.__name__}: declare parameters in param_table, "
                            "not default_params")
        moved = {"presets", "train_presets", "train_defaults"} & set(cls.__dict__)
        if moved:  # they would be silently ignored
            raise TypeError(f"{cls.__name__}: {sorted(moved)[0]} belongs in trainers/presets.py")
        cls.default_params = defaults(cls.param_table)

    def __init__(self, preference: list[float] | None, params: dict[str, Any],
                 n_tasks: int) -> None:
        self.n_tasks = n_tasks
        self.params = params
        if preference is None:
            preference = [0.0] + [1.0 / n_tasks] * n_tasks
        self.k = torch.tensor(preference, dtype=torch.float32)
        # whether k0 > 0, decided here: the step asks every batch, and k may be on the GPU
        self._sparse = bool(self.k[0] > 0)

    @classmethod
    def resolve_params(cls, params: dict[str, Any] | None, dataset: str,
                       arch: str | None = None) -> dict[str, Any]:
        """Defaults, the presets, then ``params``; unknown keys raise KeyError, values
        outside their declaration (or refused by ``check_params``) ParamError."""
        params = dict(params or {})
        table = cls.param_table
        unknown = sorted(set(params) - set(table))
        if unknown:
            raise KeyError(unknown[0])
        resolved = defaults(table)
        resolved.update(presets.params(cls.name, dataset, arch))
        resolved.update(params)
        check_values(table, resolved)
        cls.check_params(resolved)
        return resolved

    @classmethod
    def check_params(cls, params: dict[str, Any]) -> None:
        """Rules across parameters that a table cannot state; raise ParamError (checked
        before any run, after every value passed its own declaration)."""

    @classmethod
    def check_preference(cls, preference: list[float]) -> None:
        """Raise ValueError for a preference vector the method cannot use (checked when a
        sweep is expanded, so the sweep fails before anything runs): k0 > 0 trains L0,
        which needs the sparsity weights in the method's table."""
        if preference[0] > 0 and not SPARSITY_TABLE.keys() <= cls.param_table.keys():
            raise ValueError(f"{cls.name} has no sparsity objective: the preference's k0 must be 0")

    @classmethod
    def train_preset(cls, dataset: str, arch: str | None = None) -> dict[str, Any]:
        """The presets' training settings for the method on this data set (and
        architecture): the data set's own, the method's, then both together."""
        return presets.train(cls.name, dataset, arch)

    @property
    def uses_sparsity(self) -> bool:
        """Whether L0 must be computed with gradient (k0 > 0)."""
        return self._sparse

    def to(self, device: torch.device) -> "Method":
        self.k = self.k.to(device)
        return self

    @property
    def preference(self) -> list[float]:
        """The trial's preference vector (k0, k1, ..., km) as plain floats."""
        return [float(v) for v in self.k.detach().cpu()]

    def build_model(self, build: Callable[[tuple[int, ...]], nn.Module],
                    input_shape: tuple[int, ...]) -> nn.Module:
        """The network this method trains; ``build(shape)`` makes the sweep's architecture
        for inputs of ``shape``. The default trains the architecture as it is."""
        return build(input_shape)

    @abstractmethod
    def batch_loss(self, model: nn.Module, tasks: tuple[Task, ...], x: torch.Tensor,
                   y: torch.Tensor) -> torch.Tensor | None:
        """The training loss of one mini-batch, with graph; the loop differentiates it and
        steps. A tensor without graph is reported but takes no step; None: neither."""

    def eval_rays(self) -> list[list[float]]:
        """Preference vectors (k0, k1..km) the trained model is evaluated at, one stored
        point per ray and split; ray_index is the position in this list. A method trained
        for one preference has one ray, its own."""
        return [self.preference]

    def condition(self, model: nn.Module, ray: list[float]) -> None:
        """Set ``model`` to answer for ``ray`` before an evaluation (no-op by default)."""

    def validation_score(self, model: nn.Module, split: Split, tasks: tuple[Task, ...],
                         batch_size: int) -> float:
        """What the checkpoint rule maximises: the mean validation accuracy (or minus the
        mean loss for tasks without accuracy). Keeps the per-task scores in ``val_scores``
        for the epoch record."""
        self.val_scores = loop.evaluate(model, split, tasks, batch_size)
        return self.val_scores.selection_score

    def lr_scheduler(self, optimizer: torch.optim.Optimizer, settings) -> Any:
        """A stage's learning-rate schedule, stepped after every iteration: ``lr_decay``
        per iteration by default (COSMOS's MultiStep milestones override it)."""
        return torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=settings.lr_decay)

    def stage_hooks(self) -> loop.StageHooks:
        """What the method adds to every stage it trains in: tensors optimised and
        checkpointed with the weights, hooks before every epoch and after every
        iteration (WC-AL's t, constraint average and multiplier step); none by default."""
        return loop.StageHooks()

    def initialise(self, model: nn.Module, data: loop.TrainData, settings,
                   generator: torch.Generator) -> None:
        """Before training (LSUV where the method uses it); the default does nothing."""

    def checkpoint(self, model: nn.Module, settings) -> Any:
        """The rule that picks the stage's kept epoch: ``train.checkpoint`` by default."""
        return loop.checkpoint_rule(settings)

    def fit(self, model, data: loop.TrainData, settings, generator: torch.Generator,
            on_epoch: Callable[[dict[str, Any]], None] | None = None) -> loop.FitOutcome:
        """Train ``model`` and leave the chosen weights in it: the generic loop (one stage)
        unless the method has several stages."""
        return loop.train(model, self, data, settings, generator, on_epoch)

    def state(self) -> dict[str, Any]:
        """JSON-able internal state, stored with the trial (multipliers, t, ...)."""
        return {}


class ScalarisingMethod(Method):
    """A method whose step minimises one scalar of the objective vector.

    It defines either ``scalarise(objectives, preference, state)``, a static pure function
    with no leading dimension (``torch.func.vmap`` adds one to train many preferences as
    one batched model, trainers/packing/), or, where its loss reads more, ``loss``."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.loss is ScalarisingMethod.loss and not hasattr(cls, "scalarise"):
            raise TypeError(f"{cls.__name__}: define scalarise(objectives, preference, state) "
                            "or loss(objectives)")

    def loss(self, objectives: torch.Tensor) -> torch.Tensor:
        """Scalar loss from ``objectives`` = (L0, L1, ..., Lm) of one mini-batch: a pure
        function of the objectives and the method's state (no side effects); by default
        ``scalarise`` at this trial's preference and ``step_state``."""
        return self.scalarise(objectives, self.k, self.step_state())

    def step_state(self) -> Any:
        """The state ``scalarise`` reads, as one explicit object (None: it reads none)."""
        return None

    def observe(self, objectives: torch.Tensor) -> None:
        """Record what the stage hooks need from a training batch's (detached) objectives
        (WC-AL's constraint average); nothing by default."""

    def batch_loss(self, model: nn.Module, tasks: tuple[Task, ...], x: torch.Tensor,
                   y: torch.Tensor) -> torch.Tensor | None:
        objectives = loop.objective_vector(model, self, tasks, x, y)
        self.observe(objectives.detach())
        return self.loss(objectives)


class GradientCombiningMethod(Method):
    """A method whose step weights the task losses by constants computed from the Gram
    matrix of the per-task gradients (trainers/methods/task_gradients.py)."""

    #: the weighted loss comes from a fresh forward pass (MGDA and Pareto MTL, as their
    #: code does; skipped where it would recompute the first one bit for bit,
    #: task_gradients.combined_loss) or reuses the graph the gradients were taken on
    #: (PHN-EPO: one hypernetwork forward per step)
    fresh_forward: ClassVar[bool] = True

    def gram_inputs(self) -> str:
        """What the task gradients are taken with respect to: ``shared`` parameters,
        ``all`` parameters, or the shared ``representation`` (MGDA-UB); the ``grad_set``
        parameter where the method has one, else ``all`` (every model has parameters)."""
        return self.params.get("grad_set", "all")

    @abstractmethod
    def weights_from_gram(self, gram: torch.Tensor, losses: torch.Tensor) -> torch.Tensor | None:
        """Task weights w of this step from the (m, m) Gram matrix and the (m,) task
        losses (both float64 on the CPU, no graph); None: take no step."""

    def batch_loss(self, model: nn.Module, tasks: tuple[Task, ...], x: torch.Tensor,
                   y: torch.Tensor) -> torch.Tensor | None:
        return combined_loss(model, self, tasks, x, y)
