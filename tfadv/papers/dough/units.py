"""Paper B's attacks as independent units for the executors (``tfadv.execution``).

Every model's bank evolutions (a model, a dataset, all its stop rules) and every B6
classifier (its evolutions and the classifier trained on them) of the primary
settings and of the readings is one ``AttackUnit``; units that would read the
same cache file are one unit. ``summarize`` then finds them all cached.
"""

from __future__ import annotations

import functools

from tfadv.config import DoughConfig
from tfadv.context import RunContext
from tfadv.paper import AttackUnit
from tfadv.papers.dough.plan import CLASSIFIER_DATASET, ModelEntry, classifier_sources, model_entries
from tfadv.papers.dough.readings import setting_readings
from tfadv.papers.dough.stages import (
    bank_path, bank_rules, classifier_accuracy, classifier_paths, evolve_bank_rules)


def attack_units(cfg: DoughConfig) -> list[AttackUnit]:
    """Every evolution of paper B and its readings, one unit per set of cache files, in the order summaries
    need them.

    A bank unit evolves one model's bank under all its stop rules in one pass
    (``evolve_bank_rules``). A unit's name is its (first) cache file's name,
    with the model's name standing for its fingerprint (known only once it is
    trained) and ``+rule`` for each further rule, so two settings that read
    the same files give one unit.
    """
    units: dict[str, AttackUnit] = {}
    for c in [cfg] + [r.config for r in setting_readings(cfg)]:
        for d in c.datasets:
            for e in model_entries(c):
                (first, kappa), *more = bank_rules(c, e)
                name = bank_path("", c, e, d, first, kappa, str(e.key(d))).stem + "".join(f"+{s}" for s, _ in more)
                units.setdefault(name, AttackUnit("dough", name, e.key(d), functools.partial(run_bank, c, e, d)))
        for e in classifier_sources(c):
            key = e.key(CLASSIFIER_DATASET)
            name = classifier_paths("", c, e, str(key))[0].stem
            units.setdefault(name, AttackUnit("dough", name, key, functools.partial(run_classifier, c, e)))
    return list(units.values())


def run_bank(cfg: DoughConfig, entry: ModelEntry, dataset: str, ctx: RunContext) -> bool:
    """One model's bank under all its stop rules (``evolve_bank_rules``); True when any was computed, not read."""
    key = entry.key(dataset)
    model, _ = ctx.models.get(key, gated=entry.gated)
    if model is None:
        return False
    fingerprint = ctx.models.fingerprint(key)
    paths = [bank_path(ctx.output_dir, cfg, entry, dataset, stop, kappa, fingerprint)
             for stop, kappa in bank_rules(cfg, entry)]
    missing = any(ctx.stale(p) or not p.exists() for p in paths)
    evolve_bank_rules(ctx, cfg, entry, dataset)
    return missing


def run_classifier(cfg: DoughConfig, entry: ModelEntry, ctx: RunContext) -> bool:
    """One B6 classifier (``classifier_accuracy``); True when it was computed, not read."""
    key = entry.key(CLASSIFIER_DATASET)
    model, _ = ctx.models.get(key, gated=entry.gated)
    if model is None:
        return False
    _, result_path = classifier_paths(ctx.output_dir, cfg, entry, ctx.models.fingerprint(key))
    missing = ctx.stale(result_path) or not result_path.exists()
    classifier_accuracy(ctx, cfg, entry)
    return missing
