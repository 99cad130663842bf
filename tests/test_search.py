"""Paper A's search (PROTOCOL.md sections 3 and 8): the stream, the n-th success, the cap, the file, the rules."""

import keras
import numpy as np
import pytest

from tfadv.engine import Engine, EvolutionResult, StopRule, evolve, evolve_observing, make_starts
from tfadv.papers.eyes import search
from tfadv.papers.eyes.search import SearchResult, evolve_until, evolve_until_observing
from tfadv.papers.eyes.stages import median_example


def hand_model():
    """Softmax logit c = 4 * (mean of pixel row block c) - 2 * mean of all pixels: every class reachable."""
    inputs = keras.Input(shape=(28, 28))
    logits = keras.layers.Dense(10, name="logits")(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, keras.layers.Activation("softmax", name="output")(logits))
    w = np.full((784, 10), -2.0 / 784)
    image = np.zeros((28, 28, 10))
    for c in range(10):
        image[2 * c + 4: 2 * c + 6, 4:24, c] = 1.0
    w += 4.0 * image.reshape(784, 10) / 40.0
    model.get_layer("logits").set_weights([w.astype("float32"), np.zeros(10, "float32")])
    return model


OPTS = dict(loss="crossentropy", lr=0.01, max_steps=5)  # about 12% of uniform starts succeed


def test_evolve_until_stops_at_the_nth_success_and_is_block_independent(tmp_path):
    model = hand_model()
    search = evolve_until(model, 4, n_success=30, max_attempts=5000, seed=3, **OPTS)
    assert search.reached and len(search.successes) == 30
    assert search.attempt_success[-1]  # the last attempt is the 30th success
    assert search.attempt_success.sum() == 30 and 30 < search.attempts < 5000
    # Attempt i is example i of the stream: evolving those starts in one call agrees.
    x = np.clip(make_starts("uniform", search.attempts, 3), 0, 1)
    direct = evolve(model, x, 4, **OPTS)
    np.testing.assert_array_equal(direct.success, search.attempt_success)
    np.testing.assert_array_equal(direct.steps, search.attempt_steps)
    np.testing.assert_array_equal(direct.x_final[direct.success], search.successes.x_final)
    np.testing.assert_array_equal(direct.x_start[direct.success], search.successes.x_start)
    assert np.all(search.successes.predicted == 4) and np.all(search.successes.target == 4)
    loaded = SearchResult.load(search.save(tmp_path / "s.npz"))
    np.testing.assert_array_equal(loaded.attempt_steps, search.attempt_steps)
    np.testing.assert_array_equal(loaded.attempt_success, search.attempt_success)
    np.testing.assert_array_equal(loaded.successes.x_final, search.successes.x_final)
    assert loaded.target == 4 and loaded.n_wanted == 30 and loaded.successes.settings == search.successes.settings
    assert loaded.successes.settings == dict(loss="crossentropy", lr=0.01, max_steps=5, stop="argmax",
                                             kappa=None, clip=[0.0, 1.0])


def test_evolve_until_respects_the_attempt_cap():
    model = hand_model()
    search = evolve_until(model, 4, n_success=1000, max_attempts=200, seed=0, **OPTS)
    assert search.attempts == 200 and not search.reached
    assert len(search.successes) == search.attempt_success.sum() > 0


def test_evolve_until_reports_attempts_against_the_cap():
    calls = []
    evolve_until(hand_model(), 4, n_success=1000, max_attempts=150, seed=0,
                 progress=lambda done, total, detail: calls.append((done, total)), **OPTS)
    assert calls[-1] == (150, 150) and all(t == 150 for _, t in calls)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


RULES = (StopRule.argmax(), StopRule.confidence(0.13, "conf"), StopRule.budget())  # about 12%, 6%, 12% succeed


def assert_same_search(a, b):
    for field in ("attempt_success", "attempt_steps"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)
    for field in EvolutionResult._ARRAYS:
        np.testing.assert_array_equal(getattr(a.successes, field), getattr(b.successes, field), err_msg=field)
    assert (a.target, a.n_wanted, a.successes.settings) == (b.target, b.n_wanted, b.successes.settings)


@pytest.mark.parametrize("n_success, max_attempts", [(30, 5000), (1000, 200)])
def test_one_search_under_several_rules_is_each_rules_own_search(n_success, max_attempts):
    model = hand_model()
    kwargs = dict(n_success=n_success, max_attempts=max_attempts, seed=3, **OPTS)
    searches = evolve_until_observing(model, 4, rules=RULES, **kwargs)
    assert list(searches) == ["argmax", "conf", "budget"]
    assert_same_search(searches["argmax"], evolve_until(model, 4, stop="argmax", **kwargs))
    assert_same_search(searches["conf"], evolve_until(model, 4, stop="confidence", kappa=0.13, **kwargs))
    budget = searches["budget"]
    x = np.clip(make_starts("uniform", budget.attempts, 3), 0, 1)
    direct = evolve_observing(model, x, 4, rules=[StopRule.budget()], **OPTS)["budget"]
    np.testing.assert_array_equal(direct.success, budget.attempt_success)
    np.testing.assert_array_equal(direct.x_final[direct.success], budget.successes.x_final)
    assert np.all(budget.attempt_steps == OPTS["max_steps"])
    if max_attempts == 200:  # the cap: every rule stops there
        assert all(s.attempts == 200 and not s.reached for s in searches.values())
    else:  # each rule stops at its own 30th success
        assert all(s.reached and s.attempt_success[-1] for s in searches.values())
        assert searches["conf"].attempts > 1.5 * searches["argmax"].attempts


def test_readings_that_share_an_attack_do_not_attack_twice(monkeypatch):
    """PROTOCOL.md section 8: one engine pass per block serves every stop rule."""
    calls = []

    def counting(fn, kind):
        def wrapped(model, x, target, **options):
            out = fn(model, x, target, **options)
            cost = out.cost if kind == "evolve" else next(iter(out.values())).cost
            calls.append((kind, len(x), len(options.get("rules", [None])), cost))
            return out
        return wrapped

    monkeypatch.setattr(search, "evolve", counting(search.evolve, "evolve"))
    monkeypatch.setattr(search, "evolve_observing", counting(search.evolve_observing, "observing"))
    passes = []  # inside the engine: one slot loop over the examples per call, whatever the rules
    one_pass = Engine._pass
    monkeypatch.setattr(Engine, "_pass", lambda self, x, *a: passes.append(len(x)) or one_pass(self, x, *a))
    model = hand_model()
    kwargs = dict(n_success=30, max_attempts=5000, seed=3, **OPTS)
    singles = {}
    for rule in RULES:
        calls.clear()
        if rule.kind == "budget":
            singles[rule.name] = (evolve_until_observing(model, 4, rules=[rule], **kwargs)[rule.name], list(calls))
        else:
            singles[rule.name] = (evolve_until(model, 4, stop=rule.kind, kappa=rule.kappa, **kwargs), list(calls))
    calls.clear()
    passes.clear()
    together = evolve_until_observing(model, 4, rules=RULES, **kwargs)
    assert passes == [n for _, n, _, _ in calls]
    # One engine call per block, each with all three rules; every attempt is evolved once.
    assert all(kind == "observing" and n_rules == 3 for kind, _, n_rules, _ in calls)
    attacked = sum(n for _, n, _, _ in calls)
    assert max(s.attempts for s in together.values()) <= attacked  # the last block's tail is dropped
    # Its blocks are those of the rule furthest from its goal (confidence, here): the same
    # examples, the same engine calls and the same cost as that rule's own search, which
    # already runs most attempts the whole budget (they fail it). Three searches cost 2.1x.
    fed = {name: [n for _, n, _, _ in c] for name, (_, c) in singles.items()}
    assert [n for _, n, _, _ in calls] == fed["conf"] and len(fed["argmax"]) == len(fed["budget"]) == 3
    single_costs = {name: sum(cost for *_, cost in c) for name, (_, c) in singles.items()}
    cost = sum(c for *_, c in calls)
    assert cost == single_costs["conf"] == max(single_costs.values())
    assert 2 * cost < sum(single_costs.values())


def test_zero_step_successes_leave_the_search_entirely():
    """The 'zero-step excluded' reading: a start already labelled as the target is no attempt."""
    n = 5
    x = np.arange(n * 4, dtype=np.float32).reshape(n, 4)
    found = EvolutionResult(x_start=x, x_final=x + 1, target=np.full(n, 3), success=np.ones(n, bool),
                            steps=np.array([0, 4, 0, 9, 2]), confidence=np.full(n, 0.6, np.float32),
                            predicted=np.full(n, 3))
    search = SearchResult(successes=found, attempt_success=np.array([True, False, True, True, False, True, True]),
                          attempt_steps=np.array([0, 50, 4, 0, 50, 9, 2]), target=3, n_wanted=5)
    moved = search.without_zero_step()
    assert moved.successes.steps.tolist() == [4, 9, 2] and moved.successes.x_start[:, 0].tolist() == [4, 12, 16]
    assert moved.attempt_success.tolist() == [False, True, False, True, True]
    assert moved.attempt_steps.tolist() == [50, 4, 50, 9, 2] and moved.attempts == 5
    assert search.attempts == 7 and len(search.successes) == 5  # the original is unchanged


def test_the_single_example_shown_is_the_one_of_median_confidence():
    assert median_example(np.array([0.9, 0.1, 0.5, 0.7, 0.3])) == 2  # median 0.5
    assert median_example(np.array([0.25, 0.875, 0.375, 0.625])) == 2  # median 0.5: 0.375 and 0.625 tie, the first wins
    assert median_example(np.array([0.99])) == 0
