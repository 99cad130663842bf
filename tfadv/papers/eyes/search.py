"""Paper A's search: fresh starts until enough adversarial examples (PROTOCOL.md section 3).

``evolve_until`` evolves blocks of the start stream toward one digit until
``n_success`` of them succeed or the attempt cap; ``SearchResult`` keeps the
successes and every attempt's outcome (for success-vs-budget curves).
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from tfadv import artifacts
from tfadv.engine import EvolutionResult, evolve, make_starts
from tfadv.progress import ProgressLine

if TYPE_CHECKING:
    import keras


@dataclasses.dataclass(frozen=True, eq=False)
class SearchResult:
    """Outcome of ``evolve_until``: the successes, and every attempt's outcome.

    Attributes:
      successes: the successful examples, in attempt order.
      attempt_success: per attempt, whether it succeeded.
      attempt_steps: per attempt, steps taken (for success-vs-budget curves).
      target: the target class.
      n_wanted: the number of successes asked for.
    """

    successes: EvolutionResult
    attempt_success: np.ndarray
    attempt_steps: np.ndarray
    target: int
    n_wanted: int

    @property
    def attempts(self) -> int:
        return len(self.attempt_success)

    @property
    def reached(self) -> bool:
        """Whether ``n_wanted`` successes were found before the attempt cap."""
        return len(self.successes) >= self.n_wanted

    def save(self, path) -> Path:
        """Writes the search to a ``.npz`` file atomically."""
        s = self.successes
        arrays = {f"successes_{k}": getattr(s, k) for k in EvolutionResult._ARRAYS}
        with artifacts.atomic_path(path) as tmp:
            np.savez(tmp, settings=json.dumps(s.settings, sort_keys=True),
                     attempt_success=self.attempt_success, attempt_steps=self.attempt_steps,
                     target=self.target, n_wanted=self.n_wanted, **arrays)
        return Path(path)

    @classmethod
    def load(cls, path) -> "SearchResult":
        """Reads a search written by ``save``."""
        with np.load(path) as f:
            successes = EvolutionResult(
                **{k: f[f"successes_{k}"] for k in EvolutionResult._ARRAYS},
                settings=json.loads(str(f["settings"])))
            return cls(successes, f["attempt_success"], f["attempt_steps"], int(f["target"]), int(f["n_wanted"]))


def evolve_until(
    model: keras.Model,
    target: int,
    n_success: int,
    max_attempts: int,
    *,
    start: str = "uniform",
    seed: int = 0,
    start_options: dict | None = None,
    progress: bool | Callable[[int, int, str], None] = False,
    **evolve_options,
) -> SearchResult:
    """Evolves fresh starts toward ``target`` until ``n_success`` succeed or the cap.

    Paper A's protocol (PROTOCOL.md section 3): attempts are the examples
    0, 1, 2, ... of the start stream ``make_starts(start, ..., seed)``; the
    search ends at the ``n_success``-th success (later attempts of the last
    block are dropped) or after ``max_attempts``. The result does not depend on
    how the stream is split into blocks.

    Args:
      model: as for ``tfadv.engine.evolve``.
      target: the target class.
      n_success: successes wanted.
      max_attempts: the attempt cap.
      start: start kind for ``make_starts``; starts are clipped into ``clip``
        when ``evolve_options`` has one (the default (0, 1) included).
      seed: the start stream's seed.
      start_options: ``mean``/``sd``/``level`` for ``make_starts``.
      progress: as for ``evolve``; reports attempts against the cap.
      **evolve_options: passed to ``evolve`` (loss, lr, max_steps, ...).

    Returns:
      A ``SearchResult``.
    """
    if n_success < 1 or max_attempts < 1:
        raise ValueError(f"n_success and max_attempts must be positive, got {n_success}, {max_attempts}.")
    clip = evolve_options.get("clip", (0.0, 1.0))
    shape = tuple(model.input_shape[1:])
    report = ProgressLine(f"target {target}") if progress is True else (progress or None)
    parts, attempted, found = [], 0, 0
    while found < n_success and attempted < max_attempts:
        if attempted == 0:
            block = n_success
        else:
            rate = max(found, 1) / attempted
            block = math.ceil((n_success - found) / rate * 1.1) + 16
        block = min(max(block, 64), max_attempts - attempted)
        x = make_starts(start, block, seed, shape, offset=attempted, **(start_options or {}))
        if clip is not None:
            x = np.clip(x, *clip)
        part = evolve(model, x, target, **evolve_options)
        parts.append(part)
        attempted += block
        found += int(part.success.sum())
        if report:
            report(attempted, max_attempts, f"attempts, {found} successes (want {n_success})")
    if report and hasattr(report, "close"):
        report.close()
    allres = EvolutionResult.concatenate(parts)
    if found > n_success:  # drop attempts after the n_success-th success
        last = np.flatnonzero(allres.success)[n_success - 1]
        allres = allres.select(slice(0, last + 1))
    return SearchResult(
        successes=allres.select(allres.success),
        attempt_success=allres.success.copy(),
        attempt_steps=allres.steps.copy(),
        target=int(target),
        n_wanted=int(n_success),
    )
