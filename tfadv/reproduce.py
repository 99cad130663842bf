"""python -m tfadv.reproduce: regenerate every figure, table and claim verdict.

    python -m tfadv.reproduce                        # every paper, paper scale, into results/
    python -m tfadv.reproduce --paper=eyes --preset=quick --output_dir=/tmp/q
    python -m tfadv.reproduce --only=eyes_fig1,eyes_tab1
    python -m tfadv.reproduce --check=paper/reference  # rerun and compare with a reference
    python -m tfadv.reproduce --preset=tiny --synthetic_data --output_dir=/tmp/t   # no data needed

Results already in ``--output_dir`` (models, searches, summaries) are reused,
so a second run is fast and an interrupted run resumes where it stopped. The
run ends with ``claims.json``, ``REPORT.md`` and ``manifest.json``.
"""

from __future__ import annotations

import datetime
import sys
import time
from pathlib import Path

from absl import app
from absl import flags as absl_flags

from tfadv import flags

FLAGS = flags.FLAGS


def _define_flags() -> None:
    from tfadv.registry import PAPERS

    flags.define_run_flags()
    absl_flags.DEFINE_enum("paper", None, [p.id for p in PAPERS], "Only this paper (default: every paper).")
    absl_flags.DEFINE_list("only", None, "Only these figure/table ids (comma-separated).")
    absl_flags.DEFINE_string("check", None, "A reference output folder (e.g. paper/reference): rerun at its "
                             "preset and compare claims; exits with status 1 when a verdict changes.")


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _run(ids: list[str], paper_ids: list[str], preset: str) -> list[dict]:
    from tfadv import artifacts, report
    from tfadv.registry import PAPERS
    from tfadv.pipeline import Pipeline

    started = _now()
    start = time.perf_counter()
    pipeline = Pipeline(flags.run_context(preset))
    for n, item in enumerate(ids, start=1):
        paths = pipeline.make(item)
        print(f"[{n}/{len(ids)}] {item}: {', '.join(str(p) for p in paths)}", flush=True)
    claims = pipeline.write_claims(paper_ids)
    flag_values = {name: FLAGS[name].value for name in ("output_dir", "data_dir", "synthetic_data", "preset",
                                                        "paper", "only", "force", "check", "verbosity")}
    manifest = pipeline.manifest(paper_ids, flag_values, started, _now())
    artifacts.write_json(Path(FLAGS.output_dir) / "manifest.json", manifest)
    header = [f"Preset `{preset}`; made by tfadv {manifest['versions']['tfadv']} with TensorFlow "
              f"{manifest['versions']['tensorflow']} on {manifest['machine']['processor']} "
              f"({manifest['machine']['cpu_count']} cores); finished {manifest['runs'][-1]['finished']}.",
              "", f"Regenerate everything: `python -m tfadv.reproduce --preset={preset} "
              f"--output_dir={FLAGS.output_dir}`. Settings, data checksums and stage times: `manifest.json`."]
    report.write_report(FLAGS.output_dir, PAPERS, claims, preset, header)
    for claim in claims:
        print(f"{claim['id']}: {claim['verdict']}")
    print(f"Report: {Path(FLAGS.output_dir) / 'REPORT.md'}")
    print(f"Done in {time.perf_counter() - start:.1f} s ({pipeline.describe_timings()}).", file=sys.stderr)
    return claims


def _main(argv) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    flags.set_up()
    from tfadv import artifacts, data, registry
    from tfadv.check import compare_claims

    preset, reference = FLAGS.preset, None
    if FLAGS.check:
        ref_path = Path(FLAGS.check) / "claims.json"
        if not ref_path.exists():
            raise app.UsageError(f"--check: no claims.json in {FLAGS.check}.")
        reference = artifacts.read_json(ref_path)
        if not FLAGS["preset"].present:
            preset = reference["preset"]
    try:
        ids = FLAGS.only or [i.id for i in registry.all_items() if FLAGS.paper in (None, i.paper)]
        wanted = {registry.item(i).paper for i in ids}
    except ValueError as e:
        raise app.UsageError(str(e)) from None
    paper_ids = [p.id for p in registry.PAPERS if p.id in wanted]
    try:
        claims = _run(ids, paper_ids, preset)
    except (artifacts.OutputDirError, data.DataError) as e:
        print(f"tfadv.reproduce: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("\ntfadv.reproduce: interrupted. Everything finished so far is kept; run the same command "
              "again to resume.", file=sys.stderr)
        sys.exit(130)
    if reference is not None:
        kept = [c for c in reference["claims"] if c["paper"] in paper_ids]
        lines, changed = compare_claims(kept, [c for c in claims if c["paper"] in paper_ids])
        print(f"\nCompared with {FLAGS.check} (preset {reference['preset']}):")
        print("\n".join(lines) if lines else "no differences")
        if changed:
            print("A verdict changed.", file=sys.stderr)
            sys.exit(1)


def main() -> None:
    _define_flags()
    app.run(_main)


if __name__ == "__main__":
    main()
