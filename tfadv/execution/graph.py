"""The stage graph of a run: every model's training and every cached attack, with their dependencies.

A ``train`` stage makes one model file (``models/*.h5``, ``ModelBank``); an
``attack`` stage makes one paper's ``AttackUnit`` (its files under
``attacks/<paper>/``) and depends on the train stage of the model it attacks.
After every stage the driver makes the summaries, figures, tables and claims
(``tfadv.pipeline``), which then find every model and attack cached. The graph
is built from the papers' settings alone (``Paper.models_needed``,
``Paper.attack_units``): nothing is trained or attacked to build it.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import time
from pathlib import Path

from tfadv import artifacts
from tfadv.keys import ModelKey
from tfadv.paper import AttackUnit, Paper

KINDS = ("train", "attack")


@dataclasses.dataclass(frozen=True)
class Stage:
    """One node of the graph.

    Attributes:
      id: ``train:<model file stem>`` or ``attack:<paper>:<unit name>``; stable
        across runs (``manifest.json`` keys stage times by it).
      kind: ``"train"`` or ``"attack"``.
      paper: the (first) paper that needs it.
      model: the model it trains, or attacks.
      deps: the ids of the stages that must finish first.
      unit: the attack (attack stages only).
    """

    id: str
    kind: str
    paper: str
    model: ModelKey
    deps: tuple[str, ...] = ()
    unit: AttackUnit | None = dataclasses.field(default=None, compare=False)


def model_by_model(stages: list[Stage]) -> list[Stage]:
    """The serial order: each train stage, then at once every stage that waits only for it (its attacks).

    A run that stops early then holds finished models with all their
    attacks, and the time-left estimate learns the attacks' cost early (not
    after every model is trained).
    """
    waiting: dict[str, list[Stage]] = {}
    for s in stages:
        if len(s.deps) == 1:
            waiting.setdefault(s.deps[0], []).append(s)
    placed = {s.id for group in waiting.values() for s in group}
    order = []
    for s in stages:
        if s.id not in placed:
            order += [s] + waiting.get(s.id, [])
    return order


def train_id(key: ModelKey) -> str:
    return f"train:{Path(key.filename).stem}"


def build(papers: list[Paper], preset) -> list[Stage]:
    """The stages of a run of ``papers`` at ``preset``, dependencies first.

    Train stages come in the papers' training order (a model two papers share
    is one stage); then each paper's attacks, in its own order.
    """
    stages: dict[str, Stage] = {}
    for p in papers:
        for key in p.models_needed(p.config(preset)):
            stages.setdefault(train_id(key), Stage(train_id(key), "train", p.id, key))
    for p in papers:
        for unit in p.attack_units(p.config(preset)):
            sid = f"attack:{p.id}:{unit.name}"
            stages.setdefault(sid, Stage(sid, "attack", p.id, unit.model, (train_id(unit.model),), unit))
    missing = {d for s in stages.values() for d in s.deps} - set(stages)
    if missing:  # a unit attacks a model its paper does not list in models_needed
        raise ValueError(f"attack stages depend on models no paper trains: {', '.join(sorted(missing))}")
    return list(stages.values())


def worker_name() -> str:
    """``host:pid`` of the process running a stage (recorded in the manifest)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def run_stage(stage: Stage, ctx) -> dict:
    """Runs one stage under a run context; its files are written atomically into the output folder.

    Returns its record for the manifest: ``{"s": wall seconds, "worker":
    "host:pid", "ran": whether it computed anything (False: all cached)}``.
    """
    start = time.perf_counter()
    if stage.kind == "train":
        path = artifacts.model_path(ctx.output_dir, stage.model)
        before = path.stat().st_mtime_ns if path.exists() else None
        ctx.models.get(stage.model, gated=False)
        ran = not path.exists() or path.stat().st_mtime_ns != before
    else:
        ran = bool(stage.unit.run(ctx))
    return {"s": round(time.perf_counter() - start, 3), "worker": worker_name(), "ran": ran}


def describe(stages: list[Stage]) -> list[str]:
    """Lines saying what the graph holds: stages per kind and paper, and what depends on what."""
    counts: dict[tuple[str, str], int] = {}
    for s in stages:
        counts[(s.kind, s.paper)] = counts.get((s.kind, s.paper), 0) + 1
    shared = len([s for s in stages if s.kind == "train"])
    lines = [f"{len(stages)} stages:",
             f"  train: {shared} models (no dependencies; a model two papers use is one stage)"]
    for (kind, paper), n in counts.items():
        if kind == "attack":
            models = len({s.model for s in stages if s.kind == kind and s.paper == paper})
            lines.append(f"  attack {paper}: {n} units on {models} models (each after its model's train stage)")
    lines.append("  then on the driver: summaries, figures, tables, claims (after every stage; they find all "
                 "of it cached)")
    return lines
