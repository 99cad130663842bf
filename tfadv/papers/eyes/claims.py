"""Paper A's derived numbers and claim verdicts A1-A5 (numpy only).

Everything here is computed from an ``EyesSummary`` (arrays indexed
[group, net, round, digit, ...]). Rules are PROTOCOL.md section 6, verbatim in
``RULES``; a verdict is never written by hand.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from tfadv.analysis import fmt, mean_pairwise_r, nanmean, nanmedian, pearson, pearson_matrix, same_vs_other
from tfadv.papers.eyes.summary import DEEP, SHALLOW, TRAINED, UNTRAINED, EyesSummary
from tfadv.verdicts import Check, Claim, Reading

THRESHOLD_CONFIDENCE = 0.90
THRESHOLD_PERSISTENCE = 0.8
MIN_DIGITS = 8

CLAIMS = {
    "A1": "Averaged images are classified as their digit with high confidence (98.72% for 2, "
          "shallow; 99.68% for 4, deep); single adversarial examples usually with high confidence too, "
          "though the paper shows one at 1.46% (shallow) and one at 86.97% (deep).",
    "A2": "Averaged patterns differ from the digits' shapes.",
    "A3": "Patterns are fully preserved over training rounds.",
    "A4": "Patterns are remotely preserved across the two nets.",
    "A5": "Low success for 1 and 4, high for 0 and 8, in both nets.",
}
RULES = {
    "A1": "The averaged image's target confidence >= 0.90 for (shallow, 2) and (deep, 4), and >= 0.90 "
          "for at least 8 of 10 digits in each net; single-example confidences (the median over the successes) "
          "reported beside the paper's.",
    "A2": "For at least 8 of 10 digits, r(averaged image, class mean) is lower than r(averaged image, "
          "same digit's averaged image from another round).",
    "A3": "Mean cross-round r >= 0.8 for each digit and net.",
    "A4": "For at least 8 of 10 digits, r(shallow, deep) for the same digit exceeds both its largest r "
          "with another digit and the untrained-control r.",
    "A5": "In both nets, success(1) and success(4) are each below min(success(0), success(8)).",
}
PAPER_NUMBERS = {
    "A1": {"averaged_confidence_shallow_2": 0.9872, "averaged_confidence_deep_4": 0.9968,
           "single_confidence_shallow_2": 0.0146, "single_confidence_deep_4": 0.8697},
}
NET_NAMES = ("shallow", "deep")
# What each reading of PROTOCOL.md section 8 that paper A's rules can apply on their own says.
READINGS = {
    "a4_no_evidence": "a digit whose untrained control has no success is no evidence against it",
    "a5_every_round": "the rule must hold in every round, not only pooled over rounds",
}


def used_rounds(s: EyesSummary, group: int, net: int) -> list[int]:
    """Rounds whose model cleared its floor (all rounds for the untrained controls)."""
    return [int(r) for r in np.flatnonzero(s.used[group, net])]


def success_rates(s: EyesSummary, group: int) -> np.ndarray:
    """Success rate [net, round, digit] (NaN where the model was not used)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = s.found[group] / s.attempts[group]
    rate = np.where(s.used[group][..., None], rate, np.nan)
    return rate


def mean_over_rounds(values: np.ndarray, s: EyesSummary, group: int) -> np.ndarray:
    """Mean over used rounds of values [net, round, digit] -> [net, digit]."""
    masked = np.where(s.used[group][..., None], values, np.nan)
    return nanmean(masked, axis=1)


def cross_round_r(s: EyesSummary, group: int) -> np.ndarray:
    """Mean pairwise r between rounds' averaged images, [net, digit] (A3)."""
    out = np.full((2, 10), np.nan)
    for n in range(2):
        rounds = used_rounds(s, group, n)
        for d in range(10):
            out[n, d] = mean_pairwise_r(s.average[group, n, rounds, d])
    return out


def round_pair_matrix(s: EyesSummary, group: int, net: int) -> np.ndarray:
    """r between the averaged images of the first two used rounds, [digit, digit] (eyes_fig3)."""
    rounds = used_rounds(s, group, net)
    if len(rounds) < 2:
        return np.full((10, 10), np.nan)
    return pearson_matrix(s.average[group, net, rounds[0]], s.average[group, net, rounds[1]])


def class_mean_r(s: EyesSummary, group: int) -> np.ndarray:
    """Mean over rounds of r(averaged image of d, class mean of d), [net, digit] (A2)."""
    out = np.full((2, 10), np.nan)
    for n in range(2):
        rounds = used_rounds(s, group, n)
        for d in range(10):
            out[n, d] = nanmean([pearson(s.average[group, n, r, d], s.class_means[d]) for r in rounds])
    return out


def class_mean_matrix(s: EyesSummary, group: int, net: int) -> np.ndarray:
    """Mean over rounds of r(averaged image of d, class mean of d'), [d, d'] (eyes_fig3)."""
    rounds = used_rounds(s, group, net)
    mats = [pearson_matrix(s.average[group, net, r], s.class_means) for r in rounds]
    return nanmean(np.stack(mats), axis=0) if mats else np.full((10, 10), np.nan)


def cross_net_matrix(s: EyesSummary, group: int) -> np.ndarray:
    """Round-matched r(shallow digit d, deep digit d'), averaged over rounds (A4)."""
    rounds = sorted(set(used_rounds(s, group, SHALLOW)) & set(used_rounds(s, group, DEEP)))
    mats = [pearson_matrix(s.average[group, SHALLOW, r], s.average[group, DEEP, r]) for r in rounds]
    return nanmean(np.stack(mats), axis=0) if mats else np.full((10, 10), np.nan)


def control_matrix(s: EyesSummary, net: int, group: int = TRAINED) -> np.ndarray:
    """Round-matched r(trained digit d, untrained control digit d') of one net (eyes_fig3)."""
    rounds = sorted(set(used_rounds(s, group, net)) & set(used_rounds(s, UNTRAINED, net)))
    mats = [pearson_matrix(s.average[group, net, r], s.average[UNTRAINED, net, r]) for r in rounds]
    return nanmean(np.stack(mats), axis=0) if mats else np.full((10, 10), np.nan)


@dataclasses.dataclass(frozen=True)
class Persistence:
    """Every persistence number behind ``eyes_fig3`` / ``eyes_tab3`` for a group of nets.

    Per [net, digit]: ``cross_round`` (mean pairwise r over rounds, A3) and
    ``class_mean`` (r with the MNIST class mean, A2); per digit: ``cross_net``
    (r shallow vs deep, A4), its ``cross_net_largest_other`` digit and the
    untrained ``cross_net_control``; the [digit, digit] matrices drawn in
    ``eyes_fig3``.
    """

    cross_round: np.ndarray
    class_mean: np.ndarray
    cross_net: np.ndarray
    cross_net_matrix: np.ndarray
    cross_net_largest_other: np.ndarray
    cross_net_control: np.ndarray
    round_matrices: np.ndarray
    class_matrices: np.ndarray
    control_matrices: np.ndarray


def persistence(s: EyesSummary, group: int = TRAINED) -> Persistence:
    """Every persistence number behind ``eyes_fig3`` / ``eyes_tab3`` for a group."""
    cross_net = cross_net_matrix(s, group)
    control = cross_net_matrix(s, UNTRAINED)
    off = np.where(np.eye(10, dtype=bool), -np.inf, np.nan_to_num(cross_net, nan=-np.inf))
    largest_other = np.maximum(off.max(axis=1), off.max(axis=0))
    largest_other = np.where(np.isinf(largest_other), np.nan, largest_other)
    return Persistence(
        cross_round=cross_round_r(s, group),
        class_mean=class_mean_r(s, group),
        cross_net=np.diag(cross_net).copy(),
        cross_net_matrix=cross_net,
        cross_net_largest_other=largest_other,
        cross_net_control=np.diag(control).copy(),
        round_matrices=np.stack([round_pair_matrix(s, group, n) for n in range(2)]),
        class_matrices=np.stack([class_mean_matrix(s, group, n) for n in range(2)]),
        control_matrices=np.stack([control_matrix(s, n, group) for n in range(2)]),
    )


# ---------------------------------------------------------------- rules


def a1_checks(confidence: np.ndarray) -> list[Check]:
    """A1 on averaged-image confidences [net, digit]."""
    checks = [
        Check("(shallow, 2) >= 0.90", bool(confidence[SHALLOW, 2] >= THRESHOLD_CONFIDENCE),
              {"confidence": confidence[SHALLOW, 2]}),
        Check("(deep, 4) >= 0.90", bool(confidence[DEEP, 4] >= THRESHOLD_CONFIDENCE),
              {"confidence": confidence[DEEP, 4]}),
    ]
    for n, name in enumerate(NET_NAMES):
        count = int(np.sum(confidence[n] >= THRESHOLD_CONFIDENCE))
        checks.append(Check(f"{name}: >= 0.90 for >= 8 of 10 digits", count >= MIN_DIGITS,
                            {"digits": count, "confidence": confidence[n]}))
    return checks


def a5_checks(rate: np.ndarray) -> list[Check]:
    """A5 on success rates [net, digit]."""
    checks = []
    for n, name in enumerate(NET_NAMES):
        easy = np.nanmin(rate[n, [0, 8]]) if not np.all(np.isnan(rate[n, [0, 8]])) else np.nan
        passed = bool(rate[n, 1] < easy and rate[n, 4] < easy)
        checks.append(Check(f"{name}: success(1), success(4) < min(success(0), success(8))", passed,
                            {f"success_{d}": rate[n, d] for d in (0, 1, 4, 8)}))
    return checks


def a5_every_round_checks(s: EyesSummary, group: int = TRAINED) -> list[Check]:
    """A5 read per round (PROTOCOL.md section 8): the rule must hold in every used round of each net."""
    rates = success_rates(s, group)
    checks = []
    for n, name in enumerate(NET_NAMES):
        rounds = used_rounds(s, group, n)
        held = [a5_checks(rates[:, r])[n].passed for r in rounds]
        checks.append(Check(f"{name}: success(1), success(4) < min(success(0), success(8)) in every round",
                            bool(held) and all(held), {"rounds_held": int(sum(held)), "rounds": len(rounds)}))
    return checks


def a4_checks(p: Persistence, *, with_control: bool = True, missing_control_fails: bool = True) -> list[Check]:
    """A4 on the persistence numbers of a group.

    Args:
      p: the group's persistence numbers.
      with_control: compare with the untrained control (not for the ReLU
        variants, whose controls would be sigmoid nets).
      missing_control_fails: the primary reading: a digit whose untrained
        control found no example (its r is NaN) fails; False reads a missing
        control as no evidence against the digit (PROTOCOL.md section 8).
    """
    beats_other = same_vs_other(p.cross_net_matrix)
    beats_control = p.cross_net > p.cross_net_control
    if not missing_control_fails:
        beats_control = beats_control | np.isnan(p.cross_net_control)
    both = beats_other & beats_control if with_control else beats_other
    return [Check("r(shallow, deep) same digit beats other digits and untrained control for >= 8 of 10",
                  int(both.sum()) >= MIN_DIGITS,
                  {"digits": int(both.sum()), "cross_net_r": p.cross_net,
                   "largest_other_digit_r": p.cross_net_largest_other,
                   "untrained_control_r": p.cross_net_control})]


def _a4_headline(p: Persistence, check: Check, missing_control_fails: bool = True) -> str:
    beats_other = same_vs_other(p.cross_net_matrix)
    missing = int(np.sum(np.isnan(p.cross_net_control)))
    reading = "which fails the digit" if missing_control_fails else "read as no evidence against it"
    return (f"digits whose shallow-deep r beats every other digit and the control: {check.numbers['digits']}/10 "
            f"(every other digit alone: {int(np.sum(beats_other))}/10; no control r, {reading}: {missing}/10)")


def _primary(s: EyesSummary, group: int) -> dict[str, tuple[list[Check], dict, str]]:
    """Per claim: the rule's checks, the measured numbers and the headline, under the primary reading."""
    p = persistence(s, group)
    confidence = mean_over_rounds(s.avg_confidence[group], s, group)
    single = mean_over_rounds(s.single_confidence[group], s, group)  # median over successes, per round
    rate = mean_over_rounds(success_rates(s, group), s, group)

    a2 = []
    for n, name in enumerate(NET_NAMES):
        lower = p.class_mean[n] < p.cross_round[n]
        a2.append(Check(f"{name}: r(class mean) < r(other round) for >= 8 of 10 digits",
                        int(lower.sum()) >= MIN_DIGITS,
                        {"digits": int(lower.sum()), "r_class_mean": p.class_mean[n],
                         "r_other_round": p.cross_round[n]}))
    a3 = []
    for n, name in enumerate(NET_NAMES):
        ok = p.cross_round[n] >= THRESHOLD_PERSISTENCE
        a3.append(Check(f"{name}: cross-round r >= 0.8 for every digit", bool(ok.all()),
                        {"digits": int(ok.sum()), "cross_round_r": p.cross_round[n]}))
    a4 = a4_checks(p, with_control=group == TRAINED)
    measured_a1 = {
        "averaged_confidence_shallow_2": confidence[SHALLOW, 2],
        "averaged_confidence_deep_4": confidence[DEEP, 4],
        "single_confidence_shallow_2": single[SHALLOW, 2],
        "single_confidence_deep_4": single[DEEP, 4],
    }
    a1 = a1_checks(confidence)
    a1_head = (f"averaged image: (shallow, 2) {fmt(confidence[SHALLOW, 2])}, (deep, 4) {fmt(confidence[DEEP, 4])}; "
               f"digits >= 0.90: {_per_net(a1[2:])}; single examples (median) {fmt(single[SHALLOW, 2])}, "
               f"{fmt(single[DEEP, 4])}")
    a3_head = (f"digits with cross-round r >= 0.8: {_per_net(a3)}; median cross-round r "
               + ", ".join(f"{name} {fmt(nanmedian(p.cross_round[n]))}" for n, name in enumerate(NET_NAMES)))
    a5_head = "; ".join(f"{name}: success(1) {fmt(rate[n, 1], 3)}, (4) {fmt(rate[n, 4], 3)} vs (0) "
                        f"{fmt(rate[n, 0], 3)}, (8) {fmt(rate[n, 8], 3)}" for n, name in enumerate(NET_NAMES))
    cross_round_min = np.nanmin(p.cross_round) if np.any(~np.isnan(p.cross_round)) else np.nan
    return {
        "A1": (a1, measured_a1, a1_head),
        "A2": (a2, {}, f"digits whose r with the class mean is below the cross-round r: {_per_net(a2)}"),
        "A3": (a3, {"cross_round_r_min": cross_round_min}, a3_head),
        "A4": (a4, {}, _a4_headline(p, a4[0])),
        "A5": (a5_checks(rate), {"success_rate": rate}, a5_head),
    }


def _rule_readings(s: EyesSummary, group: int) -> dict[str, list[Reading]]:
    """Readings that change how a rule reads the primary results (PROTOCOL.md section 8)."""
    out = {cid: [] for cid in CLAIMS}
    if group == TRAINED:
        p = persistence(s, group)
        a4 = a4_checks(p, missing_control_fails=False)
        out["A4"].append(Reading("A4 control: no evidence", {"A4 missing control": READINGS["a4_no_evidence"]},
                                 tuple(a4), _a4_headline(p, a4[0], missing_control_fails=False)))
    a5 = a5_every_round_checks(s, group)
    out["A5"].append(Reading("A5: every round", {"A5 rounds": READINGS["a5_every_round"]}, tuple(a5),
                             "; ".join(f"{c.name.split(':')[0]} held in {c.numbers['rounds_held']} of "
                                       f"{c.numbers['rounds']} rounds" for c in a5)))
    return out


def claims(s: EyesSummary, group: int = TRAINED, settings: dict[str, tuple[dict, EyesSummary]] | None = None
           ) -> list[Claim]:
    """Verdicts of A1-A5 for the trained sigmoid nets (or the same rules on another group), with readings.

    Args:
      s: the primary results.
      group: ``TRAINED``, or ``RELU`` for the activation study (``eyes_act``;
        A4 then leaves out the untrained-control comparison: the untrained
        controls are sigmoid nets).
      settings: the results under other readings of the attack or the
        training (PROTOCOL.md section 8), reading name -> (the settings it
        changes, its summary); every claim is judged on each.

    Returns:
      One ``Claim`` per id; its ``readings`` are the primary one, the rule
      readings that bear on it, then one per entry of ``settings``.
    """
    primary = _primary(s, group)
    by_rule = _rule_readings(s, group)
    others = {name: (changed, _primary(other, group)) for name, (changed, other) in (settings or {}).items()}
    out = []
    for cid, (checks, measured, headline) in primary.items():
        checks = tuple(checks)
        readings = [Reading("primary", {}, checks, headline, measured)] + by_rule[cid]
        readings += [Reading(name, changed, tuple(numbers[cid][0]), numbers[cid][2], numbers[cid][1])
                     for name, (changed, numbers) in others.items()]
        out.append(Claim(cid, "eyes", CLAIMS[cid], RULES[cid], checks, measured, PAPER_NUMBERS.get(cid, {}),
                         headline, tuple(readings)))
    return out


def _per_net(checks) -> str:
    """``shallow 8/10, deep 10/10`` from one digit-count check per net."""
    return ", ".join(f"{name} {c.numbers['digits']}/10" for name, c in zip(NET_NAMES, checks))
