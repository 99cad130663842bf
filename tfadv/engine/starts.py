"""Start inputs of an evolution, drawn per example (PROTOCOL.md section 3).

numpy only: each example comes from its own stateless Philox generator keyed
on ``[seed, index]``, so a stream split into blocks of any size, in any order,
gives the same inputs.
"""

from __future__ import annotations

import math

import numpy as np

START_KINDS = ("uniform", "normal", "constant")


def make_starts(kind: str, n: int, seed: int, shape=(28, 28), *, offset: int = 0,
                mean: float = 0.5, sd: float = 0.5, level: float = 0.5) -> np.ndarray:
    """Start inputs drawn per example from a generator keyed on (seed, index).

    Example ``i`` of the returned array is example ``offset + i`` of the
    stream, so any split of a stream into blocks gives the same inputs.

    Args:
      kind: ``"uniform"`` (U[0, 1]), ``"normal"`` (N(mean, sd)), or
        ``"constant"`` (every pixel ``level``).
      n: number of examples.
      seed: the stream's seed (a non-negative integer).
      shape: shape of one example.
      offset: index of the first example in the stream.

    Returns:
      float32 array of shape ``(n, *shape)``; not clipped.
    """
    if kind not in START_KINDS:
        raise ValueError(f"Unknown start kind {kind!r}; choose one of {START_KINDS}.")
    if n < 0 or seed < 0 or offset < 0:
        raise ValueError(f"n, seed and offset must be non-negative (got {n}, {seed}, {offset}).")
    shape = tuple(shape)
    if kind == "constant":
        return np.full((n,) + shape, level, dtype=np.float32)
    size = math.prod(shape)
    out = np.empty((n, size), dtype=np.float32)
    for i in range(n):
        rng = np.random.Generator(np.random.Philox(key=[seed, offset + i]))
        if kind == "uniform":
            out[i] = rng.random(size, dtype=np.float32)
        else:
            out[i] = rng.standard_normal(size, dtype=np.float32) * np.float32(sd) + np.float32(mean)
    return out.reshape((n,) + shape)
