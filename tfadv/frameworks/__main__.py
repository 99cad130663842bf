"""python -m tfadv.frameworks: the same saved models attacked by every installed engine (PROTOCOL.md section 9).

    python -m tfadv.frameworks --output_dir=results --preset=paper     # every installed backend, one round
    python -m tfadv.frameworks --backends=tensorflow,jax --rounds=2      # A2 and A3 need two rounds
    python -m tfadv.frameworks --preset=tiny --synthetic_data --output_dir=/tmp/t   # seconds, no data

Paper A's models in ``--output_dir`` (made by ``python -m tfadv.reproduce``,
or here when missing) are attacked by each backend's engine in its own
process (``tfadv.frameworks.worker``), into ``<output_dir>/frameworks/<backend>/``;
then the item ``frameworks`` (``figures/frameworks.png``,
``tables/frameworks.md``, ``tables/frameworks_verdicts.md``,
``frameworks.json``) compares them with the TensorFlow engine, and
``REPORT.md`` gains its section. Every search is cached, so an interrupted
comparison resumes and a second one only redraws.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from absl import app
from absl import flags as absl_flags

from tfadv import flags

FLAGS = flags.FLAGS
PASSED_ON = ("data_dir", "synthetic_data", "no_verify", "preset", "precision", "verbosity")


def _define_flags() -> None:
    flags.define_run_flags()
    absl_flags.DEFINE_list("backends", None, "The engines to compare (default: every installed backend; "
                           "tensorflow, the reference, is always one).")
    absl_flags.DEFINE_integer("rounds", 1, "Training rounds of paper A's nets to attack (claims A2 and A3 "
                              "compare rounds: they are judged from 2).", lower_bound=1)


def _child(args: list[str]) -> None:
    """Runs the worker with ``args`` and the flags every child shares; raises on failure."""
    shared = [f"--{name}={FLAGS[name].value}" for name in PASSED_ON if FLAGS[name].present or name == "preset"]
    argv = [sys.executable, "-m", "tfadv.frameworks.worker", *shared, *args]
    status = subprocess.run(argv).returncode
    if status:
        raise app.UsageError(f"the worker failed (exit status {status}): {' '.join(argv)}")


def _backends() -> list[str]:
    from tfadv.backends import BackendError, check_installed, installed_backends
    from tfadv.frameworks import REFERENCE

    wanted = FLAGS.backends or installed_backends()
    for name in wanted:
        try:
            check_installed(name)
        except BackendError as e:
            raise app.UsageError(f"--backends: {e}") from None
    return [REFERENCE] + [b for b in dict.fromkeys(wanted) if b != REFERENCE]


def _main(argv) -> None:
    flags.no_arguments(argv)
    from tfadv import artifacts, registry, report
    from tfadv.frameworks.item import make_frameworks
    from tfadv.frameworks.plan import backend_dir

    backends = _backends()
    out = Path(FLAGS.output_dir)
    stamp = out / artifacts.STAMP
    made_on = artifacts.read_json(stamp).get("backend", "tensorflow") if stamp.exists() else FLAGS.backend
    start = time.perf_counter()
    print(f"Models of paper A in {out} (made on {made_on}), attacked by {', '.join(backends)}.", flush=True)
    _child([f"--output_dir={out}", f"--backend={made_on}", "--models_only", f"--rounds={FLAGS.rounds}"])
    for backend in backends:
        _child([f"--output_dir={backend_dir(out, backend)}", f"--backend={backend}", f"--models_from={out}",
                f"--rounds={FLAGS.rounds}", f"--force={FLAGS.force}"])  # --force attacks again, never trains
    for path in make_frameworks(out, backends, FLAGS.rounds, FLAGS.preset):
        print(path)
    if report.refresh_report(out, registry.PAPERS):
        print(f"Report: {out / 'REPORT.md'} (section \"Frameworks\")")
    print(f"Done in {time.perf_counter() - start:.0f} s.", file=sys.stderr)


def main() -> None:
    flags.before_frameworks_load()
    _define_flags()
    flags.run(_main, "tfadv.frameworks")


if __name__ == "__main__":
    main()
