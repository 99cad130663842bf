"""Paper A's search: fresh starts until enough adversarial examples (PROTOCOL.md section 3).

``evolve_until`` evolves blocks of the start stream toward one digit until
``n_success`` of them succeed or the attempt cap; ``SearchResult`` keeps the
successes and every attempt's outcome (for success-vs-budget curves).
``evolve_until_observing`` runs the same search for several stop rules from
one attack (each attempt evolved once; PROTOCOL.md section 8).
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from tfadv import artifacts
from tfadv.engine import EvolutionResult, StopRule, evolve, evolve_observing, make_starts
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

    def without_zero_step(self) -> "SearchResult":
        """The search without the starts the net already labelled as the target (successes after 0 steps).

        They are no attempts under the "zero-step excluded" reading (PROTOCOL.md
        section 8): left out of the successes and of the attempts alike.
        """
        keep = ~(self.attempt_success & (self.attempt_steps == 0))
        moved = self.successes.steps > 0
        return dataclasses.replace(self, successes=self.successes.select(moved),
                                   attempt_success=self.attempt_success[keep], attempt_steps=self.attempt_steps[keep])

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
    run = lambda x: {None: evolve(model, x, target, **evolve_options)}
    searches = _search(model, run, (None,), target, n_success, max_attempts, start, seed, start_options,
                       evolve_options.get("clip", (0.0, 1.0)), progress)
    return searches[None]


def evolve_until_observing(
    model: keras.Model,
    target: int,
    n_success: int,
    max_attempts: int,
    *,
    rules: Sequence[StopRule],
    start: str = "uniform",
    seed: int = 0,
    start_options: dict | None = None,
    progress: bool | Callable[[int, int, str], None] = False,
    **evolve_options,
) -> dict[str, SearchResult]:
    """``evolve_until`` under several stop rules at once, from one attack (PROTOCOL.md section 8).

    The attempts are those of ``evolve_until``, each evolved once by
    ``tfadv.engine.evolve_observing``; the search goes on until every rule
    has ``n_success`` successes or the cap. Per rule, successes are counted
    in attempt order and the attempts after its ``n_success``-th are dropped,
    so each rule's ``SearchResult`` is the one ``evolve_until`` gives with
    that stop rule.

    Args:
      model, target, n_success, max_attempts, start, seed, start_options,
        progress: as for ``evolve_until``.
      rules: the ``StopRule`` objects, as for ``evolve_observing``.
      **evolve_options: passed to ``evolve_observing`` (loss, lr, max_steps,
        clip, ...; no ``stop``/``kappa``).

    Returns:
      ``{rule.name: SearchResult}``.
    """
    names = tuple(rule.name for rule in rules)
    run = lambda x: evolve_observing(model, x, target, rules=rules, **evolve_options)
    return _search(model, run, names, target, n_success, max_attempts, start, seed, start_options,
                   evolve_options.get("clip", (0.0, 1.0)), progress)


def _search(model, run, names, target, n_success, max_attempts, start, seed, start_options, clip,
            progress) -> dict:
    """The search loop: ``run(starts) -> {name: EvolutionResult}`` on blocks of the stream
    until every name has ``n_success`` successes or the cap; one ``SearchResult`` per name."""
    if n_success < 1 or max_attempts < 1:
        raise ValueError(f"n_success and max_attempts must be positive, got {n_success}, {max_attempts}.")
    shape = tuple(model.input_shape[1:])
    report = ProgressLine(f"target {target}") if progress is True else (progress or None)
    parts = {name: [] for name in names}
    found = dict.fromkeys(names, 0)
    attempted = 0
    while min(found.values()) < n_success and attempted < max_attempts:
        # Sized for the rule furthest from its goal (with one rule: evolve_until's blocks).
        block = max(_block(n_success, found[name], attempted) for name in names if found[name] < n_success)
        block = min(max(block, 64), max_attempts - attempted)
        x = make_starts(start, block, seed, shape, offset=attempted, **(start_options or {}))
        if clip is not None:
            x = np.clip(x, *clip)
        for name, part in run(x).items():
            parts[name].append(part)
            found[name] += int(part.success.sum())
        attempted += block
        if report:
            counts = "/".join(str(found[name]) for name in names)
            report(attempted, max_attempts, f"attempts, {counts} successes (want {n_success})")
    if report and hasattr(report, "close"):
        report.close()
    return {name: _result(EvolutionResult.concatenate(parts[name]), target, n_success) for name in names}


def _block(n_success: int, found: int, attempted: int) -> int:
    """Attempts for the next block: ``n_success`` first, then what the rate so far needs, plus 10%."""
    if attempted == 0:
        return n_success
    rate = max(found, 1) / attempted
    return math.ceil((n_success - found) / rate * 1.1) + 16


def _result(allres: EvolutionResult, target: int, n_success: int) -> SearchResult:
    """The search's outcome, without the attempts after the ``n_success``-th success."""
    if allres.success.sum() > n_success:
        last = np.flatnonzero(allres.success)[n_success - 1]
        allres = allres.select(slice(0, last + 1))
    return SearchResult(
        successes=allres.select(allres.success),
        attempt_success=allres.success.copy(),
        attempt_steps=allres.steps.copy(),
        target=int(target),
        n_wanted=int(n_success),
    )
