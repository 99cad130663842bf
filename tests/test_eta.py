"""The stages' time-left estimate: stages weighted by their expected cost, not counted."""

import io

import pytest

from tfadv.execution.eta import StageEta
from tfadv.execution.graph import Stage
from tfadv.keys import ModelKey
from tfadv.progress import ProgressLine


def _graph(models=3, attacks_per_model=20):
    """A paper-scale shape: slow train stages first, then many quick attacks of each model."""
    keys = [ModelKey("mlp_shallow_sigmoid", "mnist", "long", n) for n in range(models)]
    trains = [Stage(f"train:{n}", "train", "eyes", k) for n, k in enumerate(keys)]
    attacks = [Stage(f"attack:{n}:{i}", "attack", "eyes", k, (f"train:{n}",))
               for n, k in enumerate(keys) for i in range(attacks_per_model)]
    return trains + attacks


def test_attacks_not_yet_timed_make_the_estimate_a_lower_bound():
    """After 2 of 3 trains (100 s each), the count rate would say 58 stages x 100 s; the estimate says
    ">= 100 s" (the last train) until an attack is timed, then adds the attacks at their own cost."""
    stages = _graph()
    eta = StageEta(stages)
    assert eta() is None  # nothing timed
    for n in range(2):
        eta.finished(f"train:{n}", {"s": 100.0, "ran": True})
    assert eta() == (100.0, False)
    eta.finished("train:2", {"s": 100.0, "ran": True})
    eta.finished("attack:0:0", {"s": 2.0, "ran": True})
    assert eta() == (pytest.approx(59 * 2.0), True)


def test_stages_that_ran_in_an_earlier_run_count_as_cached():
    stages = _graph(models=2, attacks_per_model=2)
    recorded = {"train:0": 50.0, "attack:0:0": 3.0, "attack:0:1": 5.0}  # model 0 done in an earlier run
    eta = StageEta(stages, recorded, cached=set(recorded))
    # Model 0's stages cost nothing now; model 1's train and attacks cost what their alike stages did.
    assert eta() == (pytest.approx(50.0 + 2 * 4.0), True)
    forced = StageEta(stages, recorded, cached=set())  # --force: everything runs again
    assert forced() == (pytest.approx(2 * 50.0 + 4 * 4.0), True)


def test_a_cached_stage_finishing_says_nothing_of_its_cost():
    stages = _graph(models=1, attacks_per_model=3)
    eta = StageEta(stages)
    eta.finished("train:0", {"s": 0.01, "ran": False})
    assert eta() is None


def test_several_workers_share_the_unfinished_stages():
    stages = _graph(models=2, attacks_per_model=4)
    times = {s.id: (10.0 if s.kind == "train" else 1.0) for s in stages}
    one, two = StageEta(stages, times), StageEta(stages, times, workers=2)
    assert one() == (28.0, True)
    assert two() == (14.0, True)  # train 10 + 4 attacks on each worker


def test_the_progress_line_shows_the_stage_estimate():
    stream = io.StringIO()
    found = [(5400.0, False)]
    line = ProgressLine("stages", stream, log_interval=0.0, log_max_interval=0.0, log_delay=0.0,
                       clock=lambda: 0.0, estimate=lambda: found[0])
    line(2, 853, "train:x")
    found[0] = (4000.0, True)
    line(3, 853, "train:y")
    found[0] = None
    line(4, 853, "train:z")
    lines = stream.getvalue().splitlines()
    assert lines[0].endswith("[0s, >=1h30m left]")
    assert lines[1].endswith("[0s, ~1h06m left]")
    assert lines[2].endswith("[0s]")


def test_shipped_reference_times_stand_in_scaled_by_this_machines_speed():
    """Nothing timed here yet: the shipped times; once a stage is timed at twice its shipped time, the
    stages left are taken to cost twice theirs too."""
    stages = _graph(models=1, attacks_per_model=3)
    shipped = {"train:0": 100.0, **{f"attack:0:{i}": 10.0 for i in range(3)}}
    eta = StageEta(stages, reference=shipped)
    assert eta() == (pytest.approx(130.0), True)
    prior = 0.1 * 130.0  # each sum starts at a tenth of the shipped work (reference_times.speed)
    eta.finished("train:0", {"s": 200.0, "ran": True})
    assert eta() == (pytest.approx(3 * 10.0 * (200 + prior) / (100 + prior)), True)
    eta.finished("attack:0:0", {"s": 10.0, "ran": True})  # now 210 s against 110 s shipped
    assert eta() == (pytest.approx(2 * 10.0 * (210 + prior) / (110 + prior)), True)
