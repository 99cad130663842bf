"""Paper A's summary: the typed arrays every ``eyes_*`` figure, table and claim is drawn from.

Arrays of the main searches are indexed [group, net, round, digit, ...] with
groups ``GROUPS`` (trained sigmoid nets, their untrained controls, the ReLU
variants) and nets (shallow, deep); those of the ``eyes_tab4`` sensitivity
searches [variant, net, digit, ...]. Every field is required, so a summary
with a value missing cannot be built or loaded (numpy only).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from tfadv import artifacts

GROUPS = ("trained", "untrained", "relu")
TRAINED, UNTRAINED, RELU = 0, 1, 2
SHALLOW, DEEP = 0, 1
PIXELS = 784


@dataclasses.dataclass(frozen=True, eq=False)
class EyesSummary:
    """Paper A's numbers (PROTOCOL.md sections 3-6).

    Attributes:
      found, attempts: successes and attempts of each search.
      average: the averaged adversarial image (NaN where none was found).
      avg_confidence, avg_predicted: the net's confidence in the digit and
        its label on the averaged image.
      single: the single example shown: the success whose confidence is
        nearest the median (``stages.median_example``).
      single_confidence: the single-example confidence: the median over
        the successful examples (one definition everywhere).
      median_steps: over the successful examples.
      budget_curve: success rate against each step budget of ``budgets``.
      accuracy, used: per model [group, net, round]: test accuracy, and
        whether it cleared its floor (its searches count).
      sens_found, sens_attempts, sens_avg_confidence, sens_average: the
        ``eyes_tab4`` variants, [variant, net, digit, ...].
      class_means: MNIST's training-set class means, (10, 784).
      nets, configs: per group name, the net names and their training
        configurations (shallow first).
      variants: names of the sensitivity variants.
      budgets: the step budgets of ``budget_curve``.
      config: the ``EyesConfig`` that made it, as a dict.
      excluded: models left out below their floor.
    """

    found: np.ndarray
    attempts: np.ndarray
    average: np.ndarray
    avg_confidence: np.ndarray
    avg_predicted: np.ndarray
    single: np.ndarray
    single_confidence: np.ndarray
    median_steps: np.ndarray
    budget_curve: np.ndarray
    accuracy: np.ndarray
    used: np.ndarray
    sens_found: np.ndarray
    sens_attempts: np.ndarray
    sens_avg_confidence: np.ndarray
    sens_average: np.ndarray
    class_means: np.ndarray
    nets: dict
    configs: dict
    variants: list
    budgets: list
    config: dict
    excluded: list

    @classmethod
    def blank(cls, rounds: int, variants, budgets, *, nets=None, configs=None, config=None) -> "EyesSummary":
        """A summary with nothing found yet: counts 0, numbers NaN, no model used."""
        shape = (len(GROUPS), 2, rounds, 10)
        sens = (len(variants), 2, 10)
        return cls(
            found=np.zeros(shape, np.int64), attempts=np.zeros(shape, np.int64),
            average=np.full(shape + (PIXELS,), np.nan, np.float32), avg_confidence=np.full(shape, np.nan),
            avg_predicted=np.full(shape, -1, np.int64), single=np.full(shape + (PIXELS,), np.nan, np.float32),
            single_confidence=np.full(shape, np.nan),
            median_steps=np.full(shape, np.nan), budget_curve=np.full(shape + (len(budgets),), np.nan),
            accuracy=np.full(shape[:3], np.nan), used=np.zeros(shape[:3], bool),
            sens_found=np.zeros(sens, np.int64), sens_attempts=np.zeros(sens, np.int64),
            sens_avg_confidence=np.full(sens, np.nan), sens_average=np.full(sens + (PIXELS,), np.nan, np.float32),
            class_means=np.full((10, PIXELS), np.nan, np.float32),
            nets=nets or {g: ["shallow", "deep"] for g in GROUPS},
            configs=configs or {g: ["", ""] for g in GROUPS},
            variants=list(variants), budgets=[int(b) for b in budgets], config=config or {}, excluded=[])

    @property
    def rounds(self) -> int:
        return self.used.shape[2]

    def net_name(self, group: int, net: int) -> str:
        return self.nets[GROUPS[group]][net]

    def save(self, path) -> Path:
        """Writes the summary to one ``.npz`` (arrays, and the rest as JSON)."""
        arrays, meta = {}, {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            (arrays if isinstance(value, np.ndarray) else meta)[f.name] = value
        return artifacts.save_arrays({**arrays, "meta": meta}, path)

    @classmethod
    def load(cls, path) -> "EyesSummary":
        """Reads what ``save`` wrote; KeyError or TypeError when a field is missing."""
        arrays = artifacts.load_arrays(path)
        meta = arrays.pop("meta")
        return cls(**arrays, **meta)
