"""Training, HDF5 save/load with metadata, determinism and reuse."""

import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from tfadv import artifacts, modelbank
from tfadv import training as train
from tfadv.config import TrainConfig, get_train_config
from tfadv.data import DatasetInfo
from tfadv.keys import ModelKey
from tfadv.sources import SyntheticData

TINY = TrainConfig("tiny", batch_size=40, epochs=2)
INFO = DatasetInfo("mnist", "synthetic", {"f": "0" * 64}, "feedfacefeedface", False)


def _train(name, splits, seed=0, config=TINY):
    return train.train_model(name, "mnist", config, seed, splits, data_info=INFO, verbose=0)


def test_training_learns_the_toy_task(tiny_splits):
    model, meta = _train("mlp_shallow_relu", tiny_splits, config=TrainConfig("t", batch_size=20, epochs=10))
    assert meta["test_accuracy"] > 0.9
    assert meta["steps"] == 10 * 12
    assert meta["data_fingerprint"] == "feedfacefeedface"
    assert meta["config"]["name"] == "t"


def test_same_seed_gives_identical_weights(tiny_splits):
    a, _ = _train("mlp_deep_sigmoid", tiny_splits, seed=5)
    b, _ = _train("mlp_deep_sigmoid", tiny_splits, seed=5)
    c, _ = _train("mlp_deep_sigmoid", tiny_splits, seed=6)
    assert all(np.array_equal(x, y) for x, y in zip(a.get_weights(), b.get_weights()))
    assert not np.array_equal(a.get_weights()[0], c.get_weights()[0])


def test_cnn_training_is_deterministic(tiny_splits):
    (x, y), test = tiny_splits
    small = ((x[:80], y[:80]), test)
    a, _ = _train("cnn_relu", small, seed=1, config=TrainConfig("t", batch_size=40, epochs=1))
    b, _ = _train("cnn_relu", small, seed=1, config=TrainConfig("t", batch_size=40, epochs=1))
    assert all(np.array_equal(p, q) for p, q in zip(a.get_weights(), b.get_weights()))


@pytest.mark.parametrize("name, config", [
    ("mlp_shallow_sigmoid", TrainConfig("c", optimizer="sgd", learning_rate=3.0, batch_size=10, epochs=2, loss="mse")),
    ("mlp_deep_sigmoid", TrainConfig("a", batch_size=32, epochs=2, schedule="cosine")),
])
def test_steps_grouped_per_call_give_the_same_weights_as_one_step_per_call(tiny_splits, monkeypatch, name, config):
    monkeypatch.setattr(train, "STEPS_PER_EXECUTION", 1)
    one, _ = _train(name, tiny_splits, seed=4, config=config)
    monkeypatch.setattr(train, "STEPS_PER_EXECUTION", 7)  # does not divide an epoch's steps: a shorter last call
    grouped, meta = _train(name, tiny_splits, seed=4, config=config)
    assert (one.steps_per_execution, grouped.steps_per_execution) == (1, 7)
    assert meta["steps"] % 7 != 0
    assert all(np.array_equal(p, q) for p, q in zip(one.get_weights(), grouped.get_weights()))


def test_untrained_control_keeps_initial_weights(tiny_splits):
    from tfadv.models import build_model

    model, meta = _train("mlp_shallow_sigmoid", tiny_splits, seed=2, config=get_train_config("untrained"))
    fresh = build_model("mlp_shallow_sigmoid", seed=2)
    assert meta["steps"] == 0 and meta["epochs"] == 0
    assert all(np.array_equal(p, q) for p, q in zip(model.get_weights(), fresh.get_weights()))


def test_shuffled_labels_control_learns_nothing_useful(tiny_splits):
    shuffled = TrainConfig("s", batch_size=20, epochs=10, shuffle_labels=True)
    _, meta = _train("mlp_shallow_relu", tiny_splits, config=shuffled)
    assert meta["test_accuracy"] < 0.5


def test_train_examples_trains_on_the_first_images_only(tiny_splits):
    (x, y), test = tiny_splits
    first = TrainConfig("t", batch_size=40, epochs=1, train_examples=80)
    a, meta = _train("mlp_shallow_relu", tiny_splits, seed=3, config=first)
    b, _ = _train("mlp_shallow_relu", ((x[:80], y[:80]), test), seed=3, config=TrainConfig("t", batch_size=40, epochs=1))
    assert meta["steps"] == 2 and meta["config"]["train_examples"] == 80
    assert all(np.array_equal(p, q) for p, q in zip(a.get_weights(), b.get_weights()))
    # Unset, it is no part of a configuration's key: models trained before it existed keep theirs.
    assert "train_examples" not in TINY.to_dict() and "train_examples" not in get_train_config("long").to_dict()
    with pytest.raises(ValueError, match="invalid training configuration"):
        TrainConfig("t", train_examples=0)


def test_hdf5_round_trip_keeps_predictions_and_metadata(tiny_splits, tmp_path):
    model, meta = _train("cnn_sigmoid", tiny_splits, config=TrainConfig("t", batch_size=60, epochs=1))
    path = train.save_model(model, tmp_path / "m.h5", meta)
    loaded, meta2 = train.load_model(path)
    x = tiny_splits[1][0][..., None]
    np.testing.assert_array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))
    assert meta2 == meta
    assert [p.name for p in tmp_path.iterdir()] == ["m.h5"]  # no temporary left behind


def test_model_file_is_plain_hdf5_with_named_weights(tiny_splits, tmp_path):
    model, meta = _train("mlp_shallow_sigmoid", tiny_splits, config=get_train_config("untrained"))
    path = train.save_model(model, tmp_path / "m.h5", meta)
    with h5py.File(path, "r") as f:
        weights = f["model_weights"]
        assert {"hidden1", "logits"} <= set(weights)
        kernels = []
        weights["hidden1"].visititems(lambda n, obj: kernels.append(obj[()]) if "kernel" in n else None)
        np.testing.assert_array_equal(kernels[0], model.get_layer("hidden1").kernel.numpy())
        assert f.attrs["tfadv.seed"] == 0
        assert f.attrs["tfadv.model"] == "mlp_shallow_sigmoid"


def test_load_model_errors_are_clear(tmp_path, tiny_splits):
    with pytest.raises(train.ModelFileError, match="No model file at .*Train it"):
        train.load_model(tmp_path / "missing.h5")

    model, meta = _train("mlp_shallow_sigmoid", tiny_splits, config=get_train_config("untrained"))
    good = train.save_model(model, tmp_path / "good.h5", meta)
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    with pytest.raises(train.ModelFileError, match="not a readable HDF5 file.*truncated"):
        train.load_model(truncated)

    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = np.arange(3)
    with pytest.raises(train.ModelFileError, match="not written by tfadv"):
        train.load_model(foreign)


KEY = ModelKey("mlp_shallow_sigmoid", "mnist", "tiny", 0)
SOURCE = SyntheticData(n_train=240, n_test=60)


def test_ensure_model_reuses_matching_file_and_force_retrains(tmp_path, monkeypatch):
    calls = []
    real = modelbank.train_model

    def counting(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(modelbank, "train_model", counting)
    _, meta, path = modelbank.ensure_model(tmp_path, KEY, SOURCE, config=TINY, verbose=0)
    assert path == artifacts.model_path(tmp_path, KEY) == tmp_path / "models" / "mlp_shallow_sigmoid__mnist__tiny__s0.h5"
    assert meta["data_fingerprint"] == SOURCE.load("mnist")[1].fingerprint
    _, meta2, _ = modelbank.ensure_model(tmp_path, KEY, SOURCE, config=TINY, verbose=0)
    assert len(calls) == 1 and meta2 == meta
    modelbank.ensure_model(tmp_path, KEY, SOURCE, config=TINY, force=True, verbose=0)
    assert len(calls) == 2
    # Same name, other settings: trained again rather than reused.
    changed = TrainConfig("tiny", batch_size=40, epochs=1)
    _, meta3, _ = modelbank.ensure_model(tmp_path, KEY, SOURCE, config=changed, verbose=0)
    assert len(calls) == 3 and meta3["epochs"] == 1
    # Other data (another synthetic seed): trained again too.
    modelbank.ensure_model(tmp_path, KEY, SyntheticData(n_train=240, n_test=60, seed=1), config=changed, verbose=0)
    assert len(calls) == 4


def test_ensure_model_replaces_a_corrupt_file(tmp_path):
    path = artifacts.model_path(tmp_path, KEY)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\x89HDF\r\n\x1a\n half a file")
    _, meta, _ = modelbank.ensure_model(tmp_path, KEY, SOURCE, config=TINY, verbose=0)
    assert train.read_metadata(path) == meta


def test_model_bank_holds_models_to_their_floor_and_records_exclusions(tmp_path):
    key = ModelKey("mlp_shallow_sigmoid", "mnist", "untrained", 0)
    bank = modelbank.ModelBank(tmp_path, SOURCE, enforce_floors=True, verbose=0)
    model, meta = bank.get(key)
    assert model is None and not meta["meets_floor"]
    assert bank.excluded == [{"key": key.to_list(), "test_accuracy": meta["test_accuracy"], "floor": 0.95}]
    assert bank.get(key, gated=False)[0] is not None and len(bank.excluded) == 1
    assert bank.fingerprint(key) == artifacts.config_key(meta)
    lenient = modelbank.ModelBank(tmp_path, SOURCE, enforce_floors=False, verbose=0)
    assert lenient.get(key)[0] is not None and lenient.excluded == []


def test_command_line_trains_on_synthetic_data(tmp_path):
    cmd = [sys.executable, "-m", "tfadv.train", "--model=mlp_shallow_relu", "--config=brief", "--synthetic_data",
           f"--output_dir={tmp_path}", "--verbosity=-1"]
    run = subprocess.run(cmd, capture_output=True, text=True, check=True)
    path = Path(tmp_path, "models", "mlp_shallow_relu__mnist__brief__s0.h5")
    assert f"{path}: test accuracy" in run.stdout
    meta = train.read_metadata(path)
    assert meta["data_fingerprint"] == SyntheticData().load("mnist")[1].fingerprint
    assert meta["test_accuracy"] > 0.5  # the synthetic classes are learnable


@pytest.mark.skipif(not os.environ.get("TFADV_DATA_DIR"), reason="needs real MNIST (TFADV_DATA_DIR)")
def test_command_line_trains_then_reuses(tmp_path):
    cmd = [sys.executable, "-m", "tfadv.train", "--model=mlp_shallow_relu", "--config=short",
           f"--output_dir={tmp_path}", "--verbosity=-1"]
    first = subprocess.run(cmd, capture_output=True, text=True, check=True)
    assert "test accuracy 0.9" in first.stdout
    path = Path(tmp_path, "models", "mlp_shallow_relu__mnist__short__s0.h5")
    stamp = path.stat().st_mtime_ns
    second = subprocess.run(cmd, capture_output=True, text=True, check=True)
    assert second.stdout == first.stdout
    assert path.stat().st_mtime_ns == stamp
    meta = train.read_metadata(path)
    assert meta["data_fingerprint"] == "c65580678af93f1e"
    assert meta["steps"] == 469


def test_command_line_without_config_trains_the_main_configuration(tmp_path):
    """No --config: the configuration the protocol trains (and checks the floor at), here long_cosine."""
    cmd = [sys.executable, "-m", "tfadv.train", "--model=mlp_shallow_relu", "--synthetic_data",
           f"--output_dir={tmp_path}", "--verbosity=-1"]
    run = subprocess.run(cmd, capture_output=True, text=True, check=True)
    path = Path(tmp_path, "models", "mlp_shallow_relu__mnist__long_cosine__s0.h5")
    assert f"{path}: test accuracy" in run.stdout
    meta = train.read_metadata(path)
    assert meta["config"] == get_train_config("long_cosine").to_dict() and meta["epochs"] == 20


def test_command_line_rejects_unknown_model(tmp_path):
    run = subprocess.run([sys.executable, "-m", "tfadv.train", "--model=vgg"], capture_output=True, text=True,
                         cwd=tmp_path)
    assert run.returncode == 2
    assert run.stderr.splitlines() == [
        "tfadv.train: error: flag --model=vgg: value should be one of <cnn_relu|cnn_sigmoid|mlp_deep_relu|"
        "mlp_deep_sigmoid|mlp_shallow_relu|mlp_shallow_sigmoid> (see --help)"]
    assert not list(tmp_path.iterdir())
