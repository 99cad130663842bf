"""Stage times shipped with tfadv, so a fresh output folder gets predictions before it has timed anything.

A fresh folder has no stage times: ``--dry_run`` could not predict, and a
first run's time left would rest on its first few stages (a paper-scale run's
first attacks said 1 h 53 min left, its sixth 7 h 43 min). ``reference_times.json``
holds, per preset, the stage times of a finished serial run on the
development machine (``machine``; for ``paper``, the run in
``paper/reference``), written by ``benchmarks/stage_times.py --write_reference``.
They stand in for every stage a folder has not timed itself, scaled by this
machine's speed as it times stages they also time (``speed``, ``calibrated``).
A stage whose settings changed since has a new id and no shipped time; it is
estimated from alike stages as before (``predict.estimate``).
"""

from __future__ import annotations

import json
from pathlib import Path

from tfadv import artifacts

PATH = Path(__file__).with_name("reference_times.json")
PRIOR_S = 600.0  # seconds of agreement with the shipped run assumed before any stage is timed here (``speed``)
PRIOR_FRACTION = 0.1  # ... or this fraction of the shipped run's stage work, when that is less


def load(preset: str, path: Path | None = None) -> dict:
    """The shipped record of ``preset``: ``{"stages": {stage id: seconds}, "driver_s", "machine", "source"}``;
    an empty record (no stages) when none is shipped."""
    path = path or PATH
    shipped = json.loads(path.read_text()) if path.exists() else {}
    return shipped.get(preset) or {"stages": {}, "driver_s": None, "machine": None, "source": None}


def prior_seconds(reference: dict[str, float]) -> float:
    """How many seconds of agreement ``speed`` assumes before any stage is timed here: a tenth of the shipped
    run's stage work, at most ``PRIOR_S``."""
    return min(PRIOR_S, PRIOR_FRACTION * sum(reference.values()))


def speed(reference: dict[str, float], measured: dict[str, float],
          prior_s: float | None = None) -> tuple[float, int]:
    """``(factor, stages)``: this machine's time over the reference's on the stages both timed (1.0 when
    none); multiplying a shipped time by it predicts this machine's.

    Both sums start at ``prior_s`` seconds (default ``prior_seconds``), so the factor moves from 1 toward the
    measured ratio as stage work is timed here: one stage timed under unusual load, or a shipped time
    recorded under load, does not rescale the whole run (a paper-scale run's first training, 11 s here
    against 49 s shipped, alone would have put 4 h 47 min of work at 1 h 05 min).
    """
    common = [sid for sid in measured if sid in reference and reference[sid] > 0]
    if not common:
        return 1.0, 0
    prior = prior_seconds(reference) if prior_s is None else prior_s
    return ((sum(measured[s] for s in common) + prior) / (sum(reference[s] for s in common) + prior),
            len(common))


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
