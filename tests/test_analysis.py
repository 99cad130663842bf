"""Statistics and claim verdicts (tfadv.analysis): hand-computed numbers."""

import json
import math

import numpy as np
import pytest

from tfadv import analysis, verdicts


# ---------------------------------------------------------------- similarity


def test_pearson_known_patterns():
    a = np.array([1.0, 2.0, 3.0])
    assert analysis.pearson(a, a) == pytest.approx(1.0)
    assert analysis.pearson(a, -a) == pytest.approx(-1.0)
    assert analysis.pearson(a, [1.0, 3.0, 2.0]) == pytest.approx(0.5)
    assert analysis.pearson(a.reshape(3, 1), [[3.0], [2.0], [1.0]]) == pytest.approx(-1.0)


def test_pearson_constant_or_nan_is_nan():
    assert math.isnan(analysis.pearson([1.0, 2.0, 3.0], [0.3, 0.3, 0.3]))
    assert math.isnan(analysis.pearson([np.nan, np.nan, np.nan], [1.0, 2.0, 3.0]))


def test_pearson_matrix_equals_pairwise_loop():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(5, 4, 4)).astype(np.float32)
    b = rng.normal(size=(3, 16))
    b[1] = 0.7  # constant
    b[2] = np.nan  # a class without examples
    r = analysis.pearson_matrix(a, b)
    assert r.shape == (5, 3) and r.dtype == np.float64
    for i in range(5):
        assert r[i, 0] == pytest.approx(np.corrcoef(a[i].ravel(), b[0])[0, 1], abs=1e-12)
    assert np.isnan(r[:, 1:]).all()
    square = analysis.pearson_matrix(a)
    assert square.shape == (5, 5)
    np.testing.assert_allclose(square, np.corrcoef(a.reshape(5, -1).astype(np.float64)), atol=1e-12)


def test_pearson_matrix_rejects_mismatched_pixels():
    with pytest.raises(ValueError, match="pixel count"):
        analysis.pearson_matrix(np.ones((2, 4)), np.ones((2, 5)))


def test_mean_pairwise_r_hand_example():
    # r(p0, p1) = 0.5, r(p0, p2) = -1, r(p1, p2) = -0.5 -> mean -1/3.
    patterns = np.array([[1.0, 2.0, 3.0], [1.0, 3.0, 2.0], [3.0, 2.0, 1.0]])
    assert analysis.mean_pairwise_r(patterns) == pytest.approx(-1 / 3)
    with_constant = np.vstack([patterns, [[0.5, 0.5, 0.5]]])
    assert analysis.mean_pairwise_r(with_constant) == pytest.approx(-1 / 3)
    assert math.isnan(analysis.mean_pairwise_r(with_constant[[0, 3]]))
    assert math.isnan(analysis.mean_pairwise_r(patterns[:1]))


def test_class_means_with_missing_class():
    images = np.array([[[0.0, 2.0]], [[2.0, 4.0]], [[5.0, 5.0]]], dtype=np.float32)
    means = analysis.class_means(images, np.array([0, 0, 1]), n_classes=3)
    assert means.shape == (3, 1, 2)
    np.testing.assert_allclose(means[:2], [[[1.0, 3.0]], [[5.0, 5.0]]])
    assert np.isnan(means[2]).all()


def test_same_vs_other_and_nearest_identifies():
    r = np.array([[0.9, 0.2, 0.1],
                  [0.3, 0.5, 0.75],   # class 1: its row holds 0.75 > 0.5
                  [0.1, 0.2, 0.7]])   # class 2: only its column holds 0.75 > 0.7
    np.testing.assert_array_equal(analysis.same_vs_other(r), [True, False, False])
    np.testing.assert_array_equal(analysis.nearest_identifies(r), [True, False, True])


def test_same_vs_other_and_nearest_with_nan():
    r = np.array([[0.9, np.nan, 0.1],
                  [0.3, 0.8, 0.2],
                  [np.nan, np.nan, np.nan]])
    # Undefined other-class r are left out: class 0 beats 0.3 and 0.1, class 1
    # beats 0.3 and 0.2 (not 0.9, which is row 0's own), class 2 is undefined.
    np.testing.assert_array_equal(analysis.same_vs_other(r), [True, True, False])
    # The nearest class ignores NaN entries; an all-NaN row identifies nothing.
    np.testing.assert_array_equal(analysis.nearest_identifies(r), [True, True, False])
    r[1, 0] = 0.95  # now class 0's column, and class 1's row, hold a larger r
    np.testing.assert_array_equal(analysis.same_vs_other(r), [False, False, False])
    with pytest.raises(ValueError, match="square"):
        analysis.same_vs_other(np.ones((2, 3)))


# ---------------------------------------------------------------- rates


def wilson_reference(k, n, z):
    """The Wilson interval in its other textbook form: (k + z^2/2)/(n + z^2) +- ..."""
    p = k / n
    centre = (k + z * z / 2) / (n + z * z)
    half = z * math.sqrt(n) / (n + z * z) * math.sqrt(p * (1 - p) + z * z / (4 * n))
    return centre - half, centre + half


def test_wilson_interval_hand_example():
    low, high = analysis.wilson_interval(8, 10)
    assert (low, high) == pytest.approx((0.4902, 0.9433), abs=5e-5)  # published 95% values
    assert (low, high) == pytest.approx(wilson_reference(8, 10, 1.959964), abs=1e-12)
    assert isinstance(low, float)


def test_wilson_interval_edges_and_vectorised():
    z = 1.959964
    low, high = analysis.wilson_interval(np.array([0, 10, 0]), np.array([10, 10, 0]))
    assert low[0] == 0.0 and high[0] == pytest.approx(z * z / (10 + z * z))
    assert high[1] == 1.0 and low[1] == pytest.approx(10 / (10 + z * z))
    assert math.isnan(low[2]) and math.isnan(high[2])
    assert all(map(math.isnan, analysis.wilson_interval(0, 0)))
    with pytest.raises(ValueError):
        analysis.wilson_interval(11, 10)


def test_success_by_budget():
    steps = np.array([3, 5, 10, 7, 2])
    success = np.array([True, True, False, True, False])
    curve = analysis.success_by_budget(steps, success, [0, 2, 3, 5, 7, 100])
    np.testing.assert_allclose(curve, [0.0, 0.0, 0.2, 0.4, 0.6, 0.6])
    assert np.isnan(analysis.success_by_budget([], [], [1, 2])).all()


def test_mean_sd_ignores_nan():
    mean, sd = analysis.mean_sd(np.array([[1.0, 2.0, np.nan], [3.0, np.nan, np.nan], [5.0, np.nan, np.nan]]))
    np.testing.assert_allclose(mean[:2], [3.0, 2.0])
    np.testing.assert_allclose(sd[:2], [2.0, 0.0])  # one value -> sd 0
    assert np.isnan(mean[2]) and np.isnan(sd[2])
    assert analysis.mean_sd([1.0, 2.0, 3.0, 4.0]) == pytest.approx((2.5, math.sqrt(5 / 3)))
    assert analysis.mean_sd(np.array([[1.0, 3.0]]), axis=1) == (pytest.approx([2.0]), pytest.approx([math.sqrt(2)]))


# ---------------------------------------------------------------- verdicts


def test_verdict_from_checks():
    ok, bad = verdicts.Check("ok", True), verdicts.Check("bad", False)
    assert verdicts.verdict([ok, ok]) == "reproduced"
    assert verdicts.verdict([ok, bad]) == "partly"
    assert verdicts.verdict([bad, bad]) == "not reproduced"
    assert verdicts.verdict([]) == "not reproduced"


@pytest.mark.parametrize("r, success, expected", [
    (0.81, 0.49, "reproduced"), (0.79, 0.49, "partly"), (0.81, 0.51, "partly"), (0.79, 0.51, "not reproduced"),
    (0.80, 0.50, "partly"),  # each rule's own boundary: >= holds at 0.8, < fails at 0.5
])
def test_a_number_crossing_the_threshold_flips_the_verdict(r, success, expected):
    r, success = np.float64(r), np.float32(success)
    checks = (verdicts.Check("mean r >= 0.8", r >= 0.8, {"r": r}),
              verdicts.Check("success(1) < 0.5", success < 0.5, {"success": success}))
    assert [type(c.passed) for c in checks] == [bool, bool]  # coerced from np.bool_
    claim = verdicts.Claim("A3", "eyes", "patterns persist", "mean r >= 0.8 and success(1) < 0.5", checks)
    assert claim.verdict == expected


def test_claim_to_dict_is_json_ready():
    checks = (verdicts.Check("r >= 0.8", np.bool_(True), {"r": np.float32(0.875), "per_digit": np.array([0.9, np.nan])}),)
    claim = verdicts.Claim("B1", "dough", "unique patterns", "10 of 10", checks,
                           measured={"n": np.int64(10), np.int64(3): (np.float64(np.nan), 1.0)},
                           paper_numbers={"confidence": [0.9872, float("inf")]}, headline="r 0.88")
    d = claim.to_dict()
    text = json.dumps(d, allow_nan=False)
    assert json.loads(text) == {
        "id": "B1", "paper": "dough", "claim": "unique patterns", "rule": "10 of 10", "verdict": "reproduced",
        "checks": [{"name": "r >= 0.8", "passed": True, "numbers": {"r": 0.875, "per_digit": [0.9, None]}}],
        "measured": {"n": 10, "3": [None, 1.0]},
        "paper_numbers": {"confidence": [0.9872, None]}, "headline": "r 0.88", "readings": [], "robust": True,
    }
    assert type(d["measured"]["n"]) is int and type(d["checks"][0]["passed"]) is bool


def test_a_claim_with_readings_is_robust_only_when_every_reading_agrees():
    ok, bad = verdicts.Check("ok", True, {"r": 0.9}), verdicts.Check("bad", False, {"r": 0.1})
    checks = (ok,)
    primary = verdicts.Reading("primary", {}, checks, "r 0.9")
    same = verdicts.Reading("other", {"setting": "b"}, (ok,), measured={"n": 3})
    other = verdicts.Reading("worse", {"setting": "c"}, (ok, bad))
    robust = verdicts.Claim("X1", "p", "c", "r", checks, readings=(primary, same))
    fragile = verdicts.Claim("X1", "p", "c", "r", checks, readings=(primary, same, other))
    assert robust.robust and not fragile.robust
    d = fragile.to_dict()
    assert [(r["name"], r["verdict"]) for r in d["readings"]] == [
        ("primary", "reproduced"), ("other", "reproduced"), ("worse", "partly")]
    assert d["readings"][1]["numbers"] == {"ok": {"passed": True, "r": 0.9}, "n": 3}
    assert d["readings"][2]["settings"] == {"setting": "c"} and d["robust"] is False
    with pytest.raises(ValueError, match="first reading must be the primary"):
        verdicts.Claim("X1", "p", "c", "r", checks, readings=(same, primary))
