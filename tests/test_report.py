"""REPORT.md and the reference comparison of ``--check``."""

import json
import re
from pathlib import Path

from tfadv.registry import PAPERS, all_items
from tfadv.verdicts import Check, Claim
from tfadv.check import compare_claims
from tfadv.report import results_table, write_report

REPO = Path(__file__).resolve().parents[1]


def claim(cid="A1", passed=(True, True), value=0.95):
    checks = tuple(Check(f"check {i}", p, {"r": value, "per_digit": [value, 0.5]}) for i, p in enumerate(passed))
    paper = "eyes" if cid.startswith("A") else "dough"
    return Claim(cid, paper, f"claim {cid}", f"rule {cid}", checks, {"x": value}, {"x": 0.9},
                 f"r {value}").to_dict()


def test_compare_finds_no_difference_in_identical_claims():
    claims = [claim("A1"), claim("B2")]
    assert compare_claims(claims, claims) == ([], False)


def test_compare_reports_a_changed_verdict_and_numbers():
    ref = [claim("A1", (True, True), 0.95)]
    new = [claim("A1", (True, False), 0.85)]
    lines, changed = compare_claims(ref, new)
    assert changed
    assert "A1: verdict reproduced -> partly" in lines
    assert "A1: check 'check 1' passed True -> False" in lines
    assert "A1: 'check 0' r: 0.95 -> 0.85" in lines
    assert "A1: 'check 0' per_digit[0]: 0.95 -> 0.85" in lines


def test_compare_ignores_rounding_noise_but_not_missing_claims():
    lines, changed = compare_claims([claim(value=0.95)], [claim(value=0.95 + 1e-12)])
    assert (lines, changed) == ([], False)
    lines, changed = compare_claims([claim("A1"), claim("A2")], [claim("A1")])
    assert changed and lines == ["A2: only in the reference"]


def test_compare_number_changes_alone_do_not_fail():
    lines, changed = compare_claims([claim(value=0.95)], [claim(value=0.96)])
    assert lines and not changed


def test_report_shows_every_item_under_its_claim_with_its_command(tmp_path):
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "eyes_fig1.png").write_bytes(b"png")
    (tmp_path / "tables").mkdir()
    (tmp_path / "tables" / "eyes_tab1.md").write_text("| a |\n|---|\n| 1 |\n")
    claims = [claim(f"A{i}") for i in range(1, 6)] + [claim(f"B{i}") for i in range(1, 7)]
    text = write_report(tmp_path, PAPERS, claims, "quick").read_text()
    for entry in all_items():
        assert f"`{entry.id}`" in text
        assert f"python scripts/{entry.id}.py --output_dir={tmp_path} --preset=quick" in text
    assert "![eyes_fig1](figures/eyes_fig1.png)" in text
    assert "| a |" in text
    # Items sit under their first claim: eyes_fig1 after A1's heading, before A2's.
    assert text.index("### A1:") < text.index("`eyes_fig1`") < text.index("### A2:")
    assert text.index("### B5:") < text.index("`dough_tab5`") < text.index("### B6:")
    assert "| x | 0.9 | 0.95 |" in text  # the paper's number beside the measured one


def test_a_smoke_preset_report_says_so_in_its_first_lines_and_a_paper_one_does_not(tmp_path):
    claims = [claim("A1")]
    quick = write_report(tmp_path, PAPERS, claims, "quick", ["Preset `quick`; made by tfadv."]).read_text()
    top = quick.splitlines()[:4]
    assert top[0] == "# tfadv reproduction report" and top[1] == ""
    assert top[2].startswith("> **A smoke-size run (preset `quick`): its numbers and verdicts say nothing about "
                             "the papers.**")
    assert "`python -m tfadv.reproduce --preset=paper --output_dir=results`" in top[2]
    assert top[3] == "" and quick.splitlines()[4] == "Preset `quick`; made by tfadv."
    assert "## Claims at a glance (preset `quick`: a smoke-size run)" in quick
    paper = write_report(tmp_path, PAPERS, claims, "paper", ["Preset `paper`."]).read_text()
    assert paper.splitlines()[:3] == ["# tfadv reproduction report", "", "Preset `paper`."]
    assert "smoke-size" not in paper and "## Claims at a glance\n" in paper


def test_results_table_has_a_row_per_claim_with_verdict_numbers_and_command():
    claims = [claim("A1", (True, True)), claim("A2", (True, False)), claim("B5", (False, False), 0.1)]
    rows = results_table(PAPERS, claims).splitlines()[2:]
    assert len(rows) == 3
    assert rows[0].startswith("| **A1** claim A1 | x 0.9 | r 0.95 | **reproduced** |")
    assert "`python -m tfadv.reproduce --only=eyes_fig1,eyes_tab2,eyes_tab4,eyes_act`" in rows[0]
    assert "| **partly** |" in rows[1] and "| **not reproduced** |" in rows[2]
    assert "--only=dough_tab5`" in rows[2]


def test_readme_results_table_matches_the_reference_run():
    """The README's table is the reference run's claims.json, not numbers typed by hand."""
    readme = (REPO / "README.md").read_text()
    block = re.search(r"<!-- results:begin -->\n(.*?)\n<!-- results:end -->", readme, re.S)
    assert block, "README.md lacks the <!-- results:begin/end --> block"
    claims = json.loads((REPO / "paper" / "reference" / "claims.json").read_text())["claims"]
    assert block.group(1) == results_table(PAPERS, claims), (
        "README's results table differs from paper/reference/claims.json; regenerate it with "
        "tfadv.report.results_table")
    assert [c["id"] for c in claims] == [f"A{i}" for i in range(1, 6)] + [f"B{i}" for i in range(1, 7)]


def test_compare_reads_each_reading_a_changed_reading_verdict_fails():
    def with_readings(*verdicts):
        c = claim("A1")
        c["readings"] = [{"name": "primary", "verdict": c["verdict"]}] + [
            {"name": f"r{i}", "verdict": v} for i, v in enumerate(verdicts)]
        return c

    same = with_readings("partly", "reproduced")
    assert compare_claims([same], [same]) == ([], False)
    lines, changed = compare_claims([same], [with_readings("partly", "not reproduced")])
    assert changed and lines == ["A1 [r1]: verdict reproduced -> not reproduced"]
    lines, changed = compare_claims([claim("A1")], [same])  # a reference from before the readings
    assert not changed and lines == ["A1 [r0]: reading only in the new run", "A1 [r1]: reading only in the new run"]
