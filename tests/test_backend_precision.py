"""``--precision``: full float32 by default on every backend; TF32 reaches each framework's switch when asked.

On a CPU the switches change no result, so the tests read the switches:
TensorFlow's ``tensor_float_32_execution_enabled``, JAX's
``jax_default_matmul_precision`` and the precision the JAX engine runs its
products at, PyTorch's ``allow_tf32`` for CUDA products and cuDNN. Each
backend is checked in a subprocess with Keras on it.
"""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from tfadv import backends
from tfadv.backends import BackendError

# Prints the switches after making an engine for a tiny model, then after set_precision("tf32").
CHECK = """
import json, keras, tfadv.backends as b
from tfadv import engine
name = keras.backend.backend()
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(10, activation="softmax")])

def switches():
    if name == "tensorflow":
        import tensorflow as tf
        return {"tf32": tf.config.experimental.tensor_float_32_execution_enabled()}
    if name == "jax":
        import jax
        from tfadv.engine import jax as engine_jax
        return {"matmul": jax.config.jax_default_matmul_precision, "engine": engine_jax._precision()}
    import torch
    return {"matmul": torch.backends.cuda.matmul.allow_tf32, "cudnn": torch.backends.cudnn.allow_tf32}

engine.engine_for(model)  # making a backend sets the requested precision
out = {"requested": b.requested_precision(), "default": switches()}
b.set_precision("tf32")
engine.engine_for(keras.Sequential([keras.Input((4,)), keras.layers.Dense(10, activation="softmax")]))
out["tf32"] = dict(switches(), requested=b.requested_precision())
print(json.dumps(out))
"""
EXPECTED = {
    "tensorflow": ({"tf32": False}, {"tf32": True}),
    "jax": ({"engine": "highest"}, {"matmul": "tensorfloat32", "engine": "tensorfloat32"}),
    "torch": ({"matmul": False, "cudnn": False}, {"matmul": True, "cudnn": True}),
}


@pytest.mark.parametrize("backend", backends.BACKENDS)
def test_full_float32_by_default_and_tf32_when_asked(backend):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed: its precision switch is not checked")
    env = {k: v for k, v in os.environ.items() if k != "TFADV_PRECISION"}
    env.update(KERAS_BACKEND=backend, OMP_WAIT_POLICY="PASSIVE")
    run = subprocess.run([sys.executable, "-c", CHECK], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    got = json.loads(run.stdout.strip().splitlines()[-1])
    default, tf32 = EXPECTED[backend]
    assert got["requested"] == "highest"
    assert {k: got["default"][k] for k in default} == default
    assert {k: got["tf32"][k] for k in tf32} == tf32 and got["tf32"]["requested"] == "tf32"


def test_the_setting_is_checked_and_travels_in_the_environment(monkeypatch):
    monkeypatch.delenv("TFADV_PRECISION", raising=False)
    assert backends.requested_precision() == "highest"
    with pytest.raises(BackendError, match="unknown precision 'bf16'; choose one of highest, tf32"):
        backends.set_precision("bf16", "tensorflow")
    monkeypatch.setenv("TFADV_PRECISION", "tf32")
    assert backends.requested_precision() == "tf32"
    monkeypatch.setenv("TFADV_PRECISION", "fast")
    with pytest.raises(BackendError, match="TFADV_PRECISION"):
        backends.requested_precision()


def test_entry_points_define_the_flag_with_full_float32_as_default():
    code = ("import sys; from absl import flags; from tfadv.flags import define_data_flags; define_data_flags(); "
            "flags.FLAGS(['prog']); print(flags.FLAGS.precision, flags.FLAGS['precision'].parser.enum_values)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.split() == ["highest", "['highest',", "'tf32']"]
