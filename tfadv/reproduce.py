"""python -m tfadv.reproduce: regenerate the papers' results (in progress).

For now this trains the model zoo at its default configurations (seed 0) and
prints each model's test accuracy against its floor; the paper pipelines are
not built yet.
"""

from absl import app, flags

from tfadv import cli

FLAGS = flags.FLAGS


def _main(argv):
    del argv
    cli.route_package_logging()
    from tfadv.config import ZOO
    from tfadv.train import ensure_model

    rows = []
    for model, dataset, config in ZOO:
        _, meta, _ = ensure_model(FLAGS.output_dir, model, dataset, config, 0,
                                  data_dir=FLAGS.data_dir, verbose=cli.keras_verbosity())
        rows.append((model, dataset, config, meta["test_accuracy"], meta["accuracy_floor"], meta["wall_time_s"]))
    print("| model | dataset | config | test accuracy | floor | train time (s) |")
    print("|---|---|---|---|---|---|")
    for model, dataset, config, acc, floor, wall in rows:
        mark = "" if acc >= floor else " (below floor)"
        print(f"| {model} | {dataset} | {config} | {acc:.4f}{mark} | {floor:.3f} | {wall:.1f} |")
    print("\nNot built yet: the paper A and paper B pipelines (figures, tables, claims).")


if __name__ == "__main__":
    cli.define_common_flags()
    app.run(_main)
