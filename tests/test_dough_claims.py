"""Paper B's typed summary and claim rules B1-B6 on hand-built summaries (numpy side)."""

import csv
import dataclasses

import numpy as np
import pytest

from tfadv.abstraction import DATASET_VARIANTS
from tfadv.config import DoughConfig
from tfadv.keys import ModelKey
from tfadv.outputs import Output
from tfadv.papers.dough import claims as dc
from tfadv.papers.dough import items, plan
from tfadv.papers.dough.summary import ClassifierResult, DoughSummary, ModelRecord, PatternKey, Transfer

CFG = DoughConfig(seeds=2)
ABSTRACTIONS = ("mean", "median", "sign", "top-1", "top-5", "top-20")
K_VALUES = ("10", "30", "100", "all")
STOPS = ("argmax", "kappa0.5", "kappa0.9")


def key(arch, config, seed, dataset="mnist"):
    return ModelKey(arch, dataset, config, seed)


def summary(seed=0) -> DoughSummary:
    """Every trained model's class patterns equal mu_c - mu plus a little noise: every rule holds."""
    rng = np.random.default_rng(seed)
    models, patterns, stats, derived, transfers = {}, {}, {}, {}, {}
    for d in CFG.datasets:
        mu = rng.normal(size=(10, 784))
        derived.update({(d, v): mu for v in DATASET_VARIANTS})
        for e in plan.model_entries(CFG):
            m = e.key(d)
            models[m] = ModelRecord(e.role, 0.99, True)
            stats[m] = rng.uniform(size=(10, 5))
            if e.role in ("untrained", "shuffled"):
                patterns[PatternKey(m)] = rng.normal(size=(10, 784))
                continue
            pattern = mu + 0.3 * rng.normal(size=(10, 784))
            patterns[PatternKey(m)] = pattern
            if e.role == "main":
                for a in ABSTRACTIONS[1:]:
                    patterns[PatternKey(m, method=a)] = pattern + 0.2 * rng.normal(size=(10, 784))
                for k in K_VALUES[:-1] + ("half_a", "half_b"):
                    patterns[PatternKey(m, k=k)] = pattern + 0.3 * rng.normal(size=(10, 784))
                for stop in STOPS[1:]:
                    patterns[PatternKey(m, stop=stop)] = pattern + 0.2 * rng.normal(size=(10, 784))
        mains = tuple(e.key(d) for e in plan.model_entries(CFG) if e.role == "main")
        transfers[d] = Transfer(mains, np.full((len(mains),) * 2, 0.6), np.full((len(mains),) * 2, 0.1))
    classifiers = {e.key("mnist"): ClassifierResult(0.7 if e.role == "main" else 0.1, 1000)
                   for e in plan.classifier_sources(CFG)}
    return DoughSummary(CFG, ABSTRACTIONS, K_VALUES, STOPS, models, patterns, stats, derived, transfers,
                        classifiers, excluded=[])


def claim(s, cid):
    return {c.id: c for c in dc.claims(s)}[cid]


def test_every_claim_reproduced_on_a_summary_built_to_pass():
    assert {c.id: c.verdict for c in dc.claims(summary())} == {f"B{i}": "reproduced" for i in range(1, 7)}


def test_b1_split_halves_must_identify_all_ten_classes():
    s = summary()
    k = PatternKey(key("cnn_relu", "default", 1), k="half_b")
    s.patterns[k] = s.patterns[k][[1, 0, 2, 3, 4, 5, 6, 7, 8, 9]]  # classes 0 and 1 swapped in one half
    b1 = claim(s, "B1")
    assert b1.verdict == "partly"
    failed = [c for c in b1.checks if not c.passed]
    assert len(failed) == 1 and failed[0].numbers["classes_identified_per_seed"] == [10, 8]


def test_b2_is_the_mean_r_of_each_variant_against_0_7():
    s = summary()
    for k in [k for k in s.patterns if k.method == "top-1"]:
        s.patterns[k] = np.random.default_rng(1).normal(size=(10, 784))  # unrelated: r ~ 0
    b2 = claim(s, "B2")
    top1 = next(c for c in b2.checks if "top-1" in c.name)
    assert not top1.passed and abs(top1.numbers["mean_r"]) < 0.05
    assert b2.verdict == "partly"
    assert len(b2.checks) == 5 + 3 + 2  # 5 other abstractions, 3 K values, 2 stop rules


def test_b3_counts_classes_whose_same_class_r_wins():
    s = summary()
    for seed in range(CFG.seeds):
        k = PatternKey(key("cnn_relu", "sgd", seed, "fashion_mnist"))
        s.patterns[k] = np.roll(s.patterns[k], 1, axis=0)  # every class looks like its neighbour
    failed = [c for c in claim(s, "B3").checks if not c.passed]
    assert [c.name.split(":")[0] for c in failed] == ["fashion_mnist, CNN"]
    assert failed[0].numbers["classes"] == 0


def test_b4_needs_identification_and_a_margin_over_controls():
    s = summary()
    margin = claim(s, "B4").checks[1].numbers
    assert margin["trained"] > 0.9 and abs(margin["untrained"]) < 0.05
    # Controls that also look like the dataset take the margin away.
    for seed in range(CFG.seeds):
        s.patterns[PatternKey(key("mlp_deep_relu", "untrained", seed))] = s.derived_pattern("mnist")
    assert not claim(s, "B4").checks[1].passed


@pytest.mark.parametrize("random_rate, verdict", [(0.39, "reproduced"), (0.41, "partly")])
def test_b5_flips_at_twenty_points(random_rate, verdict):
    s = summary()
    s.transfer("mnist").random_rate[:] = random_rate  # transfer 0.6: gain 0.21 vs 0.19
    assert claim(s, "B5").verdict == verdict


def test_b5_leaves_out_a_model_with_itself():
    s = summary()
    np.fill_diagonal(s.transfer("mnist").rate, 0.0)  # X -> X never counts
    assert claim(s, "B5").checks[0].numbers["transfer_rate"] == pytest.approx(0.6)


def test_b6_needs_both_the_trained_and_the_untrained_source():
    s = summary()
    s.classifiers[key("cnn_relu", "untrained", 0)] = ClassifierResult(0.25, 1000)
    assert claim(s, "B6").verdict == "partly"
    s.classifiers[key("mlp_deep_relu", "long_cosine", 0)] = ClassifierResult(0.45, 1000)
    assert claim(s, "B6").verdict == "not reproduced"


def below_floor(s: DoughSummary, model: ModelKey) -> DoughSummary:
    """``s`` with ``model`` left out below its floor: not used, no patterns or statistics."""
    return dataclasses.replace(
        s, models={**s.models, model: dataclasses.replace(s.models[model], used=False)},
        patterns={k: v for k, v in s.patterns.items() if k.model != model},
        stats={k: v for k, v in s.stats.items() if k != model},
        excluded=[{"key": model.to_list(), "test_accuracy": 0.95, "floor": 0.988}])


def test_a_model_below_its_floor_fails_its_checks_and_shows_as_a_dash(tmp_path):
    low = key("cnn_relu", "default", 0)
    s = below_floor(summary(), low)
    assert s.pattern(low) is None and s.pattern(low, method="median") is None and s.class_stats(low) is None
    assert s.accuracy(low) == 0.99 and s.exclusion(low)["floor"] == 0.988
    claims = {c.id: c for c in dc.claims(s)}
    b1 = next(c for c in claims["B1"].checks if c.name.startswith("mnist, CNN"))
    assert not b1.passed and claims["B1"].headline.startswith(
        "classes identified per seed: mnist FC 10/10; mnist CNN \u2014/10")
    assert claims["B4"].verdict == "reproduced"  # seed 1 still carries the averages
    rows = _csv(items.make_dough_tab2(s, Output(tmp_path, "paper"))[0])
    fc_cnn = next(r for r in rows if r[0] == "MNIST" and r[2] == "CNN, default")
    assert fc_cnn[3] == "1"  # one seed with both models
    assert "not used: accuracy\n0.950 < floor 0.988" in items._row_label(s, "mnist", "cnn_relu", "default", 0)


def test_headlines_give_the_rules_numbers():
    s = summary()
    for d in CFG.datasets:
        s.transfer(d).rate[:] = 0.25
    heads = {c.id: c.headline for c in dc.claims(s)}
    assert heads["B2"].startswith(f"{len(dc.abstraction_variants(s))} of ")
    assert heads["B5"] == "; ".join(f"{d}: 25.0% vs random 10.0% (+15.0 points)" for d in CFG.datasets)
    assert heads["B6"].startswith("FC: 70.0% from trained, 10.0% from untrained sources")


def _csv(path):
    return list(csv.reader(path.read_text().splitlines()[1:]))


def test_dough_tab4_counts_the_seeds_whose_split_halves_identify_each_class(tmp_path):
    s = summary()
    k = PatternKey(key("cnn_relu", "default", 1), k="half_b")
    s.patterns[k] = s.patterns[k][[1, 0, 2, 3, 4, 5, 6, 7, 8, 9]]  # classes 0 and 1 fail in seed 1
    assert items.split_half_identified(s, "mnist", "cnn_relu").tolist() == [1, 1] + [2] * 8
    with pytest.raises(KeyError, match="half_a"):  # only main models have split halves
        items.split_half_identified(s, "mnist", "cnn_sigmoid")
    path = tmp_path / "tables" / "dough_tab4.csv"
    assert path in items.make_dough_tab4(s, Output(tmp_path, "paper"))
    rows = _csv(path)
    assert [r[-1] for r in rows if r[0] == "MNIST" and r[1] == "CNN, default"] == ["1", "1"] + ["2"] * 8
    assert [r[-1] for r in rows if r[0] == "MNIST" and r[1] == "CNN (sigmoid), cosine15"] == [""] * 10
    stats = np.mean([s.class_stats(key("cnn_relu", "default", seed))[3] for seed in range(2)], axis=0)
    np.testing.assert_allclose([float(x) for x in rows[13][4:9]], stats)  # MNIST CNN, class 3


# ---------------------------------------------------------------- the summary itself


def test_save_and_load_give_the_same_summary_and_claims(tmp_path):
    s = below_floor(summary(), key("mlp_deep_relu", "long_cosine", 1, "fashion_mnist"))
    s.classifiers[key("cnn_relu", "default", 0)] = ClassifierResult(float("nan"), 0)
    loaded = DoughSummary.load(s.save(tmp_path / "dough.npz"))
    assert loaded.config == CFG and loaded.models == s.models and loaded.excluded == s.excluded
    assert loaded.patterns.keys() == s.patterns.keys() and loaded.stats.keys() == s.stats.keys()
    assert all(np.array_equal(loaded.patterns[k], v) for k, v in s.patterns.items())
    assert all(np.array_equal(loaded.derived[k], v) for k, v in s.derived.items())
    assert loaded.transfer("mnist").models == s.transfer("mnist").models
    assert np.isnan(loaded.classifier("cnn_relu", "default").accuracy)
    assert [c.to_dict() for c in dc.claims(loaded)] == [c.to_dict() for c in dc.claims(s)]


@pytest.mark.parametrize("field, missing, message", [
    ("patterns", PatternKey(key("mlp_deep_relu", "long_cosine", 0), method="median"), "median pattern"),
    ("patterns", PatternKey(key("cnn_sigmoid", "cosine15", 1)), "mean pattern .* of cnn_sigmoid"),
    ("stats", key("cnn_relu", "untrained", 1), "statistics of cnn_relu"),
    ("derived", ("mnist", "standardised"), "standardised pattern of mnist"),
    ("transfers", "fashion_mnist", "transfer rates on fashion_mnist"),
    ("classifiers", key("cnn_relu", "untrained", 0), "B6 classifier from cnn_relu"),
])
def test_a_summary_missing_a_value_cannot_be_built(field, missing, message):
    s = summary()
    values = dict(getattr(s, field))
    del values[missing]
    with pytest.raises(KeyError, match=message):
        dataclasses.replace(s, **{field: values})


def test_a_value_missing_at_lookup_raises_instead_of_failing_a_claim():
    s = summary()
    del s.transfers["mnist"]  # removed after the summary was checked
    with pytest.raises(KeyError, match="No transfer rates on mnist"):
        dc.claims(s)
    s = summary()
    del s.patterns[PatternKey(key("mlp_deep_relu", "long_cosine", 0), method="sign")]
    with pytest.raises(KeyError, match="No sign pattern"):
        dc.claims(s)
    del s.classifiers[key("cnn_relu", "default", 0)]
    with pytest.raises(KeyError, match="No B6 classifier"):
        s.classifier("cnn_relu", "default")
    with pytest.raises(KeyError, match="not a model of this paper B summary"):
        s.pattern(key("mlp_deep_relu", "sgd", 7))
    with pytest.raises(KeyError, match="No median pattern"):  # variants have only the mean pattern
        s.pattern(key("mlp_deep_relu", "sgd", 0), method="median")


@pytest.mark.parametrize("damage", ["drop stats", "short patterns"])
def test_a_summary_file_missing_a_value_cannot_be_loaded(tmp_path, damage):
    with np.load(summary().save(tmp_path / "whole.npz")) as f:
        arrays = {k: f[k] for k in f.files}
    if damage == "drop stats":
        del arrays["stats"]
    else:
        arrays["patterns"] = arrays["patterns"][:-1]
    np.savez(tmp_path / "broken.npz", **arrays)
    with pytest.raises(KeyError):
        DoughSummary.load(tmp_path / "broken.npz")


def _reading(c, name):
    return next(r for r in c.readings if r.name == name)


def test_b2_read_over_all_variants_together():
    """One variant at r ~ 0 fails it per variant; pooled with the 10 others it can still pass."""
    s = summary()
    for k in [k for k in s.patterns if k.method == "top-1"]:
        s.patterns[k] = np.random.default_rng(1).normal(size=(10, 784))
    b2 = claim(s, "B2")
    overall = _reading(b2, "B2: mean over all variants")
    assert b2.verdict == "partly" and overall.verdict == "reproduced" and not b2.robust
    per_variant = {c.name: c.numbers["mean_r"] for c in b2.checks}
    assert overall.checks[0].numbers["variants"] == len(per_variant) == 10
    assert overall.checks[0].numbers["mean_r"] == pytest.approx(np.mean(list(per_variant.values())))


def test_b4_read_by_columns():
    """Two class patterns both nearest to dataset pattern 0: rows still find their own class for 9,
    but dataset pattern 1's nearest class pattern is no longer class 1 -- and vice versa by construction."""
    s = summary()
    for k in [k for k in s.patterns if k.model.config in ("long_cosine", "default") and k.model.dataset == "mnist"
              and k.method == "mean" and k.k == "all" and k.stop == "argmax"]:
        p = s.patterns[k].copy()
        p[1] = s.derived[("mnist", "mean_diff")][0] * 3  # class 1's pattern is dataset pattern 0, stronger
        s.patterns[k] = p
    b4 = claim(s, "B4")
    rows = {c.name: c.numbers["classes"] for c in b4.checks if "classes" in c.numbers}
    columns = {c.name: c.numbers["classes"] for c in _reading(b4, "B4: by columns").checks if "classes" in c.numbers}
    mnist_rows = [v for n, v in rows.items() if n.startswith("mnist")]
    mnist_cols = [v for n, v in columns.items() if n.startswith("mnist")]
    assert mnist_rows == [9, 9]  # class 1's row points at 0: 9 of 10 by rows
    assert mnist_cols == [8, 8]  # columns 0 and 1 both lose: 8 of 10 by columns
    assert b4.verdict == "reproduced" and _reading(b4, "B4: by columns").verdict == "partly"


def test_settings_readings_judge_every_paper_b_claim():
    other = summary(seed=3)
    other.transfers["mnist"] = dataclasses.replace(other.transfers["mnist"],
                                                   random_rate=np.full_like(other.transfers["mnist"].rate, 0.55))
    claims = dc.claims(summary(), settings={"starts: test images": ({"B starts": "test images"}, other)})
    assert all(c.readings[-1].name == "starts: test images" and c.readings[0].checks is c.checks for c in claims)
    b5 = {c.id: c for c in claims}["B5"]
    assert b5.verdict == "reproduced" and b5.readings[-1].verdict == "partly" and not b5.robust
