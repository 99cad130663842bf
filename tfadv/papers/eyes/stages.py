"""Paper A's stages: the models it needs and its searches, reduced to an ``EyesSummary``.

For every group of nets (the two trained sigmoid MLPs, their untrained
controls, the ReLU variants), every training round and every digit, paper A's
search (``evolve_until``: fresh uniform noise until ``n_success`` adversarial
examples or the attempt cap) is run once and cached under ``attacks/eyes/``;
then the ``eyes_tab4`` sensitivity variants on round 0 of the trained nets.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from pathlib import Path
from typing import Callable

import numpy as np

from tfadv import artifacts
from tfadv.analysis import success_by_budget
from tfadv.config import AttackSettings, EyesConfig
from tfadv.context import RunContext
from tfadv.keys import ModelKey
from tfadv.engine import StopRule
from tfadv.models import predict
from tfadv.paper import AttackUnit
from tfadv.papers.eyes.readings import setting_readings
from tfadv.papers.eyes.search import SearchResult, evolve_until, evolve_until_observing
from tfadv.papers.eyes.summary import GROUPS, PIXELS, EyesSummary

logger = logging.getLogger(__name__)
DATASET = "mnist"
VERSION = 1  # bump when a change to the stages or the engine changes results


def group_nets(cfg: EyesConfig, group: str) -> tuple[tuple[str, str], ...]:
    """The (net, training configuration) pairs of a group, shallow first."""
    if group == "trained":
        return cfg.nets
    if group == "untrained":
        return tuple((net, "untrained") for net, _ in cfg.nets)
    return cfg.relu_nets


def stream_seed(group: int, net: int, round_: int, digit: int, variant: int = 0) -> int:
    """Seed of the start-noise stream: distinct for every search, so no two share noise."""
    return (((variant * 10 + group) * 10 + net) * 100 + round_) * 10 + digit


def models_needed(cfg: EyesConfig) -> list[ModelKey]:
    """Every model paper A uses (its readings' included), in training order."""
    keys = [ModelKey(net, DATASET, config, r) for c in [cfg] + [r.config for r in setting_readings(cfg)]
            for group in GROUPS for r in range(c.rounds) for net, config in group_nets(c, group)]
    return list(dict.fromkeys(keys))


@dataclasses.dataclass(frozen=True)
class SearchJob:
    """One search: a net of a group at a round, toward a digit, with settings."""

    group: str
    net: int
    model: ModelKey
    digit: int
    settings: AttackSettings
    n_success: int
    max_attempts: int
    seed: int
    variant: str = "main"

    @property
    def gated(self) -> bool:
        """Untrained controls are not held to an accuracy floor."""
        return self.group != "untrained"


def jobs(cfg: EyesConfig) -> list[SearchJob]:
    """Every search of paper A: main searches, then the sensitivity variants."""
    out = []
    for g, group in enumerate(GROUPS):
        for r in range(cfg.rounds):
            for i, (net, config) in enumerate(group_nets(cfg, group)):
                for d in range(10):
                    out.append(SearchJob(group, i, ModelKey(net, DATASET, config, r), d, cfg.attack,
                                         cfg.n_success, cfg.max_attempts, stream_seed(g, i, r, d)))
    for v, (name, settings) in enumerate(cfg.sensitivity_variants(), start=1):
        for i, (net, config) in enumerate(cfg.nets):
            for d in range(10):
                out.append(SearchJob("trained", i, ModelKey(net, DATASET, config, 0), d, settings,
                                     cfg.sensitivity_n_success, cfg.sensitivity_max_attempts,
                                     stream_seed(0, i, 0, d, v), variant=name))
    return out


def search_families(cfg: EyesConfig) -> list[list[SearchJob]]:
    """Every search of paper A and its readings, grouped into the ones one attack pass serves.

    Searches that differ only in their stop rule (the stop-rule readings of
    PROTOCOL.md section 8) form one family, run by ``run_family`` in one pass
    of ``evolve_until_observing``; each job appears once, in first-seen order.
    """
    families: dict[tuple, list[SearchJob]] = {}
    for c in [cfg] + [r.config for r in setting_readings(cfg)]:
        for job in jobs(c):
            rest = dataclasses.replace(job.settings, stop="argmax", kappa=None)
            family = families.setdefault((dataclasses.replace(job, settings=rest)), [])
            if job not in family:
                family.append(job)
    return list(families.values())


def stop_rule(settings: AttackSettings) -> StopRule:
    """The engine's ``StopRule`` for a search's settings."""
    if settings.stop == "confidence":
        return StopRule.confidence(settings.kappa)
    return StopRule.budget() if settings.stop == "budget" else StopRule.argmax()


def search_path(output_dir, job: SearchJob, model_fingerprint: str) -> Path:
    """Where one search is cached: keyed by its model's fingerprint (``ModelBank.fingerprint``) and settings."""
    key = artifacts.config_key({
        "model": model_fingerprint, "digit": job.digit, "settings": job.settings.to_dict(),
        "n_success": job.n_success, "max_attempts": job.max_attempts, "seed": job.seed, "engine": VERSION,
    })
    m = job.model
    return artifacts.attack_path(output_dir, "eyes", f"{m.model}__{m.config}__s{m.seed}__d{job.digit}", key)


def cache_paths(cfg: EyesConfig, output_dir, fingerprint: Callable[[ModelKey], str | None]) -> list[Path]:
    """Every search file these settings read, without training or attacking (``reproduce --clean``).

    ``fingerprint`` gives a model's fingerprint, or None when its file is
    missing (then the model would be trained again, and no cached search of
    it can be read).
    """
    return [search_path(output_dir, job, fp) for family in search_families(cfg) for job in family
            if (fp := fingerprint(job.model)) is not None]


def run_search(ctx: RunContext, job: SearchJob) -> SearchResult | None:
    """Runs (or reuses) one search; None when its model is below its floor."""
    return run_family(ctx, [job])[0]


def run_family(ctx: RunContext, family: list[SearchJob], load: bool = True) -> list[SearchResult | None]:
    """Runs (or reuses) searches that differ only in their stop rule, in one attack pass.

    The searches whose files are missing (all of them with ``--force``, once
    per run) are run together by ``evolve_until_observing`` (a lone argmax or
    confidence search by ``evolve_until``, as always) and each is saved under
    its own key, so every reading finds its search whichever ran first.
    Returns the results in ``family`` order (None when the model is below its
    floor; with ``load=False``, for searches that were already on disk).
    """
    job0 = family[0]
    model, _ = ctx.models.get(job0.model, gated=job0.gated)
    if model is None:
        return [None] * len(family)
    fingerprint = ctx.models.fingerprint(job0.model)
    paths = [search_path(ctx.output_dir, job, fingerprint) for job in family]
    results = [None] * len(family)
    todo = [i for i, p in enumerate(paths) if ctx.stale(p) or not p.exists()]
    if load:
        for i in sorted(set(range(len(family))) - set(todo)):
            results[i] = _load(paths[i])
            if results[i] is None:
                todo.append(i)
    if todo:
        todo.sort()
        for i, result in zip(todo, _evolve(model, [family[i] for i in todo])):
            result.save(paths[i])
            ctx.made(paths[i])
            results[i] = result
    return results


def _load(path: Path) -> SearchResult | None:
    try:
        return SearchResult.load(path)
    except Exception as e:  # a damaged file of any kind: make it again
        logger.warning("Could not read %s (%s); computing it again.", path, e)
        return None


def _evolve(model, family: list[SearchJob]) -> list[SearchResult]:
    """The searches of one family from one attack pass (PROTOCOL.md sections 3 and 8)."""
    job = family[0]
    a = job.settings
    common = dict(start=a.start, seed=job.seed, start_options=a.start_options())
    if len(family) == 1 and a.stop != "budget":
        return [evolve_until(model, job.digit, job.n_success, job.max_attempts, **common, **a.evolve_options())]
    options = {k: v for k, v in a.evolve_options().items() if k not in ("stop", "kappa")}
    rules = [stop_rule(j.settings) for j in family]
    found = evolve_until_observing(model, job.digit, job.n_success, job.max_attempts, rules=rules, **common,
                                   **options)
    return [found[rule.name] for rule in rules]


def median_example(confidence: np.ndarray) -> int:
    """The example shown as "a single adversarial example": the success whose confidence is
    nearest the median over all successes (the first such in attempt order)."""
    return int(np.argmin(np.abs(confidence - np.median(confidence))))


def _search_stats(model, search: SearchResult, budgets) -> dict:
    """The numbers paper A needs from one search (NaN where nothing was found).

    The single-example confidence is the median over the successes (one
    definition everywhere); the single example shown is ``median_example``.
    """
    d = search.target
    found = len(search.successes)
    out = {"found": found, "attempts": search.attempts,
           "budget_curve": success_by_budget(search.attempt_steps, search.attempt_success, budgets)}
    if found:
        x = search.successes.x_final.reshape(found, PIXELS)
        average = x.mean(axis=0)
        y = predict(model, average[None])[0]
        confidence = search.successes.confidence
        out.update(
            average=average, avg_confidence=float(y[d]), avg_predicted=int(np.argmax(y)),
            single=x[median_example(confidence)], single_confidence=float(np.median(confidence)),
            median_steps=float(np.median(search.successes.steps)))
    return out


def summarize(cfg: EyesConfig, ctx: RunContext) -> EyesSummary:
    """Runs every paper A search (cached) and returns the summary of their results."""
    all_jobs = jobs(cfg)
    variants = [name for name, _ in cfg.sensitivity_variants()]
    budgets = np.asarray(cfg.budgets)
    s = EyesSummary.blank(
        cfg.rounds, variants, budgets, config=dataclasses.asdict(cfg),
        nets={g: [net for net, _ in group_nets(cfg, g)] for g in GROUPS},
        configs={g: [config for _, config in group_nets(cfg, g)] for g in GROUPS})
    for job in all_jobs:
        g, i, r = GROUPS.index(job.group), job.net, job.model.seed
        model, meta = ctx.models.get(job.model, gated=job.gated)
        search = run_search(ctx, job)
        if search is not None and cfg.zero_step == "excluded":
            search = search.without_zero_step()
        if job.variant == "main":
            s.accuracy[g, i, r] = meta["test_accuracy"]
            s.used[g, i, r] = search is not None
        if search is not None:
            stats = _search_stats(model, search, budgets)
            if job.variant == "main":
                for k, v in stats.items():
                    getattr(s, k)[g, i, r, job.digit] = v
            else:
                v = variants.index(job.variant)
                for k in ("found", "attempts", "avg_confidence", "average"):
                    if k in stats:
                        getattr(s, f"sens_{k}")[v, i, job.digit] = stats[k]
    (x_train, y_train), _ = ctx.source.load(DATASET)[0]
    s.class_means[:] = np.stack([x_train[y_train == c].mean(axis=0).reshape(PIXELS) for c in range(10)])
    s.excluded.extend(ctx.models.excluded)
    return s


def run_every_search(cfg: EyesConfig, ctx: RunContext) -> None:
    """Runs (or reuses) every search of paper A and its readings, one attack pass per family."""
    families = search_families(cfg)
    report = ctx.progress_line("paper A searches")
    for n, family in enumerate(families):
        run_family(ctx, family, load=False)
        if report:
            job = family[0]
            rules = "/".join(j.settings.stop for j in family)
            variant = "" if job.variant == "main" else ", " + job.variant
            report(n + 1, len(families), f"searches ({job.model.model}, {job.model.config}, round "
                                         f"{job.model.seed}, digit {job.digit}{variant}; {rules})")
    if report:
        report.close()


def attack_units(cfg: EyesConfig) -> list[AttackUnit]:
    """Every search family of paper A and its readings (``search_families``) as one unit each, for the executors.

    A unit's name says its model, digit and variant, and ends with a hash of
    its searches' settings (stable across runs: stage times are keyed by it).
    """
    units = []
    for family in search_families(cfg):
        job, m = family[0], family[0].model
        digest = artifacts.config_key({"searches": [repr(j) for j in family]})
        name = f"{m.model}__{m.config}__s{m.seed}__d{job.digit}__{job.variant}__{digest}"
        units.append(AttackUnit("eyes", name, m, functools.partial(run_unit, family)))
    return units


def run_unit(family: list[SearchJob], ctx: RunContext) -> bool:
    """Runs (or reuses) one family of searches (``run_family``); True when any of them was computed."""
    job = family[0]
    model, _ = ctx.models.get(job.model, gated=job.gated)
    if model is None:
        return False
    fingerprint = ctx.models.fingerprint(job.model)
    missing = any(ctx.stale(p) or not p.exists() for p in (search_path(ctx.output_dir, j, fingerprint) for j in family))
    run_family(ctx, family, load=False)
    return missing
