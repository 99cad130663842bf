"""Paper B's figures and tables (``dough_*`` of PROTOCOL.md section 5), from its summary.

Each ``make_<id>(s, out)`` draws from a ``DoughSummary`` into ``out``
(a ``tfadv.outputs.Output``: the folder and the preset, shown on every item)
and returns the files it wrote. A model below its floor has no patterns: they are drawn
as "none found" and its numbers shown as em dashes.
"""

from __future__ import annotations

import numpy as np

from tfadv.abstraction import DATASET_VARIANTS
from tfadv.analysis import nearest_identifies, pearson_matrix, same_vs_other
from tfadv.data import CLASS_NAMES
from tfadv.figures import DIVERGING, image_grid, new_figure, save_figure
from tfadv.keys import ModelKey
from tfadv.outputs import Output
from tfadv.papers.dough import claims as dc
from tfadv.papers.dough.claims import arch_name, mean
from tfadv.papers.dough.summary import STATS, DoughSummary
from tfadv.tables import Table, write_table

NAN = float("nan")
OFF_DIAGONAL = ~np.eye(10, dtype=bool)
DATASET_NAMES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST"}
VARIANT_NAMES = {"mean_diff": "mu_c - mu", "one_vs_rest": "mu_c - mu_(other classes)",
                 "standardised": "(mu_c - mu) / sigma"}


def _model(arch, config) -> str:
    return f"{arch_name(arch)}, {config}"


def _seed(s: DoughSummary, d, arch, config) -> int:
    """Seed 0, or the first seed whose model has patterns (seed 0 below its floor)."""
    return next((seed for seed in range(s.seeds) if s.is_used(ModelKey(arch, d, config, seed))), 0)


def _row_label(s: DoughSummary, d, arch, config, seed, what: str = "") -> str:
    """Model name (then ``what``), configuration and seed; says so when the model was below its floor."""
    label = f"{arch_name(arch)}{what}\n{config}, seed {seed}"
    model = ModelKey(arch, d, config, seed)
    e = s.exclusion(model)
    if e is not None and not s.is_used(model):
        label += f"\nnot used: accuracy\n{e['test_accuracy']:.3f} < floor {e['floor']:.3f}"
    return label


def _patterns(p) -> np.ndarray:
    return np.full((10, 784), np.nan) if p is None else p


def _r_captions(values) -> list[str]:
    return ["r = \u2014" if np.isnan(v) else f"r = {v:.2f}" for v in values]


def _diag(a, b) -> np.ndarray:
    """Per class, r(a[c], b[c]); NaN where either is missing."""
    return np.full(10, np.nan) if a is None or b is None else np.diag(pearson_matrix(a, b))


def _seeds_with(s: DoughSummary, d, *models) -> int:
    """Seeds in which every one of ``models`` ((arch, config) each) was used."""
    return sum(all(s.is_used(ModelKey(arch, d, config, seed)) for arch, config in models)
               for seed in range(s.seeds))


def _step_captions(stats) -> list[str]:
    """Per class: mean L2 of the single perturbations and their median number of steps."""
    return ["" if np.isnan(l2) else f"L2 {l2:.1f}, {steps:g} step{'' if steps == 1 else 's'}"
            for _, steps, l2, *_ in stats]


def _pattern_grid(fig, rows, col_labels, title, **options):
    """Patterns on a diverging scale centred at zero; every panel square, even "none found"."""
    axes = image_grid(fig, rows, col_labels, cmap=DIVERGING, centred=True, **options)
    for ax in axes.ravel():
        ax.set_aspect("equal")
    fig.suptitle(title, fontsize=10, weight="bold")


def _unit_scale(p) -> np.ndarray:
    """A pattern divided by its largest |value| (NaN stays NaN, an all-zero pattern stays zero)."""
    p = np.asarray(p, dtype=float)
    top = np.nanmax(np.abs(p)) if not np.all(np.isnan(p)) else 0.0
    return p / top if top > 0 else p


def _blocks(fig, s: DoughSummary, across: bool = False):
    """One sub-figure per dataset, stacked (or side by side with ``across``)."""
    shape = (1, len(s.datasets)) if across else (len(s.datasets), 1)
    return zip(fig.subfigures(*shape, squeeze=False).ravel(), s.datasets)


# ---------------------------------------------------------------- figures


def make_dough_fig1(s: DoughSummary, out: Output):
    """Class patterns (mean abstraction, argmax stop, K = all) of every main model, per dataset."""
    models = s.archs + [s.activation]
    fig = new_figure(12.5, (1.3 * len(models) + 0.45) * len(s.datasets) + 0.4)
    for sub, d in _blocks(fig, s):
        rows = []
        for arch, config in models:
            seed = _seed(s, d, arch, config)
            stats = s.class_stats(ModelKey(arch, d, config, seed))
            stats = np.full((10, len(STATS)), np.nan) if stats is None else stats
            rows.append((_row_label(s, d, arch, config, seed), _patterns(dc.pattern(s, d, arch, config, seed)),
                         _step_captions(stats), None))
        _pattern_grid(sub, rows, CLASS_NAMES[d], DATASET_NAMES.get(d, d))
    fig.suptitle("Class patterns: mean perturbation toward each class (stop at argmax, whole start bank); "
                 "red = added, blue = removed; each row has its own symmetric scale;\n"
                 "caption: mean L2 norm of the single perturbations and their median number of steps", fontsize=10)
    return save_figure(fig, out, "dough_fig1")


FIG2_CLASSES = (0, 4, 8)  # dough_fig2's classes: 0, 4 and 8 of each dataset (every class: dough_tab1's means)


def _variant_label(label: str) -> str:
    """A column heading of dough_fig2: ``K=10`` -> ``K = 10``, ``stop kappa0.5`` -> ``κ = 0.5``."""
    return label.replace("stop kappa", "\u03ba = ").replace("K=", "K = ")


def make_dough_fig2(s: DoughSummary, out: Output):
    """Class patterns under every abstraction method and parameter (columns), FC and CNN, with r to `mean`.

    One block per dataset, stacked; a row is one class of one main model, so
    a pattern that persists over the variants looks the same along its row.
    """
    variants = dc.abstraction_variants(s)
    columns = ["mean"] + [_variant_label(label) for label, _ in variants]
    n_rows = len(s.archs) * len(FIG2_CLASSES)
    fig = new_figure(1.05 * len(columns) + 1.9, (1.12 * n_rows + 0.7) * len(s.datasets) + 0.7)
    for sub, d in _blocks(fig, s):
        rows = []
        for arch, config in s.archs:
            seed = _seed(s, d, arch, config)
            mean_pattern = _patterns(dc.pattern(s, d, arch, config, seed))
            found = [_patterns(dc.pattern(s, d, arch, config, seed, **v)) for _, v in variants]
            r = np.stack([dc.variant_r(s, d, arch, seed, v) for _, v in variants]) if variants else np.zeros((0, 10))
            for c in FIG2_CLASSES:
                images = np.stack([_unit_scale(p[c]) for p in [mean_pattern] + found])
                rows.append((_row_label(s, d, arch, config, seed, f": {CLASS_NAMES[d][c]}"), images,
                             [""] + _r_captions(r[:, c]), None))
        _pattern_grid(sub, rows, columns, DATASET_NAMES.get(d, d), shared=True,
                      colorbar_label="pattern / its largest |value|")
    fig.suptitle(f"Class patterns of classes {', '.join(map(str, FIG2_CLASSES))} under every abstraction "
                 "method and parameter (columns), FC and CNN\ntop-p: mean of the p% largest |delta|; K: the first "
                 "K starts of the bank; \u03ba: stop at confidence >= \u03ba\ncaption: r with the same class's "
                 "`mean` pattern; each panel scaled to its largest |value|", fontsize=10)
    return save_figure(fig, out, "dough_fig2")


def make_dough_fig3(s: DoughSummary, out: Output):
    """Dataset-derived patterns mu_c - mu beside the FC and CNN class patterns, with r."""
    fig = new_figure(12.5, (1.4 * (len(s.archs) + 1) + 0.45) * len(s.datasets) + 0.4)
    for sub, d in _blocks(fig, s):
        derived = s.derived_pattern(d, "mean_diff")
        rows = [("$\\mu_c - \\mu$\n(training set)", _patterns(derived), None, None)]
        for arch, config in s.archs:
            seed = _seed(s, d, arch, config)
            p = dc.pattern(s, d, arch, config, seed)
            rows.append((f"{arch_name(arch)}\n{config}, seed {seed}", _patterns(p), _r_captions(_diag(p, derived)),
                         None))
        _pattern_grid(sub, rows, CLASS_NAMES[d], DATASET_NAMES.get(d, d))
    fig.suptitle("Dataset-derived patterns (class mean minus mean of all training images) beside the class "
                 "patterns; caption: r with the same class's dataset-derived pattern", fontsize=10)
    return save_figure(fig, out, "dough_fig3")


# ---------------------------------------------------------------- tables


def make_dough_tab1(s: DoughSummary, out: Output):
    """Claim B2: mean r between the `mean` pattern and each other abstraction variant."""
    cells = [(d, arch) for d in s.datasets for arch, _ in s.archs]
    rows = []
    for label, variant in dc.abstraction_variants(s):
        per_cell = [np.concatenate([dc.variant_r(s, d, arch, seed, variant) for seed in range(s.seeds)])
                    for d, arch in cells]
        rows.append((label, *[mean(v) for v in per_cell], mean(np.concatenate(per_cell))))
    cols = ("variant", *[f"{DATASET_NAMES.get(d, d)} {arch_name(arch)}" for d, arch in cells], "overall mean")
    table = Table(cols, tuple(rows), f"Paper B, claim B2: Pearson r between each class's `mean` pattern and the "
                  f"same class's pattern under another abstraction variant (main models; mean over classes and "
                  f"{s.seeds} seed(s)). Rule: overall mean >= 0.7 for every variant.")
    return write_table(table, out, "dough_tab1")


def make_dough_tab2(s: DoughSummary, out: Output):
    """Claim B3: same-class vs other-class r across architectures and training configurations."""
    pairs = [(a, b) for _, a, b in dc.comparisons(s)] + [(s.archs[1], s.activation)]
    rows = []
    for d in s.datasets:
        for a, b in pairs:
            m = dc.comparison_matrix(s, d, a, b)
            seeds = _seeds_with(s, d, a, b)
            rows.append((DATASET_NAMES.get(d, d), _model(*a), _model(*b), seeds, mean(np.diag(m)),
                         mean(m[OFF_DIAGONAL]), int(same_vs_other(m).sum()) if seeds else NAN,
                         dc.mean_accuracy(s, d, *a), dc.mean_accuracy(s, d, *b)))
    cols = ("dataset", "model A", "model B", "seeds", "same-class r", "other-class r",
            "classes: same beats every other", "test accuracy A", "test accuracy B")
    table = Table(cols, tuple(rows), "Paper B, claim B3: Pearson r between class patterns of two models "
                  "(matrices averaged over seeds): mean of the diagonal (same class), mean off the diagonal, and "
                  "the number of classes whose same-class r exceeds every other-class r (rule: >= 9 of 10). "
                  "Training-configuration variants are not held to accuracy floors; the last row is the "
                  "activation variant.")
    return write_table(table, out, "dough_tab2")


def make_dough_tab3(s: DoughSummary, out: Output):
    """Claim B4: r between class patterns and dataset-derived patterns, trained vs controls."""
    models = [(arch, training, config) for arch, main in s.archs
              for training, config in (("trained", main), ("untrained", "untrained"),
                                       ("shuffled labels", s.shuffled[arch]))]
    models.append((s.activation[0], "trained", s.activation[1]))
    rows = []
    for d in s.datasets:
        for arch, training, config in models:
            seeds = _seeds_with(s, d, (arch, config))
            label = training if training == config else f"{training} ({config})"
            for variant in DATASET_VARIANTS:
                m = dc.dataset_matrix(s, d, arch, config, variant)
                rows.append((DATASET_NAMES.get(d, d), arch_name(arch), label, VARIANT_NAMES.get(variant, variant),
                             seeds, mean(np.diag(m)), mean(m[OFF_DIAGONAL]),
                             int(nearest_identifies(m).sum()) if seeds else NAN))
    cols = ("dataset", "model", "training", "dataset pattern", "seeds", "same-class r", "other-class r",
            "classes identified")
    table = Table(cols, tuple(rows), "Paper B, claim B4: Pearson r between the class pattern of c and the "
                  "dataset-derived pattern of c' (matrices averaged over seeds); classes identified: the "
                  "dataset pattern of the same class is the nearest (rule: >= 9 of 10 for mu_c - mu, and "
                  "same-class r of trained models >= controls + 0.3). mu_c - mu_(other classes) is a positive "
                  "multiple of mu_c - mu for each class, so its r values are the same.")
    return write_table(table, out, "dough_tab3")


def make_dough_tab4(s: DoughSummary, out: Output):
    """Attack statistics per class of the main models (mean over seeds)."""
    rows = []
    for d in s.datasets:
        for arch, config in s.archs + [s.activation]:
            found = [s.class_stats(ModelKey(arch, d, config, seed)) for seed in range(s.seeds)]
            stats = dc.seed_mean(found, (10, len(STATS)))
            seeds = sum(f is not None for f in found)
            # Split halves are made for main models only; the activation variant's column stays empty.
            identified = split_half_identified(s, d, arch) if (arch, config) in s.archs else None
            for c, name in enumerate(CLASS_NAMES[d]):
                rows.append((DATASET_NAMES.get(d, d), _model(arch, config), name, seeds,
                             *[float(x) for x in stats[c]], NAN if identified is None else int(identified[c])))
    cols = ("dataset", "model", "class", "seeds") + STATS + ("seeds whose split halves identify the class (B1)",)
    table = Table(cols, tuple(rows), "Paper B: evolving the start bank toward each class (stop at argmax); "
                  "steps and norms over the successful evolutions; 'already the class': fraction of starts "
                  "the model gave that class before any step (their delta is 0); mean over seeds. Last column, "
                  "claim B1: in how many seeds the patterns of the even and odd starts of the bank pick each "
                  "other's class as the nearest (largest r), both ways.", digits=2)
    return write_table(table, out, "dough_tab4")


def split_half_identified(s: DoughSummary, d, arch) -> np.ndarray | None:
    """Per class, the number of seeds whose two half-bank patterns identify each other (claim B1).

    None when no seed of the model has patterns (below its floor).
    """
    matrices = [m for m in (dc.split_half(s, d, arch, seed) for seed in range(s.seeds)) if m is not None]
    if not matrices:
        return None
    return sum((nearest_identifies(m) & nearest_identifies(m.T)).astype(int) for m in matrices)


def make_dough_tab5(s: DoughSummary, out: Output):
    """Claim B5: transfer of class patterns between models against norm-matched random patterns."""
    rows = []
    for d in s.datasets:
        t = s.transfer(d)
        rate, random_rate = t.rate, t.random_rate
        archs = np.array([m.model for m in t.models])
        off = ~np.eye(len(archs), dtype=bool)
        groups = [(f"{arch_name(x)} -> {arch_name(y)}", np.outer(archs == x, archs == y) & off)
                  for x in dict.fromkeys(archs) for y in dict.fromkeys(archs)]
        for label, mask in groups + [("all pairs", off)]:
            if not mask.any():
                continue  # e.g. FC -> FC with a single seed
            gain = (rate - random_rate)[mask]
            rows.append((DATASET_NAMES.get(d, d), label, int(np.sum(~np.isnan(gain))), mean(rate[mask]),
                         mean(random_rate[mask]), mean(gain)))
    cols = ("dataset", "source -> target", "model pairs", "pattern transfer rate", "random pattern rate",
            "difference")
    table = Table(cols, tuple(rows), "Paper B, claim B5: fraction of fresh uniform-noise starts that model Y "
                  "classifies as c after adding model X's class pattern of c (scaled to X's median perturbation "
                  "norm), against a Gaussian pattern of the same norm; main models, X != Y. Rule: difference "
                  ">= 0.20 over all pairs.")
    return write_table(table, out, "dough_tab5")


def make_dough_tab6(s: DoughSummary, out: Output):
    """Claim B6: a classifier trained only on adversarial examples evolved from noise."""
    cfg = s.config
    rows = []
    for training in ("trained", "untrained"):
        for arch, main in s.archs:
            config = main if training == "trained" else "untrained"
            result = s.classifier(arch, config)
            rule = ">= 0.50" if training == "trained" else "<= 0.20"
            rows.append((_model(arch, config), training, result.n_train, float(result.accuracy), 0.10, rule))
    cols = ("source model (seed 0)", "source training", "training examples",
            "test accuracy (real MNIST test set)", "chance", "rule")
    table = Table(cols, tuple(rows), f"Paper B, claim B6 (beyond the paper): a fresh {cfg.classifier_arch} "
                  f"({cfg.classifier_config}) trained only on the successful evolutions of "
                  f"{10 * cfg.classifier_per_class} uniform-noise starts toward their target class in the "
                  f"source model (MNIST), labelled with that class; tested on the real MNIST test set.")
    return write_table(table, out, "dough_tab6")

