"""Paper B's stages: the start bank, the evolutions, patterns, transfer and classifier -> a ``DoughSummary``.

One fixed bank of start inputs (``n_noise`` uniform-noise images from a fixed
seed plus constant images) is evolved toward every class on every model
(cross-entropy, stopping at the first step the rule holds), cached under
``attacks/dough/``. The perturbations ``x_adv - x_start`` are abstracted into
class patterns (``tfadv.abstraction``). Transfer of patterns between models
(B5) and a classifier trained only on adversarial examples (B6) need the
models, so they are measured here too.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable

import numpy as np

from tfadv import abstraction, artifacts
from tfadv.config import DoughConfig, get_train_config
from tfadv.context import RunContext
from tfadv.engine import EvolutionResult, StopRule, evolve, evolve_observing, make_starts
from tfadv.keys import ModelKey
from tfadv.models import predict
from tfadv.papers.dough.plan import (
    CLASSIFIER_DATASET, VERSION, ModelEntry, classifier_sources, model_entries, stop_rules)
from tfadv.papers.dough.summary import (
    STATS, ClassifierResult, DoughSummary, ModelRecord, PatternKey, Transfer)
from tfadv.training import train_model


def start_bank(cfg: DoughConfig, source=None, dataset: str | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """The controlled inputs and their labels (None for noise).

    ``starts="noise"``: ``n_noise`` U[0,1] images (fixed seed), then the
    constants. ``"test_images"``: as many test images of ``dataset`` (from
    ``source``), the first of a fixed permutation (``natural_images``).
    """
    n_bank = cfg.n_noise + len(cfg.constants)
    if cfg.starts == "test_images":
        return natural_images(cfg, source, dataset, "test", n_bank)
    noise = make_starts("uniform", cfg.n_noise, cfg.bank_seed)
    constants = np.stack([np.full((28, 28), c, np.float32) for c in cfg.constants]) if cfg.constants else \
        np.zeros((0, 28, 28), np.float32)
    return np.concatenate([noise, constants]), None


def natural_images(cfg: DoughConfig, source, dataset: str, split: str, n: int, offset: int = 0):
    """Images ``offset .. offset + n`` of a fixed permutation (seed ``bank_seed``) of a split, with labels."""
    (train, test), _ = source.load(dataset)
    x, y = train if split == "train" else test
    order = np.random.default_rng(cfg.bank_seed).permutation(len(x))[offset:offset + n]
    if len(order) < n:
        raise ValueError(f"{dataset} has {len(x)} {split} images; the readings need {offset + n}.")
    return x[order].astype(np.float32), y[order].astype(np.int64)


def counted(cfg: DoughConfig, result: EvolutionResult, labels: np.ndarray | None) -> np.ndarray:
    """Which examples of a bank evolution count (PROTOCOL.md section 8): all of them under the protocol;
    not a test image toward its own class; not a start already in the class when zero-step is excluded."""
    keep = np.ones(len(result), bool)
    if labels is not None:
        keep &= np.tile(labels, len(result) // len(labels)) != result.target
    if cfg.zero_step == "excluded":
        keep &= ~(result.success & (result.steps == 0))
    return keep


def _reading_key(cfg: DoughConfig) -> dict:
    """The readings' settings in a cache key (empty under the protocol, so its keys never change)."""
    return {k: getattr(cfg, k) for k, default in (("starts", "noise"), ("zero_step", "counted"))
            if getattr(cfg, k) != default}


def _bank_settings(cfg: DoughConfig, kappa: float | None):
    return dataclasses.replace(cfg.attack, stop="confidence" if kappa else "argmax", kappa=kappa)


def bank_path(output_dir, cfg: DoughConfig, entry: ModelEntry, dataset: str, stop: str, kappa: float | None,
              model_fingerprint: str) -> Path:
    """Where one bank evolution is cached: keyed by its model's fingerprint and the settings."""
    cache_key = artifacts.config_key({
        "model": model_fingerprint,
        "settings": _bank_settings(cfg, kappa).to_dict(), "n_noise": cfg.n_noise, "constants": list(cfg.constants),
        "bank_seed": cfg.bank_seed, "engine": VERSION, **({"starts": cfg.starts} if cfg.starts != "noise" else {}),
    })
    return artifacts.attack_path(output_dir, "dough",
                                 f"{entry.arch}__{dataset}__{entry.config}__s{entry.seed}__{stop}", cache_key)


def bank_jobs(cfg: DoughConfig) -> list[tuple[str, ModelEntry, str, float | None]]:
    """Every bank evolution: (dataset, model entry, stop rule, kappa); main models under every stop rule."""
    return [(d, e, stop, kappa) for d in cfg.datasets for e in model_entries(cfg) for stop, kappa in bank_rules(cfg, e)]


def classifier_paths(output_dir, cfg: DoughConfig, entry: ModelEntry, model_fingerprint: str) -> tuple[Path, Path]:
    """B6's cached evolutions (``.npz``) and classifier result (``.json``) for one source model."""
    cache_key = artifacts.config_key({
        "model": model_fingerprint,
        "settings": cfg.attack.to_dict(), "n": cfg.classifier_per_class * 10,
        "classifier": [cfg.classifier_arch, cfg.classifier_config], "engine": VERSION, **_reading_key(cfg),
    })
    name = f"classifier__{entry.arch}__{entry.config}__s{entry.seed}"
    evo_path = artifacts.attack_path(output_dir, "dough", name, cache_key)
    return evo_path, evo_path.with_suffix(".json")


def cache_paths(cfg: DoughConfig, output_dir, fingerprint: Callable[[ModelKey], str | None]) -> list[Path]:
    """Every attack file these settings read, without training or attacking (``reproduce --clean``).

    ``fingerprint`` gives a model's fingerprint, or None when its file is
    missing (then no cached result of that model can be read).
    """
    out = []
    for d, e, stop, kappa in bank_jobs(cfg):
        if (fp := fingerprint(e.key(d))) is not None:
            out.append(bank_path(output_dir, cfg, e, d, stop, kappa, fp))
    for e in classifier_sources(cfg):
        if (fp := fingerprint(e.key(CLASSIFIER_DATASET))) is not None:
            out += classifier_paths(output_dir, cfg, e, fp)
    return out


def bank_rules(cfg: DoughConfig, entry: ModelEntry) -> list[tuple[str, float | None]]:
    """The stop rules a model's bank is evolved under: every rule for main models, argmax for the rest."""
    rules = stop_rules(cfg)
    return rules if entry.role == "main" else rules[:1]


def evolve_bank_rules(ctx: RunContext, cfg: DoughConfig, entry: ModelEntry,
                      dataset: str) -> dict[str, EvolutionResult] | None:
    """The bank evolved on one model under each of its stop rules (``bank_rules``), by rule name.

    Each rule's result is cached in its own file (``bank_path``). The rules
    not cached (with ``force``: every rule, once per run) are made in one
    pass (``evolve_observing``), which gives each rule the result a pass of
    its own would, bit for bit (PROTOCOL.md section 8). None when the model
    is below its floor.
    """
    key = entry.key(dataset)
    model, _ = ctx.models.get(key, gated=entry.gated)
    if model is None:
        return None
    rules = bank_rules(cfg, entry)
    fingerprint = ctx.models.fingerprint(key)
    paths = {stop: bank_path(ctx.output_dir, cfg, entry, dataset, stop, kappa, fingerprint) for stop, kappa in rules}
    results = {stop: found for stop, path in paths.items()
               if (found := artifacts.read_cached(path, EvolutionResult.load, force=ctx.stale(path))) is not None}
    missing = [(stop, kappa) for stop, kappa in rules if stop not in results]
    if missing:
        starts, _ = start_bank(cfg, ctx.source, dataset)
        x = np.tile(starts, (10, 1, 1))
        targets = np.repeat(np.arange(10), len(starts))
        if len(missing) == 1:
            stop, kappa = missing[0]
            made = {stop: evolve(model, x, targets, **_bank_settings(cfg, kappa).evolve_options())}
        else:
            options = {k: v for k, v in cfg.attack.evolve_options().items() if k not in ("stop", "kappa")}
            watched = [StopRule.confidence(kappa, stop) if kappa else StopRule.argmax(stop) for stop, kappa in missing]
            made = evolve_observing(model, x, targets, rules=watched, **options)
        for stop, result in made.items():
            result.save(paths[stop])
        results.update(made)
    for path in paths.values():
        ctx.made(path)
    return results


def class_stats(result: EvolutionResult, keep: np.ndarray | None = None) -> np.ndarray:
    """Per class, the ``STATS``: success rate; median steps, mean L2 and Linf of
    delta over the successes; fraction of starts the model already gave that
    class (0 steps, delta = 0). Only the examples of ``keep`` count (``counted``)."""
    out = np.full((10, len(STATS)), np.nan)
    delta = result.delta.reshape(len(result), -1)
    keep = np.ones(len(result), bool) if keep is None else keep
    for c in range(10):
        mine = (result.target == c) & keep
        ok = mine & result.success
        out[c, 0] = result.success[mine].mean() if mine.any() else np.nan
        if ok.any():
            out[c, 1] = np.median(result.steps[ok])
            out[c, 2] = np.linalg.norm(delta[ok], axis=1).mean()
            out[c, 3] = np.abs(delta[ok]).max(axis=1).mean()
        out[c, 4] = np.mean(ok[mine] & (result.steps[mine] == 0)) if mine.any() else np.nan
    return out


def class_patterns(result: EvolutionResult, cfg: DoughConfig, main: bool, model: ModelKey,
                   stop: str, keep: np.ndarray | None = None) -> dict[PatternKey, np.ndarray]:
    """Class patterns of one evolution: every abstraction, K and split half for main models
    (from the successes among ``keep``, ``counted``)."""
    n_bank = cfg.n_noise + len(cfg.constants)
    ok = result.success if keep is None else result.success & keep
    delta = result.delta[ok].reshape(-1, 784)
    targets = result.target[ok]
    start_index = np.tile(np.arange(n_bank), 10)[ok]
    out = {PatternKey(model, stop): abstraction.class_patterns(delta, targets)}
    if not main:
        return out
    for a in abstraction.ABSTRACTIONS:
        out[PatternKey(model, stop, a.name)] = abstraction.class_patterns(delta, targets, a.method, a.p)
    for k in cfg.k_values:
        if k is not None:
            out[PatternKey(model, stop, k=str(k))] = abstraction.class_patterns(
                *abstraction.first_k(delta, targets, start_index, k))
    half_a, half_b = abstraction.split_halves(start_index, n_bank)
    out[PatternKey(model, stop, k="half_a")] = abstraction.class_patterns(delta[half_a], targets[half_a])
    out[PatternKey(model, stop, k="half_b")] = abstraction.class_patterns(delta[half_b], targets[half_b])
    return out


def transfer_rates(models: list, patterns: list, norms: list, starts: np.ndarray, seed: int):
    """B5: how often model Y predicts class c on fresh starts plus model X's pattern of c.

    Each class pattern is scaled to the median L2 norm of model X's single
    perturbations toward that class; the control is a Gaussian pattern of the
    same norm (``abstraction.norm_matched_random``). None entries (models
    below their floor) are skipped.

    Returns:
      ``(rate, random_rate)``, each [X, Y]: mean over classes and starts.
    """
    m = len(models)
    rate, random_rate = np.full((m, m), np.nan), np.full((m, m), np.nan)
    flat = starts.reshape(len(starts), 784)
    for x in range(m):
        if patterns[x] is None:
            continue
        scaled, noise = [], []
        for c in range(10):
            p = patterns[x][c]
            norm = np.linalg.norm(p)
            p = p * (norms[x][c] / norm) if norm > 0 and not np.isnan(norms[x][c]) else np.full(784, np.nan)
            scaled.append(p)
            noise.append(abstraction.norm_matched_random(p, seed * 1000 + x * 10 + c)
                         if not np.any(np.isnan(p)) else np.full(784, np.nan))
        for y in range(m):
            if models[y] is None:
                continue
            hits, random_hits = [], []
            for c in range(10):
                if np.any(np.isnan(scaled[c])):
                    continue
                pred = predict(models[y], np.clip(flat + scaled[c], 0, 1)).argmax(1)
                pred_random = predict(models[y], np.clip(flat + noise[c], 0, 1)).argmax(1)
                hits.append(np.mean(pred == c))
                random_hits.append(np.mean(pred_random == c))
            if hits:
                rate[x, y], random_rate[x, y] = np.mean(hits), np.mean(random_hits)
    return rate, random_rate


def classifier_accuracy(ctx: RunContext, cfg: DoughConfig, entry: ModelEntry) -> ClassifierResult:
    """B6: a fresh classifier trained only on adversarial examples evolved from noise on ``entry`` (MNIST).

    Returns its accuracy on the real test set and the number of training
    examples (successful evolutions); NaN and 0 when the source model is
    below its floor.
    """
    key = entry.key(CLASSIFIER_DATASET)
    model, _ = ctx.models.get(key, gated=entry.gated)
    if model is None:
        return ClassifierResult(float("nan"), 0)
    n = cfg.classifier_per_class * 10
    evo_path, result_path = classifier_paths(ctx.output_dir, cfg, entry, ctx.models.fingerprint(key))

    def evolve_starts():
        targets = np.arange(n) % 10
        if cfg.starts == "test_images":  # training images, each toward a class other than its own
            starts, labels = natural_images(cfg, ctx.source, CLASSIFIER_DATASET, "train", 2 * n)
            starts, _ = other_class_starts(starts, labels, targets)
        else:
            starts = make_starts("uniform", n, cfg.bank_seed + 1)
        return evolve(model, starts, targets, **cfg.attack.evolve_options())

    def compute():
        evolved = artifacts.cached(evo_path, evolve_starts, lambda r, p: r.save(p), EvolutionResult.load,
                                   force=ctx.stale(evo_path))
        ctx.made(evo_path)
        ok = evolved.success & counted(cfg, evolved, None)
        (_, test), _ = ctx.source.load(CLASSIFIER_DATASET)
        _, meta = train_model(cfg.classifier_arch, CLASSIFIER_DATASET, get_train_config(cfg.classifier_config), 0,
                              ((evolved.x_final[ok], evolved.target[ok].astype(np.uint8)), test), verbose=0)
        return {"accuracy": meta["test_accuracy"], "n_train": int(ok.sum())}

    result = artifacts.cached(result_path, compute, lambda r, p: artifacts.write_json(p, r), artifacts.read_json,
                              force=ctx.stale(result_path))
    ctx.made(result_path)
    return ClassifierResult(result["accuracy"], result["n_train"])


def other_class_starts(images: np.ndarray, labels: np.ndarray, targets: np.ndarray):
    """One image per target, in order, each from the pool with a label other than its target.

    Returns the starts and their labels; ``ValueError`` if the pool runs out.
    """
    used = np.zeros(len(images), bool)
    picked = []
    for t in targets:
        free = np.flatnonzero(~used & (labels != t))
        if not len(free):
            raise ValueError(f"no image left of a class other than {t} among {len(images)}.")
        used[free[0]] = True
        picked.append(free[0])
    return images[picked], labels[picked]


def class_median_norms(result: EvolutionResult, keep: np.ndarray | None = None) -> np.ndarray:
    """B5: per class, the median L2 norm of the perturbations that moved a start into it.

    Starts the model already gave the class succeed after 0 steps with a zero
    perturbation; they are left out, or they would shrink the norm the
    transferred patterns are scaled to (NaN for a class with no moved start).
    """
    delta = result.delta.reshape(len(result), -1)
    norms = np.full(10, np.nan)
    for c in range(10):
        ok = (result.target == c) & result.success & (result.steps > 0) & (True if keep is None else keep)
        if ok.any():
            norms[c] = np.median(np.linalg.norm(delta[ok], axis=1))
    return norms


def transfer_starts(cfg: DoughConfig, source, dataset: str) -> np.ndarray:
    """B5's fresh starts: uniform noise, or the test images after the bank's under ``starts="test_images"``."""
    if cfg.starts == "test_images":
        return natural_images(cfg, source, dataset, "test", cfg.transfer_starts,
                              offset=cfg.n_noise + len(cfg.constants))[0]
    return make_starts("uniform", cfg.transfer_starts, cfg.bank_seed + 2)


def summarize(cfg: DoughConfig, ctx: RunContext) -> DoughSummary:
    """Runs every paper B evolution (cached) and returns the summary of their results."""
    entries = model_entries(cfg)
    rules = stop_rules(cfg)
    models, patterns, stats, median_norms = {}, {}, {}, {}
    jobs = [(d, e) for d in cfg.datasets for e in entries]
    bank_labels = {d: start_bank(cfg, ctx.source, d)[1] for d in cfg.datasets}  # once per dataset, not per job
    reading = [r for r, on in (("test-image starts", cfg.starts == "test_images"),
                               ("zero-step excluded", cfg.zero_step == "excluded")) if on]
    report = ctx.progress_line("paper B evolutions" + "".join(f", {r}" for r in reading))
    for n, (d, e) in enumerate(jobs):
        if report:
            report(n, len(jobs), f"({e.arch}, {d}, {e.config}, seed {e.seed})")
        results = evolve_bank_rules(ctx, cfg, e, d)
        _, model_meta = ctx.models.get(e.key(d), gated=False)
        models[e.key(d)] = ModelRecord(e.role, float(model_meta["test_accuracy"]), results is not None)
        for stop, result in (results or {}).items():
            keep = counted(cfg, result, bank_labels[d])
            if stop == "argmax":
                stats[e.key(d)] = class_stats(result, keep)
                median_norms[e.key(d)] = class_median_norms(result, keep)
            patterns.update(class_patterns(result, cfg, e.role == "main" and stop == "argmax", e.key(d), stop, keep))
    if report:
        report(len(jobs), len(jobs), "evolutions done")
        report.close()

    derived, transfers = {}, {}
    for d in cfg.datasets:
        (x_train, y_train), _ = ctx.source.load(d)[0]
        for variant in abstraction.DATASET_VARIANTS:
            derived[(d, variant)] = abstraction.dataset_patterns(x_train.reshape(-1, 784), y_train, variant)
        mains = [e for e in entries if e.role == "main"]
        nets, main_patterns, norms = [], [], []
        for e in mains:
            model, _ = ctx.models.get(e.key(d), gated=True)
            nets.append(model)
            main_patterns.append(patterns[PatternKey(e.key(d))] if model is not None else None)
            norms.append(median_norms[e.key(d)] if model is not None else None)
        fresh = transfer_starts(cfg, ctx.source, d)
        rate, random_rate = transfer_rates(nets, main_patterns, norms, fresh, cfg.bank_seed)
        transfers[d] = Transfer(tuple(e.key(d) for e in mains), rate, random_rate)

    classifiers = {e.key(CLASSIFIER_DATASET): classifier_accuracy(ctx, cfg, e) for e in classifier_sources(cfg)}
    return DoughSummary(
        config=cfg, abstractions=tuple(a.name for a in abstraction.ABSTRACTIONS),
        k_values=tuple("all" if k is None else str(k) for k in cfg.k_values),
        stops=tuple(name for name, _ in rules), models=models, patterns=patterns, stats=stats, derived=derived,
        transfers=transfers, classifiers=classifiers, excluded=list(ctx.models.excluded))
