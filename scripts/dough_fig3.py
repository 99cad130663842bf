"""dough_fig3: Dataset-derived patterns (class mean minus overall mean) beside the class patterns, with r.

Command (paper scale; reuses every model and attack already in --output_dir):

    python scripts/dough_fig3.py --output_dir=results --preset=paper [--data_dir=DIR]

Runtime on 2 CPU cores: about 10 s when the paper's models and searches are already in --output_dir
(measured while another run shared the cores); from an empty folder it first makes
paper B's models and evolutions (readings included), about 1 h 10 min.

What it should show: Claim B4: patterns resemble mu_c - mu of their own class.

The logic lives in the package (tfadv.pipeline, tfadv.papers.dough.items); this script
only names the item. ``--preset=quick`` makes a small but real version in a few minutes.
"""

from tfadv.flags import run_item

if __name__ == "__main__":
    run_item("dough_fig3")
