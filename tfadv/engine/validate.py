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
    if stop == "confidence" and (kappa is None or not 0.0 < kappa < 1.0):
        raise ValueError(f"stop='confidence' needs kappa in (0, 1), got {kappa!r}.")
    if stop != "confidence" and kappa is not None:
        raise ValueError(f"kappa={kappa!r} is only used with stop='confidence' (stop is {stop!r}).")
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr!r}.")
    if int(max_steps) != max_steps or max_steps < 0:
        raise ValueError(f"max_steps must be a non-negative integer, got {max_steps!r}.")
    if int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
    if clip is not None:
        lo, hi = clip
        if not lo < hi:
            raise ValueError(f"clip=(low, high) needs low < high, got {clip!r}.")
    x = np.asarray(x_start, dtype=np.float32)
    if x.ndim < 1 or math.prod(x.shape[1:]) != math.prod(example_shape):
        raise ValueError(
            f"x_start has shape {x.shape}: each example must have {math.prod(example_shape)} "
            f"values to fit the model's input shape {example_shape}."
        )
    if clip is not None and x.size and (x.min() < clip[0] or x.max() > clip[1]):
        raise ValueError(
            f"x_start has values in [{x.min():.3g}, {x.max():.3g}], outside clip={clip}; "
            "clip the starts first (np.clip(x, *clip)) or pass clip=None."
        )
    t = np.broadcast_to(np.asarray(targets), (len(x),))
    if t.size and (not np.issubdtype(t.dtype, np.integer) or t.min() < 0 or t.max() >= 10):
        raise ValueError(f"targets must be integers in 0..9, got values {np.unique(t)[:10]}.")
    return x, t.astype(np.int32)
