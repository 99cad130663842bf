"""The whole pipeline of every registered paper on synthetic data: train, attack, analyse, draw, report, claims.

Runs in CI without the real datasets: ``SyntheticData`` stands in for MNIST and
Fashion-MNIST and the ``tiny`` preset keeps every stage to seconds. The numbers
mean nothing about the papers; the test pins that every stage runs, every item
and claim is made, caches are reused and the command line works end to end.
"""

import dataclasses
import json
import time
import types
from pathlib import Path

import pytest

from tfadv import artifacts
from tfadv.verdicts import VERDICTS
from tfadv.config import get_preset
from tfadv.context import RunContext
from tfadv.papers.eyes import stages as eyes_stages
from tfadv.pipeline import Pipeline
from tfadv.registry import PAPERS, all_items
from tfadv.report import write_report
from tfadv.sources import SyntheticData

CLAIM_IDS = [c for p in PAPERS for c in p.claim_ids]


def _context(out):
    return RunContext(out, get_preset("tiny"), SyntheticData(), progress=False)


ATTACKS = []  # paper A's attack passes in the tiny run: the searches (SearchJob) each pass served


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny")
    start = time.perf_counter()
    evolve_family = eyes_stages._evolve

    def counted(model, family):
        ATTACKS.append(tuple(family))
        return evolve_family(model, family)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(eyes_stages, "_evolve", counted)
        pipeline = Pipeline(_context(out))
        made = {item.id: pipeline.make(item.id) for item in all_items()}
        readings = {p.id: pipeline.make_readings(p.id) for p in PAPERS}
        claims = pipeline.write_claims([p.id for p in PAPERS])
    write_report(out, PAPERS, claims, "tiny")
    return out, pipeline, made, claims, time.perf_counter() - start, readings


def _stored(out):
    return {p: p.stat().st_mtime_ns for p in Path(out).glob("[mas][otu]*/**/*") if p.is_file()}


def test_every_item_is_drawn_into_its_files(tiny_run):
    out, _, made, _, seconds, _ = tiny_run
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
    out, _, _, claims, _, _ = tiny_run
    assert [c["id"] for c in claims] == CLAIM_IDS == [f"A{i}" for i in range(1, 6)] + [f"B{i}" for i in range(1, 7)]
    assert json.loads((out / "claims.json").read_text()) == {"preset": "tiny", "claims": claims}
    assert all(c["preset"] == "tiny" for c in claims)  # beside each verdict
    for c in claims:
        passed = [ch["passed"] for ch in c["checks"]]
        expected = "reproduced" if all(passed) else "not reproduced" if not any(passed) else "partly"
        assert c["verdict"] == expected in VERDICTS, c["id"]
        assert c["headline"] and c["rule"] and c["claim"]


def test_every_stage_wrote_its_cache_and_a_second_run_reuses_all_of_it(tiny_run):
    out, first, _, claims, _, _ = tiny_run
    stored = _stored(out)
    kinds = {p.relative_to(out).parts[0] for p in stored}
    assert kinds == {"models", "attacks", "summaries"}
    assert {p.relative_to(out).parts[1] for p in stored if "attacks" in p.parts} == {"eyes", "dough"}
    assert len([p for p in stored if p.suffix == ".h5"]) == len({m for p in PAPERS for m in first.models_needed(p)})
    again = Pipeline(_context(out))
    assert [dict(c.to_dict(), preset="tiny") for p in PAPERS for c in again.claims(p.id)] == claims
    assert _stored(out) == stored  # nothing trained, attacked or summarised again


def test_report_names_every_item_and_claim(tiny_run):
    out, _, _, _, _, _ = tiny_run
    report = (out / "REPORT.md").read_text()
    for item in all_items():
        assert f"`{item.id}`" in report and f"scripts/{item.id}.py" in report
    for cid in CLAIM_IDS:
        assert f"### {cid}:" in report
    assert "![eyes_fig1](figures/eyes_fig1.png)" in report


def test_manifest_keeps_exclusions_recorded_by_cached_summaries(tiny_run):
    """A cached run never meets the excluded models itself; their record comes from the summaries."""
    out, _, _, _, _, _ = tiny_run
    pipeline = Pipeline(_context(out))
    low = {"key": ["cnn_sigmoid", "mnist", "default", 0], "test_accuracy": 0.98, "floor": 0.988}
    other = {"key": ["mlp_shallow_sigmoid", "mnist", "long", 1], "test_accuracy": 0.9, "floor": 0.95}
    summaries = {"eyes": types.SimpleNamespace(excluded=[other]), "dough": types.SimpleNamespace(excluded=[low, other])}
    pipeline.summary = summaries.__getitem__
    assert pipeline.excluded(("eyes", "dough")) == [other, low]
    assert pipeline.excluded(("eyes",)) == [other]


def test_reproduce_command_runs_and_checks_against_its_own_output(tiny_run, capsys):
    """``python -m tfadv.reproduce --preset=tiny --synthetic_data``, in this process (for coverage).

    ``--only`` names a table of each paper: both papers' claims are judged and checked, and the
    run does not redraw every figure (drawing, not judging, is what a cached run spends its time on).
    """
    from absl import flags

    from tfadv import reproduce

    out, _, _, claims, _, _ = tiny_run
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
    assert json.loads((out / "claims.json").read_text())["claims"] == claims
    manifest = artifacts.read_json(out / "manifest.json")
    assert manifest["flags"]["synthetic_data"] is True and manifest["preset"]["name"] == "tiny"
    assert set(manifest["data"]) == {"mnist", "fashion_mnist"}
    assert all(d["source"].startswith("synthetic") for d in manifest["data"].values())


def test_readings_that_share_an_attack_do_not_attack_twice(tiny_run):
    """One attack pass per family of searches that differ only in their stop rule (PROTOCOL.md section 8)."""
    _, pipeline, _, _, _, _ = tiny_run
    cfg = PAPERS[0].config(pipeline.ctx.preset)
    families = eyes_stages.search_families(cfg)
    searches = sum(len(f) for f in families)
    assert len(ATTACKS) == len(families) < searches  # every family attacked once, not every search
    attacked = [job for attack in ATTACKS for job in attack]
    assert len(attacked) == len(set(attacked)) == searches  # every search attacked, none twice
    for attack in ATTACKS:  # a pass serves searches that differ in their stop rule only
        assert len({dataclasses.replace(j, settings=dataclasses.replace(j.settings, stop="argmax", kappa=None))
                    for j in attack}) == 1
    stops = {(a[0].model.model, a[0].model.config, a[0].n_success, a[0].variant): tuple(j.settings.stop for j in a)
             for a in ATTACKS}
    assert stops[(*cfg.nets[0], cfg.n_success, "main")] == ("argmax", "confidence", "budget")
    assert stops[(*cfg.classic_nets[0], cfg.n_success, "main")] == ("argmax", "budget")
    before = len(ATTACKS)
    again = Pipeline(_context(pipeline.ctx.output_dir))
    again.claims("eyes")
    assert len(ATTACKS) == before  # everything cached: no attack at all


def test_every_claim_is_judged_under_its_readings(tiny_run):
    out, _, _, claims, _, readings = tiny_run
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
    drawn = {p.relative_to(out / "readings").parts[0] for p in readings["eyes"]}
    assert drawn == {"stop_confidence", "stop_fixed_budget", "zero_step_excluded", "training_classic",
                     "classic_fixed_budget"}
    assert (out / "readings" / "training_classic" / "figures" / "eyes_fig1.png").stat().st_size > 0
    assert readings["dough"] == [] or all(p.exists() for p in readings["dough"])
