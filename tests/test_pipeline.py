"""The whole pipeline of every registered paper on synthetic data: train, attack, analyse, draw, report, claims.

Runs in CI without the real datasets: ``SyntheticData`` stands in for MNIST and
Fashion-MNIST and the ``tiny`` preset keeps every stage to seconds. The numbers
mean nothing about the papers; the test pins that every stage runs, every item
and claim is made, caches are reused and the command line works end to end.
"""

import json
import time
import types
from pathlib import Path

import pytest

from tfadv import artifacts
from tfadv.verdicts import VERDICTS
from tfadv.config import get_preset
from tfadv.context import RunContext
from tfadv.pipeline import Pipeline
from tfadv.registry import PAPERS, all_items
from tfadv.report import write_report
from tfadv.sources import SyntheticData

CLAIM_IDS = [c for p in PAPERS for c in p.claim_ids]


def _context(out):
    return RunContext(out, get_preset("tiny"), SyntheticData(), progress=False)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny")
    start = time.perf_counter()
    pipeline = Pipeline(_context(out))
    made = {item.id: pipeline.make(item.id) for item in all_items()}
    claims = pipeline.write_claims([p.id for p in PAPERS])
    write_report(out, PAPERS, claims, "tiny")
    return out, pipeline, made, claims, time.perf_counter() - start


def _stored(out):
    return {p: p.stat().st_mtime_ns for p in Path(out).glob("[mas][otu]*/**/*") if p.is_file()}


def test_every_item_is_drawn_into_its_files(tiny_run):
    out, _, made, _, seconds = tiny_run
    assert list(made) == [i.id for i in all_items()] and len(made) == 18
    for item in all_items():
        suffixes = {p.suffix for p in made[item.id]}
        assert all(p.parent.parent == out and p.stat().st_size > 0 for p in made[item.id])
        if "figure" in item.kind:
            assert {".png", ".pdf"} <= suffixes, item.id
        if "table" in item.kind:
            assert {".csv", ".md", ".tex"} <= suffixes, item.id
    print(f"tiny synthetic run of every paper: {seconds:.1f} s")


def test_every_claim_gets_the_verdict_its_checks_give(tiny_run):
    out, _, _, claims, _ = tiny_run
    assert [c["id"] for c in claims] == CLAIM_IDS == [f"A{i}" for i in range(1, 6)] + [f"B{i}" for i in range(1, 7)]
    assert json.loads((out / "claims.json").read_text()) == {"preset": "tiny", "claims": claims}
    assert all(c["preset"] == "tiny" for c in claims)  # beside each verdict
    for c in claims:
        passed = [ch["passed"] for ch in c["checks"]]
        expected = "reproduced" if all(passed) else "not reproduced" if not any(passed) else "partly"
        assert c["verdict"] == expected in VERDICTS, c["id"]
        assert c["headline"] and c["rule"] and c["claim"]


def test_every_stage_wrote_its_cache_and_a_second_run_reuses_all_of_it(tiny_run):
    out, first, _, claims, _ = tiny_run
    stored = _stored(out)
    kinds = {p.relative_to(out).parts[0] for p in stored}
    assert kinds == {"models", "attacks", "summaries"}
    assert {p.relative_to(out).parts[1] for p in stored if "attacks" in p.parts} == {"eyes", "dough"}
    assert len([p for p in stored if p.suffix == ".h5"]) == len({m for p in PAPERS for m in first.models_needed(p)})
    again = Pipeline(_context(out))
    assert [dict(c.to_dict(), preset="tiny") for p in PAPERS for c in again.claims(p.id)] == claims
    assert _stored(out) == stored  # nothing trained, attacked or summarised again


def test_report_names_every_item_and_claim(tiny_run):
    out, _, _, _, _ = tiny_run
    report = (out / "REPORT.md").read_text()
    for item in all_items():
        assert f"`{item.id}`" in report and f"scripts/{item.id}.py" in report
    for cid in CLAIM_IDS:
        assert f"### {cid}:" in report
    assert "![eyes_fig1](figures/eyes_fig1.png)" in report


def test_manifest_keeps_exclusions_recorded_by_cached_summaries(tiny_run):
    """A cached run never meets the excluded models itself; their record comes from the summaries."""
    out, _, _, _, _ = tiny_run
    pipeline = Pipeline(_context(out))
    low = {"key": ["cnn_sigmoid", "mnist", "default", 0], "test_accuracy": 0.98, "floor": 0.988}
    other = {"key": ["mlp_shallow_sigmoid", "mnist", "long", 1], "test_accuracy": 0.9, "floor": 0.95}
    pipeline._summaries = {"eyes": types.SimpleNamespace(excluded=[other]),
                           "dough": types.SimpleNamespace(excluded=[low, other])}
    assert pipeline.excluded(("eyes", "dough")) == [other, low]
    assert pipeline.excluded(("eyes",)) == [other]


def test_reproduce_command_runs_and_checks_against_its_own_output(tiny_run, capsys):
    """``python -m tfadv.reproduce --preset=tiny --synthetic_data``, in this process (for coverage)."""
    from absl import flags

    from tfadv import reproduce

    out, _, _, claims, _ = tiny_run
    if "check" not in flags.FLAGS:
        reproduce._define_flags()
    argv = ["reproduce", "--preset=tiny", "--synthetic_data", f"--output_dir={out}", f"--check={out}",
            "--verbosity=-1"]
    flags.FLAGS.unparse_flags()
    flags.FLAGS(argv)
    try:
        reproduce._main(argv[:1])
    finally:
        flags.FLAGS.unparse_flags()
    printed = capsys.readouterr().out
    assert "no differences" in printed and f"{out}/REPORT.md" in printed
    assert json.loads((out / "claims.json").read_text())["claims"] == claims
    manifest = artifacts.read_json(out / "manifest.json")
    assert manifest["flags"]["synthetic_data"] is True and manifest["preset"]["name"] == "tiny"
    assert set(manifest["data"]) == {"mnist", "fashion_mnist"}
    assert all(d["source"].startswith("synthetic") for d in manifest["data"].values())
