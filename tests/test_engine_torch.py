"""The engine's PyTorch backend (tfadv.engine.torch) against the TensorFlow one.

This process runs Keras on TensorFlow; the PyTorch side runs in a subprocess
(``KERAS_BACKEND=torch``) that imports this file and calls one of the
``torch_*`` functions below. The models, cases, float64 reference and checks
are tests/engine_cases.py's, shared with tests/test_engine_jax.py. Every
test here is skipped, saying so, where torch is not installed.

Keras 3.15 imports JAX whenever it is installed (its Orbax checkpoint
callback), so the subprocess makes ``import jax`` fail before Keras loads:
the PyTorch engine must run with neither TensorFlow nor JAX loaded.
"""

import importlib.machinery
import importlib.util
import os
import sys
from pathlib import Path

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
sys.path.insert(0, str(Path(__file__).parent))  # engine_cases, also in the subprocess

import engine_cases as cases  # noqa: E402
from tfadv import engine  # noqa: E402

pytestmark = pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                                reason="torch is not installed (pip install torch): no PyTorch backend to test")
OTHERS = ("tensorflow", "jax")


# ---------------------------------------------------------------- the PyTorch side (subprocess)


def torch_float64(out: Path) -> None:
    """``engine_cases.float64_arrays`` on the PyTorch engine."""
    from tfadv.engine.torch import TorchBackend

    assert isinstance(engine.engine_for(cases.hand_mlp()).backend, TorchBackend)
    cases.save(out, cases.float64_arrays(), OTHERS)


def torch_float32(weights: Path, out: Path) -> None:
    """``engine_cases.float32_arrays``, and whether each zoo model's weights stayed trainable and got
    no gradient."""
    from tfadv.backends import enable_determinism

    def weights_untouched(name, model, arrays):
        arrays[f"{name}/trainable"] = all(v.value.requires_grad for v in model.trainable_variables)
        arrays[f"{name}/no_weight_gradient"] = all(v.value.grad is None for v in model.variables)

    enable_determinism()  # as the entry points run it
    cases.save(out, cases.float32_arrays(weights, weights_untouched)[0], OTHERS)


def _env() -> dict:
    # OMP_WAIT_POLICY: OpenMP threads that spin while they wait run ~100x slower on busy cores.
    return dict(KERAS_BACKEND="torch", TFADV_TEST_BLOCK_JAX="1",
                OMP_WAIT_POLICY=os.environ.get("OMP_WAIT_POLICY", "PASSIVE"))


@pytest.fixture(scope="module")
def float64_run(tmp_path_factory):
    return cases.run_side("test_engine_torch", "torch_float64", _env(), tmp_path_factory.mktemp("torch64") / "out.npz")


@pytest.fixture(scope="module")
def float32_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("torch32")
    weights, path = cases.zoo_weights(folder)
    return weights, cases.run_side("test_engine_torch", "torch_float32", _env(), path, folder / "out.npz")


# ---------------------------------------------------------------- the checks


class TestTorchEngine(cases.EngineChecks):
    """``engine_cases.EngineChecks`` on this engine, and what only it must do."""

    def test_weights_get_no_gradient_and_are_trainable_again_after_evolving(self, float32_run):
        """Only the input is differentiated; ``frozen()`` turns the weights' gradients off for the pass only."""
        assert all(float32_run[1][f"{name}/no_weight_gradient"] for name in cases.ZOO)
        assert all(float32_run[1][f"{name}/trainable"] for name in cases.ZOO)
