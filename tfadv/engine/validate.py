"""The engine's names and argument checks (PROTOCOL.md section 3); numpy only.

Every framework's engine validates through here, so a bad argument raises
the same ``ValueError`` with the same message whatever runs the steps.
"""

from __future__ import annotations

import math

import numpy as np

LOSSES = ("mse", "crossentropy", "logit")
STOP_RULES = ("argmax", "confidence")


def check_loss(loss: str) -> None:
    """Raises ``ValueError`` unless ``loss`` is one of ``LOSSES``."""
    if loss not in LOSSES:
        raise ValueError(f"Unknown loss {loss!r}; choose one of {LOSSES}.")


def validate(x_start, targets, example_shape: tuple[int, ...], *, loss, lr, max_steps, stop, kappa,
             clip, batch_size) -> tuple[np.ndarray, np.ndarray]:
    """Checks ``evolve``'s arguments, in a fixed order.

    Non-finite numbers are refused, naming the argument and the first bad
    index: a start value (``x_start[3, 17] is NaN (example 3, pixel 17)``),
    ``lr``, ``kappa`` or a ``clip`` bound.

    Args:
      x_start, targets, loss, lr, max_steps, stop, kappa, clip, batch_size:
        as given to ``evolve``.
      example_shape: the model's input shape without the batch axis.

    Returns:
      ``(x, target)``: the starts as float32 (their given shape) and one
      int32 target per start.

    Raises:
      ValueError: naming the argument and what it should be.
    """
    check_loss(loss)
    if stop not in STOP_RULES:
        raise ValueError(f"Unknown stop rule {stop!r}; choose one of {STOP_RULES}.")
    if kappa is not None and not _finite(kappa):
        raise ValueError(f"kappa must be a finite number in (0, 1), got {kappa!r}.")
    if stop == "confidence" and (kappa is None or not 0.0 < kappa < 1.0):
        raise ValueError(f"stop='confidence' needs kappa in (0, 1), got {kappa!r}.")
    if stop != "confidence" and kappa is not None:
        raise ValueError(f"kappa={kappa!r} is only used with stop='confidence' (stop is {stop!r}).")
    if not _finite(lr):
        raise ValueError(f"lr must be a finite positive number, got {lr!r}.")
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr!r}.")
    if int(max_steps) != max_steps or max_steps < 0:
        raise ValueError(f"max_steps must be a non-negative integer, got {max_steps!r}.")
    if int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
    if clip is not None:
        if len(clip) != 2:
            raise ValueError(f"clip must be (low, high) or None, got {clip!r}.")
        for i, bound in enumerate(clip):
            if not _finite(bound):
                raise ValueError(f"clip[{i}] is {bound!r}: both bounds must be finite numbers "
                                 "(clip=None evolves without bounds).")
        lo, hi = clip
        if not lo < hi:
            raise ValueError(f"clip=(low, high) needs low < high, got {clip!r}.")
    given = np.asarray(x_start)
    with np.errstate(over="ignore"):  # a value too large for float32 is reported by _check_finite
        x = given.astype(np.float32, copy=False)
    if x.ndim < 1 or math.prod(x.shape[1:]) != math.prod(example_shape):
        raise ValueError(
            f"x_start has shape {x.shape}: each example must have {math.prod(example_shape)} "
            f"values to fit the model's input shape {example_shape}."
        )
    _check_finite(given, x)
    if clip is not None and x.size and (x.min() < clip[0] or x.max() > clip[1]):
        raise ValueError(
            f"x_start has values in [{x.min():.3g}, {x.max():.3g}], outside clip={clip}; "
            "clip the starts first (np.clip(x, *clip)) or pass clip=None."
        )
    t = np.broadcast_to(np.asarray(targets), (len(x),))
    if t.size and (not np.issubdtype(t.dtype, np.integer) or t.min() < 0 or t.max() >= 10):
        raise ValueError(f"targets must be integers in 0..9, got values {np.unique(t)[:10]}.")
    return x, t.astype(np.int32)


def _finite(value) -> bool:
    """Whether ``value`` is a finite real number (bools and non-numbers are not)."""
    try:
        return not isinstance(value, (bool, np.bool_)) and math.isfinite(value)
    except TypeError:
        return False


def _check_finite(given: np.ndarray, x: np.ndarray) -> None:
    """Raises ``ValueError`` naming the first non-finite start value by its index.

    Args:
      given: the starts as passed; ``x``: the same as float32, where values
        too large for float32 have become infinite.
    """
    bad = ~np.isfinite(x)
    if not bad.any():
        return
    first = int(np.argmax(bad))  # in C order: the lowest example, then its lowest pixel
    where = np.unravel_index(first, x.shape)
    value = given[where]
    text = "NaN" if np.isnan(value) else repr(float(value))
    if np.isfinite(value):
        text += ", too large for float32"
    per_example = bad.reshape(len(x), -1)
    raise ValueError(
        f"x_start[{', '.join(str(int(i)) for i in where)}] is {text} (example {where[0]}, pixel "
        f"{first - where[0] * per_example.shape[1]}): every start value must be finite; "
        f"{int(bad.sum())} value(s) in {int(per_example.any(axis=1).sum())} example(s) are not."
    )
