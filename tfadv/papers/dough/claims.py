"""Paper B's derived numbers and claim verdicts B1-B6 (numpy only).

Everything is computed from a ``DoughSummary``. Where a rule compares
patterns "across" models, r matrices are computed per seed and averaged over
seeds before the rule is applied. Rules are PROTOCOL.md section 6, verbatim in
``RULES``; a verdict is never written by hand.
"""

from __future__ import annotations

import numpy as np

from tfadv.analysis import fmt, nearest_identifies, pearson_matrix, same_vs_other
from tfadv.verdicts import Check, Claim, Reading
from tfadv.keys import ModelKey
from tfadv.papers.dough.summary import DoughSummary

CLAIMS = {
    "B1": "Perturbations unveil vivid, recurring visual structures unique to each class.",
    "B2": "The structures are persistent over the parameters of the abstraction methods.",
    "B3": "The structures are persistent over model architectures and training configurations.",
    "B4": "The structures are explainable and derivable from the corresponding dataset.",
    "B5": "This explains why adversarial examples generalize across models.",
    "B6": "(Beyond the paper) The patterns carry the dataset's class features.",
}
RULES = {
    "B1": "Patterns from two disjoint halves of the start bank identify each other's class (nearest by r) "
          "for 10 of 10 classes, for every model and dataset.",
    "B2": "Mean r between the `mean` pattern and each other abstraction variant >= 0.7.",
    "B3": "For at least 9 of 10 classes, same-class r across FC vs CNN and across training configurations "
          "exceeds every other-class r.",
    "B4": "r(class pattern c, mu_c - mu) is the largest over all c' for at least 9 of 10 classes, and its "
          "mean exceeds the untrained and shuffled-label controls by at least 0.3.",
    "B5": "Transfer rate of class patterns across models exceeds the norm-matched random pattern's by at "
          "least 20 percentage points.",
    "B6": "The classifier of dough_tab6 reaches at least 50% on the real MNIST test set, against at most 20% "
          "when trained on examples evolved in untrained networks.",
}
ARCH_NAMES = {"mlp_deep_relu": "FC", "mlp_shallow_relu": "FC (shallow)", "cnn_relu": "CNN",
              "cnn_sigmoid": "CNN (sigmoid)"}


def arch_name(arch: str) -> str:
    return ARCH_NAMES.get(arch, arch)


def mean(values) -> float:
    """Mean of the values that are not NaN (any shape); NaN when there are none."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    return float(values.mean()) if values.size else float("nan")


def seed_mean(arrays, shape=(10, 10)) -> np.ndarray:
    """NaN-aware elementwise mean over seeds of the arrays present (None entries skipped)."""
    arrays = [a for a in arrays if a is not None]
    if not arrays:
        return np.full(shape, np.nan)
    stack = np.stack(arrays)
    with np.errstate(invalid="ignore"):
        count = np.sum(~np.isnan(stack), axis=0)
        return np.where(count > 0, np.nansum(stack, axis=0) / np.maximum(count, 1), np.nan)


def r(a, b) -> np.ndarray | None:
    """r between every class pattern of ``a`` and of ``b``; None when either is missing (model not used)."""
    return None if a is None or b is None else pearson_matrix(a, b)


def pattern(s: DoughSummary, dataset, arch, config, seed, **variant) -> np.ndarray | None:
    """``s.pattern`` of model (arch, dataset, config, seed); ``variant``: stop, method, k."""
    return s.pattern(ModelKey(arch, dataset, config, seed), **variant)


def split_half(s: DoughSummary, dataset, arch, seed) -> np.ndarray | None:
    """B1: r between the patterns of the even and of the odd starts of the bank (main model)."""
    c = s.main_config(arch)
    return r(pattern(s, dataset, arch, c, seed, k="half_a"), pattern(s, dataset, arch, c, seed, k="half_b"))


def abstraction_variants(s: DoughSummary) -> list[tuple[str, dict]]:
    """B2: (label, pattern variant) of every variant compared with the `mean` pattern."""
    out = [(a, {"method": a}) for a in s.abstractions if a != "mean"]
    out += [(f"K={k}", {"k": k}) for k in s.k_values if k != "all"]
    out += [(f"stop {stop}", {"stop": stop}) for stop in s.stops if stop != "argmax"]
    return out


def variant_r(s: DoughSummary, dataset, arch, seed, variant: dict) -> np.ndarray:
    """Per class, r(mean pattern, variant pattern) of one main model (NaN when not used)."""
    c = s.main_config(arch)
    m = r(pattern(s, dataset, arch, c, seed), pattern(s, dataset, arch, c, seed, **variant))
    return np.full(10, np.nan) if m is None else np.diag(m)


def comparisons(s: DoughSummary) -> list[tuple[str, tuple, tuple]]:
    """B3: (label, (arch, config), (arch, config)) pairs, the architecture comparison first."""
    (fc, fc_main), (cnn, cnn_main) = s.archs[0], s.archs[1]
    out = [(f"{arch_name(fc)} vs {arch_name(cnn)}", (fc, fc_main), (cnn, cnn_main))]
    for arch, main in s.archs:
        out += [(f"{arch_name(arch)}: {main} vs {v}", (arch, main), (arch, v))
                for v in s.variant_configs if v != main]
    return out


def comparison_matrix(s: DoughSummary, dataset, a, b) -> np.ndarray:
    """Seed-averaged r between the class patterns of models ``a`` and ``b`` ((arch, config) each)."""
    return seed_mean([r(pattern(s, dataset, *a, seed), pattern(s, dataset, *b, seed)) for seed in range(s.seeds)])


def dataset_matrix(s: DoughSummary, dataset, arch, config, variant="mean_diff") -> np.ndarray:
    """B4: seed-averaged r(class pattern c, dataset-derived pattern c')."""
    derived = s.derived_pattern(dataset, variant)
    return seed_mean([r(pattern(s, dataset, arch, config, seed), derived) for seed in range(s.seeds)])


def mean_accuracy(s: DoughSummary, dataset, arch, config) -> float:
    """Test accuracy of a model, mean over seeds."""
    return mean([s.accuracy(ModelKey(arch, dataset, config, seed)) for seed in range(s.seeds)])


def b1_checks(s: DoughSummary) -> tuple[list[Check], str]:
    """B1: split-half identification per seed, for every main model and dataset."""
    checks, heads = [], []
    for d in s.datasets:
        for arch, _ in s.archs:
            counts = []
            for seed in range(s.seeds):
                m = split_half(s, d, arch, seed)
                counts.append(np.nan if m is None
                              else int(min(nearest_identifies(m).sum(), nearest_identifies(m.T).sum())))
            ok = len(counts) > 0 and all(c == 10 for c in counts)
            checks.append(Check(f"{d}, {arch_name(arch)}: 10 of 10 classes identified in every seed",
                                ok, {"classes_identified_per_seed": counts}))
            heads.append(f"{d} {arch_name(arch)} " + "/".join("\u2014" if np.isnan(c) else str(c) for c in counts))
    return checks, "classes identified per seed: " + "; ".join(heads)


def b2_checks(s: DoughSummary, *, per_variant: bool = True) -> tuple[list[Check], str]:
    """B2: mean r between the `mean` pattern and each other abstraction variant.

    ``per_variant`` is the primary reading (the mean is taken per variant,
    each must reach 0.7); False takes one mean over all variants together
    (PROTOCOL.md section 8).
    """
    values = {label: np.concatenate([variant_r(s, d, arch, seed, variant) for d in s.datasets
                                     for arch, _ in s.archs for seed in range(s.seeds)])
              for label, variant in abstraction_variants(s)}
    variant_means = [(label, mean(v)) for label, v in values.items()]
    if not per_variant:
        overall = mean(np.concatenate(list(values.values()))) if values else float("nan")
        check = Check("mean r(mean, every other variant together) >= 0.7", bool(overall >= 0.7),
                      {"mean_r": overall, "variants": len(values)})
        return [check], f"mean r over all {len(values)} variants together {fmt(overall)}"
    checks = [Check(f"mean r(mean, {label}) >= 0.7", bool(m >= 0.7), {"mean_r": m}) for label, m in variant_means]
    return checks, _b2_headline(checks, variant_means)


def b3_checks(s: DoughSummary) -> tuple[list[Check], str]:
    """B3: same-class r beats every other-class r across architectures and training configurations."""
    checks, arch_heads, config_passes = [], [], []
    for d in s.datasets:
        for i, (label, a, b) in enumerate(comparisons(s)):
            m = comparison_matrix(s, d, a, b)
            count = int(same_vs_other(m).sum())
            checks.append(Check(f"{d}, {label}: same class beats every other class for >= 9 of 10", count >= 9,
                                {"classes": count, "same_class_r": mean(np.diag(m))}))
            if i == 0:  # the architecture comparison comes first
                arch_heads.append(f"{d} {count}/10")
            else:
                config_passes.append(count >= 9)
    return checks, (f"classes matched FC vs CNN: {', '.join(arch_heads)}; training configurations: "
                    f"{sum(config_passes)} of {len(config_passes)} comparisons match >= 9 of 10")


def b4_checks(s: DoughSummary, *, by_rows: bool = True) -> tuple[list[Check], str]:
    """B4: class patterns against the dataset-derived patterns mu_c - mu, trained vs controls.

    ``by_rows`` is the primary reading (each class pattern's best dataset
    match is its own class); False reads "largest over all c'" by columns
    (each dataset pattern's best class-pattern match is its own class).
    """
    checks, heads, gaps = [], [], []
    for d in s.datasets:
        for arch, main in s.archs:
            m = dataset_matrix(s, d, arch, main)
            identified = int(nearest_identifies(m if by_rows else m.T).sum())
            trained = mean(np.diag(m))
            untrained = mean(np.diag(dataset_matrix(s, d, arch, "untrained")))
            shuffled = mean(np.diag(dataset_matrix(s, d, arch, s.shuffled[arch])))
            name = arch_name(arch)
            direction = "largest" if by_rows else "largest in its column"
            checks.append(Check(f"{d}, {name}: r(pattern c, mu_c - mu) {direction} for >= 9 of 10 classes",
                                identified >= 9, {"classes": identified}))
            checks.append(Check(f"{d}, {name}: mean r exceeds untrained and shuffled controls by >= 0.3",
                                bool(trained - untrained >= 0.3 and trained - shuffled >= 0.3),
                                {"trained": trained, "untrained": untrained, "shuffled": shuffled}))
            heads.append(f"{d} {name} {identified}/10")
            gaps.append(f"{fmt(trained)} vs {fmt(untrained)}/{fmt(shuffled)}")
    return checks, (f"classes identified{'' if by_rows else ' (by columns)'}: {', '.join(heads)}; "
                    f"same-class r trained vs controls: {', '.join(gaps)}")


def b5_checks(s: DoughSummary) -> tuple[list[Check], str]:
    """B5: pattern transfer across models against norm-matched random patterns."""
    checks, heads = [], []
    for d in s.datasets:
        t = s.transfer(d)
        rate, random_rate = t.rate, t.random_rate
        off = ~np.eye(len(rate), dtype=bool)
        gain, transfer, random_ = mean((rate - random_rate)[off]), mean(rate[off]), mean(random_rate[off])
        checks.append(Check(f"{d}: pattern transfer beats norm-matched random by >= 20 points",
                            bool(gain >= 0.20), {"transfer_rate": transfer, "random_rate": random_,
                                                 "difference": gain}))
        heads.append(f"{d}: {fmt(100 * transfer, 1)}% vs random {fmt(100 * random_, 1)}% "
                     f"({_signed(100 * gain)} points)")
    return checks, "; ".join(heads)


def b6_checks(s: DoughSummary) -> tuple[list[Check], str]:
    """B6: a classifier trained on adversarial examples only, from trained against untrained sources."""
    checks, heads = [], []
    for arch, main in s.archs:
        trained = s.classifier(arch, main).accuracy
        untrained = s.classifier(arch, "untrained").accuracy
        checks.append(Check(f"{arch_name(arch)}: >= 50% from trained, <= 20% from untrained",
                            bool(trained >= 0.5 and untrained <= 0.2),
                            {"accuracy_trained_source": trained, "accuracy_untrained_source": untrained}))
        heads.append(f"{arch_name(arch)}: {fmt(100 * trained, 1)}% from trained, "
                     f"{fmt(100 * untrained, 1)}% from untrained sources")
    return checks, "; ".join(heads)


RULES_BY_ID = {"B1": b1_checks, "B2": b2_checks, "B3": b3_checks, "B4": b4_checks, "B5": b5_checks,
               "B6": b6_checks}
# The readings of PROTOCOL.md section 8 that change how one of paper B's rules reads the same results.
RULE_READINGS = {
    "B2": ("B2: mean over all variants", {"B2 mean r": "one mean over all variants together"},
           lambda s: b2_checks(s, per_variant=False)),
    "B4": ("B4: by columns", {"B4 direction": "each dataset pattern's best class-pattern match is its own class"},
           lambda s: b4_checks(s, by_rows=False)),
}


def claims(s: DoughSummary, settings: dict[str, tuple[dict, DoughSummary]] | None = None) -> list[Claim]:
    """Verdicts of B1-B6, each with a one-line headline of its key numbers and its readings.

    Args:
      s: the primary results.
      settings: results under other readings of the experiment (PROTOCOL.md
        section 8, e.g. other start inputs), name -> (the settings it
        changes, its summary); every claim is judged on each.
    """
    out = []
    for cid, rule in RULES_BY_ID.items():
        checks, headline = rule(s)
        checks = tuple(checks)
        readings = [Reading("primary", {}, checks, headline)]
        if cid in RULE_READINGS:
            name, changed, variant = RULE_READINGS[cid]
            other_checks, other_head = variant(s)
            readings.append(Reading(name, changed, tuple(other_checks), other_head))
        for name, (changed, other) in (settings or {}).items():
            other_checks, other_head = rule(other)
            readings.append(Reading(name, changed, tuple(other_checks), other_head))
        out.append(Claim(cid, "dough", CLAIMS[cid], RULES[cid], checks, {c.name: c.numbers for c in checks}, {},
                         headline, tuple(readings)))
    return out


def _signed(value: float) -> str:
    return "\u2014" if np.isnan(value) else f"{value:+.1f}"


def _b2_headline(checks: list[Check], variant_means: list[tuple[str, float]]) -> str:
    values = [v for _, v in variant_means]
    if not values:
        return "no abstraction variants"
    worst = int(np.nanargmin(values)) if np.any(~np.isnan(values)) else 0
    return (f"{sum(c.passed for c in checks)} of {len(checks)} variants have mean r >= 0.7; lowest "
            f"{fmt(values[worst])} ({variant_means[worst][0]})")
