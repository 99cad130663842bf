"""Paper A ("Through Neural Nets' Eyes"): models and searches -> raw numbers.

For every group of nets (the two trained sigmoid MLPs, their untrained
controls, the ReLU variants), every training round and every digit, paper A's
search (``attack.evolve_until``: fresh uniform noise until ``n_success``
adversarial examples or the attempt cap) is run once and cached under
``attacks/eyes/``. ``summarize`` reduces the searches to the arrays every
``eyes_*`` figure, table and claim is drawn from (``eyes_analysis`` derives
the rest with numpy alone).
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np

from tfadv import artifacts, attack, data
from tfadv.analysis import success_by_budget
from tfadv.config import AttackSettings, EyesConfig
from tfadv.models import predict
from tfadv.progress import ProgressLine
from tfadv.train import ModelBank

DATASET = "mnist"
GROUPS = ("trained", "untrained", "relu")
ENGINE_VERSION = 1  # bump when a change to the engine changes results
logger = logging.getLogger(__name__)


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


def models_needed(cfg: EyesConfig) -> list[tuple[str, str, str, int]]:
    """Every (model, dataset, config, seed) paper A uses, in training order."""
    out = []
    for group in GROUPS:
        out += [(net, DATASET, config, r) for r in range(cfg.rounds) for net, config in group_nets(cfg, group)]
    return out


@dataclasses.dataclass
class SearchJob:
    """One search: a net of a group at a round, toward a digit, with settings."""

    group: str
    net: str
    config: str
    round: int
    digit: int
    settings: AttackSettings
    n_success: int
    max_attempts: int
    seed: int
    variant: str = "main"


def jobs(cfg: EyesConfig) -> list[SearchJob]:
    """Every search of paper A: main searches, then the sensitivity variants."""
    out = []
    for g, group in enumerate(GROUPS):
        for r in range(cfg.rounds):
            for i, (net, config) in enumerate(group_nets(cfg, group)):
                for d in range(10):
                    out.append(SearchJob(group, net, config, r, d, cfg.attack, cfg.n_success,
                                         cfg.max_attempts, stream_seed(g, i, r, d)))
    for v, (name, settings) in enumerate(cfg.sensitivity_variants(), start=1):
        for i, (net, config) in enumerate(cfg.nets):
            for d in range(10):
                out.append(SearchJob("trained", net, config, 0, d, settings,
                                     cfg.sensitivity_n_success, cfg.sensitivity_max_attempts,
                                     stream_seed(0, i, 0, d, v), variant=name))
    return out


def run_search(bank: ModelBank, output_dir, job: SearchJob, *, force: bool = False,
               progress=False) -> attack.SearchResult | None:
    """Runs (or reuses) one search; None when its model is below its floor."""
    model, _ = bank.get(job.net, DATASET, job.config, job.round, gated=job.group != "untrained")
    if model is None:
        return None
    key = artifacts.config_key({
        "model": bank.model_key(job.net, DATASET, job.config, job.round),
        "digit": job.digit, "settings": job.settings.to_dict(), "n_success": job.n_success,
        "max_attempts": job.max_attempts, "seed": job.seed, "engine": ENGINE_VERSION,
    })
    name = f"{job.net}__{job.config}__s{job.round}__d{job.digit}"
    path = artifacts.attack_path(output_dir, "eyes", name, key)

    def compute():
        return attack.evolve_until(
            model, job.digit, job.n_success, job.max_attempts, start=job.settings.start,
            seed=job.seed, start_options=job.settings.start_options(), progress=progress,
            **job.settings.evolve_options())

    return artifacts.cached(path, compute, lambda r, p: r.save(p), attack.SearchResult.load, force=force)


def _search_stats(model, search: attack.SearchResult, budgets) -> dict:
    """The numbers paper A needs from one search."""
    d = search.target
    found = len(search.successes)
    out = {
        "found": found,
        "attempts": search.attempts,
        "budget_curve": success_by_budget(search.attempt_steps, search.attempt_success, budgets),
        "average": np.full(784, np.nan, np.float32),
        "avg_confidence": np.nan,
        "avg_predicted": -1,
        "single": np.full(784, np.nan, np.float32),
        "single_confidence": np.nan,
        "median_confidence": np.nan,
        "median_steps": np.nan,
    }
    if found:
        x = search.successes.x_final.reshape(found, 784)
        average = x.mean(axis=0)
        y = predict(model, average[None])[0]
        out.update(
            average=average, avg_confidence=float(y[d]), avg_predicted=int(np.argmax(y)),
            single=x[0], single_confidence=float(search.successes.confidence[0]),
            median_confidence=float(np.median(search.successes.confidence)),
            median_steps=float(np.median(search.successes.steps)))
    return out


def summarize(cfg: EyesConfig, output_dir, *, data_dir=None, force: bool = False,
              bank: ModelBank | None = None, verbose=0, progress=True) -> dict:
    """Runs every paper A search (cached) and returns the arrays of its results.

    Returns:
      A dict of numpy arrays, indexed [group, net, round, digit, ...] with
      groups ``GROUPS`` (trained, untrained, relu), plus ``class_means``
      (MNIST training means, (10, 784)), ``accuracy`` and ``used`` per model,
      and ``sens_*`` arrays [variant, net, digit] for ``eyes_tab4``;
      ``meta`` holds names and settings.
    """
    bank = bank or ModelBank(output_dir, data_dir=data_dir, force=force, verbose=verbose)
    all_jobs = jobs(cfg)
    shape = (len(GROUPS), 2, cfg.rounds, 10)
    variants = [name for name, _ in cfg.sensitivity_variants()]
    budgets = np.asarray(cfg.budgets)
    arrays = {
        "found": np.zeros(shape, np.int64),
        "attempts": np.zeros(shape, np.int64),
        "average": np.full(shape + (784,), np.nan, np.float32),
        "avg_confidence": np.full(shape, np.nan),
        "avg_predicted": np.full(shape, -1, np.int64),
        "single": np.full(shape + (784,), np.nan, np.float32),
        "single_confidence": np.full(shape, np.nan),
        "median_confidence": np.full(shape, np.nan),
        "median_steps": np.full(shape, np.nan),
        "budget_curve": np.full(shape + (len(budgets),), np.nan),
        "accuracy": np.full(shape[:3], np.nan),
        "used": np.zeros(shape[:3], bool),
        "sens_found": np.zeros((len(variants), 2, 10), np.int64),
        "sens_attempts": np.zeros((len(variants), 2, 10), np.int64),
        "sens_avg_confidence": np.full((len(variants), 2, 10), np.nan),
        "sens_average": np.full((len(variants), 2, 10, 784), np.nan, np.float32),
    }
    report = ProgressLine("paper A searches") if progress else None
    for n, job in enumerate(all_jobs):
        g = GROUPS.index(job.group)
        i = [net for net, _ in group_nets(cfg, job.group)].index(job.net)
        model, meta = bank.get(job.net, DATASET, job.config, job.round, gated=job.group != "untrained")
        search = run_search(bank, output_dir, job, force=force)
        if job.variant == "main":
            arrays["accuracy"][g, i, job.round] = meta["test_accuracy"]
            arrays["used"][g, i, job.round] = search is not None
        if search is not None:
            stats = _search_stats(model, search, budgets)
            if job.variant == "main":
                for k, v in stats.items():
                    arrays[k][g, i, job.round, job.digit] = v
            else:
                v = variants.index(job.variant)
                arrays["sens_found"][v, i, job.digit] = stats["found"]
                arrays["sens_attempts"][v, i, job.digit] = stats["attempts"]
                arrays["sens_avg_confidence"][v, i, job.digit] = stats["avg_confidence"]
                arrays["sens_average"][v, i, job.digit] = stats["average"]
        if report:
            report(n + 1, len(all_jobs), f"searches ({job.net}, {job.config}, round {job.round}, "
                                         f"digit {job.digit}{'' if job.variant == 'main' else ', ' + job.variant})")
    if report:
        report.close()
    (x_train, y_train), _ = data.load_dataset(DATASET, data_dir)
    arrays["class_means"] = np.stack([x_train[y_train == c].mean(axis=0).reshape(784) for c in range(10)])
    arrays["meta"] = {
        "groups": list(GROUPS),
        "nets": {g: [net for net, _ in group_nets(cfg, g)] for g in GROUPS},
        "configs": {g: [config for _, config in group_nets(cfg, g)] for g in GROUPS},
        "variants": variants,
        "budgets": budgets.tolist(),
        "config": dataclasses.asdict(cfg),
        "excluded": bank.excluded,
    }
    return arrays
