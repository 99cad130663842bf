"""What ``python -m tfadv.reproduce`` does with the stage graph: run it (``execute``) or describe it (``dry_run``)."""

from __future__ import annotations

import dataclasses
import datetime
import time
from pathlib import Path

from tfadv import artifacts
from tfadv.context import RunContext
from tfadv.execution import graph, journal, predict, reference_times
from tfadv.execution.eta import StageEta
from tfadv.paper import Paper
from tfadv.progress import format_seconds

EXECUTORS = ("serial", "ray")


def execute(ctx: RunContext, papers: list[Paper], executor: str = "serial", *, ray_address: str | None = None,
            verbose: bool = False, started: str = "") -> tuple[RunContext, dict]:
    """Runs every train and attack stage of ``papers`` on ``executor``.

    Returns the run context the driver goes on with (the summaries, figures
    and claims find every stage's files cached), and the run's record for the
    manifest: ``executor``, ``stages`` (each stage's record by id), the time
    the stages took (``stages_wall_s``) and, under Ray, its start-up
    (``ray_startup_s``, None when Ray was already running in this process).
    Each stage's record is also appended to ``stage_times.jsonl`` as it
    finishes (``journal``), so an interrupted run keeps its stage times.
    """
    stages = graph.build(papers, ctx.preset)
    record: dict = {"executor": executor, "preset": ctx.preset.name}
    run = started or datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    log = journal.Journal(ctx.output_dir, run=run, preset=ctx.preset.name, executor=executor).append
    times = recorded_times(stages, ctx.output_dir, ctx.preset.name)[0]
    eta = StageEta(stages, times, cached=set() if ctx.force else set(times),
                   reference=reference_times.load(ctx.preset.name)["stages"])
    begin = time.perf_counter()
    if executor == "serial":
        from tfadv.execution import serial

        record["stages"] = serial.run(stages, ctx, log, eta)
    elif executor == "ray":
        from tfadv.backends import active_backend
        from tfadv.execution import ray_executor

        record["ray_startup_s"] = ray_executor.start(ray_address, verbose=verbose)
        eta.workers = ray_executor.workers()
        settings = ray_executor.WorkerSettings(str(Path(ctx.output_dir).resolve()), ctx.preset, ctx.source,
                                               ctx.force, active_backend(), started)
        try:
            record["stages"] = ray_executor.run(stages, settings, ctx.progress_line("stages on Ray", eta), log, eta)
        finally:
            if record["ray_startup_s"] is not None:
                ray_executor.stop()
        # The workers trained and attacked (again, with force); what follows is keyed by their models' files.
        ctx = dataclasses.replace(ctx, force=False) if ctx.force else ctx
    else:
        raise ValueError(f"unknown executor {executor!r}; choose one of {', '.join(EXECUTORS)}")
    record["stages_wall_s"] = round(time.perf_counter() - begin, 3)
    return ctx, record


def model_file_times(stages: list[graph.Stage], output_dir) -> dict[str, float]:
    """Train stages' times from their model files (the training wall time each file records), where present."""
    from tfadv.training import ModelFileError, read_metadata

    out = {}
    for s in stages:
        path = artifacts.model_path(output_dir, s.model)
        if s.kind == "train" and path.exists():
            try:
                out[s.id] = float(read_metadata(path)["wall_time_s"])
            except (ModelFileError, KeyError, TypeError, ValueError):
                pass
    return out


def recorded_runs(output_dir, preset: str) -> tuple[list[dict], list[dict]]:
    """``(runs, journal_only)``: the runs at ``preset`` with stage records, oldest first, and those of them
    that only the journal has (interrupted before writing the manifest; a finished run is in both)."""
    path = Path(output_dir) / "manifest.json"
    manifest = artifacts.read_json(path) if path.exists() else {}
    finished = [r for r in manifest.get("runs", []) if r.get("preset") == preset]
    started = {r.get("started") for r in finished}
    journal_only = [r for r in journal.runs(output_dir, preset) if r["run"] not in started]
    return sorted(finished + journal_only, key=lambda r: r.get("started") or r.get("run") or ""), journal_only


def recorded_times(stages: list[graph.Stage], output_dir, preset: str) -> tuple[dict[str, float], list, list, dict]:
    """The stage times an output folder records: ``(stage id -> seconds, runs, journal-only runs, train
    times from model files)``; a run's record wins over a model file's (``recorded_runs``,
    ``model_file_times``)."""
    runs, journal_runs = recorded_runs(output_dir, preset)
    from_files = model_file_times(stages, output_dir)
    times, _ = predict.recorded({"runs": runs})
    for sid, seconds in from_files.items():
        times.setdefault(sid, seconds)
    return times, runs, journal_runs, from_files


def source(manifest_path: Path, runs: list, journal_runs: list) -> str:
    """Where ``--dry_run``'s recorded stage times come from, in words."""
    if not runs:
        return "no run at this preset in manifest.json or stage_times.jsonl"
    if not journal_runs:
        return str(manifest_path)
    return f"{manifest_path} and {manifest_path.parent / journal.NAME}"


def recorders(runs: list[dict]) -> str:
    """The executors and worker counts of the runs that recorded stage times, e.g. "serial, 1 worker"."""
    seen = []
    for run in runs:
        workers = {r.get("worker") for r in run.get("stages", {}).values() if r.get("ran")}
        if workers:
            n = len(workers)
            described = f"{run.get('executor') or 'unknown executor'}, {n} worker{'s' if n > 1 else ''}"
            if described not in seen:
                seen.append(described)
    return "; ".join(seen) or "model files only"


def dry_run(papers: list[Paper], preset, output_dir) -> list[str]:
    """``--dry_run``: the stage graph and its predicted wall time on 1 to 128 workers; runs nothing.

    Stage times come from the runs at this preset in ``output_dir/manifest.json``
    and, for runs that were interrupted, ``stage_times.jsonl``; else, for train
    stages, from the model files' recorded training time; else from the
    reference run shipped with tfadv, scaled by this machine's speed
    (``reference_times``); the rest are estimated (``tfadv.execution.predict``).
    """
    stages = graph.build(papers, preset)
    path = Path(output_dir) / "manifest.json"
    times, runs, journal_runs, from_files = recorded_times(stages, output_dir, preset.name)
    shipped = reference_times.load(preset.name)
    factor, common = reference_times.speed(shipped["stages"], times)
    merged = reference_times.calibrated(shipped["stages"], times)
    ids = {s.id for s in stages}
    from_reference = len([sid for sid in merged if sid in ids and sid not in times])
    fallback = [] if shipped["driver_s"] is None else [{"driver_s": shipped["driver_s"] * factor}]  # runs' win
    manifest = {"runs": fallback + runs + [{"stages": {sid: {"s": s, "ran": True} for sid, s in merged.items()}}]}
    p = predict.predictions(stages, manifest, done=set(times))
    described = graph.describe(stages)
    lines = [f"Stage graph of preset {preset.name} ({', '.join(x.id for x in papers)}), {described[0]}"] + described[1:]
    here = p["recorded"] - from_reference
    shipped_part = (f"{from_reference} from the reference run shipped with tfadv"
                    f"{scaling(shipped, factor, common, from_reference)}" if shipped["stages"] else
                    f"none shipped with tfadv for preset {preset.name}")
    lines.append(f"Stage times: {here} recorded here ({source(path, runs, journal_runs)}"
                 f"{'; model files' if from_files else ''}), {shipped_part}, {p['estimated']} estimated from alike "
                 f"stages (same kind, paper, architecture, configuration), {p['unknown']} unknown.")
    if p["unknown"]:
        lines.append("No prediction: some stage kinds have no recorded time here. Run once (any executor, any "
                     "part of it) with this --output_dir, then --dry_run again.")
        return lines
    driver = p["driver_s"]
    lines.append(f"Work {format_seconds(p['work_s'])}, critical path {format_seconds(p['critical_path_s'])}; "
                 f"driver after the stages {format_seconds(driver) if driver is not None else 'not recorded (0)'}.")
    made = len([s for s in stages if s.id in times])
    lines.append(f"Already made in {output_dir}: {made} of {len(stages)} stages; the work left there "
                 f"{format_seconds(p['left_work_s'])}.")
    lines.append("Predicted wall time (list scheduling, longest remaining chain first; + driver; Ray's start-up "
                 "not included), of a whole run and of resuming this one:")
    lines.append(f"  {'workers':>7}  {'predicted':>9}  {'lower bound':>11}  {'resuming':>9}")
    for n, predicted, bound, left in p["rows"]:
        lines.append(f"  {n:>7}  {format_seconds(predicted):>9}  {format_seconds(bound):>11}  "
                     f"{format_seconds(left):>9}")
    recorded_by = recorders(runs) if here else ""
    if from_reference:
        recorded_by = "; ".join(x for x in (recorded_by, "the shipped reference run: serial, 1 worker") if x)
    lines.append(f"Each worker is taken to run a stage as fast as the runs that recorded it ({recorded_by}). "
                 "Workers that share one machine's cores run slower, so there the prediction for more workers "
                 "than those runs had is optimistic.")
    return lines


def scaling(shipped: dict, factor: float, common: int, used: int) -> str:
    """How the shipped reference times were scaled to this machine, in words ("" when none was used)."""
    if not used:
        return ""
    where = f" ({shipped['machine']})" if shipped.get("machine") else ""
    if not common:
        return f"{where}, as recorded (nothing timed here to scale them by)"
    stages = f"{common} stage{'s' if common > 1 else ''}"
    prior = format_seconds(reference_times.prior_seconds(shipped["stages"]))
    return (f"{where}, scaled by {factor:.2f} (this machine's time over theirs on {stages} timed in both, "
            f"each sum starting at {prior} so a few stages do not rescale the whole run)")
