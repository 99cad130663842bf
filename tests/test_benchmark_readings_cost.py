"""``benchmarks/readings_cost.py``: which stages the readings add, and their share of a run's work."""

import importlib.util
import re
from pathlib import Path

import pytest

from tfadv.config import get_preset
from tfadv.execution import graph
from tfadv.registry import PAPERS

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("readings_cost", REPO / "benchmarks" / "readings_cost.py")
readings_cost = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(readings_cost)


def test_every_stage_is_the_protocols_the_readings_or_shared_between_them():
    preset = get_preset("tiny")
    stages = graph.build(list(PAPERS), preset)
    protocol = graph.build([readings_cost.without_readings(p) for p in PAPERS], preset)
    kinds = readings_cost.classify(stages, protocol)
    assert set(kinds) == {s.id for s in stages} and set(kinds.values()) == {"protocol", "shared", "readings"}
    by_id = {s.id: s for s in stages}
    # Every stage of the protocol is in the full graph, as itself or as a family that also runs readings' rules.
    strip = lambda sid: re.sub(r"__[0-9a-f]{12}$", "", sid)
    covered = {sid for sid, k in kinds.items() if k == "protocol"} | {strip(sid) for sid, k in kinds.items()
                                                                      if k == "shared"}
    assert all(s.id in covered or strip(s.id) in covered for s in protocol)
    # The classic nets exist for the readings only; paper A's main searches of the protocol's nets carry the
    # stop-rule readings; a paper B evolution is either the protocol's or a reading's, never shared.
    assert all(kinds[s.id] == "readings" for s in stages if s.model.config.startswith("classic"))
    main = [s for s in stages if s.kind == "attack" and s.paper == "eyes" and "__main__" in s.id
            and not s.model.config.startswith("classic") and not s.model.model.endswith("_relu")]
    assert main and all(kinds[s.id] == "shared" for s in main)
    assert not [sid for sid, k in kinds.items() if k == "shared" and by_id[sid].paper == "dough"]
    assert len(protocol) < len(stages)


def test_the_readings_share_counts_their_own_stages_and_their_part_of_shared_ones():
    kinds = {"a": "protocol", "b": "shared", "e": "shared", "c": "readings", "d": "readings"}
    cost = {"a": 10.0, "b": 4.0, "e": 2.0, "c": 3.0, "d": 1.0}
    out = readings_cost.share(kinds, cost, times={"a": 10.0, "c": 3.0}, extra={"b": 0.25, "e": 0.5})
    assert out["readings"] == {"stages": 2, "recorded": 1, "work_s": 4.0}
    assert out["readings_added_s"] == 4.0 + 1.0 + 1.0 and out["protocol_alone_s"] == 10.0 + 3.0 + 1.0
    assert out["readings_added_fraction"] == pytest.approx(6 / 14)
    assert "readings_added_s" not in readings_cost.share(kinds, cost, {}, extra=None)


def test_each_net_takes_the_extra_cost_measured_on_its_own_families():
    """A trained net's quick searches and an untrained control's hopeless ones pay for the readings' rules
    differently; a net without a sampled family takes the whole sample's fraction."""
    pairs = [{"net": "shallow/long", "protocol": 20.0, "with readings": 40.0},
             {"net": "shallow/long", "protocol": 10.0, "with readings": 20.0},
             {"net": "shallow/untrained", "protocol": 1.0, "with readings": 100.0}]
    extra = readings_cost.per_stage_extra(pairs, {"s1": "shallow/long", "u1": "shallow/untrained",
                                                  "d1": "deep/long_cosine"})
    assert extra["s1"] == pytest.approx(0.5) and extra["u1"] == pytest.approx(0.99)
    assert extra["d1"] == pytest.approx(1 - 31.0 / 160.0)
    assert readings_cost.per_stage_extra([], {"s1": "shallow/long"}) == {"s1": 0.0}
