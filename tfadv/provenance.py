"""What made a result: package versions and the git commit of the package's source.

``package_versions`` goes into every model file's metadata and the manifest;
``git_record`` into the manifest (STYLE.md habit 10, self-describing runs).
"""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

NOT_A_CHECKOUT = "not a git checkout"


def package_versions() -> dict:
    """Versions of what produced a result: the Keras backend in use, its float32 precision (``"highest"``:
    full float32; ``"tf32"``: TF32 allowed on GPUs, ``tfadv.backends.set_precision``) and its framework's
    version(s)."""
    import h5py
    import keras
    import numpy as np

    import tfadv
    from tfadv.backends import framework_versions, requested_precision

    backend = keras.backend.backend()
    return {
        "tfadv": tfadv.__version__,
        "backend": backend,
        "precision": requested_precision(),
        "keras": keras.__version__,
        **framework_versions(backend),
        "numpy": np.__version__,
        "h5py": h5py.__version__,
        "python": platform.python_version(),
    }


def _git(folder: Path, *args: str) -> subprocess.CompletedProcess | None:
    # --no-optional-locks: reading the status must not rewrite the repository's index.
    env = dict(os.environ, GIT_OPTIONAL_LOCKS="0", LC_ALL="C")
    try:
        return subprocess.run(["git", "--no-optional-locks", "-C", str(folder), *args], capture_output=True,
                              text=True, timeout=30, env=env, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None


def git_record(folder: str | os.PathLike | None = None) -> dict:
    """The git commit of the folder holding the package, and whether its tracked files differ from it.

    Args:
      folder: default the folder of the ``tfadv`` package in use. It counts as
        a checkout only when its ``__init__.py`` is tracked by git, so an
        installed copy inside some repository (``.venv/lib/.../tfadv``) is
        not mistaken for the repository's source.

    Returns:
      ``{"commit": <sha> or "not a git checkout", "dirty": bool or None,
      "path": <the folder>}``; ``dirty`` ignores untracked files.
    """
    if folder is None:
        import tfadv

        folder = Path(tfadv.__file__).parent
    folder = Path(folder).resolve()
    record = {"commit": NOT_A_CHECKOUT, "dirty": None, "path": str(folder)}
    tracked = _git(folder, "ls-files", "--error-unmatch", "--", "__init__.py")
    head = _git(folder, "rev-parse", "--verify", "HEAD") if tracked and tracked.returncode == 0 else None
    if head is None or head.returncode != 0:
        return record
    status = _git(folder, "status", "--porcelain", "--untracked-files=no")
    record["commit"] = head.stdout.strip()
    record["dirty"] = None if status is None or status.returncode != 0 else bool(status.stdout.strip())
    return record
