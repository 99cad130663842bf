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

from tfadv import artifacts, catalog, dough, dough_analysis, dough_items, eyes, eyes_analysis, eyes_items
from tfadv.config import Preset
from tfadv.progress import ProgressLine, format_seconds
from tfadv.train import ModelBank

logger = logging.getLogger(__name__)

PAPERS = ("eyes", "dough")
ITEMS = {"eyes": eyes_items.ITEMS, "dough": dough_items.ITEMS}
# Per paper: (module with models_needed/summarize/ENGINE_VERSION, module with claims).
STAGES = {"eyes": (eyes, eyes_analysis), "dough": (dough, dough_analysis)}


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or "unknown"


def item_ids(paper: str | None = None) -> list[str]:
    """Every figure/table id, in protocol order (of one paper, or both)."""
    return [e.id for e in catalog.ENTRIES if paper in (None, e.paper)]


def paper_of(item_id: str) -> str:
    """The paper an item belongs to; ValueError for an unknown id."""
    return catalog.entry(item_id).paper


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
        self.output_dir = artifacts.open_output_dir(output_dir)
        self.data_dir = data_dir
        self.force = force
        self.progress = progress
        self.bank = ModelBank(output_dir, data_dir=data_dir, force=force,
                              enforce_floors=preset.enforce_floors, verbose=verbose)
        self.timings: dict[str, float] = {}
        self._summaries: dict[str, dict] = {}

    def _timed(self, stage: str, fn):
        start = time.perf_counter()
        try:
            return fn()
        finally:
            self.timings[stage] = self.timings.get(stage, 0.0) + time.perf_counter() - start

    def config(self, paper: str):
        return getattr(self.preset, paper)

    def train_models(self, paper: str) -> None:
        """Stage 1: every model the paper uses, trained or reused."""
        needed = STAGES[paper][0].models_needed(self.config(paper))
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
        stage, cfg = STAGES[paper][0], self.config(paper)
        key = artifacts.config_key({
            "config": repr(cfg), "floors": self.preset.enforce_floors, "engine": stage.ENGINE_VERSION,
            "models": [self.bank.model_key(*m) for m in stage.models_needed(cfg)],
        })
        path = artifacts.summary_path(self.output_dir, paper, key)

        def compute():
            return stage.summarize(cfg, self.output_dir, data_dir=self.data_dir, force=self.force,
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
        return STAGES[paper][1].claims(self.summary(paper))

    def write_claims(self, papers) -> list[dict]:
        """Writes ``claims.json``: these papers' claims, keeping the other paper's of the same preset."""
        path = artifacts.claims_path(self.output_dir)
        existing = artifacts.read_json(path) if path.exists() else {}
        kept = [c for c in existing.get("claims", [])
                if c["paper"] not in papers and existing.get("preset") == self.preset.name]
        fresh = [c.to_dict() for p in papers for c in self.claims(p)]
        order = {p: i for i, p in enumerate(PAPERS)}
        claims = sorted(kept + fresh, key=lambda c: (order[c["paper"]], c["id"]))
        artifacts.write_json(path, {"preset": self.preset.name, "claims": claims})
        return claims

    def manifest(self, papers, flag_values: dict, started: str, finished: str) -> dict:
        """How this run was made: versions, machine, data, settings, flags, stage times."""
        import dataclasses
        import os
        import platform

        from tfadv import data
        from tfadv.train import package_versions

        datasets = sorted({m[1] for p in papers for m in STAGES[p][0].models_needed(self.config(p))})
        infos = {d: data.load_dataset_with_info(d, self.data_dir)[1] for d in datasets}
        path = self.output_dir / "manifest.json"
        history = artifacts.read_json(path).get("runs", []) if path.exists() else []
        run = {"started": started, "finished": finished, "papers": list(papers),
               "stages_s": {k: round(v, 1) for k, v in self.timings.items()}}
        return {
            "versions": package_versions(),
            "machine": {"platform": platform.platform(), "processor": _cpu_name(),
                        "cpu_count": os.cpu_count()},
            "data": {d: {"source": i.source_path, "fingerprint": i.fingerprint, "sha256": dict(i.sha256)}
                     for d, i in infos.items()},
            "preset": dataclasses.asdict(self.preset),
            "flags": flag_values,
            "models": [self._model_record(*m) for p in papers for m in STAGES[p][0].models_needed(self.config(p))],
            "excluded_below_floor": self.excluded(papers),
            "runs": history + [run],
        }

    def _model_record(self, model, dataset, config, seed) -> dict:
        meta = self.bank.get(model, dataset, config, seed, gated=False)[1]
        return {"model": model, "dataset": dataset, "config": config, "seed": seed,
                "test_accuracy": meta["test_accuracy"], "training_wall_s": meta["wall_time_s"]}

    def excluded(self, papers) -> list[dict]:
        """Models left out below their accuracy floor: this run's, and those recorded in cached summaries."""
        found = {}
        for e in [e for p in papers for e in self.summary(p)["meta"].get("excluded", [])] + self.bank.excluded:
            found.setdefault(tuple(e["key"]), e)
        return list(found.values())

    def describe_timings(self) -> str:
        return ", ".join(f"{k} {format_seconds(v)}" for k, v in self.timings.items())
