"""python -m tfadv.train: train (or reuse) one model of the zoo and save it as HDF5.

    python -m tfadv.train --model=mlp_shallow_sigmoid --dataset=mnist --config=long --seed=0 \\
        --output_dir=results

The model lands in ``<output_dir>/models/<model>__<dataset>__<config>__s<seed>.h5``
with its metadata (``tfadv.training``); a file made with the same settings and
data is reused unless ``--force``.
"""

from __future__ import annotations

from absl import app

from tfadv import flags


def _main(argv) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    flags.set_up()
    from tfadv.keys import ModelKey
    from tfadv.modelbank import ensure_model

    f = flags.FLAGS
    _, metadata, path = ensure_model(f.output_dir, ModelKey(f.model, f.dataset, f.config, f.seed),
                                     flags.data_source(), force=f.force, verbose=flags.keras_verbosity())
    floor = "meets" if metadata["meets_floor"] else "BELOW"
    print(f"{path}: test accuracy {metadata['test_accuracy']:.4f} ({floor} floor "
          f"{metadata['accuracy_floor']:.3f}), trained in {metadata['wall_time_s']:.1f} s")


def main() -> None:
    flags.define_train_flags()
    app.run(_main)


if __name__ == "__main__":
    main()
