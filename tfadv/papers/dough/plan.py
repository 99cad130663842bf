"""Paper B's plan: which models it uses, in which role, and which stop rules (no TensorFlow).

PROTOCOL.md sections 2-3: per training seed, the FC net and the CNN at their
main configuration, the sigmoid CNN (activation variant), the B3 training
configuration variants, and the untrained and shuffled-label controls; each
trained on every dataset. Only main models and the activation variant are
held to their accuracy floors.
"""

from __future__ import annotations

import dataclasses

from tfadv.config import DoughConfig
from tfadv.keys import ModelKey

VERSION = 1  # part of every paper B cache key ("engine"); bump when a change to the stages changes results
CLASSIFIER_DATASET = "mnist"  # B6's classifier is trained and tested on MNIST
ROLES = ("main", "activation", "variant", "untrained", "shuffled")


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    """One model of paper B (on any dataset) and its role (one of ``ROLES``)."""

    arch: str
    config: str
    seed: int
    role: str

    @property
    def gated(self) -> bool:
        """Only main models (and the activation variant) are held to their floors."""
        return self.role in ("main", "activation")

    def key(self, dataset: str) -> ModelKey:
        """The model trained on ``dataset``."""
        return ModelKey(self.arch, dataset, self.config, self.seed)


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


def models_needed(cfg: DoughConfig) -> list[ModelKey]:
    """Every model paper B uses: each dataset in turn, models in training order."""
    return [e.key(d) for d in cfg.datasets for e in model_entries(cfg)]


def stop_rules(cfg: DoughConfig) -> list[tuple[str, float | None]]:
    """(name, kappa): argmax first, then the confidence thresholds (``kappa0.5``, ...)."""
    return [("argmax", None)] + [(f"kappa{k:g}", k) for k in cfg.kappas]


def classifier_sources(cfg: DoughConfig) -> list[ModelEntry]:
    """B6's source models: seed 0 of each architecture, trained (main) and untrained."""
    archs = dict(cfg.archs)
    return [e for e in model_entries(cfg) if e.seed == 0 and e.role in ("main", "untrained") and e.arch in archs]
