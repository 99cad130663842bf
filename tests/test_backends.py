"""Choosing the Keras backend: the early --backend flag, install checks, folder stamps, version records."""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from tfadv import artifacts, backends
from tfadv.backends import BackendError


def test_early_backend_reads_both_flag_spellings_and_ignores_others():
    assert backends.early_backend(["prog", "--backend=jax"]) == "jax"
    assert backends.early_backend(["prog", "--preset=quick", "--backend", "torch"]) == "torch"
    assert backends.early_backend(["prog", "--backends=jax", "-backend=jax"]) is None
    assert backends.early_backend(["prog", "--backend=jax", "--backend=tensorflow"]) == "tensorflow"  # last wins
    assert backends.early_backend(["prog", "--backend"]) == ""  # no value: select_backend falls back


def test_early_flag_reads_values_before_absl():
    argv = ["prog", "--verbosity=1", "-v", "2", "--v=x", "-verbosity", "3", "--verbosityx=9"]
    assert backends.early_flag(argv, ("verbosity", "v"), single_dash=True, convert=int) == 3  # last valid wins
    assert backends.early_flag(argv, ("verbosity", "v"), convert=int) == 1  # one dash does not count
    assert backends.early_flag(["prog", "-v", "x"], "v", single_dash=True, convert=int) is None
    assert backends.early_flag(["prog", "--precision", "tf32", "--backend=jax"], "precision") == "tf32"
    assert backends.early_flag(["prog", "--precision"], "precision") == ""
    assert backends.early_flag(["prog"], "backend") is None


def test_early_verbosity_reads_the_same_spellings_as_absl():
    from tfadv.flags import early_verbosity

    assert early_verbosity(["prog"]) == 0
    assert early_verbosity(["prog", "--verbosity=1"]) == 1
    assert early_verbosity(["prog", "-v", "1"]) == 1
    assert early_verbosity(["prog", "--v", "2", "--verbosity=-1"]) == -1  # last wins
    assert early_verbosity(["prog", "--verbosity=1", "-v", "loud"]) == 1  # not a number: passed over
    assert early_verbosity(["prog", "-v"]) == 0


def test_unknown_or_missing_backends_say_what_to_do(monkeypatch):
    with pytest.raises(BackendError, match="unknown backend 'theano'; choose one of tensorflow, jax, torch"):
        backends.check_installed("theano")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(BackendError, match=r"pip install '\.\[torch\]'"):
        backends.check_installed("torch")


def test_select_backend_refuses_to_switch_a_loaded_keras(monkeypatch):
    import keras

    loaded = keras.backend.backend()
    other = next(b for b in backends.BACKENDS if b != loaded)
    monkeypatch.setattr(backends, "check_installed", lambda name: None)  # installed or not: the switch is refused
    with pytest.raises(BackendError, match=f"already running on {loaded}"):
        backends.select_backend(["prog", f"--backend={other}"])


def test_a_folder_holds_one_backends_results(tmp_path):
    out = artifacts.open_output_dir(tmp_path / "run", "jax")
    assert json.loads((out / artifacts.STAMP).read_text())["backend"] == "jax"
    assert artifacts.open_output_dir(out, "jax") == out
    with pytest.raises(artifacts.OutputDirError, match="made on the jax backend.*--output_dir=results_tensorflow"):
        artifacts.open_output_dir(out, "tensorflow")
    old = tmp_path / "old"  # stamped before backends were recorded: TensorFlow's
    old.mkdir()
    (old / artifacts.STAMP).write_text(json.dumps({"format": artifacts.OUTPUT_FORMAT}))
    assert artifacts.open_output_dir(old, "tensorflow") == old
    with pytest.raises(artifacts.OutputDirError, match="made on the tensorflow backend"):
        artifacts.open_output_dir(old, "jax")


def test_framework_label_reads_version_records():
    assert backends.framework_label({"backend": "jax", "jax": "0.10.2"}) == "JAX 0.10.2"
    assert backends.framework_label({"tensorflow": "2.21.0"}) == "TensorFlow 2.21.0"  # older records
    from tfadv.provenance import package_versions

    versions = package_versions()
    assert versions["backend"] == backends.active_backend()
    assert versions[versions["backend"]]  # the framework's installed version


@pytest.mark.parametrize("flag, message", [
    ("--backend=theano", "error: unknown backend 'theano'; choose one of tensorflow, jax, torch."),
    *([("--backend=torch", "error: the torch backend is not installed; install it with pip install '.[torch]'")]
      if importlib.util.find_spec("torch") is None else []),
])
def test_entry_point_rejects_a_bad_backend_in_one_line(tmp_path, flag, message):
    run = subprocess.run([sys.executable, "-m", "tfadv.reproduce", flag, f"--output_dir={tmp_path / 'out'}"],
                         capture_output=True, text=True, cwd=tmp_path, env=dict(os.environ, KERAS_BACKEND=""))
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and message in run.stderr, run.stderr
    assert not (tmp_path / "out").exists()
