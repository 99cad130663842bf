"""eyes_tab4: Sensitivity of claims A1 and A5 to the attack: no clipping, normal starts, lr / 10 and x 10,
stop at confidence >= 0.5 (round 0, fewer successes per digit).

Command (paper scale; reuses every model and attack already in --output_dir):

    python scripts/eyes_tab4.py --output_dir=results --preset=paper [--data_dir=DIR]

Runtime on 2 CPU cores: about 5 s when the paper's models and searches are already in --output_dir
(measured while another run shared the cores); from an empty folder it first makes
paper A's models and searches (readings included), about 3 h 10 min to 3 h 30 min.

What it should show: Whether A1's and A5's verdicts survive each change.

The logic lives in the package (tfadv.pipeline, tfadv.papers.eyes.items); this script
only names the item. ``--preset=quick`` makes a small but real version in a few minutes.
"""

from tfadv.flags import run_item

if __name__ == "__main__":
    run_item("eyes_tab4")
