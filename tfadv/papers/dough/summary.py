"""Paper B's summary: the typed numbers every ``dough_*`` figure, table and claim is drawn from.

Models are named by their ``ModelKey``; a class pattern by a ``PatternKey``
(model, stop rule, abstraction method, K). A model below its accuracy floor
is recorded as not used and legitimately has no patterns or statistics: its
lookups return None. Any other value that is missing raises ``KeyError`` --
when the summary is built or loaded (``DoughSummary.__post_init__`` checks
that every value its models and settings call for is there), and at lookup --
so a missing number can never be read as a failed claim. Numpy only.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from tfadv import artifacts
from tfadv.abstraction import DATASET_VARIANTS
from tfadv.config import AttackSettings, DoughConfig
from tfadv.keys import ModelKey
from tfadv.papers.dough.plan import CLASSIFIER_DATASET, classifier_sources

# Columns of the per-class attack statistics (``DoughSummary.stats``, ``dough_tab4``).
STATS = ("success rate", "median steps", "mean L2 of delta", "mean Linf of delta", "already the class")
N_CLASSES, PIXELS = 10, 784


@dataclasses.dataclass(frozen=True, order=True)
class PatternKey:
    """Which class patterns: a model, its stop rule, the abstraction method and K.

    ``k`` is ``"all"`` (the whole start bank), a number of first starts
    (``"10"``), or ``"half_a"``/``"half_b"`` (even/odd starts, claim B1).
    """

    model: ModelKey
    stop: str = "argmax"
    method: str = "mean"
    k: str = "all"

    def __str__(self) -> str:
        return f"{self.method} pattern (K {self.k}, stop {self.stop}) of {self.model}"


@dataclasses.dataclass(frozen=True)
class ModelRecord:
    """One model of the summary: its role (``plan.ROLES``), test accuracy, and whether it was used."""

    role: str
    test_accuracy: float
    used: bool


@dataclasses.dataclass(frozen=True, eq=False)
class Transfer:
    """Claim B5 on one dataset: rates [X, Y] of model X's patterns moving model Y, and of random ones."""

    models: tuple[ModelKey, ...]
    rate: np.ndarray
    random_rate: np.ndarray


@dataclasses.dataclass(frozen=True)
class ClassifierResult:
    """Claim B6: test accuracy of a classifier trained on one source model's adversarial examples."""

    accuracy: float
    n_train: int


@dataclasses.dataclass(frozen=True, eq=False)
class DoughSummary:
    """Paper B's numbers (PROTOCOL.md sections 3-6).

    Attributes:
      config: the ``DoughConfig`` that made it.
      abstractions, k_values, stops: the abstraction variants, K values
        (strings, ``"all"`` last) and stop rules the patterns were made with.
      models: every model of every dataset, in training order.
      patterns: (10, 784) class patterns of the used models.
      stats: per used model, (10, ``len(STATS)``) attack statistics.
      derived: per (dataset, variant), (10, 784) dataset-derived patterns.
      transfers: per dataset, claim B5's rates between the main models.
      classifiers: per source model (seed 0, MNIST), claim B6's classifier.
      excluded: models left out below their accuracy floor
        (``ModelBank.excluded``).
    """

    config: DoughConfig
    abstractions: tuple[str, ...]
    k_values: tuple[str, ...]
    stops: tuple[str, ...]
    models: dict[ModelKey, ModelRecord]
    patterns: dict[PatternKey, np.ndarray]
    stats: dict[ModelKey, np.ndarray]
    derived: dict[tuple[str, str], np.ndarray]
    transfers: dict[str, Transfer]
    classifiers: dict[ModelKey, ClassifierResult]
    excluded: list[dict]

    def __post_init__(self):
        missing = [str(k) for m, rec in self.models.items() if rec.used
                   for k in self.expected_patterns(m) if k not in self.patterns]
        missing += [f"statistics of {m}" for m, rec in self.models.items() if rec.used and m not in self.stats]
        missing += [f"{v} pattern of {d}" for d in self.datasets for v in DATASET_VARIANTS
                    if (d, v) not in self.derived]
        missing += [f"transfer rates on {d}" for d in self.datasets if d not in self.transfers]
        missing += [f"B6 classifier from {e.key(CLASSIFIER_DATASET)}" for e in classifier_sources(self.config)
                    if e.key(CLASSIFIER_DATASET) not in self.classifiers]
        if missing:
            raise KeyError(f"Paper B summary lacks {len(missing)} value(s): {'; '.join(missing[:5])}"
                           + (" ..." if len(missing) > 5 else ""))

    # ------------------------------------------------------------ settings

    @property
    def datasets(self) -> tuple[str, ...]:
        return self.config.datasets

    @property
    def archs(self) -> list[tuple[str, str]]:
        """(architecture, main configuration) of the FC net and the CNN."""
        return list(self.config.archs)

    @property
    def activation(self) -> tuple[str, str]:
        return tuple(self.config.activation_variant)

    @property
    def variant_configs(self) -> list[str]:
        return list(self.config.variant_configs)

    @property
    def shuffled(self) -> dict[str, str]:
        """Per architecture, its shuffled-label control configuration."""
        return dict(self.config.shuffled_configs)

    @property
    def seeds(self) -> int:
        return self.config.seeds

    def main_config(self, arch: str) -> str:
        return dict(self.archs + [self.activation])[arch]

    def expected_patterns(self, model: ModelKey) -> list[PatternKey]:
        """The patterns a used model has: every variant for a main model, the mean pattern otherwise."""
        keys = [PatternKey(model)]
        if self.record(model).role == "main":
            keys += [PatternKey(model, method=a) for a in self.abstractions]
            keys += [PatternKey(model, k=k) for k in self.k_values + ("half_a", "half_b") if k != "all"]
            keys += [PatternKey(model, stop=s) for s in self.stops if s != "argmax"]
        return keys

    # ------------------------------------------------------------ lookups (raise when missing)

    def record(self, model: ModelKey) -> ModelRecord:
        try:
            return self.models[model]
        except KeyError:
            raise KeyError(f"{model} is not a model of this paper B summary.") from None

    def is_used(self, model: ModelKey) -> bool:
        """False for a model below its accuracy floor (it has no patterns or statistics)."""
        return self.record(model).used

    def pattern(self, model: ModelKey, *, stop: str = "argmax", method: str = "mean",
                k: str = "all") -> np.ndarray | None:
        """A (10, 784) class-pattern array, or None when the model was not used."""
        key = PatternKey(model, stop, method, str(k))
        if not self.is_used(model):
            return None
        try:
            return self.patterns[key]
        except KeyError:
            raise KeyError(f"No {key} in this paper B summary.") from None

    def class_stats(self, model: ModelKey) -> np.ndarray | None:
        """(10, ``len(STATS)``) attack statistics, or None when the model was not used."""
        if not self.is_used(model):
            return None
        try:
            return self.stats[model]
        except KeyError:
            raise KeyError(f"No attack statistics of {model} in this paper B summary.") from None

    def accuracy(self, model: ModelKey) -> float:
        """Test accuracy (recorded for every model, used or not)."""
        return self.record(model).test_accuracy

    def derived_pattern(self, dataset: str, variant: str = "mean_diff") -> np.ndarray:
        try:
            return self.derived[(dataset, variant)]
        except KeyError:
            raise KeyError(f"No {variant} dataset pattern of {dataset} in this paper B summary.") from None

    def transfer(self, dataset: str) -> Transfer:
        try:
            return self.transfers[dataset]
        except KeyError:
            raise KeyError(f"No transfer rates on {dataset} in this paper B summary.") from None

    def classifier(self, arch: str, config: str, seed: int = 0) -> ClassifierResult:
        """B6's classifier trained on the evolutions of ``arch`` (MNIST, ``config``, ``seed``)."""
        model = ModelKey(arch, CLASSIFIER_DATASET, config, seed)
        try:
            return self.classifiers[model]
        except KeyError:
            raise KeyError(f"No B6 classifier from {model} in this paper B summary.") from None

    def exclusion(self, model: ModelKey) -> dict | None:
        """The exclusion record of a model left out below its floor, or None."""
        return next((e for e in self.excluded if e["key"] == model.to_list()), None)

    # ------------------------------------------------------------ one .npz (keys parsed here only)

    def save(self, path) -> Path:
        """Writes the summary to one ``.npz``: stacked arrays, their keys and the rest as JSON."""
        arrays = {"patterns": _stack(self.patterns.values(), (N_CLASSES, PIXELS)),
                  "stats": _stack(self.stats.values(), (N_CLASSES, len(STATS))),
                  "derived": _stack(self.derived.values(), (N_CLASSES, PIXELS))}
        for i, t in enumerate(self.transfers.values()):
            arrays[f"transfer_rate_{i}"], arrays[f"transfer_random_{i}"] = t.rate, t.random_rate
        meta = {
            "config": dataclasses.asdict(self.config), "abstractions": list(self.abstractions),
            "k_values": list(self.k_values), "stops": list(self.stops),
            "models": [[m.to_list(), r.role, r.test_accuracy, r.used] for m, r in self.models.items()],
            "pattern_keys": [[k.model.to_list(), k.stop, k.method, k.k] for k in self.patterns],
            "stats_keys": [m.to_list() for m in self.stats],
            "derived_keys": [list(k) for k in self.derived],
            "transfers": [[d, [m.to_list() for m in t.models]] for d, t in self.transfers.items()],
            "classifiers": [[m.to_list(), c.accuracy, c.n_train] for m, c in self.classifiers.items()],
            "excluded": self.excluded,
        }
        return artifacts.save_arrays({**arrays, "meta": meta}, path)

    @classmethod
    def load(cls, path) -> "DoughSummary":
        """Reads what ``save`` wrote; KeyError when a value is missing."""
        arrays = artifacts.load_arrays(path)
        meta = arrays.pop("meta")

        def key(values) -> ModelKey:
            model, dataset, config, seed = values
            return ModelKey(model, dataset, config, int(seed))

        return cls(
            config=_config(meta["config"]), abstractions=tuple(meta["abstractions"]),
            k_values=tuple(str(k) for k in meta["k_values"]), stops=tuple(meta["stops"]),
            models={key(m): ModelRecord(role, float(acc), bool(used)) for m, role, acc, used in meta["models"]},
            patterns={PatternKey(key(m), stop, method, k): p
                      for (m, stop, method, k), p in _zip(meta["pattern_keys"], arrays["patterns"])},
            stats={key(m): a for m, a in _zip(meta["stats_keys"], arrays["stats"])},
            derived={(d, v): a for (d, v), a in _zip(meta["derived_keys"], arrays["derived"])},
            transfers={d: Transfer(tuple(key(m) for m in models), arrays[f"transfer_rate_{i}"],
                                   arrays[f"transfer_random_{i}"])
                       for i, (d, models) in enumerate(meta["transfers"])},
            classifiers={key(m): ClassifierResult(float(acc), int(n)) for m, acc, n in meta["classifiers"]},
            excluded=list(meta["excluded"]))


def _stack(arrays, shape) -> np.ndarray:
    arrays = list(arrays)
    return np.stack(arrays) if arrays else np.zeros((0, *shape))


def _zip(keys: list, arrays: np.ndarray):
    if len(keys) != len(arrays):
        raise KeyError(f"Paper B summary file holds {len(arrays)} arrays for {len(keys)} keys.")
    return zip(keys, arrays)


def _tuples(value):
    """JSON lists back to the tuples of the frozen config."""
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    return value


def _config(d: dict) -> DoughConfig:
    fields = {k: _tuples(v) for k, v in d.items() if k != "attack"}
    return DoughConfig(**fields, attack=AttackSettings(**{k: _tuples(v) for k, v in d["attack"].items()}))
