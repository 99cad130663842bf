"""The IDX file format of MNIST and Fashion-MNIST: reading, writing, checksums, errors.

Checksums are taken over the IDX bytes (header + data) of an array, which equal
the decompressed IDX file, so one table of sha256 serves IDX and npz sources.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np

ENV_VAR = "TFADV_DATA_DIR"
LABELS_MAGIC, IMAGES_MAGIC = 2049, 2051
_MAGIC_NAMES = {LABELS_MAGIC: "2049, labels", IMAGES_MAGIC: "2051, images"}

FIX_CORRUPT = (
    "Fix: delete the corrupt file and download it again, or point --data_dir / "
    f"{ENV_VAR} at an intact copy."
)


class DataError(Exception):
    """Base class of every data loading error."""


class DataNotFoundError(DataError, FileNotFoundError):
    """No complete dataset in any place looked at (all are listed)."""


class DataCorruptError(DataError, ValueError):
    """A file cannot be decompressed or is shorter/longer than its header says."""


class DataFormatError(DataError, ValueError):
    """Wrong IDX magic, image shape, dtype, label range or image/label counts."""


class DataChecksumError(DataError, ValueError):
    """The decoded data does not have the published sha256."""


def read_idx(path: str | os.PathLike, magic: int | None = None) -> np.ndarray:
    """Reads an unsigned-byte IDX file (gzipped when the name ends in ``.gz``).

    Args:
      path: the file.
      magic: expected magic number (2049 labels, 2051 images); None accepts any.

    Returns:
      A writable uint8 array shaped as the header says.

    Raises:
      DataCorruptError: undecompressable, truncated or over-long file.
      DataFormatError: not a uint8 IDX file, or not the expected magic.
    """
    path = Path(path)
    data = read_bytes(path)
    if len(data) < 4:
        raise DataCorruptError(f"{path}: {len(data)} bytes is too short for an IDX header. {FIX_CORRUPT}")
    found = int.from_bytes(data[:4], "big")
    if found >> 8 != 0x08 or (found & 0xFF) == 0 or (magic is not None and found != magic):
        want = _MAGIC_NAMES.get(magic, magic) if magic else "0x0801..0x08ff (uint8 IDX)"
        hint = " It holds gzip data: its name should end in .gz." if data[:2] == b"\x1f\x8b" else ""
        raise DataFormatError(f"{path}: wrong IDX magic number {found}, expected {want}.{hint} {FIX_CORRUPT}")
    ndim = found & 0xFF
    start = 4 + 4 * ndim
    if len(data) < start:
        raise DataCorruptError(f"{path}: truncated inside the IDX header. {FIX_CORRUPT}")
    shape = struct.unpack_from(f">{ndim}I", data, 4)
    size, got = math.prod(shape), len(data) - start
    if got != size:
        what = "truncated" if got < size else f"{got - size} bytes too long"
        raise DataCorruptError(
            f"{path}: header says shape {shape} ({size} bytes of data) but the file has {got}: "
            f"the file is {what}. {FIX_CORRUPT}"
        )
    return np.frombuffer(data, np.uint8, count=size, offset=start).reshape(shape).copy()


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Writes a uint8 array as an IDX file, gzipped when the name ends in ``.gz``."""
    array = np.asarray(array)
    if array.dtype != np.uint8 or not 1 <= array.ndim <= 255:
        raise ValueError(f"write_idx needs a uint8 array with 1..255 dims, got {array.dtype} {array.shape}")
    data = idx_header(array.shape) + np.ascontiguousarray(array).tobytes()
    path = Path(path)
    path.write_bytes(gzip.compress(data, mtime=0) if path.suffix == ".gz" else data)


def read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc}).") from exc
    if path.suffix != ".gz":
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as exc:  # BadGzipFile is an OSError.
        raise DataCorruptError(
            f"{path}: cannot decompress ({type(exc).__name__}: {exc}); the gzip file is truncated "
            f"or corrupt. {FIX_CORRUPT}"
        ) from exc


def idx_header(shape: tuple[int, ...]) -> bytes:
    return struct.pack(f">I{len(shape)}I", 0x0800 + len(shape), *shape)


def idx_sha256(array: np.ndarray) -> str:
    digest = hashlib.sha256(idx_header(array.shape))
    digest.update(np.ascontiguousarray(array).reshape(-1).data)
    return digest.hexdigest()
