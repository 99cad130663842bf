"""eyes_tab3: The persistence numbers behind eyes_fig3, per net and digit.

Command (paper scale; reuses every model and attack already in --output_dir):

    python scripts/eyes_tab3.py --output_dir=results --preset=paper [--data_dir=DIR]

Runtime on 2 CPU cores: about 5 s when the paper's models and searches are already in --output_dir
(measured while another run shared the cores); from an empty folder it first makes
paper A's models and searches (readings included), about 3 h 10 min to 3 h 30 min.

What it should show: Claims A2, A3 (cross-round r >= 0.8) and A4.

The logic lives in the package (tfadv.pipeline, tfadv.papers.eyes.items); this script
only names the item. ``--preset=quick`` makes a small but real version in a few minutes.
"""

from tfadv.flags import run_item

if __name__ == "__main__":
    run_item("eyes_tab3")
