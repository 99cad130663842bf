"""The package's absl flags and the set-up every entry point shares.

Flags become a ``RunContext`` (or explicit arguments) here, at the edge;
library code never reads FLAGS. Only the entry points import this module:
``python -m tfadv.reproduce``, ``python -m tfadv.train``, ``scripts/<id>.py``
and ``benchmarks/attack_throughput.py``.

Every entry point runs through ``run``: a user error (bad flag, missing or
damaged data, unusable output folder) is one line on stderr and exit status
2; ``--verbosity=1`` shows the traceback (and every framework log line).
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import sys
import threading
import traceback

from absl import app, flags

from tfadv.backends import early_flag

FLAGS = flags.FLAGS
USAGE_EXIT = 2

# Framework lines dropped from stderr at --verbosity < 1 (BUILD_NOTES.md, "Known warnings"). TensorFlow's
# C++ side prints them before (or regardless of) TF_CPP_MIN_LOG_LEVEL, so they are matched per line.
NOISE = tuple(re.compile(p) for p in (
    r"^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR$",
    r"^I\d{4} .* port\.cc:\d+\] oneDNN custom operations are on",
    r"^I\d{4} .* cudart_stub\.cc:\d+\] Could not find cuda drivers",
    r"^I\d{4} .* cpu_feature_guard\.cc:\d+\] This TensorFlow binary is optimized",
    r"^To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags\.$",
    r"^E\d{4} .* cuda_platform\.cc:\d+\] failed call to cuInit",
    r"^E\d{4} .* node_def_util\.cc:\d+\] NodeDef mentions attribute use_unbounded_threadpool",
))


def define_data_flags() -> None:
    """Where data and outputs live, and the backend: every entry point."""
    from tfadv.backends import BACKENDS, DEFAULT, requested_backend

    backend = requested_backend()  # select_backend (before_frameworks_load) has read --backend
    flags.DEFINE_enum("backend", backend if backend in BACKENDS else DEFAULT, list(BACKENDS),
                      "The framework Keras runs on (default: $KERAS_BACKEND, else tensorflow). A folder holds "
                      "one backend's results; jax and torch need their extras: pip install '.[jax]'.")
    define_precision_flag()
    flags.DEFINE_string("output_dir", "results" if backend == DEFAULT else f"results_{backend}",
                        "Folder for models, attacks, figures, tables and the report "
                        "(default: results, or results_<backend> for jax and torch).")
    flags.register_validator("output_dir", lambda v: bool(v and v.strip()),
                             "must name a folder (it is empty); e.g. --output_dir=results")
    flags.DEFINE_string(
        "data_dir", None,
        "Folder holding MNIST/Fashion-MNIST IDX files (or <dir>/mnist, <dir>/fashion-mnist). "
        "Default: $TFADV_DATA_DIR, the Keras cache, Debian's package, then download.")
    flags.DEFINE_boolean(
        "synthetic_data", False,
        "Use tiny synthetic images instead of MNIST and Fashion-MNIST: tries every stage without the "
        "data files (with --preset=tiny, in about a minute); the results say nothing about the papers.")
    flags.DEFINE_boolean(
        "no_verify", False,
        "Do not check the data files against their published sha256 (for deliberately changed data); "
        "warns, and manifest.json records that the data was not verified.")


def define_precision_flag() -> None:
    """``--precision``: every entry point with ``--backend`` (and the benchmark); ``set_up`` applies it."""
    from tfadv.backends import DEFAULT_PRECISION, PRECISIONS

    flags.DEFINE_enum("precision", DEFAULT_PRECISION, list(PRECISIONS),
                      "Float32 matrix products and convolutions: highest (full float32, on every backend) or "
                      "tf32 (TensorFloat-32 where a GPU has it: faster, about 3 decimal digits; CPUs ignore it). "
                      "Recorded in manifest.json and the models' metadata.")


def define_run_flags() -> None:
    """Flags of ``reproduce`` and of every script: where, at which scale, and --force."""
    from tfadv.config import PRESETS

    define_data_flags()
    flags.DEFINE_enum("preset", "paper", list(PRESETS),
                      "Scale: the protocol's (paper), a small real run (quick), or a seconds-long smoke run (tiny).")
    flags.DEFINE_boolean("force", False, "Train and attack again even when results exist.")


def define_train_flags() -> None:
    """Flags of ``python -m tfadv.train``."""
    from tfadv.config import TRAIN_CONFIGS
    from tfadv.models import MODELS

    define_data_flags()
    flags.DEFINE_enum("model", None, sorted(MODELS), "Model to train.")
    flags.DEFINE_enum("dataset", "mnist", ["mnist", "fashion_mnist"], "Dataset to train on.")
    flags.DEFINE_enum("config", None, list(TRAIN_CONFIGS),
                      "Training configuration. Default: the one the protocol trains this model on this dataset "
                      "with (tfadv.config.main_config; its accuracy floor is checked at it).")
    flags.DEFINE_integer("seed", 0, "Seed of the initial weights and batch order.", lower_bound=0)
    flags.DEFINE_boolean("force", False, "Train again even if a model with these settings exists.")
    flags.register_validator("model", lambda v: v is not None,
                             f"is required: --model=NAME, one of {', '.join(sorted(MODELS))}")


def early_verbosity(argv: list[str]) -> int:
    """``--verbosity`` (``-v``) as given on the command line, read before absl parses it (0 if absent)."""
    value = early_flag(argv, ("verbosity", "v"), single_dash=True, convert=int)
    return 0 if value is None else value


def before_frameworks_load(argv: list[str] | None = None) -> None:
    """What an entry point does first, before anything imports Keras: picks the backend
    (``--backend``, ``tfadv.backends.select_backend``) and hides framework start-up noise.

    A backend that is unknown or not installed ends the process with one line on stderr.
    """
    from tfadv.backends import BackendError, select_backend

    argv = sys.argv if argv is None else argv
    try:
        select_backend(argv)
    except BackendError as e:
        print(f"{os.path.basename(argv[0]) if argv else 'tfadv'}: error: {e}", file=sys.stderr)
        sys.exit(USAGE_EXIT)
    quiet_frameworks(argv)


def quiet_frameworks(argv: list[str] | None = None) -> None:
    """Hides framework start-up noise; call first in an entry point, before TensorFlow is imported.

    At ``--verbosity`` below 1: sets ``TF_CPP_MIN_LOG_LEVEL=2`` unless the user
    set it, and drops the lines of ``NOISE`` from file descriptor 2 (where
    TensorFlow's C++ side writes). Python's ``sys.stderr`` keeps writing to the
    terminal directly. Does nothing at ``--verbosity`` 1 or more.
    """
    if early_verbosity(sys.argv if argv is None else argv) >= 1 or getattr(quiet_frameworks, "done", False):
        return
    quiet_frameworks.done = True
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        sys.stderr.flush()
        terminal = os.dup(2)
        read_end, write_end = os.pipe()
        os.dup2(write_end, 2)
        os.close(write_end)
    except OSError:  # no usable file descriptor 2: nothing to filter
        return
    sys.stderr = os.fdopen(terminal, "w", buffering=1, encoding=sys.stderr.encoding, errors="backslashreplace")
    from absl import logging as absl_logging

    absl_logging.get_absl_handler().python_handler.stream = sys.stderr
    thread = threading.Thread(target=_forward, args=(read_end, terminal), daemon=True, name="tfadv-stderr")
    thread.start()

    def restore():
        try:
            sys.stderr.flush()
            os.dup2(terminal, 2)  # closes the pipe's last write end: the thread sees EOF
        except (OSError, ValueError):
            return
        thread.join(timeout=2)

    atexit.register(restore)


def _forward(read_end: int, out: int) -> None:
    """Copies lines from ``read_end`` to ``out``, leaving out those of ``NOISE``."""
    pending = b""
    while True:
        chunk = os.read(read_end, 65536)
        if not chunk:
            break
        *lines, pending = (pending + chunk).split(b"\n")
        text = b"".join(line + b"\n" for line in lines if not _is_noise(line))
        if text:
            os.write(out, text)
    if pending and not _is_noise(pending):
        os.write(out, pending)


def _is_noise(line: bytes) -> bool:
    text = line.decode("utf-8", "replace").rstrip("\r")
    return any(p.search(text) for p in NOISE)


def set_up() -> None:
    """Process-wide switches, made once at an entry point and never by library code.

    Logging: warnings only at ``--verbosity`` 0 and below (the default), INFO
    lines (training, reuse) at 1, DEBUG at 2. Makes the backend's ops
    deterministic (training is bitwise reproducible), sets its float32
    precision (``--precision``, ``tfadv.backends.set_precision``), drops TensorFlow's
    misleading retracing warning for the engine's programs, and ends an open
    progress line before any log line or warning is printed.
    """
    from tfadv import progress

    level = logging.WARNING if FLAGS.verbosity < 1 else logging.INFO if FLAGS.verbosity == 1 else logging.DEBUG
    logging.root.setLevel(level)
    logging.getLogger("tfadv").setLevel(level)
    progress.guard_logs_and_warnings()
    from tfadv.backends import active_backend, enable_determinism, set_precision

    if active_backend() != FLAGS.backend:
        raise app.UsageError(f"--backend={FLAGS.backend}, but Keras already runs on {active_backend()} "
                             f"(set KERAS_BACKEND={FLAGS.backend} before starting Python)")
    enable_determinism()
    set_precision(FLAGS.precision)
    if FLAGS.backend == "tensorflow":
        from tfadv.engine.tensorflow import quiet_retracing_warnings

        quiet_retracing_warnings()


def keras_verbosity(per_epoch: bool = False) -> int | str:
    """Keras' ``fit`` output: a bar on a terminal, a line an epoch in logs; none when quiet.

    Args:
      per_epoch: show epochs at the default verbosity (the train command);
        otherwise only from ``--verbosity=1`` (runs with their own progress lines).
    """
    if FLAGS.verbosity < (0 if per_epoch else 1):
        return 0
    return "auto" if sys.stdout.isatty() else 2


def data_source():
    """The ``DataSource`` the flags ask for (warns on stderr when checksums are off)."""
    from tfadv.sources import RealData, SyntheticData

    if FLAGS.synthetic_data:
        return SyntheticData()
    if FLAGS.no_verify:
        print("warning: --no_verify: the data files are not checked against their published sha256; "
              "manifest.json records them as not verified.", file=sys.stderr)
    return RealData(FLAGS.data_dir, verify=not FLAGS.no_verify)


def run_context(preset_name: str | None = None, paper_ids=None):
    """The ``RunContext`` the flags ask for (``preset_name`` overrides ``--preset``).

    The datasets of ``paper_ids`` (default every paper) are loaded first, so a
    missing or damaged file stops the command before any work or output.
    """
    from tfadv import registry
    from tfadv.config import get_preset
    from tfadv.context import RunContext

    preset = get_preset(preset_name or FLAGS.preset)
    source = data_source()
    papers = [registry.paper(p) for p in paper_ids] if paper_ids is not None else registry.PAPERS
    for dataset in sorted({m.dataset for p in papers for m in p.models_needed(p.config(preset))}):
        source.load(dataset)
    return RunContext(FLAGS.output_dir, preset, source, force=FLAGS.force, progress=FLAGS.verbosity >= 0,
                      train_verbose=keras_verbosity())


def no_arguments(argv) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])} (flags are written --name=value)")


def one_line(text: str) -> str:
    """A multi-line message (e.g. the places a dataset was looked for) folded into one line."""
    out = ""
    for line in (line.strip() for line in str(text).splitlines()):
        if not out or not line:
            out += line
        elif re.match(r"\d+\. ", line) and not out.endswith(":"):
            out += "; " + line
        else:
            out += (" " if out.endswith((".", ":", ";")) else ". ") + line
    return out


def _with_help_hint(message: str) -> str:
    return f"{str(message).rstrip().rstrip('.')} (see --help)"


def _user_errors() -> tuple[type[BaseException], ...]:
    from tfadv.artifacts import OutputDirError
    from tfadv.idx import DataError

    return app.UsageError, OutputDirError, DataError


def _fail(program: str, message: str) -> None:
    from tfadv import progress

    progress.end_line()
    sys.stdout.flush()
    print(f"{program}: error: {one_line(message)}", file=sys.stderr)
    sys.exit(USAGE_EXIT)


def run(main, program: str | None = None) -> None:
    """Runs ``main(argv)`` under absl, turning user errors into one line on stderr (exit status 2).

    Flag errors, ``app.UsageError``, data errors and output-folder errors are
    reported as ``<program>: error: <what is wrong and how to fix it>``;
    Ctrl-C as one line with exit status 130. ``--verbosity=1`` (or more)
    prints the traceback before that line. Other exceptions are bugs and keep
    their traceback.
    """
    program = program or os.path.basename(sys.argv[0])
    _key_flags_for_help()
    debug = early_verbosity(sys.argv) >= 1

    def parse(argv):
        try:
            return FLAGS(argv)
        except flags.Error as e:
            if debug:
                traceback.print_exc()
            _fail(program, _with_help_hint(e))

    def guarded(argv):
        try:
            return main(argv)
        except _user_errors() as e:
            if FLAGS.verbosity >= 1:
                traceback.print_exc()
            _fail(program, _with_help_hint(e) if isinstance(e, app.UsageError) else str(e))
        except KeyboardInterrupt:
            from tfadv import progress

            progress.end_line()
            print(f"{program}: interrupted. Everything finished so far is kept; run the same command again "
                  "to resume.", file=sys.stderr)
            sys.exit(130)

    app.run(guarded, flags_parser=parse)


def _key_flags_for_help() -> None:
    """``--help`` lists every flag the entry point defined here (with its default), not only its own module's."""
    main_module = sys.argv[0]
    FLAGS["verbosity"].help = ("0: progress lines, results and warnings; 1: also INFO log lines, TensorFlow's "
                               "start-up messages and the traceback of a user error; 2: debug; -1: warnings only.")
    FLAGS.set_default("verbosity", 0)
    for name in [f.name for f in FLAGS.get_key_flags_for_module(__name__)] + ["verbosity", "flagfile"]:
        if name in FLAGS:
            FLAGS.register_key_flag_for_module(main_module, FLAGS[name])


def run_item(item_id: str) -> None:
    """Entry point of ``scripts/<item_id>.py``: makes that one figure or table."""
    before_frameworks_load()
    define_run_flags()

    def main(argv):
        no_arguments(argv)
        set_up()
        from tfadv import registry
        from tfadv.pipeline import Pipeline

        item = registry.item(item_id)
        pipeline = Pipeline(run_context(paper_ids=[item.paper]))
        for path in pipeline.make(item_id):
            print(path)
        for claim in pipeline.claims(item.paper):
            if claim.id in item.claims:
                print(f"{claim.id} ({claim.verdict}): {claim.rule}")

    run(main, f"scripts/{item_id}.py")


def run_claims_readings() -> None:
    """Entry point of ``scripts/claims_readings.py``: every paper's claims, then the claims x readings grid."""
    before_frameworks_load()
    define_run_flags()

    def main(argv):
        no_arguments(argv)
        set_up()
        from pathlib import Path

        from tfadv import registry
        from tfadv.outputs import Output
        from tfadv.pipeline import Pipeline
        from tfadv.readings_grid import make_claims_readings

        pipeline = Pipeline(run_context())
        claims = pipeline.write_claims([p.id for p in registry.PAPERS])
        for path in make_claims_readings(claims, Output(Path(FLAGS.output_dir), FLAGS.preset)):
            print(path)

    run(main, "scripts/claims_readings.py")
