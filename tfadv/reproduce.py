"""python -m tfadv.reproduce: regenerate every figure, table and claim verdict.

    python -m tfadv.reproduce                       # both papers, paper scale
    python -m tfadv.reproduce --paper=eyes --preset=quick --output_dir=/tmp/q
    python -m tfadv.reproduce --only=eyes_fig1,eyes_tab1

Results already in ``--output_dir`` (models, searches, summaries) are reused,
so a second run is fast and an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import sys
import time

from absl import app, flags

from tfadv import cli

FLAGS = flags.FLAGS


def _define_flags() -> None:
    cli.define_common_flags()
    flags.DEFINE_enum("preset", "paper", ["paper", "quick"], "Scale: the protocol's (paper) or a smoke run.")
    flags.DEFINE_enum("paper", None, ["eyes", "dough"], "Only this paper (default: both).")
    flags.DEFINE_list("only", None, "Only these figure/table ids (comma-separated).")
    flags.DEFINE_boolean("force", False, "Train and attack again even when results exist.")


def _main(argv) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    cli.route_package_logging()
    from tfadv.config import get_preset
    from tfadv.pipeline import Pipeline, item_ids, paper_of

    ids = FLAGS.only or item_ids(FLAGS.paper)
    try:
        papers = sorted({paper_of(i) for i in ids}, key=["eyes", "dough"].index)
    except ValueError as e:
        raise app.UsageError(str(e))
    start = time.perf_counter()
    pipeline = Pipeline(get_preset(FLAGS.preset), FLAGS.output_dir, data_dir=FLAGS.data_dir,
                        force=FLAGS.force, verbose=cli.keras_verbosity(), progress=FLAGS.verbosity >= 0)
    for n, item in enumerate(ids, start=1):
        paths = pipeline.make(item)
        print(f"[{n}/{len(ids)}] {item}: {', '.join(str(p) for p in paths)}", flush=True)
    claims_path = pipeline.write_claims(papers)
    for paper in papers:
        for claim in pipeline.claims(paper):
            print(f"{claim.id}: {claim.verdict}")
    print(f"Claims: {claims_path}")
    print(f"Done in {time.perf_counter() - start:.1f} s ({pipeline.describe_timings()}).", file=sys.stderr)


def main() -> None:
    _define_flags()
    app.run(_main)


if __name__ == "__main__":
    main()
