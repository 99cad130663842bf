"""The cases the JAX and PyTorch engine tests share, and their checks against the TensorFlow engine.

Each test file (tests/test_engine_jax.py, tests/test_engine_torch.py) runs
its engine in a subprocess (``run_side``) with Keras on that backend, which
imports the file and calls ``float64_arrays`` or ``float32_arrays`` here,
exchanging arrays through ``.npz`` files; the checks then run in the test
process, on TensorFlow. Models are built from the same code in both
processes and random weights travel in the files (Keras' initializers draw
differently on each backend).

The TensorFlow engine runs in float32 only (its loop makes its one-hot and
settings float32), so the float64 checks compare the other engine with the
contract written out step by step (``reference``) over the TensorFlow
backend's logits head and loss in float64. ``EngineChecks`` holds the tests
both files run.
"""

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
CASE_IDS = ["-".join(map(str, case[:4])) for case in FLOAT64_CASES]
# Random weights (sent from the test process), batch 64: one program size each, so little to compile.
ZOO = {"mlp_shallow_sigmoid": (dict(loss="mse", lr=10.0, max_steps=60, batch_size=64), 200),
       "cnn_relu": (dict(loss="crossentropy", lr=0.2, max_steps=20, batch_size=64), 200)}
OBSERVED = dict(loss="mse", lr=10.0, max_steps=60)  # on mlp_shallow_sigmoid, with KAPPA
KAPPA = 0.7


# ---------------------------------------------------------------- models and inputs


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


def cnn_inputs():
    return np.random.default_rng(4).uniform(size=(5, 13, 13, 1))


def float64_starts(clip):
    """48 starts (float32 values, so evolve's float32 interface takes them exactly) and targets."""
    x = engine.make_starts("uniform", 48, seed=11).astype(np.float64)
    return (np.clip(x, *clip) if clip else x), np.arange(48) % 10


def zoo_model(name, weights):
    from tfadv.models import build_model

    model = build_model(name, seed=0)
    model.set_weights([weights[f"{name}/{i}"] for i in range(len(model.get_weights()))])
    return model


def rules():
    return [StopRule.argmax(), StopRule.confidence(KAPPA, "conf"), StopRule.budget()]


# ---------------------------------------------------------------- the other engine's side (subprocess)


def float64_arrays() -> dict:
    """Per case: the program's float64 inputs after each step, its outcomes, ``evolve``'s result and
    the input gradient; and the tiny CNN's input gradients per loss."""
    size, arrays = 64, {}
    for k, (head, loss, lr, stop, kappa, clip) in enumerate(FLOAT64_CASES):
        model, (x, targets) = hand_mlp(head), float64_starts(clip)
        n = len(x)
        backend = engine.engine_for(model).backend
        program = backend.compile(loss, stop, size, jit=True)  # evolve's loop
        program.load(np.arange(n), x)
        rule = StepRule(lr=lr, clip=clip, kappa=kappa, max_steps=STEPS)
        active, steps = np.arange(size) < n, np.zeros(size, np.int32)
        target = np.zeros(size, np.int32)
        target[:n] = targets
        trajectory, ends = [], np.zeros((3, size))
        with backend.frozen():
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
    arrays.update({f"cnn/{loss}": engine.input_gradient(cnn, cnn_inputs(), np.arange(5), loss)
                   for loss in engine.LOSSES})
    return arrays


def float32_arrays(weights: Path, after_zoo=None) -> tuple[dict, keras.Model]:
    """The zoo models' results, one observing pass and the same rules alone, two batch sizes.

    ``after_zoo(name, model, arrays)``, if given, adds what a test file checks of each zoo model
    after its ``evolve``. Returns the arrays and the model the rules were observed on.
    """
    weights, arrays = np.load(weights), {}
    for name, (opts, n) in ZOO.items():
        model = zoo_model(name, weights)
        x = engine.make_starts("uniform", n, seed=5)
        result = engine.evolve(model, x, np.arange(n) % 10, **opts)
        arrays.update({f"{name}/{f}": getattr(result, f) for f in FIELDS})
        if after_zoo:
            after_zoo(name, model, arrays)
    model = zoo_model("mlp_shallow_sigmoid", weights)
    x, targets = engine.make_starts("uniform", 300, seed=6), np.arange(300) % 10
    observed = engine.evolve_observing(model, x, targets, rules=rules(), batch_size=64, chunk_steps=7, **OBSERVED)
    alone = dict(argmax=engine.evolve(model, x, targets, batch_size=64, chunk_steps=7, **OBSERVED),
                 conf=engine.evolve(model, x, targets, stop="confidence", kappa=KAPPA, batch_size=64,
                                    chunk_steps=7, **OBSERVED),
                 budget=engine.evolve(model, x, targets, stop="confidence", kappa=0.999999, batch_size=64,
                                      chunk_steps=7, **OBSERVED))
    wide = engine.evolve(model, x, targets, batch_size=256, **OBSERVED)
    wide_observed = engine.evolve_observing(model, x, targets, rules=rules(), batch_size=256, **OBSERVED)
    for key, result in [*((f"observed/{k}", r) for k, r in observed.items()),
                        *((f"alone/{k}", r) for k, r in alone.items()), ("wide", wide),
                        *((f"wide_observed/{k}", r) for k, r in wide_observed.items())]:
        arrays.update({f"{key}/{f}": getattr(result, f) for f in FIELDS})
        arrays[f"{key}/cost"] = result.cost
    return arrays, model


def save(out: Path, arrays: dict, others: tuple[str, ...]) -> None:
    """Writes ``arrays`` and which of the frameworks ``others`` this process loaded."""
    loaded = sorted({name.split(".")[0] for name in sys.modules} & set(others))
    np.savez(out, other_frameworks=np.array(loaded, str), **arrays)


def run_side(test_file: str, function: str, env: dict, *paths, timeout: int = 900):
    """Runs ``<test_file>.<function>(*paths)`` in a subprocess with ``env`` added; the ``.npz`` it wrote."""
    code = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import {test_file} as t; "
            f"t.{function}(*{[str(p) for p in paths]!r})")
    done = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, **env), capture_output=True,
                          text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return np.load(paths[-1])


def zoo_weights(folder: Path) -> tuple[dict, Path]:
    """Random weights of the ``ZOO`` models (built here, on TensorFlow) and the ``.npz`` holding them."""
    from tfadv.models import build_model

    weights = {f"{name}/{i}": w for name in ZOO for i, w in enumerate(build_model(name, seed=0).get_weights())}
    np.savez(folder / "weights.npz", **weights)
    return weights, folder / "weights.npz"


# ---------------------------------------------------------------- the checks (test process, TensorFlow)


def reference(model, x, targets, loss, lr, stop, kappa, clip):
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


class EngineChecks:
    """The checks of another engine against TensorFlow's, for a test file's ``class Test...(EngineChecks)``.

    They use the test file's fixtures ``float64_run`` (the arrays of
    ``float64_arrays``) and ``float32_run`` (the weights and the arrays of
    ``float32_arrays``).
    """

    @pytest.mark.parametrize("case", range(len(FLOAT64_CASES)), ids=CASE_IDS)
    def test_float64_trajectories_follow_the_contract(self, float64_run, case):
        """Trajectory, outcomes, ``evolve`` result and gradient of each case equal the contract's to 1e-10."""
        got = float64_run
        head, loss, lr, stop, kappa, clip = FLOAT64_CASES[case]
        model, (x, targets) = hand_mlp(head), float64_starts(clip)
        trajectory, outcome = reference(model, x, targets, loss, lr, stop, kappa, clip)
        np.testing.assert_allclose(got[f"{case}/gradient"], engine.input_gradient(model, x, targets, loss),
                                   rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(got[f"{case}/trajectory"], trajectory, rtol=0, atol=1e-10)
        ends = got[f"{case}/outcome"]
        np.testing.assert_array_equal(ends[[0, 1, 3]], outcome[[0, 1, 3]])  # steps, success, predicted
        np.testing.assert_allclose(ends[2], outcome[2], rtol=0, atol=1e-10)  # confidence
        # The cases exercise what they should: stops at many steps, failures, clipping at both bounds.
        steps, success = outcome[0], outcome[1].astype(bool)
        assert len(set(steps[success])) >= 4 and 0 < success.sum() < len(x), steps
        if clip:
            assert all(np.any((trajectory == bound) & (x != bound)) for bound in clip)
        # evolve (float32 at its interface) gives the same outcome, and the float64 end rounded.
        final = trajectory[np.maximum(outcome[0].astype(int) - 1, 0), np.arange(len(x))]
        final = np.where((outcome[0] == 0)[:, None, None], x, final)
        np.testing.assert_allclose(got[f"{case}/evolve/x_final"], final, rtol=0, atol=1.2e-7)
        for k, field in ((0, "steps"), (1, "success"), (3, "predicted")):
            np.testing.assert_array_equal(got[f"{case}/evolve/{field}"], outcome[k])
        np.testing.assert_allclose(got[f"{case}/evolve/confidence"], outcome[2], rtol=1e-7)

    def test_convolution_and_pooling_gradients_match_tensorflow_in_float64(self, float64_run):
        """The tiny CNN's input gradients (odd sizes, both paddings) equal TensorFlow's to 1e-12."""
        model, x = tiny_cnn(), cnn_inputs()
        for loss in engine.LOSSES:
            expected = engine.input_gradient(model, x, np.arange(5), loss)
            assert np.abs(expected).max() > 1e-3 and np.all(expected[:, 12] == 0)  # the dropped row
            np.testing.assert_allclose(float64_run[f"cnn/{loss}"], expected, rtol=0, atol=1e-12, err_msg=loss)

    def test_no_other_framework_is_loaded(self, float64_run, float32_run):
        assert not float64_run["other_frameworks"].size and not float32_run[1]["other_frameworks"].size

    @pytest.mark.parametrize("name", ZOO)
    def test_float32_zoo_models_agree_with_tensorflow(self, float32_run, name):
        """Large steps make descent chaotic: float32 rounding differs, so the outcomes agree, not the bits."""
        weights, got = float32_run
        (opts, n), model = ZOO[name], zoo_model(name, weights)
        tf_result = engine.evolve(model, engine.make_starts("uniform", n, seed=5), np.arange(n) % 10, **opts)
        success = got[f"{name}/success"]
        assert 0.1 < success.mean() < 0.95 and len(set(tf_result.steps.tolist())) > 5
        assert np.mean(success == tf_result.success) >= 0.97
        assert np.median(np.abs(got[f"{name}/steps"] - tf_result.steps)) == 0
        assert np.mean(got[f"{name}/predicted"] == tf_result.predicted) >= 0.97

    def test_observing_rules_equals_evolve_with_each_rule(self, float32_run):
        """One observing pass gives each rule's ``evolve`` result bit for bit."""
        got = float32_run[1]
        same(got, "observed/argmax", "alone/argmax")
        same(got, "observed/conf", "alone/conf")
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

    def test_results_do_not_depend_on_batch_size(self, float32_run):
        got = float32_run[1]
        same(got, "alone/argmax", "wide")
        for rule in ("argmax", "conf", "budget"):
            same(got, f"observed/{rule}", f"wide_observed/{rule}")


def same(got, a: str, b: str) -> None:
    for field in FIELDS:
        np.testing.assert_array_equal(got[f"{a}/{field}"], got[f"{b}/{field}"], err_msg=f"{a} {b} {field}")
