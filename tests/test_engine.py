"""The evolution engine (PROTOCOL.md section 3): exactness, properties, and the framework seam."""

import contextlib
import gc
import inspect
import logging
import weakref

import keras
import numpy as np
import pytest

from tfadv import engine
from tfadv.engine import scheduler
from tfadv.engine import tensorflow as tf_engine
from tfadv.models import build_model


def hand_model(activation="softmax", dtype="float32", shape=(28, 28)):
    """Logit c = 5 * (mean of pixel row block c) - 1.53125 * mean of all pixels: every class reachable.

    The weights are dyadic (1/8 and -1/512), so at a constant start of 0.5 every product and
    partial sum is exact in float32: all ten logits tie exactly, whatever order the backend
    sums in, and argmax says 0.
    """
    inputs = keras.Input(shape=shape, dtype=dtype)
    flat = keras.layers.Flatten()(inputs)
    logits = keras.layers.Dense(10, name="logits", dtype=dtype)(flat)
    outputs = keras.layers.Activation(activation, name="output", dtype=dtype)(logits)
    model = keras.Model(inputs, outputs)
    w = np.full((784, 10), -1.0 / 512)
    image = np.zeros((28, 28, 10))
    for c in range(10):
        image[2 * c + 4: 2 * c + 6, 4:24, c] = 1.0
    w += image.reshape(784, 10) / 8.0
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


@pytest.mark.parametrize("loss", engine.LOSSES)
@pytest.mark.parametrize("activation", ["sigmoid", "softmax"])
def test_input_gradient_matches_central_differences_in_float64(loss, activation):
    model = small_mlp(activation, dtype="float64")
    rng = np.random.default_rng(1)
    x = rng.uniform(size=(3, 784))
    targets = np.array([2, 7, 0])
    grad = engine.input_gradient(model, x, targets, loss)
    assert grad.dtype == np.float64

    def total_loss(xx):
        logits_fn, act = tf_engine.logits_head(model)
        onehot = np.eye(10)[targets]
        return float(np.sum(tf_engine.per_example_loss(logits_fn(xx), onehot, loss, act).numpy()))

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
    x = engine.make_starts("uniform", 5, seed=3, shape=(784,)) * 0.5 + 0.25
    targets = np.arange(5)
    grad = engine.input_gradient(model, x, targets, "mse")
    # A confidence rule that cannot be met makes every example take the step.
    result = engine.evolve(model, x, targets, loss="mse", lr=50.0, max_steps=1,
                           stop="confidence", kappa=0.999999, clip=None)
    # float32, XLA-fused: agreement to float32 rounding of the step (|step| ~ 3).
    np.testing.assert_allclose(result.x_final, x - 50.0 * grad, rtol=0, atol=5e-5)
    assert np.abs(50.0 * grad).max() > 1.0
    assert np.all(result.steps == 1)
    # The same example alone takes the same step: sum of losses, not the mean.
    alone = engine.evolve(model, x[:1], targets[:1], loss="mse", lr=50.0, max_steps=1,
                          stop="confidence", kappa=0.999999, clip=None)
    np.testing.assert_array_equal(alone.x_final[0], result.x_final[0])


def test_zero_steps_returns_the_start_unchanged():
    model = small_mlp()
    x = engine.make_starts("uniform", 20, seed=0, shape=(784,))
    result = engine.evolve(model, x, np.arange(20) % 10, max_steps=0)
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
    x = np.clip(engine.make_starts("uniform", 30, seed=1, shape=(784,)), *clip)
    result = engine.evolve(model, x, np.arange(30) % 10, loss="logit", lr=1e3, max_steps=25,
                           stop="confidence", kappa=0.999999, clip=clip)
    assert result.x_final.min() >= clip[0] and result.x_final.max() <= clip[1]
    assert np.any(result.x_final == clip[0]) and np.any(result.x_final == clip[1])


def test_an_example_is_frozen_from_the_step_it_succeeds():
    model = hand_model("softmax")
    x = engine.make_starts("uniform", 40, seed=2)
    targets = np.arange(40) % 10
    short = engine.evolve(model, x, targets, loss="crossentropy", lr=0.02, max_steps=10)
    long = engine.evolve(model, x, targets, loss="crossentropy", lr=0.02, max_steps=400)
    assert 0 < short.success.sum() < 40  # some finish early, some later
    done = short.success
    np.testing.assert_array_equal(long.x_final[done], short.x_final[done])
    np.testing.assert_array_equal(long.steps[done], short.steps[done])
    # The stop step is the first at which the rule holds: one step fewer fails it.
    for i in np.flatnonzero(long.success & (long.steps > 0))[:5]:
        before = engine.evolve(model, x[i:i + 1], targets[i], loss="crossentropy", lr=0.02,
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
    engine.evolve(model, engine.make_starts("uniform", 50, 0), 3, lr=100.0, max_steps=20)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    assert [layer.trainable for layer in model.layers] == flags


@pytest.mark.parametrize("loss", engine.LOSSES)
@pytest.mark.parametrize("activation", ["sigmoid", "softmax"])
def test_hand_weighted_model_reaches_every_target(loss, activation):
    model = hand_model(activation)
    x = engine.make_starts("constant", 10, seed=0, level=0.5)
    result = engine.evolve(model, x, np.arange(10), loss=loss, lr=5.0, max_steps=500)
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
    x = engine.make_starts("uniform", 150, seed=4)
    targets = np.arange(150) % 10
    kwargs = dict(loss="mse", lr=100.0, max_steps=60)
    a = engine.evolve(model, x, targets, batch_size=64, chunk_steps=7, **kwargs)
    b = engine.evolve(model, x, targets, batch_size=512, chunk_steps=32, **kwargs)
    c = engine.evolve(model, x, targets, batch_size=200, chunk_steps=13, **kwargs)  # 256 slots
    assert 0 < a.success.sum() < 150
    for other in (b, c):
        for field in ("x_final", "success", "steps", "confidence", "predicted"):
            np.testing.assert_array_equal(getattr(a, field), getattr(other, field), err_msg=field)


def test_finished_examples_stop_costing_compute():
    model = build_model("mlp_shallow_sigmoid", seed=0)
    x = engine.make_starts("uniform", 2048, seed=0)
    own = model.predict(x.reshape(-1, 784), verbose=0).argmax(1)
    never = model.predict(x.reshape(-1, 784), verbose=0).argmin(1)
    kwargs = dict(loss="mse", lr=1e-9, max_steps=100, batch_size=1024)
    all_run = engine.evolve(model, x, never, **kwargs)
    assert np.all(all_run.steps == 100)
    assert all_run.cost <= 1.01 * 2048 * 101  # 100 steps and a final check per example
    # Half the examples are done at step 0 (the model already says their target).
    half = engine.evolve(model, x, np.where(np.arange(2048) % 2 == 0, own, never), **kwargs)
    assert half.steps.sum() == 1024 * 100
    assert half.cost < 0.6 * all_run.cost


def test_cnn_inputs_and_image_shaped_starts():
    model = build_model("cnn_relu", seed=0)
    x = engine.make_starts("uniform", 6, seed=0)
    result = engine.evolve(model, x, np.arange(6), loss="crossentropy", lr=1.0, max_steps=5)
    assert result.x_final.shape == (6, 28, 28)
    flat = engine.evolve(model, x.reshape(6, 28, 28, 1), np.arange(6), loss="crossentropy", lr=1.0, max_steps=5)
    np.testing.assert_array_equal(flat.x_final.reshape(6, 28, 28), result.x_final)


def test_confidence_stop_rule_needs_the_threshold():
    model = hand_model("softmax")
    x = engine.make_starts("constant", 10, seed=0, level=0.5)
    argmax = engine.evolve(model, x, np.arange(10), loss="crossentropy", lr=1.0, max_steps=2000)
    conf = engine.evolve(model, x, np.arange(10), loss="crossentropy", lr=1.0, max_steps=2000,
                         stop="confidence", kappa=0.8)
    assert conf.success.all() and argmax.success.all()
    assert np.all(conf.confidence >= 0.8)
    assert np.all(conf.steps >= argmax.steps) and np.any(conf.steps > argmax.steps)


def test_model_ending_in_a_dense_softmax_works():
    """The hand-weighted model as one Dense(softmax) layer: its logits are found inside that layer."""
    split = hand_model("softmax")
    w, b = split.get_layer("logits").get_weights()
    inputs = keras.Input(shape=(28, 28))
    dense = keras.layers.Dense(10, activation="softmax")
    model = keras.Model(inputs, dense(keras.layers.Flatten()(inputs)))
    dense.set_weights([w, b])
    x = engine.make_starts("constant", 10, seed=0, level=0.5)
    result = engine.evolve(model, x, np.arange(10), loss="logit", lr=1.0, max_steps=200)
    # The logit loss's gradient is -w[:, c], so one step adds w[:, c]: it lifts row block c
    # by 1/8 - 1/512 and lowers every other pixel by 1/512, and the label is c.
    # Target 0 is met at the start (all logits tie, argmax says 0).
    np.testing.assert_array_equal(result.steps, [0] + [1] * 9)
    np.testing.assert_array_equal(result.success, np.ones(10, bool))
    np.testing.assert_array_equal(result.predicted, np.arange(10))
    one_step = np.clip(x + w.T.reshape(10, 28, 28), 0.0, 1.0)
    np.testing.assert_allclose(result.x_final[1:], one_step[1:], rtol=0, atol=1e-7)
    np.testing.assert_array_equal(result.x_final[0], x[0])
    # The same as with a separate Activation layer, bit for bit.
    reference = engine.evolve(split, x, np.arange(10), loss="logit", lr=1.0, max_steps=200)
    for field in ("x_final", "success", "steps", "confidence", "predicted"):
        np.testing.assert_array_equal(getattr(result, field), getattr(reference, field), err_msg=field)


@pytest.mark.parametrize("kwargs, message", [
    (dict(loss="hinge"), "Unknown loss 'hinge'"),
    (dict(stop="margin"), "Unknown stop rule"),
    (dict(stop="confidence"), "needs kappa in"),
    (dict(stop="confidence", kappa=1.5), "needs kappa in"),
    (dict(kappa=0.5), "only used with stop='confidence'"),
    (dict(clip=(1.0, 0.0)), "needs low < high"),
    (dict(clip=(0.5, 0.5)), "needs low < high"),
    (dict(lr=0.0), "lr must be positive"),
    (dict(lr=float("inf")), r"^lr must be a finite positive number, got inf\.$"),
    (dict(lr=float("nan")), r"^lr must be a finite positive number, got nan\.$"),
    (dict(clip=(0.0, float("inf"))), r"^clip\[1\] is inf: both bounds must be finite numbers"),
    (dict(clip=(float("nan"), 1.0)), r"^clip\[0\] is nan: both bounds must be finite numbers"),
    (dict(clip=(-float("inf"), 1.0)), r"^clip\[0\] is -inf"),
    (dict(clip=(0.0, 0.5, 1.0)), "clip must be \\(low, high\\) or None"),
    (dict(stop="confidence", kappa=float("nan")), r"^kappa must be a finite number in \(0, 1\), got nan\.$"),
    (dict(kappa=float("inf")), r"^kappa must be a finite number in \(0, 1\), got inf\.$"),
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
        engine.evolve(model, x, t, **args)


@pytest.mark.parametrize("shape, where, value, clip, message", [
    ((5, 784), (3, 17), np.nan, (0.0, 1.0), "x_start[3, 17] is NaN (example 3, pixel 17)"),
    ((5, 28, 28), (2, 1, 3), np.inf, None, "x_start[2, 1, 3] is inf (example 2, pixel 31)"),
    ((5, 28, 28), (0, 27, 27), -np.inf, None, "x_start[0, 27, 27] is -inf (example 0, pixel 783)"),
    ((5, 784), (4, 0), 1e39, None, "x_start[4, 0] is 1e+39, too large for float32 (example 4, pixel 0)"),
])
def test_non_finite_starts_are_refused_naming_the_first_bad_index(shape, where, value, clip, message):
    """A NaN start used to run and end as a failure with an invented label; inf passed with clip=None."""
    model = small_mlp()
    x = np.full(shape, 0.5)
    x[where] = value
    later = (4, 700) if len(shape) == 2 else (4, 20, 5)
    if later[0] != where[0]:
        x[later] = np.nan  # a second bad example, after the first
    n_bad = 1 + (later[0] != where[0])
    with pytest.raises(ValueError) as error:
        engine.evolve(model, x, 1, clip=clip)
    assert str(error.value) == (f"{message}: every start value must be finite; {n_bad} value(s) in "
                                f"{n_bad} example(s) are not.")


def test_starts_are_keyed_on_seed_and_index():
    whole = engine.make_starts("uniform", 10, seed=7)
    parts = np.concatenate([engine.make_starts("uniform", 4, seed=7),
                            engine.make_starts("uniform", 6, seed=7, offset=4)])
    np.testing.assert_array_equal(whole, parts)
    assert whole.shape == (10, 28, 28) and whole.dtype == np.float32
    assert 0 <= whole.min() and whole.max() < 1 and abs(whole.mean() - 0.5) < 0.01
    assert not np.array_equal(whole, engine.make_starts("uniform", 10, seed=8))
    normal = engine.make_starts("normal", 200, seed=0, mean=0.5, sd=0.5)
    assert abs(normal.mean() - 0.5) < 0.01 and abs(normal.std() - 0.5) < 0.01
    assert np.all(engine.make_starts("constant", 3, seed=0, level=0.25) == 0.25)
    with pytest.raises(ValueError, match="Unknown start kind"):
        engine.make_starts("perlin", 3, seed=0)


def test_result_save_load_round_trip(tmp_path):
    model = hand_model()
    result = engine.evolve(model, engine.make_starts("uniform", 12, 0), np.arange(12) % 10,
                           loss="crossentropy", lr=1.0, max_steps=30)
    path = result.save(tmp_path / "r.npz")
    loaded = engine.EvolutionResult.load(path)
    for field in engine.EvolutionResult._ARRAYS:
        np.testing.assert_array_equal(getattr(loaded, field), getattr(result, field))
    defaults = {name: p.default for name, p in inspect.signature(engine.evolve).parameters.items()}
    assert loaded.settings == result.settings == dict(  # the arguments given, and evolve's defaults
        loss="crossentropy", lr=1.0, max_steps=30, stop=defaults["stop"], kappa=defaults["kappa"],
        clip=list(defaults["clip"]))
    np.testing.assert_array_equal(loaded.delta, result.x_final - result.x_start)


# ---------------------------------------------------------------- the seam


def test_an_unsupported_keras_backend_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(keras.backend, "backend", lambda: "openvino")
    message = r"no implementation for the Keras backend 'openvino'; supported: \['jax', 'tensorflow', 'torch'\]"
    with pytest.raises(ValueError, match=message):
        engine.evolve(small_mlp(), np.zeros((2, 784), np.float32), 1)


def test_engines_are_cached_per_model_and_let_it_go():
    model = small_mlp()
    assert engine.engine_for(model) is engine.engine_for(model)
    assert engine.engine_for(model) is not engine.engine_for(small_mlp())
    engine.evolve(model, np.zeros((3, 784), np.float32), 1, max_steps=2)
    assert len(engine.engine_for(model)._programs) == 1
    ref = weakref.ref(model)
    del model
    gc.collect()
    assert ref() is None


def test_engine_evolve_takes_evolves_arguments():
    public = list(inspect.signature(engine.evolve).parameters.values())[1:]  # without the model
    method = list(inspect.signature(engine.Engine.evolve).parameters.values())[1:]  # without self
    assert [(p.name, p.kind, p.default) for p in public] == [(p.name, p.kind, p.default) for p in method]


def test_quiet_retracing_warnings_drops_only_the_programs_and_trainers_message():
    logger = logging.getLogger("tensorflow")
    before = list(logger.filters)
    try:
        tf_engine.quiet_retracing_warnings()
        tf_engine.quiet_retracing_warnings()
        added = [f for f in logger.filters if f not in before]
        assert len(added) <= 1 and len(logger.filters) == len(before) + len(added)
        drop = logging.LogRecord("tensorflow", logging.WARNING, "", 0, "5 out of the last 5 calls to "
                                 "<function _Program.__init__.<locals>.run at 0x1> triggered tf.function retracing", (), None)
        trainer = logging.LogRecord("tensorflow", logging.WARNING, "", 0, "6 out of the last 11 calls to <function "
                                    "TensorFlowTrainer._make_function.<locals>.multi_step_on_iterator at 0x2> "
                                    "triggered tf.function retracing", (), None)
        keep = logging.LogRecord("tensorflow", logging.WARNING, "", 0, "something else", (), None)
        assert not logger.filter(drop) and not logger.filter(trainer) and logger.filter(keep)
    finally:
        logger.filters[:] = before


def test_slot_counts():
    cases = [(1, 2048, 64), (64, 2048, 64), (65, 2048, 128), (200, 2048, 256), (1000, 2048, 1024),
             (1100, 2048, 1152), (5000, 2048, 2048), (5000, 512, 512), (150, 64, 64)]
    assert [scheduler._bucket(n, cap) for n, cap, _ in cases] == [want for _, _, want in cases]


def _logits(x, w):  # sums in a fixed order per row, so a row's result ignores the row count
    return (x[:, :, None] * w[None]).sum(axis=1)


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _grad(x, w, target):  # of the summed softmax cross-entropy
    y = _softmax(_logits(x, w)) - np.eye(10, dtype=np.float32)[target]
    return (y[:, None, :] * w[None]).sum(axis=2)


class NumpyProgram:
    """A ``scheduler.Program`` in numpy: a linear-softmax model, cross-entropy steps."""

    def __init__(self, w, size, stop, calls):
        self.w, self.size, self.stop, self.calls = w, size, stop, calls
        self.x = np.zeros((size, w.shape[0]), np.float32)

    def load(self, slots, rows):
        self.x[slots] = rows

    def read(self, slots):
        return self.x[slots].copy()

    def run(self, n, release, active, steps, target, rule):
        active, steps = active.copy(), steps.copy()
        success = np.zeros(self.size, bool)
        conf, pred = np.zeros(self.size, np.float32), np.zeros(self.size, np.int32)
        running, i = active.sum(), 0
        while i < n and active.any() and running - active.sum() < release:
            y = _softmax(_logits(self.x, self.w))
            c, p = y[np.arange(self.size), target], y.argmax(axis=1)
            met = (p == target) & active
            if self.stop == "confidence":
                met &= c >= rule.kappa
            finished = active & (met | (steps >= rule.max_steps))
            conf[finished], pred[finished] = c[finished], p[finished]
            success |= met
            active &= ~finished
            moved = self.x - np.float32(rule.lr) * _grad(self.x, self.w, target)
            if rule.clip is not None:
                moved = np.clip(moved, *rule.clip)
            self.x[active] = moved[active]
            steps += active
            i += 1
        self.calls.append((self.size, i))
        return np.int32(i), active, steps, success, conf, pred


class NumpyBackend:
    example_shape = (8,)
    convolutional = False

    def __init__(self, seed=0):
        self.w = np.random.default_rng(seed).normal(0, 1, (8, 10)).astype(np.float32)
        self.compiled, self.calls = [], []

    def frozen(self):
        return contextlib.nullcontext()

    def compile(self, loss, stop, size, jit):
        self.compiled.append(size)
        return NumpyProgram(self.w, size, stop, self.calls)


def _one_at_a_time(w, x, target, lr, max_steps):
    """The engine's contract for one example, written out: check, then step."""
    x = x[None].copy()
    for step in range(max_steps + 1):
        y = _softmax(_logits(x, w))[0]
        if y.argmax() == target or step == max_steps:
            return x[0], step, bool(y.argmax() == target), y[target], y.argmax()
        x = np.clip(x - np.float32(lr) * _grad(x, w, np.array([target])), 0.0, 1.0)


def test_scheduler_with_a_numpy_program_keeps_the_contract():
    backend = NumpyBackend()
    eng = engine.Engine(backend)
    x = engine.make_starts("uniform", 300, seed=5, shape=(8,))
    targets = np.arange(300) % 10
    opts = dict(loss="crossentropy", lr=0.05, max_steps=40)
    a = eng.evolve(x, targets, batch_size=64, chunk_steps=3, **opts)
    assert backend.compiled == [64]  # 300 examples through 64 slots, refilled as they finish
    assert a.cost == sum(size * i for size, i in backend.calls)  # slot-steps, idle slots included
    assert (a.steps + 1).sum() <= a.cost < 1.4 * (a.steps + 1).sum()  # each: its steps and a last check
    assert 30 < a.success.sum() < 270 and len(set(a.steps.tolist())) > 10
    for i in range(300):
        xf, steps, ok, conf, pred = _one_at_a_time(backend.w, x[i], targets[i], 0.05, 40)
        np.testing.assert_array_equal(a.x_final[i], xf)
        assert (a.steps[i], a.success[i], a.confidence[i], a.predicted[i]) == (steps, ok, conf, pred)
    b = eng.evolve(x, targets, batch_size=200, chunk_steps=50, **opts)
    assert backend.compiled == [64, 256, 192, 128]  # shrinks as work runs out; 64 is reused
    for field in ("x_final", "success", "steps", "confidence", "predicted"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)
    backend.calls.clear()
    c = eng.evolve(x, targets, batch_size=64, chunk_steps=3, **opts)
    assert backend.compiled == [64, 256, 192, 128] and c.cost == a.cost
    np.testing.assert_array_equal(c.x_final, a.x_final)
