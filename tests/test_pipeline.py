"""The whole pipeline of every registered paper on synthetic data, as a new user runs it.

``python -m tfadv.reproduce --preset=tiny --synthetic_data`` runs once, as a subprocess from an empty
working folder: train, attack, analyse, draw, report, claims. ``SyntheticData`` stands in for MNIST and
Fashion-MNIST, so CI needs no data files, and the ``tiny`` preset keeps every stage to seconds. The
numbers mean nothing about the papers; the tests pin that every stage runs, every item and claim is
made, caches are reused, the command prints only progress and results, its records and ``--clean``
work, and paper A's claimed numbers are what plain NumPy recomputes from the saved files. (One run serves all of them: it is most of this file's time.)
"""

import dataclasses
import json
import os
import pickle
import re
import subprocess
import sys
import time
import types
from pathlib import Path

import h5py
import numpy as np
import pytest

from command_line import listing, user_env
from tfadv import artifacts, registry
from tfadv.cache import cache_files
from tfadv.config import get_preset
from tfadv.context import RunContext
from tfadv.flags import NOISE
from tfadv.papers.eyes import stages as eyes_stages
from tfadv.pipeline import Pipeline
from tfadv.provenance import NOT_A_CHECKOUT
from tfadv.registry import PAPERS, all_items
from tfadv.sources import SyntheticData
from tfadv.verdicts import VERDICTS

REPO = Path(__file__).resolve().parents[1]
CLAIM_IDS = [c for p in PAPERS for c in p.claim_ids]
LOG_LINE = re.compile(r"^[IWEF]\d{4} ")  # absl/TensorFlow log prefix, e.g. I1202 06:56:12.34 ...

# ``python -m tfadv.reproduce`` that also records paper A's attack passes: the searches (SearchJob)
# each pass served, pickled to the file named by TFADV_TEST_ATTACKS when the process exits.
RECORDING_REPRODUCE = """
import atexit, os, pickle
from tfadv.flags import quiet_frameworks
quiet_frameworks()  # what reproduce does first: the stages below import keras before reproduce.main()
from tfadv import reproduce
from tfadv.papers.eyes import stages
attacks, evolve_family = [], stages._evolve
def recorded(model, family):
    attacks.append(tuple(family))
    return evolve_family(model, family)
stages._evolve = recorded
atexit.register(lambda: open(os.environ["TFADV_TEST_ATTACKS"], "wb").write(pickle.dumps(attacks)))
reproduce.main()
"""


def run(args, cwd):
    return subprocess.run([sys.executable, "-m", "tfadv.reproduce", *args], cwd=cwd, env=user_env(),
                          capture_output=True, text=True, timeout=900)


def _context(out):
    return RunContext(out, get_preset("tiny"), SyntheticData(), progress=False)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """The run's output folder, everything it printed, paper A's attack passes and its wall time."""
    cwd = tmp_path_factory.mktemp("tiny")
    attacks_file = tmp_path_factory.mktemp("record") / "attacks.pickle"
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", RECORDING_REPRODUCE, "--preset=tiny", "--synthetic_data",
                             "--output_dir=out"], cwd=cwd, env=user_env(TFADV_TEST_ATTACKS=str(attacks_file)),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=1800)
    assert result.returncode == 0, result.stdout[-4000:]
    seconds = time.perf_counter() - start
    return types.SimpleNamespace(out=cwd / "out", printed=result.stdout, seconds=seconds,
                                 attacks=pickle.loads(attacks_file.read_bytes()))


def _claims(out):
    return json.loads((out / "claims.json").read_text())["claims"]


def _stored(out):
    return {p: p.stat().st_mtime_ns for p in Path(out).glob("[mas][otu]*/**/*") if p.is_file()}


def test_every_item_is_drawn_into_its_files(tiny_run):
    out = tiny_run.out
    assert len(all_items()) == 18
    for item in all_items():
        made = list(out.glob(f"[ft][ia]*/{item.id}.*"))
        suffixes = {p.suffix for p in made}
        assert made and all(p.stat().st_size > 0 for p in made), item.id
        if "figure" in item.kind:
            assert {".png", ".pdf"} <= suffixes, item.id
        if "table" in item.kind:
            assert {".csv", ".md", ".tex"} <= suffixes, item.id
    print(f"tiny synthetic run of every paper: {tiny_run.seconds:.1f} s")


def test_every_claim_gets_the_verdict_its_checks_give(tiny_run):
    claims = _claims(tiny_run.out)
    assert [c["id"] for c in claims] == CLAIM_IDS == [f"A{i}" for i in range(1, 6)] + [f"B{i}" for i in range(1, 7)]
    assert json.loads((tiny_run.out / "claims.json").read_text())["preset"] == "tiny"
    assert all(c["preset"] == "tiny" for c in claims)  # beside each verdict
    for c in claims:
        passed = [ch["passed"] for ch in c["checks"]]
        expected = "reproduced" if all(passed) else "not reproduced" if not any(passed) else "partly"
        assert c["verdict"] == expected in VERDICTS, c["id"]
        assert c["headline"] and c["rule"] and c["claim"]


def test_every_stage_wrote_its_cache_and_a_second_run_reuses_all_of_it(tiny_run):
    out = tiny_run.out
    stored = _stored(out)
    kinds = {p.relative_to(out).parts[0] for p in stored}
    assert kinds == {"models", "attacks", "summaries"}
    assert {p.relative_to(out).parts[1] for p in stored if "attacks" in p.parts} == {"eyes", "dough"}
    again = Pipeline(_context(out))
    assert len([p for p in stored if p.suffix == ".h5"]) == len({m for p in PAPERS for m in again.models_needed(p)})
    assert [dict(c.to_dict(), preset="tiny") for p in PAPERS for c in again.claims(p.id)] == _claims(out)
    assert _stored(out) == stored  # nothing trained, attacked or summarised again


def test_report_names_every_item_and_claim(tiny_run):
    report = (tiny_run.out / "REPORT.md").read_text()
    for item in all_items():
        assert f"`{item.id}`" in report and f"scripts/{item.id}.py" in report
    for cid in CLAIM_IDS:
        assert f"### {cid}:" in report
    assert "![eyes_fig1](figures/eyes_fig1.png)" in report


def test_a_run_prints_only_progress_stages_and_results(tiny_run):
    printed = tiny_run.printed
    lines = printed.splitlines()
    assert len(lines) <= 40, printed
    assert not [line for line in lines if LOG_LINE.match(line) or any(p.search(line) for p in NOISE)], printed
    assert not [line for line in lines if "Epoch" in line or "Traceback" in line or "WARNING" in line], printed
    assert "eyes: 9 figures and tables" in printed and "A1: " in printed and "Report: " in printed


def test_manifest_records_the_commit_and_unverified_data(tiny_run):
    out = tiny_run.out
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
    assert manifest["flags"]["synthetic_data"] is True and manifest["preset"]["name"] == "tiny"
    assert set(manifest["data"]) == {"mnist", "fashion_mnist"}
    assert all(d["source"].startswith("synthetic") for d in manifest["data"].values())
    assert [d["verified"] for d in manifest["data"].values()] == [False, False]  # synthetic data is never verified


def test_manifest_keeps_exclusions_recorded_by_cached_summaries(tiny_run):
    """A cached run never meets the excluded models itself; their record comes from the summaries."""
    pipeline = Pipeline(_context(tiny_run.out))
    low = {"key": ["cnn_sigmoid", "mnist", "default", 0], "test_accuracy": 0.98, "floor": 0.988}
    other = {"key": ["mlp_shallow_sigmoid", "mnist", "long", 1], "test_accuracy": 0.9, "floor": 0.95}
    summaries = {"eyes": types.SimpleNamespace(excluded=[other]), "dough": types.SimpleNamespace(excluded=[low, other])}
    pipeline.summary = summaries.__getitem__
    assert pipeline.excluded(("eyes", "dough")) == [other, low]
    assert pipeline.excluded(("eyes",)) == [other]


def test_reproduce_command_runs_and_checks_against_its_own_output(tiny_run, capsys):
    """The command again, in this process (its code paths in this process's coverage) with ``--check``.

    ``--only`` names a table of each paper: both papers' claims are judged and checked, and the
    run does not redraw every figure (drawing, not judging, is what a cached run spends its time on).
    """
    from absl import flags

    from tfadv import reproduce

    out = tiny_run.out
    claims = _claims(out)
    if "check" not in flags.FLAGS:
        reproduce._define_flags()
    argv = ["reproduce", "--preset=tiny", "--synthetic_data", f"--output_dir={out}", f"--check={out}",
            "--only=eyes_tab1,dough_tab5", "--verbosity=-1"]
    flags.FLAGS.unparse_flags()
    flags.FLAGS(argv)
    try:
        reproduce._main(argv[:1])
    finally:
        flags.FLAGS.unparse_flags()
    printed = capsys.readouterr().out
    assert "no differences" in printed and f"{out}/REPORT.md" in printed
    assert _claims(out) == claims


def test_readings_that_share_an_attack_do_not_attack_twice(tiny_run, monkeypatch):
    """One attack pass per family of searches that differ only in their stop rule (PROTOCOL.md section 8)."""
    attacks = tiny_run.attacks
    cfg = PAPERS[0].config(get_preset("tiny"))
    families = eyes_stages.search_families(cfg)
    searches = sum(len(f) for f in families)
    assert len(attacks) == len(families) < searches  # every family attacked once, not every search
    attacked = [job for attack in attacks for job in attack]
    assert len(attacked) == len(set(attacked)) == searches  # every search attacked, none twice
    for attack in attacks:  # a pass serves searches that differ in their stop rule only
        assert len({dataclasses.replace(j, settings=dataclasses.replace(j.settings, stop="argmax", kappa=None))
                    for j in attack}) == 1
    stops = {(a[0].model.model, a[0].model.config, a[0].n_success, a[0].variant): tuple(j.settings.stop for j in a)
             for a in attacks}
    assert stops[(*cfg.nets[0], cfg.n_success, "main")] == ("argmax", "confidence", "budget")
    assert stops[(*cfg.classic_nets[0], cfg.n_success, "main")] == ("argmax", "budget")
    again = []
    monkeypatch.setattr(eyes_stages, "_evolve", lambda model, family: again.append(family))
    Pipeline(_context(tiny_run.out)).claims("eyes")
    assert again == []  # everything cached: no attack at all


def test_every_claim_is_judged_under_its_readings(tiny_run):
    out = tiny_run.out
    claims = _claims(out)
    by_id = {c["id"]: c for c in claims}
    setting_names = [r.name for r in PAPERS[0].readings(PAPERS[0].config(get_preset("tiny")))]
    assert setting_names == ["stop: confidence", "stop: fixed budget", "zero-step excluded", "training: classic",
                             "classic + fixed budget"]
    for c in claims:
        names = [r["name"] for r in c["readings"]]
        assert names[0] == "primary" and c["readings"][0]["verdict"] == c["verdict"]
        assert c["robust"] == all(r["verdict"] == c["verdict"] for r in c["readings"])
        if c["paper"] == "eyes":
            assert names[-5:] == setting_names
    assert [r["name"] for r in by_id["A4"]["readings"]][1] == "A4 control: no evidence"
    assert [r["name"] for r in by_id["B4"]["readings"]][1] == "B4: by columns"
    for name in ("training: classic", "classic + fixed budget", "stop: fixed budget"):
        numbers = next(r for r in by_id["A1"]["readings"] if r["name"] == name)["numbers"]
        assert {"averaged_confidence_shallow_2", "averaged_confidence_deep_4", "single_confidence_shallow_2",
                "single_confidence_deep_4"} <= set(numbers)
    drawn = {p.relative_to(out / "readings").parts[:2] + (p.name,) for p in (out / "readings").rglob("*")
             if p.is_file() and p.stat().st_size > 0}
    eyes_items = [f"figures/eyes_fig{i}.png" for i in range(1, 5)] + [
        f"tables/eyes_tab{i}.{suffix}" for i in range(1, 4) for suffix in ("csv", "md", "tex")]
    eyes_readings = ["stop_confidence", "stop_fixed_budget", "zero_step_excluded", "training_classic",
                     "classic_fixed_budget"]
    # Every reading of paper A redraws A's items eyes_fig1 to eyes_tab3 (PNG only); paper B's readings
    # of its starts redraw the items those change.
    dough_items = ["figures/dough_fig1.png"] + [f"tables/dough_tab4.{suffix}" for suffix in ("csv", "md", "tex")]
    assert drawn == {(r, *item.split("/")) for r in eyes_readings for item in eyes_items} | {
        (r, *item.split("/")) for r in ("starts_test_images", "zero_step_excluded") for item in dough_items}


def test_clean_lists_then_removes_only_caches_no_chosen_preset_reads(tiny_run, tmp_path):
    out = tiny_run.out
    cwd = tmp_path
    result = run(["--clean", "--preset=tiny", f"--output_dir={out}"], cwd)
    assert result.returncode == 0 and "Nothing to clean" in result.stdout, result.stdout + result.stderr
    kept = listing(out)
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
    listed = run(["--clean", "--preset=tiny", f"--output_dir={out}"], cwd)
    assert listed.returncode == 0
    assert sorted(listed.stdout.splitlines()[:-1]) == sorted(str(p) for p in stale)
    assert "delete them with --clean --yes" in listed.stdout.splitlines()[-1]
    assert all(p.exists() or p.is_symlink() for p in stale)
    # Preset paper: every tiny cache is unused, but for the model files the paper also trains under the same
    # name (short and untrained seeds 0/1): the next paper run overwrites them, so they are not listed.
    paper = get_preset("paper")
    paper_models = {f"{k.model}__{k.dataset}__{k.config}__s{k.seed}.h5" for p in registry.PAPERS
                    for k in p.models_needed(p.config(paper))}
    every = run(["--clean", f"--output_dir={out}"], cwd)
    expected = [str(p) for p in cache_files(out) if p.name not in paper_models]
    assert every.stdout.splitlines()[:-1] == expected and len(expected) < len(cache_files(out))
    both = run(["--clean", "--keep_presets=paper,tiny", f"--output_dir={out}"], cwd)
    assert len(both.stdout.splitlines()) - 1 == len(stale)
    removed = run(["--clean", "--preset=tiny", "--yes", f"--output_dir={out}"], cwd)
    assert removed.returncode == 0 and removed.stdout.splitlines()[-1].startswith("Removed 5 files")
    assert not any(p.exists() or p.is_symlink() for p in stale)
    assert outside.read_text() == "must survive"
    assert listing(out) == kept  # claims, report, figures, tables and every used cache untouched
    assert set(os.listdir(cwd)) == {"outside.h5"}


def _sigmoid_mlp(path: Path, x: np.ndarray) -> np.ndarray:
    """A sigmoid MLP's outputs from its HDF5 weights, in float64 NumPy (no tfadv, no Keras)."""
    with h5py.File(path) as h:
        weights = h["model_weights"]
        for name in sorted(k for k in weights if k.startswith("hidden")) + ["logits"]:
            layer = weights[name][name]
            x = x @ np.asarray(layer["kernel"], np.float64) + np.asarray(layer["bias"], np.float64)
            if name != "logits":
                x = 1 / (1 + np.exp(-x))
    return 1 / (1 + np.exp(-x))


def _searches(out: Path, net: str, config: str, stop: str, n_wanted: int) -> dict:
    """(round, digit) -> the search file of a net under a stop rule (lr 100, clipped, ``n_wanted`` successes)."""
    found = {}
    for path in (out / "attacks" / "eyes").glob(f"{net}__{config}__s*__d*__*.npz"):
        z = np.load(path)
        settings = json.loads(str(z["settings"]))
        if (settings["stop"], settings["lr"], settings["clip"], int(z["n_wanted"])) == (stop, 100.0, [0.0, 1.0],
                                                                                         n_wanted):
            _, _, r, d, _ = path.stem.split("__")
            assert (int(r[1:]), int(d[1:])) not in found, f"two {stop} searches of {net} for one digit"
            found[int(r[1:]), int(d[1:])] = z
    return found


@pytest.mark.parametrize("stop, reading", [("argmax", "primary"), ("confidence", "stop: confidence"),
                                           ("budget", "stop: fixed budget")])
def test_paper_a_numbers_recomputed_from_the_saved_files_agree_with_the_claims(tiny_run, stop, reading):
    """A1's averaged-image confidences and A5's success rates, recomputed with NumPy alone from the run's search
    files and model weights (the PROTOCOL's definitions: per round, the net's output for the digit on the mean
    of the successes' final inputs, and successes over attempts; then the mean over rounds), are the numbers
    claims.json judges, under the primary stop rule and the two stop-rule readings."""
    cfg = get_preset("tiny").eyes
    claims = {c["id"]: {r["name"]: r["numbers"] for r in c["readings"]} for c in _claims(tiny_run.out)}
    for n, (net, config) in enumerate(cfg.nets):
        name = ("shallow", "deep")[n]
        files = _searches(tiny_run.out, net, config, stop, cfg.n_success)
        assert set(files) == {(r, d) for r in range(cfg.rounds) for d in range(10)}
        confidence, rate = np.full((cfg.rounds, 10), np.nan), np.zeros((cfg.rounds, 10))
        for (r, d), z in files.items():
            rate[r, d] = z["attempt_success"].mean()
            x = np.asarray(z["successes_x_final"], np.float64)
            x = x.reshape(x.shape[0], int(np.prod(x.shape[1:])))
            if len(x):
                model = tiny_run.out / "models" / f"{net}__mnist__{config}__s{r}.h5"
                confidence[r, d] = _sigmoid_mlp(model, x.mean(axis=0, keepdims=True))[0, d]
        with np.errstate(all="ignore"):
            confidence = np.array([np.nan if np.isnan(c).all() else np.nanmean(c) for c in confidence.T])
        a1 = claims["A1"][reading][f"{name}: >= 0.90 for >= 8 of 10 digits"]["confidence"]
        assert np.allclose(np.array(a1, dtype=float), confidence, atol=1e-5, equal_nan=True), (name, a1, confidence)
        a5 = next(v for k, v in claims["A5"][reading].items() if k.startswith(f"{name}: "))
        assert [a5[f"success_{d}"] for d in (0, 1, 4, 8)] == pytest.approx(list(rate.mean(axis=0)[[0, 1, 4, 8]]))
