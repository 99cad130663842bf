"""Throughput of ``tfadv.engine.evolve`` against an eager loop, tf-keras-vis and the FLOP roofline.

Command (from the repository root, in the benchmark venv of benchmarks/README.md)::

    export TFADV_DATA_DIR=<dir with mnist/>
    .benchvenv/bin/python benchmarks/attack_throughput.py --output_dir=results --steps=100

Runtime: about 5 minutes on 2 CPU cores with the defaults, plus about 2.5
minutes of training for any of the three models not yet in
``<output_dir>/models`` (``tfadv.modelbank.ensure_model`` reuses them).

Prints, per model, example-steps per second (one gradient step of one example)
of ``evolve`` (median of ``--repeats`` runs, compile excluded), of a
per-example eager loop (``--eager_examples`` x ``--eager_steps``), of
tf-keras-vis ``ActivationMaximization`` (SGD, MSE score, no regularizers or
input modifiers), and of the FLOP roofline (FLOPs per example-step against the
measured float32 matmul rate); the ratios between them with PASS/MISS against
the issue's targets; and the wall time of ``evolve`` when half the examples
meet their stop rule at once, against all running the full budget. The same
figures go to ``<output_dir>/benchmarks/attack_throughput.json``.
"""

import importlib.util
import json
import os
import time
import warnings
from pathlib import Path

from tfadv.flags import quiet_frameworks

quiet_frameworks()  # before TensorFlow loads: TensorFlow's start-up lines (BUILD_NOTES.md, "Known warnings")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402
from tfadv import artifacts  # noqa: E402
from tfadv.engine import evolve, make_starts  # noqa: E402
from tfadv.flags import run as run_entry_point  # noqa: E402
from tfadv.keys import ModelKey  # noqa: E402
from tfadv.modelbank import ensure_model  # noqa: E402
from tfadv.models import to_model_input  # noqa: E402
from tfadv.sources import RealData  # noqa: E402

# tf-keras-vis passes a one-element list to a one-input Keras 3 model; harmless.
warnings.filterwarnings("ignore", message="The structure of `inputs` doesn't match")

CONFIGS = {"mlp_shallow_sigmoid": "long", "mlp_deep_sigmoid": "long_cosine", "cnn_relu": "default"}
# (metric, model) -> minimum, from the issue; reported, never tuned for.
TARGETS = {("engine/eager", "mlp_shallow_sigmoid"): 1000, ("engine/eager", "mlp_deep_sigmoid"): 1000,
           ("engine/tf-keras-vis", "mlp_shallow_sigmoid"): 3, ("engine/tf-keras-vis", "cnn_relu"): 1.5,
           ("fraction of roofline", "mlp_deep_sigmoid"): 0.5}
LR = 1e-3  # tiny, so no example meets its stop rule and every one runs the full budget
KAPPA = 0.9999999

flags.DEFINE_string("output_dir", "results", "Folder of the cached models; the JSON goes to <it>/benchmarks.")
flags.register_validator("output_dir", lambda v: bool(v and v.strip()),
                         "must name a folder (it is empty); e.g. --output_dir=results")
flags.DEFINE_integer("n", 10000, "Examples per MLP measurement.", lower_bound=1)
flags.DEFINE_integer("n_cnn", 1000, "Examples per CNN measurement.", lower_bound=1)
flags.DEFINE_integer("steps", 100, "Gradient steps per example (evolve's max_steps, tf-keras-vis' steps).")
flags.DEFINE_list("models", list(CONFIGS), "Models to measure.")
flags.DEFINE_integer("repeats", 3, "Timed evolve runs per figure; the median is reported.", lower_bound=1)
flags.DEFINE_integer("eager_examples", 20, "Examples of the per-example eager loop.", lower_bound=1)
flags.DEFINE_integer("eager_steps", 20, "Steps per example of the eager loop.", lower_bound=1)
flags.DEFINE_integer("tkv_n", 0, "Examples for tf-keras-vis (0: the same N as evolve).", lower_bound=0)
flags.DEFINE_list("batch_sizes", [], "Extra evolve batch sizes to measure beside the default.")
FLAGS = flags.FLAGS


def matmul_flops(size: int = 4096, runs: int = 5) -> float:
    """Best float32 FLOP/s of ``tf.matmul`` on two random ``size`` x ``size`` matrices."""
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
    def run():
        return evolve(model, x, targets, loss="mse", lr=LR, max_steps=steps, stop=stop,
                      kappa=KAPPA if stop == "confidence" else None, **kwargs)

    run()
    runs = sorted((timed(run) for _ in range(repeats)), key=lambda rt: rt[1])
    result, seconds = runs[len(runs) // 2]
    return seconds, result


def eager_rate(model, x, targets, steps) -> float:
    """Example-steps/s of the straightforward loop: one example, one step at a time."""
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
    """Example-steps/s of tf-keras-vis ActivationMaximization on all of ``x`` at once."""
    from tf_keras_vis.activation_maximization import ActivationMaximization

    onehot = tf.one_hot(targets, 10)
    seed = to_model_input(x, model)
    score = lambda out: -tf.reduce_mean(tf.square(out - onehot), axis=1)  # AM maximizes it
    am = ActivationMaximization(model, clone=False)
    run = lambda n: am(score, seed_input=seed, input_range=(0.0, 1.0), input_modifiers=[],
                       regularizers=[], steps=n, optimizer=keras.optimizers.SGD(1.0))
    run(1)  # warm-up
    _, seconds = timed(lambda: run(steps))
    return len(x) * steps / seconds


def measure(name, flop_rate) -> dict:
    """Every figure of one model."""
    model, _, _ = ensure_model(FLAGS.output_dir, ModelKey(name, "mnist", CONFIGS[name], 0), RealData(), verbose=0)
    n = FLAGS.n_cnn if name.startswith("cnn") else FLAGS.n
    x = make_starts("uniform", n, seed=0)
    probs = model.predict(to_model_input(x, model), batch_size=1000, verbose=0)
    pred, least = np.argmax(probs, 1).astype(np.int32), np.argmin(probs, 1).astype(np.int32)
    steps = FLAGS.steps
    seconds, result = engine(model, x, least, steps, FLAGS.repeats)
    assert result.steps.sum() == n * steps, "an example met the never-met stop rule"
    out = {"n": n, "steps": steps, "engine_seconds": seconds, "engine": n * steps / seconds}
    for size in FLAGS.batch_sizes:
        s, _ = engine(model, x, least, steps, FLAGS.repeats, batch_size=int(size))
        out[f"engine_batch_{size}"] = n * steps / s
    k = FLAGS.eager_examples
    out["eager"] = eager_rate(model, x[:k], least[:k], FLAGS.eager_steps)
    tkv_n = min(n, FLAGS.tkv_n or n)
    out["tkv_n"] = tkv_n
    out["tf-keras-vis"] = tkv_rate(model, x[:tkv_n], least[:tkv_n], steps)
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
    out["engine/tf-keras-vis"] = out["engine"] / out["tf-keras-vis"]
    out["fraction of roofline"] = out["engine"] / out["roofline"]
    return out


def table(results: dict) -> str:
    """The figures as a text table: one row per figure, one column per model."""
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
        value, goal = results[model][key], TARGETS.get((key, model))
        return fmt.format(value) + ("" if goal is None else " PASS" if value >= goal else " MISS")

    width = max(len(label) for label, _, _ in rows)
    lines = [" " * width + "".join(f"{m:>22}" for m in results)]
    for label, key, fmt in rows:
        lines.append(label.ljust(width) + "".join(f"{cell(m, key, fmt):>22}" for m in results))
    return "\n".join(lines)


def main(argv):
    del argv
    unknown = set(FLAGS.models) - set(CONFIGS)
    if unknown:
        raise app.UsageError(f"--models: unknown models {sorted(unknown)}; choose from {list(CONFIGS)}")
    if importlib.util.find_spec("tf_keras_vis") is None:
        raise app.UsageError("tf-keras-vis is not installed; use the benchmark's venv "
                             "(pip install -r benchmarks/requirements.txt, see benchmarks/README.md)")
    load_before = os.getloadavg()[0]
    flop_rate = matmul_flops()
    results = {name: measure(name, flop_rate) for name in FLAGS.models}
    print(f"\nevolve throughput, {FLAGS.steps} steps per example; float32 matmul rate "
          f"{flop_rate / 1e9:.1f} GFLOP/s"
          f" on {os.cpu_count()} cores; 1-min load average at the start {load_before:.2f} "
          "(well above 0 means other work shared the cores).")
    print("Targets from the issue are marked PASS/MISS.")
    print(table(results))
    path = Path(FLAGS.output_dir) / "benchmarks" / "attack_throughput.json"
    summary = {"matmul_flops_per_s": flop_rate, "cpu_count": os.cpu_count(),
               "load_average_at_start": load_before, "models": results,
               "targets": [{"metric": k, "model": m, "minimum": v} for (k, m), v in TARGETS.items()]}
    artifacts.write_text(path, json.dumps(summary, indent=2))
    print(f"Wrote {path}")


if __name__ == "__main__":
    run_entry_point(main, "attack_throughput.py")
