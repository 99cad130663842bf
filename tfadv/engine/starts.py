"""Start inputs of an evolution, drawn per example (PROTOCOL.md section 3).

numpy only. Example ``i`` of a stream is drawn from its own stateless
generator, numpy's ``Generator(Philox(key=[seed, i]))``, so a stream split
into blocks of any size, in any order, gives the same inputs.

``"uniform"`` starts are ``Generator(Philox(key=[seed, i])).random(size,
dtype=float32)``, bit for bit, but computed for a whole block of examples at
once: Philox4x64-10 is evaluated here with numpy ``uint64`` arrays over all
(example, counter) pairs, following numpy's conventions (a fresh generator
has counter 0 and an empty buffer, so its first block of four ``uint64``
words uses counter 1, the next counter 2, ...; each ``uint64`` yields its low
32 bits, then its high 32 bits; a float32 is ``(u32 >> 8) * 2**-24``).
Keys outside ``[0, 2**63)`` (where numpy's own key conversion goes through
float64) use the per-example loop, so the values never depend on the path.

``"normal"`` starts use numpy's float32 ziggurat, whose rejection steps make
the number of words an example consumes data dependent; they stay a
per-example loop over ``Generator(Philox(key=[seed, i]))``.
"""

from __future__ import annotations

import math
import operator

import numpy as np

START_KINDS = ("uniform", "normal", "constant")

# Philox4x64-10 (Salmon et al. 2011, Random123; numpy/random/src/philox).
_ROUNDS = 10
_MUL = (0xD2E7470EE14C6C93, 0xCA5A826395121157)   # round multipliers
_BUMP = (0x9E3779B97F4A7C15, 0xBB67AE8584CAA73B)  # key increments per round
_MASK64 = (1 << 64) - 1
_LOW32 = np.uint64(0xFFFFFFFF)
_SHIFT8, _SHIFT32, _SHIFT40 = np.uint64(8), np.uint64(32), np.uint64(40)
_FAST_KEY_LIMIT = 1 << 63
# Counters per block of examples: keeps the nine uint64 work arrays near
# 2 MiB whatever n is (41 examples of 28x28 per block).
_BLOCK_COUNTERS = 1 << 15


def make_starts(kind: str, n: int, seed: int, shape=(28, 28), *, offset: int = 0,
                mean: float = 0.5, sd: float = 0.5, level: float = 0.5) -> np.ndarray:
    """Start inputs drawn per example from a generator keyed on (seed, index).

    Example ``i`` of the returned array is example ``offset + i`` of the
    stream, so any split of a stream into blocks gives the same inputs.
    ``"uniform"`` is computed in batched numpy (same values as the
    per-example generator, bit for bit); ``"normal"`` is a per-example loop.

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
    if kind == "uniform" and _fast_keys(n, seed, offset):
        values = _uniform_batched(n, operator.index(seed), operator.index(offset), size)
        return values.reshape((n,) + shape)
    out = np.empty((n, size), dtype=np.float32)
    for i in range(n):
        rng = np.random.Generator(np.random.Philox(key=[seed, offset + i]))
        if kind == "uniform":
            out[i] = rng.random(size, dtype=np.float32)
        else:
            out[i] = rng.standard_normal(size, dtype=np.float32) * np.float32(sd) + np.float32(mean)
    return out.reshape((n,) + shape)


def _fast_keys(n, seed, offset) -> bool:
    """Whether every key ``[seed, offset + i]`` is integral and below 2**63."""
    try:
        n, seed, offset = operator.index(n), operator.index(seed), operator.index(offset)
    except TypeError:
        return False
    return seed < _FAST_KEY_LIMIT and offset + n <= _FAST_KEY_LIMIT


def _uniform_batched(n: int, seed: int, offset: int, size: int) -> np.ndarray:
    """``Generator(Philox(key=[seed, offset + i])).random(size, float32)`` for all i."""
    blocks = -(-size // 8)  # each counter gives 4 uint64 = 8 uint32 = 8 floats
    out = np.empty((n, blocks * 8), dtype=np.float32)
    if n == 0 or blocks == 0:
        return out[:, :size]
    per_block = max(1, _BLOCK_COUNTERS // blocks)
    for start in range(0, n, per_block):
        b = min(per_block, n - start)
        rows = out[start:start + b].reshape(b, blocks, 4, 2)
        _philox_floats(seed, offset + start, b, blocks, rows)
    out *= np.float32(2.0 ** -24)
    return out[:, :size]


def _mulhilo(a: int, x, hi, lo, t1, t2, t3) -> None:
    """``hi, lo = divmod(a * x, 2**64)`` for a uint64 constant ``a``, elementwise.

    The 64x64 -> 128 bit product is assembled from the four 32x32 -> 64 bit
    products of the halves; ``lo`` may be ``x`` itself (it is written after
    ``x`` is last read). ``t1``, ``t2``, ``t3`` are scratch arrays.
    """
    a_lo, a_hi = np.uint64(a & 0xFFFFFFFF), np.uint64(a >> 32)
    np.bitwise_and(x, _LOW32, out=t1)          # x_lo
    np.right_shift(x, _SHIFT32, out=t2)        # x_hi
    np.multiply(x, np.uint64(a), out=lo)       # low 64 bits, wrapping
    np.multiply(t1, a_lo, out=hi)
    np.right_shift(hi, _SHIFT32, out=hi)
    np.multiply(t1, a_hi, out=t1)
    np.add(t1, hi, out=t1)                     # mid1 = x_lo*a_hi + (x_lo*a_lo >> 32) < 2**64
    np.bitwise_and(t1, _LOW32, out=hi)
    np.right_shift(t1, _SHIFT32, out=t1)
    np.multiply(t2, a_lo, out=t3)
    np.add(hi, t3, out=hi)                     # mid2 = x_hi*a_lo + (mid1 & low32) < 2**64
    np.right_shift(hi, _SHIFT32, out=hi)
    np.multiply(t2, a_hi, out=t2)
    np.add(t2, t1, out=t2)
    np.add(t2, hi, out=hi)                     # x_hi*a_hi + (mid1 >> 32) + (mid2 >> 32)


def _philox_floats(seed: int, first: int, b: int, blocks: int, out: np.ndarray) -> None:
    """Fill ``out`` (float32, ``(b, blocks, 4, 2)``) with ``u32 >> 8`` (unscaled).

    Row ``j`` is example ``first + j``: key ``(seed, first + j)``, counters
    ``(c, 0, 0, 0)`` for ``c = 1..blocks``. ``out[j, c-1, w, h]`` is half ``h``
    (0 low, 1 high) of output word ``w`` of counter ``c``: numpy's draw order.
    """
    u64 = np.uint64
    key0 = [(seed + r * _BUMP[0]) & _MASK64 for r in range(_ROUNDS)]
    index = np.arange(first, first + b, dtype=u64)[:, None]
    key1 = [index + u64((r * _BUMP[1]) & _MASK64) for r in range(_ROUNDS)]  # wraps mod 2**64
    free = [np.empty((b, blocks), dtype=u64) for _ in range(6)]
    scratch = [np.empty((b, blocks), dtype=u64) for _ in range(3)]

    # One round maps (x0, x1, x2, x3) with key (k0, k1) to
    #   (hi(M1*x2) ^ x1 ^ k0, lo(M1*x2), hi(M0*x0) ^ x3 ^ k1, lo(M0*x0)).
    # Round 1: the counter is (c, 0, 0, 0), so it gives
    #   (k0, 0, hi(M0*c) ^ k1, lo(M0*c)); only word 2 depends on the example.
    ctr = np.arange(1, blocks + 1, dtype=u64)
    hi_c, lo_c = np.empty(blocks, dtype=u64), np.empty(blocks, dtype=u64)
    _mulhilo(_MUL[0], ctr, hi_c, lo_c, *(np.empty(blocks, dtype=u64) for _ in range(3)))
    x2 = free.pop()
    np.bitwise_xor(hi_c[None, :], key1[0], out=x2)
    # Round 2: word 0 is the scalar key0[0], word 1 is zero, word 3 is lo_c.
    hi_s, lo_s = divmod(_MUL[0] * key0[0], 1 << 64)
    x0 = free.pop()
    _mulhilo(_MUL[1], x2, x0, x2, *scratch)
    np.bitwise_xor(x0, u64(key0[1]), out=x0)
    x1 = x2
    x2 = free.pop()
    np.bitwise_xor(lo_c[None, :], key1[1] ^ u64(hi_s), out=x2)
    x3 = None  # the scalar lo_s, folded into the key below
    for r in range(2, _ROUNDS):
        h0, h1 = free.pop(), free.pop()
        _mulhilo(_MUL[0], x0, h0, x0, *scratch)
        _mulhilo(_MUL[1], x2, h1, x2, *scratch)
        np.bitwise_xor(h1, x1, out=h1)
        np.bitwise_xor(h1, u64(key0[r]), out=h1)
        if x3 is None:
            np.bitwise_xor(h0, key1[r] ^ u64(lo_s), out=h0)
        else:
            np.bitwise_xor(h0, x3, out=h0)
            np.bitwise_xor(h0, key1[r], out=h0)
            free.append(x3)
        free.append(x1)
        x0, x1, x2, x3 = h1, x2, h0, x0

    tmp = scratch[0]
    for w, word in enumerate((x0, x1, x2, x3)):
        np.bitwise_and(word, _LOW32, out=tmp)
        np.right_shift(tmp, _SHIFT8, out=tmp)
        out[:, :, w, 0] = tmp                  # < 2**24: exact in float32
        np.right_shift(word, _SHIFT40, out=tmp)
        out[:, :, w, 1] = tmp
