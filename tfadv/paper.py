"""What a reproduced paper is to the pipeline: its items, its claims and the stages that make them.

Each paper package (``tfadv.papers.eyes``, ``tfadv.papers.dough``) exports one
``Paper``; the pipeline, report, catalogue and command line iterate over the
registered papers (``tfadv.papers.PAPERS``) and never branch on a paper's name.
The stages are: the models the paper needs (trained or reused by the run's
``ModelBank``), then ``summarize`` (attacks and analyses, cached per attack)
into a typed ``Summary``, from which every item is drawn and every claim judged.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol

if TYPE_CHECKING:
    from tfadv.verdicts import Claim
    from tfadv.config import Preset
    from tfadv.context import RunContext
    from tfadv.keys import ModelKey
    from tfadv.outputs import Output


class Summary(Protocol):
    """A paper's numbers: what its figures, tables and claims are computed from.

    Every field is required: a value that is missing raises when the summary is
    built or loaded, so it can never be read as a failed claim.
    """

    excluded: list[dict]  # models left out below their accuracy floor (``ModelBank.excluded``)

    def save(self, path) -> Path: ...


@dataclasses.dataclass(frozen=True)
class Item:
    """A figure or table of the protocol (PROTOCOL.md section 5).

    Attributes:
      id: the protocol id, e.g. ``"eyes_fig1"``.
      paper: the id of the paper it belongs to.
      kind: ``"figure"``, ``"table"`` or ``"figure+table"``.
      what: the protocol's description.
      claims: the claim ids it serves; the report shows it under the first.
      make: draws it from the paper's summary into an ``Output`` (the output
        folder and the preset, which the item shows) and returns the files
        written.
    """

    id: str
    paper: str
    kind: str
    what: str
    claims: tuple[str, ...]
    make: Callable[[Any, Output], list[Path]] = dataclasses.field(repr=False, compare=False)


@dataclasses.dataclass(frozen=True)
class SettingReading:
    """A reading of a setting the paper leaves open (PROTOCOL.md section 8), as a whole experiment.

    Attributes:
      name: the reading's id in claims.json, e.g. ``"stop: fixed budget"``.
      settings: what it changes from the protocol, setting -> value in words.
      config: the paper's settings under this reading (summarized like the
        primary ones, and every claim judged on them).
    """

    name: str
    settings: dict
    config: Any

    @property
    def slug(self) -> str:
        """The reading's folder name under ``readings/``."""
        return re.sub(r"[^a-z0-9]+", "_", self.name.lower()).strip("_")


@dataclasses.dataclass(frozen=True)
class AttackUnit:
    """One cached attack stage of a paper: what one task of an executor runs (``tfadv.execution``).

    Attributes:
      paper: the id of the paper it belongs to.
      name: its id within the paper, stable across runs (stage times in
        ``manifest.json`` are keyed by it).
      model: the model it attacks (its train stage runs first).
      run: runs (or reuses) the attack under a run context and writes its
        files atomically; returns True when it computed anything, False when
        every file was already there (or its model is below its floor).
    """

    paper: str
    name: str
    model: ModelKey
    run: Callable[[RunContext], bool] = dataclasses.field(repr=False, compare=False)


@dataclasses.dataclass(frozen=True)
class Paper:
    """One reproduced paper.

    Attributes:
      id: short id (``"eyes"``, ``"dough"``), used in paths and flags.
      title: how the report names it.
      items: its figures and tables, in protocol order.
      claim_ids: its claims, in order.
      version: bump when a change to its stages changes results (part of
        every cache key of the paper).
      config: the paper's settings within a preset.
      models_needed: every model the paper uses under its settings.
      summarize: runs (or reuses) the attacks and returns the summary.
      load_summary: reads a summary written by its ``save``.
      claims: the claim verdicts, computed from a summary and, as
        ``settings``, the readings' summaries (name -> (settings, summary)).
      readings: the setting readings under a paper config (PROTOCOL.md
        section 8).
      reading_items: the items drawn again for every setting reading, into
        ``readings/<slug>/``.
      prepare: runs the attacks the primary settings and the readings
        share (one pass per family), before any of their summaries is made.
      attack_units: every cached attack of the paper and its readings under
        a paper config, as independent units (built without training or
        attacking, so ``--dry_run`` can list them); the executors run them
        before the summaries, which then find them cached.
    """

    id: str
    title: str
    items: tuple[Item, ...]
    claim_ids: tuple[str, ...]
    version: int
    config: Callable[[Preset], Any]
    models_needed: Callable[[Any], list[ModelKey]]
    summarize: Callable[[Any, RunContext], Summary]
    load_summary: Callable[[Path], Summary]
    claims: Callable[..., list[Claim]]
    readings: Callable[[Any], list[SettingReading]] = lambda cfg: []
    reading_items: tuple[str, ...] = ()
    prepare: Callable[[Any, RunContext], None] | None = None
    attack_units: Callable[[Any], list[AttackUnit]] = lambda cfg: []

    def item(self, item_id: str) -> Item:
        """The item with this id; KeyError if the paper has none."""
        return {i.id: i for i in self.items}[item_id]
