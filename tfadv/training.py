"""Training the model zoo, and saving/loading models as HDF5 with metadata.

``train_model`` fits one model on given splits; ``save_model`` writes it
atomically by ``model.save`` with the run's metadata as ``tfadv.*`` attributes
of the HDF5 root: configuration, seed, data fingerprint and checksums, test
accuracy and its floor, epochs, steps, wall time, package versions.
``tfadv.modelbank`` decides when to train and when to reuse a file.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import h5py
import keras
import numpy as np

from tfadv import artifacts, data
from tfadv.backends import set_random_seed
from tfadv.config import TrainConfig, get_train_config
from tfadv.models import accuracy_floor, build_model, get_spec, predict, to_model_input
from tfadv.provenance import package_versions

FORMAT_VERSION = 1
# Optimizer steps Keras runs per call of its compiled training function: with batches of 10 (the
# `classic` reading) one call per step is mostly call overhead. The weights are the same bit for bit
# as one step per call (tests/test_train.py); PyTorch's trainer allows only 1.
STEPS_PER_EXECUTION = 100
_ATTR = "tfadv."
_ATTRS_JSON = ("config", "versions", "data_sha256")

logger = logging.getLogger(__name__)


class ModelFileError(ValueError):
    """A model file is missing, truncated, or was not written by tfadv."""


def _compile(model: keras.Model, loss: str, config: TrainConfig, steps: int, steps_per_epoch: int) -> None:
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
    per_call = 1 if keras.backend.backend() == "torch" else max(1, min(STEPS_PER_EXECUTION, steps_per_epoch))
    model.compile(optimizer=optimizer, loss=keras_loss, steps_per_execution=per_call)


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
    splits,
    *,
    data_info: data.DatasetInfo | None = None,
    verbose="auto",
) -> tuple[keras.Model, dict]:
    """Trains one model and returns it with its metadata.

    Args:
      model_name: a name from ``tfadv.models.MODELS``.
      dataset: ``"mnist"`` or ``"fashion_mnist"``.
      config: a ``TrainConfig`` or its registered name.
      seed: seeds the initial weights, the batch order and the label shuffle.
      splits: ``((x_train, y_train), (x_test, y_test))``, e.g. from a
        ``tfadv.sources.DataSource``.
      data_info: the ``DatasetInfo`` of ``splits``, recorded in the metadata;
        None for data that is not a dataset (paper B's classifier of B6).
      verbose: Keras' ``fit`` verbosity (0 silent, 1 bar, 2 a line an epoch).

    Returns:
      ``(model, metadata)``; metadata as stored by ``save_model``.
    """
    config = get_train_config(config) if isinstance(config, str) else config
    spec = get_spec(model_name)
    (x_train, y_train), (x_test, y_test) = splits
    x_train, y_train = x_train[:config.train_examples], y_train[:config.train_examples]
    set_random_seed(seed)  # without importing TensorFlow on other backends
    model = build_model(model_name, seed)
    steps_per_epoch = int(np.ceil(len(x_train) / config.batch_size))
    steps = config.epochs * steps_per_epoch
    loss = config.loss or spec.loss
    _compile(model, loss, config, steps, steps_per_epoch)
    labels = np.asarray(y_train)
    if config.shuffle_labels:
        labels = np.random.default_rng([seed, 1]).permutation(labels)
    start = time.perf_counter()
    if config.trained:
        logger.info("Training %s on %s (%s, seed %d): %d epochs, %d examples.",
                    model_name, dataset, config.name, seed, config.epochs, len(x_train))
        model.fit(
            to_model_input(x_train, model),
            _targets(labels, loss),
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
