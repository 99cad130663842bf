"""What an evolution returns, and its ``.npz`` file (PROTOCOL.md section 3).

numpy only. The file format is unchanged since before the engine was split
(commit 720290e), so cached results keep loading.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from tfadv import artifacts


@dataclasses.dataclass(frozen=True, eq=False)
class EvolutionResult:
    """Per-example outcome of ``evolve`` (numpy arrays, first axis = example).

    Attributes:
      x_start: the start inputs.
      x_final: the inputs when each example stopped.
      target: the target class.
      success: whether the stop rule was met within ``max_steps``.
      steps: gradient steps taken (the step the rule was first met, or
        ``max_steps`` for a failure).
      confidence: the target unit's activation (sigmoid outputs) or
        probability (softmax) at ``x_final``.
      predicted: the model's argmax label at ``x_final``.
      settings: how the result was made (loss, lr, stop rule, ...).
      cost: slot-steps the engine computed, idle slots included (what the
        run paid; finished examples should not add to it). Results of one
        ``evolve_observing`` pass all carry that one pass's cost.
    """

    x_start: np.ndarray
    x_final: np.ndarray
    target: np.ndarray
    success: np.ndarray
    steps: np.ndarray
    confidence: np.ndarray
    predicted: np.ndarray
    settings: dict = dataclasses.field(default_factory=dict)
    cost: int = 0

    _ARRAYS = ("x_start", "x_final", "target", "success", "steps", "confidence", "predicted")

    def __len__(self) -> int:
        return len(self.target)

    @property
    def delta(self) -> np.ndarray:
        """The perturbation ``x_final - x_start`` (paper B's raw material)."""
        return self.x_final - self.x_start

    def select(self, index) -> "EvolutionResult":
        """The examples picked by a boolean mask or index array."""
        return EvolutionResult(**{k: getattr(self, k)[index] for k in self._ARRAYS}, settings=self.settings)

    def save(self, path) -> Path:
        """Writes the result to a ``.npz`` file atomically."""
        arrays = {k: getattr(self, k) for k in self._ARRAYS}
        with artifacts.atomic_path(path) as tmp:
            np.savez(tmp, settings=json.dumps(self.settings, sort_keys=True), cost=self.cost, **arrays)
        return Path(path)

    @classmethod
    def load(cls, path) -> "EvolutionResult":
        """Reads a result written by ``save``."""
        with np.load(path) as f:
            arrays = {k: f[k] for k in cls._ARRAYS}
            settings = json.loads(str(f["settings"]))
            cost = int(f["cost"]) if "cost" in f.files else 0
        return cls(**arrays, settings=settings, cost=cost)

    @classmethod
    def concatenate(cls, results) -> "EvolutionResult":
        """Joins results made with the same settings, in order."""
        results = list(results)
        arrays = {k: np.concatenate([getattr(r, k) for r in results]) for k in cls._ARRAYS}
        return cls(**arrays, settings=results[0].settings if results else {})
