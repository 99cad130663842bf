"""eyes_act: Paper A's analyses repeated on ReLU variants of both nets (figure and table).

Command (paper scale; reuses every model and attack already in --output_dir):

    python scripts/eyes_act.py --output_dir=results --preset=paper [--data_dir=DIR]

Runtime on 2 CPU cores: about 7 s when the paper's models and searches are already in --output_dir
(measured while another run shared the cores); from an empty folder it first makes
paper A's models and searches (readings included), about 3 h 10 min to 3 h 30 min.

What it should show: Whether the activation function changes the averaged patterns and the A1-A5 verdicts.

The logic lives in the package (tfadv.pipeline, tfadv.papers.eyes.items); this script
only names the item. ``--preset=quick`` makes a small but real version in a few minutes.
"""

from tfadv.flags import run_item

if __name__ == "__main__":
    run_item("eyes_act")
