"""Where a run's time goes: its stage times summed by kind, paper, architecture and training configuration.

Command (from the repository root; the folder of a run, finished or not)::

    python benchmarks/stage_times.py --output_dir=results --preset=paper [--write_reference]

Runtime: seconds (it reads the folder's ``manifest.json``, ``stage_times.jsonl``
and model files; nothing runs). A stage's time is the folder's record, else
an estimate from alike stages (``tfadv.execution.predict``), marked so in the
``timed`` column. ``--write_reference`` replaces the preset's entry of
``tfadv/execution/reference_times.json``, the stage times shipped with tfadv
that a fresh folder's ``--dry_run`` and progress line start from: only
recorded times are written, and only from a folder where every stage of the
graph is timed (a finished run), with the machine it ran on (``--machine``).
"""

import collections
import os
import platform

from absl import app, flags

from tfadv.flags import before_frameworks_load, define_run_flags, no_arguments, set_up
from tfadv.flags import run as run_entry_point

PROGRAM = "stage_times.py"

FLAGS = flags.FLAGS


def define_flags() -> None:
    """The command's flags (defined when it runs, so tests can import its functions)."""
    define_run_flags()  # --output_dir (the run's folder), --preset, the data flags
    flags.DEFINE_boolean("write_reference", False, "Write the folder's stage times into tfadv's shipped "
                         "reference times for --preset (tfadv/execution/reference_times.json).")
    flags.DEFINE_string("machine", f"{os.cpu_count()} CPU cores, {platform.machine()}, no GPU",
                        "The machine the folder's run ran on, as the shipped times will describe it.")
    flags.DEFINE_string("source", None, "Where the shipped times come from, in words (default: --output_dir).")


def breakdown(stages, cost: dict[str, float], times: dict[str, float]) -> list[tuple]:
    """Rows ``(kind, paper, model, config, stages, timed, seconds)``, most expensive first."""
    groups = collections.defaultdict(lambda: [0, 0, 0.0])
    for s in stages:
        g = groups[(s.kind, s.paper, s.model.model, s.model.config)]
        g[0] += 1
        g[1] += s.id in times
        g[2] += cost.get(s.id, 0.0)
    return sorted(((*k, *v) for k, v in groups.items()), key=lambda row: -row[-1])


def main(argv):
    from tfadv import registry
    from tfadv.config import get_preset
    from tfadv.execution import driver, graph, predict, reference_times
    from tfadv.progress import format_seconds

    no_arguments(argv)
    set_up()
    preset = get_preset(FLAGS.preset)
    stages = graph.build(list(registry.PAPERS), preset)
    times, runs, *_ = driver.recorded_times(stages, FLAGS.output_dir, preset.name)
    if not times:
        raise app.UsageError(f"--output_dir={FLAGS.output_dir}: no stage times of preset {preset.name} there; "
                             "point it at the output folder of a run (finished or not)")
    cost, _ = predict.estimate(stages, times)
    print(f"Stages of preset {preset.name} in {FLAGS.output_dir}: {len(times)} of {len(stages)} timed there, "
          f"{len(cost) - len(times)} estimated from alike stages, {len(stages) - len(cost)} unknown.")
    print(f"  {'kind':<6} {'paper':<5} {'model':<22} {'config':<20} {'stages':>6} {'timed':>5} {'work':>8}")
    for kind, paper, model, config, n, timed, seconds in breakdown(stages, cost, times):
        print(f"  {kind:<6} {paper:<5} {model:<22} {config:<20} {n:>6} {timed:>5} {format_seconds(seconds):>8}")
    print(f"  total work {format_seconds(sum(cost.values()))}")
    if not FLAGS.write_reference:
        return
    missing = [s.id for s in stages if s.id not in times]
    if missing:
        raise app.UsageError(f"--write_reference needs every stage timed; {len(missing)} are not (e.g. "
                             f"{missing[0]}): finish the run first")
    driver_s = next((r["driver_s"] for r in reversed(runs) if r.get("driver_s") is not None), None)
    ids = {s.id for s in stages}
    entry = reference_times.record({sid: t for sid, t in times.items() if sid in ids}, driver_s, FLAGS.machine,
                                   FLAGS.source or str(FLAGS.output_dir))
    reference_times.write(preset.name, entry)
    print(f"Wrote {len(entry['stages'])} stage times of preset {preset.name} to {reference_times.PATH}")


if __name__ == "__main__":
    before_frameworks_load()
    define_flags()
    run_entry_point(main, PROGRAM)
