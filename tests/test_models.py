"""The model zoo of PROTOCOL.md section 2: shapes, names, seeds."""

import numpy as np
import pytest

from tfadv import models

EXPECTED = {
    # name: (input shape, number of weights, output activation)
    "mlp_shallow_sigmoid": ((784,), 784 * 30 + 30 + 30 * 10 + 10, "sigmoid"),
    "mlp_deep_sigmoid": ((784,), 784 * 100 + 100 + 2 * (100 * 100 + 100) + 100 * 10 + 10, "sigmoid"),
    "mlp_shallow_relu": ((784,), 784 * 30 + 30 + 30 * 10 + 10, "softmax"),
    "mlp_deep_relu": ((784,), 784 * 100 + 100 + 2 * (100 * 100 + 100) + 100 * 10 + 10, "softmax"),
    # conv 16@5x5 "same" -> pool 14x14; conv 32@5x5 -> pool 7x7x32 = 1568.
    "cnn_relu": ((28, 28, 1), 16 * 25 + 16 + 32 * 16 * 25 + 32 + 1568 * 100 + 100 + 100 * 10 + 10, "softmax"),
    "cnn_sigmoid": ((28, 28, 1), 16 * 25 + 16 + 32 * 16 * 25 + 32 + 1568 * 100 + 100 + 100 * 10 + 10, "softmax"),
}


def test_registry_covers_the_protocol():
    assert set(models.MODELS) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_builder_shapes_and_outputs(name):
    shape, n_weights, activation = EXPECTED[name]
    model = models.build_model(name, seed=0)
    assert model.name == name
    assert tuple(model.input_shape[1:]) == shape
    assert tuple(model.output_shape) == (None, 10)
    assert model.count_params() == n_weights
    assert model.get_layer("logits").activation.__name__ == "linear"
    assert models.get_spec(name).output_activation == activation

    x = np.random.default_rng(0).uniform(size=(3,) + shape).astype(np.float32)
    y = model.predict(x, verbose=0)
    assert y.shape == (3, 10)
    assert np.all((y >= 0) & (y <= 1))
    if activation == "softmax":
        np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-5)
    else:  # independent sigmoid units do not sum to one
        assert not np.allclose(y.sum(axis=1), 1.0, atol=1e-3)


def test_same_seed_same_initial_weights_other_seed_differs():
    a = models.build_model("cnn_relu", seed=3).get_weights()
    b = models.build_model("cnn_relu", seed=3).get_weights()
    c = models.build_model("cnn_relu", seed=4).get_weights()
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0])


def test_unknown_name_lists_known_models():
    with pytest.raises(ValueError, match="known models: cnn_relu, cnn_sigmoid, mlp_deep_relu"):
        models.build_model("resnet50")


def test_negative_seed_is_rejected():
    with pytest.raises(ValueError, match="non-negative integer"):
        models.build_model("mlp_shallow_relu", seed=-1)


def test_to_model_input_reshapes_for_mlp_and_cnn():
    images = np.zeros((5, 28, 28), np.float32)
    assert models.to_model_input(images, models.build_model("mlp_deep_relu")).shape == (5, 784)
    assert models.to_model_input(images, models.build_model("cnn_relu")).shape == (5, 28, 28, 1)


def test_accuracy_floors_follow_the_protocol():
    assert models.accuracy_floor("mlp_shallow_sigmoid", "mnist") == 0.95
    assert models.accuracy_floor("mlp_deep_sigmoid", "mnist") == 0.97
    assert models.accuracy_floor("cnn_relu", "mnist") == 0.988
    assert models.accuracy_floor("cnn_relu", "fashion_mnist") == 0.89
    assert models.accuracy_floor("mlp_deep_relu", "fashion_mnist") == 0.85
    with pytest.raises(ValueError, match="No accuracy floor"):
        models.accuracy_floor("cnn_relu", "cifar10")
