"""Paper B's readings of the settings it leaves open (PROTOCOL.md section 8).

Each reading is a whole ``DoughConfig`` changing one setting from the
protocol: the "controlled inputs" read as real test images of the other
classes (B6: training images), and starts the model already gives the class
left out. Their evolutions, patterns and summaries are made like the primary
ones and every claim is judged on each. The rule readings (B2 over all
variants, B4 by columns) live with the rules in ``claims``.
"""

from __future__ import annotations

import dataclasses

from tfadv.config import DoughConfig
from tfadv.paper import SettingReading

STARTS = "B starts"
ZERO_STEP = "zero-step successes"


def setting_readings(cfg: DoughConfig) -> list[SettingReading]:
    """The readings of paper B's settings under ``cfg`` (none when ``cfg.readings`` is off)."""
    if not cfg.readings:
        return []
    base = dataclasses.replace(cfg, readings=False)
    n_bank = cfg.n_noise + len(cfg.constants)
    return [
        SettingReading("starts: test images",
                       {STARTS: f"{n_bank} real test images per dataset, each evolved into every other class "
                                "(B5: further test images; B6: training images)"},
                       dataclasses.replace(base, starts="test_images")),
        SettingReading("zero-step excluded",
                       {ZERO_STEP: "excluded: a start the model already labels as the class is no attempt"},
                       dataclasses.replace(base, zero_step="excluded")),
    ]
