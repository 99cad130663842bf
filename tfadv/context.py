"""The run context: everything a stage needs to know about the run it is part of, passed explicitly."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from tfadv import artifacts
from tfadv.config import Preset
from tfadv.modelbank import ModelBank
from tfadv.progress import ProgressLine
from tfadv.sources import DataSource, RealData


@dataclasses.dataclass
class RunContext:
    """One run: its output folder, data source, preset and reporting.

    Attributes:
      output_dir: where models, attacks, summaries, figures and tables go
        (checked and stamped on creation, ``artifacts.open_output_dir``).
      preset: the settings (``tfadv.config.PRESETS``).
      source: where the datasets come from (real files by default).
      force: train and attack again even when results exist.
      progress: show progress lines on stderr.
      train_verbose: Keras' ``fit`` verbosity.
      models: the run's ``ModelBank`` (made from the fields above).
    """

    output_dir: Path
    preset: Preset
    source: DataSource = dataclasses.field(default_factory=RealData)
    force: bool = False
    progress: bool = True
    train_verbose: int | str = 0
    models: ModelBank = dataclasses.field(init=False, repr=False)
    _made: set = dataclasses.field(init=False, repr=False, default_factory=set)

    def __post_init__(self):
        from tfadv.backends import active_backend

        self.output_dir = artifacts.open_output_dir(self.output_dir, active_backend())
        self.models = ModelBank(self.output_dir, self.source, force=self.force,
                                enforce_floors=self.preset.enforce_floors, verbose=self.train_verbose)

    def progress_line(self, label: str, estimate=None) -> ProgressLine | None:
        """A progress line for long work (``estimate``: its own time-left estimate), or None when progress is off."""
        return ProgressLine(label, estimate=estimate) if self.progress else None

    def stale(self, path) -> bool:
        """Whether a cached file must be made again: with ``force``, once per run."""
        return self.force and Path(path) not in self._made

    def made(self, path) -> None:
        """Records that this run made (or remade) ``path``; ``force`` does not make it again."""
        self._made.add(Path(path))
