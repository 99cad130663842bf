"""The engine's JAX backend (PROTOCOL.md sections 3 and 8), for Keras 3 on JAX.

The same contract as ``tfadv.engine.tensorflow``, in JAX's terms: the model
is a pure function of its weight values (``stateless_call``, the values read
from the model at every call and never written), and only the input is
differentiated (``jax.grad`` of the summed per-example losses). A program's
slots live on the device as arrays between calls: the inputs, and for each
earlier observed rule the inputs at which it resolved. Each call runs up to
``n`` steps inside one jitted ``lax.while_loop``, compiled once per (loss,
stop kinds, slot count); every per-call number (``n``, ``release``, ``lr``,
clip bounds, kappas, ``max_steps``) is a traced argument. Nothing here is
CPU-specific; matrix products run at full precision
(``jax.default_matmul_precision("highest")``: GPUs would otherwise use TF32),
unless TF32 is asked for (``--precision=tf32``).
The work is in the model's dtype (float64 needs ``jax_enable_x64``).
Convolutions and max pooling get hand-written input gradients (the same
math as autodiff's), which XLA runs several times faster in a loop on CPUs.
"""

from __future__ import annotations

import contextlib
import functools

import jax
import jax.numpy as jnp
import keras
import numpy as np

from tfadv.backends import JAX_PRECISION, requested_precision
from tfadv.engine.keras_model import (ModelBackend, StandIn, activate, logits_parts, per_example_loss,
                                      with_stand_ins)
from tfadv.engine.scheduler import StepRule
from tfadv.engine.validate import check_loss



def _precision() -> str:
    """Matrix products' precision: full float32 ("highest") on every device unless TF32 was asked for
    (``tfadv.backends.set_precision``, ``--precision=tf32``)."""
    return JAX_PRECISION[requested_precision()]


# ---------------------------------------------------------------- model head


class LogitsHead:
    """The model's pre-activations (logits, ``keras_model.logits_parts``) as a pure function
    ``head(weights, x)``; convolutions and max pooling with hand-written input gradients.

    Attributes:
      activation: ``"sigmoid"`` or ``"softmax"``.
      variables: the Keras variables whose values ``weights()`` returns.
    """

    def __init__(self, model: keras.Model):
        inner, self._dense, self.activation = logits_parts(model)
        self._inner = with_stand_ins(inner, _FastGradient)
        dense = self._dense
        extra = [] if dense is None else [dense.kernel] + ([dense.bias] if dense.bias is not None else [])
        self.variables = list(self._inner.variables) + extra

    def weights(self) -> tuple:
        """The current weight values, as the arrays ``__call__`` takes."""
        return tuple(jnp.asarray(v.value) for v in self.variables)

    def __call__(self, weights, x):
        inner = self._inner
        n = len(inner.variables)
        # Keyed by identity: the split into trainable and not follows the layers' flags.
        value = {id(v): w for v, w in zip(self.variables, weights)}
        z, _ = inner.stateless_call([value[id(v)] for v in inner.trainable_variables],
                                    [value[id(v)] for v in inner.non_trainable_variables], x, training=False)
        if self._dense is not None:
            z = keras.ops.matmul(z, weights[n])
            z = z + weights[n + 1] if len(weights) > n + 1 else z
        return z


# ---------------------------------------------------------------- input gradients XLA runs fast


def _plain_conv(x, kernel, padding: str):
    return jax.lax.conv_general_dilated(x, kernel, (1, 1), padding, dimension_numbers=("NHWC", "HWIO", "NHWC"))


_conv = jax.custom_vjp(_plain_conv, nondiff_argnums=(2,))  # stride 1, NHWC


def _conv_backward(padding, saved, g):
    """The input gradient as a convolution with the flipped kernel laid out HWIO. Autodiff's own (the
    kernel's axes swapped) gets XLA:CPU's fast kernels only outside loops: steps ran ~4x slower."""
    x, kernel = saved
    kh, kw = kernel.shape[:2]
    pad = padding if padding == "SAME" else ((kh - 1, kh - 1), (kw - 1, kw - 1))
    dx = _plain_conv(g, jnp.flip(kernel, (0, 1)).swapaxes(2, 3), pad)
    return dx, jax.vjp(lambda k: _plain_conv(x, k, padding), kernel)[1](g)[0]


_conv.defvjp(lambda x, kernel, padding: (_plain_conv(x, kernel, padding), (x, kernel)), _conv_backward)


def _windows(x, size):
    """``(n, h, w, c)`` -> ``(n, h // ph, w // pw, c, ph * pw)``: the non-overlapping pooling windows."""
    (ph, pw), (n, h, w, c) = size, x.shape
    x = x[:, : h // ph * ph, : w // pw * pw].reshape(n, h // ph, ph, w // pw, pw, c)
    return x.transpose(0, 1, 3, 5, 2, 4).reshape(n, h // ph, w // pw, c, ph * pw)


_max_pool = jax.custom_vjp(lambda x, size: jnp.max(_windows(x, size), axis=-1), nondiff_argnums=(1,))


def _max_pool_backward(size, x, g):
    """The gradient goes to the first maximum of each window (as TensorFlow's); autodiff's
    select-and-scatter is several times slower on CPUs."""
    (ph, pw), (n, h, w, c) = size, x.shape
    windows = _windows(x, size)
    hot = jax.nn.one_hot(jnp.argmax(windows, axis=-1), ph * pw, dtype=g.dtype) * g[..., None]
    dx = hot.reshape(windows.shape[:4] + (ph, pw)).transpose(0, 1, 4, 2, 5, 3)
    dx = dx.reshape(n, h // ph * ph, w // pw * pw, c)
    return (jnp.pad(dx, ((0, 0), (0, h - dx.shape[1]), (0, w - dx.shape[2]), (0, 0))),)


_max_pool.defvjp(lambda x, size: (_max_pool(x, size), x), _max_pool_backward)


class _FastGradient(StandIn):
    """A ``Conv2D`` (stride 1) or ``MaxPooling2D`` (non-overlapping) layer, same weights and
    outputs, run with the input gradients above."""

    suffix = "fast_gradient"

    @staticmethod
    def handles(layer) -> bool:
        if type(layer) is keras.layers.Conv2D:  # plain float weights: no LoRA, not quantized
            return (layer.strides == (1, 1) and layer.dilation_rate == (1, 1) and layer.groups == 1
                    and layer.data_format == "channels_last" and not layer.lora_enabled
                    and getattr(layer, "quantization_mode", None) is None
                    and (layer.padding == "valid" or all(k % 2 for k in layer.kernel_size)))
        return (type(layer) is keras.layers.MaxPooling2D and tuple(layer.strides) == tuple(layer.pool_size)
                and layer.padding == "valid" and layer.data_format == "channels_last")

    def call(self, x):
        layer = self.layer
        if isinstance(layer, keras.layers.MaxPooling2D):
            return _max_pool(x, tuple(layer.pool_size))
        y = _conv(x, layer.kernel.value, layer.padding.upper())
        y = y + layer.bias.value if layer.use_bias else y
        return layer.activation(y) if layer.activation is not None else y


def model_dtype(model: keras.Model):
    """The model's input dtype, which the engine works in; float64 needs ``jax_enable_x64``."""
    dtype = jnp.dtype(keras.backend.standardize_dtype(model.inputs[0].dtype))
    if dtype == jnp.float64 and not jax.config.jax_enable_x64:
        raise ValueError(f"Model {model.name!r} is float64: enable JAX's 64-bit mode first "
                         "(JAX_ENABLE_X64=1, or jax.config.update('jax_enable_x64', True)).")
    return dtype


# ---------------------------------------------------------------- losses


def _total_loss(head, weights, onehot, loss):
    """``x -> (sum of the per-example losses, logits)``, for ``jax.grad(..., has_aux=True)``."""
    def total(x):
        z = head(weights, x)
        return jnp.sum(per_example_loss(z, onehot, loss, head.activation)), z
    return total


def input_gradient(model: keras.Model, x, targets, loss: str = "mse") -> np.ndarray:
    """Gradient of each example's loss with respect to its input (for checks).

    Works in the model's dtype, so a float64 model gives float64 gradients.
    """
    check_loss(loss)
    head, dtype = LogitsHead(model), model_dtype(model)

    @jax.jit
    def gradient(weights, x, targets):
        return jax.grad(_total_loss(head, weights, jax.nn.one_hot(targets, 10, dtype=dtype), loss),
                        has_aux=True)(x)[0]

    with jax.default_matmul_precision(_precision()):
        grad = gradient(head.weights(), jnp.asarray(np.asarray(x), dtype), jnp.asarray(np.asarray(targets)))
    return np.asarray(grad)


# ---------------------------------------------------------------- programs


def _chunk(head, loss: str, kinds: tuple[str, ...]):
    """The jitted call of a program: up to ``n`` steps of the loop below.

    ``chunk(x, held, weights, n, release, is_open, steps, target, params)``
    returns ``(x, held, iterations, is_open, steps, success, confidence,
    predicted, at)``; ``is_open`` and the per-rule outputs are ``(R, size)``
    (``at`` has ``R - 1`` rows), ``held`` is a tuple of ``R - 1`` input
    arrays; ``x`` and ``held`` are donated.
    """

    def chunk(x, held, weights, n, release, is_open, steps, target, params):
        lr, lo, hi, clip_on, kappas, max_steps = params
        onehot = jax.nn.one_hot(target, 10, dtype=x.dtype)
        gradient = jax.grad(_total_loss(head, weights, onehot, loss), has_aux=True)
        rows = lambda mask: mask.reshape(mask.shape + (1,) * (x.ndim - 1))  # noqa: E731

        def store(held_r, x, where):  # the inputs of slots `where` become rule r's (a few steps do)
            return jax.lax.cond(jnp.any(where), lambda: jnp.where(rows(where), x, held_r), lambda: held_r)

        def body(state):
            x, held, i, is_open, steps, success, conf, pred, at = state
            grad, z = gradient(x)
            y = activate(z, head.activation)
            c, p = jnp.sum(y * onehot, axis=1), jnp.argmax(y, axis=1).astype(jnp.int32)
            hit = p == target
            at_end = steps >= max_steps
            holds = {"argmax": lambda r: hit, "confidence": lambda r: hit & (c >= kappas[r]),
                     "budget": lambda r: hit & at_end}
            met = jnp.stack([holds[kind](r) for r, kind in enumerate(kinds)]) & is_open
            newly = is_open & (met | at_end)  # resolved this step
            finished = newly[-1]  # the last rule resolving stops the slot
            held = tuple(store(h, x, newly[r] & ~finished) for r, h in enumerate(held))
            at = jnp.where(newly[:-1], steps, at)
            conf, pred = jnp.where(newly, c, conf), jnp.where(newly, p, pred)
            is_open = is_open & ~newly
            active = is_open[-1]
            moved = x - lr * grad
            moved = jnp.where(clip_on, jnp.clip(moved, lo, hi), moved)
            x = jnp.where(rows(active), moved, x)
            return x, held, i + 1, is_open, steps + active.astype(jnp.int32), success | met, conf, pred, at

        running = jnp.sum(is_open[-1], dtype=jnp.int32)

        def more(state):
            still = jnp.sum(state[3][-1], dtype=jnp.int32)
            return (state[2] < n) & (still > 0) & (running - still < release)

        zeros = lambda dtype: jnp.zeros(is_open.shape, dtype)  # noqa: E731
        state = (x, held, jnp.int32(0), is_open, steps, zeros(bool), zeros(x.dtype), zeros(jnp.int32),
                 jnp.zeros((len(kinds) - 1,) + steps.shape, jnp.int32))
        return jax.lax.while_loop(more, body, state)

    return jax.jit(chunk, donate_argnums=(0, 1))


@functools.partial(jax.jit, donate_argnums=0)
def _put(x, slots, rows):
    """``x`` with ``rows`` written at ``slots`` (padded with out-of-range slots, which are dropped)."""
    return x.at[slots].set(rows, mode="drop")


class _Program:
    """A chunk of evolution steps over a fixed number of slots (a ``scheduler.Program``).

    Holds the slots' inputs and, per earlier observed rule, the inputs at
    which it resolved, as device arrays in the model's dtype; ``read``
    returns them as numpy in that dtype (float32 for float32 models).
    """

    def __init__(self, backend: "JaxBackend", chunk, n_rules: int, size: int):
        self.size, self._backend, self._chunk, self._dtype = size, backend, chunk, backend.dtype
        self.x = jnp.zeros((size,) + backend.example_shape, self._dtype)
        self.held = tuple(jnp.zeros_like(self.x) for _ in range(n_rules - 1))
        self._rule = self._params = None

    def load(self, slots: np.ndarray, rows: np.ndarray) -> None:
        padded_slots = np.full(self.size, self.size, np.int32)  # one shape per program: one compile
        padded_slots[: len(slots)] = slots
        padded_rows = np.zeros(self.x.shape, self._dtype)
        padded_rows[: len(slots)] = np.asarray(rows).reshape((len(slots),) + self.x.shape[1:])
        self.x = _put(self.x, padded_slots, padded_rows)

    def read(self, slots: np.ndarray, rule: int | None = None) -> np.ndarray:
        return np.asarray(self.x if rule is None else self.held[rule])[np.asarray(slots)]

    def run(self, n, release, active, steps, target, rule: StepRule):
        i, is_open, steps, success, conf, pred, _ = self._call(n, release, active[None], steps, target, rule)
        return i, is_open[0], steps, success[0], conf[0], pred[0]

    def observe(self, n, release, is_open, steps, target, rule: StepRule):
        i, is_open, steps, success, conf, pred, at = self._call(n, release, is_open, steps, target, rule)
        return i, is_open, steps, np.concatenate([at, steps[None]]), success, conf, pred

    def _call(self, n, release, is_open, steps, target, rule: StepRule):
        """One jitted call; the numpy ``(iterations, is_open, steps, success, conf, pred, at)``."""
        with jax.default_matmul_precision(_precision()):
            self.x, self.held, *out = self._chunk(
                self.x, self.held, self._backend.head.weights(), np.int32(n), np.int32(release),
                np.asarray(is_open, bool), np.asarray(steps, np.int32), np.asarray(target, np.int32),
                self._arrays(rule))
        return tuple(np.array(a) for a in jax.device_get(out))  # writable copies: the scheduler edits them

    def _arrays(self, rule: StepRule) -> tuple:
        """The rule as the loop's arrays (converted once per ``evolve`` call)."""
        if rule is not self._rule:
            clip, dtype = rule.clip, self._dtype
            kappas = rule.kappas or (rule.kappa or 0.0,)
            self._rule, self._params = rule, (
                np.asarray(rule.lr, dtype), np.asarray(clip[0] if clip else 0.0, dtype),
                np.asarray(clip[1] if clip else 0.0, dtype), np.asarray(clip is not None),
                np.asarray(kappas, dtype), np.int32(rule.max_steps))
        return self._params


class JaxBackend(ModelBackend):
    """A Keras model on JAX, as a ``scheduler.Backend`` (``keras_model.ModelBackend``: held weakly);
    its logits head is built on the first compile, and one jitted chunk function per (loss, stop
    kinds) serves every slot count (JAX compiles it once per count).
    """

    make_head = LogitsHead

    def __init__(self, model: keras.Model):
        super().__init__(model)
        self._chunks = {}

    dtype = property(lambda self: model_dtype(self.model))

    def frozen(self) -> contextlib.AbstractContextManager:
        """Nothing to switch: programs read the weights' values and never write them."""
        return contextlib.nullcontext()

    def compile(self, loss: str, stop: str | tuple[str, ...], size: int, jit: bool) -> _Program:
        """A program; ``jit`` is ignored (JAX always compiles the loop with XLA)."""
        kinds = (stop,) if isinstance(stop, str) else tuple(stop)
        if (loss, kinds) not in self._chunks:
            self._chunks[loss, kinds] = _chunk(self.head, loss, kinds)
        return _Program(self, self._chunks[loss, kinds], len(kinds), size)


def make_backend(model: keras.Model) -> JaxBackend:
    """The model's backend (what ``tfadv.engine.engine_for`` asks every framework module for)."""
    return JaxBackend(model)
