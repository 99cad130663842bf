"""Paper B's TensorFlow side: the start bank, the model list, transfer on a tiny model."""

import keras
import numpy as np
import pytest

from tfadv import abstraction, dough
from tfadv.config import DoughConfig


def block_model():
    """Softmax over logit c = 10 * (mean of row block c) - 10 * (mean of the other blocks)."""
    inputs = keras.Input(shape=(28, 28))
    flat = keras.layers.Flatten()(inputs)
    logits = keras.layers.Dense(10, name="logits")(flat)
    model = keras.Model(inputs, keras.layers.Activation("softmax", name="output")(logits))
    masks = np.zeros((10, 28, 28))
    for c in range(10):
        masks[c, 2 * c + 4: 2 * c + 6, 4:24] = 1.0 / 40
    w = 10 * masks.reshape(10, 784).T - (10 / 9) * (masks.sum(0).reshape(784, 1) - masks.reshape(10, 784).T)
    model.get_layer("logits").set_weights([w.astype(np.float32), np.zeros(10, np.float32)])
    return model, masks.reshape(10, 784) * 40


def test_start_bank_is_fixed_noise_then_constants():
    cfg = DoughConfig(n_noise=5, constants=(0.0, 1.0))
    bank = dough.start_bank(cfg)
    assert bank.shape == (7, 28, 28)
    np.testing.assert_array_equal(bank, dough.start_bank(cfg))
    assert np.all(bank[5] == 0.0) and np.all(bank[6] == 1.0)
    assert 0.4 < bank[:5].mean() < 0.6


def test_model_entries_cover_roles_once_per_seed():
    cfg = DoughConfig(seeds=2)
    entries = dough.model_entries(cfg)
    roles = [e.role for e in entries]
    assert roles.count("main") == 4 and roles.count("activation") == 2
    assert roles.count("untrained") == 4 and roles.count("shuffled") == 4
    # FC's main config is long_cosine, so its variants are default, sgd and short; the CNN's are sgd and short.
    assert roles.count("variant") == 2 * (3 + 2)
    assert len({e.name for e in entries}) == len(entries)
    assert [e.gated for e in entries if e.role == "main"] == [True] * 4
    assert not any(e.gated for e in entries if e.role in ("variant", "untrained", "shuffled"))


def test_transfer_rate_on_a_tiny_model():
    model, blocks = block_model()
    starts = np.full((8, 28, 28), 0.3, np.float32)
    starts[:, 4:6, 4:24] = 0.4  # block 0 a little brighter: the model says 0
    norms = [np.full(10, np.linalg.norm(blocks[0]) * 0.5)]
    rate, random_rate = dough.transfer_rates([model], [blocks], norms, starts, seed=0)
    # Adding class c's block pattern (scaled to norm ~3.2) makes the model say c every time.
    assert rate.shape == (1, 1) and rate[0, 0] == pytest.approx(1.0)
    # Norm-matched Gaussian noise does not point at any class's block.
    assert random_rate[0, 0] < 0.35
    # A pattern scaled to almost nothing leaves every start at class 0: 1 of 10 classes right.
    tiny = [np.full(10, 1e-6)]
    rate, _ = dough.transfer_rates([model], [blocks], tiny, starts, seed=0)
    assert rate[0, 0] == pytest.approx(0.1)


def test_transfer_skips_missing_models_and_patterns():
    model, blocks = block_model()
    starts = np.full((4, 28, 28), 0.3, np.float32)
    norms = [np.full(10, 3.0), None]
    rate, random_rate = dough.transfer_rates([model, None], [blocks, None], norms, starts, seed=0)
    assert rate[0, 0] == pytest.approx(1.0)
    assert np.isnan(rate[0, 1]) and np.isnan(rate[1, 0]) and np.isnan(random_rate[1, 1])


def test_class_patterns_of_an_evolved_bank_point_at_each_class():
    from tfadv import attack

    model, blocks = block_model()
    cfg = DoughConfig(n_noise=6, constants=(0.5,))
    x = np.tile(dough.start_bank(cfg), (10, 1, 1))
    targets = np.repeat(np.arange(10), 7)
    result = attack.evolve(model, x, targets, loss="crossentropy", lr=0.5, max_steps=500)
    assert result.success.all()
    patterns = dough._patterns(result, cfg, main=True, prefix="p")
    mean = patterns["p|mean|all"]
    # Class c's pattern correlates best with block c (nearest by r), for every class.
    r = np.corrcoef(np.concatenate([mean, blocks]))[:10, 10:]
    np.testing.assert_array_equal(r.argmax(axis=1), np.arange(10))
    assert set(patterns) >= {"p|median|all", "p|top-5|all", "p|mean|10", "p|mean|half_a", "p|mean|half_b"}
    np.testing.assert_allclose(mean, abstraction.class_patterns(result.delta[result.success].reshape(-1, 784),
                                                                 targets[result.success]))
