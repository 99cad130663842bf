"""Where a run's datasets come from: the real files, or a synthetic stand-in (no files needed).

A ``DataSource`` is passed to the pipeline in its run context (``tfadv.context``),
so tests and smoke runs can swap the real MNIST / Fashion-MNIST for
``SyntheticData`` and run every stage without the files (STYLE.md habit 5).
"""

from __future__ import annotations

import dataclasses
from typing import Protocol

import numpy as np

from tfadv import data
from tfadv.idx import idx_sha256


class DataSource(Protocol):
    """Loads a dataset by name: ``((x_train, y_train), (x_test, y_test)), DatasetInfo``."""

    def load(self, name: str) -> tuple[data.Splits, data.DatasetInfo]: ...


@dataclasses.dataclass(frozen=True)
class RealData:
    """MNIST and Fashion-MNIST from the search path of ``tfadv.data`` (``data_dir`` first)."""

    data_dir: str | None = None
    verify: bool = True

    def load(self, name: str) -> tuple[data.Splits, data.DatasetInfo]:
        return data.load_dataset_with_info(name, self.data_dir, verify=self.verify)


@dataclasses.dataclass(frozen=True)
class SyntheticData:
    """Tiny random 28x28 images with learnable class structure, for tests and smoke runs.

    Class ``c`` of a dataset brightens its own set of pixel blocks over uniform
    noise, so a small net learns it within an epoch; each dataset name gets its
    own templates. Images are stored as uint8 like the real data and scaled to
    [0, 1]; the info records a fingerprint of the arrays and ``verified=False``.
    """

    n_train: int = 600
    n_test: int = 200
    seed: int = 0

    def load(self, name: str) -> tuple[data.Splits, data.DatasetInfo]:
        name = data.canonical_name(name)
        salt = data.DATASETS.index(name)
        rng = np.random.default_rng([self.seed, salt])
        templates = rng.random((data.NUM_CLASSES, 7, 7)) < 0.25
        raw = {}
        for split, n in (("train", self.n_train), ("t10k", self.n_test)):
            labels = rng.integers(0, data.NUM_CLASSES, n).astype(np.uint8)
            noise = rng.integers(0, 110, (n, 28, 28))
            blocks = np.kron(templates[labels], np.ones((4, 4), bool))
            raw[f"{split}-images-idx3-ubyte"] = np.where(blocks, 255 - noise, noise).astype(np.uint8)
            raw[f"{split}-labels-idx1-ubyte"] = labels
        digests = {b: idx_sha256(raw[b]) for b in data.FILES}
        splits = tuple((_frozen(raw[f"{s}-images-idx3-ubyte"].astype(np.float32) / 255.0),
                        _frozen(raw[f"{s}-labels-idx1-ubyte"])) for s in ("train", "t10k"))
        where = f"synthetic (seed {self.seed}, {self.n_train} train / {self.n_test} test images)"
        return splits, data.DatasetInfo(name, where, digests, data.fingerprint_of(digests), verified=False)


def _frozen(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array
