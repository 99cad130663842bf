"""``benchmarks/stage_times.py``: where a run's time goes, and the shipped reference times it writes."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

from tfadv.execution import journal
from tfadv.execution.graph import Stage
from tfadv.keys import ModelKey

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "stage_times.py"
_spec = importlib.util.spec_from_file_location("stage_times", SCRIPT)
stage_times = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(stage_times)


def test_the_breakdown_sums_each_group_and_counts_its_timed_stages():
    a, b = ModelKey("mlp_shallow_sigmoid", "mnist", "long", 0), ModelKey("mlp_deep_sigmoid", "mnist", "long", 0)
    stages = [Stage("train:a", "train", "eyes", a), Stage("train:b", "train", "eyes", b),
              Stage("attack:a:0", "attack", "eyes", a, ("train:a",)),
              Stage("attack:a:1", "attack", "eyes", a, ("train:a",))]
    cost = {"train:a": 5.0, "train:b": 9.0, "attack:a:0": 2.0, "attack:a:1": 4.0}
    rows = stage_times.breakdown(stages, cost, times={"train:a": 5.0, "train:b": 9.0, "attack:a:0": 2.0})
    assert rows == [("train", "eyes", "mlp_deep_sigmoid", "long", 1, 1, 9.0),
                    ("attack", "eyes", "mlp_shallow_sigmoid", "long", 2, 1, 6.0),
                    ("train", "eyes", "mlp_shallow_sigmoid", "long", 1, 1, 5.0)]


def test_writing_the_reference_needs_every_stage_timed(tmp_path):
    """A folder with one stage timed prints its breakdown, but --write_reference refuses it (and writes
    nothing into the package)."""
    journal.Journal(tmp_path, run="r", preset="tiny", executor="serial").append(
        "train:mlp_shallow_sigmoid__mnist__brief__s0", {"s": 1.0, "ran": True})
    shipped = REPO / "tfadv" / "execution" / "reference_times.json"
    before = shipped.read_text()
    run = subprocess.run([sys.executable, str(SCRIPT), f"--output_dir={tmp_path}", "--preset=tiny",
                          "--synthetic_data", "--write_reference"], capture_output=True, text=True, cwd=REPO)
    assert run.returncode != 0 and "--write_reference needs every stage timed" in run.stderr + run.stdout
    assert shipped.read_text() == before and "tiny" not in json.loads(before)
