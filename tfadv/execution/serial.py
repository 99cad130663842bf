"""The serial executor: every stage in this process, model by model (the default, ``--executor=serial``)."""

from __future__ import annotations

from tfadv.context import RunContext
from tfadv.execution.eta import StageEta
from tfadv.execution.graph import Stage, model_by_model, run_stage


def run(stages: list[Stage], ctx: RunContext, on_done=None, eta: StageEta | None = None) -> dict[str, dict]:
    """Runs every stage under ``ctx`` (its ``ModelBank`` keeps the models for the summaries that follow).

    ``on_done(stage_id, record)`` is called as each stage finishes (``journal.Journal.append``); ``eta``
    (told of each finished stage) gives the progress line its time-left estimate.
    Returns each stage's record (``graph.run_stage``), by stage id, in graph order.
    """
    report = ctx.progress_line("stages", eta)
    records = {}
    for n, stage in enumerate(model_by_model(stages)):
        if report:
            report(n, len(stages), stage.id)
        records[stage.id] = run_stage(stage, ctx)
        if eta:
            eta.finished(stage.id, records[stage.id])
        if on_done:
            on_done(stage.id, records[stage.id])
    if report:
        report(len(stages), len(stages), "every model and attack ready")
        report.close()
    return {s.id: records[s.id] for s in stages}
