"""Perturbation abstractions and dataset-derived patterns (tfadv.abstraction)."""

import math

import numpy as np
import pytest

from tfadv import abstraction

# Three perturbations of 4 pixels (kept as 2x2 images to check the trailing shape).
DELTAS = np.array([[0.1, -0.4, 0.0, 0.2],
                   [0.3, 0.2, -0.2, -0.2],
                   [-0.5, 0.1, 0.3, 0.2]]).reshape(3, 2, 2)


@pytest.mark.parametrize("method, p, expected", [
    ("mean", None, [-0.1 / 3, -0.1 / 3, 0.1 / 3, 0.2 / 3]),
    ("median", None, [0.1, 0.1, 0.0, 0.2]),
    ("sign", None, [1 / 3, 1 / 3, 0.0, 1 / 3]),
    # ceil(p% of 4 pixels) = 1 for p in {1, 5, 20}: keep -0.4, 0.3 and -0.5 respectively.
    ("top", 1, [-0.2 / 3, -0.4 / 3, 0.0, 0.0]),
    ("top", 5, [-0.2 / 3, -0.4 / 3, 0.0, 0.0]),
    ("top", 20, [-0.2 / 3, -0.4 / 3, 0.0, 0.0]),
    # ceil(0.26 * 4) = 2: keep (-0.4, 0.2), (0.3, first tied 0.2), (-0.5, 0.3).
    ("top", 26, [-0.2 / 3, -0.2 / 3, 0.1, 0.2 / 3]),
])
def test_abstract_hand_examples(method, p, expected):
    pattern = abstraction.abstract(DELTAS, method, p)
    assert pattern.shape == (2, 2) and pattern.dtype == np.float64
    np.testing.assert_allclose(pattern.ravel(), expected, atol=1e-12)


def test_top_breaks_ties_toward_the_earlier_pixel():
    delta = np.array([[0.2, -0.2, 0.2, 0.1]])
    np.testing.assert_array_equal(abstraction.abstract(delta, "top", 25), [0.2, 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(abstraction.abstract(delta, "top", 50), [0.2, -0.2, 0.0, 0.0])
    np.testing.assert_array_equal(abstraction.abstract(delta, "top", 100), delta[0])


@pytest.mark.parametrize("method, p, message", [
    ("mode", None, "Unknown abstraction"),
    ("top", None, "needs a percentage"),
    ("top", 0, "needs a percentage"),
    ("top", 101, "needs a percentage"),
    ("mean", 5, "applies only to method 'top'"),
])
def test_abstract_rejects_bad_method_or_p(method, p, message):
    with pytest.raises(ValueError, match=message):
        abstraction.abstract(DELTAS, method, p)
    with pytest.raises(ValueError, match=message):
        abstraction.class_patterns(DELTAS, np.zeros(3, int), method, p)


def test_abstract_rejects_an_empty_stack():
    with pytest.raises(ValueError, match="non-empty"):
        abstraction.abstract(np.zeros((0, 4)), "mean")


def test_abstractions_list_the_protocol_variants():
    names = [a.name for a in abstraction.ABSTRACTIONS]
    assert names == ["mean", "median", "sign", "top-1", "top-5", "top-20"]
    assert abstraction.ABSTRACTIONS[4] == abstraction.Abstraction("top-5", "top", 5)
    for a in abstraction.ABSTRACTIONS:
        assert abstraction.abstract(DELTAS, a.method, a.p).shape == (2, 2)


def test_class_patterns_with_a_missing_class():
    patterns = abstraction.class_patterns(DELTAS, np.array([0, 0, 2]), "median", n_classes=3)
    assert patterns.shape == (3, 2, 2)
    np.testing.assert_allclose(patterns[0].ravel(), [0.2, -0.1, -0.1, 0.0], atol=1e-12)
    np.testing.assert_allclose(patterns[2], DELTAS[2])
    assert np.isnan(patterns[1]).all()


def test_first_k_keeps_the_first_starts():
    start_index = np.array([0, 1, 2, 0, 1, 2])
    deltas = np.arange(6.0)[:, None]
    targets = np.array([0, 0, 0, 1, 1, 1])
    kept_deltas, kept_targets = abstraction.first_k(deltas, targets, start_index, 2)
    np.testing.assert_array_equal(kept_deltas.ravel(), [0, 1, 3, 4])
    np.testing.assert_array_equal(kept_targets, [0, 0, 1, 1])
    all_deltas, _ = abstraction.first_k(deltas, targets, start_index, None)
    assert len(all_deltas) == 6
    with pytest.raises(ValueError, match="at least 1"):
        abstraction.first_k(deltas, targets, start_index, 0)


def test_split_halves_are_disjoint_and_cover():
    start_index = np.tile(np.arange(5), 10)
    mask_a, mask_b = abstraction.split_halves(start_index, 5)
    assert not (mask_a & mask_b).any() and (mask_a | mask_b).all()
    assert set(start_index[mask_a]) == {0, 2, 4} and set(start_index[mask_b]) == {1, 3}
    with pytest.raises(ValueError):
        abstraction.split_halves(start_index, 4)


# Two classes (and an empty third); pixel 2 is constant, so its sd is 0.
IMAGES = np.array([[0.0, 1.0, 0.5], [2.0, 1.0, 0.5], [4.0, 1.0, 0.5], [6.0, 5.0, 0.5]], dtype=np.float32)
LABELS = np.array([0, 0, 1, 1])


@pytest.mark.parametrize("variant, expected", [
    # mu = (3, 2, 0.5), mu_0 = (1, 1, 0.5), mu_1 = (5, 3, 0.5).
    ("mean_diff", [[-2.0, -1.0, 0.0], [2.0, 1.0, 0.0]]),
    ("one_vs_rest", [[-4.0, -2.0, 0.0], [4.0, 2.0, 0.0]]),
    # sd over all images: sqrt(20 / 4), sqrt(12 / 4), 0.
    ("standardised", [[-2 / math.sqrt(5), -1 / math.sqrt(3), 0.0], [2 / math.sqrt(5), 1 / math.sqrt(3), 0.0]]),
])
def test_dataset_patterns_hand_example(variant, expected):
    patterns = abstraction.dataset_patterns(IMAGES, LABELS, variant, n_classes=3)
    assert patterns.shape == (3, 3) and patterns.dtype == np.float64
    np.testing.assert_allclose(patterns[:2], expected, atol=1e-12)
    assert np.isnan(patterns[2]).all()
    assert variant in abstraction.DATASET_VARIANTS


def test_dataset_patterns_keep_the_image_shape_and_reject_bad_input():
    patterns = abstraction.dataset_patterns(IMAGES.reshape(4, 1, 3), LABELS, n_classes=2)
    assert patterns.shape == (2, 1, 3)
    with pytest.raises(ValueError, match="Unknown dataset-pattern"):
        abstraction.dataset_patterns(IMAGES, LABELS, "zscore")
    with pytest.raises(ValueError, match="labels"):
        abstraction.dataset_patterns(IMAGES, LABELS + 1, n_classes=2)


def test_norm_matched_random():
    pattern = np.arange(16.0).reshape(4, 4) - 5
    a = abstraction.norm_matched_random(pattern, seed=0)
    assert a.shape == (4, 4)
    assert np.linalg.norm(a) == pytest.approx(np.linalg.norm(pattern), rel=1e-12)
    np.testing.assert_array_equal(a, abstraction.norm_matched_random(pattern, seed=0))
    assert not np.allclose(a, abstraction.norm_matched_random(pattern, seed=1))
    with pytest.raises(ValueError, match="finite"):
        abstraction.norm_matched_random(np.full(4, np.nan), seed=0)
