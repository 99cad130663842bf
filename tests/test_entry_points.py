"""Every entry point as a new user meets it: one-line errors, --help, quiet output, records, --clean.

Entry points run as subprocesses (``python -m tfadv.reproduce``, ``python -m
tfadv.train``, ``scripts/<id>.py``, ``benchmarks/attack_throughput.py``) from an
empty working folder, so a test also sees whatever they write outside their
output folder. One tiny synthetic run (no data files needed) is shared by the
tests that need a finished run.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tfadv import artifacts, data, registry
from tfadv.cache import cache_files
from tfadv.config import get_preset, main_config
from tfadv.flags import NOISE, one_line
from tfadv.provenance import NOT_A_CHECKOUT, git_record

REPO = Path(__file__).resolve().parents[1]
REPRODUCE = ["-m", "tfadv.reproduce"]
TRAIN = ["-m", "tfadv.train"]
SCRIPT = [str(REPO / "scripts" / "eyes_fig1.py")]
BENCHMARK = [str(REPO / "benchmarks" / "attack_throughput.py")]
LOG_LINE = re.compile(r"^[IWEF]\d{4} ")  # absl/TensorFlow log prefix, e.g. I1202 06:56:12.34 ...


def _env():
    env = dict(os.environ, MPLBACKEND="Agg")
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # the entry points' own default, as a new user gets it
    return env


def run(args, cwd, merge=False, timeout=900):
    return subprocess.run([sys.executable, *args], cwd=cwd, env=_env(), capture_output=not merge, text=True,
                          timeout=timeout, stdout=subprocess.PIPE if merge else None,
                          stderr=subprocess.STDOUT if merge else None)


def _listing(folder: Path) -> dict:
    """Every file (and link) under ``folder`` with its modification time."""
    return {p: p.lstat().st_mtime_ns for p in folder.rglob("*") if p.is_file() or p.is_symlink()}


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


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """``python -m tfadv.reproduce --preset=tiny --synthetic_data``: the output folder and everything printed."""
    cwd = tmp_path_factory.mktemp("tiny")
    result = run([*REPRODUCE, "--preset=tiny", "--synthetic_data", "--output_dir=out"], cwd, merge=True)
    assert result.returncode == 0, result.stdout[-4000:]
    return cwd / "out", result.stdout


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
    "reproduce unwritable output": (REPRODUCE + ["--output_dir={inputs}/a_file/out"], "Cannot write to output"),
    "reproduce incompatible output": (REPRODUCE + ["--output_dir={inputs}/old"], "incompatible version of tfadv"),
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
    before = _listing(inputs)
    result = run(args, tmp_path)
    lines = result.stderr.splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and ": error: " in lines[0], result.stderr
    assert expected in lines[0]
    assert set(os.listdir(tmp_path)) <= {"out"}
    assert _listing(inputs) == before


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


def test_main_configuration_is_what_the_protocol_trains():
    expected = {("mlp_shallow_sigmoid", "mnist"): "long", ("mlp_deep_sigmoid", "mnist"): "long_cosine",
                ("mlp_shallow_relu", "mnist"): "long_cosine", ("mlp_deep_relu", "mnist"): "long_cosine",
                ("mlp_deep_relu", "fashion_mnist"): "long_cosine", ("cnn_relu", "mnist"): "default",
                ("cnn_relu", "fashion_mnist"): "default", ("cnn_sigmoid", "mnist"): "cosine15",
                ("cnn_sigmoid", "fashion_mnist"): "cosine15"}
    assert {pair: main_config(*pair) for pair in expected} == expected
    with pytest.raises(ValueError, match="no mlp_deep_sigmoid on fashion_mnist"):
        main_config("mlp_deep_sigmoid", "fashion_mnist")


def test_a_run_prints_only_progress_stages_and_results(tiny_run):
    _, printed = tiny_run
    lines = printed.splitlines()
    assert len(lines) <= 40, printed
    assert not [line for line in lines if LOG_LINE.match(line) or any(p.search(line) for p in NOISE)], printed
    assert not [line for line in lines if "Epoch" in line or "Traceback" in line or "WARNING" in line], printed
    assert "eyes: 9 figures and tables" in printed and "A1: " in printed and "Report: " in printed


def test_manifest_records_the_commit_and_unverified_data(tiny_run):
    out, _ = tiny_run
    manifest = artifacts.read_json(out / "manifest.json")
    # The package the command ran: from a checkout (editable install) or an installed copy (pip install .,
    # as .ci/run does), whichever a fresh interpreter in the run's folder imports.
    where = subprocess.run([sys.executable, "-c", "import os, tfadv; print(os.path.dirname(tfadv.__file__))"],
                           cwd=out.parent, capture_output=True, text=True, check=True).stdout.strip()
    assert manifest["source"]["path"] == str(Path(where).resolve())
    if Path(where).resolve() == (REPO / "tfadv").resolve():
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True)
        assert manifest["source"]["commit"] == head.stdout.strip()
        assert isinstance(manifest["source"]["dirty"], bool)
    else:  # an installed copy is no checkout, even inside a clone's .venv
        assert manifest["source"]["commit"] == NOT_A_CHECKOUT and manifest["source"]["dirty"] is None
    assert manifest["flags"]["no_verify"] is False
    assert [d["verified"] for d in manifest["data"].values()] == [False, False]  # synthetic data is never verified


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


def test_clean_lists_then_removes_only_caches_no_chosen_preset_reads(tiny_run, tmp_path):
    out, _ = tiny_run
    cwd = tmp_path
    result = run([*REPRODUCE, "--clean", "--preset=tiny", f"--output_dir={out}"], cwd)
    assert result.returncode == 0 and "Nothing to clean" in result.stdout, result.stdout + result.stderr
    kept = _listing(out)
    outside = tmp_path / "outside.h5"
    outside.write_text("must survive")
    stale = [out / "attacks" / "eyes" / "mlp_shallow_sigmoid__brief__s0__d3__000000000000.npz",
             out / "summaries" / "eyes__000000000000.npz",
             out / "models" / "cnn_relu__mnist__default__s7.h5",
             out / "attacks" / "dough" / ".half-written.tmp-x.npz",
             out / "models" / "link.h5"]
    for path in stale[:-1]:
        path.write_bytes(b"old")
    stale[-1].symlink_to(outside)
    listed = run([*REPRODUCE, "--clean", "--preset=tiny", f"--output_dir={out}"], cwd)
    assert listed.returncode == 0
    assert sorted(listed.stdout.splitlines()[:-1]) == sorted(str(p) for p in stale)
    assert "delete them with --clean --yes" in listed.stdout.splitlines()[-1]
    assert all(p.exists() or p.is_symlink() for p in stale)
    # Preset paper: every tiny cache is unused, but for the model files the paper also trains under the same
    # name (short and untrained seeds 0/1): the next paper run overwrites them, so they are not listed.
    paper = get_preset("paper")
    paper_models = {f"{k.model}__{k.dataset}__{k.config}__s{k.seed}.h5" for p in registry.PAPERS
                    for k in p.models_needed(p.config(paper))}
    every = run([*REPRODUCE, "--clean", f"--output_dir={out}"], cwd)
    expected = [str(p) for p in cache_files(out) if p.name not in paper_models]
    assert every.stdout.splitlines()[:-1] == expected and len(expected) < len(cache_files(out))
    both = run([*REPRODUCE, "--clean", "--keep_presets=paper,tiny", f"--output_dir={out}"], cwd)
    assert len(both.stdout.splitlines()) - 1 == len(stale)
    removed = run([*REPRODUCE, "--clean", "--preset=tiny", "--yes", f"--output_dir={out}"], cwd)
    assert removed.returncode == 0 and removed.stdout.splitlines()[-1].startswith("Removed 5 files")
    assert not any(p.exists() or p.is_symlink() for p in stale)
    assert outside.read_text() == "must survive"
    assert _listing(out) == kept  # claims, report, figures, tables and every used cache untouched
    assert set(os.listdir(cwd)) == {"outside.h5"}
