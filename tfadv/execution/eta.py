"""The stages' "time left": every unfinished stage weighted by its expected cost.

A count rate misleads here: a run trains its models first (minutes each) and
then attacks (seconds each), so the rate of the first stages says a paper-scale
run has days left. Instead each unfinished stage costs what ``predict.estimate``
expects of it: its own recorded time (in this run or an earlier run of the
folder), else its time in the reference run shipped with tfadv, scaled by this
machine's speed on the stages timed in both (``reference_times``), else the
mean of the most alike stages timed. A stage that ran in an earlier run of the
same folder is taken to be cached now (cost 0, unless the run forces). Stages
with nothing alike timed yet are left out, and the estimate is then a lower
bound. On several workers the unfinished stages are list-scheduled
(``predict.schedule``).
"""

from __future__ import annotations

from tfadv.execution import predict, reference_times
from tfadv.execution.graph import Stage


class StageEta:
    """The time-left estimate of a run's stages; ``finished`` as each stage ends, call for the estimate.

    Args:
      stages: the graph, dependencies first.
      recorded: stage id -> seconds, from earlier runs (``driver.recorded_times``).
      cached: stages expected to find their files (they ran in an earlier run of this folder).
      workers: stages running at once.
      reference: stage id -> seconds in the shipped reference run (``reference_times.load``).
    """

    def __init__(self, stages: list[Stage], recorded: dict[str, float] | None = None,
                 cached: set[str] | frozenset = frozenset(), workers: int = 1,
                 reference: dict[str, float] | None = None):
        self.stages = stages
        self.times = dict(recorded or {})
        self.reference = dict(reference or {})
        self.cached = set(cached)
        self.workers = workers
        self.done: set[str] = set()

    def finished(self, stage_id: str, record: dict) -> None:
        """Records a finished stage (its ``graph.run_stage`` record)."""
        self.done.add(stage_id)
        if record.get("ran"):
            self.times[stage_id] = float(record["s"])

    def __call__(self) -> tuple[float, bool] | None:
        """``(seconds left, whether every unfinished stage has an estimate)``; None when none has."""
        left = [s for s in self.stages if s.id not in self.done]
        if not left:
            return None
        cost, _ = predict.estimate(self.stages, reference_times.calibrated(self.reference, self.times))
        cost = {s.id: 0.0 if s.id in self.cached else cost[s.id] for s in left if s.id in cost or s.id in self.cached}
        if not cost:
            return None
        known = [s for s in left if s.id in cost]
        if self.workers <= 1:
            seconds = sum(cost.values())
        else:
            ids = {s.id for s in known}
            pending = [Stage(s.id, s.kind, s.paper, s.model, tuple(d for d in s.deps if d in ids)) for s in known]
            seconds = predict.schedule(pending, cost, self.workers)
        return seconds, len(known) == len(left)
