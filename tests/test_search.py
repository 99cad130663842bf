"""Paper A's search (PROTOCOL.md section 3): the stream, the n-th success, the cap, the file."""

import keras
import numpy as np

from tfadv.engine import evolve, make_starts
from tfadv.papers.eyes.search import SearchResult, evolve_until


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
