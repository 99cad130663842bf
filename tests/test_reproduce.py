"""End to end: ``python -m tfadv.reproduce --preset=quick`` on real data (both papers).

The quick preset is small but real: models trained on MNIST and Fashion-MNIST,
real searches and evolutions, every figure, table and claim. The tests marked
``needs_data`` need the datasets (TFADV_DATA_DIR, as .ci/run sets it) and take
a few minutes; the output-folder errors come before any data is read.
"""

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tfadv.config import get_train_config
from tfadv.registry import all_items

needs_data = pytest.mark.skipif(not os.environ.get("TFADV_DATA_DIR"),
                                reason="needs MNIST and Fashion-MNIST: set TFADV_DATA_DIR to the folder holding "
                                       "mnist/ and fashion-mnist/ (a quick run of both papers, minutes)")

VERDICTS = {"reproduced", "partly", "not reproduced"}
CLAIM_IDS = [f"A{i}" for i in range(1, 6)] + [f"B{i}" for i in range(1, 7)]

# ``python -m tfadv.reproduce`` with a count of the real work done: every Keras ``fit`` (model
# training, paper B's classifier) and every call into the evolution engine (every attack). The
# counts go to the JSON file named by TFADV_TEST_WORK when the process exits.
COUNTING_REPRODUCE = """
import atexit, json, os
from tfadv.flags import quiet_frameworks
quiet_frameworks()  # what reproduce does first: keras is imported below, before reproduce.main()
import keras
from tfadv import reproduce
from tfadv.engine import scheduler
work = {"fit": 0, "evolve": 0}
def counted(kind, method):
    def call(*args, **kwargs):
        work[kind] += 1
        return method(*args, **kwargs)
    return call
keras.Model.fit = counted("fit", keras.Model.fit)
for name in ("evolve", "evolve_observing"):
    if hasattr(scheduler.Engine, name):
        setattr(scheduler.Engine, name, counted("evolve", getattr(scheduler.Engine, name)))
atexit.register(lambda: open(os.environ["TFADV_TEST_WORK"], "w").write(json.dumps(work)))
reproduce.main()
"""


def reproduce(output_dir, *args, check=True, work_file=None, **kwargs):
    """Runs the command; with ``work_file``, through ``COUNTING_REPRODUCE`` (same flags, same run)."""
    flags = ["--preset=quick", f"--output_dir={output_dir}", *args]
    cmd = [sys.executable, *(["-c", COUNTING_REPRODUCE] if work_file else ["-m", "tfadv.reproduce"]), *flags]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", **({"TFADV_TEST_WORK": str(work_file)} if work_file else {}))
    run = subprocess.run(cmd, capture_output=True, text=True, env=env, **kwargs)
    if check and run.returncode != 0:
        raise AssertionError(f"{' '.join(cmd[:2] + flags)} failed ({run.returncode}):\n{run.stderr[-4000:]}")
    return run


def work_done(work_file) -> dict:
    return json.loads(Path(work_file).read_text())


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """One uninterrupted quick run of both papers, its wall time and the work it did."""
    out = tmp_path_factory.mktemp("quick")
    work_file = tmp_path_factory.mktemp("work") / "first.json"
    start = time.perf_counter()
    run = reproduce(out, work_file=work_file)
    return out, run, time.perf_counter() - start, work_done(work_file)


def claims_of(output_dir, paper=None):
    claims = json.loads(Path(output_dir, "claims.json").read_text())["claims"]
    return [c for c in claims if paper in (None, c["paper"])]


@needs_data
def test_quick_run_makes_every_item_and_claim(quick_run):
    out, run, seconds, _ = quick_run
    for entry in all_items():
        made = list(Path(out).glob(f"*/{entry.id}.*"))
        suffixes = {p.suffix for p in made}
        if "figure" in entry.kind:
            assert {".png", ".pdf"} <= suffixes, entry.id
        if "table" in entry.kind:
            assert {".csv", ".md", ".tex"} <= suffixes, entry.id
        assert all(p.stat().st_size > 0 for p in made)
    claims = claims_of(out)
    assert [c["id"] for c in claims] == CLAIM_IDS
    for c in claims:
        assert c["verdict"] in VERDICTS
        assert c["rule"] and c["claim"] and c["checks"]
        passed = [ch["passed"] for ch in c["checks"]]
        expected = "reproduced" if all(passed) else "not reproduced" if not any(passed) else "partly"
        assert c["verdict"] == expected, c["id"]
        for check in c["checks"]:
            for value in _leaves(check["numbers"]):
                assert value is None or isinstance(value, (bool, int, str)) or math.isfinite(value)
    a1 = next(c for c in claims if c["id"] == "A1")
    assert a1["paper_numbers"]["averaged_confidence_shallow_2"] == 0.9872
    assert 0 <= a1["measured"]["averaged_confidence_shallow_2"] <= 1
    manifest = json.loads(Path(out, "manifest.json").read_text())
    assert manifest["runs"][-1]["stages_s"]
    assert manifest["models"] and all(m["training_wall_s"] >= 0 for m in manifest["models"])
    printed = (run.stdout + run.stderr).splitlines()
    print(f"quick run of both papers: {seconds:.0f} s, {len(printed)} lines printed")
    assert len(printed) <= 40, "\n".join(printed)  # only progress, stage lines and results (issue 14)


def _leaves(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _leaves(v)
    elif isinstance(value, list):
        for v in value:
            yield from _leaves(v)
    else:
        yield value


@needs_data
def test_report_names_every_protocol_id(quick_run):
    out, _, _, _ = quick_run
    report = Path(out, "REPORT.md").read_text()
    assert "smoke" in "\n".join(report.splitlines()[:5]).lower()  # says what a quick run is, first
    for entry in all_items():
        assert f"`{entry.id}`" in report
        assert f"scripts/{entry.id}.py" in report
    for cid in CLAIM_IDS:
        assert f"### {cid}:" in report


@needs_data
def test_second_run_reuses_every_model_and_attack(quick_run, tmp_path):
    out, _, _, first = quick_run
    # The first run trained every model (and paper B's classifiers) and ran every attack ...
    models = json.loads(Path(out, "manifest.json").read_text())["models"]
    assert first["fit"] >= sum(get_train_config(m["config"]).trained for m in models) > 0
    assert first["evolve"] > 0
    stored = {p: p.stat().st_mtime_ns for p in Path(out).glob("[ma][ot]*/**/*.*") if p.is_file()}
    assert any("models" in str(p) for p in stored) and any("attacks" in str(p) for p in stored)
    before = claims_of(out)
    # One item per paper: every stage of both papers is still visited and every claim judged (the figures,
    # drawn from the same summaries, are the first run's business and the --only test's).
    reproduce(out, "--only=eyes_tab1,dough_tab5", work_file=tmp_path / "second.json")
    # ... the second trains nothing, attacks nothing and rewrites no model or attack, for the same claims.
    assert work_done(tmp_path / "second.json") == {"fit": 0, "evolve": 0}
    assert {p: p.stat().st_mtime_ns for p in stored} == stored
    assert claims_of(out) == before


@needs_data
def test_only_makes_just_the_named_items_and_flagfile_works(quick_run, tmp_path):
    out, _, _, _ = quick_run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy, ignore=shutil.ignore_patterns("figures", "tables"))
    flagfile = tmp_path / "flags.txt"
    flagfile.write_text("--only=eyes_tab1,dough_fig1\n")
    reproduce(copy, f"--flagfile={flagfile}")
    made = sorted(p.name for p in copy.glob("[ft][ia]*/*"))
    assert made == ["dough_fig1.pdf", "dough_fig1.png", "eyes_tab1.csv", "eyes_tab1.md", "eyes_tab1.tex"]


@needs_data
def test_killed_run_resumes_to_the_same_claims(quick_run, tmp_path):
    out, _, _, _ = quick_run
    resumed = tmp_path / "resumed"
    resumed.mkdir()
    shutil.copy(Path(out, "tfadv_output.json"), resumed)
    shutil.copytree(Path(out, "models"), resumed / "models")  # the run starts at the attacks
    # Every search but those of the classic-training reading's nets: the run attacks those, and is killed
    # after the first of them is saved (a fraction of the work, so the test stays short).
    copied = [p for p in Path(out, "attacks", "eyes").glob("*.npz") if "__classic" not in p.name]
    (resumed / "attacks" / "eyes").mkdir(parents=True)
    for path in copied:
        shutil.copy(path, resumed / "attacks" / "eyes")
    cmd = [sys.executable, "-m", "tfadv.reproduce", "--preset=quick", "--paper=eyes", f"--output_dir={resumed}"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while (len(list(resumed.glob("attacks/eyes/*.npz"))) == len(copied) and time.time() < deadline
           and proc.poll() is None):
        time.sleep(0.2)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not Path(resumed, "claims.json").exists()
    reproduce(resumed, "--only=eyes_tab1")  # every paper A stage and claim; one table drawn
    assert claims_of(resumed) == claims_of(out, "eyes")


@needs_data
def test_check_passes_on_its_own_reference_and_fails_on_a_changed_verdict(quick_run, tmp_path):
    out, _, _, _ = quick_run
    # --only names a table of each paper: every claim is still judged and checked, without redrawing
    # every figure (what a cached run spends its time on).
    only = "--only=eyes_tab1,dough_tab5"
    run = reproduce(out, f"--check={out}", only)
    assert "no differences" in run.stdout
    reference = tmp_path / "reference"
    reference.mkdir()
    claims = json.loads(Path(out, "claims.json").read_text())
    flipped = claims["claims"][0]
    flipped["verdict"] = "partly" if flipped["verdict"] != "partly" else "reproduced"
    Path(reference, "claims.json").write_text(json.dumps(claims))
    run = reproduce(out, f"--check={reference}", only, check=False)
    assert run.returncode == 1
    assert f"{flipped['id']}: verdict {flipped['verdict']} ->" in run.stdout


def test_unwritable_output_folder_gives_a_clear_error(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    run = reproduce(blocker / "results", check=False)
    assert run.returncode == 2
    assert "Cannot write to output folder" in run.stderr and "--output_dir" in run.stderr
    assert "Traceback" not in run.stderr


def test_output_folder_of_an_incompatible_version_is_refused(tmp_path):
    Path(tmp_path, "tfadv_output.json").write_text(json.dumps({"format": 999}))
    run = reproduce(tmp_path, check=False)
    assert run.returncode == 2
    assert "incompatible version of tfadv" in run.stderr
