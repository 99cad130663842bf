"""``claims_readings``: every claim's verdict under every reading, at a glance (PROTOCOL.md section 8).

Drawn from the claims as written to ``claims.json`` (numpy and matplotlib
only): a grid of claims (rows) by readings (columns, the primary one first),
each cell coloured by its verdict and blank where a reading does not bear on
the claim; and the same as a table.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.colors import ListedColormap

from tfadv.figures import new_figure, save_figure
from tfadv.outputs import Output
from tfadv.tables import Table, write_table
from tfadv.verdicts import NOT_REPRODUCED, PARTLY, REPRODUCED

ITEM_ID = "claims_readings"
WHAT = "Every claim's verdict under every reading of PROTOCOL.md section 8 (claims x readings, by verdict)."
# Cell colours: not applicable, not reproduced, partly, reproduced.
COLOURS = ("#f2f2f2", "#d7301f", "#fdcc8a", "#1a9850")
CODES = {NOT_REPRODUCED: 1, PARTLY: 2, REPRODUCED: 3}
SHORT = {NOT_REPRODUCED: "no", PARTLY: "partly", REPRODUCED: "yes"}


def reading_names(claims: list[dict]) -> list[str]:
    """Every reading's name over the claims, the primary first, then in first-seen order."""
    names = ["primary"]
    for c in claims:
        for r in c.get("readings") or []:
            if r["name"] not in names:
                names.append(r["name"])
    return names


def verdict_grid(claims: list[dict]) -> tuple[list[str], list[str], list[list[str | None]]]:
    """``(claim ids, reading names, verdicts)``: ``verdicts[i][j]`` is claim i's verdict under
    reading j, None where that reading does not bear on it (a claim without readings has
    its primary verdict only)."""
    names = reading_names(claims)
    grid = []
    for c in claims:
        by_name = {r["name"]: r["verdict"] for r in c.get("readings") or []}
        by_name.setdefault("primary", c["verdict"])
        grid.append([by_name.get(n) for n in names])
    return [c["id"] for c in claims], names, grid


def make_claims_readings(claims: list[dict], out: Output) -> list[Path]:
    """Draws the grid (figure) and writes the table; returns the files written."""
    ids, names, grid = verdict_grid(claims)
    codes = np.array([[CODES.get(v, 0) for v in row] for row in grid], dtype=float)
    fig = new_figure(1.1 * len(names) + 2.0, 0.42 * len(ids) + 2.2)
    ax = fig.add_subplot()
    ax.imshow(codes, cmap=ListedColormap(COLOURS), vmin=-0.5, vmax=3.5, aspect="auto")
    for i, row in enumerate(grid):
        for j, v in enumerate(row):
            ax.text(j, i, SHORT.get(v, "") if v else "\u00b7", ha="center", va="center", fontsize=8,
                    color="white" if v in (NOT_REPRODUCED, REPRODUCED) else "black")
    ax.set_xticks(range(len(names)), [n.replace(": ", ":\n") for n in names], rotation=45, ha="right",
                  fontsize=7)
    robust = {c["id"]: c.get("robust", True) for c in claims}
    ax.set_yticks(range(len(ids)), [f"{i}{'' if robust[i] else ' *'}" for i in ids], fontsize=8)
    ax.set_xticks(np.arange(-0.5, len(names)), minor=True)
    ax.set_yticks(np.arange(-0.5, len(ids)), minor=True)
    ax.grid(which="minor", color="white", linewidth=1.5)
    ax.tick_params(which="minor", length=0)
    ax.set_title("Verdict of each claim under each reading\n(yes: reproduced, no: not reproduced, "
                 "\u00b7: the reading does not bear on the claim; *: not robust)", fontsize=8)
    paths = save_figure(fig, out, ITEM_ID)
    rows = tuple((cid, "yes" if robust[cid] else "no", *[v or "\u2014" for v in row]) for cid, row in zip(ids, grid))
    table = Table(("claim", "robust") + tuple(names), rows,
                  "Every claim's verdict under each reading of PROTOCOL.md section 8 (the primary one is "
                  "pre-registered; \u2014: the reading does not bear on the claim).")
    return paths + write_table(table, out, ITEM_ID)
