"""The engine's PyTorch backend (tfadv.engine.torch) against the TensorFlow one.

This process runs Keras on TensorFlow; the PyTorch side runs in a subprocess
(``KERAS_BACKEND=torch``) that imports this file and calls one of the
``torch_*`` functions below, exchanging arrays through ``.npz`` files. The
models, cases and step-by-step float64 reference are those of
tests/test_engine_jax.py (imported from it); random weights travel in the
files (Keras' initializers draw differently on each backend).

Keras 3.15 imports JAX whenever it is installed (its Orbax checkpoint
callback), so the subprocess makes ``import jax`` fail before Keras loads:
the PyTorch engine must run with neither TensorFlow nor JAX loaded.
"""

import importlib.machinery
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest


class _NoJax:
    """An import hook under which ``import jax`` fails (Keras then goes on without it)."""

    def find_spec(self, name, path=None, target=None):
        blocked = name.split(".")[0] in ("jax", "jaxlib")
        return importlib.machinery.ModuleSpec(name, self) if blocked else None

    def create_module(self, spec):
        raise ModuleNotFoundError(f"No module named {spec.name!r} (blocked by tests/test_engine_torch.py)")

    def exec_module(self, module):  # never reached: create_module raises
        raise AssertionError(module)


if os.environ.get("TFADV_TEST_BLOCK_JAX") == "1":  # the subprocess, before anything imports Keras
    sys.meta_path.insert(0, _NoJax())
sys.path.insert(0, str(Path(__file__).parent))  # the shared helpers, also in the subprocess

from test_engine_jax import (  # noqa: E402
    FIELDS, FLOAT64_CASES, KAPPA, OBSERVED, STEPS, ZOO, _reference, _rules, _same, float64_starts, hand_mlp,
    tiny_cnn, zoo_model)
from tfadv import engine  # noqa: E402
from tfadv.engine.scheduler import StepRule  # noqa: E402

pytestmark = pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                                reason="torch is not installed (pip install torch): no PyTorch backend to test")


# ---------------------------------------------------------------- the PyTorch side (subprocess)


def torch_float64(out: Path) -> None:
    """Per case: the program's float64 inputs after each step, its outcomes, and ``evolve``'s result."""
    from tfadv.engine.torch import TorchBackend

    assert isinstance(engine.engine_for(hand_mlp()).backend, TorchBackend)
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
    cnn, x = tiny_cnn(), np.random.default_rng(4).uniform(size=(5, 13, 13, 1))
    arrays.update({f"cnn/{loss}": engine.input_gradient(cnn, x, np.arange(5), loss) for loss in engine.LOSSES})
    _save(out, arrays)


def torch_float32(weights: Path, out: Path) -> None:
    """The zoo models' results, one observing pass and the same rules alone, two batch sizes."""
    from tfadv.backends import enable_determinism

    enable_determinism()  # as the entry points run it
    weights, arrays = np.load(weights), {}
    for name, (opts, n) in ZOO.items():
        model = zoo_model(name, weights)
        x = engine.make_starts("uniform", n, seed=5)
        result = engine.evolve(model, x, np.arange(n) % 10, **opts)
        arrays.update({f"{name}/{f}": getattr(result, f) for f in FIELDS})
        arrays[f"{name}/trainable"] = all(v.value.requires_grad for v in model.trainable_variables)
        arrays[f"{name}/no_weight_gradient"] = all(v.value.grad is None for v in model.variables)
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
    _save(out, arrays)


def _save(out: Path, arrays: dict) -> None:
    loaded = sorted({name.split(".")[0] for name in sys.modules} & {"tensorflow", "jax"})
    np.savez(out, other_frameworks=np.array(loaded, str), **arrays)


def _run_torch(function: str, *paths):
    # OMP_WAIT_POLICY: OpenMP threads that spin while they wait run ~100x slower on busy cores.
    env = dict(os.environ, KERAS_BACKEND="torch", TFADV_TEST_BLOCK_JAX="1",
               OMP_WAIT_POLICY=os.environ.get("OMP_WAIT_POLICY", "PASSIVE"))
    code = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import test_engine_torch as t; "
            f"t.{function}(*{[str(p) for p in paths]!r})")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return np.load(paths[-1])


@pytest.fixture(scope="module")
def float64_run(tmp_path_factory):
    return _run_torch("torch_float64", tmp_path_factory.mktemp("torch64") / "out.npz")


@pytest.fixture(scope="module")
def float32_run(tmp_path_factory):
    from tfadv.models import build_model

    folder = tmp_path_factory.mktemp("torch32")
    weights = {f"{name}/{i}": w for name in ZOO for i, w in enumerate(build_model(name, seed=0).get_weights())}
    np.savez(folder / "weights.npz", **weights)
    return weights, _run_torch("torch_float32", folder / "weights.npz", folder / "out.npz")


# ---------------------------------------------------------------- the checks


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
    model, x = tiny_cnn(), np.random.default_rng(4).uniform(size=(5, 13, 13, 1))
    for loss in engine.LOSSES:
        expected = engine.input_gradient(model, x, np.arange(5), loss)
        assert np.abs(expected).max() > 1e-3 and np.all(expected[:, 12] == 0)  # the dropped row
        np.testing.assert_allclose(float64_run[f"cnn/{loss}"], expected, rtol=0, atol=1e-12, err_msg=loss)


def test_the_torch_engine_loads_neither_tensorflow_nor_jax(float64_run, float32_run):
    assert not float64_run["other_frameworks"].size and not float32_run[1]["other_frameworks"].size


def test_weights_get_no_gradient_and_are_trainable_again_after_evolving(float32_run):
    """Only the input is differentiated; ``frozen()`` turns the weights' gradients off for the pass only."""
    assert all(float32_run[1][f"{name}/no_weight_gradient"] for name in ZOO)
    assert all(float32_run[1][f"{name}/trainable"] for name in ZOO)


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
    argmax, conf = (got[f"alone/{k}/steps"] for k in ("argmax", "conf"))
    assert np.any(conf > argmax) and 0 < got["alone/conf/success"].sum() < 300


def test_results_do_not_depend_on_batch_size(float32_run):
    got = float32_run[1]
    _same(got, "alone/argmax", "wide")
    for rule in ("argmax", "conf", "budget"):
        _same(got, f"observed/{rule}", f"wide_observed/{rule}")
