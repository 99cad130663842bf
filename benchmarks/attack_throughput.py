"""Throughput of ``tfadv.engine.evolve`` on every installed Keras backend, and on TensorFlow against an
eager loop, tf-keras-vis and the FLOP roofline.

Command (from the repository root, in the benchmark venv of benchmarks/README.md)::

    export TFADV_DATA_DIR=<dir with mnist/>
    .benchvenv/bin/python benchmarks/attack_throughput.py --output_dir=results --steps=100

Runtime: about 5 minutes on 2 CPU cores with the defaults for TensorFlow (not
yet measured with the other backends' ``evolve`` runs added), plus about 2.5
minutes of training for any of the three models not yet in
``<output_dir>/models`` (``tfadv.modelbank.ensure_model`` reuses them).

Keras picks its backend once per process, so this process measures nothing
itself: for each backend of ``--backends`` (default: every installed one) it
runs this script again as a child process (``--child_backend=<name>
--backend=<name>``, the same measurement flags), TensorFlow first, which
trains any missing model; the others load the same HDF5 files. Each child
writes its figures as JSON to a temporary file that this process reads.

Prints, per model, example-steps per second (one gradient step of one example)
of ``evolve`` (median of ``--repeats`` runs, compile excluded) on TensorFlow,
of a per-example eager loop (``--eager_examples`` x ``--eager_steps``), of
tf-keras-vis ``ActivationMaximization`` (SGD, MSE score, no regularizers or
input modifiers), and of the FLOP roofline (FLOPs per example-step against the
measured float32 matmul rate); the ratios between them with PASS/MISS against
the issue's targets; and the wall time of ``evolve`` when half the examples
meet their stop rule at once, against all running the full budget. Then the
``evolve`` rate per backend side by side, with each backend's ratio to
TensorFlow (PASS/MISS against the issue's 0.8). Every backend computes in full
float32 unless ``--precision=tf32`` (GPUs only). The same figures go to
``<output_dir>/benchmarks/attack_throughput.json``.
"""

import importlib.util
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from absl import app, flags

from tfadv import artifacts
from tfadv.backends import (BACKENDS, BackendError, check_installed, framework_versions, installed_backends,
                            set_precision)
from tfadv.flags import before_frameworks_load, define_precision_flag
from tfadv.flags import run as run_entry_point
from tfadv.keys import ModelKey

PROGRAM = "attack_throughput.py"
# The environment as started, for the children: before_frameworks_load sets this process's backend switches.
START_ENV = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
# tf-keras-vis passes a one-element list to a one-input Keras 3 model; harmless.
warnings.filterwarnings("ignore", message="The structure of `inputs` doesn't match")

CONFIGS = {"mlp_shallow_sigmoid": "long", "mlp_deep_sigmoid": "long_cosine", "cnn_relu": "default"}
LABELS = {"mlp_shallow_sigmoid": "MLP-a", "mlp_deep_sigmoid": "MLP-b", "cnn_relu": "CNN"}
# (metric, model) -> minimum, from the issue; reported, never tuned for.
TARGETS = {("engine/eager", "mlp_shallow_sigmoid"): 1000, ("engine/eager", "mlp_deep_sigmoid"): 1000,
           ("engine/tf-keras-vis", "mlp_shallow_sigmoid"): 3, ("engine/tf-keras-vis", "cnn_relu"): 1.5,
           ("fraction of roofline", "mlp_deep_sigmoid"): 0.5}
BACKEND_TARGET = 0.8  # every other backend's evolve rate / TensorFlow's, per model (the issue's; reported only)
LR = 1e-3  # tiny, so no example meets its stop rule and every one runs the full budget
KAPPA = 0.9999999

flags.DEFINE_string("output_dir", "results", "Folder of the cached models; the JSON goes to <it>/benchmarks.")
flags.register_validator("output_dir", lambda v: bool(v and v.strip()),
                         "must name a folder (it is empty); e.g. --output_dir=results")
flags.DEFINE_list("backends", installed_backends(),
                  "Keras backends to measure evolve on, each in its own child process (default: every installed "
                  "one); the eager loop, tf-keras-vis and roofline comparisons run on tensorflow only.")
flags.DEFINE_integer("n", 10000, "Examples per MLP measurement.", lower_bound=1)
flags.DEFINE_integer("n_cnn", 1000, "Examples per CNN measurement.", lower_bound=1)
flags.DEFINE_integer("steps", 100, "Gradient steps per example (evolve's max_steps, tf-keras-vis' steps).")
flags.DEFINE_list("models", list(CONFIGS), "Models to measure.")
flags.DEFINE_integer("repeats", 3, "Timed evolve runs per figure; the median is reported.", lower_bound=1)
flags.DEFINE_integer("eager_examples", 20, "Examples of the per-example eager loop.", lower_bound=1)
flags.DEFINE_integer("eager_steps", 20, "Steps per example of the eager loop.", lower_bound=1)
flags.DEFINE_integer("tkv_n", 0, "Examples for tf-keras-vis (0: the same N as evolve).", lower_bound=0)
flags.DEFINE_boolean("tf_keras_vis", True, "Measure tf-keras-vis (it must be installed: benchmarks/requirements.txt); "
                     "--notf_keras_vis leaves it out.")
flags.DEFINE_list("batch_sizes", [], "Extra evolve batch sizes to measure beside the default (tensorflow only).")
flags.DEFINE_string("data_dir", None, "Folder holding the MNIST IDX files (default: $TFADV_DATA_DIR, the Keras "
                    "cache, Debian's package, then download); used only to train missing models.")
flags.DEFINE_boolean("no_verify", False, "Do not check the data files against their published sha256.")
flags.DEFINE_boolean("synthetic_data", False, "Train missing models on tiny synthetic images instead of MNIST "
                     "(smoke runs and tests: the weights differ, the figures are only indicative).")
# Internal: the parent passes these to each child process (--backend makes select_backend load that backend).
flags.DEFINE_enum("backend", None, list(BACKENDS), "Internal, set for child processes; choose with --backends.")
flags.DEFINE_enum("child_backend", None, list(BACKENDS), "Internal: measure on this backend only (child process).")
flags.DEFINE_string("child_json", None, "Internal: where a child process writes its figures.")
define_precision_flag()
FLAGS = flags.FLAGS
# Flags a child process gets from its parent as given (with --child_backend, --backend and --child_json).
FORWARDED = ("output_dir", "n", "n_cnn", "steps", "models", "repeats", "eager_examples", "eager_steps", "tkv_n",
             "tf_keras_vis", "batch_sizes", "data_dir", "no_verify", "synthetic_data", "verbosity", "precision")


def matmul_flops(size: int = 4096, runs: int = 5) -> float:
    """Best float32 FLOP/s of ``tf.matmul`` on two random ``size`` x ``size`` matrices (tensorflow only)."""
    import tensorflow as tf

    a, b = tf.random.uniform((size, size)), tf.random.uniform((size, size))
    best = float("inf")
    for _ in range(runs + 1):  # the first run warms up
        start = time.perf_counter()
        float(tf.matmul(a, b)[0, 0])
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


def flops_per_example_step(model) -> float:
    """Forward plus backward-to-the-input FLOPs of one example (multiply-adds x 2)."""
    flops = 0
    for layer in model.layers:
        if "Conv2D" in type(layer).__name__:
            kh, kw, cin, cout = layer.kernel.shape
            _, h, w, _ = layer.output.shape
            flops += 2 * (2 * h * w * cin * cout * kh * kw)
        elif hasattr(layer, "kernel"):
            flops += 4 * int(np.prod(layer.kernel.shape))
    return float(flops)


def timed(fn):
    """``fn()``'s result and wall time in seconds."""
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def engine(model, x, targets, steps, repeats, stop="confidence", **kwargs):
    """Median wall time of ``evolve`` over ``repeats`` runs after one untimed run.

    ``evolve`` compiles one program per slot count it visits, so the untimed
    run is the same call: it compiles exactly what the timed runs use.

    Returns:
      ``(seconds, result)`` of the median run.
    """
    from tfadv.engine import evolve

    def run():
        return evolve(model, x, targets, loss="mse", lr=LR, max_steps=steps, stop=stop,
                      kappa=KAPPA if stop == "confidence" else None, **kwargs)

    run()
    runs = sorted((timed(run) for _ in range(repeats)), key=lambda rt: rt[1])
    result, seconds = runs[len(runs) // 2]
    return seconds, result


def eager_rate(model, x, targets, steps) -> float:
    """Example-steps/s of the straightforward loop: one example, one step at a time (tensorflow only)."""
    import tensorflow as tf

    from tfadv.models import to_model_input

    def one(x0, t):
        var = tf.Variable(to_model_input(x0[None], model))
        onehot = tf.one_hot([t], 10)
        for step in range(steps):
            with tf.GradientTape() as tape:
                y = model(var)
                loss = tf.reduce_mean(tf.square(y - onehot))
            var.assign_sub(LR * tape.gradient(loss, var))
            var.assign(tf.clip_by_value(var, 0.0, 1.0))
            if int(tf.argmax(y[0])) == t and float(y[0, t]) >= KAPPA:
                return step
        return steps

    one(x[0], targets[0])  # warm-up
    done, seconds = timed(lambda: sum(one(xi, ti) for xi, ti in zip(x, targets)))
    return done / seconds


def tkv_rate(model, x, targets, steps) -> float:
    """Example-steps/s of tf-keras-vis ActivationMaximization on all of ``x`` at once (tensorflow only)."""
    import keras
    import tensorflow as tf
    from tf_keras_vis.activation_maximization import ActivationMaximization

    from tfadv.models import to_model_input

    onehot = tf.one_hot(targets, 10)
    seed = to_model_input(x, model)
    score = lambda out: -tf.reduce_mean(tf.square(out - onehot), axis=1)  # AM maximizes it
    am = ActivationMaximization(model, clone=False)
    run = lambda n: am(score, seed_input=seed, input_range=(0.0, 1.0), input_modifiers=[],
                       regularizers=[], steps=n, optimizer=keras.optimizers.SGD(1.0))
    run(1)  # warm-up
    _, seconds = timed(lambda: run(steps))
    return len(x) * steps / seconds


def data_source():
    """Where a missing model's training data comes from (``--synthetic_data``, ``--data_dir``, ``--no_verify``)."""
    from tfadv.sources import RealData, SyntheticData

    return SyntheticData() if FLAGS.synthetic_data else RealData(FLAGS.data_dir, verify=not FLAGS.no_verify)


def starts(name):
    """``(model, x, least, pred)``: the model from ``<output_dir>/models`` (trained if missing), its N
    uniform-noise starts, the class it finds least likely for each (the targets) and the one it predicts."""
    from tfadv.engine import make_starts
    from tfadv.modelbank import ensure_model
    from tfadv.models import to_model_input

    model, _, _ = ensure_model(FLAGS.output_dir, ModelKey(name, "mnist", CONFIGS[name], 0), data_source(), verbose=0)
    n = FLAGS.n_cnn if name.startswith("cnn") else FLAGS.n
    x = make_starts("uniform", n, seed=0)
    probs = np.asarray(model.predict(to_model_input(x, model), batch_size=1000, verbose=0))
    return model, x, np.argmin(probs, 1).astype(np.int32), np.argmax(probs, 1).astype(np.int32)


def measure_engine(model, x, least) -> dict:
    """``evolve``'s example-steps/s on the active backend (the figure every backend reports)."""
    n, steps = len(x), FLAGS.steps
    seconds, result = engine(model, x, least, steps, FLAGS.repeats)
    assert result.steps.sum() == n * steps, "an example met the never-met stop rule"
    return {"n": n, "steps": steps, "engine_seconds": seconds, "engine": n * steps / seconds}


def measure(name, flop_rate) -> dict:
    """Every figure of one model on TensorFlow."""
    model, x, least, pred = starts(name)
    n, steps = len(x), FLAGS.steps
    out = measure_engine(model, x, least)
    for size in FLAGS.batch_sizes:
        s, _ = engine(model, x, least, steps, FLAGS.repeats, batch_size=int(size))
        out[f"engine_batch_{size}"] = n * steps / s
    k = FLAGS.eager_examples
    out["eager"] = eager_rate(model, x[:k], least[:k], FLAGS.eager_steps)
    if FLAGS.tf_keras_vis:
        tkv_n = min(n, FLAGS.tkv_n or n)
        out["tkv_n"] = tkv_n
        out["tf-keras-vis"] = tkv_rate(model, x[:tkv_n], least[:tkv_n], steps)
        out["engine/tf-keras-vis"] = out["engine"] / out["tf-keras-vis"]
    out["flops_per_example_step"] = flops_per_example_step(model)
    out["roofline"] = flop_rate / out["flops_per_example_step"]
    # Half the examples are already labelled as their target (stop="argmax" met at step 0).
    half = np.where(np.arange(n) % 2 == 0, pred, least)
    t_all, r_all = engine(model, x, least, steps, FLAGS.repeats, stop="argmax")
    t_half, r_half = engine(model, x, half, steps, FLAGS.repeats, stop="argmax")
    out.update({"all_running_seconds": t_all, "half_early_seconds": t_half,
                "all_running_mean_steps": float(r_all.steps.mean()),
                "half_early_mean_steps": float(r_half.steps.mean()),
                "half_early/all_running": t_half / t_all})
    out["engine/eager"] = out["engine"] / out["eager"]
    out["fraction of roofline"] = out["engine"] / out["roofline"]
    return out


def table(results: dict) -> str:
    """TensorFlow's figures as a text table: one row per figure, one column per model."""
    rows = [("examples N", "n", "{:,}"), ("tf-keras-vis examples", "tkv_n", "{:,}"),
            ("engine, default batch [ex-steps/s]", "engine", "{:,.0f}")]
    rows += [(f"engine, batch {s} [ex-steps/s]", f"engine_batch_{s}", "{:,.0f}") for s in FLAGS.batch_sizes]
    rows += [("eager loop [ex-steps/s]", "eager", "{:,.1f}"),
             ("tf-keras-vis [ex-steps/s]", "tf-keras-vis", "{:,.0f}"),
             ("roofline [ex-steps/s]", "roofline", "{:,.0f}"),
             ("FLOPs per example-step", "flops_per_example_step", "{:,.0f}"),
             ("engine/eager", "engine/eager", "{:,.0f}x"),
             ("engine/tf-keras-vis", "engine/tf-keras-vis", "{:.2f}x"),
             ("fraction of roofline", "fraction of roofline", "{:.1%}"),
             ("all running: wall s", "all_running_seconds", "{:.2f}"),
             ("all running: mean steps", "all_running_mean_steps", "{:.1f}"),
             ("half finish at once: wall s", "half_early_seconds", "{:.2f}"),
             ("half finish at once: mean steps", "half_early_mean_steps", "{:.1f}"),
             ("half-early / all-running time", "half_early/all_running", "{:.2f}")]

    def cell(model, key, fmt):
        if key not in results[model]:
            return "not measured"
        value, goal = results[model][key], TARGETS.get((key, model))
        return fmt.format(value) + ("" if goal is None else " PASS" if value >= goal else " MISS")

    width = max(len(label) for label, _, _ in rows)
    lines = [" " * width + "".join(f"{m:>22}" for m in results)]
    for label, key, fmt in rows:
        lines.append(label.ljust(width) + "".join(f"{cell(m, key, fmt):>22}" for m in results))
    return "\n".join(lines)


def versus_tensorflow(backends: dict) -> None:
    """Adds ``vs_tensorflow`` (ratio, minimum, pass per model) to every other backend of ``backends``."""
    reference = backends.get("tensorflow")
    for name, record in backends.items():
        if name == "tensorflow" or reference is None:
            continue
        record["vs_tensorflow"] = {}
        for model, figures in record["models"].items():
            ratio = figures["engine"] / reference["models"][model]["engine"]
            record["vs_tensorflow"][model] = {"ratio": ratio, "minimum": BACKEND_TARGET,
                                              "pass": ratio >= BACKEND_TARGET}


def backend_table(backends: dict) -> str:
    """``evolve``'s example-steps/s side by side: one row per model, one column per backend, then each other
    backend's ratio to TensorFlow with PASS/MISS."""
    names = list(backends)
    others = [b for b in names if b != "tensorflow" and "vs_tensorflow" in backends[b]]
    header = ["model"] + [f"{b} [ex-steps/s]" for b in names] + [f"{b}/tensorflow" for b in others]
    rows = []
    for model in FLAGS.models:
        row = [f"{LABELS[model]} ({model})"]
        row += [f"{backends[b]['models'][model]['engine']:,.0f}" for b in names]
        for b in others:
            v = backends[b]["vs_tensorflow"][model]
            row.append(f"{v['ratio']:.2f}x {'PASS' if v['pass'] else 'MISS'}")
        rows.append(row)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    fmt = lambda r: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
    return "\n".join(fmt(r) for r in [header, *rows])


def child_main() -> None:
    """One backend's figures (this process runs on it) to ``--child_json``."""
    import keras

    name = FLAGS.child_backend
    if keras.backend.backend() != name:
        raise app.UsageError(f"--child_backend={name}, but Keras runs on {keras.backend.backend()}; "
                             f"pass --backend={name} too (the parent process does)")
    set_precision(FLAGS.precision, name)
    record = {"backend": name, "keras_backend": keras.backend.backend(), "keras": keras.__version__,
              "versions": framework_versions(name), "precision": FLAGS.precision,
              "load_average_at_start": os.getloadavg()[0]}
    if name == "tensorflow":
        from tfadv.engine.tensorflow import quiet_retracing_warnings

        quiet_retracing_warnings()  # as tfadv.flags.set_up: misleading for the engine's programs
        record["matmul_flops_per_s"] = flop_rate = matmul_flops()
        record["tensorflow_figures"] = {m: measure(m, flop_rate) for m in FLAGS.models}
        record["models"] = {m: {k: f[k] for k in ("n", "steps", "engine_seconds", "engine")}
                            for m, f in record["tensorflow_figures"].items()}
    else:
        record["models"] = {}
        for model_name in FLAGS.models:
            model, x, least, _ = starts(model_name)
            record["models"][model_name] = measure_engine(model, x, least)
    artifacts.write_text(Path(FLAGS.child_json), json.dumps(record, indent=2))


def run_child(name: str, folder: Path, first: bool) -> dict:
    """Runs this script on backend ``name`` in a child process; its figures.

    The child writes to this process's terminal (a user error there is its one
    line); when it fails, this process ends with the child's exit status.
    """
    out = folder / f"{name}.json"
    argv = [sys.executable, str(Path(__file__).resolve()), f"--child_backend={name}", f"--backend={name}",
            f"--child_json={out}"]
    argv += [FLAGS[f].serialize() for f in FORWARDED if FLAGS[f].value is not None]
    print(f"Measuring on {name} (child process{'; it trains any missing model first' if first else ''}) ...", flush=True)
    sys.stderr.flush()
    status = subprocess.run(argv, env=START_ENV).returncode
    if status == 2:  # a user error: the child printed it as one line
        sys.exit(status)
    if status != 0:
        print(f"{PROGRAM}: error: the {name} measurement failed (exit status {status}); see above.",
              file=sys.stderr)
        sys.exit(status if status > 0 else 1)
    return json.loads(out.read_text())


def selected_backends() -> list[str]:
    """``--backends`` without repeats, tensorflow first (its child trains missing models and measures the
    TensorFlow-only figures); a user error when one is unknown or not installed."""
    names = [b.strip() for b in FLAGS.backends if b.strip()]
    if not names:
        raise app.UsageError(f"--backends is empty; name at least one of {', '.join(installed_backends())}")
    for name in names:
        try:
            check_installed(name)
        except BackendError as e:
            raise app.UsageError(f"--backends={name}: " + str(e).replace("another --backend.", "others in --backends"))
    return sorted(dict.fromkeys(names), key=lambda b: b != "tensorflow")


def main(argv):
    del argv
    # As the package's other entry points: warnings only below --verbosity=1 (no INFO lines from training, jax).
    logging.root.setLevel(logging.WARNING if FLAGS.verbosity < 1 else logging.INFO)
    unknown = set(FLAGS.models) - set(CONFIGS)
    if unknown:
        raise app.UsageError(f"--models: unknown models {sorted(unknown)}; choose from {list(CONFIGS)}")
    if FLAGS.child_backend:
        return child_main()
    if FLAGS.backend:
        raise app.UsageError(f"--backend is internal; to measure on {FLAGS.backend} pass --backends={FLAGS.backend}")
    names = selected_backends()
    if "tensorflow" in names and FLAGS.tf_keras_vis and importlib.util.find_spec("tf_keras_vis") is None:
        raise app.UsageError("tf-keras-vis is not installed; use the benchmark's venv "
                             "(pip install -r benchmarks/requirements.txt, see benchmarks/README.md), "
                             "or leave it out with --notf_keras_vis")
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="attack_throughput-") as folder:
        records = {name: run_child(name, Path(folder), name == names[0]) for name in names}
    tf_record = records.get("tensorflow", {})
    results = tf_record.pop("tensorflow_figures", {})
    flop_rate = tf_record.get("matmul_flops_per_s")
    print(f"\nevolve throughput, {FLAGS.steps} steps per example"
          + (f"; float32 matmul rate {flop_rate / 1e9:.1f} GFLOP/s" if flop_rate else "")
          + f" on {os.cpu_count()} cores; 1-min load average at the start {load_before:.2f} "
          "(well above 0 means other work shared the cores).")
    if results:
        print("Targets from the issue are marked PASS/MISS.")
        print(table(results))
    versus_tensorflow(records)
    print(f"\nevolve [example-steps/s] per Keras backend (median of {FLAGS.repeats}, compile excluded)"
          + (f"; target from the issue: every other backend >= {BACKEND_TARGET}x tensorflow (PASS/MISS)."
             if "tensorflow" in records else "; no ratios: tensorflow was not in --backends."))
    print(backend_table(records))
    path = Path(FLAGS.output_dir) / "benchmarks" / "attack_throughput.json"
    summary = {"matmul_flops_per_s": flop_rate, "cpu_count": os.cpu_count(), "precision": FLAGS.precision,
               "load_average_at_start": load_before, "models": results,
               "targets": [{"metric": k, "model": m, "minimum": v} for (k, m), v in TARGETS.items()],
               "backends": records}
    artifacts.write_text(path, json.dumps(summary, indent=2))
    print(f"Wrote {path}")


if __name__ == "__main__":
    before_frameworks_load()  # picks a child's --backend before Keras loads, and quiets framework start-up lines
    run_entry_point(main, PROGRAM)
