"""python -m tfadv.frameworks.worker: the framework comparison's searches under one backend (internal).

Started by ``python -m tfadv.frameworks``, once per backend, with
``--backend`` and ``--output_dir=<run>/frameworks/<backend>``: copies the
run's saved models in (``--models_from``), runs paper A's searches of the
comparison (``plan.comparison_config``), cached and keyed like the
pipeline's, timing each one it computes, then writes the summary, the claim
verdicts and ``searches.json`` (every search, its numbers and its time).
With ``--models_only`` it makes sure the run's own folder has the models
(training what is missing, as ``reproduce`` would) and stops.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from absl import app
from absl import flags as absl_flags

from tfadv import flags

FLAGS = flags.FLAGS


def _define_flags() -> None:
    flags.define_run_flags()
    absl_flags.DEFINE_string("models_from", None, "The run's output folder whose models/ are attacked.")
    absl_flags.DEFINE_integer("rounds", 1, "Training rounds of paper A's nets to attack.", lower_bound=1)
    absl_flags.DEFINE_boolean("models_only", False, "Only make sure --output_dir has the models.")


def device_name() -> str:
    """What the active backend computes on, e.g. ``"cpu"`` or ``"gpu (NVIDIA H100)"``."""
    from tfadv.backends import active_backend

    name = active_backend()
    if name == "jax":
        import jax

        d = jax.devices()[0]
        return d.platform if d.platform == "cpu" else f"{d.platform} ({d.device_kind})"
    if name == "torch":
        import torch

        return f"cuda ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else "cpu"
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    return f"gpu ({len(gpus)})" if gpus else "cpu"


def copy_models(source: Path, target: Path, keys) -> None:
    """Copies each model's HDF5 file from ``source``'s run into ``target`` (unless already the same bytes)."""
    from tfadv import artifacts

    for key in keys:
        src, dst = artifacts.model_path(source, key), artifacts.model_path(target, key)
        if not src.exists():
            raise app.UsageError(f"{src} is missing; make the run's models first (python -m tfadv.frameworks "
                                 "does, before it starts the backends)")
        if dst.exists() and dst.read_bytes() == src.read_bytes():
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        with artifacts.atomic_path(dst) as tmp:
            shutil.copyfile(src, tmp)


def run_searches(ctx, cfg, record_path: Path) -> list[dict]:
    """Runs (or reuses) every search of ``cfg``'s main jobs; returns one record per search.

    A record's ``seconds`` is the wall time of the search when this folder
    computed it (kept from ``record_path`` when it is reused), None for a
    search that was on disk before any record of it. The record file is
    rewritten after each search computed, so an interrupted run keeps them.
    """
    from tfadv import artifacts
    from tfadv.papers.eyes.stages import jobs, run_search, search_path

    previous = {r["file"]: r for r in artifacts.read_json(record_path).get("searches", [])} \
        if record_path.exists() else {}
    todo = [job for job in jobs(cfg) if job.variant == "main"]
    report = ctx.progress_line(f"{FLAGS.backend} searches")
    records = []
    for n, job in enumerate(todo):
        if report:
            report(n, len(todo), f"{job.model.model} ({job.group}), round {job.model.seed}, digit {job.digit}")
        model, _ = ctx.models.get(job.model, gated=job.gated)
        if model is None:  # below its accuracy floor: not used, as in the pipeline
            continue
        path = search_path(ctx.output_dir, job, ctx.models.fingerprint(job.model))
        fresh = ctx.stale(path) or not path.exists()
        start = time.perf_counter()
        result = run_search(ctx, job)
        seconds = time.perf_counter() - start
        name = str(path.relative_to(ctx.output_dir))
        records.append({
            "group": job.group, "net": job.net, "round": job.model.seed, "digit": job.digit,
            "model": job.model.model, "config": job.model.config, "file": name,
            "seconds": seconds if fresh else previous.get(name, {}).get("seconds"),
            "example_steps": int(result.attempt_steps.sum()), "attempts": result.attempts,
            "found": len(result.successes),
            # The machine's 1-minute load average as the search ended: speed means little on a busy machine.
            "load": os.getloadavg()[0] if fresh else previous.get(name, {}).get("load")})
        if fresh:
            previous[name] = records[-1]
            artifacts.write_json(record_path, {"searches": list(previous.values())})
    if report:
        report(len(todo), len(todo), "searches done")
        report.close()
    return records


def _main(argv) -> None:
    flags.no_arguments(argv)
    flags.set_up()
    from tfadv import artifacts
    from tfadv.frameworks.plan import CLAIMS, RECORD, SUMMARY, comparison_config
    from tfadv.papers.eyes.claims import claims
    from tfadv.papers.eyes.stages import models_needed, summarize
    from tfadv.provenance import package_versions

    ctx = flags.run_context(paper_ids=["eyes"])
    try:
        cfg = comparison_config(ctx.preset.eyes, FLAGS.rounds)
    except ValueError as e:
        raise app.UsageError(str(e)) from None
    keys = models_needed(cfg)
    if FLAGS.models_only:
        for key in keys:
            ctx.models.get(key, gated=False)
        return
    stages = {}
    start = time.perf_counter()
    copy_models(Path(FLAGS.models_from), ctx.output_dir, keys)
    for key in keys:
        ctx.models.get(key, gated=False)
    stages["models"] = time.perf_counter() - start
    record_path = ctx.output_dir / RECORD
    records = run_searches(ctx, cfg, record_path)
    stages["searches"] = sum(r["seconds"] or 0.0 for r in records)
    start = time.perf_counter()
    summary = summarize(cfg, ctx)  # every search is on disk now
    summary.save(ctx.output_dir / SUMMARY)
    artifacts.write_json(ctx.output_dir / CLAIMS, {"claims": [c.to_dict() for c in claims(summary)]})
    stages["summary and claims"] = time.perf_counter() - start
    device = device_name()
    artifacts.write_json(record_path, {
        "backend": FLAGS.backend, "device": device, "versions": package_versions(),
        "preset": ctx.preset.name, "rounds": FLAGS.rounds, "stages_s": stages, "searches": records})
    print(f"{FLAGS.backend}: {len(records)} searches on {device}; "
          f"{', '.join(f'{k} {v:.0f} s' for k, v in stages.items())}", flush=True)


def main() -> None:
    flags.before_frameworks_load()
    _define_flags()
    flags.run(_main, "tfadv.frameworks.worker")


if __name__ == "__main__":
    main()
