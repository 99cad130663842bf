"""Paper B's attacks as independent units for the executors (``tfadv.execution``).

Every bank evolution (a model, a dataset, a stop rule) and every B6
classifier (its evolutions and the classifier trained on them) of the primary
settings and of the readings is one ``AttackUnit``; units that would read the
same cache file are one unit. ``summarize`` then finds them all cached.
"""

from __future__ import annotations

import functools

from tfadv.config import DoughConfig
from tfadv.context import RunContext
from tfadv.paper import AttackUnit
from tfadv.papers.dough.plan import CLASSIFIER_DATASET, ModelEntry, classifier_sources
from tfadv.papers.dough.readings import setting_readings
from tfadv.papers.dough.stages import bank_jobs, bank_path, classifier_accuracy, classifier_paths, evolve_bank


def attack_units(cfg: DoughConfig) -> list[AttackUnit]:
    """Every evolution of paper B and its readings, one unit per cache file, in the order summaries need them.

    A unit's name is its cache file's name with the model's name standing for
    its fingerprint (known only once it is trained), so two settings that read
    the same file give one unit.
    """
    units: dict[str, AttackUnit] = {}
    for c in [cfg] + [r.config for r in setting_readings(cfg)]:
        for d, e, stop, kappa in bank_jobs(c):
            name = bank_path("", c, e, d, stop, kappa, str(e.key(d))).stem
            units.setdefault(name, AttackUnit("dough", name, e.key(d), functools.partial(run_bank, c, e, d, stop,
                                                                                         kappa)))
        for e in classifier_sources(c):
            key = e.key(CLASSIFIER_DATASET)
            name = classifier_paths("", c, e, str(key))[0].stem
            units.setdefault(name, AttackUnit("dough", name, key, functools.partial(run_classifier, c, e)))
    return list(units.values())


def run_bank(cfg: DoughConfig, entry: ModelEntry, dataset: str, stop: str, kappa: float | None,
             ctx: RunContext) -> bool:
    """One bank evolution (``evolve_bank``); True when it was computed, not read."""
    key = entry.key(dataset)
    model, _ = ctx.models.get(key, gated=entry.gated)
    if model is None:
        return False
    path = bank_path(ctx.output_dir, cfg, entry, dataset, stop, kappa, ctx.models.fingerprint(key))
    missing = ctx.stale(path) or not path.exists()
    evolve_bank(ctx, cfg, entry, dataset, stop, kappa)
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
