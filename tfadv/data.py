"""MNIST and Fashion-MNIST: IDX / npz readers, checksums and the data search path.

PROTOCOL.md section 1: 60k/10k splits, pixels scaled to [0, 1], sha256 of the
decoded data checked against ``shared/data/README.md``. A dataset is looked for,
in order, in

1. the ``data_dir`` argument (``DIR/<mnist|fashion-mnist>/`` or ``DIR``); an
   explicit ``data_dir`` without the data is an error, never a fallback;
2. ``$TFADV_DATA_DIR/<mnist|fashion-mnist>/``, then ``$TFADV_DATA_DIR``;
3. the Keras cache (``~/.keras/datasets/mnist.npz``; ``.../fashion-mnist/``);
4. ``/usr/share/datasets/fashion-mnist/`` (Debian ``dataset-fashion-mnist``);
5. ``keras.datasets.<name>.load_data()``, which downloads (the only place this
   module imports keras, so ``import tfadv.data`` never loads TensorFlow).

The first place holding a complete set wins; if that set is corrupt, loading
raises instead of trying the next place. A folder holds a set when it has the
four IDX files (``.gz`` or raw) or the dataset's ``.npz``. Checksums are taken
over the IDX bytes (header + data) of each decoded array, which equal the
decompressed IDX files, so one table serves IDX and npz sources alike.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import zipfile
import zlib
from pathlib import Path
from typing import Mapping, NamedTuple

import numpy as np

from tfadv.idx import (  # noqa: F401  (errors and IDX I/O are part of this API)
    ENV_VAR, FIX_CORRUPT, IMAGES_MAGIC, LABELS_MAGIC, DataChecksumError, DataCorruptError, DataError,
    DataFormatError, DataNotFoundError, idx_sha256, read_idx, write_idx,
)

DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
DATASETS = ("mnist", "fashion_mnist")
_ALIASES = {"fashion-mnist": "fashion_mnist"}
_SUBDIRS = {"mnist": ("mnist",), "fashion_mnist": ("fashion-mnist", "fashion_mnist")}
_NPZ_NAMES = {"mnist": ("mnist.npz",), "fashion_mnist": ("fashion-mnist.npz",)}

FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
_NPZ_KEYS = dict(zip(FILES, ("x_train", "y_train", "x_test", "y_test")))
IMAGE_SHAPE = (28, 28)
NUM_CLASSES = 10

# sha256 of the decompressed IDX files (shared/data/README.md).
SHA256 = {
    "mnist": {
        "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
    "fashion_mnist": {
        "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
}

CLASS_NAMES = {
    "mnist": ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
    "fashion_mnist": [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ],
}

Splits = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """Where a dataset came from and what it is.

    Attributes:
      name: canonical name, ``"mnist"`` or ``"fashion_mnist"``.
      source_path: the folder or ``.npz`` read, or the keras download call.
      sha256: IDX file name -> sha256 of its decompressed bytes.
      fingerprint: first 16 hex of sha256 over the four digests concatenated
        in ``FILES`` order; record it with every result.
      verified: whether the digests were checked against ``SHA256``.
    """

    name: str
    source_path: str
    sha256: Mapping[str, str] = dataclasses.field(hash=False)
    fingerprint: str
    verified: bool

def load_dataset_with_info(
    name: str,
    data_dir: str | os.PathLike | None = None,
    *,
    verify: bool = True,
    download: bool = True,
) -> tuple[Splits, DatasetInfo]:
    """Loads a dataset and says where it came from.

    Args:
      name: ``"mnist"`` or ``"fashion_mnist"`` (alias ``"fashion-mnist"``).
      data_dir: folder holding the files, or a parent with a ``mnist/`` or
        ``fashion-mnist/`` subfolder, or an ``.npz``; None searches the default
        places (module docstring).
      verify: check the sha256 of the decoded data against ``SHA256``.
      download: allow the final ``keras.datasets`` download.

    Returns:
      ``((x_train, y_train), (x_test, y_test)), info``: read-only float32 images
      in [0, 1] shaped (N, 28, 28) and read-only uint8 labels shaped (N,); the
      arrays are cached, so copy them (``np.array(x)``) before writing.

    Raises:
      ValueError: unknown name.
      DataNotFoundError: no complete set anywhere (or in ``data_dir``).
      DataCorruptError, DataFormatError, DataChecksumError: bad data.
    """
    name = canonical_name(name)
    source, looked = _locate(name, data_dir)
    decoded = _decode(source) if source is not None else _download(name, looked, download)
    digests = dict(decoded.digests)
    if verify:
        _verify(name, digests, decoded.where)
    info = DatasetInfo(name, decoded.source_path, digests, fingerprint_of(digests), verify)
    return decoded.splits, info


def load_dataset(
    name: str,
    data_dir: str | os.PathLike | None = None,
    *,
    verify: bool = True,
    download: bool = True,
) -> Splits:
    """``load_dataset_with_info`` without the info: ``(x_train, y_train), (x_test, y_test)``."""
    return load_dataset_with_info(name, data_dir, verify=verify, download=download)[0]


# --- internals ---------------------------------------------------------------


class _Source(NamedTuple):
    kind: str  # "idx": four files in FILES order; "npz": one file.
    paths: tuple[Path, ...]
    stamp: tuple[tuple[int, int], ...]  # (size, mtime_ns): edits invalidate the cache.


class _Decoded(NamedTuple):
    splits: Splits
    digests: tuple[tuple[str, str], ...]
    where: dict[str, str]  # IDX file name -> the file (or npz key) it came from.
    source_path: str


def canonical_name(name: str) -> str:
    name = _ALIASES.get(name, name)
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)} (alias fashion-mnist)")
    return name


def _make_source(kind: str, paths: tuple[Path, ...]) -> _Source:
    paths = tuple(p.resolve() for p in paths)
    stats = [p.stat() for p in paths]
    return _Source(kind, paths, tuple((s.st_size, s.st_mtime_ns) for s in stats))


def _probe(place: Path, name: str) -> tuple[_Source | None, str]:
    """A complete set at ``place``, or None and why not."""
    if place.is_file():
        if place.suffix == ".npz":
            return _make_source("npz", (place,)), ""
        return None, "is a file, not a folder or .npz"
    if not place.is_dir():
        return None, "does not exist"
    found = {b: next((p for p in (place / f"{b}.gz", place / b) if p.is_file()), None) for b in FILES}
    if all(found.values()):
        return _make_source("idx", tuple(found.values())), ""
    for npz in _NPZ_NAMES[name]:
        if (place / npz).is_file():
            return _make_source("npz", (place / npz,)), ""
    missing = [b for b, p in found.items() if p is None]
    if len(missing) < len(FILES):
        return None, f"incomplete, missing {', '.join(missing)} (.gz or raw)"
    return None, f"no IDX files and no {_NPZ_NAMES[name][0]}"


def _under(root: Path, name: str) -> list[Path]:
    return [root / sub for sub in _SUBDIRS[name]] + [root]


def _keras_datasets_dir() -> Path:
    return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras") / "datasets"


def _locate(name: str, data_dir: str | os.PathLike | None) -> tuple[_Source | None, list[str]]:
    """The first complete set in the search order, and the places looked at."""
    looked: list[str] = []

    def first(places: list[Path]) -> _Source | None:
        for place in places:
            source, why = _probe(place, name)
            if source is not None:
                return source
            looked.append(f"{place}: {why}")
        return None

    if data_dir is not None:
        root = Path(data_dir).expanduser()
        source = first(_under(root, name))
        if source is None:
            raise DataNotFoundError(_not_found(name, f"data_dir {root} does not hold {name}", looked, True))
        return source, looked
    env = os.environ.get(ENV_VAR)
    if env:
        places = _under(Path(env).expanduser(), name)
    else:
        places = []
        looked.append(f"${ENV_VAR}: not set")
    keras_dir = _keras_datasets_dir()
    places.append(keras_dir / "mnist.npz" if name == "mnist" else keras_dir / "fashion-mnist")
    if name == "fashion_mnist":
        places.append(DEBIAN_FASHION_DIR)
    return first(places), looked


def _not_found(name: str, head: str, looked: list[str], explicit: bool) -> str:
    places = "\n".join(f"  {i}. {line}" for i, line in enumerate(looked, 1))
    files = ", ".join(f"{b}.gz" for b in FILES)
    tail = (
        "; or omit data_dir to search the default places."
        if explicit
        else f"; or allow network access so keras.datasets.{name}.load_data() can download it."
    )
    return (
        f"{head}. Looked in, in order:\n{places}\n"
        f"Fix: pass --data_dir DIR (data_dir=DIR) or set {ENV_VAR}=DIR, where DIR or "
        f"DIR/{_SUBDIRS[name][0]}/ holds the four IDX files {files} (gzipped or raw) "
        f"or {_NPZ_NAMES[name][0]}{tail}"
    )


def _keras_download(name: str) -> Splits:
    import keras  # Deferred: keras loads TensorFlow.

    return getattr(keras.datasets, name).load_data()


def _download(name: str, looked: list[str], allowed: bool) -> _Decoded:
    call = f"keras.datasets.{name}.load_data()"
    if not allowed:
        looked.append(f"{call}: skipped (download=False)")
    else:
        try:
            (x_train, y_train), (x_test, y_test) = _keras_download(name)
        except Exception as exc:  # Any failure: report it with the other places.
            looked.append(f"{call}: failed ({type(exc).__name__}: {' '.join(str(exc).split())[:300]})")
        else:
            arrays = dict(zip(FILES, map(np.asarray, (x_train, y_train, x_test, y_test))))
            return _build(arrays, {b: f"{call}[{_NPZ_KEYS[b]}]" for b in FILES}, call)
    raise DataNotFoundError(_not_found(name, f"{name} not found", looked, False))


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in _NPZ_KEYS.values() if k not in npz.files]
            if missing:
                raise DataFormatError(f"{path}: missing arrays {missing}; expected keys {list(_NPZ_KEYS.values())}.")
            return {b: npz[key] for b, key in _NPZ_KEYS.items()}
    except (zipfile.BadZipFile, EOFError, OSError, zlib.error) as exc:
        raise DataCorruptError(f"{path}: cannot read npz ({type(exc).__name__}: {exc}). {FIX_CORRUPT}") from exc


@functools.lru_cache(maxsize=4)
def _decode(source: _Source) -> _Decoded:
    if source.kind == "npz":
        path = source.paths[0]
        return _build(_read_npz(path), {b: f"{path}[{_NPZ_KEYS[b]}]" for b in FILES}, str(path))
    magics = (IMAGES_MAGIC, LABELS_MAGIC) * 2
    arrays = {b: read_idx(p, m) for b, p, m in zip(FILES, source.paths, magics)}
    return _build(arrays, {b: str(p) for b, p in zip(FILES, source.paths)}, str(source.paths[0].parent))


def _build(arrays: dict[str, np.ndarray], where: dict[str, str], source_path: str) -> _Decoded:
    """Checks shapes, counts and labels; hashes; scales images to read-only float32."""
    splits = []
    for split in ("train", "t10k"):
        xb, yb = f"{split}-images-idx3-ubyte", f"{split}-labels-idx1-ubyte"
        x, y = arrays[xb], arrays[yb]
        for b, a in ((xb, x), (yb, y)):
            if a.dtype != np.uint8:
                raise DataFormatError(f"{where[b]}: dtype {a.dtype}, expected uint8. {FIX_CORRUPT}")
        if x.ndim != 3 or x.shape[1:] != IMAGE_SHAPE:
            raise DataFormatError(f"{where[xb]}: images have shape {x.shape}, expected (N, 28, 28). {FIX_CORRUPT}")
        if y.ndim != 1:
            raise DataFormatError(f"{where[yb]}: labels have shape {y.shape}, expected (N,). {FIX_CORRUPT}")
        if len(x) != len(y):
            raise DataFormatError(
                f"count mismatch: {where[xb]} holds {len(x)} images but {where[yb]} holds {len(y)} labels; "
                f"the files do not belong together. {FIX_CORRUPT}"
            )
        if y.size and int(y.max()) >= NUM_CLASSES:
            raise DataFormatError(f"{where[yb]}: label {int(y.max())} is not in 0..9. {FIX_CORRUPT}")
        images = x.astype(np.float32)
        images /= 255.0
        labels = np.array(y, dtype=np.uint8)
        images.flags.writeable = labels.flags.writeable = False
        splits.append((images, labels))
    digests = tuple((b, idx_sha256(arrays[b])) for b in FILES)
    return _Decoded((splits[0], splits[1]), digests, where, source_path)


def fingerprint_of(digests: Mapping[str, str]) -> str:
    return hashlib.sha256("".join(digests[b] for b in FILES).encode()).hexdigest()[:16]


def _verify(name: str, digests: Mapping[str, str], where: Mapping[str, str]) -> None:
    known = {d: f"{ds}/{b}" for ds, table in SHA256.items() for b, d in table.items()}
    bad = []
    for b in FILES:
        expected, actual = SHA256[name][b], digests[b]
        if actual != expected:
            hint = f" (these are the bytes of {known[actual]}: wrong dataset in this place?)" if actual in known else ""
            bad.append(f"  {where[b]}: expected sha256 {expected}, got {actual}{hint}")
    if bad:
        raise DataChecksumError(
            f"{name}: checksum mismatch for {len(bad)} file(s):\n" + "\n".join(bad) + "\n"
            "Fix: the file is corrupt or a different version; delete it and re-download it "
            f"(e.g. keras.datasets.{name}.load_data()), or, if the change is deliberate, pass --no_verify "
            "(verify=False in Python), which the run's manifest records."
        )
