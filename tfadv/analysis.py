"""Statistics of patterns and success rates (numpy only).

PROTOCOL.md sections 4-6: similarity of patterns is the Pearson r of their
pixels; success rates come with Wilson intervals and step-budget curves.
Verdicts are built from them in ``tfadv.verdicts``; the per-claim logic lives
with the stages that own the results; this module stays generic.

Patterns and images are arrays whose trailing axes are pixels, e.g.
``(N, 28, 28)`` or ``(N, 784)``; functions flatten them as needed. This
module never imports TensorFlow.
"""

from __future__ import annotations

import math

import numpy as np


# ---------------------------------------------------------------- similarity


def _unit_rows(patterns: np.ndarray) -> np.ndarray:
    """Rows centred and scaled to unit L2 norm; constant or NaN rows -> NaN."""
    x = np.asarray(patterns, dtype=np.float64)
    if x.ndim < 2:
        raise ValueError(f"Expected a stack of patterns (n, ...), got shape {x.shape}.")
    x = x.reshape(len(x), -1)
    centred = x - x.mean(axis=1, keepdims=True)
    varies = x.max(axis=1) > x.min(axis=1)  # False for constant and NaN rows
    norms = np.linalg.norm(centred, axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        unit = centred / norms
    unit[~varies] = np.nan
    return unit


def pearson_matrix(a, b=None) -> np.ndarray:
    """Pearson r between every pattern of ``a`` and every pattern of ``b``.

    PROTOCOL.md section 4: similarity is the Pearson r of the pixels (used by
    ``eyes_fig3``/``eyes_tab3``, ``dough_tab1``-``dough_tab3``, claims A2-A4
    and B1-B4).

    Args:
      a: patterns, shape ``(n_a, ...)``.
      b: patterns, shape ``(n_b, ...)`` with as many pixels as ``a``;
        defaults to ``a``.

    Returns:
      float64 array ``(n_a, n_b)``. Entries involving a constant pattern or a
      pattern containing NaN (e.g. a class without examples) are NaN.
    """
    ua = _unit_rows(a)
    ub = ua if b is None else _unit_rows(b)
    if ua.shape[1] != ub.shape[1]:
        raise ValueError(f"Patterns differ in pixel count: {ua.shape[1]} vs {ub.shape[1]}.")
    return np.clip(ua @ ub.T, -1.0, 1.0)


def pearson(a, b) -> float:
    """Pearson r of two patterns' pixels (flattened); NaN if either is constant.

    PROTOCOL.md section 4.
    """
    a, b = np.asarray(a), np.asarray(b)
    return float(pearson_matrix(a.reshape(1, -1), b.reshape(1, -1))[0, 0])


def mean_pairwise_r(patterns) -> float:
    """Mean r over all unordered pairs of distinct patterns, ignoring NaN.

    Persistence across training rounds (claim A3, ``eyes_tab3``).

    Args:
      patterns: shape ``(n, ...)``, e.g. one digit's averaged image per round.

    Returns:
      The mean r, or NaN when no pair has a defined r (fewer than 2 valid
      patterns).
    """
    r = pearson_matrix(patterns)
    values = r[np.triu_indices(len(r), k=1)]
    values = values[~np.isnan(values)]
    return float(values.mean()) if values.size else math.nan


def class_means(images, labels, n_classes: int = 10) -> np.ndarray:
    """Mean image of each class (the reference row of ``eyes_fig2``; claim A2).

    Args:
      images: shape ``(N, ...)``.
      labels: integer class of each image, shape ``(N,)``.
      n_classes: number of classes.

    Returns:
      float64 array ``(n_classes, ...)``; a class without images gets a NaN
      image.
    """
    images, labels = np.asarray(images), np.asarray(labels)
    means = np.full((n_classes,) + images.shape[1:], np.nan)
    for c in range(n_classes):
        members = images[labels == c]
        if len(members):
            means[c] = members.mean(axis=0, dtype=np.float64)
    return means


def same_vs_other(r) -> np.ndarray:
    """Whether same-class r exceeds every other-class r involving the class.

    Claim B3 (``dough_tab2``) and the same-vs-other columns of ``dough_tab3``.
    ``r[c, c']`` is the r between source 1's pattern of class ``c`` and
    source 2's pattern of class ``c'``.

    Args:
      r: square matrix ``(n, n)``.

    Returns:
      bool array ``(n,)``: True for class ``c`` when ``r[c, c]`` exceeds every
      defined other entry of row ``c`` and of column ``c``. NaN entries (a
      class with no pattern in one source) are left out of the comparison; a
      NaN ``r[c, c]`` gives False, as does a class with nothing to compare.
    """
    r = _square(r)
    n = len(r)
    passed = np.zeros(n, dtype=bool)
    for c in range(n):
        others = np.concatenate([np.delete(r[c], c), np.delete(r[:, c], c)])
        others = others[~np.isnan(others)]
        passed[c] = bool(not np.isnan(r[c, c]) and len(others) and np.all(r[c, c] > others))
    return passed


def nearest_identifies(r) -> np.ndarray:
    """Whether each row's nearest column (largest r) is its own class.

    Claim B1's split-half identification and B4's "largest over all c'".

    Args:
      r: square matrix ``(n, n)``; NaN entries are ignored.

    Returns:
      bool array ``(n,)``: ``argmax_c' r[c, c'] == c``; False for rows that
      are all NaN.
    """
    r = _square(r)
    valid = ~np.isnan(r)
    nearest = np.argmax(np.where(valid, r, -np.inf), axis=1)
    return (nearest == np.arange(len(r))) & valid.any(axis=1)


def _square(r) -> np.ndarray:
    r = np.asarray(r, dtype=np.float64)
    if r.ndim != 2 or r.shape[0] != r.shape[1]:
        raise ValueError(f"Expected a square r matrix, got shape {r.shape}.")
    return r


# ---------------------------------------------------------------- rates


def wilson_interval(successes, trials, z: float = 1.959964):
    """Wilson score interval of a success rate (``eyes_tab1``, ``dough_tab4``).

    Args:
      successes: number of successes (scalar or array).
      trials: number of trials (broadcasts with ``successes``).
      z: the normal quantile (1.959964 for 95%).

    Returns:
      ``(low, high)``: floats for scalar input, arrays otherwise; NaN where
      ``trials`` is 0.
    """
    k = np.asarray(successes, dtype=np.float64)
    n = np.asarray(trials, dtype=np.float64)
    if np.any(k < 0) or np.any(k > n):
        raise ValueError("Need 0 <= successes <= trials.")
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / n
        denom = 1.0 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denom
        half = z / denom * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    # The exact bounds at 0/n and n/n are 0 and 1; rounding would miss them.
    low = np.where(n > 0, np.where(k == 0, 0.0, centre - half), np.nan)
    high = np.where(n > 0, np.where(k == n, 1.0, centre + half), np.nan)
    if low.ndim == 0:
        return float(low), float(high)
    return low, high


def success_by_budget(steps, success, budgets) -> np.ndarray:
    """Fraction of attempts that succeed within each step budget (``eyes_fig4``).

    Paper A's success-against-step-budget curve.

    Args:
      steps: steps taken by each attempt, shape ``(n,)``.
      success: whether each attempt succeeded, shape ``(n,)``.
      budgets: step budgets, shape ``(m,)``.

    Returns:
      float64 array ``(m,)``: for each budget ``b``, the fraction of all
      attempts with ``success`` and ``steps <= b``; NaN when there are no
      attempts.
    """
    steps = np.asarray(steps).reshape(-1)
    success = np.asarray(success, dtype=bool).reshape(-1)
    budgets = np.asarray(budgets)
    if steps.shape != success.shape:
        raise ValueError(f"steps and success differ in length: {steps.size} vs {success.size}.")
    if steps.size == 0:
        return np.full(budgets.shape, np.nan)
    done = np.sort(steps[success])
    return np.searchsorted(done, budgets, side="right") / steps.size


def nanmean(values, axis=None):
    """Mean ignoring NaN, NaN where no value is valid (no warning); a float for a scalar result."""
    x = np.asarray(values, dtype=float)
    with np.errstate(invalid="ignore"):
        count = np.sum(~np.isnan(x), axis=axis)
        total = np.nansum(x, axis=axis)
        out = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return float(out) if out.ndim == 0 else out


def nanmedian(values) -> float:
    """Median of all values ignoring NaN; NaN where none is valid (no warning)."""
    x = np.asarray(values, dtype=float)
    return float(np.nanmedian(x)) if np.any(~np.isnan(x)) else float("nan")


def mean_sd(values, axis: int = 0):
    """Mean and sample sd (ddof=1) over training rounds, ignoring NaN.

    Used for the "mean and sd over rounds" of ``eyes_tab1`` and others.

    Args:
      values: array of values.
      axis: the axis to reduce.

    Returns:
      ``(mean, sd)``: floats when the result is a scalar, arrays otherwise.
      The sd is 0 where only one value is valid; both are NaN where none is.
    """
    x = np.asarray(values, dtype=np.float64)
    valid = ~np.isnan(x)
    count = valid.sum(axis=axis)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(valid, x, 0.0).sum(axis=axis) / count
        deviation = np.where(valid, x - np.expand_dims(mean, axis), 0.0)
        sd = np.sqrt((deviation**2).sum(axis=axis) / (count - 1))
    sd = np.where(count == 1, 0.0, np.where(count == 0, np.nan, sd))
    if np.ndim(mean) == 0:
        return float(mean), float(sd)
    return mean, sd


def fmt(value, digits: int = 2) -> str:
    """A number for a headline: fixed decimals, an em dash for NaN or None."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "\u2014"
    return f"{value:.{digits}f}"
