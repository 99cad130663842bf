"""``stage_times.jsonl``: each stage's record, appended the moment it finishes.

``manifest.json`` gets a run's stage records only when the run ends, so a run
that is interrupted (a session that runs out, a killed driver) would lose the
times of every stage it finished. The journal keeps them: the driver (the one
process that writes it, under either executor) appends one JSON line per
stage that computed something, flushed to disk (a stage that only found its
files cached says nothing of its cost, so a rerun of a filled folder writes
nothing). Each line also says when the stage ended and the machine's
1-minute load average then (``ended``, ``load1``): a stage timed while other
jobs shared the cores took longer than it would alone. ``--dry_run`` reads it
beside the manifest. A line cut short by a kill is skipped when read.
"""

from __future__ import annotations

import datetime
import json
import os
from pathlib import Path

NAME = "stage_times.jsonl"


class Journal:
    """Appends the stage records of one run (``run``: its start time) to ``<output_dir>/stage_times.jsonl``."""

    def __init__(self, output_dir, *, run: str, preset: str, executor: str):
        self.path = Path(output_dir) / NAME
        self.common = {"run": run, "preset": preset, "executor": executor}

    def append(self, stage_id: str, record: dict) -> None:
        if not record.get("ran"):
            return
        ended = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        line = json.dumps({**self.common, "stage": stage_id, **record, "ended": ended,
                           "load1": round(os.getloadavg()[0], 2)}, sort_keys=True)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())


def runs(output_dir, preset: str) -> list[dict]:
    """The journal's records at ``preset`` as manifest-like runs (``{"run", "executor", "stages"}``), oldest
    first."""
    path = Path(output_dir) / NAME
    if not path.exists():
        return []
    by_run: dict[str, dict] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                entry = json.loads(line)
                sid, run = entry["stage"], entry["run"]
            except (json.JSONDecodeError, KeyError, TypeError):
                continue  # a line cut short by a kill
            if entry.get("preset") != preset:
                continue
            record = {k: entry[k] for k in ("s", "worker", "ran") if k in entry}
            found = by_run.setdefault(run, {"run": run, "executor": entry.get("executor"), "stages": {}})
            found["stages"][sid] = record
    return list(by_run.values())
