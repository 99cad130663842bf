"""Where a figure or table goes, and the preset that made it (so every item can say so).

``Pipeline.make`` hands each item an ``Output``; ``figures.save_figure`` puts
its ``note`` in the figure's footer and ``tables.write_table`` in the table's
caption, so an item of a smoke-size run never looks like a paper-scale one.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

PAPER_SCALE = "paper"  # the one preset whose numbers speak to the papers (tfadv.config.PRESETS)


def is_smoke(preset: str) -> bool:
    """Whether ``preset`` is a smoke-size run (every preset but ``paper``)."""
    return preset != PAPER_SCALE


@dataclasses.dataclass(frozen=True)
class Output:
    """An item's destination.

    Attributes:
      folder: the run's output folder (figures go to ``figures/``, tables to
        ``tables/``).
      preset: the name of the preset whose run draws the item.
      reading: for an item drawn under a setting reading (PROTOCOL.md
        section 8), the reading and what it changes.
      pdf: also write each figure as PDF (the paper's items); a reading's
        figures are PNG only, to be looked at beside the primary ones.
    """

    folder: Path
    preset: str
    reading: str = ""
    pdf: bool = True

    def note(self) -> str:
        """One sentence naming the preset (and the reading, for a reading's item); for a smoke-size
        preset, saying what that means."""
        reading = f" Reading: {self.reading}." if self.reading else ""
        if not is_smoke(self.preset):
            return f"Preset {self.preset}.{reading}"
        return (f"Preset {self.preset}: a smoke-size run whose numbers say nothing about the papers "
                f"(preset {PAPER_SCALE} is the paper-scale run).{reading}")
