"""The framework comparison (``python -m tfadv.frameworks``, PROTOCOL.md section 9).

Unit tests pair hand-made searches; the end-to-end test runs the comparison
on tiny synthetic data with the TensorFlow and JAX engines (the ones CI
installs) and checks the item, its numbers and the report's section.
"""

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tfadv.engine import EvolutionResult
from tfadv.frameworks.agreement import combine, pair, rates_agree
from tfadv.frameworks.plan import comparison_config, judged
from tfadv.config import EyesConfig
from tfadv.papers.eyes.search import SearchResult

REFERENCE_RUN = Path(__file__).resolve().parents[1] / "paper" / "reference"


def _search(success, steps, x_final) -> SearchResult:
    """A search whose attempts end as given; ``x_final`` is one value per attempt (its pixels)."""
    success, steps = np.asarray(success, bool), np.asarray(steps)
    x = np.asarray(x_final, np.float32)[:, None].repeat(4, axis=1)
    n = len(success)
    result = EvolutionResult(x_start=np.zeros_like(x), x_final=x, target=np.zeros(n, np.int64), success=success,
                             steps=steps, confidence=np.ones(n, np.float32), predicted=np.zeros(n, np.int64))
    return SearchResult(result.select(success), success, steps, target=0, n_wanted=int(success.sum()))


def test_identical_searches_agree_in_every_attempt():
    s = _search([True, False, True], [3, 10, 5], [0.1, 0.2, 0.3])
    p = pair(s, s)
    assert (p.attempts, p.same_success, p.same_steps, p.max_x_difference) == (3, 3, 3, 0.0)
    assert p.step_differences.tolist() == [0, 0, 0]


def test_pairs_attempts_by_index_and_compares_x_only_where_both_stopped_at_the_same_step():
    ref = _search([True, True, False, True, True], [3, 4, 10, 6, 2], [0.1, 0.2, 0.0, 0.4, 0.5])
    # Attempt 1 diverged (other step count, very different x); attempt 2 succeeded here only;
    # attempt 3 matches to 1e-3; the search stopped one attempt earlier.
    other = _search([True, True, True, True], [3, 7, 8, 6], [0.1, 0.9, 0.3, 0.401])
    p = pair(ref, other)
    assert p.attempts == 4
    assert p.same_success == 3  # attempt 2 differs
    assert p.same_steps == 2  # attempts 0 and 3
    assert p.step_differences.tolist() == [0, 3, 2, 0]
    assert p.max_x_difference == pytest.approx(1e-3, abs=1e-6)  # not 0.7: attempt 1 is not compared


def test_combine_pools_the_attempts_of_several_searches():
    a = pair(_search([True, False], [1, 9], [0.1, 0.0]), _search([True, True], [1, 4], [0.1, 0.2]))
    b = pair(_search([True], [2], [0.5]), _search([True], [2], [0.75]))
    c = combine([a, b])
    assert c["paired_attempts"] == 3
    assert c["same_success"] == pytest.approx(2 / 3) and c["same_steps"] == pytest.approx(2 / 3)
    assert c["median_step_difference"] == 0.0 and c["max_x_difference"] == pytest.approx(0.25)


def test_rates_agree_when_their_95_percent_intervals_overlap():
    assert rates_agree(50, 100, 58, 100)
    assert not rates_agree(50, 1000, 500, 1000)
    assert rates_agree(0, 1000, 0, 1000) and rates_agree(1000, 1000, 998, 1000)
    assert rates_agree(0, 0, 0, 0) and not rates_agree(0, 0, 3, 10)


def test_comparison_settings_and_the_claims_one_round_cannot_judge():
    cfg = comparison_config(EyesConfig(rounds=5), 1)
    assert (cfg.rounds, cfg.readings, cfg.sensitivity) == (1, False, False)
    with pytest.raises(ValueError, match="between 1 and"):
        comparison_config(EyesConfig(rounds=5), 6)
    assert judged("A1", 1) and judged("A5", 1) and not judged("A3", 1) and judged("A3", 2)


@pytest.fixture(scope="module")
def comparison(tmp_path_factory):
    """A tiny synthetic comparison of the TensorFlow and JAX engines: (output folder, stdout)."""
    if importlib.util.find_spec("jax") is None:
        pytest.skip("jax is not installed (pip install '.[jax]'): the comparison needs a second backend")
    out = tmp_path_factory.mktemp("frameworks") / "out"
    run = subprocess.run([sys.executable, "-m", "tfadv.frameworks", "--preset=tiny", "--synthetic_data",
                          "--backends=jax,tensorflow", f"--output_dir={out}"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-4000:]
    return out, run.stdout


def test_the_comparison_writes_its_item_and_numbers(comparison):
    out, stdout = comparison
    for path in ("figures/frameworks.png", "figures/frameworks.pdf", "tables/frameworks.md",
                 "tables/frameworks_verdicts.csv", "frameworks/jax/summary.npz", "frameworks/tensorflow/claims.json"):
        assert (out / path).exists(), path
    result = json.loads((out / "frameworks.json").read_text())
    assert result["reference"] == "tensorflow" and [b["name"] for b in result["backends"]] == ["tensorflow", "jax"]
    assert result["backends"][1]["versions"]["backend"] == "jax"
    rows = {(m["backend"], m["model"], m["group"]): m for m in result["models"]}
    assert len(rows) == 12  # 2 backends x (2 trained, 2 untrained, 2 ReLU nets)
    for (backend, _, _), m in rows.items():
        assert m["searches"] == 10 and m["seconds"] > 0 and m["example_steps"] > 0 and m["load_average"] >= 0
        assert m["rates_compared"] == 10 and m["paired_attempts"] > 0
        if backend == "tensorflow":  # the reference against itself: every attempt the same, bit for bit
            assert m["same_success"] == 1.0 and m["same_steps"] == 1.0 and m["max_x_difference"] == 0.0
        else:  # another engine: the statistics agree (PROTOCOL.md section 9)
            assert m["rates_agree"] == 10, m
            assert m["same_success"] >= 0.9 and m["r_average_median"] > 0.99, m
    assert set(result["verdicts"]) == {"A1", "A2", "A3", "A4", "A5"}
    assert result["verdicts"]["A3"]["jax"].startswith("not judged")  # one round
    assert all(result["same_verdict_everywhere"].values())
    table = (out / "tables" / "frameworks_verdicts.md").read_text()
    assert "| A1 |" in table and "JAX" in table
    assert "Report:" not in stdout  # the folder holds no reproduce run, so no report to refresh


def test_a_second_comparison_reuses_every_search_and_keeps_their_times(comparison):
    out, _ = comparison
    before = json.loads((out / "frameworks" / "tensorflow" / "searches.json").read_text())["searches"]
    run = subprocess.run([sys.executable, "-m", "tfadv.frameworks", "--preset=tiny", "--synthetic_data",
                          "--backends=tensorflow", f"--output_dir={out}"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-4000:]
    after = json.loads((out / "frameworks" / "tensorflow" / "searches.json").read_text())["searches"]
    assert [(r["seconds"], r["load"]) for r in after] == [(r["seconds"], r["load"]) for r in before]
    assert all(r["seconds"] is not None and r["load"] >= 0 for r in after)


def test_the_report_of_a_finished_run_gains_the_comparison(comparison, tmp_path):
    from tfadv.registry import PAPERS
    from tfadv.report import refresh_report

    out, _ = comparison
    shutil.copytree(out / "figures", tmp_path / "figures")
    shutil.copytree(out / "tables", tmp_path / "tables")
    shutil.copy(out / "frameworks.json", tmp_path)
    for name in ("claims.json", "manifest.json"):  # a finished run: the committed reference's records
        shutil.copy(REFERENCE_RUN / name, tmp_path)
    report = refresh_report(tmp_path, PAPERS).read_text()
    assert "## Frameworks (`frameworks`)" in report and "![frameworks](figures/frameworks.png)" in report
    assert (tmp_path / "tables" / "frameworks_verdicts.md").read_text().strip() in report
    assert "python -m tfadv.frameworks" in report and "Regenerate everything: `python -m tfadv.reproduce" in report
