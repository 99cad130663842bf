"""Paper A's derived numbers and claim rules, on hand-built summaries."""

import dataclasses

import numpy as np
import pytest

from tfadv.papers.eyes import claims as ea
from tfadv.papers.eyes.summary import DEEP, SHALLOW, TRAINED, UNTRAINED, EyesSummary

R = 3


def summary(seed=0):
    """A summary where every rule of A1-A5 holds, built from known patterns.

    Rounds of a net are affine copies of one pattern per digit (r = 1 across
    rounds); the deep net's patterns equal the shallow net's (r = 1 across
    nets); untrained controls and class means are independent noise.
    """
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(10, 784)).astype(np.float32)
    average = np.zeros((3, 2, R, 10, 784), np.float32)
    for g in range(3):
        for n in range(2):
            for r in range(R):
                average[g, n, r] = (r + 1) * base + r if g != UNTRAINED else rng.normal(size=(10, 784))
    s = EyesSummary.blank(R, variants=[], budgets=[0, 10])
    s.average[:] = average
    s.found[:] = 100
    s.attempts[:] = 200
    s.attempts[:, :, :, [1, 4]] = 1000  # 10% for 1 and 4, 50% elsewhere
    s.avg_confidence[:] = 0.95
    s.single_confidence[:] = 0.02
    s.used[:] = True
    s.class_means[:] = rng.normal(size=(10, 784))
    return s


def verdicts(s):
    return {c.id: c.verdict for c in ea.claims(s)}


def test_every_claim_reproduced_on_a_summary_built_to_pass():
    assert verdicts(summary()) == {f"A{i}": "reproduced" for i in range(1, 6)}


def test_persistence_numbers_of_known_patterns():
    s = summary()
    p = ea.persistence(s)
    np.testing.assert_allclose(p.cross_round, 1.0, atol=1e-6)
    np.testing.assert_allclose(p.cross_net, 1.0, atol=1e-6)
    assert np.all(np.abs(p.class_mean) < 0.15)  # independent noise, 784 pixels
    assert np.all(np.abs(p.cross_net_control) < 0.15)
    # A negated round gives r = -1 with the two others: mean over 3 pairs = (1 - 1 - 1) / 3.
    s.average[TRAINED, SHALLOW, 2, 5] *= -1
    assert ea.cross_round_r(s, TRAINED)[SHALLOW, 5] == pytest.approx(-1 / 3, abs=1e-6)


def test_a1_flips_when_a_confidence_crosses_0_90():
    s = summary()
    s.avg_confidence[TRAINED, SHALLOW, :, 2] = 0.901
    assert verdicts(s)["A1"] == "reproduced"
    s.avg_confidence[TRAINED, SHALLOW, :, 2] = 0.899
    assert verdicts(s)["A1"] == "partly"
    a1 = ea.claims(s)[0]
    assert a1.measured["averaged_confidence_shallow_2"] == pytest.approx(0.899)
    assert a1.paper_numbers["averaged_confidence_shallow_2"] == 0.9872
    # Three digits below 0.90 in the deep net breaks its "8 of 10".
    s.avg_confidence[TRAINED, DEEP, :, [0, 1, 3]] = 0.5
    assert [c.passed for c in ea.claims(s)[0].checks] == [False, True, True, False]


def test_a2_fails_when_averages_look_like_class_means():
    s = summary()
    s.class_means[:] = s.average[TRAINED, SHALLOW, 0]
    # r(average, class mean) = 1 is not lower than the cross-round r = 1.
    checks = ea.claims(s)[1].checks
    assert not checks[0].passed and checks[0].numbers["digits"] == 0


def test_a3_needs_every_digit_of_a_net_above_0_8():
    s = summary()
    noise = np.random.default_rng(5).normal(size=784)
    s.average[TRAINED, DEEP, 1, 7] = noise  # one round of one digit is unrelated
    claim = ea.claims(s)[2]
    assert claim.verdict == "partly"
    assert [c.passed for c in claim.checks] == [True, False]
    assert claim.checks[1].numbers["digits"] == 9


def test_a4_compares_with_other_digits_and_the_untrained_control():
    s = summary()
    # The untrained controls made identical across nets: the control r is 1, never beaten.
    s.average[UNTRAINED, DEEP] = s.average[UNTRAINED, SHALLOW]
    assert verdicts(s)["A4"] == "not reproduced"
    s = summary()
    # The deep net's digit d looks like the shallow net's digit d + 1: other digits win.
    s.average[TRAINED, DEEP] = np.roll(s.average[TRAINED, SHALLOW], 1, axis=2)
    assert verdicts(s)["A4"] == "not reproduced"


def test_a5_flips_when_a_hard_digit_becomes_easy():
    s = summary()
    assert ea.claims(s)[4].measured["success_rate"][0, 1] == pytest.approx(0.1)
    s.attempts[TRAINED, DEEP, :, 4] = 150  # 4 now beats 0 and 8 in the deep net
    claim = ea.claims(s)[4]
    assert claim.verdict == "partly"
    assert [c.passed for c in claim.checks] == [True, False]


def test_models_below_their_floor_are_left_out():
    s = summary()
    s.used[TRAINED, SHALLOW, 1] = False
    s.average[TRAINED, SHALLOW, 1] = np.nan
    s.avg_confidence[TRAINED, SHALLOW, 1] = 0.0  # would break A1 if used
    assert ea.used_rounds(s, TRAINED, SHALLOW) == [0, 2]
    assert verdicts(s) == {f"A{i}": "reproduced" for i in range(1, 6)}


def test_a_digit_without_any_success_fails_its_checks_without_crashing():
    s = summary()
    s.found[TRAINED, SHALLOW, :, 0] = 0
    s.average[TRAINED, SHALLOW, :, 0] = np.nan
    s.avg_confidence[TRAINED, SHALLOW, :, 0] = np.nan
    claims = {c.id: c for c in ea.claims(s)}
    assert claims["A3"].checks[0].numbers["digits"] == 9
    assert claims["A5"].verdict == "partly"  # success(0) = 0 in the shallow net
    assert claims["A1"].verdict == "reproduced"  # 9 of 10 digits still >= 0.90


def test_headlines_give_the_rules_numbers():
    s = summary()
    s.avg_confidence[TRAINED, SHALLOW, :, 2] = 0.5
    heads = {c.id: c.headline for c in ea.claims(s)}
    assert heads["A1"].startswith("averaged image: (shallow, 2) 0.50, (deep, 4) 0.95; "
                                  "digits >= 0.90: shallow 9/10, deep 10/10")
    assert heads["A3"].startswith("digits with cross-round r >= 0.8: shallow 10/10, deep 10/10")
    assert "success(1) 0.100, (4) 0.100 vs (0) 0.500, (8) 0.500" in heads["A5"]


def test_summary_round_trips_and_a_missing_field_raises(tmp_path):
    s = summary()
    loaded = EyesSummary.load(s.save(tmp_path / "s.npz"))
    for f in dataclasses.fields(EyesSummary):
        a, b = getattr(s, f.name), getattr(loaded, f.name)
        if isinstance(a, np.ndarray):
            np.testing.assert_array_equal(a, b)
        else:
            assert a == b, f.name
    assert [c.to_dict() for c in ea.claims(loaded)] == [c.to_dict() for c in ea.claims(s)]
    arrays = dict(np.load(tmp_path / "s.npz"))
    del arrays["avg_confidence"]
    np.savez(tmp_path / "broken.npz", **arrays)
    with pytest.raises(TypeError, match="avg_confidence"):
        EyesSummary.load(tmp_path / "broken.npz")


def _reading(claim, name):
    return next(r for r in claim.readings if r.name == name)


def test_a4_reading_of_a_missing_untrained_control():
    """NaN control r: the primary reading fails the digit, 'no evidence' lets the other comparisons decide."""
    s = summary()
    s.average[UNTRAINED, :, :, :3] = np.nan  # the controls found nothing for digits 0, 1 and 2
    a4 = {c.id: c for c in ea.claims(s)}["A4"]
    assert a4.verdict == "not reproduced" and a4.checks[0].numbers["digits"] == 7
    lenient = _reading(a4, "A4 control: no evidence")
    assert lenient.verdict == "reproduced" and lenient.checks[0].numbers["digits"] == 10
    assert lenient.settings == {"A4 missing control": ea.READINGS["a4_no_evidence"]}
    assert not a4.robust
    assert "no control r, read as no evidence against it: 3/10" in lenient.headline


def test_a5_reading_per_round():
    """One round where 4 beats 0 and 8: the pooled rate still passes, 'every round' does not."""
    s = summary()
    s.attempts[TRAINED, DEEP, 1, 4] = 150  # round 1 of the deep net: success(4) 0.67 > 0.5
    a5 = {c.id: c for c in ea.claims(s)}["A5"]
    assert a5.verdict == "reproduced"  # pooled: (0.1 + 0.67 + 0.1) / 3 = 0.29 < 0.5
    per_round = _reading(a5, "A5: every round")
    assert [c.passed for c in per_round.checks] == [True, False]
    assert per_round.checks[1].numbers == {"rounds_held": R - 1, "rounds": R}
    assert per_round.verdict == "partly" and not a5.robust


def test_settings_readings_judge_every_claim_on_their_own_results():
    primary, other = summary(), summary(seed=1)
    other.avg_confidence[TRAINED, SHALLOW, :, 2] = 0.5
    claims = ea.claims(primary, settings={"stop: budget": ({"A stop rule": "fixed budget"}, other)})
    for c in claims:
        names = [r.name for r in c.readings]
        assert names[0] == "primary" and names[-1] == "stop: budget" and len(names) >= 2
        assert c.readings[0].checks is c.checks
    a1 = claims[0]
    assert a1.verdict == "reproduced" and _reading(a1, "stop: budget").verdict == "partly"
    d = a1.to_dict()
    assert d["robust"] is False
    assert d["readings"][-1]["settings"] == {"A stop rule": "fixed budget"}
    assert d["readings"][-1]["numbers"]["(shallow, 2) >= 0.90"] == {"passed": False, "confidence": 0.5}
