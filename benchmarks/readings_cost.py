"""What the readings of PROTOCOL.md section 8 add to a run's time, from the stage times of an output folder.

Command (from the repository root; the folder of a paper-scale run, finished or not)::

    python benchmarks/readings_cost.py --output_dir=results --preset=paper [--sample=20]

Runtime: seconds without ``--sample``; with it, twice the recorded time of the
sampled stages (each is run again, alone and with the readings' stop rules).

The run's stages (``tfadv.execution.graph``) are compared with those of the
same preset with every paper's readings turned off. A stage of the full graph
is

- the protocol's: the same stage is in both graphs;
- the readings' own: only in the full graph (the ``classic`` nets' training
  and attacks, paper B's test-image starts, ...);
- shared: a search family of paper A that is in both graphs but also carries
  the readings' stop rules (confidence, fixed budget) in its one attack pass,
  so it costs more than the protocol's search alone.

Each stage's time is the folder's record (``stage_times.jsonl``,
``manifest.json``), else estimated from alike stages (``tfadv.execution.predict``).
The shared stages' extra cost needs a measurement: ``--sample=N`` runs N
shared families with recorded times of each net (architecture and training
configuration: the readings' rules cost a trained net's quick searches and an
untrained control's hopeless ones very differently), each as the protocol's
search alone and with the readings' rules, in a temporary folder on the same
model files; each net's shared stages take the ratio of its sample's summed
times. Each run pays
its engine's compilation (a second or two; small against a paper-scale
family, most of a quick one's). The figures go to
``<output_dir>/benchmarks/readings_cost.json``. Run it on a quiet machine:
the sample's times are only comparable when nothing else shares the cores.
"""

import dataclasses
import json
import os
import random
import re
import tempfile
import time
from pathlib import Path

from absl import app, flags

from tfadv.flags import before_frameworks_load, define_run_flags, no_arguments, set_up
from tfadv.flags import run as run_entry_point

PROGRAM = "readings_cost.py"
DIGEST = re.compile(r"__[0-9a-f]{12}$")  # the settings hash that ends a paper A unit's name

FLAGS = flags.FLAGS


def define_flags() -> None:
    """The command's flags (defined when it runs, so tests can import its functions)."""
    define_run_flags()  # --output_dir (the run's folder: its stage times are read), --preset, the data flags
    flags.DEFINE_integer("sample", 0, "Shared paper A families of each net to run again, alone and with the "
                         "readings' stop rules (0: none, and the shared stages' extra cost is not estimated).",
                         lower_bound=0)
    flags.DEFINE_integer("seed", 0, "Seed of the sample's choice.")


def without_readings(paper):
    """The paper with its configuration's ``readings`` turned off (its stages are then the protocol's alone)."""
    return dataclasses.replace(paper, config=lambda preset, own=paper.config: dataclasses.replace(
        own(preset), readings=False))


def classify(stages, protocol) -> dict[str, str]:
    """Stage id -> ``"protocol"``, ``"readings"`` or ``"shared"`` (module docstring), for the stages of a
    full graph against the stages ``protocol`` of the same preset without readings."""
    ids = {s.id for s in protocol}
    families = {DIGEST.sub("", s.id) for s in protocol if s.kind == "attack" and s.paper == "eyes"}
    out = {}
    for s in stages:
        if s.id in ids:
            out[s.id] = "protocol"
        elif s.kind == "attack" and s.paper == "eyes" and DIGEST.sub("", s.id) in families:
            out[s.id] = "shared"
        else:
            out[s.id] = "readings"
    return out


def net(stage) -> tuple[str, str]:
    """The group a shared stage's extra cost is measured in: its architecture and training configuration."""
    return stage.model.model, stage.model.config


def share(kinds: dict[str, str], cost: dict[str, float], times: dict[str, float],
          extra: dict[str, float] | None) -> dict:
    """Work per kind of stage, and the readings' part: their own stages plus, for each shared stage, the
    fraction ``extra[stage id]`` of its time that its readings' rules cost (None when not measured)."""
    out = {}
    for kind in ("protocol", "shared", "readings"):
        ids = [sid for sid, k in kinds.items() if k == kind]
        out[kind] = {"stages": len(ids), "recorded": sum(sid in times for sid in ids),
                     "work_s": sum(cost[sid] for sid in ids)}
    if extra is not None:
        shared = [sid for sid, k in kinds.items() if k == "shared"]
        added_shared = sum(extra[sid] * cost[sid] for sid in shared)
        added = out["readings"]["work_s"] + added_shared
        base = out["protocol"]["work_s"] + out["shared"]["work_s"] - added_shared
        out["readings_added_s"], out["protocol_alone_s"] = added, base
        out["readings_added_fraction"] = added / base if base else None
    return out


def sample_ratio(stages, protocol, kinds, times, n: int, seed: int) -> tuple[dict[str, float], list[dict]]:
    """Runs ``n`` shared families of each net (``net``) with recorded times again, alone (the protocol's) and
    with the readings' rules; returns, per shared stage id, the fraction of its time the readings' rules
    cost (its net's sample's, else the whole sample's), and each pair."""
    from tfadv.config import get_preset
    from tfadv.context import RunContext
    from tfadv.execution.graph import run_stage
    from tfadv.flags import data_source

    by_family = {DIGEST.sub("", s.id): s for s in protocol if s.kind == "attack"}
    full = {s.id: s for s in stages}
    shared = sorted(s.id for s in stages if kinds[s.id] == "shared")
    groups = sorted({net(full[sid]) for sid in shared})
    rng, chosen = random.Random(seed), []
    for g in groups:
        timed = [sid for sid in shared if net(full[sid]) == g and sid in times]
        chosen += rng.sample(timed, min(n, len(timed)))
    preset, source = get_preset(FLAGS.preset), data_source()
    pairs = []
    with tempfile.TemporaryDirectory(prefix="readings_cost-") as folder:
        for n, sid in enumerate(chosen):
            seconds = {}
            both = [("protocol", by_family[DIGEST.sub("", sid)]), ("with readings", full[sid])]
            for name, stage in both[::-1] if n % 2 else both:  # alternate which pays a first run's costs
                ctx = RunContext(Path(folder) / name.replace(" ", "_"), preset, source, progress=False)
                link = ctx.output_dir / "models" / stage.model.filename
                if not link.exists():  # the run's own model, not one trained again
                    link.parent.mkdir(exist_ok=True)
                    link.symlink_to((Path(FLAGS.output_dir) / "models" / stage.model.filename).resolve())
                start = time.perf_counter()
                run_stage(stage, ctx)
                seconds[name] = time.perf_counter() - start
            pairs.append({"stage": sid, "net": "/".join(net(full[sid])), "recorded_s": times[sid], **seconds})
            print(f"  {sid}: alone {seconds['protocol']:.1f} s, with the readings' rules "
                  f"{seconds['with readings']:.1f} s (recorded {times[sid]:.1f} s)", flush=True)
    return per_stage_extra(pairs, {sid: "/".join(net(full[sid])) for sid in shared}), pairs


def fraction(pairs: list[dict]) -> float:
    """The fraction of the pairs' summed time with the readings that the readings' rules cost (0 without pairs)."""
    both = sum(p["with readings"] for p in pairs)
    return 1 - sum(p["protocol"] for p in pairs) / both if both else 0.0


def per_stage_extra(pairs: list[dict], net_of: dict[str, str]) -> dict[str, float]:
    """Shared stage id -> the fraction of its time the readings' rules cost: ``fraction`` of its net's pairs,
    else of every pair."""
    overall = fraction(pairs)
    by_net = {n: fraction([p for p in pairs if p["net"] == n]) for n in {p["net"] for p in pairs}}
    return {sid: by_net.get(n, overall) for sid, n in net_of.items()}


def main(argv):
    from tfadv import artifacts, registry
    from tfadv.config import get_preset
    from tfadv.execution import driver, graph, predict
    from tfadv.progress import format_seconds

    no_arguments(argv)
    set_up()
    preset = get_preset(FLAGS.preset)
    stages = graph.build(list(registry.PAPERS), preset)
    protocol = graph.build([without_readings(p) for p in registry.PAPERS], preset)
    times, *_ = driver.recorded_times(stages, FLAGS.output_dir, preset.name)
    if not times:
        raise app.UsageError(f"--output_dir={FLAGS.output_dir}: no stage times of preset {preset.name} there; "
                             "point it at the output folder of a run (finished or not)")
    cost, _ = predict.estimate(stages, times)
    unknown = [s.id for s in stages if s.id not in cost]
    if unknown:
        raise app.UsageError(f"{len(unknown)} stages have nothing alike timed in {FLAGS.output_dir} (e.g. "
                             f"{unknown[0]}); run longer, then measure again")
    kinds = classify(stages, protocol)
    extra, pairs = (None, [])
    if FLAGS.sample:
        print(f"Running {FLAGS.sample} shared paper A families of each net again (alone, then with the readings' "
              "rules):")
        extra, pairs = sample_ratio(stages, protocol, kinds, times, FLAGS.sample, FLAGS.seed)
    result = share(kinds, cost, times, extra)
    print(f"Stages of preset {preset.name} in {FLAGS.output_dir} ({len(times)} of {len(stages)} timed there, "
          "the rest estimated from alike stages); 1-min load average now "
          f"{os.getloadavg()[0]:.2f}:")
    for kind, label in (("protocol", "the protocol's"), ("shared", "shared (paper A searches that also run the "
                                                                    "readings' stop rules)"),
                        ("readings", "the readings' own")):
        r = result[kind]
        print(f"  {label}: {r['stages']} stages ({r['recorded']} timed), work {format_seconds(r['work_s'])}")
    trains = [s.id for s in stages if kinds[s.id] == "readings" and s.kind == "train"]
    print(f"  of the readings' own, training: {len(trains)} models, {format_seconds(sum(cost[t] for t in trains))}")
    if extra is None:
        print("The shared stages' extra cost is not measured (--sample=N measures it).")
    else:
        for name in sorted({p["net"] for p in pairs}):
            ps = [p for p in pairs if p["net"] == name]
            print(f"  the readings' rules cost {fraction(ps):.0%} of a shared {name} "
                  f"family's time (sample of {len(ps)})")
        print(f"The readings add {format_seconds(result['readings_added_s'])} to the protocol's "
              f"{format_seconds(result['protocol_alone_s'])}: {result['readings_added_fraction']:.0%} (target: at "
              "most 50%, issue 12; reported, never tuned for).")
    path = Path(FLAGS.output_dir) / "benchmarks" / "readings_cost.json"
    artifacts.write_text(path, json.dumps({"preset": preset.name, "timed": len(times), "stages": len(stages),
                                           **result, "sample": pairs}, indent=2))
    print(f"Wrote {path}")


if __name__ == "__main__":
    before_frameworks_load()
    define_flags()
    run_entry_point(main, PROGRAM)
