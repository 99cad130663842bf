"""Which framework Keras runs on: TensorFlow (the default and the reference), JAX or PyTorch.

Keras 3 picks its backend once, when it is first imported, from
``KERAS_BACKEND``. Entry points call ``select_backend`` before anything
imports Keras; library code follows whatever backend is active
(``active_backend``). Nothing here imports a framework at module level.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import sys

BACKENDS = ("tensorflow", "jax", "torch")
DEFAULT = "tensorflow"
# The distribution each backend needs, and the extra that installs it.
_DISTRIBUTIONS = {"tensorflow": ("tensorflow",), "jax": ("jax", "jaxlib"), "torch": ("torch",)}
_EXTRAS = {"tensorflow": ".", "jax": ".[jax]", "torch": ".[torch]"}
# Float32 matrix products and convolutions: full float32, or TF32 (10-bit mantissa) on GPUs that have it.
PRECISIONS = ("highest", "tf32")
DEFAULT_PRECISION = "highest"
JAX_PRECISION = {"highest": "highest", "tf32": "tensorfloat32"}  # jax_default_matmul_precision's names


class BackendError(RuntimeError):
    """A backend was asked for that is not installed, unknown, or not the one Keras already loaded."""


def early_flag(argv: list[str], names: str | tuple[str, ...], *, single_dash: bool = False, convert=str):
    """A flag's value as given on the command line, read before absl parses it (None if absent).

    Entry points need ``--backend`` and ``--verbosity`` before any framework
    loads, so before absl. ``--name=value`` and ``--name value`` count (with
    ``single_dash``, ``-name`` too); the last one wins; a value ``convert``
    rejects with ``ValueError`` is passed over, as is a missing one.

    Args:
      argv: the command line, program name first.
      names: the flag's name, or its names (``("verbosity", "v")``).
      single_dash: whether ``-name`` counts as well as ``--name``.
      convert: makes the value (``int`` for a number).
    """
    names = (names,) if isinstance(names, str) else tuple(names)
    value = None
    for i, arg in enumerate(argv[1:], start=1):
        name, eq, rest = arg.lstrip("-").partition("=")
        if arg.startswith("-" if single_dash else "--") and name in names:
            try:
                value = convert(rest if eq else (argv[i + 1] if i + 1 < len(argv) else ""))
            except ValueError:
                pass
    return value


def early_backend(argv: list[str]) -> str | None:
    """``--backend`` as given on the command line, read before absl parses it (None if absent)."""
    return early_flag(argv, "backend")


def requested_backend() -> str:
    """The backend this process asks for: ``KERAS_BACKEND``, or TensorFlow."""
    return os.environ.get("KERAS_BACKEND") or DEFAULT


def check_installed(name: str) -> None:
    """Raises ``BackendError`` (saying how to install it) when backend ``name`` is unknown or missing."""
    if name not in BACKENDS:
        raise BackendError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}.")
    if importlib.util.find_spec(name) is None:  # each backend's module is named as the backend
        raise BackendError(f"the {name} backend is not installed; install it with "
                           f"pip install '{_EXTRAS[name]}' (from a tfadv checkout), or choose another --backend.")


def select_backend(argv: list[str] | None = None) -> str:
    """Makes Keras load the backend named by ``--backend`` (else ``KERAS_BACKEND``, else TensorFlow).

    Call before anything imports Keras. Sets ``KERAS_BACKEND`` (and the
    framework's determinism switches that must be set before it loads).

    Raises:
      BackendError: the backend is unknown or not installed, or Keras was
        already imported with another backend.
    """
    name = early_backend(sys.argv if argv is None else argv) or requested_backend()
    check_installed(name)
    if "keras" in sys.modules:
        loaded = sys.modules["keras"].backend.backend()
        if loaded != name:
            raise BackendError(f"Keras is already running on {loaded}; set KERAS_BACKEND={name} before "
                               "starting Python, or select the backend before importing keras.")
    os.environ["KERAS_BACKEND"] = name
    if name == "jax":  # deterministic GPU reductions (a no-op on the CPU); read when jax starts
        os.environ.setdefault("XLA_FLAGS", "--xla_gpu_deterministic_ops=true")
    if name == "torch":  # deterministic cuBLAS, required by torch.use_deterministic_algorithms on a GPU
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        # OpenMP threads that spin while waiting made the engine 2x slower on a busy 2-core CPU.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return name


def active_backend() -> str:
    """The backend Keras runs on (imports Keras)."""
    import keras

    return keras.backend.backend()


def enable_determinism() -> None:
    """Makes the active backend's ops deterministic, process-wide (entry points call it once)."""
    name = active_backend()
    if name == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    elif name == "torch":
        import torch

        torch.use_deterministic_algorithms(True)
    # JAX: deterministic on the CPU; XLA_FLAGS (select_backend) covers GPUs.


def requested_precision() -> str:
    """The float32 precision this process asks for: ``TFADV_PRECISION``, else ``"highest"`` (full float32)."""
    name = os.environ.get("TFADV_PRECISION") or DEFAULT_PRECISION
    if name not in PRECISIONS:
        raise BackendError(f"unknown precision {name!r} (TFADV_PRECISION); choose one of {', '.join(PRECISIONS)}.")
    return name


def set_precision(name: str, backend: str | None = None) -> None:
    """Makes float32 matrix products and convolutions full float32 (``"highest"``) or TF32 (``"tf32"``).

    Process-wide: records ``name`` in ``TFADV_PRECISION`` (the JAX and PyTorch
    engines read it, child processes inherit it) and sets the switch of
    ``backend`` (default the active one): TensorFlow's
    ``enable_tensor_float_32_execution``, JAX's ``jax_default_matmul_precision``,
    PyTorch's ``allow_tf32`` for CUDA products and cuDNN. TF32 only changes
    results on GPUs that have it (NVIDIA Ampere and later); CPUs compute in full
    float32 either way.
    """
    if name not in PRECISIONS:
        raise BackendError(f"unknown precision {name!r}; choose one of {', '.join(PRECISIONS)}.")
    os.environ["TFADV_PRECISION"] = name
    apply_precision(backend or active_backend())


def apply_precision(backend: str) -> None:
    """Sets ``backend``'s switch to the requested precision (``requested_precision``); imports that framework."""
    tf32 = requested_precision() == "tf32"
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_tensor_float_32_execution(tf32)
    elif backend == "jax":
        import jax

        jax.config.update("jax_default_matmul_precision", JAX_PRECISION[requested_precision()])
    elif backend == "torch":
        import torch

        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32


def framework_versions(name: str | None = None) -> dict:
    """``{distribution: version}`` of the backend's framework, read from the installed metadata."""
    versions = {}
    for dist in _DISTRIBUTIONS[name or active_backend()]:
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = None
    return versions


def installed_backends() -> list[str]:
    """The backends whose framework is installed, in ``BACKENDS`` order."""
    out = []
    for name in BACKENDS:
        try:
            check_installed(name)
        except BackendError:
            continue
        out.append(name)
    return out


_LABELS = {"tensorflow": "TensorFlow", "jax": "JAX", "torch": "PyTorch"}


def framework_label(versions: dict) -> str:
    """``"TensorFlow 2.21.0"`` from a ``provenance.package_versions`` record (older records: TensorFlow)."""
    name = versions.get("backend", DEFAULT)
    return f"{_LABELS.get(name, name)} {versions.get('jax' if name == 'jax' else name, '?')}"


def set_random_seed(seed: int) -> None:
    """``keras.utils.set_random_seed`` (Python, NumPy, Keras' global seed, the framework's), without
    importing TensorFlow on the other backends: Keras seeds TensorFlow whenever it is installed, which
    imports it. There, Keras is shown TensorFlow as missing for the call (and keeps that answer)."""
    import keras

    if active_backend() == "tensorflow" or "tensorflow" in sys.modules:
        keras.utils.set_random_seed(seed)
        return
    sys.modules["tensorflow"] = None  # an import of it raises ImportError: "not installed"
    try:
        keras.utils.set_random_seed(seed)
    finally:
        del sys.modules["tensorflow"]
