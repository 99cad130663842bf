"""python -m tfadv.reproduce: regenerate every figure, table and claim verdict.

    python -m tfadv.reproduce                        # every paper, paper scale, into results/
    python -m tfadv.reproduce --paper=eyes --preset=quick --output_dir=/tmp/q
    python -m tfadv.reproduce --only=eyes_fig1,eyes_tab1
    python -m tfadv.reproduce --check=paper/reference  # rerun and compare with a reference
    python -m tfadv.reproduce --preset=tiny --synthetic_data --output_dir=/tmp/t   # no data needed
    python -m tfadv.reproduce --clean [--yes]        # list [delete] caches no setting of --preset reads

Results already in ``--output_dir`` (models, searches, summaries) are reused,
so a second run is fast and an interrupted run resumes where it stopped. The
run ends with ``claims.json``, ``REPORT.md`` and ``manifest.json``. A user
error is one line on stderr (exit status 2); ``--verbosity=1`` shows the
traceback and the framework's log lines.
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
RUN_ONLY = ("paper", "only", "check", "force", "executor", "ray_address", "dry_run")  # not with --clean


def _define_flags() -> None:
    from tfadv.papers import IDS  # not tfadv.registry: --help and flag errors need no Keras

    flags.define_run_flags()
    absl_flags.DEFINE_enum("paper", None, list(IDS), "Only this paper (default: every paper).")
    absl_flags.DEFINE_list("only", None, "Only these figure/table ids (comma-separated; not with --paper).")
    absl_flags.DEFINE_string("check", None, "A reference output folder (e.g. paper/reference): rerun at its "
                             "preset and compare claims; exits with status 1 when a verdict changes.")
    absl_flags.DEFINE_boolean("clean", False, "Run nothing; list the cached models, attacks and summaries under "
                              "--output_dir that no setting of --preset (or --keep_presets) reads.")
    absl_flags.DEFINE_list("keep_presets", None, "With --clean: the presets whose caches count as used "
                           "(default: --preset).")
    absl_flags.DEFINE_boolean("yes", False, "With --clean: delete the files listed.")
    absl_flags.DEFINE_enum("executor", "serial", ["serial", "ray"], "Where the training and attack stages run: "
                           "in this process (serial), or as Ray tasks (ray; pip install '.[ray]').")
    absl_flags.DEFINE_string("ray_address", None, "With --executor=ray: the address of an existing Ray cluster "
                             "(e.g. auto, or ray://head:10001; --output_dir must be storage every node sees). "
                             "Default: a local Ray with one worker per core.")
    absl_flags.DEFINE_boolean("dry_run", False, "Run nothing: print the stage graph and the predicted wall time on "
                              "1 to 128 workers, from the stage times of earlier runs in --output_dir.")


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _run(ids: list[str], paper_ids: list[str], preset: str) -> list[dict]:
    from tfadv import artifacts, registry, report
    from tfadv.outputs import Output, is_smoke
    from tfadv.readings_grid import ITEM_ID, make_claims_readings
    from tfadv.registry import PAPERS
    from tfadv.pipeline import Pipeline

    from tfadv.execution.driver import execute

    started = _now()
    start = time.perf_counter()
    ctx, run_record = execute(flags.run_context(preset, paper_ids), [registry.paper(p) for p in paper_ids],
                              FLAGS.executor, ray_address=FLAGS.ray_address, verbose=FLAGS.verbosity >= 1,
                              started=started)
    driver_start = time.perf_counter()
    pipeline = Pipeline(ctx)
    pipeline.timings[f"stages ({FLAGS.executor})"] = run_record["stages_wall_s"]
    per_item = FLAGS.only is not None or FLAGS.verbosity >= 1  # else one line per paper
    papers = [registry.item(i).paper for i in ids]
    made: list[Path] = []
    for n, (item, paper) in enumerate(zip(ids, papers), start=1):
        paths = pipeline.make(item)
        made += paths
        if per_item:
            print(f"[{n}/{len(ids)}] {item}: {', '.join(str(p) for p in paths)}", flush=True)
        elif n == len(ids) or papers[n] != paper:
            folders = ", ".join(sorted({str(p.parent) for p in made}))
            print(f"{paper}: {papers.count(paper)} figures and tables ({len(made)} files) in {folders}", flush=True)
            made = []
    for paper in paper_ids if FLAGS.only is None else []:
        paths = pipeline.make_readings(paper)
        if paths:
            print(f"{paper}: {len(paths)} figures and tables of its readings in "
                  f"{Path(FLAGS.output_dir) / 'readings'}", flush=True)
    claims = pipeline.write_claims(paper_ids)
    if FLAGS.only is None:  # --only makes just the items it names
        made = make_claims_readings(claims, Output(Path(FLAGS.output_dir), preset))
        print(f"{ITEM_ID}: {len(made)} files (every claim under every reading) in {made[0].parent.parent}",
              flush=True)
    flag_values = {name: FLAGS[name].value for name in ("backend", "precision", "output_dir", "data_dir",
                                                        "synthetic_data", "no_verify", "preset", "paper", "only",
                                                        "force", "check", "verbosity", "executor", "ray_address")}
    run_record["driver_s"] = round(time.perf_counter() - driver_start, 3)
    manifest = pipeline.manifest(paper_ids, flag_values, started, _now(), run_record)
    artifacts.write_json(Path(FLAGS.output_dir) / "manifest.json", manifest)
    header = report.run_header(manifest, preset)
    report.write_report(FLAGS.output_dir, PAPERS, claims, preset, header)
    if is_smoke(preset):
        print(f"Verdicts of a smoke-size run (preset {preset}); they say nothing about the papers:")
    for claim in claims:
        print(f"{claim['id']}: {claim['verdict']}")
    print(f"Report: {Path(FLAGS.output_dir) / 'REPORT.md'}")
    print(f"Done in {time.perf_counter() - start:.1f} s ({pipeline.describe_timings()}).", file=sys.stderr)
    return claims


def _clean() -> None:
    """``--clean``: lists (with ``--yes``, deletes) the caches no setting of the chosen presets reads."""
    from tfadv import cache
    from tfadv.config import get_preset

    given = [name for name in RUN_ONLY if FLAGS[name].present]
    if given:
        raise app.UsageError(f"--clean considers every paper and runs nothing; drop --{', --'.join(given)}")
    try:
        presets = [get_preset(name) for name in (FLAGS.keep_presets or [FLAGS.preset])]
    except ValueError as e:
        raise app.UsageError(f"--keep_presets: {e}") from None
    names = ", ".join(p.name for p in presets)
    unused = cache.unused_files(FLAGS.output_dir, presets)
    size = cache.total_bytes(unused)
    if not unused:
        print(f"Nothing to clean: every cache under {FLAGS.output_dir} is read by preset {names}.")
        return
    for path in unused:
        print(path)
    if FLAGS.yes:
        cache.remove(unused, FLAGS.output_dir)
        print(f"Removed {len(unused)} files ({size / 1e6:.1f} MB) that no setting of preset {names} reads.")
    else:
        print(f"{len(unused)} files ({size / 1e6:.1f} MB) are read by no setting of preset {names}; "
              "delete them with --clean --yes (--keep_presets=paper,quick keeps the caches of several presets).")


def _main(argv) -> None:
    flags.no_arguments(argv)
    flags.set_up()
    if FLAGS.clean:
        return _clean()
    if FLAGS.yes or FLAGS.keep_presets:
        raise app.UsageError("--yes and --keep_presets only go with --clean")
    from tfadv import artifacts, registry
    from tfadv.check import compare_claims

    if FLAGS.paper and FLAGS.only:
        raise app.UsageError(f"--paper={FLAGS.paper} and --only cannot be combined (--only names the items, "
                             "whichever paper they belong to); drop one of them")
    if FLAGS["only"].present and not FLAGS.only:
        raise app.UsageError("--only is empty; name the items, e.g. --only=eyes_fig1,dough_tab5")
    preset, reference = FLAGS.preset, None
    if FLAGS.check:
        ref_path = Path(FLAGS.check) / "claims.json"
        if not ref_path.is_file():
            raise app.UsageError(f"--check={FLAGS.check}: no claims.json there; point --check at the output "
                                 "folder of a finished run (e.g. paper/reference)")
        try:
            reference = artifacts.read_json(ref_path)
            reference_preset, _ = reference["preset"], reference["claims"]
        except (ValueError, KeyError, TypeError):
            raise app.UsageError(f"--check={FLAGS.check}: {ref_path} is not a claims.json written by "
                                 "tfadv.reproduce") from None
        if not FLAGS["preset"].present:
            preset = reference_preset
    try:
        ids = FLAGS.only or [i.id for i in registry.all_items() if FLAGS.paper in (None, i.paper)]
        wanted = {registry.item(i).paper for i in ids}
    except ValueError as e:
        raise app.UsageError(f"--only: {e}") from None
    paper_ids = [p.id for p in registry.PAPERS if p.id in wanted]
    if FLAGS.dry_run:
        from tfadv.config import get_preset
        from tfadv.execution.driver import dry_run

        print("\n".join(dry_run([registry.paper(p) for p in paper_ids], get_preset(preset), FLAGS.output_dir)))
        return
    if FLAGS.executor == "ray":
        from tfadv.execution.ray_executor import RayMissingError, check_installed

        try:
            check_installed()
        except RayMissingError as e:
            raise app.UsageError(str(e)) from None
    claims = _run(ids, paper_ids, preset)
    if reference is not None:
        kept = [c for c in reference["claims"] if c["paper"] in paper_ids]
        lines, changed = compare_claims(kept, [c for c in claims if c["paper"] in paper_ids])
        print(f"\nCompared with {FLAGS.check} (preset {reference['preset']}):")
        print("\n".join(lines) if lines else "no differences")
        if changed:
            print("A verdict changed.", file=sys.stderr)
            sys.exit(1)


def main() -> None:
    flags.before_frameworks_load()
    _define_flags()
    flags.run(_main, "tfadv.reproduce")


if __name__ == "__main__":
    main()
