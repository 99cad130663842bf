"""eyes_act: Paper A's analyses repeated on ReLU variants of both nets (figure and table).

Command (paper scale; reuses every model and attack already in --output_dir):

    python scripts/eyes_act.py --output_dir=results --preset=paper [--data_dir=DIR]

Runtime on 2 CPU cores: RUNTIME_eyes_act

What it should show: Whether the activation function changes the averaged patterns and the A1-A5 verdicts.

The logic lives in the package (tfadv.pipeline, tfadv.eyes_items); this script
only names the item. ``--preset=quick`` makes a small but real version in a few minutes.
"""

from tfadv.cli import run_item

if __name__ == "__main__":
    run_item("eyes_act")
