"""``--dry_run``'s predictions: a run's wall time on N workers, from the stage times of earlier runs.

``manifest.json`` records, for every run, each stage's wall time, worker and
whether it computed anything (``runs[-1]["stages"]``), and the driver's time
after the stages (summaries, figures, tables, claims: ``"driver_s"``). A stage
that only found its files cached says nothing about its cost, so only stages
that ran count; the latest run that ran a stage gives its time. A stage with
no recorded time is estimated by the mean of the recorded stages most like it:
same kind, paper, architecture and training configuration; else same kind,
paper and architecture; else same kind and paper; else same kind (an
untrained control's "training" only by other untrained controls: it costs
next to nothing, whatever its architecture). A train stage estimated from
other configurations is scaled by its optimizer steps (time per step of the
group times its own steps): 30 epochs in batches of 10 cost more than 20 in
batches of 32 on the same net. The
prediction schedules the graph on N workers by list scheduling (a free worker
takes the ready stage with the longest chain of work after it), one stage per
worker at a time, then adds the driver's time; the lower bound is the longer
of the critical path and the total work divided by N.
"""

from __future__ import annotations

import heapq
import math
import statistics

from tfadv.config import get_train_config
from tfadv.execution.graph import Stage

WORKERS = (1, 2, 8, 32, 128)
TRAIN_IMAGES = 60_000  # the training split of MNIST and of Fashion-MNIST


def recorded(manifest: dict | None) -> tuple[dict[str, float], float | None]:
    """``(stage id -> seconds, driver seconds)`` from the runs of a manifest (latest that ran wins)."""
    times, driver = {}, None
    for run in (manifest or {}).get("runs", []):
        for sid, record in run.get("stages", {}).items():
            if record.get("ran"):
                times[sid] = float(record["s"])
        if run.get("driver_s") is not None:
            driver = float(run["driver_s"])
    return times, driver


def _groups(stage: Stage) -> list[tuple]:
    m = stage.model
    exact = (stage.kind, stage.paper, m.model, m.config)
    if stage.kind == "train" and not _trains(m.config):  # an untrained control costs what other controls did
        return [exact, ("train", "no training steps")]
    return [exact, (stage.kind, stage.paper, m.model), (stage.kind, stage.paper), (stage.kind,)]


def _trains(config: str) -> bool:
    cfg = _train_config(config)
    return cfg is None or cfg.trained  # a configuration this version does not know: taken as training


def _train_config(config: str):
    try:
        return get_train_config(config)
    except ValueError:
        return None


def _work(stage: Stage) -> float:
    """What a stage's time is taken to scale with within its group: a train stage's optimizer steps
    (epochs x batches of the training images it uses), else 1."""
    cfg = _train_config(stage.model.config) if stage.kind == "train" else None
    if cfg is None or not cfg.trained:
        return 1.0
    return float(cfg.epochs * math.ceil((cfg.train_examples or TRAIN_IMAGES) / cfg.batch_size))


def estimate(stages: list[Stage], times: dict[str, float]) -> tuple[dict[str, float], int]:
    """Every stage's time: recorded, or the mean of its most alike recorded group; and how many were estimated.

    Stages with nothing alike recorded get no entry.
    """
    by_group: dict[tuple, list[float]] = {}
    for s in stages:
        if s.id in times:
            for g in _groups(s):
                by_group.setdefault(g, []).append(times[s.id] / _work(s))
    out, estimated = {}, 0
    for s in stages:
        if s.id in times:
            out[s.id] = times[s.id]
            continue
        group = next((g for g in _groups(s) if g in by_group), None)
        if group is not None:
            out[s.id] = statistics.fmean(by_group[group]) * _work(s)
            estimated += 1
    return out, estimated


def critical_path(stages: list[Stage], cost: dict[str, float]) -> dict[str, float]:
    """Per stage, the longest chain of work from its start to the end of the graph (its own time included)."""
    after: dict[str, list[str]] = {s.id: [] for s in stages}
    for s in stages:
        for d in s.deps:
            after[d].append(s.id)
    level: dict[str, float] = {}
    for s in reversed(stages):  # ``stages`` lists dependencies first
        level[s.id] = cost[s.id] + max((level[n] for n in after[s.id]), default=0.0)
    return level


def schedule(stages: list[Stage], cost: dict[str, float], workers: int) -> float:
    """Makespan of list scheduling on ``workers`` (longest remaining chain first)."""
    level = critical_path(stages, cost)
    waiting = {s.id: len(s.deps) for s in stages}
    after: dict[str, list[str]] = {s.id: [] for s in stages}
    for s in stages:
        for d in s.deps:
            after[d].append(s.id)
    ready = [(-level[s.id], i, s.id) for i, s in enumerate(stages) if not s.deps]
    heapq.heapify(ready)
    order = {s.id: i for i, s in enumerate(stages)}
    running: list[tuple[float, str]] = []
    now, free = 0.0, workers
    while ready or running:
        while ready and free:
            _, _, sid = heapq.heappop(ready)
            heapq.heappush(running, (now + cost[sid], sid))
            free -= 1
        now, sid = heapq.heappop(running)
        free += 1
        for n in after[sid]:
            waiting[n] -= 1
            if not waiting[n]:
                heapq.heappush(ready, (-level[n], order[n], n))
    return now


def predictions(stages: list[Stage], manifest: dict | None, workers=WORKERS, done=frozenset()) -> dict:
    """What ``--dry_run`` prints: the predicted wall time per worker count, and what it rests on.

    Returns a dict with ``recorded`` and ``estimated`` (stage counts),
    ``unknown`` (stages with no estimate), ``driver_s``, ``work_s`` (sum of
    stage times), ``critical_path_s`` and ``rows``: ``(workers, predicted_s,
    lower_bound_s, left_s)``, each including the driver's time; ``left_s`` is
    the wall time of resuming, the stages in ``done`` (already made in the
    output folder) costing nothing. ``rows`` is empty when stages are unknown.
    """
    times, driver = recorded(manifest)
    cost, estimated = estimate(stages, times)
    unknown = len(stages) - len(cost)
    out = {"recorded": len(stages) - estimated - unknown, "estimated": estimated, "unknown": unknown,
           "driver_s": driver, "rows": []}
    if unknown:
        return out
    tail = driver or 0.0
    path = max(critical_path(stages, cost).values(), default=0.0)
    out.update(work_s=sum(cost.values()), critical_path_s=path)
    left = {sid: 0.0 if sid in done else c for sid, c in cost.items()}
    out["left_work_s"] = sum(left.values())
    for n in workers:
        out["rows"].append((n, schedule(stages, cost, n) + tail, max(path, out["work_s"] / n) + tail,
                            schedule(stages, left, n) + tail))
    return out
