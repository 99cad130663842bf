"""The package's absl flags and its small command-line entry points.

Flags become explicit arguments here, at the edge; library code never reads
FLAGS. ``python -m tfadv.train`` lands in ``train_main``.
"""

from __future__ import annotations

import logging
import sys

from absl import app, flags

FLAGS = flags.FLAGS


def define_common_flags() -> None:
    """Flags shared by every entry point: where data and outputs live."""
    flags.DEFINE_string("output_dir", "results", "Folder for models, attacks, figures, tables and the report.")
    flags.DEFINE_string(
        "data_dir", None,
        "Folder holding MNIST/Fashion-MNIST IDX files (or <dir>/mnist, <dir>/fashion-mnist). "
        "Default: $TFADV_DATA_DIR, the Keras cache, Debian's package, then download.",
    )


def keras_verbosity() -> int | str:
    """Keras' progress setting: a bar on a terminal, a line an epoch in logs, none when quiet."""
    if FLAGS.verbosity < 0:
        return 0
    return "auto" if sys.stdout.isatty() else 2


def route_package_logging() -> None:
    """Shows ``tfadv`` log messages at the level absl's ``--verbosity`` asks for."""
    level = logging.INFO if FLAGS.verbosity >= 0 else logging.WARNING
    logging.getLogger("tfadv").setLevel(level)


def define_run_flags() -> None:
    """Flags of ``reproduce`` and of every script: where, at which scale, and --force."""
    define_common_flags()
    flags.DEFINE_enum("preset", "paper", ["paper", "quick"],
                      "Scale: the protocol's (paper) or a small smoke run (quick).")
    flags.DEFINE_boolean("force", False, "Train and attack again even when results exist.")


def make_pipeline():
    """The ``Pipeline`` the current flags ask for."""
    from tfadv.config import get_preset
    from tfadv.pipeline import Pipeline

    return Pipeline(get_preset(FLAGS.preset), FLAGS.output_dir, data_dir=FLAGS.data_dir, force=FLAGS.force,
                    verbose=keras_verbosity(), progress=FLAGS.verbosity >= 0)


def run_item(item_id: str) -> None:
    """Entry point of ``scripts/<item_id>.py``: makes that one figure or table."""
    define_run_flags()

    def main(argv):
        if len(argv) > 1:
            raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
        route_package_logging()
        from tfadv import catalog

        pipeline = make_pipeline()
        for path in pipeline.make(item_id):
            print(path)
        paper = catalog.entry(item_id).paper
        served = set(catalog.entry(item_id).claims)
        for claim in pipeline.claims(paper):
            if claim.id in served:
                print(f"{claim.id} ({claim.verdict}): {claim.rule}")

    app.run(main)


def _define_train_flags() -> None:
    from tfadv.config import TRAIN_CONFIGS
    from tfadv.models import MODELS

    define_common_flags()
    flags.DEFINE_enum("model", None, sorted(MODELS), "Model to train.")
    flags.DEFINE_enum("dataset", "mnist", ["mnist", "fashion_mnist"], "Dataset to train on.")
    flags.DEFINE_enum("config", "default", list(TRAIN_CONFIGS), "Training configuration.")
    flags.DEFINE_integer("seed", 0, "Seed of the initial weights and batch order.", lower_bound=0)
    flags.DEFINE_boolean("force", False, "Train again even if a model with these settings exists.")
    flags.mark_flag_as_required("model")


def _train(argv) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    route_package_logging()
    from tfadv.train import ensure_model

    _, metadata, path = ensure_model(
        FLAGS.output_dir, FLAGS.model, FLAGS.dataset, FLAGS.config, FLAGS.seed,
        data_dir=FLAGS.data_dir, force=FLAGS.force, verbose=keras_verbosity(),
    )
    floor = "meets" if metadata["meets_floor"] else "BELOW"
    print(f"{path}: test accuracy {metadata['test_accuracy']:.4f} ({floor} floor "
          f"{metadata['accuracy_floor']:.3f}), trained in {metadata['wall_time_s']:.1f} s")


def train_main() -> None:
    """Entry point of ``python -m tfadv.train``."""
    _define_train_flags()
    app.run(_train)
