"""The identity of a trained model: one value used for paths, cache keys, metadata and logs."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True, order=True)
class ModelKey:
    """A model of the zoo trained on a dataset with a configuration and a seed (PROTOCOL.md section 2).

    Attributes:
      model: a name from ``tfadv.models.MODELS``.
      dataset: ``"mnist"`` or ``"fashion_mnist"``.
      config: a training configuration name from ``tfadv.config.TRAIN_CONFIGS``.
      seed: the training seed (a paper's "round").
    """

    model: str
    dataset: str
    config: str
    seed: int

    @property
    def filename(self) -> str:
        """``<model>__<dataset>__<config>__s<seed>.h5``, the model's file under ``models/``."""
        return f"{self.model}__{self.dataset}__{self.config}__s{self.seed}.h5"

    def to_list(self) -> list:
        """``[model, dataset, config, seed]``, as JSON records (manifest, exclusions) hold it."""
        return [self.model, self.dataset, self.config, self.seed]

    def __str__(self) -> str:
        return f"{self.model} on {self.dataset} ({self.config}, seed {self.seed})"
