"""The Keras side every engine backend shares (PROTOCOL.md section 3).

Which part of a model gives the logits, the loss of each example, the
example shape, freezing the weights, and holding the model weakly: written
once with ``keras`` and ``keras.ops``, so on each framework they run that
framework's own ops (on TensorFlow the very ops the engine always ran:
its results are unchanged bit for bit). Imports Keras, no framework.
"""

from __future__ import annotations

import weakref

import keras

ACTIVATIONS = ("sigmoid", "softmax")


def logits_parts(model: keras.Model) -> tuple[keras.Model, keras.layers.Dense | None, str]:
    """Where the model's pre-activations (logits) come from.

    A model ending in a sigmoid or softmax ``Activation`` layer gives the
    sub-model up to that layer's input; one ending in a ``Dense`` layer with
    that activation gives the sub-model up to the layer's input and the layer,
    whose product and bias (without its activation) make the logits.

    Returns:
      ``(inner, dense, activation)``: the sub-model, the final ``Dense``
      layer or None, and ``"sigmoid"`` or ``"softmax"``.

    Raises:
      ValueError: when the model does not end that way.
    """
    last = model.layers[-1]
    activation = getattr(getattr(last, "activation", None), "__name__", None)
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"Model {model.name!r} must end in a sigmoid or softmax activation, got {activation!r}."
        )
    if not isinstance(last, (keras.layers.Activation, keras.layers.Dense)):
        raise ValueError(
            f"Model {model.name!r} must end in an Activation or Dense layer to expose its logits."
        )
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    inner = keras.Model(inputs, last.input, name=f"{model.name}_logits")
    return inner, (last if isinstance(last, keras.layers.Dense) else None), activation


class StandIn(keras.layers.Layer):
    """A layer standing in for another (``with_stand_ins``): the same weights and outputs, computed
    another way (a subclass's ``call``, for the layers its ``handles`` accepts)."""

    suffix = "stand_in"

    def __init__(self, layer: keras.layers.Layer):
        super().__init__(name=f"{layer.name}_{self.suffix}", dtype=layer.dtype_policy)
        self.layer, self.built = layer, True

    @staticmethod
    def handles(layer: keras.layers.Layer) -> bool:
        raise NotImplementedError

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)


def with_stand_ins(model: keras.Model, stand_in: type[StandIn]) -> keras.Model:
    """``model`` with the same layers and weights, each layer ``stand_in.handles`` accepts called through
    ``stand_in(layer)``."""
    return keras.models.clone_model(
        model, clone_function=lambda layer: layer,
        call_function=lambda layer, *args, **kwargs: (
            stand_in(layer) if stand_in.handles(layer) else layer)(*args, **kwargs))


def example_shape(model: keras.Model) -> tuple[int, ...]:
    """The shape of one example the model takes (its input shape without the batch axis)."""
    return tuple(model.input_shape[1:])


def has_convolution(model: keras.Model) -> bool:
    return any(isinstance(layer, keras.layers.Conv2D) for layer in model.layers)


def per_example_loss(logits, onehot, loss: str, activation: str):
    """The loss of each example (vector), from the output pre-activations.

    ``"mse"``: mean over the 10 units of (output - one-hot)^2 (Keras' MSE, as
    the sigmoid nets were trained); ``"crossentropy"``: softmax cross-entropy,
    or the sum of per-unit binary cross-entropies for sigmoid outputs (the
    stable form, also in gradients of saturated units; Keras' own
    ``binary_crossentropy`` is not, on JAX and PyTorch); ``"logit"``: minus
    the target's pre-activation.
    """
    ops = keras.ops
    if loss == "logit":
        return -ops.sum(logits * onehot, axis=1)
    if loss == "crossentropy" and activation == "softmax":
        return ops.categorical_crossentropy(onehot, logits, from_logits=True)
    if loss == "crossentropy":  # TensorFlow's sigmoid_cross_entropy_with_logits, written out: the same bits there
        units = ops.maximum(logits, 0) - logits * onehot + ops.log1p(ops.exp(-ops.abs(logits)))
        return ops.sum(units, axis=1)
    # Not ops.mean: Keras 3.15's computes float64 in float32 (its result_type(float64, float32) is float32).
    return ops.sum(ops.square(activate(logits, activation) - onehot), axis=1) / logits.shape[1]


def activate(logits, activation: str):
    """The output activation (``"sigmoid"`` or ``"softmax"`` over axis 1) of the logits."""
    return keras.ops.sigmoid(logits) if activation == "sigmoid" else keras.ops.softmax(logits, axis=1)


class Frozen:
    """Sets every layer of a model to ``trainable=False`` (on PyTorch its weights stop
    requiring gradients), restoring each layer's flag after."""

    def __init__(self, model: keras.Model):
        self.model = model

    def __enter__(self):
        self.saved = [layer.trainable for layer in self.model.layers]
        for layer in self.model.layers:
            layer.trainable = False

    def __exit__(self, *exc):
        for layer, flag in zip(self.model.layers, self.saved):
            layer.trainable = flag


class ModelBackend:
    """The model-facing half of a ``scheduler.Backend``; a framework adds ``compile`` and ``make_head``.

    Holds the model weakly (engines are cached per model in a
    ``WeakKeyDictionary``, whose values must not keep their keys alive) and
    builds its logits head (``make_head(model)``) on first use.
    """

    def __init__(self, model: keras.Model):
        self._model, self._head = weakref.ref(model), None

    @property
    def model(self) -> keras.Model:
        model = self._model()
        if model is None:
            raise ReferenceError("The engine's model no longer exists.")
        return model

    @property
    def head(self):
        if self._head is None:
            self._head = self.make_head(self.model)
        return self._head

    def make_head(self, model: keras.Model):
        raise NotImplementedError

    @property
    def example_shape(self) -> tuple[int, ...]:
        return example_shape(self.model)

    @property
    def convolutional(self) -> bool:
        return has_convolution(self.model)

    def frozen(self) -> Frozen:
        return Frozen(self.model)
