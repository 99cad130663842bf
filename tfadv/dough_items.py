"""Paper B's figures and tables (``dough_*`` of PROTOCOL.md section 5), from its summary.

Each ``make_<id>(s, output_dir)`` draws from the flat-keyed arrays of
``tfadv.dough.summarize`` (through ``dough_analysis.DoughNumbers``) and returns
the files it wrote. A model below its floor has no keys: its patterns are
drawn as "none found" and its numbers shown as em dashes.
"""

from __future__ import annotations

import numpy as np

from tfadv.abstraction import DATASET_VARIANTS
from tfadv.analysis import nearest_identifies, pearson_matrix, same_vs_other
from tfadv.data import CLASS_NAMES
from tfadv.dough_analysis import ARCH_NAMES, STATS, DoughNumbers
from tfadv.figures import DIVERGING, image_grid, new_figure, save_figure
from tfadv.tables import Table, write_table

NAN = float("nan")
OFF_DIAGONAL = ~np.eye(10, dtype=bool)
DATASET_NAMES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST"}
VARIANT_NAMES = {"mean_diff": "mu_c - mu", "one_vs_rest": "mu_c - mu_(other classes)",
                 "standardised": "(mu_c - mu) / sigma"}


def _name(arch) -> str:
    return ARCH_NAMES.get(arch, arch)


def _model(arch, config) -> str:
    return f"{_name(arch)}, {config}"


def _mean(values) -> float:
    values = np.asarray(values, dtype=float).ravel()
    values = values[~np.isnan(values)]
    return float(values.mean()) if values.size else NAN


def _seed_mean(arrays, shape) -> np.ndarray:
    """NaN-aware mean over seeds of the arrays present (None entries skipped)."""
    arrays = [a for a in arrays if a is not None]
    if not arrays:
        return np.full(shape, np.nan)
    stack = np.stack(arrays)
    count = np.sum(~np.isnan(stack), axis=0)
    return np.where(count > 0, np.nansum(stack, axis=0) / np.maximum(count, 1), np.nan)


def _seed(n: DoughNumbers, d, arch, config) -> int:
    """Seed 0, or the first seed whose model has patterns (seed 0 below its floor)."""
    return next((s for s in range(n.seeds) if n.pattern(d, arch, config, s) is not None), 0)


def _row_label(n: DoughNumbers, d, arch, config, seed) -> str:
    """Model name, configuration and seed; says so when the model was below its accuracy floor."""
    label = f"{_name(arch)}\n{config}, seed {seed}"
    excluded = [e for e in n.meta.get("excluded", []) if e["key"] == [arch, d, config, seed]]
    if excluded and n.pattern(d, arch, config, seed) is None:
        e = excluded[0]
        label += f"\nnot used: accuracy\n{e['test_accuracy']:.3f} < floor {e['floor']:.3f}"
    return label


def _patterns(p) -> np.ndarray:
    return np.full((10, 784), np.nan) if p is None else p


def _r_captions(values) -> list[str]:
    return ["r = \u2014" if np.isnan(v) else f"r = {v:.2f}" for v in values]


def _diag(a, b) -> np.ndarray:
    """Per class, r(a[c], b[c]); NaN where either is missing."""
    return np.full(10, np.nan) if a is None or b is None else np.diag(pearson_matrix(a, b))


def _seeds_with(n: DoughNumbers, d, *models) -> int:
    return sum(all(n.pattern(d, *m, s) is not None for m in models) for s in range(n.seeds))


def _step_captions(stats) -> list[str]:
    """Per class: mean L2 of the single perturbations and their median number of steps."""
    return ["" if np.isnan(l2) else f"L2 {l2:.1f}, {steps:g} step{'' if steps == 1 else 's'}"
            for _, steps, l2, *_ in stats]


def _pattern_grid(fig, rows, dataset, title):
    """Patterns on a diverging scale centred at zero; every panel square, even "none found"."""
    axes = image_grid(fig, rows, CLASS_NAMES[dataset], cmap=DIVERGING, centred=True)
    for ax in axes.ravel():
        ax.set_aspect("equal")
    fig.suptitle(title, fontsize=10, weight="bold")


def _blocks(fig, n: DoughNumbers, across: bool = False):
    """One sub-figure per dataset, stacked (or side by side with ``across``)."""
    shape = (1, len(n.datasets)) if across else (len(n.datasets), 1)
    return zip(fig.subfigures(*shape, squeeze=False).ravel(), n.datasets)


# ---------------------------------------------------------------- figures


def make_dough_fig1(s, output_dir):
    """Class patterns (mean abstraction, argmax stop, K = all) of every main model, per dataset."""
    n = DoughNumbers(s)
    models = n.archs + [n.activation]
    fig = new_figure(12.5, (1.3 * len(models) + 0.45) * len(n.datasets) + 0.4)
    for sub, d in _blocks(fig, n):
        rows = []
        for arch, config in models:
            seed = _seed(n, d, arch, config)
            stats = s.get(f"stats|{d}|{arch}|{config}|{seed}", np.full((10, len(STATS)), np.nan))
            rows.append((_row_label(n, d, arch, config, seed), _patterns(n.pattern(d, arch, config, seed)),
                         _step_captions(stats), None))
        _pattern_grid(sub, rows, d, DATASET_NAMES.get(d, d))
    fig.suptitle("Class patterns: mean perturbation toward each class (stop at argmax, whole start bank); "
                 "red = added, blue = removed; each row has its own symmetric scale;\n"
                 "caption: mean L2 norm of the single perturbations and their median number of steps", fontsize=10)
    return save_figure(fig, output_dir, "dough_fig1")


def make_dough_fig2(s, output_dir):
    """The FC model's class patterns under every abstraction variant, with r to the mean pattern."""
    n = DoughNumbers(s)
    arch, config = n.archs[0]
    variants = n.abstraction_variants()
    fig = new_figure(21.0, 1.12 * (len(variants) + 1) + 1.0)
    for sub, d in _blocks(fig, n, across=True):
        seed = _seed(n, d, arch, config)
        rows = [("mean", _patterns(n.pattern(d, arch, config, seed)), None, None)]
        for label, overrides in variants:
            rows.append((label, _patterns(n.pattern(d, arch, config, seed, **overrides)),
                         _r_captions(n.variant_r(d, arch, seed, overrides)), None))
        _pattern_grid(sub, rows, d, f"{DATASET_NAMES.get(d, d)}: {_model(arch, config)}, seed {seed}")
    fig.suptitle("Class patterns under every abstraction method and parameter (rows; K = first K starts of the "
                 "bank, kappa = stop at confidence >= kappa); caption: r with the class's `mean` pattern",
                 fontsize=10)
    return save_figure(fig, output_dir, "dough_fig2")


def make_dough_fig3(s, output_dir):
    """Dataset-derived patterns mu_c - mu beside the FC and CNN class patterns, with r."""
    n = DoughNumbers(s)
    fig = new_figure(12.5, (1.4 * (len(n.archs) + 1) + 0.45) * len(n.datasets) + 0.4)
    for sub, d in _blocks(fig, n):
        derived = s.get(f"dataset|{d}|mean_diff")
        rows = [("$\\mu_c - \\mu$\n(training set)", _patterns(derived), None, None)]
        for arch, config in n.archs:
            seed = _seed(n, d, arch, config)
            p = n.pattern(d, arch, config, seed)
            rows.append((f"{_name(arch)}\n{config}, seed {seed}", _patterns(p), _r_captions(_diag(p, derived)),
                         None))
        _pattern_grid(sub, rows, d, DATASET_NAMES.get(d, d))
    fig.suptitle("Dataset-derived patterns (class mean minus mean of all training images) beside the class "
                 "patterns; caption: r with the same class's dataset-derived pattern", fontsize=10)
    return save_figure(fig, output_dir, "dough_fig3")


# ---------------------------------------------------------------- tables


def make_dough_tab1(s, output_dir):
    """Claim B2: mean r between the `mean` pattern and each other abstraction variant."""
    n = DoughNumbers(s)
    cells = [(d, arch) for d in n.datasets for arch, _ in n.archs]
    rows = []
    for label, overrides in n.abstraction_variants():
        per_cell = [np.concatenate([n.variant_r(d, arch, seed, overrides) for seed in range(n.seeds)])
                    for d, arch in cells]
        rows.append((label, *[_mean(v) for v in per_cell], _mean(np.concatenate(per_cell))))
    cols = ("variant", *[f"{DATASET_NAMES.get(d, d)} {_name(arch)}" for d, arch in cells], "overall mean")
    table = Table(cols, tuple(rows), f"Paper B, claim B2: Pearson r between each class's `mean` pattern and the "
                  f"same class's pattern under another abstraction variant (main models; mean over classes and "
                  f"{n.seeds} seed(s)). Rule: overall mean >= 0.7 for every variant.")
    return write_table(table, output_dir, "dough_tab1")


def make_dough_tab2(s, output_dir):
    """Claim B3: same-class vs other-class r across architectures and training configurations."""
    n = DoughNumbers(s)
    pairs = [(a, b) for _, a, b in n.comparisons()] + [(n.archs[1], n.activation)]
    rows = []
    for d in n.datasets:
        for a, b in pairs:
            m = n.comparison_matrix(d, a, b)
            seeds = _seeds_with(n, d, a, b)
            rows.append((DATASET_NAMES.get(d, d), _model(*a), _model(*b), seeds, _mean(np.diag(m)),
                         _mean(m[OFF_DIAGONAL]), int(same_vs_other(m).sum()) if seeds else NAN,
                         n.accuracy(d, *a), n.accuracy(d, *b)))
    cols = ("dataset", "model A", "model B", "seeds", "same-class r", "other-class r",
            "classes: same beats every other", "test accuracy A", "test accuracy B")
    table = Table(cols, tuple(rows), "Paper B, claim B3: Pearson r between class patterns of two models "
                  "(matrices averaged over seeds): mean of the diagonal (same class), mean off the diagonal, and "
                  "the number of classes whose same-class r exceeds every other-class r (rule: >= 9 of 10). "
                  "Training-configuration variants are not held to accuracy floors; the last row is the "
                  "activation variant.")
    return write_table(table, output_dir, "dough_tab2")


def make_dough_tab3(s, output_dir):
    """Claim B4: r between class patterns and dataset-derived patterns, trained vs controls."""
    n = DoughNumbers(s)
    models = [(arch, training, config) for arch, main in n.archs
              for training, config in (("trained", main), ("untrained", "untrained"),
                                       ("shuffled labels", n.shuffled.get(arch)))]
    models.append((n.activation[0], "trained", n.activation[1]))
    rows = []
    for d in n.datasets:
        for arch, training, config in models:
            seeds = _seeds_with(n, d, (arch, config))
            label = training if training == config else f"{training} ({config})"
            for variant in DATASET_VARIANTS:
                m = n.dataset_matrix(d, arch, config, variant)
                rows.append((DATASET_NAMES.get(d, d), _name(arch), label, VARIANT_NAMES.get(variant, variant),
                             seeds, _mean(np.diag(m)), _mean(m[OFF_DIAGONAL]),
                             int(nearest_identifies(m).sum()) if seeds else NAN))
    cols = ("dataset", "model", "training", "dataset pattern", "seeds", "same-class r", "other-class r",
            "classes identified")
    table = Table(cols, tuple(rows), "Paper B, claim B4: Pearson r between the class pattern of c and the "
                  "dataset-derived pattern of c' (matrices averaged over seeds); classes identified: the "
                  "dataset pattern of the same class is the nearest (rule: >= 9 of 10 for mu_c - mu, and "
                  "same-class r of trained models >= controls + 0.3). mu_c - mu_(other classes) is a positive "
                  "multiple of mu_c - mu for each class, so its r values are the same.")
    return write_table(table, output_dir, "dough_tab3")


def make_dough_tab4(s, output_dir):
    """Attack statistics per class of the main models (mean over seeds)."""
    n = DoughNumbers(s)
    rows = []
    for d in n.datasets:
        for arch, config in n.archs + [n.activation]:
            found = [s.get(f"stats|{d}|{arch}|{config}|{seed}") for seed in range(n.seeds)]
            stats = _seed_mean(found, (10, len(STATS)))
            seeds = sum(f is not None for f in found)
            identified = _split_half_identified(n, d, arch)
            for c, name in enumerate(CLASS_NAMES[d]):
                rows.append((DATASET_NAMES.get(d, d), _model(arch, config), name, seeds,
                             *[float(x) for x in stats[c]], NAN if identified is None else int(identified[c])))
    cols = ("dataset", "model", "class", "seeds") + STATS + ("seeds whose split halves identify the class (B1)",)
    table = Table(cols, tuple(rows), "Paper B: evolving the start bank toward each class (stop at argmax); "
                  "steps and norms over the successful evolutions; 'already the class': fraction of starts "
                  "the model gave that class before any step (their delta is 0); mean over seeds. Last column, "
                  "claim B1: in how many seeds the patterns of the even and odd starts of the bank pick each "
                  "other's class as the nearest (largest r), both ways.", digits=2)
    return write_table(table, output_dir, "dough_tab4")


def _split_half_identified(n: DoughNumbers, d, arch) -> np.ndarray | None:
    """Per class, the number of seeds whose two half-bank patterns identify each other (claim B1).

    None when no seed of the model has patterns (below its floor).
    """
    matrices = [m for m in (n.split_half(d, arch, seed) for seed in range(n.seeds)) if m is not None]
    if not matrices:
        return None
    return sum((nearest_identifies(m) & nearest_identifies(m.T)).astype(int) for m in matrices)


def make_dough_tab5(s, output_dir):
    """Claim B5: transfer of class patterns between models against norm-matched random patterns."""
    n = DoughNumbers(s)
    rows = []
    for d in n.datasets:
        if f"transfer|{d}" not in s:
            rows.append((DATASET_NAMES.get(d, d), "all pairs", 0, NAN, NAN, NAN))
            continue
        rate, random_rate = s[f"transfer|{d}"], s[f"transfer_random|{d}"]
        archs = np.array([name.split("|")[0] for name in s["meta"]["transfer_models"][d]])
        off = ~np.eye(len(archs), dtype=bool)
        groups = [(f"{_name(x)} -> {_name(y)}", np.outer(archs == x, archs == y) & off)
                  for x in dict.fromkeys(archs) for y in dict.fromkeys(archs)]
        for label, mask in groups + [("all pairs", off)]:
            if not mask.any():
                continue  # e.g. FC -> FC with a single seed
            gain = (rate - random_rate)[mask]
            rows.append((DATASET_NAMES.get(d, d), label, int(np.sum(~np.isnan(gain))), _mean(rate[mask]),
                         _mean(random_rate[mask]), _mean(gain)))
    cols = ("dataset", "source -> target", "model pairs", "pattern transfer rate", "random pattern rate",
            "difference")
    table = Table(cols, tuple(rows), "Paper B, claim B5: fraction of fresh uniform-noise starts that model Y "
                  "classifies as c after adding model X's class pattern of c (scaled to X's median perturbation "
                  "norm), against a Gaussian pattern of the same norm; main models, X != Y. Rule: difference "
                  ">= 0.20 over all pairs.")
    return write_table(table, output_dir, "dough_tab5")


def make_dough_tab6(s, output_dir):
    """Claim B6: a classifier trained only on adversarial examples evolved from noise."""
    n = DoughNumbers(s)
    cfg = s["meta"]["config"]
    rows = []
    for training in ("trained", "untrained"):
        for arch, main in n.archs:
            config = main if training == "trained" else "untrained"
            result = s["meta"]["classifier"].get(f"{arch}|{config}|0", {})
            rule = ">= 0.50" if training == "trained" else "<= 0.20"
            rows.append((_model(arch, config), training, result.get("n_train", NAN),
                         float(result.get("accuracy", NAN)), 0.10, rule))
    cols = ("source model (seed 0)", "source training", "training examples",
            "test accuracy (real MNIST test set)", "chance", "rule")
    table = Table(cols, tuple(rows), f"Paper B, claim B6 (beyond the paper): a fresh {cfg['classifier_arch']} "
                  f"({cfg['classifier_config']}) trained only on the successful evolutions of "
                  f"{10 * cfg['classifier_per_class']} uniform-noise starts toward their target class in the "
                  f"source model (MNIST), labelled with that class; tested on the real MNIST test set.")
    return write_table(table, output_dir, "dough_tab6")


ITEMS = {
    "dough_fig1": make_dough_fig1,
    "dough_fig2": make_dough_fig2,
    "dough_fig3": make_dough_fig3,
    "dough_tab1": make_dough_tab1,
    "dough_tab2": make_dough_tab2,
    "dough_tab3": make_dough_tab3,
    "dough_tab4": make_dough_tab4,
    "dough_tab5": make_dough_tab5,
    "dough_tab6": make_dough_tab6,
}
