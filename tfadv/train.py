"""python -m tfadv.train: train (or reuse) one model of the zoo and save it as HDF5.

    python -m tfadv.train --model=mlp_shallow_sigmoid --dataset=mnist --seed=0 --output_dir=results

Without ``--config`` it trains what the protocol trains for that model and
dataset (``tfadv.config.main_config``: e.g. ``long`` for mlp_shallow_sigmoid
on MNIST), the configuration its accuracy floor is checked at. The model
lands in ``<output_dir>/models/<model>__<dataset>__<config>__s<seed>.h5``
with its metadata (``tfadv.training``); a file made with the same settings and
data is reused unless ``--force``. A user error is one line on stderr (exit
status 2); ``--verbosity=1`` shows the traceback.
"""

from __future__ import annotations

from absl import app

from tfadv import flags


def _main(argv) -> None:
    flags.no_arguments(argv)
    flags.set_up()
    from tfadv import artifacts
    from tfadv.config import main_config
    from tfadv.keys import ModelKey
    from tfadv.modelbank import ensure_model

    f = flags.FLAGS
    config = f.config
    if config is None:
        try:
            config = main_config(f.model, f.dataset)
        except ValueError as e:
            raise app.UsageError(str(e)) from None
    source = flags.data_source()
    source.load(f.dataset)  # a data error stops the command before the output folder is made
    output_dir = artifacts.open_output_dir(f.output_dir, f.backend)
    _, metadata, path = ensure_model(output_dir, ModelKey(f.model, f.dataset, config, f.seed), source,
                                     force=f.force, verbose=flags.keras_verbosity(per_epoch=True))
    floor = "meets" if metadata["meets_floor"] else "BELOW"
    print(f"{path}: test accuracy {metadata['test_accuracy']:.4f} ({floor} floor "
          f"{metadata['accuracy_floor']:.3f}), trained in {metadata['wall_time_s']:.1f} s")


def main() -> None:
    flags.before_frameworks_load()  # the flag definitions import Keras
    flags.define_train_flags()
    flags.run(_main, "tfadv.train")


if __name__ == "__main__":
    main()
