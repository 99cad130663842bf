"""Tables: one ``Table`` of numbers, written as CSV, Markdown and LaTeX.

``write_table`` ends the caption (Markdown and LaTeX) with the preset that made
the numbers; the CSV holds the cells only, so any CSV reader can load it.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
from pathlib import Path

from tfadv import artifacts
from tfadv.outputs import Output


@dataclasses.dataclass(frozen=True)
class Table:
    """Rows of cells under named columns, with a caption.

    Cells are strings, ints, floats (NaN shown as an em dash) or bools.
    ``digits`` sets the decimals of floats in Markdown and LaTeX; CSV keeps
    full precision.
    """

    columns: tuple[str, ...]
    rows: tuple[tuple, ...]
    caption: str
    digits: int = 3

    def _fmt(self, cell) -> str:
        if isinstance(cell, bool):
            return "yes" if cell else "no"
        if isinstance(cell, float):
            return "\u2014" if math.isnan(cell) else f"{cell:.{self.digits}f}"
        return str(cell)

    def to_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(self.columns)
        for row in self.rows:
            writer.writerow(["" if isinstance(c, float) and math.isnan(c) else c for c in row])
        return out.getvalue()

    def to_markdown(self) -> str:
        lines = [f"**{self.caption}**", "", "| " + " | ".join(self.columns) + " |",
                 "|" + "---|" * len(self.columns)]
        lines += ["| " + " | ".join(self._fmt(c) for c in row) + " |" for row in self.rows]
        return "\n".join(lines) + "\n"

    def to_latex(self) -> str:
        def esc(text: str) -> str:
            for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"),
                         ("#", r"\#"), ("$", r"\$"), ("\u2014", "--"), (">=", r"$\geq$"),
                         ("<=", r"$\leq$")):
                text = text.replace(a, b)
            return text

        lines = [r"\begin{table}[ht]", r"\centering", r"\small",
                 r"\begin{tabular}{" + "l" * len(self.columns) + "}", r"\hline",
                 " & ".join(esc(c) for c in self.columns) + r" \\", r"\hline"]
        lines += [" & ".join(esc(self._fmt(c)) for c in row) + r" \\" for row in self.rows]
        lines += [r"\hline", r"\end{tabular}", r"\caption{" + esc(self.caption) + "}",
                  r"\end{table}"]
        return "\n".join(lines) + "\n"


def write_table(table: Table, out: Output, item_id: str) -> list[Path]:
    """Writes ``tables/<id>.csv``, ``.md`` and ``.tex`` into ``out.folder``; returns the paths.

    The caption ends with ``out``'s preset (``Output.note``).
    """
    table = dataclasses.replace(table, caption=f"{table.caption} {out.note()}")
    csv_path, md_path, tex_path = artifacts.table_paths(out.folder, item_id)
    artifacts.write_text(csv_path, table.to_csv())
    artifacts.write_text(md_path, table.to_markdown())
    artifacts.write_text(tex_path, table.to_latex())
    return [csv_path, md_path, tex_path]
