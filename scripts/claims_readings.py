"""claims_readings: every claim's verdict under every reading of PROTOCOL.md section 8 (a grid of claims x
readings coloured by verdict, and the same as a table).

Command (paper scale; reuses every model and attack already in --output_dir):

    python scripts/claims_readings.py --output_dir=results --preset=paper [--data_dir=DIR]

Runtime on 2 CPU cores: seconds when both papers' summaries (and their readings') are already in
--output_dir; from an empty folder it first runs both papers, several hours.

What it should show: one row per claim (A1-A5, B1-B6), one column per reading (the pre-registered one first);
a claim whose row has more than one colour is not robust: its verdict depends on how the protocol's open
settings are read.

The logic lives in the package (tfadv.pipeline, tfadv.readings_grid); this script only names the item.
``--preset=quick`` makes a small but real version in a few minutes.
"""

from tfadv.flags import run_claims_readings

if __name__ == "__main__":
    run_claims_readings()
