"""Paper B's derived numbers and claim verdicts B1-B6 (numpy only).

Everything is computed from the flat-keyed arrays of ``tfadv.dough.summarize``.
Where a rule compares patterns "across" models, r matrices are computed per
seed and averaged over seeds before the rule is applied.
"""

from __future__ import annotations

import numpy as np

from tfadv.analysis import Check, Claim, fmt, nearest_identifies, pearson_matrix, same_vs_other

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
# Columns of the ``stats|...`` arrays (per class), written by ``dough._class_stats``.
STATS = ("success rate", "median steps", "mean L2 of delta", "mean Linf of delta", "already the class")
ARCH_NAMES = {"mlp_deep_relu": "FC", "mlp_shallow_relu": "FC (shallow)", "cnn_relu": "CNN",
              "cnn_sigmoid": "CNN (sigmoid)"}


def _mean(values) -> float:
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    return float(values.mean()) if values.size else float("nan")


def _avg(mats) -> np.ndarray:
    mats = [m for m in mats if m is not None]
    if not mats:
        return np.full((10, 10), np.nan)
    stack = np.stack(mats)
    with np.errstate(invalid="ignore"):
        count = np.sum(~np.isnan(stack), axis=0)
        return np.where(count > 0, np.nansum(stack, axis=0) / np.maximum(count, 1), np.nan)


class DoughNumbers:
    """Access to one paper B summary by model role, with derived r matrices."""

    def __init__(self, s: dict):
        self.s = s
        self.meta = s["meta"]
        cfg = self.meta["config"]
        self.datasets = self.meta["datasets"]
        self.archs = [tuple(a) for a in cfg["archs"]]
        self.activation = tuple(cfg["activation_variant"])
        self.variant_configs = list(cfg["variant_configs"])
        self.shuffled = dict(tuple(a) for a in cfg["shuffled_configs"])
        self.seeds = int(cfg["seeds"])

    def pattern(self, dataset, arch, config, seed, stop="argmax", method="mean", k="all"):
        """A (10, 784) class-pattern array, or None when the model was not used."""
        return self.s.get(f"pattern|{dataset}|{arch}|{config}|{seed}|{stop}|{method}|{k}")

    def main_config(self, arch) -> str:
        return dict(self.archs + [self.activation])[arch]

    def r(self, a, b) -> np.ndarray | None:
        return None if a is None or b is None else pearson_matrix(a, b)

    def seed_avg(self, fn) -> np.ndarray:
        """Average over seeds of an r matrix ``fn(seed)`` (None entries skipped)."""
        return _avg([fn(s) for s in range(self.seeds)])

    # ------------------------------------------------------------ B1

    def split_half(self, dataset, arch, seed) -> np.ndarray | None:
        c = self.main_config(arch)
        return self.r(self.pattern(dataset, arch, c, seed, k="half_a"), self.pattern(dataset, arch, c, seed, k="half_b"))

    # ------------------------------------------------------------ B2

    def abstraction_variants(self) -> list[tuple[str, dict]]:
        """(label, pattern-key overrides) of every variant compared with the `mean` pattern."""
        out = [(a, {"method": a}) for a in self.meta["abstractions"] if a != "mean"]
        out += [(f"K={k}", {"k": str(k)}) for k in self.meta["k_values"] if k != "all"]
        out += [(f"stop {stop}", {"stop": stop}) for stop in self.meta["stops"] if stop != "argmax"]
        return out

    def variant_r(self, dataset, arch, seed, overrides) -> np.ndarray:
        """Per class, r(mean pattern, variant pattern) of one main model."""
        c = self.main_config(arch)
        base = self.pattern(dataset, arch, c, seed)
        other = self.pattern(dataset, arch, c, seed, **overrides)
        m = self.r(base, other)
        return np.full(10, np.nan) if m is None else np.diag(m)

    # ------------------------------------------------------------ B3

    def comparisons(self) -> list[tuple[str, tuple, tuple]]:
        """(label, (arch, config), (arch, config)) pairs of the B3 study."""
        (fc, fc_main), (cnn, cnn_main) = self.archs[0], self.archs[1]
        out = [(f"{ARCH_NAMES.get(fc, fc)} vs {ARCH_NAMES.get(cnn, cnn)}", (fc, fc_main), (cnn, cnn_main))]
        for arch, main in self.archs:
            out += [(f"{ARCH_NAMES.get(arch, arch)}: {main} vs {v}", (arch, main), (arch, v))
                    for v in self.variant_configs if v != main]
        return out

    def comparison_matrix(self, dataset, a, b) -> np.ndarray:
        return self.seed_avg(lambda s: self.r(self.pattern(dataset, *a, s), self.pattern(dataset, *b, s)))

    # ------------------------------------------------------------ B4

    def dataset_matrix(self, dataset, arch, config, variant="mean_diff") -> np.ndarray:
        """Seed-averaged r(class pattern c, dataset-derived pattern c')."""
        derived = self.s[f"dataset|{dataset}|{variant}"]
        return self.seed_avg(lambda s: self.r(self.pattern(dataset, arch, config, s), derived))

    def accuracy(self, dataset, arch, config) -> float:
        return _mean([self.s.get(f"accuracy|{dataset}|{arch}|{config}|{s}", np.nan) for s in range(self.seeds)])


def claims(s: dict) -> list[Claim]:
    """Verdicts of B1-B6, each with a one-line headline of its key numbers."""
    n = DoughNumbers(s)
    b1, b2, b3, b4, b5, b6 = [], [], [], [], [], []
    heads = {cid: [] for cid in CLAIMS}
    for d in n.datasets:
        for arch, _ in n.archs:
            counts = []
            for seed in range(n.seeds):
                m = n.split_half(d, arch, seed)
                counts.append(np.nan if m is None else int(min(nearest_identifies(m).sum(), nearest_identifies(m.T).sum())))
            ok = len(counts) > 0 and all(c == 10 for c in counts)
            b1.append(Check(f"{d}, {ARCH_NAMES.get(arch, arch)}: 10 of 10 classes identified in every seed",
                            ok, {"classes_identified_per_seed": counts}))
            heads["B1"].append(f"{d} {ARCH_NAMES.get(arch, arch)} "
                               + "/".join("\u2014" if np.isnan(c) else str(c) for c in counts))
    variant_means = []
    for label, overrides in n.abstraction_variants():
        values = [n.variant_r(d, arch, seed, overrides) for d in n.datasets for arch, _ in n.archs
                  for seed in range(n.seeds)]
        mean_r = _mean(np.concatenate(values)) if values else float("nan")
        b2.append(Check(f"mean r(mean, {label}) >= 0.7", bool(mean_r >= 0.7), {"mean_r": mean_r}))
        variant_means.append((label, mean_r))
    config_passes = []
    for d in n.datasets:
        for i, (label, a, b) in enumerate(n.comparisons()):
            m = n.comparison_matrix(d, a, b)
            count = int(same_vs_other(m).sum())
            b3.append(Check(f"{d}, {label}: same class beats every other class for >= 9 of 10", count >= 9,
                            {"classes": count, "same_class_r": _mean(np.diag(m))}))
            if i == 0:  # the architecture comparison comes first
                heads["B3"].append(f"{d} {count}/10")
            else:
                config_passes.append(count >= 9)
    gaps = []
    for d in n.datasets:
        for arch, main in n.archs:
            m = n.dataset_matrix(d, arch, main)
            identified = int(nearest_identifies(m).sum())
            trained = _mean(np.diag(m))
            untrained = _mean(np.diag(n.dataset_matrix(d, arch, "untrained")))
            shuffled = _mean(np.diag(n.dataset_matrix(d, arch, n.shuffled[arch])))
            name = ARCH_NAMES.get(arch, arch)
            b4.append(Check(f"{d}, {name}: r(pattern c, mu_c - mu) largest for >= 9 of 10 classes",
                            identified >= 9, {"classes": identified}))
            b4.append(Check(f"{d}, {name}: mean r exceeds untrained and shuffled controls by >= 0.3",
                            bool(trained - untrained >= 0.3 and trained - shuffled >= 0.3),
                            {"trained": trained, "untrained": untrained, "shuffled": shuffled}))
            heads["B4"].append(f"{d} {name} {identified}/10")
            gaps.append(f"{fmt(trained)} vs {fmt(untrained)}/{fmt(shuffled)}")
    for d in n.datasets:
        rate, random_rate = s[f"transfer|{d}"], s[f"transfer_random|{d}"]
        off = ~np.eye(len(rate), dtype=bool)
        gain, transfer, random_ = _mean((rate - random_rate)[off]), _mean(rate[off]), _mean(random_rate[off])
        b5.append(Check(f"{d}: pattern transfer beats norm-matched random by >= 20 points",
                        bool(gain >= 0.20), {"transfer_rate": transfer, "random_rate": random_, "difference": gain}))
        heads["B5"].append(f"{d}: {fmt(100 * transfer, 1)}% vs random {fmt(100 * random_, 1)}% "
                           f"({_signed(100 * gain)} points)")
    classifier = n.meta["classifier"]
    for arch, main in n.archs:
        trained = classifier.get(f"{arch}|{main}|0", {}).get("accuracy", float("nan"))
        untrained = classifier.get(f"{arch}|untrained|0", {}).get("accuracy", float("nan"))
        b6.append(Check(f"{ARCH_NAMES.get(arch, arch)}: >= 50% from trained, <= 20% from untrained",
                        bool(trained >= 0.5 and untrained <= 0.2),
                        {"accuracy_trained_source": trained, "accuracy_untrained_source": untrained}))
        heads["B6"].append(f"{ARCH_NAMES.get(arch, arch)}: {fmt(100 * trained, 1)}% from trained, "
                           f"{fmt(100 * untrained, 1)}% from untrained sources")
    headlines = {
        "B1": "classes identified per seed: " + "; ".join(heads["B1"]),
        "B2": _b2_headline(b2, variant_means),
        "B3": (f"classes matched FC vs CNN: {', '.join(heads['B3'])}; training configurations: "
               f"{sum(config_passes)} of {len(config_passes)} comparisons match >= 9 of 10"),
        "B4": f"classes identified: {', '.join(heads['B4'])}; same-class r trained vs controls: {', '.join(gaps)}",
        "B5": "; ".join(heads["B5"]),
        "B6": "; ".join(heads["B6"]),
    }
    specs = [("B1", b1), ("B2", b2), ("B3", b3), ("B4", b4), ("B5", b5), ("B6", b6)]
    return [Claim(cid, "dough", CLAIMS[cid], RULES[cid], tuple(checks),
                  {c.name: c.numbers for c in checks}, {}, headlines[cid]) for cid, checks in specs]


def _signed(value: float) -> str:
    return "\u2014" if np.isnan(value) else f"{value:+.1f}"


def _b2_headline(checks: list[Check], variant_means: list[tuple[str, float]]) -> str:
    values = [v for _, v in variant_means]
    if not values:
        return "no abstraction variants"
    worst = int(np.nanargmin(values)) if np.any(~np.isnan(values)) else 0
    return (f"{sum(c.passed for c in checks)} of {len(checks)} variants have mean r >= 0.7; lowest "
            f"{fmt(values[worst])} ({variant_means[worst][0]})")
