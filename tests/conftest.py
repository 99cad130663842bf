"""Shared fixtures: tiny synthetic datasets, so unit tests never need real data."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest


def make_splits(n_train=240, n_test=60, seed=0):
    """A learnable toy dataset: class c lights up row block c of a 28x28 image."""
    rng = np.random.default_rng(seed)

    def split(n):
        labels = rng.integers(0, 10, size=n).astype(np.uint8)
        images = rng.uniform(0, 0.3, size=(n, 28, 28)).astype(np.float32)
        for i, c in enumerate(labels):
            images[i, 2 * c + 4: 2 * c + 6, 4:24] = 1.0
        return images, labels

    return split(n_train), split(n_test)


@pytest.fixture
def tiny_splits():
    return make_splits()


@pytest.fixture(scope="session", autouse=True)
def deterministic_ops():
    """The backend's ops deterministic for the whole session, as every entry point sets them (tfadv.flags)."""
    from tfadv.backends import enable_determinism

    enable_determinism()


# Test files that hold an end-to-end run, longest first. Collected first, they start first on their
# pytest-xdist workers (`--dist loadfile`, README), so the other files fill the time beside them.
LONGEST_FIRST = ("test_reproduce.py", "test_pipeline.py", "test_execution.py", "test_backend_runs.py")


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: order within a file kept
