"""eyes_fig1: Paper A's figure 1: (a) one adversarial example for 2 (shallow net), (b) the average of all 2s,
(c) one for 4 (deep net), (d) the average of all 4s, each titled with its label and confidence.

Command (paper scale; reuses every model and attack already in --output_dir):

    python scripts/eyes_fig1.py --output_dir=results --preset=paper [--data_dir=DIR]

Runtime on 2 CPU cores: about 5 s when the paper's models and searches are already in --output_dir
(measured while another run shared the cores); from an empty folder it first makes
paper A's models and searches (readings included), about 3 h 10 min to 3 h 30 min.

What it should show: The paper reports (a) 1.46%, (b) 98.72%, (c) 86.97%, (d) 99.68%; single examples stop at the first
step the label flips, so their confidence is low, and the averages show stroke-like structure.

The logic lives in the package (tfadv.pipeline, tfadv.papers.eyes.items); this script
only names the item. ``--preset=quick`` makes a small but real version in a few minutes.
"""

from tfadv.flags import run_item

if __name__ == "__main__":
    run_item("eyes_fig1")
