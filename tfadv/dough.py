"""Paper B ("Neural Networks Playing Dough"): models and evolutions -> raw numbers.

One fixed bank of start inputs (``n_noise`` uniform-noise images from a fixed
seed plus constant images) is evolved toward every class on every model
(cross-entropy, stopping at the first step the rule holds). The perturbations
``x_adv - x_start`` are abstracted into class patterns (``tfadv.abstraction``).
Transfer of patterns between models (B5) and a classifier trained only on
adversarial examples (B6) need the models, so they are measured here too.
``summarize`` returns flat-keyed arrays; ``dough_analysis`` derives the rest.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np

from tfadv import abstraction, artifacts, attack, data
from tfadv.config import DoughConfig, get_train_config
from tfadv.dough_analysis import STATS
from tfadv.models import predict
from tfadv.progress import ProgressLine
from tfadv.train import ModelBank, train_model

ENGINE_VERSION = 1
CLASSIFIER_DATASET = "mnist"
logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    """One model of paper B and its role: main, variant, activation, untrained or shuffled."""

    arch: str
    config: str
    seed: int
    role: str

    @property
    def gated(self) -> bool:
        """Only main models (and the activation variant) are held to their floors."""
        return self.role in ("main", "activation")

    @property
    def name(self) -> str:
        return f"{self.arch}|{self.config}|{self.seed}"


def model_entries(cfg: DoughConfig) -> list[ModelEntry]:
    """Every model of one dataset, in training order."""
    out = []
    for s in range(cfg.seeds):
        for arch, main in cfg.archs:
            out.append(ModelEntry(arch, main, s, "main"))
        out.append(ModelEntry(*cfg.activation_variant, s, "activation"))
        for arch, main in cfg.archs:
            out += [ModelEntry(arch, c, s, "variant") for c in cfg.variant_configs if c != main]
        for arch, _ in cfg.archs:
            out.append(ModelEntry(arch, "untrained", s, "untrained"))
        for arch, shuffled in cfg.shuffled_configs:
            out.append(ModelEntry(arch, shuffled, s, "shuffled"))
    return out


def models_needed(cfg: DoughConfig) -> list[tuple[str, str, str, int]]:
    return [(e.arch, d, e.config, e.seed) for d in cfg.datasets for e in model_entries(cfg)]


def start_bank(cfg: DoughConfig) -> np.ndarray:
    """The controlled inputs: ``n_noise`` U[0,1] images (fixed seed), then the constants."""
    noise = attack.make_starts("uniform", cfg.n_noise, cfg.bank_seed)
    constants = np.stack([np.full((28, 28), c, np.float32) for c in cfg.constants]) if cfg.constants else \
        np.zeros((0, 28, 28), np.float32)
    return np.concatenate([noise, constants])


def stop_rules(cfg: DoughConfig) -> list[tuple[str, float | None]]:
    """(name, kappa): argmax first, then the confidence thresholds."""
    return [("argmax", None)] + [(f"kappa{k:g}", k) for k in cfg.kappas]


def evolve_bank(bank: ModelBank, output_dir, cfg: DoughConfig, entry: ModelEntry, dataset: str,
                stop: str, kappa: float | None, *, force: bool = False) -> attack.EvolutionResult | None:
    """Every start of the bank evolved toward every class on one model (cached).

    Example ``c * n_bank + i`` is start ``i`` evolved toward class ``c``.
    None when the model is below its floor.
    """
    model, _ = bank.get(entry.arch, dataset, entry.config, entry.seed, gated=entry.gated)
    if model is None:
        return None
    settings = dataclasses.replace(cfg.attack, stop="confidence" if kappa else "argmax", kappa=kappa)
    starts = start_bank(cfg)
    key = artifacts.config_key({
        "model": bank.model_key(entry.arch, dataset, entry.config, entry.seed),
        "settings": settings.to_dict(), "n_noise": cfg.n_noise, "constants": list(cfg.constants),
        "bank_seed": cfg.bank_seed, "engine": ENGINE_VERSION,
    })
    path = artifacts.attack_path(output_dir, "dough", f"{entry.arch}__{dataset}__{entry.config}__s{entry.seed}__{stop}", key)

    def compute():
        x = np.tile(starts, (10, 1, 1))
        targets = np.repeat(np.arange(10), len(starts))
        return attack.evolve(model, x, targets, **settings.evolve_options())

    return artifacts.cached(path, compute, lambda r, p: r.save(p), attack.EvolutionResult.load, force=force)


def _class_stats(result: attack.EvolutionResult) -> np.ndarray:
    """Per class, the ``STATS``: success rate; median steps, mean L2 and Linf of
    delta over the successes; fraction of starts the model already gave that
    class (0 steps, delta = 0)."""
    out = np.full((10, len(STATS)), np.nan)
    delta = result.delta.reshape(len(result), -1)
    for c in range(10):
        mine = result.target == c
        ok = mine & result.success
        out[c, 0] = result.success[mine].mean()
        if ok.any():
            out[c, 1] = np.median(result.steps[ok])
            out[c, 2] = np.linalg.norm(delta[ok], axis=1).mean()
            out[c, 3] = np.abs(delta[ok]).max(axis=1).mean()
        out[c, 4] = np.mean(ok[mine] & (result.steps[mine] == 0))
    return out


def _patterns(result: attack.EvolutionResult, cfg: DoughConfig, main: bool, prefix: str) -> dict:
    """Class patterns of one evolution: every abstraction, K and split half for main models."""
    n_bank = cfg.n_noise + len(cfg.constants)
    ok = result.success
    delta = result.delta[ok].reshape(-1, 784)
    targets = result.target[ok]
    start_index = np.tile(np.arange(n_bank), 10)[ok]
    out = {f"{prefix}|mean|all": abstraction.class_patterns(delta, targets)}
    if not main:
        return out
    for a in abstraction.ABSTRACTIONS:
        out[f"{prefix}|{a.name}|all"] = abstraction.class_patterns(delta, targets, a.method, a.p)
    for k in cfg.k_values:
        if k is not None:
            out[f"{prefix}|mean|{k}"] = abstraction.class_patterns(*abstraction.first_k(delta, targets, start_index, k))
    half_a, half_b = abstraction.split_halves(start_index, n_bank)
    out[f"{prefix}|mean|half_a"] = abstraction.class_patterns(delta[half_a], targets[half_a])
    out[f"{prefix}|mean|half_b"] = abstraction.class_patterns(delta[half_b], targets[half_b])
    return out


def transfer_rates(models: list, patterns: list, norms: list, starts: np.ndarray, seed: int):
    """B5: how often model Y predicts class c on fresh starts plus model X's pattern of c.

    Each class pattern is scaled to the median L2 norm of model X's single
    perturbations toward that class; the control is a Gaussian pattern of the
    same norm (``abstraction.norm_matched_random``).

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


def classifier_accuracy(bank: ModelBank, output_dir, cfg: DoughConfig, entry: ModelEntry, *,
                        data_dir=None, force: bool = False) -> dict:
    """B6: a fresh classifier trained only on adversarial examples evolved from noise on ``entry``.

    Returns a dict with the test accuracy on the real test set and the number
    of training examples (successful evolutions).
    """
    model, _ = bank.get(entry.arch, CLASSIFIER_DATASET, entry.config, entry.seed, gated=entry.gated)
    if model is None:
        return {"accuracy": float("nan"), "n_train": 0}
    n = cfg.classifier_per_class * 10
    key = artifacts.config_key({
        "model": bank.model_key(entry.arch, CLASSIFIER_DATASET, entry.config, entry.seed),
        "settings": cfg.attack.to_dict(), "n": n, "classifier": [cfg.classifier_arch, cfg.classifier_config],
        "engine": ENGINE_VERSION,
    })
    name = f"classifier__{entry.arch}__{entry.config}__s{entry.seed}"
    evo_path = artifacts.attack_path(output_dir, "dough", name, key)
    result_path = evo_path.with_suffix(".json")

    def evolve():
        starts = attack.make_starts("uniform", n, cfg.bank_seed + 1)
        return attack.evolve(model, starts, np.arange(n) % 10, **cfg.attack.evolve_options())

    def compute():
        evolved = artifacts.cached(evo_path, evolve, lambda r, p: r.save(p), attack.EvolutionResult.load,
                                   force=force)
        ok = evolved.success
        _, (x_test, y_test) = data.load_dataset(CLASSIFIER_DATASET, data_dir)
        config = get_train_config(cfg.classifier_config)
        _, meta = train_model(cfg.classifier_arch, CLASSIFIER_DATASET, config, 0,
                              splits=((evolved.x_final[ok], evolved.target[ok].astype(np.uint8)), (x_test, y_test)),
                              verbose=0)
        return {"accuracy": meta["test_accuracy"], "n_train": int(ok.sum())}

    return artifacts.cached(result_path, compute, lambda r, p: artifacts.write_json(p, r), artifacts.read_json,
                            force=force)


def summarize(cfg: DoughConfig, output_dir, *, data_dir=None, force: bool = False,
              bank: ModelBank | None = None, verbose=0, progress=True) -> dict:
    """Runs every paper B evolution (cached) and returns its numbers.

    Keys (``|``-separated): ``pattern|<dataset>|<arch>|<config>|<seed>|<stop>|<abstraction>|<K>``
    (10 x 784 class patterns; K is ``all``, a number, or ``half_a``/``half_b``),
    ``stats|<dataset>|<arch>|<config>|<seed>`` (10 x ``len(STATS)``),
    ``dataset|<dataset>|<variant>`` (10 x 784),
    ``transfer|<dataset>`` and ``transfer_random|<dataset>`` ([X, Y] rates),
    ``accuracy|<dataset>|<arch>|<config>|<seed>``; ``meta`` holds model lists,
    exclusions and B6's accuracies.
    """
    bank = bank or ModelBank(output_dir, data_dir=data_dir, force=force, verbose=verbose)
    entries = model_entries(cfg)
    rules = stop_rules(cfg)
    out: dict = {}
    meta = {"datasets": list(cfg.datasets), "entries": [dataclasses.asdict(e) for e in entries],
            "stops": [name for name, _ in rules], "config": dataclasses.asdict(cfg),
            "abstractions": [a.name for a in abstraction.ABSTRACTIONS],
            "k_values": ["all" if k is None else k for k in cfg.k_values],
            "transfer_models": {}, "classifier": {}, "used": {}}
    jobs = [(d, e, stop, kappa) for d in cfg.datasets for e in entries
            for stop, kappa in (rules if e.role == "main" else rules[:1])]
    report = ProgressLine("paper B evolutions") if progress else None
    for n, (d, e, stop, kappa) in enumerate(jobs):
        if report:
            report(n, len(jobs), f"({e.arch}, {d}, {e.config}, seed {e.seed}, {stop})")
        result = evolve_bank(bank, output_dir, cfg, e, d, stop, kappa, force=force)
        _, model_meta = bank.get(e.arch, d, e.config, e.seed, gated=False)
        out[f"accuracy|{d}|{e.name}"] = np.array(model_meta["test_accuracy"])
        meta["used"][f"{d}|{e.name}"] = result is not None
        if result is None:
            continue
        if stop == "argmax":
            out[f"stats|{d}|{e.name}"] = _class_stats(result)
        out.update(_patterns(result, cfg, e.role == "main" and stop == "argmax", f"pattern|{d}|{e.name}|{stop}"))
    if report:
        report(len(jobs), len(jobs), "evolutions done")
        report.close()

    for d in cfg.datasets:
        (x_train, y_train), _ = data.load_dataset(d, data_dir)
        for variant in abstraction.DATASET_VARIANTS:
            out[f"dataset|{d}|{variant}"] = abstraction.dataset_patterns(x_train.reshape(-1, 784), y_train, variant)
        mains = [e for e in entries if e.role == "main"]
        models, patterns, norms = [], [], []
        for e in mains:
            model, _ = bank.get(e.arch, d, e.config, e.seed, gated=True)
            key = f"pattern|{d}|{e.name}|argmax|mean|all"
            models.append(model)
            patterns.append(out.get(key))
            result = evolve_bank(bank, output_dir, cfg, e, d, "argmax", None) if model is not None else None
            norms.append(_class_median_norms(result) if result is not None else None)
        fresh = attack.make_starts("uniform", cfg.transfer_starts, cfg.bank_seed + 2)
        rate, random_rate = transfer_rates(models, patterns, norms, fresh, cfg.bank_seed)
        out[f"transfer|{d}"], out[f"transfer_random|{d}"] = rate, random_rate
        meta["transfer_models"][d] = [e.name for e in mains]

    for e in entries:
        if e.seed == 0 and e.role in ("main", "untrained") and e.arch in dict(cfg.archs):
            meta["classifier"][e.name] = classifier_accuracy(bank, output_dir, cfg, e, data_dir=data_dir, force=force)
    meta["excluded"] = bank.excluded
    out["meta"] = meta
    return out


def _class_median_norms(result: attack.EvolutionResult) -> np.ndarray:
    delta = result.delta.reshape(len(result), -1)
    norms = np.full(10, np.nan)
    for c in range(10):
        ok = (result.target == c) & result.success
        if ok.any():
            norms[c] = np.median(np.linalg.norm(delta[ok], axis=1))
    return norms
