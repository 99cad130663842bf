"""frameworks: the same saved models of paper A attacked by the TensorFlow, JAX and PyTorch engines.

Command (paper scale, every installed backend, one round; reuses the models in --output_dir):

    python scripts/frameworks.py --output_dir=results --preset=paper [--backends=tensorflow,jax] [--rounds=1]

The same as ``python -m tfadv.frameworks``. What it should show: success rates that agree within
their 95% intervals, averaged images with r near 1 and the same verdicts on every engine, and
each engine's speed on this machine; examples diverge where gradient descent at lr 100 is chaotic.
"""

from tfadv.frameworks.__main__ import main

if __name__ == "__main__":
    main()
