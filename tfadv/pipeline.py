"""One reproduction run: the registered papers' stages, under a run context.

``Pipeline`` trains (or reuses) each paper's models, reduces its attacks to
its summary (cached under ``summaries/``, keyed by the paper's settings and
models), and draws every figure and table from that summary. Claims are
computed from the same summaries into ``claims.json``. Everything is keyed by
the settings that made it, so a second run reuses all of it and an interrupted
run resumes. The pipeline never names a paper: it iterates over ``papers``.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import time
from pathlib import Path

from tfadv import artifacts
from tfadv.context import RunContext
from tfadv.keys import ModelKey
from tfadv.outputs import Output
from tfadv.paper import Paper, Summary
from tfadv.registry import PAPERS
from tfadv.progress import format_seconds
from tfadv.provenance import git_record, package_versions

SUMMARY_FORMAT = 3  # bump when a summary changes shape or meaning (2: typed; 3: B5 norms)


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


class Pipeline:
    """Makes the items of a run context's preset, reusing what is already in its output folder.

    Args:
      ctx: the run (output folder, preset, data source, force, progress).
      papers: the papers it can run (default: every registered paper).
    """

    def __init__(self, ctx: RunContext, papers: tuple[Paper, ...] = PAPERS):
        self.ctx = ctx
        self.papers = {p.id: p for p in papers}
        self.timings: dict[str, float] = {}
        self._summaries: dict[tuple, Summary] = {}
        self._prepared: set[str] = set()
        self._trained: set[str] = set()

    def _timed(self, stage: str, fn):
        start = time.perf_counter()
        try:
            return fn()
        finally:
            self.timings[stage] = self.timings.get(stage, 0.0) + time.perf_counter() - start

    def models_needed(self, paper: Paper) -> list[ModelKey]:
        return paper.models_needed(paper.config(self.ctx.preset))

    def train_models(self, paper: Paper) -> None:
        """Stage 1: every model the paper uses (its readings' included), trained or reused; once per run."""
        if paper.id in self._trained:
            return
        self._trained.add(paper.id)
        needed = self.models_needed(paper)
        report = self.ctx.progress_line(f"{paper.id} models")

        def run():
            for n, key in enumerate(needed):
                if report:
                    report(n, len(needed), str(key))
                self.ctx.models.get(key, gated=False)
            if report:
                report(len(needed), len(needed), "models ready")
                report.close()

        self._timed(f"{paper.id}: models", run)

    def summary(self, paper_id: str) -> Summary:
        """The paper's summary: computed once, cached on disk by its inputs."""
        paper = self.papers[paper_id]
        return self._summary(paper, paper.config(self.ctx.preset))

    def reading_summaries(self, paper_id: str) -> dict[str, tuple[dict, Summary]]:
        """The paper's summary under each of its setting readings: name -> (settings, summary)."""
        paper = self.papers[paper_id]
        return {r.name: (r.settings, self._summary(paper, r.config))
                for r in paper.readings(paper.config(self.ctx.preset))}

    def _summary(self, paper: Paper, cfg) -> Summary:
        key = (paper.id, repr(cfg))
        if key in self._summaries:
            return self._summaries[key]
        self.train_models(paper)
        path = summary_path(self.ctx.output_dir, paper, cfg, self.ctx.preset.enforce_floors,
                            [self.ctx.models.fingerprint(m) for m in paper.models_needed(cfg)])

        def compute():
            if paper.prepare is not None and paper.id not in self._prepared:
                paper.prepare(paper.config(self.ctx.preset), self.ctx)  # the attacks the readings share
                self._prepared.add(paper.id)
            return paper.summarize(cfg, self.ctx)

        summary = self._timed(f"{paper.id}: searches and summary", lambda: artifacts.cached(
            path, compute, lambda s, p: s.save(p), paper.load_summary, force=self.ctx.stale(path)))
        self.ctx.made(path)
        self._summaries[key] = summary
        return summary

    def make(self, item_id: str) -> list[Path]:
        """Draws one figure or table (its footer or caption names the preset); returns the files written."""
        paper = next(p for p in self.papers.values() if any(i.id == item_id for i in p.items))
        summary = self.summary(paper.id)
        out = Output(self.ctx.output_dir, self.ctx.preset.name)
        return self._timed(f"{paper.id}: figures and tables", lambda: paper.item(item_id).make(summary, out))

    def make_readings(self, paper_id: str) -> list[Path]:
        """Draws the paper's reading items once per setting reading, into ``readings/<slug>/``."""
        paper = self.papers[paper_id]
        made = []
        for r in paper.readings(paper.config(self.ctx.preset)):
            summary = self._summary(paper, r.config)
            out = Output(self.ctx.output_dir / "readings" / r.slug, self.ctx.preset.name,
                         reading=f"{r.name} ({'; '.join(f'{k}: {v}' for k, v in r.settings.items())})", pdf=False)
            for item_id in paper.reading_items:
                made += self._timed(f"{paper.id}: readings' figures and tables",
                                    lambda: paper.item(item_id).make(summary, out))
        return made

    def claims(self, paper_id: str) -> list:
        """The paper's claim verdicts, computed from its summary and its readings' summaries."""
        paper = self.papers[paper_id]
        readings = self.reading_summaries(paper_id)
        return paper.claims(self.summary(paper_id), settings=readings) if readings else \
            paper.claims(self.summary(paper_id))

    def write_claims(self, paper_ids) -> list[dict]:
        """Writes ``claims.json``: these papers' claims, keeping the other papers' of the same preset.

        Each claim carries ``"preset"`` beside its verdict, so a verdict read on
        its own still says which run made it. Returns the claims as written.
        """
        path = artifacts.claims_path(self.ctx.output_dir)
        existing = artifacts.read_json(path) if path.exists() else {}
        preset = self.ctx.preset.name
        kept = [dict(c, preset=preset) for c in existing.get("claims", [])
                if c["paper"] not in paper_ids and c["paper"] in self.papers and existing.get("preset") == preset]
        fresh = [dict(c.to_dict(), preset=preset) for p in paper_ids for c in self.claims(p)]
        order = {p: i for i, p in enumerate(self.papers)}
        claims = sorted(kept + fresh, key=lambda c: (order[c["paper"]], c["id"]))
        artifacts.write_json(path, {"preset": preset, "claims": claims})
        return claims

    def manifest(self, paper_ids, flag_values: dict, started: str, finished: str,
                 run_record: dict | None = None) -> dict:
        """How this run was made: versions, source commit, machine, data, settings, flags, stage times.

        ``run_record`` joins this run's entry under ``runs`` (the executor's
        record: each stage's time and worker, ``tfadv.execution.driver``).

        ``source`` is the package's git commit and whether its tracked files
        differ from it (``tfadv.provenance.git_record``); each dataset records
        whether its checksums were ``verified`` (False with ``--no_verify`` or
        synthetic data).
        """
        keys = [m for p in paper_ids for m in self.models_needed(self.papers[p])]
        infos = {d: self.ctx.source.load(d)[1] for d in sorted({m.dataset for m in keys})}
        path = self.ctx.output_dir / "manifest.json"
        history = artifacts.read_json(path).get("runs", []) if path.exists() else []
        run = {"started": started, "finished": finished, "papers": list(paper_ids),
               "stages_s": {k: round(v, 1) for k, v in self.timings.items()}, **(run_record or {})}
        return {
            "versions": package_versions(),
            "source": git_record(),
            "machine": {"platform": platform.platform(), "processor": _cpu_name(), "cpu_count": os.cpu_count()},
            "data": {d: {"source": i.source_path, "fingerprint": i.fingerprint, "sha256": dict(i.sha256),
                         "verified": i.verified} for d, i in infos.items()},
            "preset": dataclasses.asdict(self.ctx.preset),
            "flags": flag_values,
            "models": [self._model_record(m) for m in keys],
            "excluded_below_floor": self.excluded(paper_ids),
            "runs": history + [run],
        }

    def _model_record(self, key: ModelKey) -> dict:
        meta = self.ctx.models.get(key, gated=False)[1]
        return {"model": key.model, "dataset": key.dataset, "config": key.config, "seed": key.seed,
                "test_accuracy": meta["test_accuracy"], "training_wall_s": meta["wall_time_s"]}

    def excluded(self, paper_ids) -> list[dict]:
        """Models left out below their accuracy floor: this run's, and those recorded in cached summaries."""
        found = {}
        for e in [e for p in paper_ids for e in self.summary(p).excluded] + self.ctx.models.excluded:
            found.setdefault(tuple(e["key"]), e)
        return list(found.values())

    def describe_timings(self) -> str:
        return ", ".join(f"{k} {format_seconds(v)}" for k, v in self.timings.items())


def summary_path(output_dir, paper: Paper, cfg, enforce_floors: bool, fingerprints: list) -> Path:
    """Where a paper's summary under ``cfg`` is cached: keyed by the settings, floors, version and models."""
    key = artifacts.config_key({
        "config": repr(cfg), "floors": enforce_floors, "engine": paper.version, "models": list(fingerprints),
        "format": SUMMARY_FORMAT,
    })
    return artifacts.summary_path(output_dir, paper.id, key)
