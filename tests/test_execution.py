"""The stage graph and its executors: Ray gives the serial run's claims, survives a killed worker; --dry_run.

One local Ray (2 workers) is started for the module. A cut-down tiny preset
(synthetic data; no readings, no ReLU nets or sensitivity variants, paper B
on MNIST only: 114 stages of seconds) keeps the module short; the serial
reference is the plain ``Pipeline`` (today's path), and the Ray run must
write the same ``claims.json``, byte for byte.
"""

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tfadv.config import get_preset
from tfadv.context import RunContext
from tfadv.execution import driver, graph, journal, predict, reference_times
from tfadv.execution.ray_executor import RayMissingError, check_installed
from tfadv.keys import ModelKey
from tfadv.pipeline import Pipeline
from tfadv.progress import format_seconds
from tfadv.registry import PAPERS
from tfadv.sources import SyntheticData

_tiny = get_preset("tiny")
TINY = dataclasses.replace(
    _tiny, name="tiny", eyes=dataclasses.replace(_tiny.eyes, readings=False, sensitivity=False, relu_nets=()),
    dough=dataclasses.replace(_tiny.dough, readings=False, datasets=("mnist",)))
IDS = [p.id for p in PAPERS]


def _context(out):
    return RunContext(out, TINY, SyntheticData(), progress=False)


def _claims(ctx) -> str:
    Pipeline(ctx).write_claims(IDS)
    return (Path(ctx.output_dir) / "claims.json").read_text()


def _ray_run(out, started):
    ctx, record = driver.execute(_context(out), list(PAPERS), "ray", started=started)
    return _claims(ctx), record


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray")
    begin = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    print(f"local Ray start-up: {time.perf_counter() - begin:.1f} s")
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def serial_claims(tmp_path_factory):
    begin = time.perf_counter()
    claims = _claims(_context(tmp_path_factory.mktemp("serial")))
    print(f"tiny run, plain pipeline: {time.perf_counter() - begin:.1f} s")
    return claims


@pytest.fixture(scope="module")
def ray_run(ray_local, tmp_path_factory):
    out = tmp_path_factory.mktemp("ray")
    begin = time.perf_counter()
    claims, record = _ray_run(out, "first")
    print(f"tiny run on Ray (2 workers, Ray already up): {time.perf_counter() - begin:.1f} s")
    return out, claims, record


def test_ray_gives_the_serial_claims(serial_claims, ray_run):
    out, claims, record = ray_run
    assert claims == serial_claims
    stages = graph.build(list(PAPERS), TINY)
    assert list(record["stages"]) == [s.id for s in stages]
    workers = {r["worker"] for r in record["stages"].values()}
    assert len(workers) == 2 and os.getpid() not in {int(w.rsplit(":", 1)[1]) for w in workers}
    assert all(r["ran"] for r in record["stages"].values())  # a fresh folder: every stage computed
    first = [r for r in journal.runs(out, "tiny") if r["run"] == "first"]
    assert first and first[0]["stages"] == record["stages"]  # each stage journalled as it finished


def test_a_second_ray_run_reuses_every_file(ray_run):
    out, claims, _ = ray_run
    files = {p: p.stat().st_mtime_ns for p in Path(out).glob("[ma]*/**/*") if p.is_file()}
    again, record = _ray_run(out, "second")
    assert again == claims and not any(r["ran"] for r in record["stages"].values())
    assert {p: p.stat().st_mtime_ns for p in Path(out).glob("[ma]*/**/*") if p.is_file()} == files


def _busy_workers():
    """Ray worker processes of this test (descendants of this process) running an attack stage."""
    import psutil

    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if child.cmdline() and child.cmdline()[0].startswith("ray::attack:"):
                found.append(child)
        except psutil.Error:
            continue
    return found


def test_killing_a_worker_mid_run_loses_nothing(serial_claims, ray_local, ray_run, tmp_path):
    # The run starts late (the first Ray run's models, paper A's attacks and every other of paper B's
    # copied in), so the test stays short: the kill lands among paper B's remaining attack stages.
    first = ray_run[0]
    shutil.copy(first / "tfadv_output.json", tmp_path)
    shutil.copytree(first / "models", tmp_path / "models")
    shutil.copytree(first / "attacks" / "eyes", tmp_path / "attacks" / "eyes")
    units = sorted({p.stem for p in (first / "attacks" / "dough").iterdir()})
    for path in (first / "attacks" / "dough").iterdir():
        if units.index(path.stem) % 2:
            (tmp_path / "attacks" / "dough").mkdir(exist_ok=True)
            shutil.copy(path, tmp_path / "attacks" / "dough")
    copied = len(list((tmp_path / "attacks").glob("*/*.npz")))
    killed = []

    def kill_one():
        deadline = time.monotonic() + 600
        while not killed and time.monotonic() < deadline:
            busy = _busy_workers()
            if busy:
                killed.append((busy[0].pid, busy[0].cmdline()[0]))
                os.kill(busy[0].pid, signal.SIGKILL)
            time.sleep(0.05)

    killer = threading.Thread(target=kill_one, daemon=True)
    killer.start()
    try:
        claims, record = _ray_run(tmp_path, "killed")
    except Exception:  # the acceptance allows a rerun to finish what a failed run left
        claims, record = _ray_run(tmp_path, "rerun")
    killer.join(timeout=1)
    assert killed, "no attack stage was seen running on a worker"
    print(f"killed {killed[0]}")
    assert claims == serial_claims
    assert len(record["stages"]) == len(graph.build(list(PAPERS), TINY))
    assert len(list((tmp_path / "attacks").glob("*/*.npz"))) > copied  # the run attacked what was missing


def test_dry_run_prints_the_graph_and_predictions(ray_run, capsys):
    out, _, record = ray_run
    stages = graph.build(list(PAPERS), TINY)
    (out / "manifest.json").write_text(json.dumps({"runs": [dict(record, preset="tiny", driver_s=5.0)]}))
    lines = driver.dry_run(list(PAPERS), TINY, out)
    text = "\n".join(lines)
    trains = len([s for s in stages if s.kind == "train"])
    assert f"{len(stages)} stages:" in text and f"train: {trains} models" in text
    for p in PAPERS:
        n = len([s for s in stages if s.kind == "attack" and s.paper == p.id])
        assert f"attack {p.id}: {n} units" in text
    assert f"{len(stages)} recorded" in text and "0 estimated" in text
    rows = [line.split() for line in lines if line.strip().split(" ")[0] in {"1", "2", "8", "32", "128"}]
    assert [r[0] for r in rows] == ["1", "2", "8", "32", "128"]
    assert "as fast as the runs that recorded it (ray, 2 workers)" in text
    assert not (out / "summaries" / "x").exists()


def test_dry_run_names_the_executors_and_workers_that_recorded_the_times():
    serial = {"executor": "serial", "stages": {"a": {"s": 1.0, "ran": True, "worker": "h:1"}}}
    ray = {"executor": "ray", "stages": {"a": {"s": 2.0, "ran": True, "worker": "h:7"},
                                         "b": {"s": 2.0, "ran": True, "worker": "h:8"}}}
    cached = {"executor": "serial", "stages": {"a": {"s": 0.1, "ran": False, "worker": "h:9"}}}
    assert driver.recorders([serial, ray, cached, serial]) == "serial, 1 worker; ray, 2 workers"
    assert driver.recorders([cached]) == "model files only"
    assert driver.recorders([dict(serial, executor=None)]) == "unknown executor, 1 worker"


def test_dry_run_without_records_says_so(tmp_path):
    text = "\n".join(driver.dry_run(list(PAPERS), TINY, tmp_path))
    assert "No prediction" in text and not any(tmp_path.iterdir())  # ran nothing, wrote nothing
    assert "none shipped with tfadv for preset tiny" in text  # the package ships times for quick and paper only


def test_an_interrupted_runs_stage_times_reach_the_dry_run(tmp_path):
    stages = graph.build(list(PAPERS), TINY)
    log = journal.Journal(tmp_path, run="2026-12-04T00:00:00+00:00", preset="tiny", executor="serial")
    for n, s in enumerate(stages):
        log.append(s.id, {"s": 1.0 + n % 3, "worker": "host:1", "ran": True})
    journal.Journal(tmp_path, run="x", preset="quick", executor="serial").append(stages[0].id, {"s": 99.0, "ran": True})
    with open(tmp_path / journal.NAME, "a") as f:
        f.write('{"run": "2026-12-04T00:00:00+00:00", "preset": "tiny", "stage": "train:cut')  # killed mid-line
    first_line = json.loads((tmp_path / journal.NAME).read_text().splitlines()[0])
    assert first_line["ended"].endswith("+00:00") and first_line["load1"] >= 0  # when, and how busy the machine was
    runs = journal.runs(tmp_path, "tiny")
    assert len(runs) == 1 and len(runs[0]["stages"]) == len(stages) and runs[0]["executor"] == "serial"
    assert runs[0]["stages"][stages[0].id] == {"s": 1.0, "worker": "host:1", "ran": True}  # not the quick run's
    text = "\n".join(driver.dry_run(list(PAPERS), TINY, tmp_path))  # no manifest: the run never finished
    assert f"{len(stages)} recorded" in text and journal.NAME in text and "No prediction" not in text
    work = sum(1.0 + n % 3 for n in range(len(stages)))
    assert f"  {1:>7}  {format_seconds(work):>9}" in text  # one worker: the sum of the journalled times
    assert f"Already made in {tmp_path}: {len(stages)} of {len(stages)} stages; the work left there 0s." in text
    assert "as fast as the runs that recorded it (serial, 1 worker)" in text


def test_a_fresh_folder_is_predicted_from_the_shipped_reference_times(tmp_path, monkeypatch):
    """No stage timed here: the shipped times as recorded; with stages timed here at twice their shipped
    time, the others are predicted at twice theirs."""
    stages = graph.build(list(PAPERS), TINY)
    shipped = tmp_path / "shipped.json"
    monkeypatch.setattr(reference_times, "PATH", shipped)
    times = {s.id: 1.0 + n % 3 for n, s in enumerate(stages)}
    reference_times.write("tiny", reference_times.record(times, 10.0, "2 CPU cores", "a test"), shipped)
    out = tmp_path / "out"
    text = "\n".join(driver.dry_run(list(PAPERS), TINY, out))
    assert "0 recorded here" in text and f"{len(stages)} from the reference run shipped with tfadv (2 CPU cores), " \
        "as recorded" in text and "No prediction" not in text
    assert f"  {1:>7}  {format_seconds(sum(times.values()) + 10.0):>9}" in text  # work + the shipped driver
    assert "the shipped reference run: serial, 1 worker" in text and not out.exists()  # wrote nothing
    first = stages[0].id
    log = journal.Journal(out, run="2026-12-04T00:00:00+00:00", preset="tiny", executor="serial")
    log.append(first, {"s": 2 * times[first], "worker": "host:1", "ran": True})
    text = "\n".join(driver.dry_run(list(PAPERS), TINY, out))
    prior = 0.1 * sum(times.values())  # each sum starts at a tenth of the shipped work (reference_times.speed)
    factor = (2 * times[first] + prior) / (times[first] + prior)
    assert "1 recorded here" in text
    assert f"scaled by {factor:.2f} (this machine's time over theirs on 1 stage timed in both, each sum " \
        f"starting at {format_seconds(prior)}" in text
    assert f"  {1:>7}  {format_seconds(factor * (sum(times.values()) + 10.0) + (2 - factor) * times[first]):>9}" \
        in text  # the stage timed here at its own time, the rest and the driver scaled
    assert f"the work left there {format_seconds(factor * (sum(times.values()) - times[first]))}" in text


def _key(n):
    return ModelKey("mlp_shallow_relu", "mnist", "brief", n)


def test_list_scheduling_and_its_bounds():
    trains = [graph.Stage(f"train:{n}", "train", "eyes", _key(n)) for n in range(2)]
    attacks = [graph.Stage(f"attack:{n}", "attack", "eyes", _key(n % 2), (f"train:{n % 2}",)) for n in range(6)]
    stages = trains + attacks
    cost = {"train:0": 10.0, "train:1": 1.0, **{f"attack:{n}": 2.0 for n in range(6)}}
    assert predict.schedule(stages, cost, 1) == sum(cost.values()) == 23
    assert predict.schedule(stages, cost, 100) == 12  # the critical path: train:0 then an attack of it
    assert max(predict.critical_path(stages, cost).values()) == 12
    assert predict.schedule(stages, cost, 2) >= max(12, 23 / 2)
    times = {"train:0": 10.0, "attack:0": 2.0}  # the rest estimated from alike stages
    est, n = predict.estimate(stages, times)
    assert n == 6 and est["train:1"] == 10.0 and est["attack:5"] == 2.0


def test_resuming_a_folder_costs_only_the_stages_it_has_not_made():
    trains = [graph.Stage(f"train:{n}", "train", "eyes", _key(n)) for n in range(2)]
    attacks = [graph.Stage(f"attack:{n}", "attack", "eyes", _key(n % 2), (f"train:{n % 2}",)) for n in range(6)]
    times = {"train:0": 10.0, "train:1": 1.0, **{f"attack:{n}": 2.0 for n in range(6)}}
    manifest = {"runs": [{"stages": {sid: {"s": t, "ran": True} for sid, t in times.items()}, "driver_s": 5.0}]}
    p = predict.predictions(trains + attacks, manifest, workers=(1, 100), done={"train:0", "attack:0", "attack:2"})
    assert p["left_work_s"] == 1.0 + 4 * 2.0
    # (workers, whole run, its lower bound, resuming); each + the driver's 5 s
    assert p["rows"] == [(1, 23 + 5, 23 + 5, 9 + 5), (100, 12 + 5, 12 + 5, 3 + 5)]


def test_an_untrained_control_is_estimated_by_other_controls_not_by_its_trained_architecture():
    """Hand-made times; the configurations' steps come from tfadv.config."""
    key = lambda arch, config: ModelKey(arch, "mnist", config, 0)
    stages = [graph.Stage(f"train:{a}:{c}", "train", "dough", key(a, c))
              for a, c in [("cnn_relu", "default"), ("mlp_deep_relu", "untrained"), ("cnn_relu", "untrained"),
                           ("cnn_relu", "short")]]
    est, n = predict.estimate(stages, {"train:cnn_relu:default": 300.0, "train:mlp_deep_relu:untrained": 0.2})
    assert n == 2 and est["train:cnn_relu:untrained"] == 0.2
    # `short` is 1 epoch of `default`'s 5 (both in batches of 128): a fifth of its time, not all of it.
    assert est["train:cnn_relu:short"] == pytest.approx(300.0 / 5)


def test_a_training_estimated_from_another_configuration_scales_with_its_optimizer_steps():
    key = lambda config: ModelKey("mlp_shallow_sigmoid", "mnist", config, 0)
    stages = [graph.Stage(f"train:{c}", "train", "eyes", key(c)) for c in ("long", "classic")]
    est, _ = predict.estimate(stages, {"train:long": 60.0})
    # long: 20 epochs of 1875 batches of 32; classic: 30 epochs of 6000 batches of 10 (4.8x the steps).
    assert est["train:classic"] == pytest.approx(60.0 * (30 * 6000) / (20 * 1875))


def test_the_serial_order_attacks_each_model_right_after_training_it():
    trains = [graph.Stage(f"train:{n}", "train", "eyes", _key(n)) for n in range(2)]
    attacks = [graph.Stage(f"attack:{n}", "attack", "eyes", _key(n % 2), (f"train:{n % 2}",)) for n in range(4)]
    order = [s.id for s in graph.model_by_model(trains + attacks)]
    assert order == ["train:0", "attack:0", "attack:2", "train:1", "attack:1", "attack:3"]
    assert sorted(order) == sorted(s.id for s in trains + attacks)


def test_without_ray_the_executor_says_how_to_install_it(monkeypatch, tmp_path):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a))
    with pytest.raises(RayMissingError, match=r"pip install '\.\[ray\]'"):
        check_installed()
    code = ("import sys; sys.modules['ray'] = None; from tfadv.reproduce import main; sys.argv = ['reproduce', "
            f"'--executor=ray', '--preset=tiny', '--synthetic_data', '--output_dir={tmp_path}']; main()")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        "tfadv.reproduce: error: --executor=ray needs Ray, which is not installed; install it with pip install '.[ray]' "
        "(from a tfadv checkout), or use --executor=serial (see --help)"]
