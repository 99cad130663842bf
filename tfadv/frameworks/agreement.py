"""How one engine's searches agree with the reference engine's (numpy only; PROTOCOL.md section 9).

Attempt ``i`` of a search starts from the same noise on every backend (the
start stream is keyed on (seed, index)), so attempts pair up one to one over
the attempts both searches made. Gradient descent at lr 100 is chaotic: a
last-bit difference in one step can send an example elsewhere, so paired
examples are compared where they still agree (same outcome, same step
count) and the searches as wholes by their statistics: success rates within
their 95% intervals, and r between the averaged images.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from tfadv.analysis import wilson_interval


@dataclasses.dataclass(frozen=True)
class Paired:
    """The attempts two searches of the same job both made, side by side.

    Attributes:
      attempts: how many attempts pair up (the fewer of the two searches').
      same_success: attempts with the same outcome.
      same_steps: attempts with the same outcome after the same number of steps.
      step_differences: |steps - reference steps| per paired attempt.
      max_x_difference: the largest |x_final - reference x_final| over the
        attempts that succeeded in both after the same number of steps (NaN
        when there are none).
    """

    attempts: int
    same_success: int
    same_steps: int
    step_differences: np.ndarray
    max_x_difference: float


def pair(reference, other) -> Paired:
    """Pairs two ``SearchResult`` s of the same search (same model, digit, settings and start seed)."""
    n = min(reference.attempts, other.attempts)
    ok_ref, ok_other = reference.attempt_success[:n], other.attempt_success[:n]
    steps_ref, steps_other = reference.attempt_steps[:n], other.attempt_steps[:n]
    same_success = ok_ref == ok_other
    same_steps = same_success & (steps_ref == steps_other)
    both = np.flatnonzero(ok_ref & ok_other & same_steps)
    # A success's row in ``successes`` is its rank among the search's successes (they are in attempt order).
    rows_ref = np.cumsum(reference.attempt_success) - 1
    rows_other = np.cumsum(other.attempt_success) - 1
    dx = math.nan
    if both.size:
        x_ref = reference.successes.x_final[rows_ref[both]].astype(np.float64)
        x_other = other.successes.x_final[rows_other[both]].astype(np.float64)
        dx = float(np.max(np.abs(x_ref - x_other)))
    return Paired(int(n), int(same_success.sum()), int(same_steps.sum()),
                  np.abs(steps_ref.astype(np.int64) - steps_other.astype(np.int64)), dx)


def combine(pairs: list[Paired]) -> dict:
    """The numbers of several paired searches (e.g. a model's ten digits) as one: fractions of all
    paired attempts, the median |step difference| over them, the largest x difference."""
    n = sum(p.attempts for p in pairs)
    dx = [p.max_x_difference for p in pairs if not math.isnan(p.max_x_difference)]
    steps = np.concatenate([p.step_differences for p in pairs]) if pairs else np.zeros(0)
    return {
        "paired_attempts": n,
        "same_success": sum(p.same_success for p in pairs) / n if n else math.nan,
        "same_steps": sum(p.same_steps for p in pairs) / n if n else math.nan,
        "median_step_difference": float(np.median(steps)) if steps.size else math.nan,
        "max_x_difference": max(dx) if dx else math.nan,
    }


def rates_agree(k1: int, n1: int, k2: int, n2: int) -> bool:
    """Whether two success rates agree within their 95% intervals (their Wilson intervals overlap;
    two searches without attempts agree)."""
    lo1, hi1 = wilson_interval(k1, n1)
    lo2, hi2 = wilson_interval(k2, n2)
    if math.isnan(lo1) or math.isnan(lo2):
        return math.isnan(lo1) and math.isnan(lo2)
    return lo1 <= hi2 and lo2 <= hi1
