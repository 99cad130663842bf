"""The evolution engine: gradient descent on the input of a frozen model (PROTOCOL.md section 3).

Plain gradient descent with step ``lr`` on the *sum* of per-example losses
(so one example's step never depends on the batch), values clipped after
every step; each example stops the step it first meets the stop rule and is
never changed after. ``evolve`` is the one contract; the work is split:

- ``starts``: ``make_starts``, start inputs keyed per example (numpy only).
- ``results``: ``EvolutionResult`` and its ``.npz`` file (numpy only).
- ``validate``: the names (``LOSSES``, ``STOP_RULES``) and argument checks.
- ``rules``: ``StopRule``, the named stop rules ``evolve_observing`` watches
  in one pass (PROTOCOL.md section 8), and their checks (numpy only).
- ``scheduler``: ``Engine``, the slot/refill/compaction loop, and the
  ``Program``/``Backend`` protocols a framework implements (numpy only).
- ``keras_model``: what the backends share at the Keras level (the logits
  head rule, the losses, freezing, the weakly held model; imports Keras).
- ``tensorflow``: the TensorFlow backend (imported on first use).
- ``jax``: the JAX backend, for Keras on JAX (imported on first use).
- ``torch``: the PyTorch backend, for Keras on PyTorch (imported on first use).

Importing this package loads neither TensorFlow nor Keras.
"""

from __future__ import annotations

import importlib
import weakref
from typing import TYPE_CHECKING, Callable, Sequence

from tfadv.engine.results import EvolutionResult
from tfadv.engine.rules import RULE_KINDS, StopRule
from tfadv.engine.scheduler import Backend, Engine, Program, StepRule
from tfadv.engine.starts import START_KINDS, make_starts
from tfadv.engine.validate import LOSSES, STOP_RULES

if TYPE_CHECKING:
    import keras
    import numpy as np

__all__ = [
    "BACKENDS", "LOSSES", "RULE_KINDS", "START_KINDS", "STOP_RULES", "Backend", "Engine", "EvolutionResult",
    "Program", "StepRule", "StopRule", "engine_for", "evolve", "evolve_observing", "input_gradient",
    "make_starts",
]

# Keras backend name -> the module implementing the engine for it; each defines
# make_backend(model) -> Backend and input_gradient(model, x, targets, loss).
BACKENDS = {"tensorflow": "tfadv.engine.tensorflow", "jax": "tfadv.engine.jax", "torch": "tfadv.engine.torch"}
_ENGINES: "weakref.WeakKeyDictionary[keras.Model, Engine]" = weakref.WeakKeyDictionary()


def _backend_module():
    """The engine module of the active Keras backend; ``ValueError`` if there is none."""
    import keras

    name = keras.backend.backend()
    if name not in BACKENDS:
        raise ValueError(
            f"tfadv.engine has no implementation for the Keras backend {name!r}; "
            f"supported: {sorted(BACKENDS)} (set KERAS_BACKEND=tensorflow)."
        )
    return importlib.import_module(BACKENDS[name])


def engine_for(model: keras.Model) -> Engine:
    """The model's ``Engine`` (made on first use; its compiled programs live as long as the model)."""
    engine = _ENGINES.get(model)
    if engine is None:
        engine = _ENGINES[model] = Engine(_backend_module().make_backend(model))
    return engine


def evolve(
    model: keras.Model,
    x_start,
    targets,
    *,
    loss: str = "mse",
    lr: float = 1.0,
    max_steps: int = 1000,
    stop: str = "argmax",
    kappa: float | None = None,
    clip: tuple[float, float] | None = (0.0, 1.0),
    batch_size: int | None = None,
    chunk_steps: int = 128,
    jit_compile: bool | None = None,
    progress: bool | Callable[[int, int, str], None] = False,
) -> EvolutionResult:
    """Evolves each start input until the model labels it as its target.

    Args:
      model: a Keras model ending in a sigmoid or softmax activation (the
        ``tfadv.models`` zoo ends in ``logits`` -> ``output``).
      x_start: start inputs, ``(N, ...)`` with as many values per example as
        the model's input (``(N, 28, 28)`` works for MLPs and CNNs alike);
        the result keeps this shape.
      targets: target class per example, or one class for all.
      loss: ``"mse"`` (to the one-hot target, on the output activation),
        ``"crossentropy"`` (softmax, or per-unit for sigmoid outputs), or
        ``"logit"`` (minus the target's pre-activation, after Simonyan et al.
        2013).
      lr: gradient-descent step size.
      max_steps: step budget per example; examples not done by then fail.
      stop: ``"argmax"`` (the model's label is the target) or
        ``"confidence"`` (that, and the target's confidence >= ``kappa``).
      kappa: confidence threshold of ``stop="confidence"``.
      clip: ``(low, high)`` bounds applied after every step, or None.
      batch_size: examples evolved at once (at least 64); does not change
        results. None picks by measurement on 2 CPU cores: 2048 for MLPs,
        512 for models with convolutions (BUILD_NOTES.md).
      chunk_steps: at most this many steps per compiled call; a call also
        ends once a quarter of its slots have finished, to refill them.
      jit_compile: compile the loop with XLA; None picks it for models
        without convolutions.
      progress: True for a progress line on stderr, or a callable
        ``(done, total, detail)``.

    Returns:
      An ``EvolutionResult``.
    """
    return engine_for(model).evolve(
        x_start, targets, loss=loss, lr=lr, max_steps=max_steps, stop=stop, kappa=kappa, clip=clip,
        batch_size=batch_size, chunk_steps=chunk_steps, jit_compile=jit_compile, progress=progress)


def evolve_observing(
    model: keras.Model,
    x_start,
    targets,
    *,
    rules: Sequence[StopRule],
    loss: str = "mse",
    lr: float = 1.0,
    max_steps: int = 1000,
    clip: tuple[float, float] | None = (0.0, 1.0),
    batch_size: int | None = None,
    chunk_steps: int = 128,
    jit_compile: bool | None = None,
    progress: bool | Callable[[int, int, str], None] = False,
) -> dict[str, EvolutionResult]:
    """Evolves each start input once while watching several stop rules (PROTOCOL.md section 8).

    One pass serves every stop-rule reading: each example runs until all its
    rules have resolved (with a ``"budget"`` rule, for ``max_steps`` steps),
    and for each rule the engine records the first step at which it held and
    the input at that step. Each rule's result is the one ``evolve`` gives
    with that stop rule, bit for bit (for ``"budget"``: the input after
    ``max_steps`` steps, success = the label is the target there).

    Args:
      model, x_start, targets, loss, lr, max_steps, clip, batch_size,
        chunk_steps, jit_compile, progress: as for ``evolve``.
      rules: the ``StopRule`` objects to watch (unique names; equal rules
        are observed once).

    Returns:
      ``{rule.name: EvolutionResult}``, each with ``evolve``'s settings for
      its rule (``stop`` is the rule's kind) and the one pass's ``cost``
      (the same number in every result: do not add them up).
    """
    return engine_for(model).evolve_observing(
        x_start, targets, rules=rules, loss=loss, lr=lr, max_steps=max_steps, clip=clip,
        batch_size=batch_size, chunk_steps=chunk_steps, jit_compile=jit_compile, progress=progress)


def input_gradient(model: keras.Model, x, targets, loss: str = "mse") -> np.ndarray:
    """Gradient of each example's loss with respect to its input (eager; for checks).

    Works in the model's dtype, so a float64 model gives float64 gradients.
    """
    return _backend_module().input_gradient(model, x, targets, loss)
