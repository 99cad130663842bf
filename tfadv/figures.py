"""Figures drawn from saved numbers: ``plot_<id>(fig, ...)``, never reading flags.

Matplotlib's object API (``matplotlib.figure.Figure``) is used directly, so
no global pyplot state or display backend is involved; ``save_figure`` writes
PNG and PDF atomically, with the item's id and preset in the footer.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from tfadv import artifacts
from tfadv.outputs import Output

DIVERGING = "RdBu_r"


def new_figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


def save_figure(fig: Figure, out: Output, item_id: str) -> list[Path]:
    """Writes ``figures/<id>.png`` (150 dpi) and, unless ``out.pdf`` is off, ``.pdf`` into
    ``out.folder``; returns the paths.

    The footer names the item and ``out``'s preset (``Output.note``), wrapped to the figure's width.
    """
    fig.supxlabel(wrap_to_width(f"{item_id}. {out.note()}", fig, fontsize=7), x=0.995, ha="right",
                  fontsize=7, color="0.3")
    paths = artifacts.figure_paths(out.folder, item_id)[:None if out.pdf else 1]
    for path in paths:
        with artifacts.atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=150, format=path.suffix[1:])
        # The first save laid the figure out; the next formats reuse that layout (about a third of a
        # figure's drawing time is the constrained layout, the same for every format).
        fig.set_layout_engine("none")
    return list(paths)


def wrap_to_width(text: str, fig: Figure, fontsize: float) -> str:
    """``text`` broken into lines that fit the figure's width at ``fontsize`` (an average glyph is
    taken as 0.55 em wide, generous for DejaVu Sans)."""
    chars = int(fig.get_figwidth() * 72 / (0.55 * fontsize))
    return textwrap.fill(text, width=max(chars, 20))


def _image(ax, pixels, vmin=0.0, vmax=1.0, cmap="gray"):
    ax.set_xticks([])
    ax.set_yticks([])
    pixels = np.asarray(pixels, dtype=float).reshape(28, 28)
    if np.all(np.isnan(pixels)):
        # The box an image would have (imshow's limits and square pixels), so the row stays even.
        ax.set_xlim(-0.5, 27.5)
        ax.set_ylim(27.5, -0.5)
        ax.set_aspect("equal")
        ax.set_facecolor("0.9")
        ax.text(0.5, 0.5, "none\nfound", ha="center", va="center", fontsize=7, transform=ax.transAxes)
        return None
    return ax.imshow(pixels, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")


def _range(images) -> tuple[float, float]:
    images = np.asarray(images, dtype=float)
    if np.all(np.isnan(images)):
        return 0.0, 1.0
    return float(np.nanmin(images)), float(np.nanmax(images))


def image_grid(fig: Figure, rows: list[tuple[str, np.ndarray, list[str] | None, str | None]],
               col_labels: list[str], *, shared: bool = False, cmap="gray", centred=False,
               colorbar_label: str | None = None):
    """A grid of 28x28 images: one row per (label, images[n], captions, scale note), n = len(col_labels).

    Each row gets its own colour scale and colour bar (``shared`` uses one for
    all rows, labelled ``colorbar_label``); ``centred`` makes the scale
    symmetric around zero. An all-NaN image is a grey "none found" panel of
    the same size.
    """
    axes = fig.subplots(len(rows), len(col_labels), squeeze=False)
    all_lo, all_hi = _range([r[1] for r in rows])
    for i, (label, images, captions, _) in enumerate(rows):
        lo, hi = (all_lo, all_hi) if shared else _range(images)
        if centred:
            m = max(abs(lo), abs(hi)) or 1.0
            lo, hi = -m, m
        mappable = None
        for j, ax in enumerate(axes[i]):
            im = _image(ax, images[j], lo, hi, cmap)
            mappable = mappable or im
            if i == 0:
                ax.set_title(col_labels[j], fontsize=8)
            if captions:
                ax.set_xlabel(captions[j], fontsize=6.5)
        axes[i, 0].set_ylabel(label, fontsize=7.5)
        if mappable is not None and (not shared or i == len(rows) - 1):
            fig.colorbar(mappable, ax=list(axes[i]) if not shared else list(axes.ravel()),
                         shrink=0.85 if not shared else 0.5, pad=0.01, aspect=12 if not shared else 25,
                         label=colorbar_label)
    return axes


def heatmap(ax, matrix, title: str, xlabel: str, ylabel: str, ticks: list[str], vmin=-1.0, vmax=1.0,
            annotate: bool = True):
    """A 10x10 r matrix with the diagonal outlined and values printed in cells."""
    matrix = np.asarray(matrix, dtype=float)
    im = ax.imshow(np.ma.masked_invalid(matrix), cmap=DIVERGING, vmin=vmin, vmax=vmax)
    ax.set_facecolor("0.88")  # cells without a value (no averaged image)
    ax.set_xlim(-0.5, len(ticks) - 0.5)
    ax.set_ylim(len(ticks) - 0.5, -0.5)
    ax.set_title(title, fontsize=8)
    ax.set_xticks(range(len(ticks)), ticks, fontsize=6)
    ax.set_yticks(range(len(ticks)), ticks, fontsize=6)
    ax.set_xlabel(xlabel, fontsize=7)
    ax.set_ylabel(ylabel, fontsize=7)
    if annotate:
        for (i, j), value in np.ndenumerate(matrix):
            if not np.isnan(value):
                weight = "bold" if i == j else "normal"
                ax.text(j, i, f"{value:.2f}".replace("0.", ".", 1),
                        ha="center", va="center", fontsize=4.5, weight=weight,
                        color="white" if abs(value) > 0.6 else "black")
    for k in range(len(ticks)):
        ax.add_patch(_square(k))
    return im


def _square(k):
    from matplotlib.patches import Rectangle

    return Rectangle((k - 0.5, k - 0.5), 1, 1, fill=False, lw=0.6, ec="black")


# ---------------------------------------------------------------- paper A


def plot_eyes_fig1(fig: Figure, panels: list[dict]) -> None:
    """Paper A's 2x2 figure: panels (a)-(d), each {image, label, confidence, caption}."""
    axes = fig.subplots(2, 2)
    for ax, panel, letter in zip(axes.ravel(), panels, "abcd"):
        lo, hi = (0.0, 1.0) if panel.get("full_range", True) else _range(panel["image"])
        im = _image(ax, panel["image"], lo, hi)
        if im is not None:
            fig.colorbar(im, ax=ax, shrink=0.8)
        conf = panel["confidence"]
        head = (f"({letter}) labelled {panel['label']}, {conf:.2%} confidence"
                if not np.isnan(conf) else f"({letter}) no example found")
        ax.set_title(head, fontsize=9)
        ax.set_xlabel(panel["caption"], fontsize=7.5)


def plot_eyes_fig4(fig: Figure, budgets, curves: np.ndarray, net_names: list[str]) -> None:
    """Success rate against step budget, per digit (lines), per net (panels).

    ``curves`` is [net, digit, budget], averaged over rounds.
    """
    axes = fig.subplots(1, len(net_names), sharey=True, squeeze=False)[0]
    x = np.asarray(budgets, dtype=float)
    colors = [f"C{d}" for d in range(10)]
    for ax, name, per_digit in zip(axes, net_names, curves):
        for d in range(10):
            ax.plot(x, per_digit[d], marker="o", ms=2.5, lw=1.2, color=colors[d], label=str(d))
        ax.set_xscale("symlog", linthresh=1)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("step budget (steps of gradient descent)", fontsize=8)
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("success rate (fraction of noise starts)", fontsize=8)
    # Beside the panels, where it hides no curve.
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, title="digit", fontsize=7, title_fontsize=7, loc="outside right center")
