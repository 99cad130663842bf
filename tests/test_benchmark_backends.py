"""``benchmarks/attack_throughput.py`` across Keras backends: one child process per backend, one table.

The benchmark runs as a subprocess from an empty folder, with tiny settings
and models trained on synthetic data (the figures mean nothing; the flow is
what is tested). tf-keras-vis is measured only where it is installed (the
benchmark's own venv); elsewhere it is left out with ``--notf_keras_vis``.
"""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tfadv import data
from tfadv.backends import installed_backends

REPO = Path(__file__).resolve().parents[1]
BENCHMARK = str(REPO / "benchmarks" / "attack_throughput.py")
TINY = ["--models=mlp_shallow_sigmoid", "--n=128", "--steps=5", "--repeats=1", "--eager_examples=2",
        "--eager_steps=2", "--synthetic_data", "--output_dir=out"]
TINY += ["--tkv_n=16"] if importlib.util.find_spec("tf_keras_vis") else ["--notf_keras_vis"]


def _run(args, cwd):
    env = dict(os.environ)
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    env.pop("KERAS_BACKEND", None)
    return subprocess.run([sys.executable, BENCHMARK, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=900)


def test_the_module_imports_no_framework():
    code = ("import importlib.util, sys; "
            f"spec = importlib.util.spec_from_file_location('bench', {BENCHMARK!r}); "
            "spec.loader.exec_module(importlib.util.module_from_spec(spec)); "
            "print(sorted(m for m in ('keras', 'tensorflow', 'jax', 'torch') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_every_backend_is_measured_in_its_own_child_and_reported_side_by_side(tmp_path):
    backends = [b for b in ("tensorflow", "jax") if b in installed_backends()]
    result = _run([f"--backends={','.join(backends)}", *TINY], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads((tmp_path / "out" / "benchmarks" / "attack_throughput.json").read_text())
    # The TensorFlow-only figures keep their place and keys.
    assert {"matmul_flops_per_s", "cpu_count", "load_average_at_start", "models", "targets"} <= set(summary)
    assert summary["precision"] == "highest"  # full float32 unless --precision=tf32
    assert summary["models"]["mlp_shallow_sigmoid"]["eager"] > 0
    assert list(summary["backends"]) == backends
    for name in backends:
        record = summary["backends"][name]
        assert record["keras_backend"] == name and record["versions"] and record["precision"] == "highest"
        assert record["models"]["mlp_shallow_sigmoid"]["engine"] > 0
    assert (summary["backends"]["tensorflow"]["models"]["mlp_shallow_sigmoid"]["engine"]
            == summary["models"]["mlp_shallow_sigmoid"]["engine"])
    lines = result.stdout.splitlines()
    header = next(line for line in lines if line.startswith("model ") and "[ex-steps/s]" in line)
    assert all(f"{name} [ex-steps/s]" in header for name in backends)
    assert any(line.startswith("MLP-a (mlp_shallow_sigmoid)") for line in lines)
    if "jax" in backends:
        assert "jax/tensorflow" in header
        ratio = summary["backends"]["jax"]["vs_tensorflow"]["mlp_shallow_sigmoid"]
        assert ratio["minimum"] == 0.8 and ratio["pass"] == (ratio["ratio"] >= 0.8)
        assert any(line.startswith("MLP-a") and ("PASS" in line or "MISS" in line) for line in lines)
    # Both children used the one model file, trained once.
    assert [p.name for p in (tmp_path / "out" / "models").iterdir()] == ["mlp_shallow_sigmoid__mnist__long__s0.h5"]


MISSING = ["nonsense"] + [b for b in ("torch", "jax") if b not in installed_backends()]


@pytest.mark.parametrize("backend", MISSING)
def test_an_unknown_or_missing_backend_is_one_line(backend, tmp_path):
    result = _run([f"--backends=tensorflow,{backend}", *TINY], tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("attack_throughput.py: error: --backends="), result.stderr
    assert ("unknown backend" if backend == "nonsense" else "pip install") in lines[0]
    assert not os.listdir(tmp_path)


def test_a_user_error_in_a_child_is_one_line(tmp_path):
    damaged = tmp_path / "damaged" / "mnist"
    damaged.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, n in (("train", 60), ("t10k", 20)):
        data.write_idx(damaged / f"{split}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        data.write_idx(damaged / f"{split}-labels-idx1-ubyte.gz", rng.integers(0, 10, n, dtype=np.uint8))
    args = [a for a in TINY if a != "--synthetic_data"] + ["--backends=tensorflow", f"--data_dir={damaged.parent}"]
    result = _run(args, tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("attack_throughput.py: error: mnist: checksum"), result.stderr
    assert "--no_verify" in lines[0]
