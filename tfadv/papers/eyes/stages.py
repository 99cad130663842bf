"""Paper A's stages: the models it needs and its searches, reduced to an ``EyesSummary``.

For every group of nets (the two trained sigmoid MLPs, their untrained
controls, the ReLU variants), every training round and every digit, paper A's
search (``evolve_until``: fresh uniform noise until ``n_success`` adversarial
examples or the attempt cap) is run once and cached under ``attacks/eyes/``;
then the ``eyes_tab4`` sensitivity variants on round 0 of the trained nets.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable

import numpy as np

from tfadv import artifacts
from tfadv.analysis import success_by_budget
from tfadv.config import AttackSettings, EyesConfig
from tfadv.context import RunContext
from tfadv.keys import ModelKey
from tfadv.models import predict
from tfadv.papers.eyes.search import SearchResult, evolve_until
from tfadv.papers.eyes.summary import GROUPS, PIXELS, EyesSummary

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
    """Every model paper A uses, in training order."""
    return [ModelKey(net, DATASET, config, r) for group in GROUPS for r in range(cfg.rounds)
            for net, config in group_nets(cfg, group)]


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
    return [search_path(output_dir, job, fp) for job in jobs(cfg) if (fp := fingerprint(job.model)) is not None]


def run_search(ctx: RunContext, job: SearchJob) -> SearchResult | None:
    """Runs (or reuses) one search; None when its model is below its floor."""
    model, _ = ctx.models.get(job.model, gated=job.gated)
    if model is None:
        return None
    path = search_path(ctx.output_dir, job, ctx.models.fingerprint(job.model))

    def compute():
        return evolve_until(
            model, job.digit, job.n_success, job.max_attempts, start=job.settings.start, seed=job.seed,
            start_options=job.settings.start_options(), **job.settings.evolve_options())

    return artifacts.cached(path, compute, lambda r, p: r.save(p), SearchResult.load, force=ctx.force)


def _search_stats(model, search: SearchResult, budgets) -> dict:
    """The numbers paper A needs from one search (NaN where nothing was found)."""
    d = search.target
    found = len(search.successes)
    out = {"found": found, "attempts": search.attempts,
           "budget_curve": success_by_budget(search.attempt_steps, search.attempt_success, budgets)}
    if found:
        x = search.successes.x_final.reshape(found, PIXELS)
        average = x.mean(axis=0)
        y = predict(model, average[None])[0]
        out.update(
            average=average, avg_confidence=float(y[d]), avg_predicted=int(np.argmax(y)),
            single=x[0], single_confidence=float(search.successes.confidence[0]),
            median_confidence=float(np.median(search.successes.confidence)),
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
    report = ctx.progress_line("paper A searches")
    for n, job in enumerate(all_jobs):
        g, i, r = GROUPS.index(job.group), job.net, job.model.seed
        model, meta = ctx.models.get(job.model, gated=job.gated)
        search = run_search(ctx, job)
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
        if report:
            report(n + 1, len(all_jobs), f"searches ({job.model.model}, {job.model.config}, round {r}, "
                                         f"digit {job.digit}{'' if job.variant == 'main' else ', ' + job.variant})")
    if report:
        report.close()
    (x_train, y_train), _ = ctx.source.load(DATASET)[0]
    s.class_means[:] = np.stack([x_train[y_train == c].mean(axis=0).reshape(PIXELS) for c in range(10)])
    s.excluded.extend(ctx.models.excluded)
    return s
