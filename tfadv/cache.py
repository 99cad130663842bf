"""Caches under an output folder that no current setting reads (``python -m tfadv.reproduce --clean``).

A cache file is *used* when the settings of one of the chosen presets would
read it: the models each registered paper needs (``models/*.h5``), the
attacks its stages would look up (``attacks/<paper>/*.npz``, ``.json``; each
paper's ``stages.cache_paths``, built by the same functions as the run's
keys) and its summary (``summaries/*.npz``, keyed as ``Pipeline.summary``
keys it). Nothing is trained or attacked to find them: a model's fingerprint
is read from its file, and a model whose file is missing (or was made with
other settings) would be trained again, so no attack or summary of it counts
as used. Every other file under ``models/``, ``attacks/`` and ``summaries/``
is unused, including half-written temporaries of an interrupted run.
Figures, tables, claims, the report and the manifest are never touched.

Caches of a preset count as used only when that preset is chosen: cleaning a
folder for ``paper`` lists a ``quick`` run's caches in the same folder.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Callable, Iterable

from tfadv import artifacts
from tfadv.config import Preset, get_train_config
from tfadv.keys import ModelKey
from tfadv.paper import Paper
from tfadv.registry import PAPERS

CACHE_DIRS = ("models", "attacks", "summaries")


def model_fingerprints(output_dir) -> Callable[[ModelKey], str | None]:
    """``key -> fingerprint`` of the model file a run would reuse (``ModelBank.fingerprint``), else None."""
    from tfadv.training import FORMAT_VERSION, ModelFileError, read_metadata

    known: dict[ModelKey, str | None] = {}

    def fingerprint(key: ModelKey) -> str | None:
        if key not in known:
            try:
                meta = read_metadata(artifacts.model_path(output_dir, key))
            except ModelFileError:
                meta = None
            wanted = {"model": key.model, "dataset": key.dataset, "config": get_train_config(key.config).to_dict(),
                      "seed": int(key.seed), "format_version": FORMAT_VERSION}
            reused = meta is not None and all(meta.get(k) == v for k, v in wanted.items())
            known[key] = artifacts.config_key(meta) if reused else None
        return known[key]

    return fingerprint




def used_files(output_dir, presets: Iterable[Preset], papers: tuple[Paper, ...] = PAPERS) -> set[Path]:
    """Every cache file that a run of ``papers`` at one of ``presets`` would read."""
    from tfadv.pipeline import summary_path  # the key the run uses

    fingerprint = model_fingerprints(output_dir)
    used = set()
    for preset in presets:
        for paper in papers:
            cfg = paper.config(preset)
            needed = paper.models_needed(cfg)
            used |= {artifacts.model_path(output_dir, key) for key in needed}
            stages = importlib.import_module(paper.summarize.__module__)  # the paper's stages module
            for c in [cfg] + [r.config for r in paper.readings(cfg)]:
                used |= set(stages.cache_paths(c, output_dir, fingerprint))
                prints = [fingerprint(key) for key in paper.models_needed(c)]
                if None not in prints:
                    used.add(summary_path(output_dir, paper, c, preset.enforce_floors, prints))
    return {Path(p) for p in used}


def cache_files(output_dir) -> list[Path]:
    """Every file under the output folder's cache folders (symbolic links are listed, never followed)."""
    root = Path(output_dir)
    found = []
    for sub in CACHE_DIRS:
        for folder, dirs, files in os.walk(root / sub, followlinks=False):
            found += [Path(folder) / f for f in files]
            found += [Path(folder) / d for d in dirs if (Path(folder) / d).is_symlink()]
    return sorted(found)


def unused_files(output_dir, presets: Iterable[Preset]) -> list[Path]:
    """The cache files no setting of ``presets`` reads, sorted.

    Raises:
      OutputDirError: when ``output_dir`` is not a tfadv output folder of
        this version (nothing is listed there, so nothing can be deleted).
    """
    _check_output_dir(output_dir)
    used = used_files(output_dir, presets)
    return [p for p in cache_files(output_dir) if p not in used]


def total_bytes(paths: Iterable[Path]) -> int:
    return sum(p.lstat().st_size for p in paths)


def remove(paths: Iterable[Path], output_dir) -> None:
    """Deletes ``paths``, each of which must lie in a cache folder of ``output_dir`` (links: the link only)."""
    roots = [os.path.realpath(Path(output_dir) / sub) for sub in CACHE_DIRS]
    for path in paths:
        parent = os.path.realpath(Path(path).parent)
        if not any(parent == r or parent.startswith(r + os.sep) for r in roots):
            raise ValueError(f"{path} is not in a cache folder of {output_dir}; not deleted.")
        Path(path).unlink()


def _check_output_dir(output_dir) -> None:
    output_dir = Path(output_dir)
    if not (output_dir / artifacts.STAMP).is_file():
        raise artifacts.OutputDirError(
            f"{output_dir} is not a tfadv output folder (no {artifacts.STAMP}); nothing to clean. "
            "Point --output_dir at the folder of a run.")
    from tfadv.backends import active_backend

    # Refuses an incompatible version or another backend's folder; writes nothing when stamped.
    artifacts.open_output_dir(output_dir, active_backend())
