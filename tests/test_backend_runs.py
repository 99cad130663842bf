"""The whole pipeline on the other Keras backends: ``reproduce --backend=jax`` (and ``torch``) on synthetic
data, without TensorFlow.

Every stage of both papers runs (training with ``model.fit``, HDF5 save and
load, the attacks, the summaries and every claim), in a process where
TensorFlow is never imported. ``--only`` names one table per paper, so the
figures (the same matplotlib code on every backend) are not redrawn here.
"""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

BACKENDS = [pytest.param(name, marks=pytest.mark.skipif(
    importlib.util.find_spec(name) is None,
    reason=f"{name} is not installed (pip install '.[{name}]'): the {name} backend is not run"))
    for name in ("jax", "torch")]

# reproduce's own main, with a record of the frameworks the process imported, written at exit.
RECORDING_REPRODUCE = """
import atexit, json, os, sys
atexit.register(lambda: open(os.environ["TFADV_TEST_MODULES"], "w").write(json.dumps(
    sorted({m.split(".")[0] for m in sys.modules} & {"tensorflow", "jax", "torch"}))))
from tfadv import reproduce
reproduce.main()
"""


@pytest.fixture(scope="module", params=BACKENDS)
def backend_run(request, tmp_path_factory):
    """A tiny synthetic run of both papers on the backend: its folder, the frameworks it imported, the backend."""
    cwd = tmp_path_factory.mktemp(request.param)
    flags = [f"--backend={request.param}", "--preset=tiny", "--synthetic_data", "--only=eyes_tab1,dough_tab5", "--output_dir=out"]
    env = dict(os.environ, TFADV_TEST_MODULES=str(cwd / "modules.json"))
    env.pop("KERAS_BACKEND", None)
    run = subprocess.run([sys.executable, "-c", RECORDING_REPRODUCE, *flags], cwd=cwd, env=env,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-4000:]
    return cwd / "out", json.loads((cwd / "modules.json").read_text()), request.param


def test_a_run_never_imports_tensorflow(backend_run):
    _, frameworks, backend = backend_run
    assert backend in frameworks and "tensorflow" not in frameworks  # Keras on torch imports jax if installed


def test_a_run_judges_every_claim_and_records_its_backend(backend_run):
    out, _, backend = backend_run
    claims = json.loads((out / "claims.json").read_text())["claims"]
    assert [c["id"] for c in claims] == [f"A{i}" for i in range(1, 6)] + [f"B{i}" for i in range(1, 7)]
    assert all(c["verdict"] in ("reproduced", "partly", "not reproduced") for c in claims)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["versions"]["backend"] == backend and manifest["versions"][backend]
    assert "tensorflow" not in manifest["versions"]
    assert manifest["versions"]["precision"] == "highest" and manifest["flags"]["precision"] == "highest"
    assert manifest["flags"]["backend"] == backend
    assert json.loads((out / "tfadv_output.json").read_text())["backend"] == backend
    assert f"on {'JAX' if backend == 'jax' else 'PyTorch'} " in (out / "REPORT.md").read_text()
    assert sorted(p.name for p in (out / "tables").iterdir() if p.suffix == ".csv") == ["dough_tab5.csv",
                                                                                      "eyes_tab1.csv"]


def test_a_model_trained_on_another_backend_loads_on_tensorflow_with_its_recorded_accuracy(backend_run):
    from tfadv.models import predict
    from tfadv.sources import SyntheticData
    from tfadv.training import load_model

    out, _, backend = backend_run
    (_, (images, labels)), _ = SyntheticData().load("mnist")
    for name in ("cnn_relu__mnist__brief__s0.h5", "mlp_deep_sigmoid__mnist__brief__s0.h5"):
        model, metadata = load_model(out / "models" / name)
        assert metadata["versions"]["backend"] == backend
        accuracy = float((predict(model, images).argmax(axis=1) == labels).mean())
        assert accuracy == pytest.approx(metadata["test_accuracy"], abs=1 / len(labels)), name
