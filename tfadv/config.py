"""Frozen settings: training configurations (PROTOCOL.md section 2).

Every setting that changes a result lives in a frozen dataclass here, so a
result can be keyed by the settings that made it (``to_dict``).
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """How a model is trained.

    Attributes:
      name: registry name; part of the model's file name.
      optimizer: ``"adam"`` or ``"sgd"``.
      learning_rate: optimizer step size.
      momentum: SGD momentum (ignored by Adam).
      batch_size: examples per step.
      epochs: passes over the training set; 0 leaves the model untrained.
      shuffle_labels: train on a fixed random permutation of the labels (the
        shuffled-label control of PROTOCOL.md section 2).
      schedule: ``"constant"`` learning rate, or ``"cosine"`` decay to zero
        over the run.
      loss: the training loss (``"mse"``, ...), or None for the model's own
        (``tfadv.models``).
      train_examples: train on the first this many training images (their
        labels shuffled too, for a shuffled-label control), or None for all.
    """

    name: str
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    momentum: float = 0.0
    batch_size: int = 128
    epochs: int = 5
    shuffle_labels: bool = False
    schedule: str = "constant"
    loss: str | None = None
    train_examples: int | None = None

    def __post_init__(self):
        if self.schedule not in ("constant", "cosine"):
            raise ValueError(f"schedule must be 'constant' or 'cosine', got {self.schedule!r}.")
        if self.optimizer not in ("adam", "sgd"):
            raise ValueError(f"optimizer must be 'adam' or 'sgd', got {self.optimizer!r}.")
        if (self.epochs < 0 or self.batch_size < 1 or self.learning_rate <= 0
                or (self.train_examples is not None and self.train_examples < 1)):
            raise ValueError(f"invalid training configuration {self}.")

    def to_dict(self) -> dict:
        """The settings (``loss`` and ``train_examples`` only when set, so models trained before they
        existed keep their keys)."""
        d = dataclasses.asdict(self)
        for optional in ("loss", "train_examples"):
            if d[optional] is None:
                del d[optional]
        return d

    @property
    def trained(self) -> bool:
        """False for the untrained control (no training steps)."""
        return self.epochs > 0


TRAIN_CONFIGS: dict[str, TrainConfig] = {
    c.name: c
    for c in (
        # PROTOCOL.md section 2, paper B's three configurations.
        TrainConfig("default"),
        TrainConfig("sgd", optimizer="sgd", learning_rate=0.05, momentum=0.9,
                    batch_size=32, epochs=3),
        TrainConfig("short", epochs=1),
        # Controls: the same number of steps as `default` on shuffled labels,
        # and no training at all.
        TrainConfig("shuffled", shuffle_labels=True),
        TrainConfig("untrained", epochs=0),
        # The MLPs need longer training than `default` to clear their floors
        # (sigmoid 95%/97%, ReLU 97.5%): measured in BUILD_NOTES.md. The
        # shallow sigmoid net learns best at a constant rate, the others with
        # the rate decayed to zero.
        TrainConfig("long", batch_size=32, epochs=20),
        TrainConfig("long_cosine", batch_size=32, epochs=20, schedule="cosine"),
        TrainConfig("long_cosine_shuffled", batch_size=32, epochs=20, schedule="cosine",
                    shuffle_labels=True),
        # The smoke preset's brief training (models are used below their floors).
        # The sigmoid CNN stays below its floors with `default` (98.1% MNIST,
        # 85.5% Fashion-MNIST); a higher rate decayed over 15 epochs clears them.
        TrainConfig("cosine15", learning_rate=3e-3, epochs=15, schedule="cosine"),
        # PROTOCOL.md section 8, paper A's `classic` reading: the textbook recipe
        # for a 784-30-10 sigmoid net with a quadratic cost (plain SGD).
        TrainConfig("classic", optimizer="sgd", learning_rate=3.0, batch_size=10, epochs=30, loss="mse"),
        # The same recipe for one epoch: the classic reading of the smoke presets.
        TrainConfig("classic_brief", optimizer="sgd", learning_rate=3.0, batch_size=10, epochs=1, loss="mse"),
        TrainConfig("brief", epochs=2),
        TrainConfig("brief_shuffled", epochs=2, shuffle_labels=True),
        # The quick preset's paper B: one epoch on the first 15,000 training images (its B3 variant: two
        # epochs), and its shuffled-label control; the CNNs' training was most of a quick run's time.
        TrainConfig("quick", epochs=1, train_examples=15_000),
        TrainConfig("quick_2ep", epochs=2, train_examples=15_000),
        TrainConfig("quick_shuffled", epochs=1, train_examples=15_000, shuffle_labels=True),
    )
}


def get_train_config(name: str) -> TrainConfig:
    """Returns the training configuration registered under ``name``."""
    try:
        return TRAIN_CONFIGS[name]
    except KeyError:
        raise ValueError(
            f"Unknown training configuration {name!r}; known: {', '.join(TRAIN_CONFIGS)}."
        ) from None


@dataclasses.dataclass(frozen=True)
class AttackSettings:
    """One setting of the evolution (PROTOCOL.md section 3).

    ``loss``, ``lr``, ``max_steps``, ``stop``, ``kappa`` and ``clip`` go to
    ``tfadv.engine.evolve``; ``start`` (with ``start_mean``/``start_sd`` for
    ``"normal"``) names the start distribution.
    """

    loss: str = "mse"
    lr: float = 100.0
    max_steps: int = 1000
    stop: str = "argmax"
    kappa: float | None = None
    clip: tuple[float, float] | None = (0.0, 1.0)
    start: str = "uniform"
    start_mean: float = 0.5
    start_sd: float = 0.5

    def evolve_options(self) -> dict:
        return dict(loss=self.loss, lr=self.lr, max_steps=self.max_steps, stop=self.stop,
                    kappa=self.kappa, clip=self.clip)

    def start_options(self) -> dict:
        return dict(mean=self.start_mean, sd=self.start_sd) if self.start == "normal" else {}

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


BASELINE = "baseline (the protocol's settings)"


@dataclasses.dataclass(frozen=True)
class EyesConfig:
    """Paper A's experiment ("Through Neural Nets' Eyes", PROTOCOL.md sections 3-6).

    Attributes:
      nets: the two sigmoid MLPs (shallow, deep), each with its training
        configuration.
      relu_nets: their ReLU variants (``eyes_act``), likewise.
      rounds: training rounds R (seeds 0..R-1) of each net, and of the
        untrained controls.
      n_success: adversarial examples wanted per digit.
      max_attempts: the attempt cap per digit.
      attack: the evolution's settings.
      sensitivity_n_success, sensitivity_max_attempts: the smaller search of
        each ``eyes_tab4`` variant (round 0 only).
      budgets: step budgets of the success-against-budget curve (``eyes_fig4``).
      readings: also judge every claim under the readings of PROTOCOL.md
        section 8 (``tfadv.papers.eyes.readings``); False in the readings'
        own settings.
      sensitivity: run the ``eyes_tab4`` variants (False in the readings).
      zero_step: ``"counted"`` (the protocol: a start the net already gives
        the digit is a success after 0 steps) or ``"excluded"`` (such starts
        are left out of the attempts and of the averages).
      classic_nets: the nets of the ``classic`` training reading.
      confidence_reading: kappa of the confidence stop-rule reading.
    """

    nets: tuple[tuple[str, str], ...] = (("mlp_shallow_sigmoid", "long"), ("mlp_deep_sigmoid", "long_cosine"))
    relu_nets: tuple[tuple[str, str], ...] = (("mlp_shallow_relu", "long_cosine"), ("mlp_deep_relu", "long_cosine"))
    rounds: int = 5
    n_success: int = 1000
    max_attempts: int = 20000
    attack: AttackSettings = AttackSettings()
    sensitivity_n_success: int = 200
    sensitivity_max_attempts: int = 4000
    budgets: tuple[int, ...] = (0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
    readings: bool = True
    sensitivity: bool = True
    zero_step: str = "counted"
    classic_nets: tuple[tuple[str, str], ...] = (("mlp_shallow_sigmoid", "classic"), ("mlp_deep_sigmoid", "classic"))
    confidence_reading: float = 0.9

    def __post_init__(self):
        if self.zero_step not in ("counted", "excluded"):
            raise ValueError(f"zero_step must be 'counted' or 'excluded', got {self.zero_step!r}.")

    def sensitivity_variants(self) -> tuple[tuple[str, AttackSettings], ...]:
        """``eyes_tab4``: one setting changed at a time from ``attack``, and ``attack`` itself, each with
        the same sample size (none when ``sensitivity`` is off)."""
        a = self.attack
        if not self.sensitivity:
            return ()
        return (
            ("no clipping", dataclasses.replace(a, clip=None)),
            ("start N(0.5, 0.5), clipped to [0, 1]",
             dataclasses.replace(a, start="normal", start_mean=0.5, start_sd=0.5)),
            ("start N(0, 1), clipped to [0, 1]", dataclasses.replace(a, start="normal", start_mean=0.0, start_sd=1.0)),
            (f"lr {a.lr / 10:g}", dataclasses.replace(a, lr=a.lr / 10)),
            (f"lr {a.lr * 10:g}", dataclasses.replace(a, lr=a.lr * 10)),
            ("stop confidence >= 0.5", dataclasses.replace(a, stop="confidence", kappa=0.5)),
            # Last, so the variants above keep their start streams: the protocol's settings at the
            # variants' sample size (eyes_tab4 compares like with like).
            (BASELINE, a),
        )


@dataclasses.dataclass(frozen=True)
class DoughConfig:
    """Paper B's experiment ("Neural Networks Playing Dough", PROTOCOL.md sections 3-6).

    Attributes:
      datasets: the datasets (MNIST, Fashion-MNIST).
      archs: (architecture, main training configuration) pairs: the FC net
        and the CNN.
      activation_variant: the CNN with sigmoid units, at its main configuration.
      variant_configs: the training configurations of the B3 study.
      shuffled_configs: per architecture, the shuffled-label control (as
        many steps as the main configuration).
      seeds: training seeds R.
      n_noise: K uniform-noise starts in the fixed start bank.
      constants: the constant starts added to the bank.
      bank_seed: seed of the bank's noise stream.
      attack: the evolution (cross-entropy, stop at the first argmax).
      kappas: confidence thresholds of the stop-rule variants.
      k_values: the K of the bank-size study (None: the whole bank).
      transfer_starts: fresh uniform-noise starts for the transfer test (B5).
      classifier_per_class: adversarial examples per class for B6.
      classifier_arch, classifier_config: the fresh classifier of B6.
      readings: also judge every claim under the readings of PROTOCOL.md
        section 8 (``tfadv.papers.dough.readings``); False in the readings'
        own settings.
      starts: ``"noise"`` (the protocol's controlled inputs: ``n_noise``
        uniform-noise images and the constants; B5 and B6 evolve fresh noise)
        or ``"test_images"`` (as many real test images, each evolved into
        every other class; B5's fresh starts are further test images, B6's
        training images).
      zero_step: ``"counted"`` or ``"excluded"`` (a start the model already
        gives the class is left out of successes, patterns and B6's data).
    """

    datasets: tuple[str, ...] = ("mnist", "fashion_mnist")
    archs: tuple[tuple[str, str], ...] = (("mlp_deep_relu", "long_cosine"), ("cnn_relu", "default"))
    activation_variant: tuple[str, str] = ("cnn_sigmoid", "cosine15")
    variant_configs: tuple[str, ...] = ("default", "sgd", "short")
    shuffled_configs: tuple[tuple[str, str], ...] = (("mlp_deep_relu", "long_cosine_shuffled"),
                                                     ("cnn_relu", "shuffled"))
    seeds: int = 3
    n_noise: int = 100
    constants: tuple[float, ...] = (0.0, 0.5, 1.0)
    bank_seed: int = 20220128
    attack: AttackSettings = AttackSettings(loss="crossentropy", lr=0.1, max_steps=1000)
    kappas: tuple[float, ...] = (0.5, 0.9)
    k_values: tuple[int | None, ...] = (10, 30, 100, None)
    transfer_starts: int = 100
    classifier_per_class: int = 1000
    classifier_arch: str = "mlp_deep_relu"
    classifier_config: str = "default"
    readings: bool = True
    starts: str = "noise"
    zero_step: str = "counted"

    def __post_init__(self):
        if self.starts not in ("noise", "test_images"):
            raise ValueError(f"starts must be 'noise' or 'test_images', got {self.starts!r}.")
        if self.zero_step not in ("counted", "excluded"):
            raise ValueError(f"zero_step must be 'counted' or 'excluded', got {self.zero_step!r}.")


@dataclasses.dataclass(frozen=True)
class Preset:
    """A whole reproduction's settings: paper A's and paper B's.

    ``enforce_floors`` drops models below their accuracy floor (the
    protocol); it is False only for the smoke preset, whose models train
    briefly.
    """

    name: str
    eyes: EyesConfig
    dough: DoughConfig
    enforce_floors: bool = True


PRESETS: dict[str, Preset] = {
    "paper": Preset("paper", EyesConfig(), DoughConfig()),
    # Small but real: every stage runs on real data with real models, in minutes.
    "quick": Preset("quick", EyesConfig(
        nets=(("mlp_shallow_sigmoid", "brief"), ("mlp_deep_sigmoid", "brief")),
        relu_nets=(("mlp_shallow_relu", "brief"), ("mlp_deep_relu", "brief")),
        rounds=2, n_success=100, max_attempts=1000,
        attack=AttackSettings(max_steps=200), sensitivity_n_success=20,
        sensitivity_max_attempts=200, budgets=(0, 1, 2, 5, 10, 20, 50, 100, 200),
        classic_nets=(("mlp_shallow_sigmoid", "classic_brief"), ("mlp_deep_sigmoid", "classic_brief"))),
        # Paper B trains its nets for one epoch on a quarter of the training images (`quick`).
        DoughConfig(
            archs=(("mlp_deep_relu", "quick"), ("cnn_relu", "quick")),
            activation_variant=("cnn_sigmoid", "quick"), variant_configs=("quick_2ep",),
            shuffled_configs=(("mlp_deep_relu", "quick_shuffled"), ("cnn_relu", "quick_shuffled")),
            seeds=1, n_noise=20, k_values=(10, None), transfer_starts=20,
            classifier_per_class=50, attack=AttackSettings(loss="crossentropy", lr=0.1, max_steps=200)),
        enforce_floors=False),
    # A smoke run of every stage in about a minute, for tests and for trying the
    # pipeline on synthetic data (tfadv.sources.SyntheticData); says nothing about the papers.
    "tiny": Preset("tiny", EyesConfig(
        nets=(("mlp_shallow_sigmoid", "brief"), ("mlp_deep_sigmoid", "brief")),
        relu_nets=(("mlp_shallow_relu", "brief"), ("mlp_deep_relu", "brief")),
        rounds=2, n_success=8, max_attempts=64,
        attack=AttackSettings(max_steps=40), sensitivity_n_success=4,
        sensitivity_max_attempts=64, budgets=(0, 1, 5, 20, 40),
        classic_nets=(("mlp_shallow_sigmoid", "classic_brief"), ("mlp_deep_sigmoid", "classic_brief"))),
        DoughConfig(
            archs=(("mlp_deep_relu", "brief"), ("cnn_relu", "brief")),
            activation_variant=("cnn_sigmoid", "brief"), variant_configs=("short",),
            shuffled_configs=(("mlp_deep_relu", "brief_shuffled"), ("cnn_relu", "brief_shuffled")),
            seeds=1, n_noise=6, k_values=(4, None), transfer_starts=8,
            classifier_per_class=8, attack=AttackSettings(loss="crossentropy", lr=0.1, max_steps=40)),
        enforce_floors=False),
}


def get_preset(name: str) -> Preset:
    """Returns the preset registered under ``name``."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"Unknown preset {name!r}; known: {', '.join(PRESETS)}.") from None


def main_config(model: str, dataset: str) -> str:
    """The training configuration the protocol trains ``model`` on ``dataset`` with (the paper preset's).

    It is the configuration the model's accuracy floor is checked at, and what
    ``python -m tfadv.train`` trains without ``--config``: paper A's nets on
    MNIST, paper B's FC net, CNN and sigmoid CNN on each of its datasets.

    Raises:
      ValueError: if the protocol trains no such model on that dataset.
    """
    paper = PRESETS["paper"]
    table = {(net, "mnist"): config for net, config in paper.eyes.nets + paper.eyes.relu_nets}
    table.update({(net, d): config for d in paper.dough.datasets
                  for net, config in paper.dough.archs + (paper.dough.activation_variant,)})
    if (model, dataset) not in table:
        trained = ", ".join(f"{m} on {d}" for m, d in sorted(table))
        raise ValueError(f"the protocol trains no {model} on {dataset}, so it has no main configuration; pass "
                         f"--config (one of {', '.join(TRAIN_CONFIGS)}). It trains: {trained}")
    return table[(model, dataset)]
