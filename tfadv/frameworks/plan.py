"""What the framework comparison runs, and where each backend's results go (no framework imports)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from tfadv.config import EyesConfig

RECORD = "searches.json"  # per backend folder: every search, its model and the time it took
SUMMARY = "summary.npz"
CLAIMS = "claims.json"
# Claims whose rules compare training rounds: they cannot be judged on fewer rounds.
NEEDS_ROUNDS = {"A2": 2, "A3": 2}


def comparison_config(eyes: EyesConfig, rounds: int) -> EyesConfig:
    """Paper A's settings for the comparison: ``rounds`` rounds of every group of nets, the protocol's
    attack, no readings and no ``eyes_tab4`` variants (they are settings, not engines)."""
    if not 1 <= rounds <= eyes.rounds:
        raise ValueError(f"--rounds must be between 1 and the preset's {eyes.rounds} rounds, got {rounds}.")
    return dataclasses.replace(eyes, rounds=rounds, readings=False, sensitivity=False)


def backend_dir(output_dir, backend: str) -> Path:
    """The folder of one backend's comparison results under a run's output folder."""
    return Path(output_dir) / "frameworks" / backend


def judged(claim_id: str, rounds: int) -> bool:
    """Whether a claim's rule can be judged on this many rounds."""
    return rounds >= NEEDS_ROUNDS.get(claim_id, 1)
