"""The package's absl flags and the set-up every entry point shares.

Flags become a ``RunContext`` (or explicit arguments) here, at the edge;
library code never reads FLAGS. Only the entry points import this module:
``python -m tfadv.reproduce``, ``python -m tfadv.train`` and ``scripts/<id>.py``.
"""

from __future__ import annotations

import logging
import sys

from absl import app, flags

FLAGS = flags.FLAGS


def define_data_flags() -> None:
    """Where data and outputs live: every entry point."""
    flags.DEFINE_string("output_dir", "results", "Folder for models, attacks, figures, tables and the report.")
    flags.DEFINE_string(
        "data_dir", None,
        "Folder holding MNIST/Fashion-MNIST IDX files (or <dir>/mnist, <dir>/fashion-mnist). "
        "Default: $TFADV_DATA_DIR, the Keras cache, Debian's package, then download.")
    flags.DEFINE_boolean(
        "synthetic_data", False,
        "Use tiny synthetic images instead of MNIST and Fashion-MNIST: tries every stage without the "
        "data files (with --preset=tiny, in about a minute); the results say nothing about the papers.")


def define_run_flags() -> None:
    """Flags of ``reproduce`` and of every script: where, at which scale, and --force."""
    from tfadv.config import PRESETS

    define_data_flags()
    flags.DEFINE_enum("preset", "paper", list(PRESETS),
                      "Scale: the protocol's (paper), a small real run (quick), or a seconds-long smoke run (tiny).")
    flags.DEFINE_boolean("force", False, "Train and attack again even when results exist.")


def define_train_flags() -> None:
    """Flags of ``python -m tfadv.train``."""
    from tfadv.config import TRAIN_CONFIGS
    from tfadv.models import MODELS

    define_data_flags()
    flags.DEFINE_enum("model", None, sorted(MODELS), "Model to train.")
    flags.DEFINE_enum("dataset", "mnist", ["mnist", "fashion_mnist"], "Dataset to train on.")
    flags.DEFINE_enum("config", "default", list(TRAIN_CONFIGS), "Training configuration.")
    flags.DEFINE_integer("seed", 0, "Seed of the initial weights and batch order.", lower_bound=0)
    flags.DEFINE_boolean("force", False, "Train again even if a model with these settings exists.")
    flags.mark_flag_as_required("model")


def set_up() -> None:
    """Process-wide switches, made once at an entry point and never by library code.

    Routes ``tfadv`` log messages to absl's ``--verbosity``, makes TensorFlow's
    ops deterministic (training is bitwise reproducible), and drops
    TensorFlow's misleading retracing warning for the engine's programs.
    """
    logging.getLogger("tfadv").setLevel(logging.INFO if FLAGS.verbosity >= 0 else logging.WARNING)
    import keras

    if keras.backend.backend() == "tensorflow":
        from tfadv.engine.tensorflow import quiet_retracing_warnings
        from tfadv.training import enable_op_determinism

        enable_op_determinism()
        quiet_retracing_warnings()


def keras_verbosity() -> int | str:
    """Keras' progress setting: a bar on a terminal, a line an epoch in logs, none when quiet."""
    if FLAGS.verbosity < 0:
        return 0
    return "auto" if sys.stdout.isatty() else 2


def data_source():
    """The ``DataSource`` the flags ask for."""
    from tfadv.sources import RealData, SyntheticData

    return SyntheticData() if FLAGS.synthetic_data else RealData(FLAGS.data_dir)


def run_context(preset_name: str | None = None):
    """The ``RunContext`` the flags ask for (``preset_name`` overrides ``--preset``)."""
    from tfadv.config import get_preset
    from tfadv.context import RunContext

    return RunContext(FLAGS.output_dir, get_preset(preset_name or FLAGS.preset), data_source(),
                      force=FLAGS.force, progress=FLAGS.verbosity >= 0, train_verbose=keras_verbosity())


def run_item(item_id: str) -> None:
    """Entry point of ``scripts/<item_id>.py``: makes that one figure or table."""
    define_run_flags()

    def main(argv):
        if len(argv) > 1:
            raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
        set_up()
        from tfadv import registry
        from tfadv.pipeline import Pipeline

        pipeline = Pipeline(run_context())
        for path in pipeline.make(item_id):
            print(path)
        item = registry.item(item_id)
        for claim in pipeline.claims(item.paper):
            if claim.id in item.claims:
                print(f"{claim.id} ({claim.verdict}): {claim.rule}")

    app.run(main)
