"""The stage times shipped with tfadv: scaling to this machine, the file's round trip, and its coverage."""

import pytest

from tfadv import registry
from tfadv.config import get_preset
from tfadv.execution import graph, reference_times


def test_speed_is_this_machines_time_over_the_references_on_the_stages_both_timed():
    reference = {"a": 10.0, "b": 30.0, "c": 5.0}
    assert reference_times.speed(reference, {}) == (1.0, 0)
    assert reference_times.speed(reference, {"a": 20.0, "b": 60.0, "z": 7.0}) == (pytest.approx(2.0), 2)
    assert reference_times.calibrated(reference, {"a": 15.0}) == {"a": 15.0, "b": pytest.approx(45.0),
                                                                   "c": pytest.approx(7.5)}


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
