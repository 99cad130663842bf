"""eyes_tab2: Confidence of each averaged image, and of single adversarial examples, beside the paper's numbers.

Command (paper scale; reuses every model and attack already in --output_dir):

    python scripts/eyes_tab2.py --output_dir=results --preset=paper [--data_dir=DIR]

Runtime on 2 CPU cores: about 5 s when the paper's models and searches are already in --output_dir
(measured while another run shared the cores); from an empty folder it first makes
paper A's models and searches (readings included), about 3 h 10 min to 3 h 30 min.

What it should show: Claim A1: averaged images >= 0.90 for (shallow, 2), (deep, 4) and 8 of 10 digits per net.

The logic lives in the package (tfadv.pipeline, tfadv.papers.eyes.items); this script
only names the item. ``--preset=quick`` makes a small but real version in a few minutes.
"""

from tfadv.flags import run_item

if __name__ == "__main__":
    run_item("eyes_tab2")
