"""What a Ray worker process runs for one stage (``tfadv.execution.ray_executor``).

A worker builds its own ``RunContext`` from the run's ``WorkerSettings`` (once
per process and run; the process keeps its models for its next stages), and
before the first one makes the switches an entry point makes
(``tfadv.flags.set_up``): the backend's deterministic ops, so a stage run on a
worker writes the same numbers as the serial run, and quiet logs.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

from tfadv.execution.graph import Stage, run_stage

_contexts: dict = {}


@dataclasses.dataclass(frozen=True)
class WorkerSettings:
    """The run as a worker needs it (small and picklable; paths absolute, on storage every worker sees).

    Attributes:
      output_dir: the run's output folder.
      preset: the preset (any ``Preset``, not only a registered one).
      source: the data source (``RealData`` reads ``data_dir`` or the
        worker's ``$TFADV_DATA_DIR``; ``SyntheticData`` needs no files).
      force: train and attack again (once per worker process).
      backend: the Keras backend the driver runs on.
      run: the run's start time (a worker's context serves one run).
    """

    output_dir: str
    preset: Any
    source: Any
    force: bool
    backend: str
    run: str


def _set_up_process(backend: str) -> None:
    from tfadv.backends import active_backend, enable_determinism

    if active_backend() != backend:
        raise RuntimeError(f"this Ray worker runs Keras on {active_backend()}, the run uses {backend} "
                           f"(KERAS_BACKEND={backend} in the task's runtime_env did not reach it)")
    enable_determinism()
    if backend == "tensorflow":
        from tfadv.engine.tensorflow import quiet_retracing_warnings

        quiet_retracing_warnings()
    logging.getLogger("tfadv").setLevel(logging.WARNING)


def context(settings: WorkerSettings):
    """The worker's ``RunContext`` for this run (made on first use)."""
    if settings not in _contexts:
        if not _contexts:
            _set_up_process(settings.backend)
        from tfadv.context import RunContext

        _contexts.clear()  # one run at a time: drop an earlier run's models
        _contexts[settings] = RunContext(Path(settings.output_dir), settings.preset, settings.source,
                                         force=settings.force, progress=False, train_verbose=0)
    return _contexts[settings]


def run_task(settings: WorkerSettings, stage: Stage, *done_before) -> dict:
    """Runs ``stage`` (after ``done_before``, the records of its dependencies); returns its record."""
    return run_stage(stage, context(settings))
