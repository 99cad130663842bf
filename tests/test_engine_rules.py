"""Several stop rules from one attack (PROTOCOL.md section 8): each rule's result is ``evolve``'s, bit for bit."""

import contextlib
import inspect

import numpy as np
import pytest

from tfadv import engine
from tfadv.config import TrainConfig
from tfadv.engine import StopRule, evolve, evolve_observing, make_starts
from tfadv.engine.rules import check_rules, plan
from tfadv.sources import SyntheticData
from tfadv.training import train_model

FIELDS = ("x_final", "success", "steps", "confidence", "predicted")


def assert_same(a, b, where=slice(None)):
    for field in FIELDS:
        np.testing.assert_array_equal(getattr(a, field)[where], getattr(b, field)[where], err_msg=field)


# ---------------------------------------------------------------- the rules


@pytest.mark.parametrize("rules, message", [
    ([], "at least one StopRule"),
    (["argmax"], "must be StopRule objects"),
    ([StopRule("a", "margin")], "unknown kind 'margin'"),
    ([StopRule("c", "confidence")], "needs kappa in \\(0, 1\\), got None"),
    ([StopRule("c", "confidence", 1.0)], "needs kappa in \\(0, 1\\), got 1.0"),
    ([StopRule("c", "confidence", float("nan"))], "needs kappa in \\(0, 1\\), got nan"),
    ([StopRule("a", "argmax", 0.5)], "kappa is only used with kind 'confidence'"),
    ([StopRule.argmax("x"), StopRule.budget("x")], "names must be unique"),
])
def test_bad_rules_are_value_errors_naming_the_rule(rules, message):
    with pytest.raises(ValueError, match=message):
        check_rules(rules)


def test_rules_are_observed_in_resolution_order_and_equal_ones_share():
    rules = (StopRule.budget(), StopRule.confidence(0.9, "high"), StopRule.argmax(),
             StopRule.confidence(0.5, "low"), StopRule("argmax again", "argmax"))
    kinds, kappas, position = plan(rules)
    assert kinds == ("argmax", "confidence", "confidence", "budget")
    assert kappas == (0.0, 0.5, 0.9, 0.0)
    assert position == {"budget": 3, "high": 2, "argmax": 0, "low": 1, "argmax again": 0}
    assert StopRule.confidence(0.9).name == "confidence>=0.9"


def test_evolve_observing_takes_the_engines_arguments():
    public = list(inspect.signature(engine.evolve_observing).parameters.values())[1:]
    method = list(inspect.signature(engine.Engine.evolve_observing).parameters.values())[1:]
    assert [(p.name, p.kind, p.default) for p in public] == [(p.name, p.kind, p.default) for p in method]


# ---------------------------------------------------------------- the scheduler, with a numpy program


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _probs(x, w):  # sums in a fixed order per row, so a row's result ignores the row count
    return _softmax((x[:, :, None] * w[None]).sum(axis=1))


def _step(x, w, target, lr):  # summed softmax cross-entropy, then clipping to [0, 1]
    y = _probs(x, w) - np.eye(10, dtype=np.float32)[target]
    return np.clip(x - np.float32(lr) * (y[:, None, :] * w[None]).sum(axis=2), 0.0, 1.0)


def _holds(kind, kappa, p, c, target, at_end):
    hit = (p == target) & (c >= kappa if kind == "confidence" else True)
    return hit & at_end if kind == "budget" else hit


class NumpyObservingProgram:
    """``scheduler.Program.observe`` in numpy: a linear-softmax model, cross-entropy steps."""

    def __init__(self, w, size, kinds, calls):
        self.w, self.size, self.kinds, self.calls = w, size, kinds, calls
        self.x = np.zeros((size, w.shape[0]), np.float32)
        self.held = np.zeros((len(kinds) - 1, size, w.shape[0]), np.float32)

    def load(self, slots, rows):
        self.x[slots] = rows

    def read(self, slots, rule=None):
        return (self.x if rule is None else self.held[rule])[slots].copy()

    def observe(self, n, release, is_open, steps, target, rule):
        is_open, steps, shape = is_open.copy(), steps.copy(), (len(self.kinds), self.size)
        at, success = np.zeros(shape, np.int32), np.zeros(shape, bool)
        conf, pred = np.zeros(shape, np.float32), np.zeros(shape, np.int32)
        running, i = is_open[-1].sum(), 0
        while i < n and is_open[-1].any() and running - is_open[-1].sum() < release:
            y = _probs(self.x, self.w)
            c, p = y[np.arange(self.size), target], y.argmax(axis=1)
            at_end = steps >= rule.max_steps
            newly = []
            for r, kind in enumerate(self.kinds):
                met = _holds(kind, rule.kappas[r], p, c, target, at_end) & is_open[r]
                newly.append(is_open[r] & (met | at_end))
                success[r] |= met
            for r in range(len(self.kinds)):
                keep = newly[r] & ~newly[-1]
                if r < len(self.kinds) - 1:
                    self.held[r][keep] = self.x[keep]
                at[r][newly[r]], conf[r][newly[r]], pred[r][newly[r]] = steps[newly[r]], c[newly[r]], p[newly[r]]
                is_open[r] &= ~newly[r]
            active = is_open[-1]
            self.x[active] = _step(self.x, self.w, target, rule.lr)[active]
            steps += active
            i += 1
        at[-1] = steps
        self.calls.append((self.size, i))
        return np.int32(i), is_open, steps, at, success, conf, pred


class NumpyBackend:
    example_shape = (8,)
    convolutional = False

    def __init__(self, seed=0):
        self.w = np.random.default_rng(seed).normal(0, 1, (8, 10)).astype(np.float32)
        self.compiled, self.calls = [], []

    def frozen(self):
        return contextlib.nullcontext()

    def compile(self, loss, stop, size, jit):
        assert isinstance(stop, tuple), "this backend only observes"
        self.compiled.append((stop, size))
        return NumpyObservingProgram(self.w, size, stop, self.calls)


def _one_at_a_time(w, x, target, lr, max_steps, kind, kappa):
    """One example under one rule, written out: check, then step."""
    x = x[None].copy()
    for step in range(max_steps + 1):
        y = _probs(x, w)[0]
        at_end = step == max_steps
        held = bool(_holds(kind, kappa, y.argmax(), y[target], target, at_end))
        if held or at_end:
            return x[0], step, held, y[target], y.argmax()
        x = _step(x, w, np.array([target]), lr)


def test_scheduler_observes_every_rule_as_if_alone():
    backend = NumpyBackend()
    eng = engine.Engine(backend)
    x = make_starts("uniform", 300, seed=5, shape=(8,))
    targets = np.arange(300) % 10
    rules = [StopRule.budget(), StopRule.confidence(0.6, "conf"), StopRule.argmax()]
    opts = dict(loss="crossentropy", lr=0.05, max_steps=40)
    a = eng.evolve_observing(x, targets, rules=rules, batch_size=64, chunk_steps=3, **opts)
    assert backend.compiled == [(("argmax", "confidence", "budget"), 64)]
    assert a["budget"].cost == a["argmax"].cost == sum(size * i for size, i in backend.calls)  # one pass
    assert 300 * 41 <= a["budget"].cost < 1.1 * 300 * 41  # 40 steps and a check each, plus idle slots at the end
    assert 30 < a["argmax"].success.sum() <= a["budget"].success.sum() < 300
    assert 0 < a["conf"].success.sum() < a["argmax"].success.sum()
    assert len(set(a["conf"].steps.tolist())) > 10  # rules resolve at many steps, chunks of 3 steps
    for rule in rules:
        got = a[rule.name]
        assert got.settings == dict(opts, stop=rule.kind, kappa=rule.kappa, clip=[0.0, 1.0])
        for i in range(300):
            xf, steps, ok, conf, pred = _one_at_a_time(backend.w, x[i], targets[i], 0.05, 40, rule.kind,
                                                       rule.kappa or 0.0)
            np.testing.assert_array_equal(got.x_final[i], xf)
            assert (got.steps[i], got.success[i], got.confidence[i], got.predicted[i]) == (steps, ok, conf, pred)
    # Without the budget rule an example stops once its last rule resolves; batches shrink as work runs out.
    b = eng.evolve_observing(x, targets, rules=rules[1:], batch_size=200, chunk_steps=50, **opts)
    assert backend.compiled[1:] == [(("argmax", "confidence"), 256), (("argmax", "confidence"), 64)]
    for name in ("conf", "argmax"):
        assert_same(a[name], b[name])


# ---------------------------------------------------------------- TensorFlow, real small models


@pytest.fixture(scope="module")
def trained():
    """mlp_shallow_sigmoid and cnn_relu after 3 epochs on 600 synthetic images (a few seconds)."""
    splits, info = SyntheticData(n_train=600, n_test=200).load("mnist")
    config = TrainConfig("brief_test", learning_rate=3e-3, batch_size=32, epochs=3)
    return {name: train_model(name, "mnist", config, 0, splits, data_info=info, verbose=0)[0]
            for name in ("mlp_shallow_sigmoid", "cnn_relu")}


# (model, n, options, kappa): argmax resolves early, confidence later for some, never for others.
CASES = {
    "mlp_shallow_sigmoid": (300, dict(loss="mse", lr=100.0, max_steps=150), 0.3),
    "cnn_relu": (160, dict(loss="crossentropy", lr=0.01, max_steps=40), 0.9),
}


@pytest.mark.parametrize("name", CASES)
def test_every_rule_of_one_pass_is_bit_identical_to_evolve_with_that_rule(trained, name):
    model = trained[name]
    n, opts, kappa = CASES[name]
    x = make_starts("uniform", n, seed=1)
    targets = np.arange(n) % 10
    argmax = evolve(model, x, targets, **opts)
    conf = evolve(model, x, targets, stop="confidence", kappa=kappa, **opts)
    # A threshold no example reaches within the budget runs every example max_steps steps.
    never = evolve(model, x, targets, stop="confidence", kappa=0.999999, **opts)
    rules = [StopRule.argmax(), StopRule.confidence(kappa, "conf"), StopRule.budget()]
    for alone, reference in ((rules[0], argmax), (rules[1], conf)):
        one = evolve_observing(model, x, targets, rules=[alone], **opts)[alone.name]
        assert_same(one, reference)
        assert one.settings == reference.settings and one.cost == reference.cost
    every = evolve_observing(model, x, targets, rules=rules, **opts)
    assert_same(every["argmax"], argmax)
    assert_same(every["conf"], conf)
    assert every["argmax"].settings == argmax.settings and every["conf"].settings == conf.settings
    reached = never.success
    assert reached.sum() <= 0.1 * n
    budget = every["budget"]
    for field in ("x_final", "steps", "confidence", "predicted"):
        np.testing.assert_array_equal(getattr(budget, field)[~reached], getattr(never, field)[~reached])
    np.testing.assert_array_equal(budget.success, budget.predicted == targets)
    assert np.all(budget.steps == opts["max_steps"])
    # The rules really differ on these examples: early argmax stops, later confidence, some failing.
    assert np.any(conf.steps > argmax.steps) and 0 < conf.success.sum() < n
    moved_on = np.any((budget.x_final != argmax.x_final).reshape(n, -1), axis=1)
    assert moved_on.mean() > 0.5 and np.any(budget.confidence != argmax.confidence)
    # One pass costs what its last rule costs alone: examples run as long as the budget, no longer.
    assert every["argmax"].cost == every["budget"].cost == never.cost
    two = evolve_observing(model, x, targets, rules=rules[:2], **opts)
    assert two["argmax"].cost == conf.cost
    assert_same(two["argmax"], argmax)
    assert_same(two["conf"], conf)


def test_many_rules_resolving_in_one_step_are_all_kept(trained):
    """Every start is already labelled as its target: argmax resolves on all slots at step 0."""
    model = trained["mlp_shallow_sigmoid"]
    n, opts, kappa = CASES["mlp_shallow_sigmoid"]
    x = make_starts("uniform", n, seed=3)
    targets = model.predict(x.reshape(n, -1), verbose=0).argmax(1)
    rules = [StopRule.argmax(), StopRule.confidence(kappa, "conf"), StopRule.budget()]
    lines = []
    every = evolve_observing(model, x, targets, rules=rules, batch_size=64,
                             progress=lambda done, total, detail: lines.append((done, total, detail)), **opts)
    assert lines[-1][:2] == (n, n) and lines[-1][2].startswith(f"examples, {n} argmax, ")
    assert np.all(every["argmax"].steps == 0) and every["argmax"].success.all()
    np.testing.assert_array_equal(every["argmax"].x_final, x)
    assert_same(every["argmax"], evolve(model, x, targets, **opts))
    assert_same(every["conf"], evolve(model, x, targets, stop="confidence", kappa=kappa, **opts))
    assert np.mean(every["conf"].steps > 0) > 0.5


def test_observed_results_do_not_depend_on_batch_size(trained):
    model = trained["mlp_shallow_sigmoid"]
    n, opts, kappa = CASES["mlp_shallow_sigmoid"]
    x = make_starts("uniform", n, seed=2)
    targets = np.arange(n) % 10
    rules = [StopRule.argmax(), StopRule.confidence(kappa, "conf"), StopRule.budget()]
    runs = [evolve_observing(model, x, targets, rules=rules, batch_size=size, chunk_steps=chunk, **opts)
            for size, chunk in ((64, 7), (200, 13), (2048, 128))]
    for other in runs[1:]:
        for rule in rules:
            assert_same(runs[0][rule.name], other[rule.name])
    without_budget = [evolve_observing(model, x, targets, rules=rules[:2], batch_size=size, chunk_steps=chunk,
                                       **opts) for size, chunk in ((64, 5), (2048, 128))]
    for rule in rules[:2]:
        assert_same(without_budget[0][rule.name], without_budget[1][rule.name])
        assert_same(without_budget[0][rule.name], runs[0][rule.name])


def test_argument_errors_of_evolve_observing(trained):
    model = trained["mlp_shallow_sigmoid"]
    x = make_starts("uniform", 4, seed=0)
    with pytest.raises(ValueError, match="names must be unique"):
        evolve_observing(model, x, 1, rules=[StopRule.argmax(), StopRule.argmax()])
    with pytest.raises(ValueError, match="lr must be positive"):
        evolve_observing(model, x, 1, rules=[StopRule.argmax()], lr=0.0)
    with pytest.raises(TypeError):
        evolve_observing(model, x, 1, rules=[StopRule.argmax()], stop="argmax")
