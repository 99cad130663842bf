"""The batched "uniform" starts equal numpy's per-example Philox draws, bit for bit."""

import numpy as np
import pytest

from tfadv.engine import make_starts
from tfadv.engine import starts as starts_module


def reference_uniform(n, seed, shape=(28, 28), offset=0):
    """The per-example loop the batched code replaces."""
    size = int(np.prod(shape))
    out = np.empty((n, size), dtype=np.float32)
    for i in range(n):
        rng = np.random.Generator(np.random.Philox(key=[seed, offset + i]))
        out[i] = rng.random(size, dtype=np.float32)
    return out.reshape((n,) + tuple(shape))


def assert_bitwise_equal(a, b):
    assert a.dtype == b.dtype == np.float32
    assert a.shape == b.shape
    assert np.array_equal(a.view(np.uint32), b.view(np.uint32))


@pytest.mark.parametrize("seed, n, offset, shape", [
    (0, 7, 0, (28, 28)),
    (7, 3, 0, (28, 28)),
    (2**40, 5, 0, (28, 28)),
    (20220128, 6, 11, (28, 28)),
    (20220128, 9, 0, (5,)),
    (3, 4, 2**40, (5,)),
    (2**63 - 1, 3, 2**63 - 3, (13,)),  # largest keys on the batched path
    (1, 1, 0, (28, 28)),
    (1, 1, 123, (5,)),
    (1, 0, 0, (28, 28)),
    (1, 0, 4, (5,)),
    (5, 4, 0, (1,)),
    (5, 4, 0, (3, 3)),   # size not a multiple of 8 or of 2
    (5, 4, 0, (16,)),    # exactly two counters
    (5, 3, 0, (0,)),
])
def test_uniform_matches_per_example_philox(seed, n, offset, shape):
    got = make_starts("uniform", n, seed, shape, offset=offset)
    assert_bitwise_equal(got, reference_uniform(n, seed, shape, offset))


def test_uniform_matches_across_several_internal_blocks(monkeypatch):
    monkeypatch.setattr(starts_module, "_BLOCK_COUNTERS", 200)  # 2 examples of 28x28 per block
    got = make_starts("uniform", 9, 20220128, offset=5)
    assert_bitwise_equal(got, reference_uniform(9, 20220128, offset=5))


def test_uniform_large_n_default_blocks():
    got = make_starts("uniform", 300, 7)
    assert_bitwise_equal(got, reference_uniform(300, 7))


def test_block_split_gives_same_stream():
    whole = make_starts("uniform", 10, 20220128)
    parts = np.concatenate([make_starts("uniform", 3, 20220128),
                            make_starts("uniform", 7, 20220128, offset=3)])
    assert_bitwise_equal(whole, parts)


def test_keys_at_or_above_2_63_use_the_per_example_loop():
    # numpy converts such keys through float64; the fallback reproduces that.
    for seed, offset in [(2**63, 0), (5, 2**63 - 1), (2**64 - 1, 2**64 - 4)]:
        got = make_starts("uniform", 3, seed, (5,), offset=offset)
        assert_bitwise_equal(got, reference_uniform(3, seed, (5,), offset))


def test_numpy_integer_arguments():
    got = make_starts("uniform", np.int64(4), np.uint64(2**40), (5,), offset=np.int32(2))
    assert_bitwise_equal(got, reference_uniform(4, 2**40, (5,), 2))


def test_normal_and_constant_unchanged():
    n, seed = 4, 3
    expect = np.stack([
        np.random.Generator(np.random.Philox(key=[seed, 2 + i]))
        .standard_normal(784, dtype=np.float32) * np.float32(0.25) + np.float32(0.1)
        for i in range(n)]).reshape(n, 28, 28)
    assert_bitwise_equal(make_starts("normal", n, seed, offset=2, mean=0.1, sd=0.25), expect)
    assert np.all(make_starts("constant", 2, 0, (5,), level=0.3) == np.float32(0.3))


def test_validation_unchanged():
    with pytest.raises(ValueError):
        make_starts("perlin", 3, 0)
    for n, seed, offset in [(-1, 0, 0), (1, -1, 0), (1, 0, -1)]:
        with pytest.raises(ValueError):
            make_starts("uniform", n, seed, offset=offset)
