"""Perturbation abstractions and dataset-derived patterns (numpy only).

PROTOCOL.md section 4, paper B (``dough``): the perturbations
``delta = x_adv - x_start`` toward a class are abstracted into one class
pattern (``mean``, ``median``, ``sign``, ``top-p``), over the first K starts
of the bank or two disjoint halves of it, and compared with patterns derived
from the dataset (``mu_c - mu`` and its variants). Paper A's averaged image is
the ``mean`` abstraction of the adversarial images themselves.

Arrays have the example on the first axis and pixels on the trailing axes,
e.g. ``(K, 28, 28)`` or ``(K, 784)``. This module never imports TensorFlow.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

METHODS = ("mean", "median", "sign", "top")
DATASET_VARIANTS = ("mean_diff", "one_vs_rest", "standardised")


class Abstraction(NamedTuple):
    """One abstraction variant of PROTOCOL.md section 4 (``dough_fig2``, claim B2)."""

    name: str
    method: str
    p: float | None = None


ABSTRACTIONS = (
    Abstraction("mean", "mean"),
    Abstraction("median", "median"),
    Abstraction("sign", "sign"),
    Abstraction("top-1", "top", 1),
    Abstraction("top-5", "top", 5),
    Abstraction("top-20", "top", 20),
)


def _check_method(method: str, p) -> None:
    if method not in METHODS:
        raise ValueError(f"Unknown abstraction method {method!r}; choose one of {METHODS}.")
    if method == "top" and (p is None or not 0 < p <= 100):
        raise ValueError(f"Method 'top' needs a percentage p in (0, 100], got {p!r}.")
    if method != "top" and p is not None:
        raise ValueError(f"p applies only to method 'top', not {method!r} (got p={p!r}).")


def _keep_top(flat: np.ndarray, p: float) -> np.ndarray:
    """Each row with all but its ceil(p% of pixels) largest |values| set to 0.

    Ties go to the earlier pixel (stable sort), so the result is deterministic.
    """
    count = math.ceil(p * flat.shape[1] / 100)
    order = np.argsort(-np.abs(flat), axis=1, kind="stable")[:, :count]
    kept = np.zeros_like(flat)
    np.put_along_axis(kept, order, np.take_along_axis(flat, order, axis=1), axis=1)
    return kept


def abstract(deltas, method: str, p: float | None = None) -> np.ndarray:
    """One class pattern from a stack of perturbations (PROTOCOL.md section 4).

    Serves ``dough_fig1``/``dough_fig2`` and claims B1-B5.

    Args:
      deltas: perturbations toward one class, shape ``(K, ...)``, K >= 1.
      method: ``"mean"`` (pixel mean), ``"median"`` (pixel median), ``"sign"``
        (pixel mean of sign(delta)), or ``"top"`` (per perturbation, keep the
        ``ceil(p/100 * n_pixels)`` largest |delta|, ties to the earlier pixel,
        set the rest to 0, then take the pixel mean).
      p: the percentage for ``"top"`` (the protocol uses 1, 5, 20); must be
        None for the other methods.

    Returns:
      float64 pattern of shape ``deltas.shape[1:]``.

    Raises:
      ValueError: for an unknown method, a missing or invalid ``p``, or an
        empty stack.
    """
    _check_method(method, p)
    deltas = np.asarray(deltas)
    if deltas.ndim < 2 or len(deltas) == 0:
        raise ValueError(f"Need a non-empty stack of perturbations (K, ...), got shape {deltas.shape}.")
    flat = deltas.reshape(len(deltas), -1).astype(np.float64)
    if method == "median":
        pattern = np.median(flat, axis=0)
    elif method == "sign":
        pattern = np.sign(flat).mean(axis=0)
    elif method == "top":
        pattern = _keep_top(flat, p).mean(axis=0)
    else:
        pattern = flat.mean(axis=0)
    return pattern.reshape(deltas.shape[1:])


def class_patterns(deltas, targets, method: str = "mean", p: float | None = None,
                   n_classes: int = 10) -> np.ndarray:
    """One abstraction per target class (``dough_fig1``, claims B1-B4).

    Args:
      deltas: perturbations, shape ``(N, ...)``.
      targets: target class of each perturbation, shape ``(N,)``.
      method, p: as for ``abstract``.
      n_classes: number of classes.

    Returns:
      float64 array ``(n_classes, ...)``; a class without perturbations gets a
      NaN pattern.
    """
    _check_method(method, p)
    deltas, targets = np.asarray(deltas), np.asarray(targets)
    if len(deltas) != len(targets):
        raise ValueError(f"deltas and targets differ in length: {len(deltas)} vs {len(targets)}.")
    patterns = np.full((n_classes,) + deltas.shape[1:], np.nan)
    for c in range(n_classes):
        members = deltas[targets == c]
        if len(members):
            patterns[c] = abstract(members, method, p)
    return patterns


def first_k(deltas, targets, start_index, k: int | None):
    """The perturbations evolved from the first ``k`` starts of the bank.

    For the K in {10, 30, 100, all} study of PROTOCOL.md section 4. Returns the
    filtered arrays, ready for ``class_patterns(*first_k(...))``.

    Args:
      deltas: perturbations, shape ``(N, ...)``.
      targets: target class of each, shape ``(N,)``.
      start_index: which start of the bank each came from, shape ``(N,)``.
      k: number of starts to keep (>= 1), or None for all.

    Returns:
      ``(deltas, targets)`` of the examples with ``start_index < k``.
    """
    deltas, targets = np.asarray(deltas), np.asarray(targets)
    start_index = np.asarray(start_index)
    if not len(deltas) == len(targets) == len(start_index):
        raise ValueError("deltas, targets and start_index must have the same length "
                         f"(got {len(deltas)}, {len(targets)}, {len(start_index)}).")
    if k is None:
        return deltas, targets
    if k < 1:
        raise ValueError(f"k must be at least 1 (or None for all), got {k}.")
    keep = start_index < k
    return deltas[keep], targets[keep]


def split_halves(start_index, n_starts: int) -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint halves of the start bank: even and odd start indices.

    Claim B1's split-half identification.

    Args:
      start_index: which start of the bank each example came from.
      n_starts: the bank's size (>= 2); every index must lie in
        ``[0, n_starts)``.

    Returns:
      ``(mask_a, mask_b)``: boolean masks of the examples from even and from
      odd starts; disjoint, and together they cover every example.
    """
    start_index = np.asarray(start_index)
    if n_starts < 2:
        raise ValueError(f"Need at least 2 starts to split, got n_starts={n_starts}.")
    if start_index.size and (start_index.min() < 0 or start_index.max() >= n_starts):
        raise ValueError(f"start_index must lie in [0, {n_starts}).")
    mask_a = start_index % 2 == 0
    return mask_a, ~mask_a


def dataset_patterns(images, labels, variant: str = "mean_diff", n_classes: int = 10) -> np.ndarray:
    """Dataset-derived class patterns (PROTOCOL.md section 4; ``dough_fig3``, claim B4).

    Args:
      images: training images, shape ``(N, ...)``.
      labels: their classes, shape ``(N,)``, in ``[0, n_classes)``.
      variant: ``"mean_diff"``: ``mu_c - mu`` (class mean minus the mean of
        all images); ``"one_vs_rest"``: ``mu_c`` minus the mean of the other
        classes' images; ``"standardised"``: ``(mu_c - mu) / sigma`` with
        sigma the per-pixel population sd (ddof=0) over all images, and 0
        where sigma is 0.
      n_classes: number of classes.

    Returns:
      float64 array ``(n_classes, ...)``; NaN pattern for a class without
      images (and, for ``one_vs_rest``, without other images).
    """
    if variant not in DATASET_VARIANTS:
        raise ValueError(f"Unknown dataset-pattern variant {variant!r}; choose one of {DATASET_VARIANTS}.")
    images, labels = np.asarray(images), np.asarray(labels)
    if len(images) != len(labels) or len(images) == 0:
        raise ValueError(f"Need matching, non-empty images and labels (got {len(images)} and {len(labels)}).")
    if labels.min() < 0 or labels.max() >= n_classes:
        raise ValueError(f"labels must lie in [0, {n_classes}).")
    sums = np.stack([images[labels == c].sum(axis=0, dtype=np.float64) for c in range(n_classes)])
    counts = np.bincount(labels, minlength=n_classes).reshape((n_classes,) + (1,) * (images.ndim - 1))
    total = sums.sum(axis=0)
    mu = total / len(images)
    with np.errstate(divide="ignore", invalid="ignore"):
        class_mu = sums / counts
        if variant == "one_vs_rest":
            return class_mu - (total - sums) / (len(images) - counts)
        patterns = class_mu - mu
    if variant == "mean_diff":
        return patterns
    sigma = _pixel_sd(images, labels, mu, n_classes)
    standardised = np.divide(patterns, sigma, out=np.zeros_like(patterns), where=sigma > 0)
    standardised[counts.reshape(-1) == 0] = np.nan
    return standardised


def _pixel_sd(images: np.ndarray, labels: np.ndarray, mu: np.ndarray, n_classes: int) -> np.ndarray:
    """Per-pixel population sd about ``mu``, summed one class at a time to bound memory."""
    squares = sum(((images[labels == c] - mu) ** 2).sum(axis=0) for c in range(n_classes))
    return np.sqrt(squares / len(images))


def norm_matched_random(pattern, seed: int) -> np.ndarray:
    """A Gaussian random pattern with the L2 norm of ``pattern`` (claim B5's control).

    ``dough_tab5`` compares the transfer rate of a class pattern with that of
    this pattern.

    Args:
      pattern: the pattern to match (finite values).
      seed: seed of ``np.random.default_rng``.

    Returns:
      float64 array of ``pattern``'s shape with the same L2 norm.
    """
    pattern = np.asarray(pattern, dtype=np.float64)
    if not np.all(np.isfinite(pattern)):
        raise ValueError("pattern must be finite to match its norm.")
    noise = np.random.default_rng(seed).standard_normal(pattern.shape)
    return noise * (np.linalg.norm(pattern) / np.linalg.norm(noise))
