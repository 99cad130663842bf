"""Paper B's TensorFlow side: the start bank, the model plan, statistics, patterns and transfer on a
tiny hand-weighted model, and ``summarize`` end to end with one model below its floor."""

import dataclasses
import types

import keras
import numpy as np
import pytest

from tfadv import abstraction
from tfadv.config import DoughConfig
from tfadv.engine import EvolutionResult, evolve
from tfadv.keys import ModelKey
from tfadv.outputs import Output
from tfadv.papers.dough import plan, stages
from tfadv.papers.dough.paper import PAPER
from tfadv.papers.dough.summary import DoughSummary, PatternKey
from tfadv.sources import SyntheticData


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
    bank, labels = stages.start_bank(cfg)
    assert bank.shape == (7, 28, 28) and labels is None  # noise and constants have no class
    np.testing.assert_array_equal(bank, stages.start_bank(cfg)[0])
    assert np.all(bank[5] == 0.0) and np.all(bank[6] == 1.0)
    assert 0.4 < bank[:5].mean() < 0.6


def test_model_entries_cover_roles_once_per_seed():
    cfg = DoughConfig(seeds=2)
    entries = plan.model_entries(cfg)
    roles = [e.role for e in entries]
    assert roles.count("main") == 4 and roles.count("activation") == 2
    assert roles.count("untrained") == 4 and roles.count("shuffled") == 4
    # FC's main config is long_cosine, so its variants are default, sgd and short; the CNN's are sgd and short.
    assert roles.count("variant") == 2 * (3 + 2)
    assert len({e.key("mnist") for e in entries}) == len(entries)
    assert [e.gated for e in entries if e.role == "main"] == [True] * 4
    assert not any(e.gated for e in entries if e.role in ("variant", "untrained", "shuffled"))


def test_models_needed_are_model_keys_dataset_by_dataset_in_training_order():
    cfg = DoughConfig(seeds=2)
    needed = PAPER.models_needed(cfg)
    n = len(plan.model_entries(cfg))
    assert len(needed) == 2 * n == 2 * 24
    assert needed[0] == ModelKey("mlp_deep_relu", "mnist", "long_cosine", 0)
    assert needed[2] == ModelKey("cnn_sigmoid", "mnist", "cosine15", 0)
    assert needed[n] == ModelKey("mlp_deep_relu", "fashion_mnist", "long_cosine", 0)
    assert [k.seed for k in needed[:n]] == [0] * 12 + [1] * 12


def test_class_stats_of_a_hand_made_result():
    n = 12  # two starts toward classes 0 and 1, one failed start toward each of 2..9
    x_start = np.zeros((n, 28, 28), np.float32)
    x_final = x_start.copy()
    x_final[0, 0, :4] = 0.5  # L2 1.0, Linf 0.5
    x_final[1, 0, :1] = 2.0  # L2 2.0, Linf 2.0
    target = np.array([0, 0, 1, 1] + list(range(2, 10)))
    success = np.array([1, 1, 1] + [0] * 9, bool)
    steps = np.array([3, 5, 0] + [9] * 9)
    result = EvolutionResult(x_start, x_final, target, success, steps, confidence=np.ones(n), predicted=target)
    stats = stages.class_stats(result)
    np.testing.assert_allclose(stats[0], [1.0, 4.0, 1.5, 1.25, 0.0])
    # Class 1: one success after 0 steps (already the class, delta 0) and one failure.
    np.testing.assert_allclose(stats[1], [0.5, 0.0, 0.0, 0.0, 0.5])
    # No success: rate 0 and nothing to average.
    np.testing.assert_array_equal(stats[2:, 0], 0.0)
    assert np.isnan(stats[2:, 1:4]).all() and (stats[2:, 4] == 0).all()


def test_transfer_rate_on_a_tiny_model():
    model, blocks = block_model()
    starts = np.full((8, 28, 28), 0.3, np.float32)
    starts[:, 4:6, 4:24] = 0.4  # block 0 a little brighter: the model says 0
    norms = [np.full(10, np.linalg.norm(blocks[0]) * 0.5)]
    rate, random_rate = stages.transfer_rates([model], [blocks], norms, starts, seed=0)
    # Adding class c's block pattern (scaled to norm ~3.2) makes the model say c every time.
    assert rate.shape == (1, 1) and rate[0, 0] == pytest.approx(1.0)
    # Norm-matched Gaussian noise does not point at any class's block.
    assert random_rate[0, 0] < 0.35
    # A pattern scaled to almost nothing leaves every start at class 0: 1 of 10 classes right.
    tiny = [np.full(10, 1e-6)]
    rate, _ = stages.transfer_rates([model], [blocks], tiny, starts, seed=0)
    assert rate[0, 0] == pytest.approx(0.1)


def test_transfer_skips_missing_models_and_patterns():
    model, blocks = block_model()
    starts = np.full((4, 28, 28), 0.3, np.float32)
    norms = [np.full(10, 3.0), None]
    rate, random_rate = stages.transfer_rates([model, None], [blocks, None], norms, starts, seed=0)
    assert rate[0, 0] == pytest.approx(1.0)
    assert np.isnan(rate[0, 1]) and np.isnan(rate[1, 0]) and np.isnan(random_rate[1, 1])


def test_class_patterns_of_an_evolved_bank_point_at_each_class():
    model, blocks = block_model()
    cfg = DoughConfig(n_noise=6, constants=(0.5,))
    x = np.tile(stages.start_bank(cfg)[0], (10, 1, 1))
    targets = np.repeat(np.arange(10), 7)
    result = evolve(model, x, targets, loss="crossentropy", lr=0.5, max_steps=500)
    assert result.success.all()
    key = ModelKey("block", "mnist", "default", 0)
    patterns = stages.class_patterns(result, cfg, True, key, "argmax")
    mean = patterns[PatternKey(key)]
    # Class c's pattern correlates best with block c (nearest by r), for every class.
    r = np.corrcoef(np.concatenate([mean, blocks]))[:10, 10:]
    np.testing.assert_array_equal(r.argmax(axis=1), np.arange(10))
    assert set(patterns) >= {PatternKey(key, method="median"), PatternKey(key, method="top-5"),
                             PatternKey(key, k="10"), PatternKey(key, k="half_a"), PatternKey(key, k="half_b")}
    np.testing.assert_allclose(mean, abstraction.class_patterns(result.delta[result.success].reshape(-1, 784),
                                                                 targets[result.success]))
    assert list(stages.class_patterns(result, cfg, False, key, "kappa0.5")) == [PatternKey(key, "kappa0.5")]


class BlockBank:
    """A stand-in ``ModelBank``: the block model for every key; ``low`` is below its floor."""

    def __init__(self, low: ModelKey):
        self.model, _ = block_model()
        self.low = low
        self.excluded = []

    def get(self, key, *, gated=True):
        meta = {"test_accuracy": 0.5 if key == self.low else 0.99}
        if gated and key == self.low:
            if not self.excluded:
                self.excluded.append({"key": key.to_list(), "test_accuracy": 0.5, "floor": 0.975})
            return None, meta
        return self.model, meta

    def fingerprint(self, key):
        return f"block-{key.to_list()}"


def test_summarize_end_to_end_with_a_model_below_its_floor(tmp_path):
    cfg = DoughConfig(datasets=("mnist",), archs=(("mlp_deep_relu", "brief"), ("cnn_relu", "brief")),
                      activation_variant=("cnn_sigmoid", "brief"), variant_configs=("short",),
                      shuffled_configs=(("mlp_deep_relu", "brief_shuffled"), ("cnn_relu", "brief_shuffled")),
                      seeds=1, n_noise=6, constants=(0.5,), k_values=(4, None), kappas=(0.5,),
                      transfer_starts=8, classifier_per_class=4, classifier_arch="mlp_shallow_relu",
                      classifier_config="short")
    low = ModelKey("cnn_relu", "mnist", "brief", 0)
    ctx = types.SimpleNamespace(models=BlockBank(low), source=SyntheticData(n_train=200, n_test=100),
                                output_dir=tmp_path, force=False, progress_line=lambda label: None,
                                stale=lambda path: False, made=lambda path: None)
    s = stages.summarize(cfg, ctx)
    assert isinstance(s, DoughSummary)
    assert not s.is_used(low) and s.pattern(low) is None and s.class_stats(low) is None
    assert s.accuracy(low) == 0.5 and s.exclusion(low)["floor"] == 0.975
    fc = ModelKey("mlp_deep_relu", "mnist", "brief", 0)
    assert s.is_used(fc) and s.pattern(fc, method="median").shape == (10, 784)
    # The block model moves every start to every class; its patterns point at the blocks.
    np.testing.assert_array_equal(s.class_stats(fc)[:, 0], np.ones(10))
    t = s.transfer("mnist")
    assert t.models == (fc, low) and not np.isnan(t.rate[0, 0]) and np.isnan(t.rate[0, 1]) and np.isnan(t.rate[1, 0])
    assert np.isnan(s.classifier("cnn_relu", "brief").accuracy) and s.classifier("cnn_relu", "brief").n_train == 0
    assert s.classifier("mlp_deep_relu", "brief").n_train > 0
    claims = {c.id: c for c in PAPER.claims(s)}
    assert claims["B1"].headline == "classes identified per seed: mnist FC 10; mnist CNN \u2014"
    assert [c.passed for c in claims["B1"].checks] == [True, False]
    stored = sorted(p.name for p in (tmp_path / "attacks" / "dough").iterdir())
    # A second run reuses every cached evolution and classifier: same numbers, no new files.
    again = stages.summarize(cfg, ctx)
    assert sorted(p.name for p in (tmp_path / "attacks" / "dough").iterdir()) == stored
    assert [c.to_dict() for c in PAPER.claims(again)] == [c.to_dict() for c in claims.values()]
    for item in PAPER.items:
        assert all(p.stat().st_size > 0 for p in item.make(s, Output(tmp_path, "quick"))), item.id


def test_b5_norms_leave_out_starts_already_in_the_class():
    """Zero-step successes have a zero perturbation; the median is over the starts that were moved."""
    n = 6
    x_start = np.zeros((n, 2), np.float32)
    x_final = x_start.copy()
    x_final[1:4, 0] = [3.0, 4.0, 5.0]  # three moved starts toward class 0 (norms 3, 4, 5)
    x_final[5, 1] = 7.0  # class 1: one moved start, one that failed (index 4, norm 0 too)
    result = EvolutionResult(x_start=x_start, x_final=x_final, target=np.array([0, 0, 0, 0, 1, 1]),
                             success=np.array([True, True, True, True, False, True]),
                             steps=np.array([0, 5, 9, 12, 40, 3]), confidence=np.ones(n, np.float32),
                             predicted=np.array([0, 0, 0, 0, 2, 1]))
    norms = stages.class_median_norms(result)
    assert norms[0] == pytest.approx(4.0)  # median of 3, 4, 5; the zero-step start (norm 0) left out
    assert norms[1] == pytest.approx(7.0)
    assert np.isnan(norms[2:]).all()


def _bank_result(targets, success, steps):
    n = len(targets)
    x = np.zeros((n, 2), np.float32)
    return EvolutionResult(x_start=x, x_final=x + 1, target=np.asarray(targets), success=np.asarray(success),
                           steps=np.asarray(steps), confidence=np.ones(n, np.float32),
                           predicted=np.asarray(targets))


def test_counted_examples_under_each_reading_of_the_starts():
    """Bank of 3 starts x 10 classes: test-image starts toward their own class and zero-step successes drop out."""
    targets = np.repeat(np.arange(10), 3)
    success = np.ones(30, bool)
    steps = np.full(30, 5)
    steps[[0, 4]] = 0  # start 0 toward class 0, start 1 toward class 1: already in the class
    result = _bank_result(targets, success, steps)
    labels = np.array([0, 1, 7])
    cfg = DoughConfig()
    assert stages.counted(cfg, result, None).all()  # the protocol counts everything
    by_label = stages.counted(dataclasses.replace(cfg, starts="test_images"), result, labels)
    assert np.flatnonzero(~by_label).tolist() == [0, 4, 23]  # (0 -> 0), (1 -> 1), (7 -> 7)
    no_zero = stages.counted(dataclasses.replace(cfg, zero_step="excluded"), result, None)
    assert np.flatnonzero(~no_zero).tolist() == [0, 4]
    stats = stages.class_stats(result, no_zero)
    assert stats[0, 0] == 1.0 and stats[0, 4] == 0.0  # class 0: the two moved starts, no zero-step one left


def test_other_class_starts_never_start_in_the_target_class():
    images = np.arange(8, dtype=np.float32)[:, None]
    labels = np.array([0, 0, 1, 2, 0, 1, 2, 2])
    starts, start_labels = stages.other_class_starts(images, labels, np.array([0, 0, 1, 2]))
    assert starts[:, 0].tolist() == [2, 3, 0, 1] and start_labels.tolist() == [1, 2, 0, 0]
    with pytest.raises(ValueError, match="no image left"):
        stages.other_class_starts(images[:2], labels[:2], np.array([0]))


def test_natural_starts_are_a_fixed_choice_and_the_protocol_keys_do_not_change():
    cfg = dataclasses.replace(DoughConfig(n_noise=5, constants=(0.5,)), starts="test_images")
    x, y = stages.start_bank(cfg, SyntheticData(), "mnist")
    again, _ = stages.start_bank(cfg, SyntheticData(), "mnist")
    assert x.shape == (6, 28, 28) and y.shape == (6,) and np.array_equal(x, again)
    fresh = stages.transfer_starts(dataclasses.replace(cfg, transfer_starts=4), SyntheticData(), "mnist")
    assert not any(np.array_equal(f, b) for f in fresh for b in x)  # B5's starts are other test images
    entry = plan.ModelEntry("cnn_relu", "default", 0, "main")
    protocol = DoughConfig()
    key = lambda c: stages.bank_path("out", c, entry, "mnist", "argmax", None, "fp")
    assert key(protocol) == key(dataclasses.replace(protocol, readings=False, zero_step="excluded"))
    assert key(dataclasses.replace(protocol, starts="test_images")) != key(protocol)
    names = [r.name for r in PAPER.readings(protocol)]
    assert names == ["starts: test images", "zero-step excluded"] and not PAPER.readings(
        dataclasses.replace(protocol, readings=False))


def test_a_main_models_bank_evolves_once_for_every_stop_rule(tmp_path, monkeypatch):
    """One pass (``evolve_observing``) makes every stop rule's file, each equal to its own ``evolve`` run bit
    for bit; a model with one rule evolves as before; cached files are read, not evolved again."""
    cfg = DoughConfig(datasets=("mnist",), n_noise=6, constants=(0.5,), kappas=(0.5, 0.9))
    bank = BlockBank(ModelKey("none", "mnist", "brief", 0))
    ctx = types.SimpleNamespace(models=bank, source=SyntheticData(), output_dir=tmp_path,
                                stale=lambda path: False, made=lambda path: None)
    calls = []
    for name in ("evolve", "evolve_observing"):
        real = getattr(stages, name)
        monkeypatch.setattr(stages, name, lambda *a, _real=real, _name=name, **k: calls.append(_name) or _real(*a, **k))
    main = plan.ModelEntry("mlp_deep_relu", "brief", 0, "main")
    results = stages.evolve_bank_rules(ctx, cfg, main, "mnist")
    assert calls == ["evolve_observing"] and list(results) == ["argmax", "kappa0.5", "kappa0.9"]
    starts, _ = stages.start_bank(cfg)
    x, targets = np.tile(starts, (10, 1, 1)), np.repeat(np.arange(10), len(starts))
    for stop, kappa in plan.stop_rules(cfg):
        alone = evolve(bank.model, x, targets, **stages._bank_settings(cfg, kappa).evolve_options())
        stored = EvolutionResult.load(stages.bank_path(tmp_path, cfg, main, "mnist", stop, kappa,
                                                       bank.fingerprint(main.key("mnist"))))
        assert stored.settings == alone.settings
        for field in EvolutionResult._ARRAYS:
            np.testing.assert_array_equal(getattr(stored, field), getattr(alone, field), err_msg=f"{stop} {field}")
    assert results["kappa0.9"].steps.mean() > results["argmax"].steps.mean()  # the rules did differ
    calls.clear()
    again = stages.evolve_bank_rules(ctx, cfg, main, "mnist")
    assert calls == [] and np.array_equal(again["kappa0.5"].x_final, results["kappa0.5"].x_final)
    variant = plan.ModelEntry("mlp_deep_relu", "short", 0, "variant")
    assert list(stages.evolve_bank_rules(ctx, cfg, variant, "mnist")) == ["argmax"] and calls == ["evolve"]
