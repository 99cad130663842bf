"""dough_tab4: Attack statistics per class (success rate, median steps, L2 and Linf of the perturbation), and
claim B1's split-half identification per class.

Command (paper scale; reuses every model and attack already in --output_dir):

    python scripts/dough_tab4.py --output_dir=results --preset=paper [--data_dir=DIR]

Runtime on 2 CPU cores: about 7 s when the paper's models and searches are already in --output_dir
(measured while another run shared the cores); from an empty folder it first makes
paper B's models and evolutions (readings included), about 1 h 10 min.

What it should show: Every start should reach every class (minimal evolution); for B1, every class identified
in every seed (3 of 3).

The logic lives in the package (tfadv.pipeline, tfadv.papers.dough.items); this script
only names the item. ``--preset=quick`` makes a small but real version in a few minutes.
"""

from tfadv.flags import run_item

if __name__ == "__main__":
    run_item("dough_tab4")
