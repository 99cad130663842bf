"""The claims x readings grid (``claims_readings``) from hand-made claims."""

import numpy as np
from PIL import Image

from tfadv.outputs import Output
from tfadv.readings_grid import make_claims_readings, reading_names, verdict_grid
from tfadv.report import across_readings


def _claim(cid, verdict, readings):
    rs = [{"name": "primary", "settings": {}, "verdict": verdict}] + [
        {"name": n, "settings": {"s": n}, "verdict": v} for n, v in readings]
    return {"id": cid, "verdict": verdict, "readings": rs, "robust": all(r["verdict"] == verdict for r in rs)}


CLAIMS = [
    _claim("A1", "not reproduced", [("stop: budget", "reproduced"), ("training: classic", "partly")]),
    _claim("A5", "reproduced", [("A5: every round", "partly"), ("stop: budget", "reproduced")]),
    {"id": "B1", "verdict": "partly", "readings": [], "robust": True},
]


def test_grid_has_a_column_per_reading_and_blanks_where_a_reading_does_not_apply():
    ids, names, grid = verdict_grid(CLAIMS)
    assert ids == ["A1", "A5", "B1"]
    assert names == reading_names(CLAIMS) == ["primary", "stop: budget", "training: classic", "A5: every round"]
    assert grid == [["not reproduced", "reproduced", "partly", None],
                    ["reproduced", "reproduced", None, "partly"],
                    ["partly", None, None, None]]


def test_verdict_across_readings_counts_each_verdict():
    assert across_readings(CLAIMS[0]) == "reproduced in 1 of 3, partly in 1 of 3, not reproduced in 1 of 3"
    assert across_readings(CLAIMS[1]) == "reproduced in 2 of 3, partly in 1 of 3"
    assert across_readings(CLAIMS[2]).startswith("\u2014")


def test_grid_figure_and_table_are_written(tmp_path):
    paths = make_claims_readings(CLAIMS, Output(tmp_path, "quick"))
    assert sorted(p.name for p in paths) == sorted(["claims_readings.png", "claims_readings.pdf",
                                                    "claims_readings.csv", "claims_readings.md",
                                                    "claims_readings.tex"])
    md = (tmp_path / "tables" / "claims_readings.md").read_text()
    assert "| A1 | no | not reproduced | reproduced | partly | \u2014 |" in md
    assert "| B1 | yes | partly | \u2014 | \u2014 | \u2014 |" in md and "smoke-size" in md
    image = np.asarray(Image.open(tmp_path / "figures" / "claims_readings.png").convert("RGB"))
    assert image.shape[0] > 200 and image.shape[1] > 400
    green = np.all(np.abs(image.astype(int) - [0x1a, 0x98, 0x50]) < 8, axis=-1)
    assert green.sum() > 1000  # the reproduced cells are drawn in green
