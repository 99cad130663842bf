"""The Ray executor (``--executor=ray``): every stage as a Ray task, on a local Ray or an existing cluster.

Each stage is one task (``worker.run_task``) that receives its dependencies'
results as arguments, so Ray starts an attack only after its model's train
stage. A task builds its own run context from ``WorkerSettings``, writes its
files atomically into the output folder (which on a cluster must be storage
every node sees), and returns its record (time, worker, whether it computed
anything). Tasks are retried (``max_retries``) when their worker dies; a
retried stage finds what its first attempt finished and remakes the rest.
Attack stages ask for a GPU (``num_gpus=1``) when the cluster has any. Ray
itself is imported only here, and only when a run asks for it.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import time

from tfadv.execution.graph import Stage
from tfadv.execution.worker import WorkerSettings, run_task

MAX_RETRIES = 3  # reruns of a stage whose worker process died (a killed worker, a lost node)
# Passed on to the workers: the backend and its determinism switches (tfadv.backends.select_backend), quiet
# TensorFlow, and where the data is.
FORWARDED_ENV = ("KERAS_BACKEND", "XLA_FLAGS", "CUBLAS_WORKSPACE_CONFIG", "OMP_WAIT_POLICY", "TF_CPP_MIN_LOG_LEVEL",
                 "TFADV_DATA_DIR")


class RayMissingError(RuntimeError):
    """``--executor=ray`` without Ray installed."""


def check_installed() -> None:
    """Raises ``RayMissingError`` (saying how to install it) when Ray is not installed."""
    if importlib.util.find_spec("ray") is None:
        raise RayMissingError("--executor=ray needs Ray, which is not installed; install it with "
                              "pip install '.[ray]' (from a tfadv checkout), or use --executor=serial.")


def start(address: str | None = None, workers: int | None = None, verbose: bool = False) -> float | None:
    """Connects to the Ray cluster at ``address``, else starts a local Ray with ``workers`` CPUs (default: all).

    Returns the seconds it took, or None when Ray was already running in this
    process (then that Ray is used as it is).
    """
    check_installed()
    import ray

    if ray.is_initialized():
        return None
    begin = time.perf_counter()
    options = dict(log_to_driver=verbose, logging_level=logging.INFO if verbose else logging.ERROR)
    if address:
        ray.init(address=address, **options)
    else:
        ray.init(num_cpus=workers or os.cpu_count(), include_dashboard=False, **options)
    return time.perf_counter() - begin


def stop() -> None:
    """Disconnects from Ray (and stops a local Ray that ``start`` started)."""
    import ray

    ray.shutdown()


def workers() -> int:
    """How many stages the started Ray runs at once (one CPU each)."""
    import ray

    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def run(stages: list[Stage], settings: WorkerSettings, progress=None, on_done=None, eta=None) -> dict[str, dict]:
    """Runs every stage as a Ray task (Ray must be started); returns each stage's record by stage id.

    Args:
      stages: the graph, dependencies first (``graph.build``).
      settings: what a worker needs to make its run context.
      progress: a ``ProgressLine`` fed by completed stages, or None.
      on_done: called as ``on_done(stage_id, record)`` when a stage's task completes, or None.
      eta: the progress line's ``StageEta`` (told of each completed stage), or None.

    Raises:
      the error of a stage that failed (other than by its worker dying), after
      cancelling the stages not yet finished.
    """
    import ray

    env = {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ}
    env["KERAS_BACKEND"] = settings.backend
    gpus = 1 if ray.cluster_resources().get("GPU", 0) > 0 else 0
    task = ray.remote(max_retries=MAX_RETRIES)(run_task)
    refs = {}
    for s in stages:
        refs[s.id] = task.options(name=s.id, num_cpus=1, num_gpus=gpus if s.kind == "attack" else 0,
                                  runtime_env={"env_vars": env}).remote(settings, s, *[refs[d] for d in s.deps])
    pending = {ref: sid for sid, ref in refs.items()}
    records = {}
    if progress:
        progress(0, len(stages), "on Ray")
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        for ref in done:
            sid = pending.pop(ref)
            try:
                records[sid] = ray.get(ref)
            except ray.exceptions.RayTaskError as e:
                for other in pending:
                    ray.cancel(other)
                raise e.as_instanceof_cause() from None
            if eta:
                eta.finished(sid, records[sid])
            if on_done:
                on_done(sid, records[sid])
            if progress:
                progress(len(records), len(stages), f"{sid} on {records[sid]['worker']}")
    if progress:
        progress.close()
    return {s.id: records[s.id] for s in stages}
