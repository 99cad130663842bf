"""The framework-neutral half of the engine: slots, refills, compaction (PROTOCOL.md sections 3 and 8).

An ``Engine`` evolves the examples of one model through a ``Program``: a
compiled chunk of gradient steps over a fixed number of slots, one example
per slot, made by the model's ``Backend``. Between chunks, finished examples
leave their slots and waiting ones take them; as work runs out the examples
move into a program with fewer slots. One pass can observe several stop
rules at once (``tfadv.engine.rules``): an example then runs until its last
rule resolves, and the program keeps, per earlier rule, the input at which
that rule first held until the host collects it at the end of the chunk.
This module is numpy only and never imports a framework:
``tfadv.engine.tensorflow`` implements the two protocols below, and a JAX or
PyTorch backend would implement the same.
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Callable, ContextManager, Protocol

import numpy as np

from tfadv.engine.results import EvolutionResult
from tfadv.engine.rules import StopRule, check_rules, plan
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
      kappas: per observed rule, its threshold (0.0 for kinds without one), in
        the program's rule order; empty for one-rule programs, which use kappa.
    """

    lr: float
    clip: tuple[float, float] | None
    kappa: float | None
    max_steps: int
    kappas: tuple[float, ...] = ()


class Program(Protocol):
    """A compiled chunk of evolution steps over ``size`` slots (one example each).

    A program is compiled for one stop rule (``stop`` a kind name: use
    ``run``) or for ``R`` rules observed together (``stop`` a tuple of kinds
    in resolution order, see ``tfadv.engine.rules``: use ``observe``); ``run``
    is ``observe`` for ``R = 1`` with the rule axis dropped, so a backend can
    write the loop once (the TensorFlow one does).

    The step: plain gradient descent with the rule's ``lr`` on the *sum* of
    the running slots' per-example losses, then clipping. Before each step a
    slot's open rules are checked on its current input: ``"argmax"`` holds
    when the label is the target, ``"confidence"`` when also the target's
    confidence >= its kappa, ``"budget"`` only at ``max_steps`` (with the
    label the target there); a rule resolves the first step it holds, or at
    ``max_steps`` (a failure unless it holds then). The slot stops (and is
    never changed after) when its last rule resolves; an earlier rule that
    resolves while the slot runs on has its input stored for
    ``read(slots, rule)`` until the next call.
    """

    size: int

    def load(self, slots: np.ndarray, rows: np.ndarray) -> None:
        """Writes ``rows`` (float32, ``(len(slots), *example_shape)``) into ``slots``."""

    def read(self, slots: np.ndarray, rule: int | None = None) -> np.ndarray:
        """The current inputs of ``slots`` as float32 numpy; with ``rule`` (``observe``
        programs, ``rule < R - 1``), the inputs stored when that rule resolved in the last call."""

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

    def observe(self, n: int, release: int, is_open: np.ndarray, steps: np.ndarray, target: np.ndarray,
                rule: StepRule) -> tuple[np.ndarray, ...]:
        """``run`` for ``R`` rules: ``is_open`` is bool ``(R, size)``, the rules each slot has
        not resolved yet (a slot runs while its last rule is open; empty slots have none open).

        Returns:
          numpy ``(iterations, is_open, steps, at, success, confidence, predicted)``;
          the last four are ``(R, size)``: for rules resolved in this call, the
          step (for the last rule, ``steps``), whether the rule held, and the
          target's confidence and label then.
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

    def compile(self, loss: str, stop: str | tuple[str, ...], size: int, jit: bool) -> Program:
        """A new program with ``size`` slots for the loss and one stop rule (a kind), or
        for a tuple of rule kinds in resolution order."""


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

    def program(self, loss: str, stop: str | tuple[str, ...], size: int, jit: bool) -> Program:
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
        batch_size = self._batch_size(batch_size)
        x, target = validate(x_start, targets, self.backend.example_shape, loss=loss, lr=lr,
                             max_steps=max_steps, stop=stop, kappa=kappa, clip=clip, batch_size=batch_size)
        settings = dict(loss=loss, lr=float(lr), max_steps=int(max_steps), stop=stop,
                        kappa=None if kappa is None else float(kappa),
                        clip=None if clip is None else [float(c) for c in clip])
        rule = StepRule(lr=lr, clip=clip, kappa=kappa, max_steps=max_steps)
        out, cost = self._pass(x, target, loss, stop, rule, batch_size, chunk_steps, jit_compile, progress)
        return EvolutionResult(x_start=x, target=target, **{k: v[0] for k, v in out.items()},
                               settings=settings, cost=cost)

    def evolve_observing(self, x_start, targets, *, rules, loss: str = "mse", lr: float = 1.0,
                         max_steps: int = 1000, clip: tuple[float, float] | None = (0.0, 1.0),
                         batch_size: int | None = None, chunk_steps: int = 128,
                         jit_compile: bool | None = None,
                         progress: bool | Callable[[int, int, str], None] = False) -> dict[str, EvolutionResult]:
        """``tfadv.engine.evolve_observing`` on this engine's model (same arguments after ``model``)."""
        batch_size = self._batch_size(batch_size)
        x, target = validate(x_start, targets, self.backend.example_shape, loss=loss, lr=lr,
                             max_steps=max_steps, stop="argmax", kappa=None, clip=clip, batch_size=batch_size)
        rules = check_rules(rules)
        kinds, kappas, position = plan(rules)
        rule = StepRule(lr=lr, clip=clip, kappa=None, max_steps=max_steps, kappas=kappas)
        out, cost = self._pass(x, target, loss, kinds, rule, batch_size, chunk_steps, jit_compile, progress)
        base = dict(loss=loss, lr=float(lr), max_steps=int(max_steps),
                    clip=None if clip is None else [float(c) for c in clip])
        return {r.name: _result(x, target, out, position[r.name], r, base, cost) for r in rules}

    def _batch_size(self, batch_size: int | None) -> int:
        return (512 if self.backend.convolutional else 2048) if batch_size is None else batch_size

    def _pass(self, x, target, loss, stop, rule, batch_size, chunk_steps, jit_compile, progress):
        """One evolution of every example under ``stop`` (a kind, or a tuple of kinds).

        Returns:
          ``(arrays, cost)``: ``x_final``, ``success``, ``steps``,
          ``confidence`` and ``predicted``, each with a leading rule axis.
        """
        single = isinstance(stop, str)
        n_rules = 1 if single else len(stop)
        example_shape = self.backend.example_shape
        n = len(x)
        flat = x.reshape((n,) + example_shape)
        jit = (not self.backend.convolutional) if jit_compile is None else bool(jit_compile)
        report = ProgressLine("evolve") if progress is True else (progress or None)

        out = dict(x_final=np.empty((n_rules,) + flat.shape, np.float32), success=np.zeros((n_rules, n), bool),
                   steps=np.zeros((n_rules, n), np.int32), confidence=np.zeros((n_rules, n), np.float32),
                   predicted=np.zeros((n_rules, n), np.int32))
        pending = collections.deque(range(n))
        done = cost = 0
        with self.backend.frozen():
            program = None
            slots = np.full(0, -1)  # example index held by each slot, -1 when empty
            slot_steps = np.zeros(0, np.int32)
            is_open = np.zeros((n_rules, 0), bool)  # per rule and slot: not resolved yet
            while pending or (slots >= 0).any():
                running = int((slots >= 0).sum())
                size = _bucket(running + len(pending), int(batch_size))
                # Shrink only when it saves a quarter of the slots: fewer programs to compile.
                if program is None or size <= 0.75 * program.size:
                    new = self.program(loss, stop, size, jit)
                    slots, slot_steps, is_open = _move(program, new, slots, slot_steps, is_open)
                    program = new
                free = np.flatnonzero(slots < 0)[: len(pending)]
                if len(free):
                    chosen = np.array([pending.popleft() for _ in free])
                    program.load(free, flat[chosen])
                    slots[free], slot_steps[free], is_open[:, free] = chosen, 0, True
                active = slots >= 0
                slot_target = np.where(active, target[np.maximum(slots, 0)], 0)
                can_shrink = _bucket(int(active.sum()) + len(pending), int(batch_size)) > _MIN_SLOTS
                release = max(1, program.size // 4) if (pending or can_shrink) else program.size + 1
                if single:
                    iterations, still, slot_steps, *ends = program.run(
                        chunk_steps, release, active, slot_steps, slot_target, rule)
                    now_open, at, ends = still[None], slot_steps[None], [a[None] for a in ends]
                else:
                    iterations, now_open, slot_steps, at, *ends = program.observe(
                        chunk_steps, release, is_open, slot_steps, slot_target, rule)
                cost += int(iterations) * program.size
                resolved, is_open = is_open & ~now_open, now_open
                _collect(program, resolved, slots, slot_steps, at, ends, out)
                done += int(resolved[-1].sum())
                slots[resolved[-1]] = -1
                if report:
                    report(done, n, f"examples, {_succeeded(out['success'], stop)} succeeded, batch {size}")
            if report and hasattr(report, "close"):
                report.close()
        out["x_final"] = out["x_final"].reshape((n_rules,) + x.shape)
        return out, cost


def _collect(program, resolved, slots, slot_steps, at, ends, out) -> None:
    """Writes what each rule resolved in the last call into ``out`` (rule axis first).

    A rule's input is the slot's current one if it resolved as the slot
    stopped (always so for the last rule), else the one the program stored.
    """
    ended = resolved[-1]
    met, conf, pred = ends
    for r in range(len(resolved)):
        where = np.flatnonzero(resolved[r])
        if not len(where):
            continue
        stored = ~(ended[where] & (at[r, where] == slot_steps[where]))
        if not stored.any():
            rows = program.read(where)
        else:
            rows = np.empty((len(where),) + out["x_final"].shape[2:], np.float32)
            rows[stored] = program.read(where[stored], r)
            if not stored.all():
                rows[~stored] = program.read(where[~stored])
        idx = slots[where]
        out["x_final"][r, idx], out["success"][r, idx], out["steps"][r, idx] = rows, met[r, where], at[r, where]
        out["confidence"][r, idx], out["predicted"][r, idx] = conf[r, where], pred[r, where]


def _move(program, new, slots, slot_steps, is_open):
    """Moves the running examples (and their per-slot state) into ``new``, packed at the front."""
    keep = np.flatnonzero(slots >= 0)
    new_slots = np.full(new.size, -1)
    new_steps = np.zeros(new.size, np.int32)
    new_open = np.zeros((len(is_open), new.size), bool)
    if len(keep):
        new.load(np.arange(len(keep)), program.read(keep))
        new_slots[: len(keep)] = slots[keep]
        new_steps[: len(keep)] = slot_steps[keep]
        new_open[:, : len(keep)] = is_open[:, keep]
    return new_slots, new_steps, new_open


def _succeeded(success: np.ndarray, stop) -> str:
    """How many succeeded so far: one count, or one per observed rule kind."""
    if isinstance(stop, str):
        return str(int(success[0].sum()))
    return ", ".join(f"{int(s.sum())} {kind}" for kind, s in zip(stop, success))


def _result(x, target, out, r: int, rule: StopRule, base: dict, cost: int) -> EvolutionResult:
    """One rule's ``EvolutionResult`` out of a pass's arrays (settings as ``evolve`` writes them)."""
    return EvolutionResult(x_start=x, target=target, **{k: v[r] for k, v in out.items()},
                           settings=dict(base, stop=rule.kind, kappa=rule.kappa), cost=cost)
