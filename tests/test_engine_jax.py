"""The engine's JAX backend (tfadv.engine.jax) against the TensorFlow one.

This process runs Keras on TensorFlow; the JAX side runs in a subprocess
(``KERAS_BACKEND=jax``) that imports this file and calls one of the ``jax_*``
functions below, exchanging arrays through ``.npz`` files. Models are built
from the same code in both processes and random weights travel in the files
(Keras' initializers draw differently on each backend).

The TensorFlow engine runs in float32 only (its loop makes its one-hot and
settings float32), so the float64 check compares the JAX engine with the
contract written out step by step over the TensorFlow backend's logits head
and loss in float64.
"""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from tfadv import engine
from tfadv.engine import StopRule
from tfadv.engine.scheduler import StepRule

pytestmark = pytest.mark.skipif(importlib.util.find_spec("jax") is None,
                                reason="jax is not installed (pip install jax): no JAX backend to test")

FIELDS = ("x_final", "success", "steps", "confidence", "predicted")
STEPS = 20  # float64 trajectory length
# head, loss, lr, stop, kappa, clip: every head, loss and rule kind, with and without clipping.
FLOAT64_CASES = (
    ("sigmoid", "mse", 1.0, "argmax", None, (0.0, 1.0)),
    ("sigmoid", "crossentropy", 0.0625, "argmax", None, (0.0, 1.0)),
    ("softmax", "mse", 2.5, "argmax", None, (0.0, 1.0)),
    ("softmax", "crossentropy", 1.0, "confidence", 0.22, (0.0, 1.0)),
    ("dense_softmax", "logit", 0.0625, "argmax", None, (0.2, 0.8)),
    ("sigmoid", "logit", 0.0625, "confidence", 0.3, None),
)
# Random weights (sent from this process), batch 64: one program size each, so little to compile.
ZOO = {"mlp_shallow_sigmoid": (dict(loss="mse", lr=10.0, max_steps=60, batch_size=64), 200),
       "cnn_relu": (dict(loss="crossentropy", lr=0.2, max_steps=20, batch_size=64), 200)}
OBSERVED = dict(loss="mse", lr=10.0, max_steps=60)  # on mlp_shallow_sigmoid, with KAPPA
KAPPA = 0.7


def hand_mlp(head="softmax", dtype="float64"):
    """28x28 -> 10 sigmoid units -> 10 logits, with dyadic weights (as tests/test_engine.py's hand_model).

    Hidden unit c: 1/8 on pixel row block c, -1/512 on every pixel; logit c: 4 h_c - 1/2 of every
    other unit. ``head`` is the output: a sigmoid or softmax ``Activation`` after the logits, or
    ``"dense_softmax"``, the logits layer with a softmax activation of its own.
    """
    inputs = keras.Input(shape=(28, 28), dtype=dtype)
    flat = keras.layers.Flatten(dtype=dtype)(inputs)
    hidden = keras.layers.Dense(10, activation="sigmoid", name="hidden", dtype=dtype)(flat)
    if head == "dense_softmax":
        outputs = keras.layers.Dense(10, activation="softmax", name="logits", dtype=dtype)(hidden)
    else:
        logits = keras.layers.Dense(10, name="logits", dtype=dtype)(hidden)
        outputs = keras.layers.Activation(head, name="output", dtype=dtype)(logits)
    model = keras.Model(inputs, outputs)
    image = np.zeros((28, 28, 10))
    for c in range(10):
        image[2 * c + 4: 2 * c + 6, 4:24, c] = 1.0
    w1 = image.reshape(784, 10) / 8.0 - 1.0 / 512
    w2 = np.full((10, 10), -0.5) + 4.5 * np.eye(10)
    model.get_layer("hidden").set_weights([w1.astype(dtype), np.zeros(10, dtype)])
    model.get_layer("logits").set_weights([w2.astype(dtype), np.zeros(10, dtype)])
    return model


def tiny_cnn(dtype="float64"):
    """Odd sizes: a "valid" and a "same" convolution, max pooling that drops a row and a column."""
    rng = np.random.default_rng(3)
    inputs = keras.Input(shape=(13, 13, 1), dtype=dtype)
    x = keras.layers.Conv2D(4, 3, activation="relu", dtype=dtype)(inputs)
    x = keras.layers.MaxPooling2D(2, dtype=dtype)(x)
    x = keras.layers.Conv2D(3, 5, padding="same", activation="sigmoid", dtype=dtype)(x)  # Keras-JAX: tanh is float32
    x = keras.layers.MaxPooling2D(2, dtype=dtype)(keras.layers.Conv2D(3, 1, dtype=dtype)(x))
    logits = keras.layers.Dense(10, dtype=dtype)(keras.layers.Flatten(dtype=dtype)(x))
    model = keras.Model(inputs, keras.layers.Activation("softmax", dtype=dtype)(logits))
    model.set_weights([rng.normal(0, 0.5, w.shape).astype(dtype) for w in model.get_weights()])
    return model


def float64_starts(clip):
    """48 starts (float32 values, so evolve's float32 interface takes them exactly) and targets."""
    x = engine.make_starts("uniform", 48, seed=11).astype(np.float64)
    return (np.clip(x, *clip) if clip else x), np.arange(48) % 10


def zoo_model(name, weights):
    from tfadv.models import build_model

    model = build_model(name, seed=0)
    model.set_weights([weights[f"{name}/{i}"] for i in range(len(model.get_weights()))])
    return model


def _rules():
    return [StopRule.argmax(), StopRule.confidence(KAPPA, "conf"), StopRule.budget()]


# ---------------------------------------------------------------- the JAX side (subprocess)


def jax_float64(out: Path) -> None:
    """Per case: the program's float64 inputs after each step, its outcomes, and ``evolve``'s result."""
    import jax

    from tfadv.engine.jax import JaxBackend

    assert jax.config.jax_enable_x64 and isinstance(engine.engine_for(hand_mlp()).backend, JaxBackend)
    size, arrays = 64, {}
    for k, (head, loss, lr, stop, kappa, clip) in enumerate(FLOAT64_CASES):
        model, (x, targets) = hand_mlp(head), float64_starts(clip)
        n = len(x)
        program = engine.engine_for(model).backend.compile(loss, stop, size, jit=True)  # evolve's compiled loop
        program.load(np.arange(n), x)
        rule = StepRule(lr=lr, clip=clip, kappa=kappa, max_steps=STEPS)
        active, steps = np.arange(size) < n, np.zeros(size, np.int32)
        target = np.zeros(size, np.int32)
        target[:n] = targets
        trajectory, ends = [], np.zeros((3, size))
        for _ in range(STEPS + 1):  # one step per call: the state stays on the device between calls
            _, still, steps, *outcome = program.run(1, size + 1, active, steps, target, rule)
            finished = active & ~still
            ends[:, finished] = np.array(outcome)[:, finished]
            active = still
            trajectory.append(program.read(np.arange(n)))
        assert not active.any() and trajectory[-1].dtype == np.float64
        arrays[f"{k}/trajectory"] = np.stack(trajectory[:STEPS])
        arrays[f"{k}/outcome"] = np.concatenate([steps[None, :n], ends[:, :n]])  # steps, success, conf, pred
        result = engine.evolve(model, x, targets, loss=loss, lr=lr, max_steps=STEPS, stop=stop, kappa=kappa,
                               clip=clip)
        arrays.update({f"{k}/evolve/{f}": getattr(result, f) for f in FIELDS})
        arrays[f"{k}/gradient"] = engine.input_gradient(model, x, targets, loss)
    cnn = tiny_cnn()
    fast = [type(layer).__name__ for layer in engine.engine_for(cnn).backend.head._inner.layers]
    assert fast.count("_FastGradient") == 5, fast  # every convolution and pooling layer
    x = np.random.default_rng(4).uniform(size=(5, 13, 13, 1))
    arrays.update({f"cnn/{loss}": engine.input_gradient(cnn, x, np.arange(5), loss) for loss in engine.LOSSES})
    _save(out, arrays)


def _save(out: Path, arrays: dict) -> None:
    loaded = sorted({name.split(".")[0] for name in sys.modules} & {"tensorflow", "torch"})
    assert not loaded, f"the JAX engine loaded {loaded}"
    np.savez(out, other_frameworks=np.array(loaded, str), **arrays)


def jax_float32(weights: Path, out: Path) -> None:
    """The zoo models' results, one observing pass and the same rules alone, two batch sizes."""
    import jax

    assert not jax.config.jax_enable_x64
    weights, arrays = np.load(weights), {}
    for name, (opts, n) in ZOO.items():
        model = zoo_model(name, weights)
        x = engine.make_starts("uniform", n, seed=5)
        result = engine.evolve(model, x, np.arange(n) % 10, **opts)
        arrays.update({f"{name}/{f}": getattr(result, f) for f in FIELDS})
    model = zoo_model("mlp_shallow_sigmoid", weights)
    x, targets = engine.make_starts("uniform", 300, seed=6), np.arange(300) % 10
    observed = engine.evolve_observing(model, x, targets, rules=_rules(), batch_size=64, chunk_steps=7, **OBSERVED)
    alone = dict(argmax=engine.evolve(model, x, targets, batch_size=64, chunk_steps=7, **OBSERVED),
                 conf=engine.evolve(model, x, targets, stop="confidence", kappa=KAPPA, batch_size=64,
                                    chunk_steps=7, **OBSERVED),
                 budget=engine.evolve(model, x, targets, stop="confidence", kappa=0.999999, batch_size=64,
                                      chunk_steps=7, **OBSERVED))
    wide = engine.evolve(model, x, targets, batch_size=256, **OBSERVED)
    wide_observed = engine.evolve_observing(model, x, targets, rules=_rules(), batch_size=256, **OBSERVED)
    for key, result in [*((f"observed/{k}", r) for k, r in observed.items()),
                        *((f"alone/{k}", r) for k, r in alone.items()), ("wide", wide),
                        *((f"wide_observed/{k}", r) for k, r in wide_observed.items())]:
        arrays.update({f"{key}/{f}": getattr(result, f) for f in FIELDS})
        arrays[f"{key}/cost"] = result.cost
    # One compile per (loss, stop kinds, slot count): n, release, lr, kappas... are traced arguments.
    eng = engine.engine_for(model)
    for (loss, kinds), chunk in eng.backend._chunks.items():
        stop = kinds[0] if len(kinds) == 1 else kinds
        sizes = {size for key_loss, key_stop, size, _ in eng._programs if (key_loss, key_stop) == (loss, stop)}
        arrays[f"compiles/{loss}/{'+'.join(kinds)}"] = (chunk._cache_size(), len(sizes))
    _save(out, arrays)


def _run_jax(function: str, *paths, x64: bool = False):
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_ENABLE_X64="1" if x64 else "0")
    code = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import test_engine_jax as t; "
            f"t.{function}(*{[str(p) for p in paths]!r})")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return np.load(paths[-1])


@pytest.fixture(scope="module")
def float64_run(tmp_path_factory):
    return _run_jax("jax_float64", tmp_path_factory.mktemp("jax64") / "out.npz", x64=True)


@pytest.fixture(scope="module")
def float32_run(tmp_path_factory):
    from tfadv.models import build_model

    folder = tmp_path_factory.mktemp("jax32")
    weights = {f"{name}/{i}": w for name in ZOO for i, w in enumerate(build_model(name, seed=0).get_weights())}
    np.savez(folder / "weights.npz", **weights)
    return weights, _run_jax("jax_float32", folder / "weights.npz", folder / "out.npz")


# ---------------------------------------------------------------- the checks


def _reference(model, x, targets, loss, lr, stop, kappa, clip):
    """The contract in numpy, with the TensorFlow backend's logits head and loss: check every
    running example, then step it. Returns the inputs after each step and (steps, success,
    confidence, predicted) per example."""
    import tensorflow as tf

    from tfadv.engine import tensorflow as tf_engine

    logits_fn, activation = tf_engine.logits_head(model)
    onehot = tf.one_hot(targets, 10, dtype=tf.float64)
    x, n = tf.constant(x), len(x)
    active, trajectory, outcome = np.ones(n, bool), [], np.zeros((4, n))
    for step in range(STEPS + 1):
        with tf.GradientTape() as tape:
            tape.watch(x)
            z = logits_fn(x, training=False)
            total = tf.reduce_sum(tf_engine.per_example_loss(z, onehot, loss, activation))
        y = (tf.nn.softmax(z) if activation == "softmax" else tf.sigmoid(z)).numpy()
        c, p = y[np.arange(n), targets], y.argmax(axis=1)
        met = active & (p == targets) & ((c >= kappa) if stop == "confidence" else True)
        finished = active & (met | (step == STEPS))
        outcome[:, finished] = np.array([np.full(n, step), met, c, p])[:, finished]
        active &= ~finished
        if step < STEPS:
            moved = x - lr * tape.gradient(total, x)
            x = tf.where(active[:, None, None], tf.clip_by_value(moved, *clip) if clip else moved, x)
            trajectory.append(x.numpy())
    return np.stack(trajectory), outcome


@pytest.mark.parametrize("case", range(len(FLOAT64_CASES)), ids=lambda k: "-".join(map(str, FLOAT64_CASES[k][:4])))
def test_float64_trajectories_follow_the_contract(float64_run, case):
    head, loss, lr, stop, kappa, clip = FLOAT64_CASES[case]
    model, (x, targets) = hand_mlp(head), float64_starts(clip)
    trajectory, outcome = _reference(model, x, targets, loss, lr, stop, kappa, clip)
    np.testing.assert_allclose(float64_run[f"{case}/gradient"], engine.input_gradient(model, x, targets, loss),
                               rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(float64_run[f"{case}/trajectory"], trajectory, rtol=0, atol=1e-10)
    got = float64_run[f"{case}/outcome"]
    np.testing.assert_array_equal(got[[0, 1, 3]], outcome[[0, 1, 3]])  # steps, success, predicted
    np.testing.assert_allclose(got[2], outcome[2], rtol=0, atol=1e-10)  # confidence
    # The cases exercise what they should: stops at many steps, failures, clipping at both bounds.
    steps, success = outcome[0], outcome[1].astype(bool)
    assert len(set(steps[success])) >= 4 and 0 < success.sum() < len(x), steps
    if clip:
        assert all(np.any((trajectory == bound) & (x != bound)) for bound in clip)
    # evolve (float32 at its interface) gives the same outcome, and the float64 end rounded.
    final = trajectory[np.maximum(outcome[0].astype(int) - 1, 0), np.arange(len(x))]
    final = np.where((outcome[0] == 0)[:, None, None], x, final)
    np.testing.assert_allclose(float64_run[f"{case}/evolve/x_final"], final, rtol=0, atol=1.2e-7)
    for k, field in ((0, "steps"), (1, "success"), (3, "predicted")):
        np.testing.assert_array_equal(float64_run[f"{case}/evolve/{field}"], outcome[k])
    np.testing.assert_allclose(float64_run[f"{case}/evolve/confidence"], outcome[2], rtol=1e-7)


def test_convolution_and_pooling_gradients_match_tensorflow_in_float64(float64_run):
    """The JAX backend's own input gradients of Conv2D and MaxPooling2D (odd sizes, both paddings)."""
    model, x = tiny_cnn(), np.random.default_rng(4).uniform(size=(5, 13, 13, 1))
    for loss in engine.LOSSES:
        expected = engine.input_gradient(model, x, np.arange(5), loss)
        assert np.abs(expected).max() > 1e-3 and np.all(expected[:, 12] == 0)  # the dropped row
        np.testing.assert_allclose(float64_run[f"cnn/{loss}"], expected, rtol=0, atol=1e-12, err_msg=loss)


def test_the_jax_engine_never_loads_tensorflow(float64_run, float32_run):
    assert not float64_run["other_frameworks"].size and not float32_run[1]["other_frameworks"].size


def test_programs_compile_once_per_slot_count(float32_run):
    compiles = {k: v for k, v in float32_run[1].items() if k.startswith("compiles/")}
    assert set(compiles) == {"compiles/mse/argmax", "compiles/mse/confidence", "compiles/mse/argmax+confidence+budget"}
    for name, (compiled, sizes) in compiles.items():
        assert compiled == sizes, name


@pytest.mark.parametrize("name", ZOO)
def test_float32_zoo_models_agree_with_tensorflow(float32_run, name):
    """Large steps make descent chaotic: float32 rounding differs, so the outcomes agree, not the bits."""
    weights, got = float32_run
    (opts, n), model = ZOO[name], zoo_model(name, weights)
    tf_result = engine.evolve(model, engine.make_starts("uniform", n, seed=5), np.arange(n) % 10, **opts)
    success = got[f"{name}/success"]
    assert 0.1 < success.mean() < 0.95 and len(set(tf_result.steps.tolist())) > 5
    assert np.mean(success == tf_result.success) >= 0.97
    assert np.median(np.abs(got[f"{name}/steps"] - tf_result.steps)) == 0
    assert np.mean(got[f"{name}/predicted"] == tf_result.predicted) >= 0.97


def _same(got, a, b):
    for field in FIELDS:
        np.testing.assert_array_equal(got[f"{a}/{field}"], got[f"{b}/{field}"], err_msg=f"{a} {b} {field}")


def test_observing_rules_equals_evolve_with_each_rule(float32_run):
    got = float32_run[1]
    _same(got, "observed/argmax", "alone/argmax")
    _same(got, "observed/conf", "alone/conf")
    reached = got["alone/budget/success"]  # a rule never met: every example runs max_steps
    assert reached.sum() <= 15
    for field in ("x_final", "steps", "confidence", "predicted"):
        np.testing.assert_array_equal(got[f"observed/budget/{field}"][~reached],
                                      got[f"alone/budget/{field}"][~reached], err_msg=field)
    budget = got["observed/budget/success"]
    np.testing.assert_array_equal(budget, got["observed/budget/predicted"] == np.arange(300) % 10)
    assert got["observed/argmax/cost"] == got["alone/budget/cost"]
    # The rules differ here: argmax early, the threshold later for some, never for others.
    argmax, conf = (got[f"alone/{k}/steps"] for k in ("argmax", "conf"))
    assert np.any(conf > argmax) and 0 < got["alone/conf/success"].sum() < 300


def test_results_do_not_depend_on_batch_size(float32_run):
    got = float32_run[1]
    _same(got, "alone/argmax", "wide")
    for rule in ("argmax", "conf", "budget"):
        _same(got, f"observed/{rule}", f"wide_observed/{rule}")
