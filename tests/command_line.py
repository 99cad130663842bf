"""What the tests that start the entry points as processes share."""

import os
from pathlib import Path


def user_env(**extra) -> dict:
    """The environment a new user's shell gives an entry point (Agg figures; the entry points' own log level)."""
    env = dict(os.environ, MPLBACKEND="Agg", **extra)
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # the entry points' own default, as a new user gets it
    return env


def listing(folder: Path) -> dict:
    """Every file (and link) under ``folder`` with its modification time."""
    return {p: p.lstat().st_mtime_ns for p in folder.rglob("*") if p.is_file() or p.is_symlink()}
