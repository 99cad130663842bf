"""REPORT.md and manifest.json: what a reader and a reviewer open first.

The report shows every figure and table of the papers it is given, each under
the claim it serves (``Item.claims``), with the claim's verdict, its checks, the
measured numbers beside the paper's, and the command that regenerates the
item. It is written from ``claims.json`` and the files on disk only (it imports no
TensorFlow: it takes the ``Paper`` descriptions, not their stages). A report of
any preset but ``paper`` opens with a banner saying it is a smoke-size run.
"""

from __future__ import annotations

import math
from pathlib import Path

from tfadv import artifacts, frameworks
from tfadv.backends import framework_label
from tfadv.outputs import PAPER_SCALE, is_smoke
from tfadv.paper import Item, Paper
from tfadv.readings_grid import ITEM_ID, WHAT


def _fmt(value) -> str:
    if value is None:
        return "\u2014"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return "\u2014" if math.isnan(value) else f"{value:.4g}"
    if isinstance(value, list):
        if len(value) > 12 or any(isinstance(v, list) for v in value):
            flat = [v for v in value if not isinstance(v, list)]
            return f"[{len(value)} values]" if not flat else "[" + ", ".join(_fmt(v) for v in flat[:12]) + ", \u2026]"
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_fmt(v)}" for k, v in value.items())
    return str(value)


def _claim_section(claim: dict) -> list[str]:
    lines = [f"### {claim['id']}: {claim['claim']}", "",
             f"**Verdict: {claim['verdict']}.** Rule: {claim['rule']}", "",
             "| check | passed | numbers |", "|---|---|---|"]
    for check in claim["checks"]:
        lines.append(f"| {check['name']} | {_fmt(check['passed'])} | {_fmt(check['numbers'])} |")
    if claim.get("paper_numbers"):
        lines += ["", "| number | paper | reproduced |", "|---|---|---|"]
        for key, paper_value in claim["paper_numbers"].items():
            lines.append(f"| {key} | {_fmt(paper_value)} | {_fmt(claim['measured'].get(key))} |")
    lines += _readings_table(claim)
    lines.append("")
    return lines


def _readings_table(claim: dict) -> list[str]:
    """The claim's verdict under each reading of PROTOCOL.md section 8 (none when it has no readings)."""
    readings = claim.get("readings") or []
    if len(readings) < 2:
        return []
    robust = "robust: every reading gives this verdict" if claim.get("robust") else "not robust"
    lines = ["", f"Readings ({across_readings(claim)}; {robust}):", "",
             "| reading | changes | verdict | key numbers |", "|---|---|---|---|"]
    for r in readings:
        changes = "; ".join(f"{k}: {v}" for k, v in r["settings"].items()) or "nothing (pre-registered)"
        lines.append(f"| {r['name']} | {changes} | **{r['verdict']}** | {r.get('headline', '')} |")
    return lines


def across_readings(claim: dict) -> str:
    """The claim's verdicts over its readings in a few words, e.g. "reproduced in 2 of 6"."""
    readings = claim.get("readings") or []
    if not readings:
        return "\u2014 (not computed in this run)"
    counts = {}
    for r in readings:
        counts[r["verdict"]] = counts.get(r["verdict"], 0) + 1
    order = ("reproduced", "partly", "not reproduced")
    return ", ".join(f"{v} in {counts[v]} of {len(readings)}" for v in order if v in counts)


def _item_section(output_dir: Path, entry: Item, preset: str) -> list[str]:
    lines = [f"#### `{entry.id}`: {entry.what}", ""]
    png, _ = artifacts.figure_paths(output_dir, entry.id)
    _, md, _ = artifacts.table_paths(output_dir, entry.id)
    shown = False
    if png.exists():
        lines += [f"![{entry.id}](figures/{png.name})", ""]
        shown = True
    if md.exists():
        lines += [md.read_text().strip(), ""]
        shown = True
    if not shown:
        lines += ["*Not made in this run* (run the command below).", ""]
    others = [c for c in entry.claims[1:]]
    if others:
        lines += [f"Also serves {', '.join(others)}.", ""]
    lines += [f"Regenerate: `python scripts/{entry.id}.py --output_dir={output_dir} --preset={preset}`", ""]
    return lines


def _grid_section(output_dir: Path, preset: str) -> list[str]:
    """The ``claims_readings`` grid, when this run drew it."""
    png, _ = artifacts.figure_paths(output_dir, ITEM_ID)
    _, md, _ = artifacts.table_paths(output_dir, ITEM_ID)
    if not png.exists():
        return []
    lines = [f"## Claims across readings (`{ITEM_ID}`)", "", WHAT, "", f"![{ITEM_ID}](figures/{png.name})", ""]
    if md.exists():
        lines += [md.read_text().strip(), ""]
    lines += ["Each reading's figures and tables of paper A are under `readings/<reading>/`.", "",
              f"Regenerate: `python scripts/{ITEM_ID}.py --output_dir={output_dir} --preset={preset}`", ""]
    return lines


def _frameworks_section(output_dir: Path) -> list[str]:
    """The ``frameworks`` comparison, when ``python -m tfadv.frameworks`` drew it into this folder."""
    item_id = frameworks.ITEM_ID
    png, _ = artifacts.figure_paths(output_dir, item_id)
    record = output_dir / f"{item_id}.json"
    if not (png.exists() and record.exists()):
        return []
    made = artifacts.read_json(record)
    lines = [f"## Frameworks (`{item_id}`)", "", frameworks.WHAT, "", f"![{item_id}](figures/{png.name})", ""]
    for table_id in (item_id, f"{item_id}_verdicts"):
        md = artifacts.table_paths(output_dir, table_id)[1]
        if md.exists():
            lines += [md.read_text().strip(), ""]
    lines += [f"Regenerate: `python -m tfadv.frameworks --output_dir={output_dir} --preset={made['preset']} "
              f"--rounds={made['rounds']} --backends={','.join(b['name'] for b in made['backends'])}`", ""]
    return lines


def run_header(manifest: dict, preset: str) -> list[str]:
    """The report's opening lines: what made the run, and the command that regenerates it."""
    versions, machine, run_flags = manifest["versions"], manifest["machine"], manifest["flags"]
    synthetic = " --synthetic_data" if run_flags.get("synthetic_data") else ""
    return [f"Preset `{preset}`; made by tfadv {versions['tfadv']} with Keras {versions['keras']} on "
            f"{framework_label(versions)}, on {machine['processor']} ({machine['cpu_count']} cores); "
            f"finished {manifest['runs'][-1]['finished']}.", "",
            f"Regenerate everything: `python -m tfadv.reproduce --preset={preset} "
            f"--output_dir={run_flags['output_dir']}{synthetic}`. Settings, data checksums and stage times: "
            "`manifest.json`."]


def refresh_report(output_dir, papers: tuple[Paper, ...]) -> Path | None:
    """Rewrites the ``REPORT.md`` of a finished run (from its ``claims.json`` and ``manifest.json``), so
    it shows items drawn after it; None when the folder holds no finished run."""
    output_dir = Path(output_dir)
    claims_file, manifest_file = artifacts.claims_path(output_dir), output_dir / "manifest.json"
    if not (claims_file.exists() and manifest_file.exists()):
        return None
    claims = artifacts.read_json(claims_file)
    header = run_header(artifacts.read_json(manifest_file), claims["preset"])
    return write_report(output_dir, papers, claims["claims"], claims["preset"], header)


def claim_command(papers: tuple[Paper, ...], claim_id: str) -> str:
    """The command that remakes the items whose primary claim is ``claim_id``."""
    ids = [e.id for p in papers for e in p.items if e.claims[0] == claim_id]
    return f"python -m tfadv.reproduce --only={','.join(ids)}"


def results_table(papers: tuple[Paper, ...], claims: list[dict]) -> str:
    """The README's results table: claim, the paper's numbers, the reproduced ones, verdict, command."""
    lines = ["| claim | paper's numbers | reproduced | verdict | verdict across readings | command |",
             "|---|---|---|---|---|---|"]
    for c in claims:
        paper = "; ".join(f"{k.replace('_', ' ')} {_fmt(v)}" for k, v in c.get("paper_numbers", {}).items())
        lines.append(f"| **{c['id']}** {c['claim']} | {paper or 'none given (qualitative)'} | "
                     f"{c.get('headline', '')} | **{c['verdict']}** | {across_readings(c)} | "
                     f"`{claim_command(papers, c['id'])}` |")
    return "\n".join(lines)


def smoke_banner(preset: str) -> list[str]:
    """The lines that open the report of a smoke-size preset (none for ``paper``)."""
    if not is_smoke(preset):
        return []
    return [f"> **A smoke-size run (preset `{preset}`): its numbers and verdicts say nothing about the "
            "papers.** Its models train briefly and its attacks use a fraction of the protocol's examples; it "
            "shows that every stage runs. The paper-scale run (about 2 hours on 2 CPU cores): "
            f"`python -m tfadv.reproduce --preset={PAPER_SCALE} --output_dir=results`; its results are in "
            "`paper/reference/`.", ""]


def write_report(output_dir, papers: tuple[Paper, ...], claims: list[dict], preset: str,
                 header: list[str] | None = None) -> Path:
    """Writes ``REPORT.md`` from the claims (as in claims.json) and the files present.

    A preset other than ``paper`` gets ``smoke_banner`` first, above ``header``.
    """
    output_dir = Path(output_dir)
    by_id = {c["id"]: c for c in claims}
    glance = "## Claims at a glance" + (f" (preset `{preset}`: a smoke-size run)" if is_smoke(preset) else "")
    lines = ["# tfadv reproduction report", ""] + smoke_banner(preset) + (header or []) + [
        "", glance, "", "| claim | paper | verdict | across readings | key numbers | rule |",
        "|---|---|---|---|---|---|"]
    for c in claims:
        lines.append(f"| {c['id']} | {c['paper']} | **{c['verdict']}** | {across_readings(c)} | "
                     f"{c.get('headline', '')} | {c['rule']} |")
    lines.append("")
    lines += _grid_section(output_dir, preset)
    for paper in papers:
        entries = paper.items
        claim_ids = sorted({e.claims[0] for e in entries} | {c["id"] for c in claims if c["paper"] == paper.id})
        lines += [f"## {paper.title}", ""]
        for cid in claim_ids:
            if cid in by_id:
                lines += _claim_section(by_id[cid])
            else:
                lines += [f"### {cid}", "", "*No verdict in this run.*", ""]
            for e in entries:
                if e.claims[0] == cid:
                    lines += _item_section(output_dir, e, preset)
    lines += _frameworks_section(output_dir)
    return artifacts.write_text(output_dir / "REPORT.md", "\n".join(lines))
