"""The framework-neutral half of the engine: slots, refills, compaction (PROTOCOL.md section 3).

An ``Engine`` evolves the examples of one model through a ``Program``: a
compiled chunk of gradient steps over a fixed number of slots, one example
per slot, made by the model's ``Backend``. Between chunks, finished examples
leave their slots and waiting ones take them; as work runs out the examples
move into a program with fewer slots. This module is numpy only and never
imports a framework: ``tfadv.engine.tensorflow`` implements the two
protocols below, and a JAX or PyTorch backend would implement the same.
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Callable, ContextManager, Protocol

import numpy as np

from tfadv.engine.results import EvolutionResult
from tfadv.engine.validate import validate
from tfadv.progress import ProgressLine

# Matrix products over at least 64 rows give each row bit-identical results
# whatever the row count (measured for XLA and oneDNN on this CPU; fewer rows
# take other kernels). Batches never shrink below this, so results do not
# depend on batch_size or on how many examples are still running.
_MIN_SLOTS = 64


@dataclasses.dataclass(frozen=True, eq=False)
class StepRule:
    """The per-call settings of the steps, as given to ``evolve`` (not converted).

    Attributes:
      lr: gradient-descent step size.
      clip: ``(low, high)`` applied after every step, or None.
      kappa: confidence threshold (``stop="confidence"``), or None.
      max_steps: step budget per example.
    """

    lr: float
    clip: tuple[float, float] | None
    kappa: float | None
    max_steps: int


class Program(Protocol):
    """A compiled chunk of evolution steps over ``size`` slots (one example each).

    The step: plain gradient descent with the rule's ``lr`` on the *sum* of
    the active slots' per-example losses, then clipping; a slot finishes the
    step its example first meets the stop rule (checked before stepping), or
    at ``max_steps``, and is never changed after.
    """

    size: int

    def load(self, slots: np.ndarray, rows: np.ndarray) -> None:
        """Writes ``rows`` (float32, ``(len(slots), *example_shape)``) into ``slots``."""

    def read(self, slots: np.ndarray) -> np.ndarray:
        """The current inputs of ``slots``, as float32 numpy."""

    def run(self, n: int, release: int, active: np.ndarray, steps: np.ndarray, target: np.ndarray,
            rule: StepRule) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Runs up to ``n`` steps; ends early once ``release`` active slots have finished.

        Args:
          n: most steps to run.
          release: finished slots that end the call early.
          active: bool ``(size,)``, slots that hold a running example.
          steps: int32 ``(size,)``, steps each slot's example has taken.
          target: int32 ``(size,)``, each slot's target class (0 when empty).
          rule: the step settings.

        Returns:
          numpy ``(iterations, active, steps, success, confidence, predicted)``:
          steps run, which slots still run, their step counts, and for slots
          that finished in this call whether they succeeded and the target's
          confidence and argmax label at their final input.
        """


class Backend(Protocol):
    """What a framework provides for one model: its shape, a frozen state, programs."""

    @property
    def example_shape(self) -> tuple[int, ...]:
        """The model's input shape without the batch axis."""

    @property
    def convolutional(self) -> bool:
        """Whether the model has convolutions (picks the default batch size and jit)."""

    def frozen(self) -> ContextManager:
        """A context in which the model's weights are not trainable."""

    def compile(self, loss: str, stop: str, size: int, jit: bool) -> Program:
        """A new program with ``size`` slots for the loss and stop rule."""


def _bucket(n: int, cap: int) -> int:
    """Slot count for ``n`` examples: at most ``cap`` (but at least _MIN_SLOTS), rounded up
    to a multiple of _MIN_SLOTS and of an eighth of n's power of two (<= 12.5% idle slots,
    at most eight sizes per octave, so few programs are compiled)."""
    n = max(1, min(n, cap))
    step = max(_MIN_SLOTS, 1 << max(0, n.bit_length() - 4))
    return max(_MIN_SLOTS, -(-n // step) * step)


class Engine:
    """Evolves inputs of one model; keeps the programs it compiled for reuse.

    Args:
      backend: the model's ``Backend``.
    """

    def __init__(self, backend: Backend):
        self.backend = backend
        self._programs: dict[tuple, Program] = {}

    def program(self, loss: str, stop: str, size: int, jit: bool) -> Program:
        """The program for these settings, compiled on first use."""
        key = (loss, stop, size, jit)
        if key not in self._programs:
            self._programs[key] = self.backend.compile(loss, stop, size, jit)
        return self._programs[key]

    def evolve(self, x_start, targets, *, loss: str = "mse", lr: float = 1.0, max_steps: int = 1000,
               stop: str = "argmax", kappa: float | None = None,
               clip: tuple[float, float] | None = (0.0, 1.0), batch_size: int | None = None,
               chunk_steps: int = 128, jit_compile: bool | None = None,
               progress: bool | Callable[[int, int, str], None] = False) -> EvolutionResult:
        """``tfadv.engine.evolve`` on this engine's model (same arguments after ``model``)."""
        conv = self.backend.convolutional
        batch_size = (512 if conv else 2048) if batch_size is None else batch_size
        example_shape = self.backend.example_shape
        x, target = validate(x_start, targets, example_shape, loss=loss, lr=lr, max_steps=max_steps,
                             stop=stop, kappa=kappa, clip=clip, batch_size=batch_size)
        n = len(x)
        flat = x.reshape((n,) + example_shape)
        settings = dict(loss=loss, lr=float(lr), max_steps=int(max_steps), stop=stop,
                        kappa=None if kappa is None else float(kappa),
                        clip=None if clip is None else [float(c) for c in clip])
        jit = (not conv) if jit_compile is None else bool(jit_compile)
        report = ProgressLine("evolve") if progress is True else (progress or None)
        rule = StepRule(lr=lr, clip=clip, kappa=kappa, max_steps=max_steps)

        final = flat.copy()
        success = np.zeros(n, bool)
        steps = np.zeros(n, np.int32)
        confidence = np.zeros(n, np.float32)
        predicted = np.zeros(n, np.int32)
        pending = collections.deque(range(n))
        done = cost = 0
        with self.backend.frozen():
            program = None
            slots = np.full(0, -1)  # example index held by each slot, -1 when empty
            slot_steps = np.zeros(0, np.int32)
            while pending or (slots >= 0).any():
                running = int((slots >= 0).sum())
                size = _bucket(running + len(pending), int(batch_size))
                # Shrink only when it saves a quarter of the slots: fewer programs to compile.
                if program is None or size <= 0.75 * program.size:
                    program, slots, slot_steps = self._resize(program, slots, slot_steps, size, loss, stop, jit)
                free = np.flatnonzero(slots < 0)[: len(pending)]
                if len(free):
                    chosen = np.array([pending.popleft() for _ in free])
                    program.load(free, flat[chosen])
                    slots[free] = chosen
                    slot_steps[free] = 0
                active = slots >= 0
                slot_target = np.where(active, target[np.maximum(slots, 0)], 0)
                can_shrink = _bucket(int(active.sum()) + len(pending), int(batch_size)) > _MIN_SLOTS
                release = max(1, program.size // 4) if (pending or can_shrink) else program.size + 1
                iterations, still, new_steps, met, conf, pred = program.run(
                    chunk_steps, release, active, slot_steps, slot_target, rule)
                cost += int(iterations) * program.size
                slot_steps = new_steps
                ended = np.flatnonzero(active & ~still)
                if len(ended):
                    idx = slots[ended]
                    final[idx] = program.read(ended)
                    success[idx] = met[ended]
                    steps[idx] = slot_steps[ended]
                    confidence[idx] = conf[ended]
                    predicted[idx] = pred[ended]
                    slots[ended] = -1
                    done += len(ended)
                if report:
                    report(done, n, f"examples, {int(success.sum())} succeeded, batch {size}")
            if report and hasattr(report, "close"):
                report.close()
        shape = x.shape
        return EvolutionResult(
            x_start=x, x_final=final.reshape(shape), target=target, success=success,
            steps=steps, confidence=confidence, predicted=predicted, settings=settings, cost=cost)

    def _resize(self, program, slots, slot_steps, size, loss, stop, jit):
        """Moves the running examples into a program with ``size`` slots."""
        new = self.program(loss, stop, size, jit)
        keep = np.flatnonzero(slots >= 0)
        new_slots = np.full(size, -1)
        new_steps = np.zeros(size, np.int32)
        if len(keep):
            new.load(np.arange(len(keep)), program.read(keep))
            new_slots[: len(keep)] = slots[keep]
            new_steps[: len(keep)] = slot_steps[keep]
        return new, new_slots, new_steps
