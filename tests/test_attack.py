"""The evolution engine (PROTOCOL.md section 3): exactness and properties."""

import keras
import numpy as np
import pytest

from tfadv import attack
from tfadv.models import build_model


def hand_model(activation="softmax", dtype="float32", shape=(28, 28)):
    """Logit c = 4 * (mean of pixel row block c) - 2 * mean of all pixels: every class reachable."""
    inputs = keras.Input(shape=shape, dtype=dtype)
    flat = keras.layers.Flatten()(inputs)
    logits = keras.layers.Dense(10, name="logits", dtype=dtype)(flat)
    outputs = keras.layers.Activation(activation, name="output", dtype=dtype)(logits)
    model = keras.Model(inputs, outputs)
    w = np.full((784, 10), -2.0 / 784)
    image = np.zeros((28, 28, 10))
    for c in range(10):
        image[2 * c + 4: 2 * c + 6, 4:24, c] = 1.0
    w += 4.0 * image.reshape(784, 10) / 40.0
    model.get_layer("logits").set_weights([w.astype(dtype), np.zeros(10, dtype)])
    return model


def small_mlp(activation="sigmoid", dtype="float32", seed=0):
    """A tiny random MLP (8 hidden units) ending in logits -> output."""
    inputs = keras.Input(shape=(784,), dtype=dtype)
    h = keras.layers.Dense(8, activation="tanh", dtype=dtype,
                           kernel_initializer=keras.initializers.RandomNormal(0, 0.3, seed=seed))(inputs)
    logits = keras.layers.Dense(10, name="logits", dtype=dtype,
                                kernel_initializer=keras.initializers.RandomNormal(0, 1.0, seed=seed + 1))(h)
    return keras.Model(inputs, keras.layers.Activation(activation, name="output", dtype=dtype)(logits))


@pytest.mark.parametrize("loss", attack.LOSSES)
@pytest.mark.parametrize("activation", ["sigmoid", "softmax"])
def test_input_gradient_matches_central_differences_in_float64(loss, activation):
    model = small_mlp(activation, dtype="float64")
    rng = np.random.default_rng(1)
    x = rng.uniform(size=(3, 784))
    targets = np.array([2, 7, 0])
    grad = attack.input_gradient(model, x, targets, loss)
    assert grad.dtype == np.float64

    def total_loss(xx):
        logits_fn, act = attack._head(model)
        onehot = np.eye(10)[targets]
        return float(np.sum(attack.per_example_loss(logits_fn(xx), onehot, loss, act).numpy()))

    h = 1e-6
    for pixel in rng.choice(784, size=12, replace=False):
        for i in range(3):
            up, down = x.copy(), x.copy()
            up[i, pixel] += h
            down[i, pixel] -= h
            numeric = (total_loss(up) - total_loss(down)) / (2 * h)
            assert grad[i, pixel] == pytest.approx(numeric, rel=1e-6, abs=1e-10)


def test_one_step_is_plain_gradient_descent_on_the_per_example_loss():
    model = small_mlp("sigmoid")
    x = attack.make_starts("uniform", 5, seed=3, shape=(784,)) * 0.5 + 0.25
    targets = np.arange(5)
    grad = attack.input_gradient(model, x, targets, "mse")
    # A confidence rule that cannot be met makes every example take the step.
    result = attack.evolve(model, x, targets, loss="mse", lr=50.0, max_steps=1,
                           stop="confidence", kappa=0.999999, clip=None)
    # float32, XLA-fused: agreement to float32 rounding of the step (|step| ~ 3).
    np.testing.assert_allclose(result.x_final, x - 50.0 * grad, rtol=0, atol=5e-5)
    assert np.abs(50.0 * grad).max() > 1.0
    assert np.all(result.steps == 1)
    # The same example alone takes the same step: sum of losses, not the mean.
    alone = attack.evolve(model, x[:1], targets[:1], loss="mse", lr=50.0, max_steps=1,
                          stop="confidence", kappa=0.999999, clip=None)
    np.testing.assert_array_equal(alone.x_final[0], result.x_final[0])


def test_zero_steps_returns_the_start_unchanged():
    model = small_mlp()
    x = attack.make_starts("uniform", 20, seed=0, shape=(784,))
    result = attack.evolve(model, x, np.arange(20) % 10, max_steps=0)
    np.testing.assert_array_equal(result.x_final, x)
    np.testing.assert_array_equal(result.x_start, x)
    assert np.all(result.steps == 0)
    probs = model.predict(x, verbose=0)
    np.testing.assert_array_equal(result.predicted, probs.argmax(1))
    np.testing.assert_array_equal(result.success, probs.argmax(1) == np.arange(20) % 10)
    np.testing.assert_allclose(result.confidence, probs[np.arange(20), np.arange(20) % 10], rtol=1e-5)


@pytest.mark.parametrize("clip", [(0.0, 1.0), (0.2, 0.6)])
def test_bounds_always_hold(clip):
    model = small_mlp("softmax")
    x = np.clip(attack.make_starts("uniform", 30, seed=1, shape=(784,)), *clip)
    result = attack.evolve(model, x, np.arange(30) % 10, loss="logit", lr=1e3, max_steps=25,
                           stop="confidence", kappa=0.999999, clip=clip)
    assert result.x_final.min() >= clip[0] and result.x_final.max() <= clip[1]
    assert np.any(result.x_final == clip[0]) and np.any(result.x_final == clip[1])


def test_an_example_is_frozen_from_the_step_it_succeeds():
    model = hand_model("softmax")
    x = attack.make_starts("uniform", 40, seed=2)
    targets = np.arange(40) % 10
    short = attack.evolve(model, x, targets, loss="crossentropy", lr=0.02, max_steps=10)
    long = attack.evolve(model, x, targets, loss="crossentropy", lr=0.02, max_steps=400)
    assert 0 < short.success.sum() < 40  # some finish early, some later
    done = short.success
    np.testing.assert_array_equal(long.x_final[done], short.x_final[done])
    np.testing.assert_array_equal(long.steps[done], short.steps[done])
    # The stop step is the first at which the rule holds: one step fewer fails it.
    for i in np.flatnonzero(long.success & (long.steps > 0))[:5]:
        before = attack.evolve(model, x[i:i + 1], targets[i], loss="crossentropy", lr=0.02,
                               max_steps=int(long.steps[i]) - 1)
        assert not before.success[0]
    # Predictions at x_final agree with the recorded outcome.
    probs = model.predict(long.x_final, verbose=0)
    np.testing.assert_array_equal(probs.argmax(1), long.predicted)
    assert np.all(long.predicted[long.success] == targets[long.success])


def test_model_weights_are_bit_identical_and_trainable_flags_restored():
    model = build_model("mlp_shallow_sigmoid", seed=0)
    model.get_layer("hidden1").trainable = False  # a mixed state must come back as it was
    before = [w.copy() for w in model.get_weights()]
    flags = [layer.trainable for layer in model.layers]
    attack.evolve(model, attack.make_starts("uniform", 50, 0), 3, lr=100.0, max_steps=20)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    assert [layer.trainable for layer in model.layers] == flags


@pytest.mark.parametrize("loss", attack.LOSSES)
@pytest.mark.parametrize("activation", ["sigmoid", "softmax"])
def test_hand_weighted_model_reaches_every_target(loss, activation):
    model = hand_model(activation)
    x = attack.make_starts("constant", 10, seed=0, level=0.5)
    result = attack.evolve(model, x, np.arange(10), loss=loss, lr=5.0, max_steps=500)
    assert result.success.all(), result.steps
    np.testing.assert_array_equal(result.predicted, np.arange(10))
    # All logits tie at the constant start, where argmax says 0: only 0 is there already.
    assert result.steps[0] == 0 and np.all(result.steps[1:] > 0)
    # Each other target lit up its own row block.
    for c in range(1, 10):
        block = result.x_final[c, 2 * c + 4: 2 * c + 6, 4:24].mean()
        assert block > result.x_final[c].mean()


def test_results_do_not_depend_on_batch_size_or_chunking():
    model = build_model("mlp_deep_sigmoid", seed=1)
    x = attack.make_starts("uniform", 150, seed=4)
    targets = np.arange(150) % 10
    kwargs = dict(loss="mse", lr=100.0, max_steps=60)
    a = attack.evolve(model, x, targets, batch_size=64, chunk_steps=7, **kwargs)
    b = attack.evolve(model, x, targets, batch_size=512, chunk_steps=32, **kwargs)
    c = attack.evolve(model, x, targets, batch_size=200, chunk_steps=13, **kwargs)  # 192 slots
    assert 0 < a.success.sum() < 150
    for other in (b, c):
        for field in ("x_final", "success", "steps", "confidence", "predicted"):
            np.testing.assert_array_equal(getattr(a, field), getattr(other, field), err_msg=field)


def test_finished_examples_stop_costing_compute():
    model = build_model("mlp_shallow_sigmoid", seed=0)
    x = attack.make_starts("uniform", 2048, seed=0)
    own = model.predict(x.reshape(-1, 784), verbose=0).argmax(1)
    never = model.predict(x.reshape(-1, 784), verbose=0).argmin(1)
    kwargs = dict(loss="mse", lr=1e-9, max_steps=100, batch_size=1024)
    all_run = attack.evolve(model, x, never, **kwargs)
    assert np.all(all_run.steps == 100)
    assert all_run.cost <= 1.01 * 2048 * 101  # 100 steps and a final check per example
    # Half the examples are done at step 0 (the model already says their target).
    half = attack.evolve(model, x, np.where(np.arange(2048) % 2 == 0, own, never), **kwargs)
    assert half.steps.sum() == 1024 * 100
    assert half.cost < 0.6 * all_run.cost


def test_cnn_inputs_and_image_shaped_starts():
    model = build_model("cnn_relu", seed=0)
    x = attack.make_starts("uniform", 6, seed=0)
    result = attack.evolve(model, x, np.arange(6), loss="crossentropy", lr=1.0, max_steps=5)
    assert result.x_final.shape == (6, 28, 28)
    flat = attack.evolve(model, x.reshape(6, 28, 28, 1), np.arange(6), loss="crossentropy", lr=1.0, max_steps=5)
    np.testing.assert_array_equal(flat.x_final.reshape(6, 28, 28), result.x_final)


def test_confidence_stop_rule_needs_the_threshold():
    model = hand_model("softmax")
    x = attack.make_starts("constant", 10, seed=0, level=0.5)
    argmax = attack.evolve(model, x, np.arange(10), loss="crossentropy", lr=1.0, max_steps=2000)
    conf = attack.evolve(model, x, np.arange(10), loss="crossentropy", lr=1.0, max_steps=2000,
                         stop="confidence", kappa=0.8)
    assert conf.success.all() and argmax.success.all()
    assert np.all(conf.confidence >= 0.8)
    assert np.all(conf.steps >= argmax.steps) and np.any(conf.steps > argmax.steps)


def test_model_ending_in_a_dense_softmax_works():
    inputs = keras.Input(shape=(784,))
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(inputs))
    x = attack.make_starts("uniform", 10, seed=0, shape=(784,))
    result = attack.evolve(model, x, np.arange(10), loss="logit", lr=1.0, max_steps=200)
    assert result.success.mean() > 0.5


@pytest.mark.parametrize("kwargs, message", [
    (dict(loss="hinge"), "Unknown loss 'hinge'"),
    (dict(stop="margin"), "Unknown stop rule"),
    (dict(stop="confidence"), "needs kappa in"),
    (dict(stop="confidence", kappa=1.5), "needs kappa in"),
    (dict(kappa=0.5), "only used with stop='confidence'"),
    (dict(clip=(1.0, 0.0)), "needs low < high"),
    (dict(clip=(0.5, 0.5)), "needs low < high"),
    (dict(lr=0.0), "lr must be positive"),
    (dict(max_steps=-1), "max_steps must be a non-negative integer"),
    (dict(batch_size=0), "batch_size must be a positive integer"),
    (dict(targets=10), "targets must be integers in 0..9"),
    (dict(targets=-1), "targets must be integers in 0..9"),
    (dict(targets=1.5), "targets must be integers in 0..9"),
    (dict(x_start=np.zeros((4, 27, 28), np.float32)), "must have 784 values"),
    (dict(x_start=np.full((4, 784), 2.0, np.float32)), "outside clip"),
])
def test_argument_errors_are_value_errors_with_a_useful_message(kwargs, message):
    model = small_mlp()
    args = dict(x_start=np.zeros((4, 784), np.float32), targets=1)
    args.update(kwargs)
    x, t = args.pop("x_start"), args.pop("targets")
    with pytest.raises(ValueError, match=message):
        attack.evolve(model, x, t, **args)


def test_starts_are_keyed_on_seed_and_index():
    whole = attack.make_starts("uniform", 10, seed=7)
    parts = np.concatenate([attack.make_starts("uniform", 4, seed=7),
                            attack.make_starts("uniform", 6, seed=7, offset=4)])
    np.testing.assert_array_equal(whole, parts)
    assert whole.shape == (10, 28, 28) and whole.dtype == np.float32
    assert 0 <= whole.min() and whole.max() < 1 and abs(whole.mean() - 0.5) < 0.01
    assert not np.array_equal(whole, attack.make_starts("uniform", 10, seed=8))
    normal = attack.make_starts("normal", 200, seed=0, mean=0.5, sd=0.5)
    assert abs(normal.mean() - 0.5) < 0.01 and abs(normal.std() - 0.5) < 0.01
    assert np.all(attack.make_starts("constant", 3, seed=0, level=0.25) == 0.25)
    with pytest.raises(ValueError, match="Unknown start kind"):
        attack.make_starts("perlin", 3, seed=0)


def test_result_save_load_round_trip(tmp_path):
    model = hand_model()
    result = attack.evolve(model, attack.make_starts("uniform", 12, 0), np.arange(12) % 10,
                           loss="crossentropy", lr=1.0, max_steps=30)
    path = result.save(tmp_path / "r.npz")
    loaded = attack.EvolutionResult.load(path)
    for field in attack.EvolutionResult._ARRAYS:
        np.testing.assert_array_equal(getattr(loaded, field), getattr(result, field))
    assert loaded.settings == result.settings == dict(
        loss="crossentropy", lr=1.0, max_steps=30, stop="argmax", kappa=None, clip=[0.0, 1.0])
    np.testing.assert_array_equal(loaded.delta, result.x_final - result.x_start)


def test_evolve_until_stops_at_the_nth_success_and_is_block_independent(tmp_path):
    model = hand_model("softmax")
    opts = dict(loss="crossentropy", lr=0.01, max_steps=5)  # about 12% succeed
    search = attack.evolve_until(model, 4, n_success=30, max_attempts=5000, seed=3, **opts)
    assert search.reached and len(search.successes) == 30
    assert search.attempt_success[-1]  # the last attempt is the 30th success
    assert search.success_rate == pytest.approx(30 / search.attempts)
    assert 0 < search.success_rate < 1
    # Attempt i is example i of the stream: evolving those starts directly agrees.
    x = np.clip(attack.make_starts("uniform", search.attempts, 3), 0, 1)
    direct = attack.evolve(model, x, 4, **opts)
    np.testing.assert_array_equal(direct.success, search.attempt_success)
    np.testing.assert_array_equal(direct.x_final[direct.success], search.successes.x_final)
    loaded = attack.SearchResult.load(search.save(tmp_path / "s.npz"))
    np.testing.assert_array_equal(loaded.attempt_steps, search.attempt_steps)
    assert loaded.target == 4 and loaded.n_wanted == 30


def test_evolve_until_respects_the_attempt_cap():
    model = hand_model("softmax")
    search = attack.evolve_until(model, 4, n_success=1000, max_attempts=200, seed=0,
                                 loss="crossentropy", lr=0.01, max_steps=5)
    assert search.attempts == 200 and not search.reached
    assert len(search.successes) == search.attempt_success.sum()
