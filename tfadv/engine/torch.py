"""The engine's PyTorch backend (PROTOCOL.md sections 3 and 8), for Keras 3 on PyTorch.

The same contract as ``tfadv.engine.tensorflow``, in PyTorch's terms: only
the input is differentiated (``torch.autograd.grad`` of the summed
per-example losses with respect to the input tensor alone; the weights get
no gradient, and inside ``frozen()`` they do not even require one). A
program's slots live on the model's device as tensors between calls: the
inputs, and for each earlier observed rule the inputs at which it resolved.
Each call runs up to ``n`` steps in a Python loop of device operations; the
loop's end conditions (every slot done, ``release`` slots finished) are
computed on the device and gate every update of the step, so the host reads
them only every ``_CHECK_EVERY`` steps (one ``.item()``) and the steps it
runs past the end change nothing: results and iteration counts are those of
the TensorFlow loop. The work is in the model's dtype (float64 models give
float64), on the device of the model's weights. Making a backend turns
TF32 off for CUDA matrix products and convolutions (process-wide torch
flags; on with ``--precision=tf32``), so GPUs compute in full float32 as the
other backends do. ``jit``
is ignored: programs run eagerly (``torch.compile`` is not used). Dense
layers run through ``_ExactDense``: Keras' own product loses float64
precision on torch, and MKL's makes a row's result depend on its slot.
On busy CPUs set ``OMP_WAIT_POLICY=PASSIVE`` before torch loads: OpenMP
threads that spin while waiting made steps 2x (small products 100x) slower.
"""

from __future__ import annotations

import keras
import numpy as np
import torch

from tfadv.backends import apply_precision
from tfadv.engine.keras_model import (ModelBackend, StandIn, activate, logits_parts, per_example_loss,
                                      with_stand_ins)
from tfadv.engine.scheduler import StepRule
from tfadv.engine.validate import check_loss

# Steps between host reads of the loop's end condition, per device type; the
# steps run past the end are masked out. On CPUs a read costs microseconds.
_CHECK_EVERY = {"cpu": 1}
_CHECK_EVERY_OTHER = 8


# ---------------------------------------------------------------- model head


class LogitsHead:
    """The model's pre-activations (logits, ``keras_model.logits_parts``) as ``head(x)`` on torch
    tensors; Dense layers with their matrix product in their own dtype (``_ExactDense``).

    Attributes:
      activation: ``"sigmoid"`` or ``"softmax"``.
    """

    def __init__(self, model: keras.Model):
        inner, self._dense, self.activation = logits_parts(model)
        self._inner = with_stand_ins(inner, _ExactDense)

    def __call__(self, x):
        z = self._inner(x, training=False)
        if self._dense is not None:
            z = _RowwiseMatmul.apply(z, self._dense.kernel.value)
            z = z + self._dense.bias.value if self._dense.bias is not None else z
        return z


def _matmul(a, b):
    """``a @ b`` (``b`` 2-D) whose rows do not depend on their position or on the other rows.

    MKL's single-precision products, measured on this CPU (torch 2.14): with
    ``b`` a transposed view, or with 5-7 or 9-11 columns, a row's result
    depends on where it sits in ``a``; a contiguous ``b`` padded to 16
    columns gives every row the same bits wherever it is (the extra columns
    are zeros and are dropped)."""
    b, n = b.contiguous(), b.shape[-1]
    if 4 < n < 16 and n % 8:
        b = torch.nn.functional.pad(b, (0, 16 - n))
    rows = a.reshape(-1, a.shape[-1])
    return (rows @ b)[:, :n].reshape(a.shape[:-1] + (n,))


class _RowwiseMatmul(torch.autograd.Function):
    """``_matmul`` with its input gradient (``g @ b.T``, as ``_matmul``); no weight gradient:
    the engine differentiates with respect to the input alone."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(b)
        return _matmul(a, b)

    @staticmethod
    def backward(ctx, g):
        (b,) = ctx.saved_tensors
        return _matmul(g, b.t()), None


class _ExactDense(StandIn):
    """A ``Dense`` layer, same weights and outputs, whose product is ``_RowwiseMatmul`` in the
    layer's dtype: Keras 3.15's ``ops.matmul`` on torch computes float64 products in float32 (its
    type promotion turns 64-bit types into 32-bit ones on every backend but TensorFlow)."""

    suffix = "exact"

    @staticmethod
    def handles(layer) -> bool:  # plain float weights: no LoRA, not quantized
        return (type(layer) is keras.layers.Dense and not layer.lora_enabled
                and getattr(layer, "quantization_mode", None) is None)

    def call(self, x):
        layer = self.layer
        y = _RowwiseMatmul.apply(x, layer.kernel.value)
        y = y + layer.bias.value if layer.use_bias else y
        return layer.activation(y) if layer.activation is not None else y


def model_dtype(model: keras.Model) -> torch.dtype:
    """The model's input dtype as a torch dtype (the engine works in it)."""
    return getattr(torch, keras.backend.standardize_dtype(model.inputs[0].dtype))


def model_device(model: keras.Model) -> torch.device:
    """The device of the model's weights (Keras' torch device for a model without any)."""
    for variable in model.variables:
        return variable.value.device
    return keras.ops.convert_to_tensor(0.0).device


# ---------------------------------------------------------------- losses


def _gradient(head: LogitsHead, x, onehot, loss: str):
    """``(d sum of losses / dx, logits)``, differentiating with respect to ``x`` alone."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        z = head(x)
        total = torch.sum(per_example_loss(z, onehot, loss, head.activation))
        (grad,) = torch.autograd.grad(total, x)
    return grad, z.detach()


def _onehot(target, dtype):
    return torch.nn.functional.one_hot(target.long(), 10).to(dtype)


def input_gradient(model: keras.Model, x, targets, loss: str = "mse") -> np.ndarray:
    """Gradient of each example's loss with respect to its input (eager; for checks).

    Works in the model's dtype, so a float64 model gives float64 gradients.
    """
    check_loss(loss)
    apply_precision("torch")
    head, dtype, device = LogitsHead(model), model_dtype(model), model_device(model)
    x = torch.as_tensor(np.asarray(x), dtype=dtype, device=device)
    target = torch.as_tensor(np.broadcast_to(np.asarray(targets), (len(x),)).astype(np.int64), device=device)
    grad, _ = _gradient(head, x, _onehot(target, dtype), loss)
    return grad.cpu().numpy()


# ---------------------------------------------------------------- programs


class _Program:
    """A chunk of evolution steps over a fixed number of slots (a ``scheduler.Program``).

    Holds the slots' inputs and, per earlier observed rule, the inputs at
    which it resolved, as tensors on the model's device in its dtype;
    ``read`` returns them as numpy in that dtype (float32 for float32 models).
    """

    def __init__(self, backend: "TorchBackend", loss: str, kinds: tuple[str, ...], size: int):
        self.size, self._head, self._loss, self._kinds = size, backend.head, loss, kinds
        self._dtype, self._device = backend.dtype, backend.device
        self.x = torch.zeros((size,) + backend.example_shape, dtype=self._dtype, device=self._device)
        self.held = [torch.zeros_like(self.x) for _ in kinds[:-1]]
        self._check = _CHECK_EVERY.get(self._device.type, _CHECK_EVERY_OTHER)
        self._rule = self._params = None

    def load(self, slots: np.ndarray, rows: np.ndarray) -> None:
        rows = np.asarray(rows).reshape((len(slots),) + tuple(self.x.shape[1:]))
        index = torch.as_tensor(np.asarray(slots, np.int64), device=self._device)
        self.x[index] = torch.as_tensor(rows, dtype=self._dtype, device=self._device)

    def read(self, slots: np.ndarray, rule: int | None = None) -> np.ndarray:
        index = torch.as_tensor(np.asarray(slots, np.int64), device=self._device)
        return (self.x if rule is None else self.held[rule])[index].cpu().numpy()

    def run(self, n, release, active, steps, target, rule: StepRule):
        i, is_open, steps, success, conf, pred, _ = self._call(n, release, np.asarray(active)[None], steps, target,
                                                              rule)
        return i, is_open[0], steps, success[0], conf[0], pred[0]

    def observe(self, n, release, is_open, steps, target, rule: StepRule):
        i, is_open, steps, success, conf, pred, at = self._call(n, release, is_open, steps, target, rule)
        return i, is_open, steps, np.concatenate([at, steps[None]]), success, conf, pred

    @torch.no_grad()  # bookkeeping only: _gradient turns gradients on for the input alone
    def _call(self, n, release, is_open, steps, target, rule: StepRule):
        """Up to ``n`` steps; the numpy ``(iterations, is_open, steps, success, conf, pred, at)``.

        Every update of a step is gated by ``go`` (some slot runs, fewer than
        ``release`` have finished), computed on the device before the step,
        so steps run after it turned false leave the state as it was.
        """
        lr, lo, hi, clip_on, kappas, max_steps = self._tensors(rule)
        device, kinds, x, held = self._device, self._kinds, self.x, self.held
        is_open = torch.as_tensor(np.asarray(is_open, bool), device=device)
        steps = torch.as_tensor(np.asarray(steps, np.int32), device=device)
        target = torch.as_tensor(np.asarray(target, np.int64), device=device)
        onehot = _onehot(target, self._dtype)
        rows = lambda mask: mask.view(mask.shape + (1,) * (x.dim() - 1))  # noqa: E731
        running = is_open[-1].sum()
        success = torch.zeros(is_open.shape, dtype=torch.bool, device=device)
        conf = torch.zeros(is_open.shape, dtype=self._dtype, device=device)
        pred = torch.zeros(is_open.shape, dtype=torch.int64, device=device)
        at = torch.zeros((len(kinds) - 1,) + steps.shape, dtype=torch.int32, device=device)
        i = torch.zeros((), dtype=torch.int32, device=device)
        for k in range(int(n)):
            still = is_open[-1].sum()
            go = (still > 0) & (running - still < release)
            if k % self._check == 0 and not go.item():
                break
            grad, z = _gradient(self._head, x, onehot, self._loss)
            y = activate(z, self._head.activation)
            c, p = torch.sum(y * onehot, dim=1), torch.argmax(y, dim=1)
            hit = p == target
            at_end = steps >= max_steps
            holds = {"argmax": lambda r: hit, "confidence": lambda r: hit & (c >= kappas[r]),
                     "budget": lambda r: hit & at_end}
            live = is_open & go
            met = torch.stack([holds[kind](r) for r, kind in enumerate(kinds)]) & live
            newly = live & (met | at_end)  # resolved this step
            finished = newly[-1]  # the last rule resolving stops the slot
            for r, h in enumerate(held):  # the inputs of slots resolving rule r now become rule r's
                torch.where(rows(newly[r] & ~finished), x, h, out=h)
            at = torch.where(newly[:-1], steps, at)
            conf, pred = torch.where(newly, c, conf), torch.where(newly, p, pred)
            success |= met
            is_open = is_open & ~newly
            active = is_open[-1] & go
            moved = torch.sub(x, grad.mul_(lr), out=grad)  # in place: no new input-sized buffers
            if clip_on:  # Python bounds (rounded to the dtype): clamp with tensor bounds ran ~5x slower
                moved.clamp_(lo, hi)
            torch.where(rows(active), moved, x, out=x)
            steps = steps + active.to(torch.int32)
            i = i + go.to(torch.int32)
        out = (i, is_open, steps, success, conf, pred.to(torch.int32), at)
        return tuple(t.cpu().numpy().copy() for t in out)  # writable copies: the scheduler edits them

    def _tensors(self, rule: StepRule) -> tuple:
        """The rule as the loop's values (converted once per ``evolve`` call)."""
        if rule is not self._rule:
            clip, as_tensor = rule.clip, lambda v: torch.tensor(v, dtype=self._dtype, device=self._device)
            kappas = rule.kappas or (rule.kappa or 0.0,)
            self._rule, self._params = rule, (
                as_tensor(rule.lr), float(clip[0]) if clip else 0.0, float(clip[1]) if clip else 0.0,
                clip is not None, [as_tensor(k) for k in kappas], int(rule.max_steps))
        return self._params


class TorchBackend(ModelBackend):
    """A Keras model on PyTorch, as a ``scheduler.Backend`` (``keras_model.ModelBackend``: held
    weakly, frozen while evolving, so its weights stop requiring gradients); its logits head is built
    on the first compile. Making one turns TF32 off
    unless asked for (``tfadv.backends.apply_precision``).
    """

    make_head = LogitsHead

    def __init__(self, model: keras.Model):
        apply_precision("torch")
        super().__init__(model)

    dtype = property(lambda self: model_dtype(self.model))
    device = property(lambda self: model_device(self.model))

    def compile(self, loss: str, stop: str | tuple[str, ...], size: int, jit: bool) -> _Program:
        """A program; ``jit`` is ignored (the loop runs eagerly)."""
        kinds = (stop,) if isinstance(stop, str) else tuple(stop)
        return _Program(self, loss, kinds, size)


def make_backend(model: keras.Model) -> TorchBackend:
    """The model's backend (what ``tfadv.engine.engine_for`` asks every framework module for)."""
    return TorchBackend(model)
