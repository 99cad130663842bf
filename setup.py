"""Installs tfadv: ``pip install .`` (extras: ``[test]`` the test suite, ``[jax]``/``[torch]`` Keras' JAX and
PyTorch backends, ``[ray]`` running the stages on Ray)."""

import re
from pathlib import Path

from setuptools import find_packages, setup

version = re.search(r'__version__ = "([^"]+)"', Path("tfadv/__init__.py").read_text()).group(1)

setup(
    name="tfadv",
    version=version,
    description=(
        "TensorFlow/Keras reproduction of 'Through Neural Nets' Eyes' and "
        "'Neural Networks Playing Dough' (adversarial examples as class patterns)"
    ),
    long_description=Path("README.md").read_text(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["tfadv", "tfadv.*"]),
    # The reference runs' stage times: --dry_run's and the progress line's predictions on a fresh folder.
    package_data={"tfadv.execution": ["reference_times.json"]},
    python_requires=">=3.10",
    install_requires=[
        "tensorflow>=2.16",
        "keras>=3",
        "numpy",
        "h5py",
        "matplotlib",
        "absl-py",
    ],
    extras_require={
        "test": ["pytest", "pytest-xdist"],
        # CPU by default; on a GPU add JAX's CUDA wheels: pip install 'jax[cuda12]' (README).
        "jax": ["jax>=0.4.30"],
        "torch": ["torch>=2.3"],
        # Running the stages as Ray tasks (--executor=ray); a cluster needs it on every node.
        "ray": ["ray>=2.10"],
    },
    license="MIT",
)
