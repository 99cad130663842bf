"""The one place that knows output paths, cache keys and atomic writes.

Layout under an output folder (PROTOCOL.md section 7)::

    models/<model>__<dataset>__<config>__s<seed>.h5
    attacks/<name>__<key>.npz
    figures/<id>.png, <id>.pdf
    tables/<id>.csv, .md, .tex
    claims.json

Every file is written to a temporary name in the same folder and renamed into
place, so a half-written file never carries a final name. Cache keys are short
hashes of the JSON of the settings that made a result.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import tempfile
from pathlib import Path
from typing import Callable, Iterator, TypeVar

import numpy as np

from tfadv.keys import ModelKey

T = TypeVar("T")
logger = logging.getLogger(__name__)

TMP_MARK = ".tmp-"
STAMP = "tfadv_output.json"
# Bump when the layout or the meaning of files under an output folder changes.
OUTPUT_FORMAT = 1


class OutputDirError(OSError):
    """The output folder cannot be written (permissions, full disk), or belongs to another version."""


def open_output_dir(output_dir, backend: str = "tensorflow") -> Path:
    """Checks that ``output_dir`` can hold this version's results made on ``backend``, and stamps it.

    A folder holds one Keras backend's results (its cached attacks are that
    backend's); folders stamped before backends were recorded are TensorFlow's.

    Raises:
      OutputDirError: if the folder was made by an incompatible version of
        tfadv or on another backend, holds tfadv results without a stamp, or
        cannot be written.
    """
    output_dir = Path(output_dir)
    stamp = output_dir / STAMP
    if stamp.exists():
        try:
            record = json.loads(stamp.read_text())
        except (OSError, ValueError):
            record = {}
        found = record.get("format")
        if found != OUTPUT_FORMAT:
            raise OutputDirError(
                f"{output_dir} was made by an incompatible version of tfadv (output format {found}, "
                f"this version writes {OUTPUT_FORMAT}). Use another --output_dir, or delete this one.")
        made_on = record.get("backend", "tensorflow")
        if made_on != backend:
            raise OutputDirError(
                f"{output_dir} holds results made on the {made_on} backend, and this run uses {backend}. "
                f"Use another --output_dir (e.g. --output_dir=results_{backend}), or --backend={made_on}.")
        return output_dir
    if any((output_dir / sub).exists() for sub in ("models", "attacks", "summaries")):
        raise OutputDirError(
            f"{output_dir} holds tfadv results without a {STAMP} stamp (an older, incompatible version). "
            "Use another --output_dir, or delete this one.")
    from tfadv import __version__

    write_json(stamp, {"format": OUTPUT_FORMAT, "created_by": f"tfadv {__version__}", "backend": backend})
    return output_dir


def model_path(output_dir: str | os.PathLike, key: ModelKey) -> Path:
    """Path of a trained model's HDF5 file."""
    return Path(output_dir) / "models" / key.filename


def attack_path(output_dir, kind: str, name: str, key: str) -> Path:
    """Path of one attack result: ``attacks/<kind>/<name>__<key>.npz``."""
    return Path(output_dir) / "attacks" / kind / f"{name}__{key}.npz"


def summary_path(output_dir, paper: str, key: str, suffix: str = ".npz") -> Path:
    """Path of a paper's analysed numbers (what figures and tables are drawn from)."""
    return Path(output_dir) / "summaries" / f"{paper}__{key}{suffix}"


def figure_paths(output_dir, item_id: str) -> tuple[Path, Path]:
    """``figures/<id>.png`` and ``.pdf``."""
    base = Path(output_dir) / "figures" / item_id
    return base.with_suffix(".png"), base.with_suffix(".pdf")


def table_paths(output_dir, item_id: str) -> tuple[Path, Path, Path]:
    """``tables/<id>.csv``, ``.md`` and ``.tex``."""
    base = Path(output_dir) / "tables" / item_id
    return base.with_suffix(".csv"), base.with_suffix(".md"), base.with_suffix(".tex")


def claims_path(output_dir) -> Path:
    return Path(output_dir) / "claims.json"


def cached(path, compute: Callable[[], T], save: Callable[[T, Path], object],
           load: Callable[[Path], T], *, force: bool = False) -> T:
    """Loads ``path`` if it exists, else computes, saves (atomically) and returns.

    Files are only ever renamed into place complete, so an existing path is a
    finished result; one that cannot be read (damaged outside this package)
    is computed again.
    """
    value = read_cached(path, load, force=force)
    if value is None:
        value = compute()
        save(value, path)
    return value


def read_cached(path, load: Callable[[Path], T], *, force: bool = False) -> T | None:
    """The finished result at ``path``; None when it is missing, ``force`` is set, or it cannot be read
    (damaged outside this package: warned, to be computed again)."""
    path = Path(path)
    if path.exists() and not force:
        try:
            return load(path)
        except Exception as e:  # a damaged file of any kind: make it again
            logger.warning("Could not read %s (%s); computing it again.", path, e)
    return None


def save_arrays(arrays: dict, path) -> Path:
    """Writes a dict of numpy arrays, and JSON under key ``meta``, to ``.npz`` atomically."""

    arrays = dict(arrays)
    meta = arrays.pop("meta", {})
    with atomic_path(path) as tmp:
        np.savez(tmp, __meta__=json.dumps(meta, sort_keys=True, default=_json_default), **arrays)
    return Path(path)


def load_arrays(path) -> dict:
    """Reads what ``save_arrays`` wrote."""

    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files if k != "__meta__"}
        arrays["meta"] = json.loads(str(f["__meta__"]))
    return arrays


def config_key(settings: dict) -> str:
    """A short stable hash of JSON-serialisable settings (the cache key)."""
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike) -> Iterator[Path]:
    """Yields a temporary path beside ``final``; renames it to ``final`` on success.

    The temporary name keeps ``final``'s suffix (Keras and numpy pick formats
    by suffix). On any exception the temporary file is removed and ``final``
    is left as it was.

    Raises:
      OutputDirError: when the folder cannot be created or written.
    """
    final = Path(final)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{final.stem}{TMP_MARK}", suffix=final.suffix, dir=final.parent)
        os.fchmod(fd, 0o666 & ~_umask())
        os.close(fd)
    except OSError as e:
        raise OutputDirError(
            f"Cannot write to output folder {final.parent}: {e.strerror or e}. "
            "Choose a writable folder with --output_dir, or free disk space."
        ) from e
    tmp = Path(tmp)
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, final)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        if isinstance(e, OutputDirError):
            raise
        raise OutputDirError(
            f"Writing {final} failed: {e.strerror or e}. "
            "Check free disk space and permissions of the output folder."
        ) from e
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Writes ``text`` to ``path`` atomically; returns the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_json(path: str | os.PathLike, obj) -> Path:
    """Writes ``obj`` as indented JSON to ``path`` atomically."""
    return write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def jsonable(obj):
    """Numpy values to plain Python, tuples to lists, NaN/inf to None (strict JSON)."""
    if isinstance(obj, dict):
        return {k if isinstance(k, str) else str(jsonable(k)): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray)):
        return [jsonable(v) for v in (obj.tolist() if isinstance(obj, np.ndarray) else obj)]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def read_json(path: str | os.PathLike):
    """Reads a JSON file written by ``write_json``."""
    return json.loads(Path(path).read_text())


def _json_default(obj):

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"Cannot write {type(obj).__name__} to JSON.")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())
