"""The engine's TensorFlow backend (PROTOCOL.md sections 3 and 8).

Only a ``tf.Variable`` holding the slots' inputs is optimised; the model is
frozen (``trainable=False`` for the duration, and the tape watches the input
variable alone). Many steps run inside one compiled ``tf.function`` (a
``while`` loop over steps); ``tfadv.engine.scheduler`` refills and shrinks the
batch between these chunks. A program compiled for several stop rules
(section 8) copies a running slot's input, row by row, into a rule's own
variable the step that rule resolves before the slot's last. XLA compiles the loop for models without
convolutions (measured faster there, slower for CNNs; BUILD_NOTES.md). The
logits head rule and the losses are ``tfadv.engine.keras_model``'s.
"""

from __future__ import annotations

import logging

import keras
import numpy as np
import tensorflow as tf

from tfadv.backends import apply_precision
from tfadv.engine.keras_model import ModelBackend, activate, logits_parts, per_example_loss
from tfadv.engine.scheduler import StepRule
from tfadv.engine.validate import check_loss


# ---------------------------------------------------------------- model head


def logits_head(model: keras.Model) -> tuple:
    """A callable of the pre-activations (logits), ``f(x, training=False)``, and the output activation's
    name (``keras_model.logits_parts``: the sub-model, or a final ``Dense`` layer without its activation).

    Raises:
      ValueError: when the model does not end in a sigmoid or softmax
        ``Activation`` or ``Dense`` layer.
    """
    inner, dense, activation = logits_parts(model)
    if dense is None:
        return inner, activation
    kernel, bias = dense.kernel, dense.bias

    def logits(x, training=False):  # the Dense layer without its activation
        z = tf.matmul(inner(x, training=training), kernel)
        return z + bias if bias is not None else z

    return logits, activation


def input_gradient(model: keras.Model, x, targets, loss: str = "mse") -> np.ndarray:
    """Gradient of each example's loss with respect to its input (eager; for checks).

    Works in the model's dtype, so a float64 model gives float64 gradients.
    """
    check_loss(loss)
    logits_fn, activation = logits_head(model)
    dtype = model.inputs[0].dtype
    variable = tf.Variable(tf.cast(np.asarray(x), dtype), trainable=True)
    onehot = tf.one_hot(np.asarray(targets), 10, dtype=dtype)
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(variable)
        total = tf.reduce_sum(per_example_loss(logits_fn(variable, training=False), onehot, loss, activation))
    return tape.gradient(total, variable).numpy()


# ---------------------------------------------------------------- programs


class _Program:
    """A compiled chunk of evolution steps over a fixed number of slots (a ``scheduler.Program``).

    Holds the trainable input variable (one row per slot), one variable per
    earlier observed rule for the inputs at which it resolved, and a
    ``tf.function`` that runs up to ``n`` steps of the loop below, returning
    which rules and slots are still open and what resolved ones ended with.
    Per-rule state is a tuple of ``(size,)`` tensors, so a one-rule program
    is the plain single-stop loop.
    """

    def __init__(self, logits_fn, activation, loss, stop, size, example_shape, jit):
        self.size = size
        kinds = (stop,) if isinstance(stop, str) else tuple(stop)
        self.x = tf.Variable(tf.zeros((size,) + example_shape), trainable=True, name="evolving_input")
        self.held = [tf.Variable(tf.zeros((size,) + example_shape), trainable=False, name=f"held_{r}")
                     for r in range(len(kinds) - 1)]
        self._rule = self._params = None
        mask_shape = (size,) + (1,) * len(example_shape)

        def resolve(kind, kappa, hit, c, at_end, is_open):
            """(met, newly) of one rule: it held on an open slot; it resolved now."""
            if kind == "confidence":
                hit = hit & (c >= kappa)
            elif kind == "budget":
                hit = hit & at_end
            met = hit & is_open
            return met, is_open & (met | at_end)

        def body(i, is_open, steps, success, conf, pred, at, onehot, params):
            lr, lo, hi, clip_on, kappas, max_steps = params
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                tape.watch(self.x)
                z = logits_fn(self.x, training=False)
                total = tf.reduce_sum(per_example_loss(z, onehot, loss, activation))
            y = activate(z, activation)
            c = tf.reduce_sum(y * onehot, axis=1)
            p = tf.argmax(y, axis=1, output_type=tf.int32)
            hit = tf.equal(p, tf.argmax(onehot, axis=1, output_type=tf.int32))
            at_end = steps >= max_steps
            outcome = [resolve(kind, kappas[r], hit, c, at_end, is_open[r]) for r, kind in enumerate(kinds)]
            finished = outcome[-1][1]  # the last rule resolving stops the slot
            for r, (_, newly) in enumerate(outcome[:-1]):
                self._store(r, newly & ~finished)
            at = tuple(tf.where(newly, steps, a) for a, (_, newly) in zip(at, outcome))
            conf = tuple(tf.where(newly, c, v) for v, (_, newly) in zip(conf, outcome))
            pred = tuple(tf.where(newly, p, v) for v, (_, newly) in zip(pred, outcome))
            success = tuple(s | met for s, (met, _) in zip(success, outcome))
            is_open = tuple(o & ~newly for o, (_, newly) in zip(is_open, outcome))
            active = is_open[-1]
            grad = tape.gradient(total, self.x)
            moved = self.x - lr * grad
            moved = tf.where(clip_on, tf.clip_by_value(moved, lo, hi), moved)
            self.x.assign(tf.where(tf.reshape(active, mask_shape), moved, self.x))
            steps = steps + tf.cast(active, tf.int32)
            return i + 1, is_open, steps, success, conf, pred, at, onehot, params

        # Named `run` inside __init__: quiet_retracing_warnings matches that name.
        @tf.function(jit_compile=jit, reduce_retracing=True)
        def run(n, release, is_open, steps, target, params):
            # Up to n steps; the chunk ends early once `release` slots have
            # finished, so the host can refill or shrink the batch.
            onehot = tf.one_hot(target, 10)
            running = tf.reduce_sum(tf.cast(is_open[-1], tf.int32))
            per_rule = lambda make: tuple(make() for _ in kinds)
            state = (tf.constant(0), is_open, steps, per_rule(lambda: tf.zeros((size,), tf.bool)),
                     per_rule(lambda: tf.zeros((size,))), per_rule(lambda: tf.zeros((size,), tf.int32)),
                     tuple(tf.zeros((size,), tf.int32) for _ in kinds[:-1]), onehot, params)

            def more(i, o, *_):
                still = tf.reduce_sum(tf.cast(o[-1], tf.int32))
                return (i < n) & (still > 0) & (running - still < release)

            out = tf.while_loop(more, body, state)
            return out[:7]

        self._compiled = run

    def _store(self, r: int, where) -> None:
        """Keeps the current input of the slots ``where`` as rule ``r``'s, one row at a time
        (a few slots resolve a rule in a step; a masked copy of every row cost more)."""
        held, slots = self.held[r], tf.range(self.size)

        def one(left):
            i = tf.argmax(tf.cast(left, tf.int32), output_type=tf.int32)
            held.scatter_nd_update(tf.reshape(i, (1, 1)), tf.gather(self.x, tf.reshape(i, (1,))))
            return (left & (slots != i),)

        tf.while_loop(lambda left: tf.reduce_any(left), one, (where,))

    def load(self, slots: np.ndarray, rows: np.ndarray) -> None:
        self.x.scatter_nd_update(np.asarray(slots)[:, None], rows)

    def read(self, slots: np.ndarray, rule: int | None = None) -> np.ndarray:
        return tf.gather(self.x if rule is None else self.held[rule], slots).numpy()

    def run(self, n, release, active, steps, target, rule: StepRule):
        i, is_open, steps, success, conf, pred, _ = self._call(n, release, (active,), steps, target, rule)
        return i.numpy(), is_open[0].numpy(), steps.numpy(), success[0].numpy(), conf[0].numpy(), pred[0].numpy()

    def observe(self, n, release, is_open, steps, target, rule: StepRule):
        i, is_open, steps, success, conf, pred, at = self._call(n, release, tuple(is_open), steps, target, rule)
        stack = lambda ts: np.stack([np.asarray(t) for t in ts])
        steps = steps.numpy()
        return i.numpy(), stack(is_open), steps, stack(at + (steps,)), stack(success), stack(conf), stack(pred)

    def _call(self, n, release, is_open, steps, target, rule: StepRule):
        return self._compiled(tf.constant(n), tf.constant(release), tuple(tf.constant(o) for o in is_open),
                              tf.constant(steps), tf.constant(target), self._tensors(rule))

    def _tensors(self, rule: StepRule) -> tuple:
        """The rule as the loop's tensors (converted once per ``evolve`` call)."""
        if rule is not self._rule:
            clip = rule.clip
            kappas = rule.kappas or (rule.kappa or 0.0,)
            self._rule, self._params = rule, (
                tf.constant(rule.lr, tf.float32),
                tf.constant(clip[0] if clip else 0.0, tf.float32),
                tf.constant(clip[1] if clip else 0.0, tf.float32),
                tf.constant(clip is not None),
                tuple(tf.constant(k, tf.float32) for k in kappas),
                tf.constant(int(rule.max_steps), tf.int32),
            )
        return self._params


class TensorFlowBackend(ModelBackend):
    """A Keras model on TensorFlow, as a ``scheduler.Backend`` (``keras_model.ModelBackend``: held
    weakly, frozen while evolving); its logits head is built on the first compile. Making one turns
    TF32 off unless asked for (``tfadv.backends.apply_precision``), as the other backends do."""

    make_head = staticmethod(logits_head)

    def __init__(self, model: keras.Model):
        apply_precision("tensorflow")  # TF32 off (TensorFlow's default is on) unless asked for
        super().__init__(model)

    def compile(self, loss: str, stop: str | tuple[str, ...], size: int, jit: bool) -> _Program:
        logits_fn, activation = self.head
        return _Program(logits_fn, activation, loss, stop, size, self.example_shape, jit)


def make_backend(model: keras.Model) -> TensorFlowBackend:
    """The model's backend (what ``tfadv.engine.engine_for`` asks every framework module for)."""
    return TensorFlowBackend(model)


# ---------------------------------------------------------------- logging


class _DropRetracingWarning(logging.Filter):
    """Each _Program traces its own function once, and so does the training function Keras makes for
    each model it fits; TF counts them together and warns of "retracing" when several are alive. Not a
    real retrace."""

    OWN_FUNCTIONS = ("_Program.__init__.<locals>.run", "TensorFlowTrainer._make_function.<locals>")

    def filter(self, record):
        message = record.getMessage()
        return not any(name in message for name in self.OWN_FUNCTIONS)


def quiet_retracing_warnings() -> None:
    """Drops TensorFlow's false "retracing" warning about engine programs and training functions (idempotent).

    For entry points to call; importing the engine changes no logging.
    """
    logger = logging.getLogger("tensorflow")
    if not any(isinstance(f, _DropRetracingWarning) for f in logger.filters):
        logger.addFilter(_DropRetracingWarning())
