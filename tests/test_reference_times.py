"""The stage times shipped with tfadv: scaling to this machine, the file's round trip, and its coverage."""

import pytest

from tfadv import registry
from tfadv.config import get_preset
from tfadv.execution import graph, reference_times


def test_speed_is_this_machines_time_over_the_references_on_the_stages_both_timed():
    reference = {"a": 10.0, "b": 30.0, "c": 5.0}
    assert reference_times.speed(reference, {}) == (1.0, 0)
    assert reference_times.speed(reference, {"a": 20.0, "b": 60.0, "z": 7.0}, prior_s=0) == (pytest.approx(2.0), 2)
    prior = reference_times.prior_seconds(reference)
    assert prior == pytest.approx(4.5)  # a tenth of the shipped work
    assert reference_times.speed(reference, {"a": 20.0, "b": 60.0}) == (pytest.approx((80 + 4.5) / (40 + 4.5)), 2)
    assert reference_times.calibrated(reference, {"a": 15.0}) == {
        "a": 15.0, "b": pytest.approx(30.0 * (15 + 4.5) / (10 + 4.5)), "c": pytest.approx(5.0 * (15 + 4.5) / (10 + 4.5))}


def test_a_few_stages_do_not_rescale_a_long_run_but_an_hour_of_them_does():
    """A paper-scale run's first training took 11 s where 49 s were shipped: alone it would put the whole
    run at a quarter of its time. The sums start at 10 minutes, so it moves the factor by a few percent;
    an hour of shipped work timed at half its time brings the factor near 0.5."""
    reference = {"train": 48.6, **{f"attack:{i}": 60.0 for i in range(280)}}  # 4 h 41 min of shipped work
    assert reference_times.prior_seconds(reference) == reference_times.PRIOR_S == 600.0
    factor, _ = reference_times.speed(reference, {"train": 11.0})
    assert factor == pytest.approx((11 + 600) / (48.6 + 600)) and factor > 0.9
    factor, _ = reference_times.speed(reference, {f"attack:{i}": 30.0 for i in range(60)})
    assert factor == pytest.approx((1800 + 600) / (3600 + 600)) and 0.5 < factor < 0.6


def test_an_entry_is_written_and_read_back_and_other_presets_are_kept(tmp_path):
    path = tmp_path / "reference_times.json"
    assert reference_times.load("paper", path)["stages"] == {}  # nothing shipped: no times
    reference_times.write("quick", reference_times.record({"x": 1.0}, None, "m", "s"), path)
    entry = reference_times.record({"b": 2.04, "a": 1.26}, 61.23, "2 CPU cores", "paper/reference")
    reference_times.write("paper", entry, path)
    loaded = reference_times.load("paper", path)
    assert loaded == {"machine": "2 CPU cores", "source": "paper/reference", "driver_s": 61.2,
                      "stages": {"a": 1.3, "b": 2.0}}
    assert list(loaded["stages"]) == ["a", "b"]
    assert reference_times.load("quick", path)["stages"] == {"x": 1.0}


@pytest.mark.parametrize("preset", ["quick", "paper"])
def test_the_shipped_times_cover_every_stage_of_the_preset(preset):
    """A stage whose settings changed has a new id and no shipped time: regenerate the file from a finished
    run (benchmarks/stage_times.py --write_reference) when this fails."""
    shipped = reference_times.load(preset)
    stages = graph.build(list(registry.PAPERS), get_preset(preset))
    missing = [s.id for s in stages if s.id not in shipped["stages"]]
    assert not missing, f"{len(missing)} of {len(stages)} stages have no shipped time, e.g. {missing[:3]}"
    assert shipped["driver_s"] and shipped["machine"]
