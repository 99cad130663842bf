"""Every entry point as a new user meets it: one-line errors, --help, quiet output, records, --clean.

Entry points run as subprocesses (``python -m tfadv.reproduce``, ``python -m
tfadv.train``, ``scripts/<id>.py``, ``benchmarks/attack_throughput.py``) from an
empty working folder, so a test also sees whatever they write outside their
output folder. What a finished run prints and records, and ``--clean`` on it,
are tested beside that run, in ``test_pipeline.py``.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from command_line import listing, user_env
from tfadv import artifacts, data
from tfadv.config import main_config
from tfadv.flags import one_line
from tfadv.provenance import NOT_A_CHECKOUT, git_record

REPO = Path(__file__).resolve().parents[1]
REPRODUCE = ["-m", "tfadv.reproduce"]
TRAIN = ["-m", "tfadv.train"]
SCRIPT = [str(REPO / "scripts" / "eyes_fig1.py")]
BENCHMARK = [str(REPO / "benchmarks" / "attack_throughput.py")]


def run(args, cwd, timeout=900):
    return subprocess.run([sys.executable, *args], cwd=cwd, env=user_env(), capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Prepared bad inputs: damaged data, a folder without data, a file, an old output folder, no reference."""
    root = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(0)
    damaged = root / "damaged" / "mnist"
    damaged.mkdir(parents=True)
    for split, n in (("train", 60), ("t10k", 20)):
        data.write_idx(damaged / f"{split}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        data.write_idx(damaged / f"{split}-labels-idx1-ubyte.gz", rng.integers(0, 10, n, dtype=np.uint8))
    (root / "nodata").mkdir()
    (root / "noref").mkdir()
    (root / "a_file").write_text("not a folder")
    (root / "old").mkdir()
    (root / "old" / artifacts.STAMP).write_text(json.dumps({"format": 999}))
    return root




BAD = {
    "reproduce empty output_dir": (REPRODUCE + ["--output_dir="], "--output_dir=: must name a folder"),
    "reproduce --paper with --only": (REPRODUCE + ["--paper=eyes", "--only=eyes_fig1"], "cannot be combined"),
    "reproduce unknown item": (REPRODUCE + ["--only=eyes_figX"], "Unknown item 'eyes_figX'; known: eyes_fig1"),
    "reproduce empty --only": (REPRODUCE + ["--only="], "--only is empty"),
    "reproduce --check without claims": (REPRODUCE + ["--check={inputs}/noref"], "no claims.json there"),
    "reproduce missing data": (REPRODUCE + ["--data_dir={inputs}/nodata", "--preset=tiny", "--only=eyes_tab1"],
                               "does not hold mnist. Looked in, in order: 1. "),
    "reproduce damaged data": (REPRODUCE + ["--data_dir={inputs}/damaged", "--preset=tiny", "--only=eyes_tab1"],
                               "checksum mismatch"),
    "reproduce unwritable output": (REPRODUCE + ["--synthetic_data", "--output_dir={inputs}/a_file/out"],
                                    "Cannot write to output"),
    "reproduce incompatible output": (REPRODUCE + ["--synthetic_data", "--output_dir={inputs}/old"],
                                      "incompatible version of tfadv"),
    "reproduce --clean without a run": (REPRODUCE + ["--clean", "--output_dir={inputs}/nodata"],
                                        "not a tfadv output folder"),
    "reproduce --clean with --paper": (REPRODUCE + ["--clean", "--paper=eyes"], "drop --paper"),
    "reproduce unknown preset": (REPRODUCE + ["--preset=huge"], "value should be one of <paper|quick|tiny>"),
    "reproduce positional argument": (REPRODUCE + ["eyes_fig1"], "unexpected arguments: eyes_fig1"),
    "train unknown model": (TRAIN + ["--model=vgg"], "--model=vgg: value should be one of <cnn_relu"),
    "train unknown config": (TRAIN + ["--model=cnn_relu", "--config=foo"], "--config=foo: value should be one"),
    "train without model": (TRAIN, "--model=NAME, one of cnn_relu"),
    "train pair without main config": (TRAIN + ["--model=mlp_shallow_sigmoid", "--dataset=fashion_mnist"],
                                       "no main configuration; pass --config"),
    "train damaged data": (TRAIN + ["--model=cnn_relu", "--data_dir={inputs}/damaged"], "pass --no_verify"),
    "train incompatible output": (TRAIN + ["--model=cnn_relu", "--synthetic_data", "--output_dir={inputs}/old"],
                                  "incompatible version of tfadv"),
    "script empty output_dir": (SCRIPT + ["--output_dir="], "--output_dir=: must name a folder"),
    "script unwritable output": (SCRIPT + ["--synthetic_data", "--output_dir={inputs}/a_file/out"],
                                 "Cannot write to output"),
    "benchmark unknown model": (BENCHMARK + ["--models=vgg"], "unknown models ['vgg']"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_input_is_one_line_on_stderr_and_writes_nothing_outside_the_output_folder(case, inputs, tmp_path):
    args, expected = BAD[case]
    args = [a.format(inputs=inputs) for a in args]
    if not any(a.startswith("--output_dir") for a in args):
        args.append("--output_dir=out")
    before = listing(inputs)
    result = run(args, tmp_path)
    lines = result.stderr.splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and ": error: " in lines[0], result.stderr
    assert expected in lines[0]
    assert set(os.listdir(tmp_path)) <= {"out"}
    assert listing(inputs) == before


def test_damaged_data_error_points_at_a_flag_that_exists(inputs, tmp_path):
    with pytest.raises(data.DataChecksumError, match="pass --no_verify"):
        data.load_dataset("mnist", inputs / "damaged")
    result = run([*TRAIN, "--model=mlp_shallow_relu", "--config=brief", f"--data_dir={inputs}/damaged", "--no_verify",
                  "--output_dir=out", "--verbosity=-1"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == ["warning: --no_verify: the data files are not checked against their "
                                          "published sha256; manifest.json records them as not verified."]
    assert "mlp_shallow_relu__mnist__brief__s0.h5: test accuracy" in result.stdout


def test_verbosity_1_shows_the_traceback(tmp_path):
    result = run([*REPRODUCE, "--only=eyes_figX", "--verbosity=1", "--output_dir=out"], tmp_path)
    assert result.returncode == 2
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.splitlines()[-1].startswith("tfadv.reproduce: error: --only: Unknown item")


def test_one_line_folds_the_places_looked_at():
    text = "mnist not found. Looked in, in order:\n  1. a: does not exist\n  2. b: not set\nFix: pass --data_dir"
    assert one_line(text) == "mnist not found. Looked in, in order: 1. a: does not exist; 2. b: not set. Fix: pass --data_dir"


HELP = {
    "reproduce": (REPRODUCE, {"output_dir": "results", "preset": "paper", "force": "false", "no_verify": "false",
                              "synthetic_data": "false", "clean": "false", "yes": "false", "verbosity": "0",
                              "executor": "serial", "dry_run": "false"},
                  ["data_dir", "paper", "only", "check", "keep_presets", "ray_address"]),
    "train": (TRAIN, {"output_dir": "results", "dataset": "mnist", "seed": "0", "force": "false",
                      "no_verify": "false", "verbosity": "0"}, ["model", "config", "data_dir"]),
    "script": (SCRIPT, {"output_dir": "results", "preset": "paper", "force": "false", "no_verify": "false",
                        "verbosity": "0"}, ["data_dir"]),
    "benchmark": (BENCHMARK, {"output_dir": "results", "steps": "100", "repeats": "3", "verbosity": "0"}, ["models"]),
}


@pytest.mark.parametrize("entry", list(HELP))
def test_help_lists_every_flag_with_its_default(entry, tmp_path):
    args, defaults, others = HELP[entry]
    result = run([*args, "--help"], tmp_path)
    text = re.sub(r"\s+", " ", result.stdout)
    for name, default in defaults.items():
        assert re.search(rf"--(\[no\])?{name}: .*?\(default: '{default}'\)", text), name
    for name in others:
        assert re.search(rf"--(\[no\])?{name}: ", text), name
    assert not os.listdir(tmp_path)


@pytest.mark.parametrize("entry", ["reproduce", "train", "script"])
@pytest.mark.parametrize("flag", ["--help", "--no_such_flag"])
def test_help_and_flag_errors_load_no_framework(entry, flag, tmp_path):
    result = run(["-X", "importtime", *HELP[entry][0], flag], tmp_path)
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert "tfadv.flags" in imported  # the import record is really there
    assert not {m for m in imported if m.split(".")[0] in ("keras", "tensorflow", "jax", "torch")}


def test_main_configuration_is_what_the_protocol_trains():
    expected = {("mlp_shallow_sigmoid", "mnist"): "long", ("mlp_deep_sigmoid", "mnist"): "long_cosine",
                ("mlp_shallow_relu", "mnist"): "long_cosine", ("mlp_deep_relu", "mnist"): "long_cosine",
                ("mlp_deep_relu", "fashion_mnist"): "long_cosine", ("cnn_relu", "mnist"): "default",
                ("cnn_relu", "fashion_mnist"): "default", ("cnn_sigmoid", "mnist"): "cosine15",
                ("cnn_sigmoid", "fashion_mnist"): "cosine15"}
    assert {pair: main_config(*pair) for pair in expected} == expected
    with pytest.raises(ValueError, match="no mlp_deep_sigmoid on fashion_mnist"):
        main_config("mlp_deep_sigmoid", "fashion_mnist")


def test_git_record_of_a_folder_that_is_not_a_checkout(tmp_path):
    assert git_record(tmp_path) == {"commit": NOT_A_CHECKOUT, "dirty": None, "path": str(tmp_path.resolve())}
    # An installed copy inside some repository (e.g. .venv/lib/.../tfadv in a clone) is not that repository's source.
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "tracked.txt").write_text("x")
    subprocess.run(["git", "-C", str(tmp_path), "add", "tracked.txt"], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"],
                   check=True)
    installed = tmp_path / "venv" / "tfadv"
    installed.mkdir(parents=True)
    (installed / "__init__.py").write_text("")
    assert git_record(installed)["commit"] == NOT_A_CHECKOUT
    (tmp_path / "tfadv").mkdir()
    (tmp_path / "tfadv" / "__init__.py").write_text("")
    subprocess.run(["git", "-C", str(tmp_path), "add", "tfadv/__init__.py"], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "y"],
                   check=True)
    record = git_record(tmp_path / "tfadv")
    assert len(record["commit"]) == 40 and record["dirty"] is False
    (tmp_path / "tracked.txt").write_text("changed")
    assert git_record(tmp_path / "tfadv")["dirty"] is True
