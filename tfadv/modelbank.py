"""The trained models of one run: trained once, reused from their HDF5 files, held to their floors.

A saved model is ``models/<model>__<dataset>__<config>__s<seed>.h5`` under an
output folder (``ModelKey.filename``). ``ensure_model`` reuses a file made
with the same settings and data instead of training again; ``ModelBank``
keeps a run's models in memory and applies the accuracy floors of
PROTOCOL.md section 2.
"""

from __future__ import annotations

import logging
from pathlib import Path

import keras

from tfadv import artifacts
from tfadv.config import TrainConfig, get_train_config
from tfadv.keys import ModelKey
from tfadv.sources import DataSource
from tfadv.training import FORMAT_VERSION, ModelFileError, load_model, save_model, train_model

logger = logging.getLogger(__name__)


def ensure_model(output_dir, key: ModelKey, source: DataSource, *, config: TrainConfig | None = None,
                 force: bool = False, verbose="auto") -> tuple[keras.Model, dict, Path]:
    """Loads ``key``'s model from ``output_dir`` if made with these settings, else trains and saves it.

    A file is reused when its model, dataset, configuration, seed and data
    fingerprint all match; ``force`` trains again regardless.

    Args:
      output_dir: the run's output folder.
      key: which model.
      source: where the training and test data come from.
      config: the training configuration; default the one registered under
        ``key.config``.
      force: train again even if a matching file exists.
      verbose: Keras' ``fit`` verbosity.

    Returns:
      ``(model, metadata, path)``.
    """
    config = config or get_train_config(key.config)
    path = artifacts.model_path(output_dir, key)
    splits, info = source.load(key.dataset)
    wanted = {"model": key.model, "dataset": key.dataset, "config": config.to_dict(), "seed": int(key.seed),
              "data_fingerprint": info.fingerprint, "format_version": FORMAT_VERSION}
    if path.exists() and not force:
        try:
            model, metadata = load_model(path)
        except ModelFileError as e:
            logger.warning("%s; training it again.", e)
        else:
            if all(metadata.get(k) == v for k, v in wanted.items()):
                logger.info("Reusing %s (test accuracy %.4f).", path, metadata["test_accuracy"])
                return model, metadata, path
            logger.info("%s was made with other settings; training it again.", path)
    model, metadata = train_model(key.model, key.dataset, config, key.seed, splits, data_info=info, verbose=verbose)
    save_model(model, path, metadata)
    logger.info("Saved %s.", path)
    return model, metadata, path


class ModelBank:
    """The trained models of one run: trained or reused once, kept in memory.

    ``get`` applies the accuracy floor: a gated model below its floor is not
    used (returns None), and the run says so (``excluded``).
    """

    def __init__(self, output_dir, source: DataSource, *, force: bool = False,
                 enforce_floors: bool = True, verbose=0):
        self.output_dir = output_dir
        self.source = source
        self.force = force
        self.enforce_floors = enforce_floors
        self.verbose = verbose
        self._models: dict[ModelKey, tuple[keras.Model, dict]] = {}
        self.excluded: list[dict] = []

    def get(self, key: ModelKey, *, gated: bool = True) -> tuple[keras.Model | None, dict]:
        """Returns ``(model, metadata)``; model is None when gated and below its floor."""
        if key not in self._models:
            model, metadata, _ = ensure_model(self.output_dir, key, self.source, force=self.force,
                                              verbose=self.verbose)
            self._models[key] = (model, metadata)
        model, metadata = self._models[key]
        if gated and self.enforce_floors and not metadata["meets_floor"]:
            if not any(e["key"] == key.to_list() for e in self.excluded):
                logger.warning("%s: test accuracy %.4f is below its floor %.3f; not used.",
                               key, metadata["test_accuracy"], metadata["accuracy_floor"])
                self.excluded.append({"key": key.to_list(), "test_accuracy": metadata["test_accuracy"],
                                      "floor": metadata["accuracy_floor"]})
            return None, metadata
        return model, metadata

    def fingerprint(self, key: ModelKey) -> str:
        """A cache key that changes whenever the model file is trained again."""
        _, metadata = self.get(key, gated=False)
        return artifacts.config_key(metadata)
