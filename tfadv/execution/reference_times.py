"""Stage times shipped with tfadv, so a fresh output folder gets predictions before it has timed anything.

A fresh folder has no stage times: ``--dry_run`` could not predict, and a
first run's time left would rest on its first few stages (a paper-scale run's
first attacks said 1 h 53 min left, its sixth 7 h 43 min). ``reference_times.json``
holds, per preset, the stage times of a finished serial run on the
development machine (``machine``; for ``paper``, the run in
``paper/reference``), written by ``benchmarks/stage_times.py --write_reference``.
They stand in for every stage a folder has not timed itself, scaled by this
machine's speed once it has timed stages they also time (``calibrated``).
A stage whose settings changed since has a new id and no shipped time; it is
estimated from alike stages as before (``predict.estimate``).
"""

from __future__ import annotations

import json
from pathlib import Path

from tfadv import artifacts

PATH = Path(__file__).with_name("reference_times.json")


def load(preset: str, path: Path | None = None) -> dict:
    """The shipped record of ``preset``: ``{"stages": {stage id: seconds}, "driver_s", "machine", "source"}``;
    an empty record (no stages) when none is shipped."""
    path = path or PATH
    shipped = json.loads(path.read_text()) if path.exists() else {}
    return shipped.get(preset) or {"stages": {}, "driver_s": None, "machine": None, "source": None}


def speed(reference: dict[str, float], measured: dict[str, float]) -> tuple[float, int]:
    """``(factor, stages)``: this machine's time over the reference's, summed over the stages both timed
    (1.0 when none); multiplying a shipped time by it predicts this machine's."""
    common = [sid for sid in measured if sid in reference and reference[sid] > 0]
    if not common:
        return 1.0, 0
    return sum(measured[s] for s in common) / sum(reference[s] for s in common), len(common)


def calibrated(reference: dict[str, float], measured: dict[str, float]) -> dict[str, float]:
    """Stage id -> seconds: the ``measured`` times, and the ``reference`` times of every other stage
    scaled by ``speed``."""
    factor, _ = speed(reference, measured)
    return {**{sid: s * factor for sid, s in reference.items()}, **measured}


def record(times: dict[str, float], driver_s: float | None, machine: str, source: str) -> dict:
    """One preset's entry of ``reference_times.json`` (times rounded to 0.1 s, sorted by stage id)."""
    return {"machine": machine, "source": source, "driver_s": None if driver_s is None else round(driver_s, 1),
            "stages": {sid: round(times[sid], 1) for sid in sorted(times)}}


def write(preset: str, entry: dict, path: Path | None = None) -> None:
    """Replaces ``preset``'s entry of the shipped file (the other presets' are kept)."""
    path = path or PATH
    shipped = json.loads(path.read_text()) if path.exists() else {}
    shipped[preset] = entry
    artifacts.write_text(path, json.dumps(shipped, indent=1, sort_keys=True) + "\n")
