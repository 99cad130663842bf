"""The engine's JAX backend (tfadv.engine.jax) against the TensorFlow one.

This process runs Keras on TensorFlow; the JAX side runs in a subprocess
(``KERAS_BACKEND=jax``) that imports this file and calls one of the ``jax_*``
functions below. The models, cases, float64 reference and checks are
tests/engine_cases.py's, shared with tests/test_engine_torch.py.
"""

import importlib.util
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # engine_cases, also in the subprocess

import engine_cases as cases  # noqa: E402
from tfadv import engine  # noqa: E402

pytestmark = pytest.mark.skipif(importlib.util.find_spec("jax") is None,
                                reason="jax is not installed (pip install jax): no JAX backend to test")
OTHERS = ("tensorflow", "torch")


# ---------------------------------------------------------------- the JAX side (subprocess)


def jax_float64(out: Path) -> None:
    """``engine_cases.float64_arrays``, after checking x64 is on and the CNN gets the fast gradients."""
    import jax

    from tfadv.engine.jax import JaxBackend

    assert jax.config.jax_enable_x64 and isinstance(engine.engine_for(cases.hand_mlp()).backend, JaxBackend)
    fast = [type(layer).__name__ for layer in engine.engine_for(cases.tiny_cnn()).backend.head._inner.layers]
    assert fast.count("_FastGradient") == 5, fast  # every convolution and pooling layer
    cases.save(out, cases.float64_arrays(), OTHERS)


def jax_float32(weights: Path, out: Path) -> None:
    """``engine_cases.float32_arrays``, and how often each chunk function compiled."""
    import jax

    assert not jax.config.jax_enable_x64
    arrays, model = cases.float32_arrays(weights)
    # One compile per (loss, stop kinds, slot count): n, release, lr, kappas... are traced arguments.
    eng = engine.engine_for(model)
    for (loss, kinds), chunk in eng.backend._chunks.items():
        stop = kinds[0] if len(kinds) == 1 else kinds
        sizes = {size for key_loss, key_stop, size, _ in eng._programs if (key_loss, key_stop) == (loss, stop)}
        arrays[f"compiles/{loss}/{'+'.join(kinds)}"] = (chunk._cache_size(), len(sizes))
    cases.save(out, arrays, OTHERS)


@pytest.fixture(scope="module")
def float64_run(tmp_path_factory):
    return cases.run_side("test_engine_jax", "jax_float64", dict(KERAS_BACKEND="jax", JAX_ENABLE_X64="1"),
                          tmp_path_factory.mktemp("jax64") / "out.npz")


@pytest.fixture(scope="module")
def float32_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("jax32")
    weights, path = cases.zoo_weights(folder)
    return weights, cases.run_side("test_engine_jax", "jax_float32", dict(KERAS_BACKEND="jax", JAX_ENABLE_X64="0"),
                                   path, folder / "out.npz")


# ---------------------------------------------------------------- the checks


class TestJaxEngine(cases.EngineChecks):
    """``engine_cases.EngineChecks`` on this engine, and what only it must do."""

    def test_programs_compile_once_per_slot_count(self, float32_run):
        compiles = {k: v for k, v in float32_run[1].items() if k.startswith("compiles/")}
        assert set(compiles) == {"compiles/mse/argmax", "compiles/mse/confidence",
                                 "compiles/mse/argmax+confidence+budget"}
        for name, (compiled, sizes) in compiles.items():
            assert compiled == sizes, name
