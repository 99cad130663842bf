"""Training the model zoo, and saving/loading models as HDF5 with metadata.

A saved model is ``models/<model>__<dataset>__<config>__s<seed>.h5`` under an
output folder (``artifacts.model_path``), written atomically by
``model.save`` with the run's metadata as ``tfadv.*`` attributes of the HDF5
root: configuration, seed, data fingerprint and checksums, test accuracy and
its floor, epochs, steps, wall time, package versions. ``ensure_model``
reuses a file made with the same settings instead of training again.

Command line (absl flags; the logic stays in the functions below)::

    python -m tfadv.train --model=mlp_shallow_sigmoid --dataset=mnist \\
        --config=long --seed=0 --output_dir=results
"""

from __future__ import annotations

import json
import logging
import platform
import time
from pathlib import Path

import h5py
import keras
import numpy as np
import tensorflow as tf

import tfadv
from tfadv import artifacts, data
from tfadv.config import TrainConfig, get_train_config
from tfadv.models import accuracy_floor, build_model, get_spec, predict, to_model_input

FORMAT_VERSION = 1
_ATTR = "tfadv."
_ATTRS_JSON = ("config", "versions", "data_sha256")

logger = logging.getLogger(__name__)


class ModelFileError(ValueError):
    """A model file is missing, truncated, or was not written by tfadv."""


def enable_determinism(seed: int) -> None:
    """Seeds Python, numpy and TensorFlow and makes TF ops deterministic."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def package_versions() -> dict:
    """Versions of what produced a result."""
    return {
        "tfadv": tfadv.__version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "h5py": h5py.__version__,
        "python": platform.python_version(),
    }


def _compile(model: keras.Model, loss: str, config: TrainConfig, steps: int) -> None:
    rate = config.learning_rate
    if config.schedule == "cosine":
        rate = keras.optimizers.schedules.CosineDecay(config.learning_rate, decay_steps=max(steps, 1))
    if config.optimizer == "adam":
        optimizer = keras.optimizers.Adam(rate)
    else:
        optimizer = keras.optimizers.SGD(rate, momentum=config.momentum)
    keras_loss = {
        "mse": "mean_squared_error",
        "binary_crossentropy": "binary_crossentropy",
        "crossentropy": "sparse_categorical_crossentropy",
    }[loss]
    model.compile(optimizer=optimizer, loss=keras_loss)


def _targets(labels: np.ndarray, loss: str) -> np.ndarray:
    if loss == "crossentropy":
        return labels.astype(np.int32)
    return keras.utils.to_categorical(labels, 10).astype(np.float32)


def evaluate_accuracy(model: keras.Model, images: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of ``images`` whose argmax prediction equals ``labels``."""
    return float(np.mean(np.argmax(predict(model, images), axis=1) == labels))


def train_model(
    model_name: str,
    dataset: str,
    config: TrainConfig | str,
    seed: int,
    *,
    splits=None,
    data_info: data.DatasetInfo | None = None,
    data_dir=None,
    verbose="auto",
) -> tuple[keras.Model, dict]:
    """Trains one model and returns it with its metadata.

    Args:
      model_name: a name from ``tfadv.models.MODELS``.
      dataset: ``"mnist"`` or ``"fashion_mnist"``.
      config: a ``TrainConfig`` or its registered name.
      seed: seeds the initial weights, the batch order and the label shuffle.
      splits: ``((x_train, y_train), (x_test, y_test))`` to use instead of
        loading ``dataset`` (tests inject tiny data here).
      data_info: the ``DatasetInfo`` of ``splits``, recorded in the metadata.
      data_dir: where to look for the data when ``splits`` is None.
      verbose: Keras' ``fit`` verbosity (0 silent, 1 bar, 2 a line an epoch).

    Returns:
      ``(model, metadata)``; metadata as stored by ``save_model``.
    """
    config = get_train_config(config) if isinstance(config, str) else config
    spec = get_spec(model_name)
    if splits is None:
        splits, data_info = data.load_dataset_with_info(dataset, data_dir)
    (x_train, y_train), (x_test, y_test) = splits
    enable_determinism(seed)
    model = build_model(model_name, seed)
    steps = config.epochs * int(np.ceil(len(x_train) / config.batch_size))
    _compile(model, spec.loss, config, steps)
    labels = np.asarray(y_train)
    if config.shuffle_labels:
        labels = np.random.default_rng([seed, 1]).permutation(labels)
    start = time.perf_counter()
    if config.trained:
        logger.info("Training %s on %s (%s, seed %d): %d epochs, %d examples.",
                    model_name, dataset, config.name, seed, config.epochs, len(x_train))
        model.fit(
            to_model_input(x_train, model),
            _targets(labels, spec.loss),
            batch_size=config.batch_size,
            epochs=config.epochs,
            shuffle=True,
            verbose=verbose,
        )
    wall = time.perf_counter() - start
    accuracy = evaluate_accuracy(model, x_test, y_test)
    floor = accuracy_floor(model_name, dataset)
    metadata = {
        "model": model_name,
        "dataset": dataset,
        "config": config.to_dict(),
        "seed": int(seed),
        "data_fingerprint": data_info.fingerprint if data_info else "",
        "data_sha256": dict(data_info.sha256) if data_info else {},
        "test_accuracy": accuracy,
        "accuracy_floor": floor,
        "meets_floor": bool(accuracy >= floor),
        "epochs": config.epochs,
        "steps": steps,
        "wall_time_s": round(wall, 3),
        "versions": package_versions(),
        "format_version": FORMAT_VERSION,
    }
    if data_info is None:  # injected training data: the floor does not apply
        logger.info("%s trained on %d given examples (%s, seed %d): test accuracy %.4f in %.1f s.",
                    model_name, len(x_train), config.name, seed, accuracy, wall)
    else:
        logger.info("%s on %s (%s, seed %d): test accuracy %.4f (floor %.3f) in %.1f s.",
                    model_name, dataset, config.name, seed, accuracy, floor, wall)
    return model, metadata


class _DropLegacyH5Warning(logging.Filter):
    """Keras 3 warns that HDF5 is legacy; this package saves HDF5 on purpose."""

    def filter(self, record):
        return "HDF5 file via `model.save()`" not in record.getMessage()


def save_model(model: keras.Model, path, metadata: dict) -> Path:
    """Saves ``model`` to HDF5 at ``path`` atomically, with ``metadata`` as attributes."""
    path = Path(path)
    absl_logger = logging.getLogger("absl")
    quiet = _DropLegacyH5Warning()
    with artifacts.atomic_path(path) as tmp:
        absl_logger.addFilter(quiet)
        try:
            model.save(tmp, include_optimizer=False)
        finally:
            absl_logger.removeFilter(quiet)
        with h5py.File(tmp, "a") as f:
            for key, value in metadata.items():
                if key in _ATTRS_JSON:
                    value = json.dumps(value, sort_keys=True)
                f.attrs[_ATTR + key] = value
    return path


def read_metadata(path) -> dict:
    """Reads the metadata of a model file without loading the model.

    Raises:
      ModelFileError: if the file is missing, not HDF5 (e.g. truncated), or
        was not written by ``save_model``.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(
            f"No model file at {path}. Train it with `python -m tfadv.train` "
            "or let `python -m tfadv.reproduce` make it."
        )
    try:
        with h5py.File(path, "r") as f:
            attrs = {k[len(_ATTR):]: v for k, v in f.attrs.items() if k.startswith(_ATTR)}
    except OSError as e:
        raise ModelFileError(
            f"{path} is not a readable HDF5 file ({e}); it may be truncated. "
            "Delete it and train again (or pass --force)."
        ) from e
    if "format_version" not in attrs:
        raise ModelFileError(
            f"{path} is an HDF5 file but was not written by tfadv (no tfadv.* attributes). "
            "Point to a model saved by tfadv.train, or delete it and train again."
        )
    metadata = {}
    for key, value in attrs.items():
        if isinstance(value, bytes):
            value = value.decode()
        if key in _ATTRS_JSON:
            value = json.loads(value)
        elif isinstance(value, np.generic):
            value = value.item()
        metadata[key] = value
    return metadata


def load_model(path) -> tuple[keras.Model, dict]:
    """Loads a model saved by ``save_model``; returns ``(model, metadata)``.

    Raises:
      ModelFileError: if the file is missing, truncated or foreign.
    """
    metadata = read_metadata(path)
    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as e:  # Keras raises many types for a damaged file.
        raise ModelFileError(
            f"Keras could not load {path} ({type(e).__name__}: {e}). "
            "Delete it and train again (or pass --force)."
        ) from e
    return model, metadata


def _matches(metadata: dict, wanted: dict) -> bool:
    return all(metadata.get(k) == v for k, v in wanted.items())


def ensure_model(
    output_dir,
    model_name: str,
    dataset: str,
    config: TrainConfig | str,
    seed: int,
    *,
    data_dir=None,
    splits=None,
    data_info: data.DatasetInfo | None = None,
    force: bool = False,
    verbose="auto",
) -> tuple[keras.Model, dict, Path]:
    """Loads the model from ``output_dir`` if made with these settings, else trains and saves it.

    A file is reused when its model, dataset, configuration, seed and data
    fingerprint all match; ``force`` trains again regardless. ``splits`` and
    ``data_info`` inject data as in ``train_model``.

    Returns:
      ``(model, metadata, path)``.
    """
    config = get_train_config(config) if isinstance(config, str) else config
    path = artifacts.model_path(output_dir, model_name, dataset, config.name, seed)
    if splits is None:
        splits, data_info = data.load_dataset_with_info(dataset, data_dir)
    info = data_info
    wanted = {
        "model": model_name,
        "dataset": dataset,
        "config": config.to_dict(),
        "seed": int(seed),
        "data_fingerprint": info.fingerprint if info else "",
        "format_version": FORMAT_VERSION,
    }
    if path.exists() and not force:
        try:
            model, metadata = load_model(path)
        except ModelFileError as e:
            logger.warning("%s; training it again.", e)
        else:
            if _matches(metadata, wanted):
                logger.info("Reusing %s (test accuracy %.4f).", path, metadata["test_accuracy"])
                return model, metadata, path
            logger.info("%s was made with other settings; training it again.", path)
    model, metadata = train_model(
        model_name, dataset, config, seed, splits=splits, data_info=info, verbose=verbose
    )
    save_model(model, path, metadata)
    logger.info("Saved %s.", path)
    return model, metadata, path


class ModelBank:
    """The trained models of one run: trained or reused once, kept in memory.

    ``get`` applies the accuracy floor: a gated model below its floor is not
    used (returns None), and the run says so.
    """

    def __init__(self, output_dir, *, data_dir=None, force: bool = False,
                 enforce_floors: bool = True, verbose=0):
        self.output_dir = output_dir
        self.data_dir = data_dir
        self.force = force
        self.enforce_floors = enforce_floors
        self.verbose = verbose
        self._models: dict = {}
        self.excluded: list[dict] = []

    def get(self, model_name: str, dataset: str, config: str, seed: int, *,
            gated: bool = True) -> tuple[keras.Model | None, dict]:
        """Returns ``(model, metadata)``; model is None when gated and below its floor."""
        key = (model_name, dataset, config, seed)
        if key not in self._models:
            model, metadata, _ = ensure_model(
                self.output_dir, model_name, dataset, config, seed, data_dir=self.data_dir,
                force=self.force, verbose=self.verbose)
            self._models[key] = (model, metadata)
        model, metadata = self._models[key]
        if gated and self.enforce_floors and not metadata["meets_floor"]:
            if not any(e["key"] == list(key) for e in self.excluded):
                logger.warning("%s on %s (%s, seed %d): test accuracy %.4f is below its floor %.3f; not used.",
                               *key, metadata["test_accuracy"], metadata["accuracy_floor"])
                self.excluded.append({"key": list(key), "test_accuracy": metadata["test_accuracy"],
                                      "floor": metadata["accuracy_floor"]})
            return None, metadata
        return model, metadata

    def model_key(self, model_name: str, dataset: str, config: str, seed: int) -> str:
        """A key that changes whenever the model file is trained again."""
        _, metadata = self.get(model_name, dataset, config, seed, gated=False)
        return artifacts.config_key(metadata)


if __name__ == "__main__":
    from tfadv.cli import train_main

    train_main()
