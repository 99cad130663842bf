"""The evolution engine: gradient descent on a trainable input variable.

PROTOCOL.md section 3. Only a ``tf.Variable`` holding a batch of inputs is
optimised; the model is frozen (``trainable=False`` for the duration, and the
tape watches the input variable alone). Plain gradient descent with step
``lr`` on the *sum* of per-example losses (so one example's step never depends
on the batch), values clipped after every step. Each example stops the step it
first meets the stop rule and is never changed after.

Speed: many steps run inside one compiled ``tf.function`` (a ``while`` loop
over steps); between these chunks, finished examples leave the batch and
waiting ones take their slots, and the batch shrinks as work runs out, so the
cost follows the unfinished examples. XLA compiles the loop for models without
convolutions (measured faster there, slower for CNNs; BUILD_NOTES.md).
"""

from __future__ import annotations

import collections
import dataclasses
import json
import logging
import math
import weakref
from pathlib import Path
from typing import Callable

import keras
import numpy as np
import tensorflow as tf

from tfadv import artifacts
from tfadv.progress import ProgressLine

LOSSES = ("mse", "crossentropy", "logit")
STOP_RULES = ("argmax", "confidence")
START_KINDS = ("uniform", "normal", "constant")
# Matrix products over at least 64 rows give each row bit-identical results
# whatever the row count (measured for XLA and oneDNN on this CPU; fewer rows
# take other kernels). Batches never shrink below this, so results do not
# depend on batch_size or on how many examples are still running.
_MIN_SLOTS = 64


# ---------------------------------------------------------------- results


@dataclasses.dataclass(frozen=True, eq=False)
class EvolutionResult:
    """Per-example outcome of ``evolve`` (numpy arrays, first axis = example).

    Attributes:
      x_start: the start inputs.
      x_final: the inputs when each example stopped.
      target: the target class.
      success: whether the stop rule was met within ``max_steps``.
      steps: gradient steps taken (the step the rule was first met, or
        ``max_steps`` for a failure).
      confidence: the target unit's activation (sigmoid outputs) or
        probability (softmax) at ``x_final``.
      predicted: the model's argmax label at ``x_final``.
      settings: how the result was made (loss, lr, stop rule, ...).
      cost: slot-steps the engine computed, idle slots included (what the
        run paid; finished examples should not add to it).
    """

    x_start: np.ndarray
    x_final: np.ndarray
    target: np.ndarray
    success: np.ndarray
    steps: np.ndarray
    confidence: np.ndarray
    predicted: np.ndarray
    settings: dict = dataclasses.field(default_factory=dict)
    cost: int = 0

    _ARRAYS = ("x_start", "x_final", "target", "success", "steps", "confidence", "predicted")

    def __len__(self) -> int:
        return len(self.target)

    @property
    def delta(self) -> np.ndarray:
        """The perturbation ``x_final - x_start`` (paper B's raw material)."""
        return self.x_final - self.x_start

    @property
    def success_rate(self) -> float:
        return float(np.mean(self.success)) if len(self) else float("nan")

    def select(self, index) -> "EvolutionResult":
        """The examples picked by a boolean mask or index array."""
        return EvolutionResult(**{k: getattr(self, k)[index] for k in self._ARRAYS}, settings=self.settings)

    def save(self, path) -> Path:
        """Writes the result to a ``.npz`` file atomically."""
        arrays = {k: getattr(self, k) for k in self._ARRAYS}
        with artifacts.atomic_path(path) as tmp:
            np.savez(tmp, settings=json.dumps(self.settings, sort_keys=True), cost=self.cost, **arrays)
        return Path(path)

    @classmethod
    def load(cls, path) -> "EvolutionResult":
        """Reads a result written by ``save``."""
        with np.load(path) as f:
            arrays = {k: f[k] for k in cls._ARRAYS}
            settings = json.loads(str(f["settings"]))
            cost = int(f["cost"]) if "cost" in f.files else 0
        return cls(**arrays, settings=settings, cost=cost)

    @classmethod
    def concatenate(cls, results) -> "EvolutionResult":
        """Joins results made with the same settings, in order."""
        results = list(results)
        arrays = {k: np.concatenate([getattr(r, k) for r in results]) for k in cls._ARRAYS}
        return cls(**arrays, settings=results[0].settings if results else {})


# ---------------------------------------------------------------- starts


def make_starts(kind: str, n: int, seed: int, shape=(28, 28), *, offset: int = 0,
                mean: float = 0.5, sd: float = 0.5, level: float = 0.5) -> np.ndarray:
    """Start inputs drawn per example from a generator keyed on (seed, index).

    Example ``i`` of the returned array is example ``offset + i`` of the
    stream, so any split of a stream into blocks gives the same inputs.

    Args:
      kind: ``"uniform"`` (U[0, 1]), ``"normal"`` (N(mean, sd)), or
        ``"constant"`` (every pixel ``level``).
      n: number of examples.
      seed: the stream's seed (a non-negative integer).
      shape: shape of one example.
      offset: index of the first example in the stream.

    Returns:
      float32 array of shape ``(n, *shape)``; not clipped.
    """
    if kind not in START_KINDS:
        raise ValueError(f"Unknown start kind {kind!r}; choose one of {START_KINDS}.")
    if n < 0 or seed < 0 or offset < 0:
        raise ValueError(f"n, seed and offset must be non-negative (got {n}, {seed}, {offset}).")
    shape = tuple(shape)
    if kind == "constant":
        return np.full((n,) + shape, level, dtype=np.float32)
    size = math.prod(shape)
    out = np.empty((n, size), dtype=np.float32)
    for i in range(n):
        rng = np.random.Generator(np.random.Philox(key=[seed, offset + i]))
        if kind == "uniform":
            out[i] = rng.random(size, dtype=np.float32)
        else:
            out[i] = rng.standard_normal(size, dtype=np.float32) * np.float32(sd) + np.float32(mean)
    return out.reshape((n,) + shape)


# ---------------------------------------------------------------- model head


def _head(model: keras.Model) -> tuple[keras.Model, str]:
    """A model of the pre-activations (logits) and the output activation's name."""
    last = model.layers[-1]
    activation = getattr(getattr(last, "activation", None), "__name__", None)
    if activation not in ("sigmoid", "softmax"):
        raise ValueError(
            f"Model {model.name!r} must end in a sigmoid or softmax activation, got {activation!r}."
        )
    if isinstance(last, keras.layers.Activation):
        logits = keras.Model(_inputs(model), last.input, name=f"{model.name}_logits")
    elif isinstance(last, keras.layers.Dense):
        inner = keras.Model(_inputs(model), last.input)
        kernel, bias = last.kernel, last.bias

        class _Logits:  # the Dense layer without its activation
            def __call__(self, x, training=False):
                z = tf.matmul(inner(x, training=training), kernel)
                return z + bias if bias is not None else z

        logits = _Logits()
    else:
        raise ValueError(
            f"Model {model.name!r} must end in an Activation or Dense layer to expose its logits."
        )
    return logits, activation


def _inputs(model: keras.Model):
    return model.inputs[0] if len(model.inputs) == 1 else model.inputs


def _has_convolution(model: keras.Model) -> bool:
    return any(isinstance(layer, keras.layers.Conv2D) for layer in model.layers)


# ---------------------------------------------------------------- losses


def per_example_loss(logits, onehot, loss: str, activation: str):
    """The loss of each example (vector), from the output pre-activations.

    ``"mse"``: mean over the 10 units of (output - one-hot)^2 (Keras' MSE, as
    the sigmoid nets were trained); ``"crossentropy"``: softmax cross-entropy,
    or the sum of per-unit binary cross-entropies for sigmoid outputs;
    ``"logit"``: minus the target's pre-activation.
    """
    if loss == "logit":
        return -tf.reduce_sum(logits * onehot, axis=1)
    if loss == "crossentropy" and activation == "softmax":
        return tf.nn.softmax_cross_entropy_with_logits(onehot, logits)
    if loss == "crossentropy":
        return tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(onehot, logits), axis=1)
    return tf.reduce_mean(tf.square(_activate(logits, activation) - onehot), axis=1)


def _activate(logits, activation: str):
    return tf.sigmoid(logits) if activation == "sigmoid" else tf.nn.softmax(logits)


def input_gradient(model: keras.Model, x, targets, loss: str = "mse") -> np.ndarray:
    """Gradient of each example's loss with respect to its input (eager; for checks).

    Works in the model's dtype, so a float64 model gives float64 gradients.
    """
    if loss not in LOSSES:
        raise ValueError(f"Unknown loss {loss!r}; choose one of {LOSSES}.")
    logits_fn, activation = _head(model)
    dtype = model.inputs[0].dtype
    variable = tf.Variable(tf.cast(np.asarray(x), dtype), trainable=True)
    onehot = tf.one_hot(np.asarray(targets), 10, dtype=dtype)
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(variable)
        total = tf.reduce_sum(per_example_loss(logits_fn(variable, training=False), onehot, loss, activation))
    return tape.gradient(total, variable).numpy()


# ---------------------------------------------------------------- the engine


class _Program:
    """A compiled chunk of evolution steps over a fixed number of slots.

    Holds the trainable input variable (one row per slot) and a
    ``tf.function`` that runs up to ``n`` steps of the loop below, returning
    which slots are still running and what finished ones ended with.
    """

    def __init__(self, logits_fn, activation, loss, stop, size, example_shape, jit):
        self.size = size
        self.x = tf.Variable(tf.zeros((size,) + example_shape), trainable=True, name="evolving_input")
        mask_shape = (size,) + (1,) * len(example_shape)

        def body(i, active, steps, success, conf, pred, onehot, params):
            lr, lo, hi, clip_on, kappa, max_steps = params
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                tape.watch(self.x)
                z = logits_fn(self.x, training=False)
                total = tf.reduce_sum(per_example_loss(z, onehot, loss, activation))
            y = _activate(z, activation)
            c = tf.reduce_sum(y * onehot, axis=1)
            p = tf.argmax(y, axis=1, output_type=tf.int32)
            met = tf.equal(p, tf.argmax(onehot, axis=1, output_type=tf.int32))
            if stop == "confidence":
                met = met & (c >= kappa)
            met = met & active
            finished = active & (met | (steps >= max_steps))
            conf = tf.where(finished, c, conf)
            pred = tf.where(finished, p, pred)
            success = success | met
            active = active & ~finished
            grad = tape.gradient(total, self.x)
            moved = self.x - lr * grad
            moved = tf.where(clip_on, tf.clip_by_value(moved, lo, hi), moved)
            self.x.assign(tf.where(tf.reshape(active, mask_shape), moved, self.x))
            steps = steps + tf.cast(active, tf.int32)
            return i + 1, active, steps, success, conf, pred, onehot, params

        @tf.function(jit_compile=jit, reduce_retracing=True)
        def run(n, release, active, steps, target, params):
            # Up to n steps; the chunk ends early once `release` slots have
            # finished, so the host can refill or shrink the batch.
            onehot = tf.one_hot(target, 10)
            running = tf.reduce_sum(tf.cast(active, tf.int32))
            state = (tf.constant(0), active, steps, tf.zeros_like(active),
                     tf.zeros((size,)), tf.zeros((size,), tf.int32), onehot, params)

            def more(i, a, *_):
                still = tf.reduce_sum(tf.cast(a, tf.int32))
                return (i < n) & (still > 0) & (running - still < release)

            out = tf.while_loop(more, body, state)
            return out[:6]

        self.run = run


_PROGRAMS: "weakref.WeakKeyDictionary[keras.Model, dict]" = weakref.WeakKeyDictionary()


class _DropRetracingWarning(logging.Filter):
    """Each _Program traces its own function once; TF counts them together and
    warns of "retracing" when several programs are alive. Not a real retrace."""

    def filter(self, record):
        return "_Program.__init__.<locals>.run" not in record.getMessage()


logging.getLogger("tensorflow").addFilter(_DropRetracingWarning())


def _program(model, loss, stop, size, example_shape, jit) -> _Program:
    cache = _PROGRAMS.setdefault(model, {})
    key = (loss, stop, size, example_shape, jit)
    if key not in cache:
        if "head" not in cache:
            cache["head"] = _head(model)
        logits_fn, activation = cache["head"]
        cache[key] = _Program(logits_fn, activation, loss, stop, size, example_shape, jit)
    return cache[key]


def _bucket(n: int, cap: int) -> int:
    """Slot count for ``n`` examples: at most ``cap`` (but at least _MIN_SLOTS), rounded up
    to a multiple of _MIN_SLOTS and of an eighth of n's power of two (<= 12.5% idle slots,
    at most eight sizes per octave, so few programs are compiled)."""
    n = max(1, min(n, cap))
    step = max(_MIN_SLOTS, 1 << max(0, n.bit_length() - 4))
    return max(_MIN_SLOTS, -(-n // step) * step)


class _Frozen:
    """Sets every layer of a model to ``trainable=False``, restoring it after."""

    def __init__(self, model):
        self.model = model

    def __enter__(self):
        self.saved = [layer.trainable for layer in self.model.layers]
        for layer in self.model.layers:
            layer.trainable = False

    def __exit__(self, *exc):
        for layer, flag in zip(self.model.layers, self.saved):
            layer.trainable = flag


def _validate(model, x_start, targets, loss, lr, max_steps, stop, kappa, clip, batch_size):
    if loss not in LOSSES:
        raise ValueError(f"Unknown loss {loss!r}; choose one of {LOSSES}.")
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
    example_shape = tuple(model.input_shape[1:])
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
    return x, t.astype(np.int32), example_shape


def evolve(
    model: keras.Model,
    x_start,
    targets,
    *,
    loss: str = "mse",
    lr: float = 1.0,
    max_steps: int = 1000,
    stop: str = "argmax",
    kappa: float | None = None,
    clip: tuple[float, float] | None = (0.0, 1.0),
    batch_size: int | None = None,
    chunk_steps: int = 128,
    jit_compile: bool | None = None,
    progress: bool | Callable[[int, int, str], None] = False,
) -> EvolutionResult:
    """Evolves each start input until the model labels it as its target.

    Args:
      model: a Keras model ending in a sigmoid or softmax activation (the
        ``tfadv.models`` zoo ends in ``logits`` -> ``output``).
      x_start: start inputs, ``(N, ...)`` with as many values per example as
        the model's input (``(N, 28, 28)`` works for MLPs and CNNs alike);
        the result keeps this shape.
      targets: target class per example, or one class for all.
      loss: ``"mse"`` (to the one-hot target, on the output activation),
        ``"crossentropy"`` (softmax, or per-unit for sigmoid outputs), or
        ``"logit"`` (minus the target's pre-activation, after Simonyan et al.
        2013).
      lr: gradient-descent step size.
      max_steps: step budget per example; examples not done by then fail.
      stop: ``"argmax"`` (the model's label is the target) or
        ``"confidence"`` (that, and the target's confidence >= ``kappa``).
      kappa: confidence threshold of ``stop="confidence"``.
      clip: ``(low, high)`` bounds applied after every step, or None.
      batch_size: examples evolved at once (at least 64); does not change
        results. None picks by measurement on 2 CPU cores: 2048 for MLPs,
        512 for models with convolutions (BUILD_NOTES.md).
      chunk_steps: at most this many steps per compiled call; a call also
        ends once a quarter of its slots have finished, to refill them.
      jit_compile: compile the loop with XLA; None picks it for models
        without convolutions.
      progress: True for a progress line on stderr, or a callable
        ``(done, total, detail)``.

    Returns:
      An ``EvolutionResult``.
    """
    conv = _has_convolution(model)
    batch_size = (512 if conv else 2048) if batch_size is None else batch_size
    x, target, example_shape = _validate(
        model, x_start, targets, loss, lr, max_steps, stop, kappa, clip, batch_size)
    n = len(x)
    flat = x.reshape((n,) + example_shape)
    settings = dict(loss=loss, lr=float(lr), max_steps=int(max_steps), stop=stop,
                    kappa=None if kappa is None else float(kappa),
                    clip=None if clip is None else [float(c) for c in clip])
    jit = (not conv) if jit_compile is None else bool(jit_compile)
    report = ProgressLine("evolve") if progress is True else (progress or None)

    final = flat.copy()
    success = np.zeros(n, bool)
    steps = np.zeros(n, np.int32)
    confidence = np.zeros(n, np.float32)
    predicted = np.zeros(n, np.int32)
    params = (
        tf.constant(lr, tf.float32),
        tf.constant(clip[0] if clip else 0.0, tf.float32),
        tf.constant(clip[1] if clip else 0.0, tf.float32),
        tf.constant(clip is not None),
        tf.constant(kappa or 0.0, tf.float32),
        tf.constant(int(max_steps), tf.int32),
    )
    pending = collections.deque(range(n))
    done = cost = 0
    with _Frozen(model):
        program = None
        slots = np.full(0, -1)  # example index held by each slot, -1 when empty
        slot_steps = np.zeros(0, np.int32)
        while pending or (slots >= 0).any():
            running = int((slots >= 0).sum())
            size = _bucket(running + len(pending), int(batch_size))
            # Shrink only when it saves a quarter of the slots: fewer programs to compile.
            if program is None or size <= 0.75 * program.size:
                program, slots, slot_steps = _resize(
                    model, program, slots, slot_steps, size, loss, stop, example_shape, jit)
            free = np.flatnonzero(slots < 0)[: len(pending)]
            if len(free):
                chosen = np.array([pending.popleft() for _ in free])
                program.x.scatter_nd_update(free[:, None], flat[chosen])
                slots[free] = chosen
                slot_steps[free] = 0
            active = slots >= 0
            slot_target = np.where(active, target[np.maximum(slots, 0)], 0)
            can_shrink = _bucket(int(active.sum()) + len(pending), int(batch_size)) > _MIN_SLOTS
            release = max(1, program.size // 4) if (pending or can_shrink) else program.size + 1
            iterations, still, new_steps, met, conf, pred = (t.numpy() for t in program.run(
                tf.constant(chunk_steps), tf.constant(release), tf.constant(active),
                tf.constant(slot_steps), tf.constant(slot_target), params))
            cost += int(iterations) * program.size
            slot_steps = new_steps
            ended = np.flatnonzero(active & ~still)
            if len(ended):
                idx = slots[ended]
                final[idx] = tf.gather(program.x, ended).numpy()
                success[idx] = met[ended]
                steps[idx] = slot_steps[ended]
                confidence[idx] = conf[ended]
                predicted[idx] = pred[ended]
                slots[ended] = -1
                done += len(ended)
            if report:
                report(done, n, f"examples, {int(success.sum())} succeeded, batch {size}")
        if report and hasattr(report, "close"):
            report.close()
    shape = x.shape
    return EvolutionResult(
        x_start=x, x_final=final.reshape(shape), target=target, success=success,
        steps=steps, confidence=confidence, predicted=predicted, settings=settings, cost=cost)


def _resize(model, program, slots, slot_steps, size, loss, stop, example_shape, jit):
    """Moves the running examples into a program with ``size`` slots."""
    new = _program(model, loss, stop, size, example_shape, jit)
    keep = np.flatnonzero(slots >= 0)
    new_slots = np.full(size, -1)
    new_steps = np.zeros(size, np.int32)
    if len(keep):
        rows = tf.gather(program.x, keep)
        new.x.scatter_nd_update(np.arange(len(keep))[:, None], rows)
        new_slots[: len(keep)] = slots[keep]
        new_steps[: len(keep)] = slot_steps[keep]
    return new, new_slots, new_steps


# ---------------------------------------------------------------- paper A's search


@dataclasses.dataclass(frozen=True, eq=False)
class SearchResult:
    """Outcome of ``evolve_until``: the successes, and every attempt's outcome.

    Attributes:
      successes: the successful examples, in attempt order.
      attempt_success: per attempt, whether it succeeded.
      attempt_steps: per attempt, steps taken (for success-vs-budget curves).
      target: the target class.
      n_wanted: the number of successes asked for.
    """

    successes: EvolutionResult
    attempt_success: np.ndarray
    attempt_steps: np.ndarray
    target: int
    n_wanted: int

    @property
    def attempts(self) -> int:
        return len(self.attempt_success)

    @property
    def success_rate(self) -> float:
        """Successes / attempts (PROTOCOL.md section 3, paper A)."""
        return float(np.mean(self.attempt_success)) if self.attempts else float("nan")

    @property
    def reached(self) -> bool:
        """Whether ``n_wanted`` successes were found before the attempt cap."""
        return len(self.successes) >= self.n_wanted

    def save(self, path) -> Path:
        """Writes the search to a ``.npz`` file atomically."""
        s = self.successes
        arrays = {f"successes_{k}": getattr(s, k) for k in EvolutionResult._ARRAYS}
        with artifacts.atomic_path(path) as tmp:
            np.savez(tmp, settings=json.dumps(s.settings, sort_keys=True),
                     attempt_success=self.attempt_success, attempt_steps=self.attempt_steps,
                     target=self.target, n_wanted=self.n_wanted, **arrays)
        return Path(path)

    @classmethod
    def load(cls, path) -> "SearchResult":
        """Reads a search written by ``save``."""
        with np.load(path) as f:
            successes = EvolutionResult(
                **{k: f[f"successes_{k}"] for k in EvolutionResult._ARRAYS},
                settings=json.loads(str(f["settings"])))
            return cls(successes, f["attempt_success"], f["attempt_steps"], int(f["target"]), int(f["n_wanted"]))


def evolve_until(
    model: keras.Model,
    target: int,
    n_success: int,
    max_attempts: int,
    *,
    start: str = "uniform",
    seed: int = 0,
    start_options: dict | None = None,
    progress: bool | Callable[[int, int, str], None] = False,
    **evolve_options,
) -> SearchResult:
    """Evolves fresh starts toward ``target`` until ``n_success`` succeed or the cap.

    Paper A's protocol (PROTOCOL.md section 3): attempts are the examples
    0, 1, 2, ... of the start stream ``make_starts(start, ..., seed)``; the
    search ends at the ``n_success``-th success (later attempts of the last
    block are dropped) or after ``max_attempts``. The result does not depend on
    how the stream is split into blocks.

    Args:
      model: as for ``evolve``.
      target: the target class.
      n_success: successes wanted.
      max_attempts: the attempt cap.
      start: start kind for ``make_starts``; starts are clipped into ``clip``
        when ``evolve_options`` has one (the default (0, 1) included).
      seed: the start stream's seed.
      start_options: ``mean``/``sd``/``level`` for ``make_starts``.
      progress: as for ``evolve``; reports attempts against the cap.
      **evolve_options: passed to ``evolve`` (loss, lr, max_steps, ...).

    Returns:
      A ``SearchResult``.
    """
    if n_success < 1 or max_attempts < 1:
        raise ValueError(f"n_success and max_attempts must be positive, got {n_success}, {max_attempts}.")
    clip = evolve_options.get("clip", (0.0, 1.0))
    shape = tuple(model.input_shape[1:])
    report = ProgressLine(f"target {target}") if progress is True else (progress or None)
    parts, attempted, found = [], 0, 0
    while found < n_success and attempted < max_attempts:
        if attempted == 0:
            block = n_success
        else:
            rate = max(found, 1) / attempted
            block = math.ceil((n_success - found) / rate * 1.1) + 16
        block = min(max(block, 64), max_attempts - attempted)
        x = make_starts(start, block, seed, shape, offset=attempted, **(start_options or {}))
        if clip is not None:
            x = np.clip(x, *clip)
        part = evolve(model, x, target, **evolve_options)
        parts.append(part)
        attempted += block
        found += int(part.success.sum())
        if report:
            report(attempted, max_attempts, f"attempts, {found} successes (want {n_success})")
    if report and hasattr(report, "close"):
        report.close()
    allres = EvolutionResult.concatenate(parts)
    if found > n_success:  # drop attempts after the n_success-th success
        last = np.flatnonzero(allres.success)[n_success - 1]
        allres = allres.select(slice(0, last + 1))
    return SearchResult(
        successes=allres.select(allres.success),
        attempt_success=allres.success.copy(),
        attempt_steps=allres.steps.copy(),
        target=int(target),
        n_wanted=int(n_success),
    )
