"""One reproduction run: a preset, an output folder, and the items it makes.

``Pipeline`` trains (or reuses) the models, runs (or reuses) the searches,
reduces them to each paper's summary (cached under ``summaries/``), and draws
every figure and table from that summary. Claims are computed from the same
summaries into ``claims.json``. Everything is keyed by the settings that made
it, so a second run reuses all of it and an interrupted run resumes.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from tfadv import artifacts, eyes, eyes_analysis, eyes_items
from tfadv.config import Preset
from tfadv.progress import ProgressLine, format_seconds
from tfadv.train import ModelBank

logger = logging.getLogger(__name__)

PAPERS = ("eyes", "dough")
ITEMS = {"eyes": eyes_items.ITEMS}


def item_ids(paper: str | None = None) -> list[str]:
    """Every figure/table id, in protocol order (of one paper, or both)."""
    papers = [paper] if paper else [p for p in PAPERS if p in ITEMS]
    return [i for p in papers for i in ITEMS[p]]


def paper_of(item_id: str) -> str:
    for paper, items in ITEMS.items():
        if item_id in items:
            return paper
    raise ValueError(f"Unknown item {item_id!r}; known: {', '.join(item_ids())}.")


class Pipeline:
    """Makes a preset's items under ``output_dir``, reusing what is already there.

    Args:
      preset: the settings (``tfadv.config.PRESETS``).
      output_dir: where models, attacks, summaries, figures and tables go.
      data_dir: where to look for the datasets first.
      force: train and attack again even when results exist.
      verbose: Keras' training verbosity.
      progress: show progress lines on stderr.
    """

    def __init__(self, preset: Preset, output_dir, *, data_dir=None, force: bool = False,
                 verbose=0, progress: bool = True):
        self.preset = preset
        self.output_dir = Path(output_dir)
        self.data_dir = data_dir
        self.force = force
        self.progress = progress
        self.bank = ModelBank(output_dir, data_dir=data_dir, force=force,
                              enforce_floors=preset.eyes.enforce_floors, verbose=verbose)
        self.timings: dict[str, float] = {}
        self._summaries: dict[str, dict] = {}

    def _timed(self, stage: str, fn):
        start = time.perf_counter()
        try:
            return fn()
        finally:
            self.timings[stage] = self.timings.get(stage, 0.0) + time.perf_counter() - start

    def train_models(self, paper: str) -> None:
        """Stage 1: every model the paper uses, trained or reused."""
        needed = eyes.models_needed(self.preset.eyes)
        report = ProgressLine(f"{paper} models") if self.progress else None

        def run():
            for n, (model, dataset, config, seed) in enumerate(needed):
                if report:
                    report(n, len(needed), f"{model} on {dataset} ({config}, seed {seed})")
                self.bank.get(model, dataset, config, seed, gated=False)
            if report:
                report(len(needed), len(needed), "models ready")
                report.close()

        self._timed(f"{paper}: models", run)

    def summary(self, paper: str) -> dict:
        """The paper's summary arrays: computed once, cached on disk by their inputs."""
        if paper in self._summaries:
            return self._summaries[paper]
        self.train_models(paper)
        cfg = self.preset.eyes
        key = artifacts.config_key({
            "config": cfg.__repr__(), "engine": eyes.ENGINE_VERSION,
            "models": [self.bank.model_key(*m) for m in eyes.models_needed(cfg)],
        })
        path = artifacts.summary_path(self.output_dir, paper, key)

        def compute():
            return eyes.summarize(cfg, self.output_dir, data_dir=self.data_dir, force=self.force,
                                  bank=self.bank, progress=self.progress)

        summary = self._timed(f"{paper}: searches and summary", lambda: artifacts.cached(
            path, compute, artifacts.save_arrays, artifacts.load_arrays, force=self.force))
        self._summaries[paper] = summary
        return summary

    def make(self, item_id: str) -> list[Path]:
        """Draws one figure or table; returns the files written."""
        paper = paper_of(item_id)
        summary = self.summary(paper)
        return self._timed(f"{paper}: figures and tables",
                           lambda: ITEMS[paper][item_id](summary, self.output_dir))

    def claims(self, paper: str) -> list:
        """The paper's claim verdicts, computed from its summary."""
        return eyes_analysis.claims(self.summary(paper))

    def write_claims(self, papers) -> Path:
        """Writes ``claims.json``: these papers' claims, keeping the other paper's."""
        path = artifacts.claims_path(self.output_dir)
        existing = artifacts.read_json(path)["claims"] if path.exists() else []
        fresh = [c.to_dict() for p in papers for c in self.claims(p)]
        kept = [c for c in existing if c["paper"] not in papers]
        order = {p: i for i, p in enumerate(PAPERS)}
        claims = sorted(kept + fresh, key=lambda c: (order[c["paper"]], c["id"]))
        artifacts.write_json(path, {"preset": self.preset.name, "claims": claims})
        return path

    def describe_timings(self) -> str:
        return ", ".join(f"{k} {format_seconds(v)}" for k, v in self.timings.items())
